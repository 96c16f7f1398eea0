//! The gitview operator: three controllers over gitview's custom resources, and what they
//! share. `README.md` beside `Cargo.toml` maps the modules.
//!
//! - [`analysis`] turns every `Analysis` into isolated, retried, cleaned-up runner pods.
//! - [`tracker`] keeps each `RepositoryTracker`'s branches analyzed: it polls the remote and
//!   creates incremental Analyses; [`tracker::webhook`] receives the forges' deliveries.
//! - [`profile`] writes each `AnalysisProfile`'s status.
//!
//! The Analysis and tracker controllers run each reconcile as the same four steps:
//! **observe** (watch caches, and the few reads they need), **decide** (a pure function of what
//! was observed and the [`clock`]), **act** on the cluster, and write the **status** once with
//! server-side apply under [`FIELD_MANAGER`], then publish [`events`]. Their objects are
//! watched through kube's `DeserializeGuard` ([`guard`]). Shared by them: [`conditions`] (types,
//! reasons, rendering), [`credentials`] (what a `credentialsSecret` means), [`account`] (the
//! gateway account of a namespace, cached), [`gateway`] (reads from the gateway), [`settings`].
//!
//! Around them: leader election on a Lease ([`leader`]), a janitor for expired secrets and
//! orphaned pods ([`janitor`]), Prometheus metrics and health endpoints ([`metrics`],
//! [`http`]), and JSON logs ([`telemetry`]). It serves every namespace, or only those of
//! `--watch-namespaces` ([`scope`]). Test fixtures are behind the `testing` feature.
#![forbid(unsafe_code)]

pub mod account;
pub mod analysis;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod clone_cache;
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
