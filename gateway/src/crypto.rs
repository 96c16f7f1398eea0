//! rustls' crypto provider: reqwest is built without one, so the gateway installs ring's
//! before its first TLS connection (the operator's JWKS, an S3 object store).

/// Installs ring as rustls' crypto provider (reqwest is built without one); idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another provider is installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
