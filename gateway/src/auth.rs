//! Runner tokens: EdDSA JWTs the operator signs for one account, one analysis and one attempt.
//! The gateway holds only public keys: a PEM file, or the operator's JWKS
//! (`/.well-known/jwks.json`), fetched at start and again when a token names a key it does not
//! know (a rotation), at most every [`JWKS_REFRESH`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gitview_core::token::{SCOPE_ANALYSIS_WRITE, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenClaims};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use crate::error::ApiError;

/// Least time between two JWKS fetches caused by unknown key ids.
pub const JWKS_REFRESH: Duration = Duration::from_secs(10);

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the token public key is not an Ed25519 public key in PEM form: {0}")]
    Pem(#[source] jsonwebtoken::errors::Error),
    #[error("cannot fetch the JWKS from {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

enum Keys {
    Pem(DecodingKey),
    Jwks {
        url: String,
        client: reqwest::Client,
        keys: RwLock<(HashMap<String, DecodingKey>, Option<Instant>)>,
    },
}

/// Verifies runner tokens.
pub struct Verifier {
    keys: Keys,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.keys {
            Keys::Pem(_) => "pem".to_owned(),
            Keys::Jwks { url, .. } => url.clone(),
        };
        f.debug_struct("Verifier").field("keys", &source).finish()
    }
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[TOKEN_AUDIENCE]);
    validation.set_issuer(&[TOKEN_ISSUER]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 5;
    validation
}

impl Verifier {
    /// Verifies with one Ed25519 public key (SPKI PEM).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(KeyError::Pem)?;
        Ok(Self {
            keys: Keys::Pem(key),
            validation: validation(),
        })
    }

    /// Verifies with the keys of a JWKS URL; fetches them now and, when that fails (the operator
    /// may start at the same time as the gateway), when the first token arrives, so that the
    /// gateway never crash-loops on its install.
    pub async fn from_jwks_url(url: &str) -> Result<Self, KeyError> {
        crate::crypto::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| KeyError::Fetch {
                url: url.to_owned(),
                source,
            })?;
        let verifier = Self {
            keys: Keys::Jwks {
                url: url.to_owned(),
                client,
                keys: RwLock::new((HashMap::new(), None)),
            },
            validation: validation(),
        };
        if let Err(err) = verifier.refresh().await {
            tracing::warn!(error = %err, "cannot load the token keys yet; they are fetched again when a token arrives");
        }
        Ok(verifier)
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        let Keys::Jwks { url, client, keys } = &self.keys else {
            return Ok(());
        };
        let fetch = async {
            client
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<JwkSet>()
                .await
        };
        let set = fetch.await.map_err(|source| KeyError::Fetch {
            url: url.clone(),
            source,
        })?;
        let mut fresh = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                fresh.insert(kid.clone(), key);
            }
        }
        tracing::info!(url = %url, keys = fresh.len(), "loaded token keys");
        *keys.write().await = (fresh, Some(Instant::now()));
        Ok(())
    }

    /// The claims of a valid runner token (scope `analysis:write`); a 401 naming what is
    /// wrong otherwise.
    pub async fn verify(&self, token: &str) -> Result<TokenClaims, ApiError> {
        self.verify_scope(token, SCOPE_ANALYSIS_WRITE).await
    }

    /// The claims of a valid operator token with `scope`; 401 naming what is wrong, 403
    /// without the scope.
    pub async fn verify_scope(&self, token: &str, scope: &str) -> Result<TokenClaims, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("the bearer token is not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(ApiError::unauthorized("the token is not signed with EdDSA"));
        }
        let decoded = match &self.keys {
            Keys::Pem(key) => jsonwebtoken::decode::<TokenClaims>(token, key, &self.validation),
            Keys::Jwks { keys, .. } => {
                let kid = header
                    .kid
                    .ok_or_else(|| ApiError::unauthorized("the token names no key (kid)"))?;
                let mut key = keys.read().await.0.get(&kid).cloned();
                if key.is_none() {
                    let stale = keys
                        .read()
                        .await
                        .1
                        .is_none_or(|at| at.elapsed() >= JWKS_REFRESH);
                    if stale {
                        if let Err(err) = self.refresh().await {
                            tracing::warn!(error = %err, "JWKS refresh failed");
                            return Err(ApiError::unavailable(
                                "cannot load the token keys; retry later",
                            ));
                        }
                        key = keys.read().await.0.get(&kid).cloned();
                    }
                }
                let key = key.ok_or_else(|| {
                    ApiError::unauthorized("the token is signed with an unknown key")
                })?;
                jsonwebtoken::decode::<TokenClaims>(token, &key, &self.validation)
            }
        };
        let claims = decoded
            .map_err(|err| {
                ApiError::unauthorized(match err.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    ErrorKind::InvalidAudience => {
                        "the token is not meant for the gateway (audience)"
                    }
                    ErrorKind::InvalidIssuer => "the token was not issued by the gitview operator",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    _ => "the token is invalid",
                })
            })?
            .claims;
        if !claims.scope.iter().any(|granted| granted == scope) {
            return Err(ApiError::forbidden(format!(
                "the token lacks the {scope} scope"
            )));
        }
        Ok(claims)
    }
}
