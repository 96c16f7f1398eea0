//! The gitview gateway: the one writer of PostgreSQL. Runner pods write results through it with
//! tokens the operator signs ([`auth`]); every query runs in a transaction scoped to the
//! caller's account, and PostgreSQL's row-level security enforces the same scope again
//! ([`db`], `migrations/`). The runner's HTTP API is in [`api`], the read API for users in
//! [`read`], run logs (both ways) in [`logs`], the admin path for their per-account API keys in
//! [`keys`] and for accounts' data policies in [`policy`], per-key rate limits in [`limits`],
//! the retention janitor in [`retention`], artifacts' object storage in [`storage`]; the bodies of all of them in
//! [`gitview_core::results`].
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod db;
pub mod error;
pub mod http;
pub mod keys;
pub mod kit;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod read;
pub mod retention;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracking;

/// Installs ring as rustls' crypto provider (reqwest is built without one); idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another provider is installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
