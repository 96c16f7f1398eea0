//! The admin path for per-account API keys (`/v1/admin/accounts/{account}/keys`): create,
//! list and revoke, with the admin token ([`crate::kit::guard::Admin`]); the keys' format is in
//! [`crate::kit::keys`]. Every change writes an audit row.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use gitview_core::results::{
    API_KEY_SCOPES, ApiKey, ApiKeyCreated, ApiKeyList, CreateApiKey, SCOPE_READ,
};
use serde_json::json;

use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::accounts::{existing_account, valid_account};
use crate::kit::audit::{ADMIN_ACTOR, audit};
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Admin;
use crate::kit::keys::{KEY_PREFIX, NewKey, PUBLIC_ID_BYTES, is_lower_hex};
use crate::kit::state::AppState;
use crate::kit::table::Routes;

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
