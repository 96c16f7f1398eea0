//! Per-account API keys for the read API, and the admin token that manages them.
//!
//! A key is `gvk_<public id>_<secret>`: 8 random bytes of public id and 32 of secret from the
//! operating system, in lowercase hex. The gateway stores only the SHA-256 of the whole key;
//! the public id names the key on the admin path, and `gvk_<public id>` is the prefix lists
//! show. Because the account is unknown until the key is, a key is resolved by the
//! `gitview_resolve_api_key` function (`migrations/0002_api_keys.sql`), which runs as the
//! schema's owner and answers only for unrevoked keys; everything after that runs in a tenant
//! transaction of the key's account.
//!
//! The admin routes (`/v1/admin/accounts/{account}/keys`) take one bearer token the gateway
//! reads from a file at start; it keeps only the token's SHA-256 and compares digests in
//! constant time. Without a token the admin routes answer 403. Every change writes an audit row.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use gitview_core::results::{
    API_KEY_SCOPES, ApiKey, ApiKeyCreated, ApiKeyList, CreateApiKey, SCOPE_READ,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::api::{AppState, audit, bearer};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::http::{ApiJson, ApiPath, Routes};

/// What every API key starts with.
pub const KEY_PREFIX: &str = "gvk_";
const PUBLIC_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Admin tokens shorter than this are refused at start.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;
/// The actor of audit rows the admin path writes.
pub(crate) const ADMIN_ACTOR: &str = "admin";

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

fn is_lower_hex(text: &str, bytes: usize) -> bool {
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

/// A request with the read scope: the account of its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub account: i64,
    /// The key's row id.
    pub key: i64,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts, "API key")?;
        if !token.starts_with(KEY_PREFIX) {
            return Err(ApiError::unauthorized(
                "the read API takes an API key (Bearer gvk_…); runner tokens are not accepted here",
            ));
        }
        let presented = parse(token).ok_or_else(|| {
            ApiError::unauthorized("the API key is malformed: expected gvk_<16 hex>_<64 hex>")
        })?;
        let resolved: Option<(i64, i64, Vec<String>)> =
            sqlx::query_as("SELECT account_id, key_id, scopes FROM gitview_resolve_api_key($1)")
                .bind(presented.sha256.as_slice())
                .fetch_optional(&state.pool)
                .await?;
        let (account, key, scopes) =
            resolved.ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
        if !scopes.iter().any(|scope| scope == SCOPE_READ) {
            return Err(ApiError::forbidden(format!(
                "the API key lacks the {SCOPE_READ} scope"
            )));
        }
        crate::limits::admit(state, parts, key)?;
        Ok(Self { account, key })
    }
}

/// A request that presented the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(admin) = &state.admin else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin API is disabled: the gateway was started without --admin-token-file",
            ));
        };
        if admin.matches(bearer(parts, "admin token")?) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized("the admin token is invalid"))
        }
    }
}

/// The admin routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::POST, "/v1/admin/accounts/{account}/keys", create)
        .on(Method::GET, "/v1/admin/accounts/{account}/keys", list)
        .on(
            Method::DELETE,
            "/v1/admin/accounts/{account}/keys/{id}",
            revoke,
        )
}

pub(crate) fn valid_account(account: &str) -> Result<(), ApiError> {
    if account.is_empty()
        || account.len() > 253
        || account.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::bad_request(
            "account must be 1 to 253 characters without whitespace",
        ));
    }
    Ok(())
}

/// The requested scopes, checked and deduplicated; none means `read`.
fn scopes(requested: &[String]) -> Result<Vec<String>, ApiError> {
    if requested.is_empty() {
        return Ok(vec![SCOPE_READ.to_owned()]);
    }
    let mut scopes = Vec::new();
    for scope in requested {
        if !API_KEY_SCOPES.contains(&scope.as_str()) {
            return Err(ApiError::bad_request(format!(
                "scopes: unknown scope {scope:?} (known: {})",
                API_KEY_SCOPES.join(", ")
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    Ok(scopes)
}

/// The columns of an [`ApiKey`], in [`KeyRow`]'s order.
macro_rules! key_columns {
    () => {
        concat!(
            "public_id, name, prefix, scopes, ",
            rfc3339!("created_at"),
            ", ",
            rfc3339!("revoked_at"),
            ", ",
            rfc3339!("last_used_at")
        )
    };
}

type KeyRow = (
    String,
    String,
    String,
    Vec<String>,
    String,
    Option<String>,
    Option<String>,
);

fn api_key(account: &str, row: KeyRow) -> ApiKey {
    let (id, name, prefix, scopes, created_at, revoked_at, last_used_at) = row;
    ApiKey {
        id,
        account: account.to_owned(),
        name,
        prefix,
        scopes,
        created_at,
        revoked_at,
        last_used_at,
    }
}

pub(crate) async fn existing_account(state: &AppState, account: &str) -> Result<i64, ApiError> {
    valid_account(account)?;
    let id: Option<i64> = sqlx::query_scalar("SELECT gitview_account_id($1)")
        .bind(account)
        .fetch_one(&state.pool)
        .await?;
    id.ok_or_else(|| ApiError::not_found(format!("no account named {account:?}")))
}

async fn create(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<String>,
    _admin: Admin,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, axum::Json<ApiKeyCreated>), ApiError> {
    valid_account(&account)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name must be 1 to 100 characters without control characters",
        ));
    }
    let scopes = scopes(&body.scopes)?;
    let key = NewKey::generate().map_err(|err| {
        tracing::error!(error = %err, "cannot make an API key");
        ApiError::unavailable("cannot make a key now; retry later")
    })?;
    let account_id = db::ensure_account(&state.pool, &account).await?;
    let mut tx = db::tenant(&state.pool, account_id).await?;
    let row: KeyRow = sqlx::query_as(concat!(
        "INSERT INTO api_keys (account_id, public_id, name, prefix, key_sha256, scopes)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        key_columns!()
    ))
    .bind(account_id)
    .bind(&key.public_id)
    .bind(name)
    .bind(key.prefix())
    .bind(key.sha256().as_slice())
    .bind(&scopes)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        account_id,
        ADMIN_ACTOR,
        "apikey.create",
        &key.prefix(),
        json!({"name": name, "scopes": scopes}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ApiKeyCreated {
            key: api_key(&account, row),
            secret: key.key,
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<String>,
    _admin: Admin,
) -> Result<axum::Json<ApiKeyList>, ApiError> {
    let account_id = existing_account(&state, &account).await?;
    let mut tx = db::tenant(&state.pool, account_id).await?;
    let rows: Vec<KeyRow> = sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys ORDER BY id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(axum::Json(ApiKeyList {
        items: rows.into_iter().map(|row| api_key(&account, row)).collect(),
    }))
}

/// Revokes a key; revoking it again changes nothing and answers alike.
async fn revoke(
    State(state): State<AppState>,
    ApiPath((account, id)): ApiPath<(String, String)>,
    _admin: Admin,
) -> Result<StatusCode, ApiError> {
    let account_id = existing_account(&state, &account).await?;
    let unknown = || ApiError::not_found(format!("account {account:?} has no key {id:?}"));
    if !is_lower_hex(&id, PUBLIC_ID_BYTES) {
        return Err(unknown());
    }
    let mut tx = db::tenant(&state.pool, account_id).await?;
    let revoked: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = now() WHERE public_id = $1 AND revoked_at IS NULL RETURNING name",
    )
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    match revoked {
        Some(name) => {
            audit(
                &mut tx,
                account_id,
                ADMIN_ACTOR,
                "apikey.revoke",
                &format!("{KEY_PREFIX}{id}"),
                json!({"name": name}),
            )
            .await?;
        }
        None => {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM api_keys WHERE public_id = $1)")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            if !exists {
                return Err(unknown());
            }
        }
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
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

    #[test]
    fn scopes_default_to_read_and_refuse_unknown_ones() {
        assert_eq!(scopes(&[]).expect("default"), vec!["read"]);
        assert_eq!(
            scopes(&["read".into(), "read".into()]).expect("dedup"),
            vec!["read"]
        );
        let err = scopes(&["write".into()]).expect_err("unknown");
        assert!(err.message.contains("\"write\""), "{err:?}");
    }
}
