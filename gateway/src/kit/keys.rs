//! API keys and the admin token: their format, how they are made and checked, never stored.
//!
//! A key is `gvk_<public id>_<secret>`: 8 random bytes of public id and 32 of secret from the
//! operating system, in lowercase hex. The gateway stores only the SHA-256 of the whole key;
//! the public id names the key on the admin path, and `gvk_<public id>` is the prefix lists
//! show. Because the account is unknown until the key is, a key is resolved by the
//! `gitview_resolve_api_key` function (`migrations/0002_api_keys.sql`), which runs as the
//! schema's owner and answers only for unrevoked keys ([`crate::kit::guard::Reader`]);
//! everything after that runs in a tenant transaction of the key's account.
//!
//! The admin routes take one bearer token the gateway reads from a file at start
//! ([`AdminToken`]); it keeps only the token's SHA-256 and compares digests in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// What every API key starts with.
pub const KEY_PREFIX: &str = "gvk_";
pub(crate) const PUBLIC_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Admin tokens shorter than this are refused at start.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// Why an admin token is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokenError {
    #[error(
        "the admin token is shorter than {MIN_ADMIN_TOKEN_LEN} characters (make one with `openssl rand -hex 32`)"
    )]
    TooShort,
    #[error("the admin token contains whitespace or control characters")]
    BadCharacters,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn is_lower_hex(text: &str, bytes: usize) -> bool {
    text.len() == 2 * bytes
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A freshly made key. `Debug` leaves the secret out.
pub struct NewKey {
    pub public_id: String,
    /// The whole key, `gvk_<public id>_<secret>`.
    pub key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("public_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

impl NewKey {
    /// A key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; PUBLIC_ID_BYTES + SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(KeyError::Random)?;
        let (public, secret) = bytes.split_at(PUBLIC_ID_BYTES);
        let public_id = hex(public);
        let key = format!("{KEY_PREFIX}{public_id}_{}", hex(secret));
        Ok(Self { public_id, key })
    }

    /// `gvk_<public id>`.
    pub fn prefix(&self) -> String {
        format!("{KEY_PREFIX}{}", self.public_id)
    }

    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.key.as_bytes()).into()
    }
}

/// A presented key of the right shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub public_id: &'a str,
    pub sha256: [u8; 32],
}

/// Checks a presented key's shape, `gvk_<16 hex>_<64 hex>`, before any database work.
pub fn parse(presented: &str) -> Option<PresentedKey<'_>> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (public_id, secret) = rest.split_once('_')?;
    if !is_lower_hex(public_id, PUBLIC_ID_BYTES) || !is_lower_hex(secret, SECRET_BYTES) {
        return None;
    }
    Some(PresentedKey {
        public_id,
        sha256: Sha256::digest(presented.as_bytes()).into(),
    })
}

/// The admin bearer token, kept as its SHA-256.
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The token as a file holds it (surrounding whitespace, such as a final newline, ignored).
    pub fn new(token: &str) -> Result<Self, AdminTokenError> {
        let token = token.trim();
        if token.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(AdminTokenError::TooShort);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminTokenError::BadCharacters);
        }
        Ok(Self(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `presented` is the token. Digests of equal length are compared in constant
    /// time, so neither the token's length nor its content leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_hashes_alike() {
        let key = NewKey::generate().expect("randomness");
        assert!(key.key.starts_with(&key.prefix()));
        assert_eq!(key.key.len(), KEY_PREFIX.len() + 16 + 1 + 64);
        let presented = parse(&key.key).expect("a generated key parses");
        assert_eq!(presented.public_id, key.public_id);
        assert_eq!(presented.sha256, key.sha256());
        let other = NewKey::generate().expect("randomness");
        assert_ne!(other.key, key.key);
        assert!(!format!("{key:?}").contains(&key.key[key.prefix().len()..]));
    }

    #[test]
    fn only_the_exact_shape_parses() {
        let good = format!("gvk_{}_{}", "a".repeat(16), "0".repeat(64));
        assert!(parse(&good).is_some());
        for bad in [
            String::new(),
            "gvk_".into(),
            format!("gvk_{}", "a".repeat(16)),
            format!("gvk_{}_{}", "a".repeat(15), "0".repeat(64)),
            format!("gvk_{}_{}", "a".repeat(16), "0".repeat(63)),
            format!("gvk_{}_{}", "A".repeat(16), "0".repeat(64)),
            format!("gvk_{}_{}_", "a".repeat(16), "0".repeat(64)),
            format!("GVK_{}_{}", "a".repeat(16), "0".repeat(64)),
            format!("gvk_{}_{}", "g".repeat(16), "0".repeat(64)),
        ] {
            assert_eq!(parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_admin_token_matches_only_itself() {
        let token = AdminToken::new(&format!("{}\n", "s".repeat(40))).expect("long enough");
        assert!(token.matches(&"s".repeat(40)));
        assert!(!token.matches(&"s".repeat(39)));
        assert!(!token.matches(""));
        assert_eq!(
            AdminToken::new("short").map(|_| ()),
            Err(AdminTokenError::TooShort)
        );
        assert_eq!(
            AdminToken::new(&format!("{} {}", "a".repeat(20), "b".repeat(20))).map(|_| ()),
            Err(AdminTokenError::BadCharacters)
        );
    }
}
