//! The operator's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, and the public half of the
//! token signing key at `/.well-known/jwks.json` (what the gateway verifies runner tokens with).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gitview_crds::v1alpha1::Analysis;
use kube::runtime::reflector::Store;

use crate::metrics::Metrics;
use crate::token::JwkSet;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the caches have synced (they start with leadership).
    pub ready: Arc<AtomicBool>,
    /// Set while this replica holds the leader lease.
    pub leading: Arc<AtomicBool>,
    pub analyses: Option<Store<kube::core::DeserializeGuard<Analysis>>>,
    /// The JWKS document, served by every replica (leader or not).
    pub jwks: Arc<JwkSet>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The router, testable without a socket.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(health)
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.render(h.analyses.as_ref()),
    )
}

async fn jwks(State(h): State<Health>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        axum::Json(h.jwks.as_ref().clone()),
    )
}

/// A standby replica is ready (healthy, waiting for the lease); the leader is ready once its
/// caches have synced.
async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    if !h.leading.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok: standing by")
    } else if h.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "leading, caches not synced yet",
        )
    }
}

/// Serves the endpoints until the process ends.
pub async fn serve(addr: SocketAddr, health: Health) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(health)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(health: &Health, path: &str) -> (StatusCode, String) {
        let response = router(health.clone())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_leadership_and_cache_sync() {
        let health = Health {
            metrics: Arc::default(),
            ready: Arc::default(),
            leading: Arc::default(),
            analyses: None,
            jwks: Arc::new(JwkSet { keys: Vec::new() }),
        };
        assert_eq!(get(&health, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&health, "/readyz").await,
            (StatusCode::OK, "ok: standing by".to_owned())
        );
        health.leading.store(true, Ordering::Relaxed);
        assert_eq!(
            get(&health, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.ready.store(true, Ordering::Relaxed);
        assert_eq!(
            get(&health, "/readyz").await,
            (StatusCode::OK, "ok".to_owned())
        );
        let (status, text) = get(&health, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("gitview_operator_leader"), "{text}");
    }

    #[tokio::test]
    async fn every_replica_serves_the_jwks() {
        let (private, _) = crate::token::tests::test_key_pair();
        let signer = crate::token::TokenSigner::from_pem(private.as_bytes(), None).unwrap();
        let health = Health {
            metrics: Arc::default(),
            ready: Arc::default(),
            leading: Arc::default(),
            analyses: None,
            jwks: Arc::new(signer.jwks()),
        };
        let (status, text) = get(&health, "/.well-known/jwks.json").await;
        assert_eq!(status, StatusCode::OK);
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(
            set.keys[0].common.key_id.as_deref(),
            Some(signer.jwks().keys[0].kid.as_str())
        );
    }
}
