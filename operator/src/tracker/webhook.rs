//! The webhook receiver of RepositoryTrackers: a push announced by the forge makes the tracker
//! poll now instead of at its next interval. A delivery never starts a run by itself: the
//! poll decides, so a forged or stale delivery can at worst cause one `ls-remote`.
//!
//! It lives in the operator, not the gateway: the operator already reads the trackers' Secrets
//! with its RBAC, while the gateway has no Kubernetes credentials at all (and should not get
//! them for this).
//!
//! `POST /hooks/NAMESPACE/NAME/TOKEN`, where TOKEN is derived from the tracker's webhook
//! secret and UID ([`path_token`]), so the path cannot be guessed without the secret. Accepted
//! authentications, checked in constant time:
//! - GitHub: `X-Hub-Signature-256: sha256=HEX` (HMAC-SHA256 of the body), delivery ID
//!   `X-GitHub-Delivery`;
//! - GitLab: `X-Gitlab-Token: SECRET`, delivery ID `X-Gitlab-Event-UUID`;
//! - anything else: `X-Gitview-Signature: sha256=HEX` (HMAC-SHA256 of the body), delivery ID
//!   `X-Gitview-Delivery`.
//!
//! Answers: 202 (a poll is requested), 401 (no or a wrong signature: nothing happens), 409 (a
//! delivery ID seen before: a replay), 404 (no such tracker, no webhook secret, or a wrong path
//! token — indistinguishable on purpose), 413 (body over 1 MiB). Accepted deliveries are
//! recorded in the tracker's status (`lastWebhook`, `recentWebhookDeliveries`) with an
//! optimistic-concurrency patch, so every replica can receive them and a replay is caught
//! whichever replica it reaches.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gitview_crds::v1alpha1::{RepositoryTracker, WebhookDelivery};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

/// Largest delivery accepted (GitHub caps payloads at 25 MB, but a push event is far smaller
/// and the body is only hashed, never parsed).
pub const MAX_BODY: usize = 1 << 20;
/// Delivery IDs remembered per tracker.
pub const REMEMBERED: usize = 32;
/// The key in the webhook Secret unless `webhookSecret.key` names another.
pub const DEFAULT_KEY: &str = "secret";

type HmacSha256 = Hmac<Sha256>;

/// An authenticated delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub source: &'static str,
    pub id: Option<String>,
}

/// Why a delivery is refused (401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the delivery is not signed: send X-Hub-Signature-256, X-Gitlab-Token or X-Gitview-Signature"
    )]
    Unsigned,
    #[error("{0} does not match the webhook secret")]
    Mismatch(&'static str),
    #[error("{0} is malformed: expected sha256=<hex>")]
    Malformed(&'static str),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn check_hmac(name: &'static str, value: &str, body: &[u8], secret: &[u8]) -> Result<(), Refusal> {
    let hex = value
        .strip_prefix("sha256=")
        .ok_or(Refusal::Malformed(name))?;
    let expected = decode_hex(hex).ok_or(Refusal::Malformed(name))?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| Refusal::Mismatch(name))?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Refusal::Mismatch(name))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Authenticates a delivery against the tracker's secret.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Delivery, Refusal> {
    if let Some(signature) = header(headers, "x-hub-signature-256") {
        check_hmac("X-Hub-Signature-256", signature, body, secret)?;
        return Ok(Delivery {
            source: "github",
            id: header(headers, "x-github-delivery").map(str::to_owned),
        });
    }
    if let Some(token) = header(headers, "x-gitlab-token") {
        if !bool::from(token.as_bytes().ct_eq(secret)) {
            return Err(Refusal::Mismatch("X-Gitlab-Token"));
        }
        return Ok(Delivery {
            source: "gitlab",
            id: header(headers, "x-gitlab-event-uuid").map(str::to_owned),
        });
    }
    if let Some(signature) = header(headers, "x-gitview-signature") {
        check_hmac("X-Gitview-Signature", signature, body, secret)?;
        return Ok(Delivery {
            source: "hmac",
            id: header(headers, "x-gitview-delivery").map(str::to_owned),
        });
    }
    Err(Refusal::Unsigned)
}

/// The path token of a tracker: HMAC-SHA256(secret, "gitview-webhook-path:" + UID), 32 hex
/// characters. Changes when the secret or the tracker (UID) changes.
pub fn path_token(secret: &[u8], uid: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"gitview-webhook-path:");
    mac.update(uid.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The webhook secret of a tracker, if it has one and the Secret holds it.
pub async fn secret_of(
    client: &Client,
    tracker: &RepositoryTracker,
) -> Result<Option<Vec<u8>>, kube::Error> {
    let Some(reference) = &tracker.spec.webhook_secret else {
        return Ok(None);
    };
    let namespace = tracker.namespace().unwrap_or_default();
    let secret = Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&reference.name)
        .await?;
    let key = reference.key.as_deref().unwrap_or(DEFAULT_KEY);
    Ok(secret
        .and_then(|s| s.data?.remove(key))
        .map(|v| v.0)
        .filter(|v| !v.is_empty()))
}

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "message": message.into() }))).into_response()
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, "no such webhook")
}

async fn receive(
    State(client): State<Client>,
    Path((namespace, name, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trackers: Api<RepositoryTracker> = Api::namespaced(client.clone(), &namespace);
    for _ in 0..5 {
        let tracker = match trackers.get_opt(&name).await {
            Ok(Some(t)) => t,
            Ok(None) => return not_found(),
            Err(err) => {
                warn!(namespace, tracker = name, error = %err, "webhook: cannot read the tracker");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot read the tracker; retry",
                );
            }
        };
        let secret = match secret_of(&client, &tracker).await {
            Ok(Some(secret)) => secret,
            Ok(None) => return not_found(),
            Err(err) => {
                warn!(namespace, tracker = name, error = %err, "webhook: cannot read the webhook secret");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot read the webhook secret; retry",
                );
            }
        };
        let uid = tracker.uid().unwrap_or_default();
        if !bool::from(path_token(&secret, &uid).as_bytes().ct_eq(token.as_bytes())) {
            return not_found();
        }
        let delivery = match verify(&headers, &body, &secret) {
            Ok(delivery) => delivery,
            Err(refusal) => {
                warn!(namespace, tracker = name, reason = %refusal, "webhook: delivery refused");
                return answer(StatusCode::UNAUTHORIZED, refusal.to_string());
            }
        };
        let status = tracker.status.clone().unwrap_or_default();
        if let Some(id) = &delivery.id
            && status.recent_webhook_deliveries.contains(id)
        {
            warn!(
                namespace,
                tracker = name,
                delivery = id,
                "webhook: replayed delivery refused"
            );
            return answer(
                StatusCode::CONFLICT,
                format!("delivery {id} was received before"),
            );
        }
        let mut recent = status.recent_webhook_deliveries.clone();
        recent.extend(delivery.id.clone());
        let excess = recent.len().saturating_sub(REMEMBERED);
        recent.drain(..excess);
        let record = WebhookDelivery {
            id: delivery.id.clone(),
            source: delivery.source.to_owned(),
            received_time: Time(Timestamp::now()),
        };
        // The resourceVersion makes this a compare-and-swap: two replicas receiving the same
        // delivery at once cannot both record it.
        let patch = json!({
            "metadata": { "resourceVersion": tracker.resource_version() },
            "status": { "lastWebhook": record, "recentWebhookDeliveries": recent },
        });
        match trackers
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                info!(
                    namespace,
                    tracker = name,
                    source = delivery.source,
                    delivery = delivery.id.as_deref().unwrap_or("-"),
                    "webhook: poll requested"
                );
                let message = if tracker.spec.suspend {
                    "accepted; the tracker is suspended and will not poll"
                } else {
                    "accepted; the tracker polls now"
                };
                return answer(StatusCode::ACCEPTED, message);
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(err) => {
                warn!(namespace, tracker = name, error = %err, "webhook: cannot record the delivery");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot record the delivery; retry",
                );
            }
        }
    }
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "the tracker kept changing; retry",
    )
}

/// The receiver's routes.
pub fn router(client: Client) -> Router {
    Router::new()
        .route("/hooks/{namespace}/{name}/{token}", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(client)
}

/// Serves the receiver until the process ends.
pub async fn serve(addr: SocketAddr, client: Client) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(%addr, "webhook receiver listening");
    axum::serve(listener, router(client)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(body);
        format!(
            "sha256={}",
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn github_signatures_and_delivery_ids() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let ok = headers(&[
            ("x-hub-signature-256", &sign(b"s3cret", body)),
            ("x-github-delivery", "d-1"),
        ]);
        assert_eq!(
            verify(&ok, body, b"s3cret"),
            Ok(Delivery {
                source: "github",
                id: Some("d-1".to_owned())
            })
        );
        // Another secret, another body, a truncated or non-hex signature: refused.
        assert_eq!(
            verify(&ok, body, b"other"),
            Err(Refusal::Mismatch("X-Hub-Signature-256"))
        );
        assert_eq!(
            verify(&ok, b"tampered", b"s3cret"),
            Err(Refusal::Mismatch("X-Hub-Signature-256"))
        );
        let short = headers(&[("x-hub-signature-256", "sha256=abcd")]);
        assert_eq!(
            verify(&short, body, b"s3cret"),
            Err(Refusal::Mismatch("X-Hub-Signature-256"))
        );
        let junk = headers(&[("x-hub-signature-256", "sha1=zz")]);
        assert_eq!(
            verify(&junk, body, b"s3cret"),
            Err(Refusal::Malformed("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn gitlab_tokens_and_generic_hmac() {
        let gitlab = headers(&[("x-gitlab-token", "s3cret"), ("x-gitlab-event-uuid", "u-1")]);
        assert_eq!(
            verify(&gitlab, b"{}", b"s3cret"),
            Ok(Delivery {
                source: "gitlab",
                id: Some("u-1".to_owned())
            })
        );
        assert_eq!(
            verify(&gitlab, b"{}", b"s3cre"),
            Err(Refusal::Mismatch("X-Gitlab-Token"))
        );
        let generic = headers(&[("x-gitview-signature", &sign(b"k", b"x"))]);
        assert_eq!(
            verify(&generic, b"x", b"k"),
            Ok(Delivery {
                source: "hmac",
                id: None
            })
        );
        assert_eq!(
            verify(&HeaderMap::new(), b"x", b"k"),
            Err(Refusal::Unsigned)
        );
    }

    #[test]
    fn path_tokens_depend_on_secret_and_uid() {
        let token = path_token(b"s3cret", "uid-1");
        assert_eq!(token.len(), 32);
        assert_eq!(token, path_token(b"s3cret", "uid-1"));
        assert_ne!(token, path_token(b"s3cret", "uid-2"));
        assert_ne!(token, path_token(b"other", "uid-1"));
    }
}
