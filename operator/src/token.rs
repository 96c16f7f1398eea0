//! Gateway tokens: EdDSA-signed JWTs scoped to one account, one analysis and one attempt.
//! The operator holds the private key; the gateway verifies with the public key alone.

use gitview_crds::wire::{SCOPE_ANALYSIS_WRITE, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenClaims};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// Errors loading the key or signing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing key is not an Ed25519 private key in PKCS#8 PEM form: {0}")]
    BadKey(#[source] jsonwebtoken::errors::Error),
    #[error("signing failed: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Signs runner tokens. Holds the private key; never prints it.
#[derive(Clone)]
pub struct TokenSigner {
    key: EncodingKey,
    key_id: Option<String>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Loads an Ed25519 private key in PKCS#8 PEM form (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &[u8], key_id: Option<String>) -> Result<Self, TokenError> {
        Ok(Self { key: EncodingKey::from_ed_pem(pem).map_err(TokenError::BadKey)?, key_id })
    }

    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid.clone_from(&self.key_id);
        jsonwebtoken::encode(&header, claims, &self.key).map_err(TokenError::Sign)
    }
}

/// The claims of one attempt's token: valid from `now` until `expires_at`.
pub fn claims(account: &str, analysis_uid: &str, attempt: i32, now: Timestamp, expires_at: Timestamp) -> TokenClaims {
    TokenClaims {
        iss: TOKEN_ISSUER.to_owned(),
        aud: TOKEN_AUDIENCE.to_owned(),
        sub: analysis_uid.to_owned(),
        account: account.to_owned(),
        analysis: analysis_uid.to_owned(),
        attempt,
        scope: vec![SCOPE_ANALYSIS_WRITE.to_owned()],
        iat: now.as_second(),
        exp: expires_at.as_second(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    use jsonwebtoken::{DecodingKey, Validation};

    /// A fixed test key pair (PKCS#8 private PEM, SPKI public PEM).
    pub(crate) fn test_key_pair() -> (String, String) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let private = key.to_pkcs8_pem(LineEnding::LF).expect("encodes").to_string();
        let public = key.verifying_key().to_public_key_pem(LineEnding::LF).expect("encodes");
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
        let token = signer.sign(&claims("team-a", "uid-1", 2, now, expiry)).unwrap();

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
        assert_eq!((c.account.as_str(), c.analysis.as_str(), c.sub.as_str(), c.attempt), ("team-a", "uid-1", "uid-1", 2));
        assert_eq!(c.scope, [SCOPE_ANALYSIS_WRITE]);
        assert_eq!(c.exp - c.iat, 600);
    }

    #[test]
    fn expired_tokens_and_other_keys_are_rejected() {
        let (private, public) = test_key_pair();
        let signer = TokenSigner::from_pem(private.as_bytes(), None).unwrap();
        let token = signer.sign(&claims("a", "u", 1, at(1_000), at(2_000))).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        let key = DecodingKey::from_ed_pem(public.as_bytes()).unwrap();
        let err = jsonwebtoken::decode::<TokenClaims>(&token, &key, &validation).unwrap_err();
        assert_eq!(*err.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);

        let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let other_public = other.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let fresh = signer.sign(&claims("a", "u", 1, Timestamp::now(), Timestamp::now() + jiff::SignedDuration::from_secs(60))).unwrap();
        let err = jsonwebtoken::decode::<TokenClaims>(&fresh, &DecodingKey::from_ed_pem(other_public.as_bytes()).unwrap(), &validation).unwrap_err();
        assert_eq!(*err.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature);
    }

    #[test]
    fn a_non_ed25519_key_is_a_clear_error() {
        let err = TokenSigner::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None).unwrap_err();
        assert!(err.to_string().contains("Ed25519"), "{err}");
        assert!(!format!("{:?}", TokenSigner::from_pem(test_key_pair().0.as_bytes(), None).unwrap()).contains("PRIVATE"));
    }
}
