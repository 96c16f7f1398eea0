//! git access shared by the operator and the runner, with gix.
//!
//! - [`fetch`]: bring a remote's history into a local bare repository (full, or shallow down
//!   to a commit), and list a remote's branches like `git ls-remote --heads` (the operator's
//!   RepositoryTracker polls), over http(s), git:// and ssh://, every connection held to the
//!   egress policy (`gitview-egress`); credentials from mounted files, never written to git's
//!   config, URLs or logs.
//! - [`walk`]: git's `git log` commit order over a commit graph, pure (the fetch's shallow
//!   boundary check and the runner's extraction share it).
//! - [`tls`]: rustls with ring as the process-wide crypto provider for every HTTP client.
#![forbid(unsafe_code)]

pub mod fetch;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod walk;
