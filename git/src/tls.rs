//! TLS for every HTTP client of the runner (gix's https transport, the chat-completions client,
//! the gateway client): rustls with ring as the process-wide crypto provider. reqwest is built
//! without a bundled provider (no aws-lc-rs to compile), so a client built before
//! [`install_crypto_provider`] ran would panic.

use std::sync::Once;

/// Installs ring as rustls' process-wide crypto provider; idempotent.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
