//! The gitview gateway: the one writer of PostgreSQL. Runner pods write results through it with
//! tokens the operator signs ([`auth`]); every query runs in a transaction scoped to the
//! caller's account, and PostgreSQL's row-level security enforces the same scope again
//! ([`db`], `migrations/`). The bodies of every route are in [`gitview_core::results`].
//!
//! The modules, bottom up (each imports only those below it):
//!
//! * foundations: [`error`] (the one error shape), [`db`] (pool, migrations, tenant
//!   transactions), [`auth`] (runner and operator tokens), [`metrics`], [`storage`]
//!   (artifacts' object storage), [`crypto`] (rustls' provider);
//! * [`store`]: the SQL of the runner's writes, as named functions per resource on a tenant
//!   transaction;
//! * [`kit`]: what every route shares: the state, extractors, credential guards, API keys'
//!   format, rate limits, paging, the route-table type and the audit row;
//! * [`routes`]: the handlers, one module per resource; a write reads extract (the kit) →
//!   check (pure functions) → store calls → answer;
//! * [`router`]: the axum router built from every routes module's table, with its layers and
//!   the service routes; [`openapi`], the document of every route;
//! * beside them, [`retention`] (the janitor) and, for tests, `testing`.
//!
//! [`api`] is the face a server or a test uses: the state and the router.
#![forbid(unsafe_code)]

pub mod auth;
pub mod crypto;
pub mod db;
pub mod error;
pub mod kit;
pub mod metrics;
pub mod openapi;
pub mod retention;
pub mod router;
pub mod routes;
pub mod storage;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use crypto::install_crypto_provider;

/// What a server or a test needs to serve the gateway: the state and the router.
pub mod api {
    pub use crate::kit::state::{AppState, DEFAULT_MAX_ARTIFACT_BYTES, INLINE_ARTIFACT_LIMIT};
    pub use crate::router::router;
}
