//! Token keys from the operator's JWKS when the operator is not up yet: the gateway starts
//! anyway, answers 503 for tokens until the keys can be fetched, then verifies them.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use gitview_gateway::auth;
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

#[tokio::test]
async fn keys_are_fetched_when_the_first_token_arrives_if_the_operator_was_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/.well-known/jwks.json");

    // Nothing listens yet: the gateway starts all the same.
    let verifier = auth::Verifier::from_jwks_url(&url)
        .await
        .expect("starts without the JWKS");
    let (signing, _) = common::key_pair(3);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".to_owned());
    let token = jsonwebtoken::encode(&header, &common::claims("team", "an-1"), &signing).unwrap();
    let err = verifier.verify(&token).await.expect_err("no keys yet");
    assert_eq!(
        err.status,
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "{err:?}"
    );

    // The operator comes up: the next token loads the keys.
    let public = ed25519_dalek::SigningKey::from_bytes(&[3; 32])
        .verifying_key()
        .to_bytes();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "k1", "x": x}]});
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || async move { Json(jwks) }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let claims = verifier
        .verify(&token)
        .await
        .expect("verified once the JWKS is served");
    assert_eq!(claims.account, "team");
}
