//! `gitview.dev/v1alpha1`.

mod analysis;
mod common;
mod profile;
mod tracker;

pub use analysis::*;
pub use common::*;
pub use profile::*;
pub use tracker::*;

/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "gitview.dev/v1alpha1";

#[cfg(test)]
mod tests;
