//! The gitview operator.
//!
//! The Analysis controller turns every `Analysis` into isolated, retried, cleaned-up runner
//! pods. Each reconcile runs four steps (see [`analysis`]): **observe** the Analysis, its pods
//! and secrets (from watch caches), **decide** what to do (a pure function of what was observed
//! and the clock), **act** on the cluster, and write the **status** once.
//!
//! Around it: leader election on a Lease ([`leader`]), a janitor for expired secrets and
//! orphaned pods ([`janitor`]), Prometheus metrics and health endpoints ([`metrics`],
//! [`http`]), and JSON logs ([`telemetry`]). It serves every namespace, or only those of
//! `--watch-namespaces` ([`scope`]).
#![forbid(unsafe_code)]

pub mod account;
pub mod analysis;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod conditions;
pub mod credentials;
pub mod error;
pub mod events;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod gateway;
pub mod guard;
pub mod http;
pub mod janitor;
pub mod leader;
pub mod metrics;
pub mod policy;
pub mod profile;
pub mod ready;
pub mod scope;
pub mod settings;
pub mod telemetry;
pub mod token;
pub mod tracker;

pub use error::{Error, ErrorClass};

/// Field manager of everything the operator writes (server-side apply of statuses).
pub const FIELD_MANAGER: &str = "gitview-operator";
