//! Accounts' data policies on the admin path: whether the gateway scrubs PII on read
//! ([`crate::routes::read`]) and how long results are kept ([`crate::retention`]).
//!
//! `GET`/`PUT /v1/admin/accounts/{account}/policy`, with the admin token like the key routes
//! ([`crate::routes::keys`]). A `PUT` creates the account if new (a policy may be set before the first
//! run) and writes an audit row with the policy before and after.

use axum::extract::State;
use axum::http::Method;
use gitview_core::results::{AccountPolicy, MAX_RETENTION_DAYS, SetAccountPolicy};
use serde_json::json;

use crate::db;
use crate::error::ApiError;
use crate::kit::accounts::{existing_account, valid_account};
use crate::kit::audit::{ADMIN_ACTOR, audit};
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Admin;
use crate::kit::state::AppState;
use crate::kit::table::Routes;

/// The policy routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::GET, "/v1/admin/accounts/{account}/policy", get)
        .on(Method::PUT, "/v1/admin/accounts/{account}/policy", put)
}

/// `retention_days` as the column stores it.
fn retention_days(days: Option<u32>) -> Result<Option<i32>, ApiError> {
    days.map(|days| {
        i32::try_from(days)
            .ok()
            .filter(|days| (1..=MAX_RETENTION_DAYS as i32).contains(days))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "retentionDays must be from 1 to {MAX_RETENTION_DAYS}, not {days}"
                ))
            })
    })
    .transpose()
}

fn policy(account: &str, scrub_pii: bool, retention_days: i32) -> AccountPolicy {
    AccountPolicy {
        account: account.to_owned(),
        scrub_pii,
        // The column's CHECK keeps it positive.
        retention_days: u32::try_from(retention_days).unwrap_or_default(),
    }
}

/// The stored policy of the account `account_id` (named `account`).
pub(crate) async fn stored(
    state: &AppState,
    account: &str,
    account_id: i64,
) -> Result<AccountPolicy, ApiError> {
    let mut tx = db::tenant(&state.pool, account_id).await?;
    let (scrub_pii, days): (bool, i32) =
        sqlx::query_as("SELECT scrub_pii, retention_days FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(policy(account, scrub_pii, days))
}

async fn get(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<String>,
    _admin: Admin,
) -> Result<axum::Json<AccountPolicy>, ApiError> {
    let account_id = existing_account(&state, &account).await?;
    stored(&state, &account, account_id).await.map(axum::Json)
}

async fn put(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<String>,
    _admin: Admin,
    ApiJson(body): ApiJson<SetAccountPolicy>,
) -> Result<axum::Json<AccountPolicy>, ApiError> {
    valid_account(&account)?;
    let days = retention_days(body.retention_days)?;
    let account_id = db::ensure_account(&state.pool, &account).await?;
    let mut tx = db::tenant(&state.pool, account_id).await?;
    // The row locked first, so that `before` is what this update replaced.
    let (old_scrub, old_days, scrub_pii, retention_days): (bool, i32, bool, i32) = sqlx::query_as(
        "WITH old AS (SELECT scrub_pii, retention_days FROM accounts WHERE id = $1 FOR UPDATE)
         UPDATE accounts a SET scrub_pii = coalesce($2, a.scrub_pii),
                               retention_days = coalesce($3, a.retention_days)
         FROM old WHERE a.id = $1
         RETURNING old.scrub_pii, old.retention_days, a.scrub_pii, a.retention_days",
    )
    .bind(account_id)
    .bind(body.scrub_pii)
    .bind(days)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        account_id,
        ADMIN_ACTOR,
        "account.policy",
        &account,
        json!({
            "before": {"scrubPii": old_scrub, "retentionDays": old_days},
            "after": {"scrubPii": scrub_pii, "retentionDays": retention_days},
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(policy(&account, scrub_pii, retention_days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_days_stay_in_range() {
        assert_eq!(retention_days(None).ok(), Some(None));
        assert_eq!(retention_days(Some(1)).ok(), Some(Some(1)));
        assert_eq!(retention_days(Some(36_500)).ok(), Some(Some(36_500)));
        for bad in [0, 36_501, u32::MAX] {
            let err = retention_days(Some(bad)).expect_err("out of range");
            assert!(err.message.starts_with("retentionDays"), "{err:?}");
        }
    }
}
