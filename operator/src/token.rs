//! Gateway tokens: EdDSA-signed JWTs scoped to one account, one analysis and one attempt.
//! The operator holds the private key; the gateway verifies with the public key alone, which
//! the operator publishes as a JWKS document (RFC 7517, an `OKP`/`Ed25519` key, RFC 8037) at
//! `/.well-known/jwks.json`, like Kubernetes' own service-account issuer does. Tokens carry the
//! key's RFC 7638 thumbprint as `kid`, so a gateway can hold several keys during a rotation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use gitview_core::token::TokenClaims;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Errors loading the key or signing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing key is not an Ed25519 private key in PKCS#8 PEM form: {0}")]
    BadKey(#[source] jsonwebtoken::errors::Error),
    #[error("the signing key is not an Ed25519 private key in PKCS#8 PEM form: {0}")]
    BadPem(String),
    #[error("signing failed: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Signs runner tokens. Holds the private key; never prints it.
#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    key_id: Option<String>,
    public: Jwk,
}

/// The public half of the signing key as a JSON Web Key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    /// The raw 32-byte public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JWK Set: what `/.well-known/jwks.json` serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The JWK of an Ed25519 public key, with its RFC 7638 thumbprint as `kid`.
    pub fn ed25519(public: &[u8; 32]) -> Self {
        let x = URL_SAFE_NO_PAD.encode(public);
        // RFC 7638: the required members, in lexicographic order, without whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kty: "OKP",
            crv: "Ed25519",
            x,
            kid,
            alg: "EdDSA",
            use_: "sig",
        }
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Loads an Ed25519 private key in PKCS#8 PEM form (`openssl genpkey -algorithm ed25519`).
    /// `key_id` defaults to the key's RFC 7638 thumbprint.
    pub fn from_pem(pem: &[u8], key_id: Option<String>) -> Result<Self, TokenError> {
        let key = EncodingKey::from_ed_pem(pem).map_err(TokenError::BadKey)?;
        let text = std::str::from_utf8(pem).map_err(|_| TokenError::BadPem("not UTF-8".into()))?;
        // The error's text never includes the key material.
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map_err(|err| TokenError::BadPem(err.to_string()))?;
        let mut public = Jwk::ed25519(&signing.verifying_key().to_bytes());
        if let Some(kid) = &key_id {
            public.kid.clone_from(kid);
        }
        Ok(Self {
            key,
            key_id: Some(public.kid.clone()),
            public,
        })
    }

    /// The public key, as published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid.clone_from(&self.key_id);
        jsonwebtoken::encode(&header, claims, &self.key).map_err(TokenError::Sign)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    use gitview_core::token::{SCOPE_ANALYSIS_WRITE, TOKEN_AUDIENCE, TOKEN_ISSUER};
    use jiff::Timestamp;
    use jsonwebtoken::{DecodingKey, Validation};

    /// A fixed test key pair (PKCS#8 private PEM, SPKI public PEM).
    pub(crate) fn test_key_pair() -> (String, String) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let private = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encodes")
            .to_string();
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encodes");
        (private, public)
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn tokens_verify_with_the_public_key_and_carry_their_scope() {
        let (private, public) = test_key_pair();
        let signer = TokenSigner::from_pem(private.as_bytes(), Some("k1".into())).unwrap();
        let now = Timestamp::now();
        let expiry = now + jiff::SignedDuration::from_secs(600);
        let token = signer
            .sign(&TokenClaims::runner("team-a", "uid-1", 2, now, expiry))
            .unwrap();

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        validation.set_issuer(&[TOKEN_ISSUER]);
        let decoded = jsonwebtoken::decode::<TokenClaims>(
            &token,
            &DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
        let c = decoded.claims;
        assert_eq!(
            (
                c.account.as_str(),
                c.analysis.as_str(),
                c.sub.as_str(),
                c.attempt
            ),
            ("team-a", "uid-1", "uid-1", 2)
        );
        assert_eq!(c.scope, [SCOPE_ANALYSIS_WRITE]);
        assert_eq!(c.exp - c.iat, 600);
    }

    #[test]
    fn expired_tokens_and_other_keys_are_rejected() {
        let (private, public) = test_key_pair();
        let signer = TokenSigner::from_pem(private.as_bytes(), None).unwrap();
        let token = signer
            .sign(&TokenClaims::runner("a", "u", 1, at(1_000), at(2_000)))
            .unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        let key = DecodingKey::from_ed_pem(public.as_bytes()).unwrap();
        let err = jsonwebtoken::decode::<TokenClaims>(&token, &key, &validation).unwrap_err();
        assert_eq!(
            *err.kind(),
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
        );

        let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let other_public = other
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let fresh = signer
            .sign(&TokenClaims::runner(
                "a",
                "u",
                1,
                Timestamp::now(),
                Timestamp::now() + jiff::SignedDuration::from_secs(60),
            ))
            .unwrap();
        let err = jsonwebtoken::decode::<TokenClaims>(
            &fresh,
            &DecodingKey::from_ed_pem(other_public.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap_err();
        assert_eq!(
            *err.kind(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature
        );
    }

    #[test]
    fn the_jwks_verifies_tokens_and_names_the_key() {
        let (private, public) = test_key_pair();
        let signer = TokenSigner::from_pem(private.as_bytes(), None).unwrap();
        let jwks = serde_json::to_value(signer.jwks()).unwrap();
        let jwk: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let key = &jwk.keys[0];
        let now = Timestamp::now();
        let token = signer
            .sign(&TokenClaims::runner(
                "a",
                "u",
                1,
                now,
                now + jiff::SignedDuration::from_secs(60),
            ))
            .unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid,
            key.common.key_id,
            "kid names the published key"
        );
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        let decoded = jsonwebtoken::decode::<TokenClaims>(
            &token,
            &DecodingKey::from_jwk(key).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims.account, "a");
        // The same key as the PEM form, and nothing private in the document.
        let pem_key = DecodingKey::from_ed_pem(public.as_bytes()).unwrap();
        jsonwebtoken::decode::<TokenClaims>(&token, &pem_key, &validation).unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert!(jwks["keys"][0].get("d").is_none());
        // RFC 8037 appendix A.3: the thumbprint of its example key.
        let rfc = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            Jwk::ed25519(&rfc.try_into().unwrap()).kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_non_ed25519_key_is_a_clear_error() {
        let err = TokenSigner::from_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Ed25519"), "{err}");
        assert!(
            !format!(
                "{:?}",
                TokenSigner::from_pem(test_key_pair().0.as_bytes(), None).unwrap()
            )
            .contains("PRIVATE")
        );
    }
}
