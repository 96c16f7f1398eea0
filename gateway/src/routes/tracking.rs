//! What the operator reads: for its RepositoryTrackers, where an account's repository and
//! branch were last analyzed, by whichever run (a tracker's, or an Analysis applied by hand);
//! for its Analyses' status, a run's latest progress.
//!
//! `GET /v1/repositories/last-analyzed?url=URL&branch=BRANCH` with an operator-signed token
//! carrying the `repositories:read` scope (the same EdDSA keys as runner tokens); the account
//! is the token's. The URL is canonicalised as everywhere else, so any spelling of the remote
//! finds its repository.
//!
//! `GET /v1/runs/{analysis}/progress/latest[?attempt=N]` with the `runs:read` scope: the newest
//! progress event of attempt `N`, or without `N` of the analysis' current attempt (the one that
//! started last) or a later one — never of a superseded attempt, whose runner may still report
//! after the retry has started; or `null` (none yet, or no such analysis in the token's
//! account).
//!
//! `GET /v1/account/policy` with the `policy:read` scope: the token's account's data policy,
//! which the operator hands to each new attempt's runner (whether it scrubs PII before
//! anything is stored), so one policy decides both what is stored and what is read. An
//! account the gateway has not seen is created with a new account's policy, which scrubs.

use axum::extract::State;
use axum::http::Method;
use gitview_core::results::{AccountPolicy, LastAnalyzed, LatestProgress};
use serde::Deserialize;

use crate::db;
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::{OperatorPolicyRead, OperatorRead, OperatorRunsRead};
use crate::kit::state::AppState;
use crate::kit::table::Routes;
use crate::store;

async fn account_policy(
    State(state): State<AppState>,
    OperatorPolicyRead(claims): OperatorPolicyRead,
) -> Result<axum::Json<AccountPolicy>, ApiError> {
    let account_id = state.account_id(&claims.account).await?;
    crate::routes::policy::stored(&state, &claims.account, account_id)
        .await
        .map(axum::Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatestProgressQuery {
    attempt: Option<String>,
}

async fn latest_progress(
    State(state): State<AppState>,
    OperatorRunsRead(claims): OperatorRunsRead,
    ApiPath(analysis): ApiPath<String>,
    ApiQuery(query): ApiQuery<LatestProgressQuery>,
) -> Result<axum::Json<LatestProgress>, ApiError> {
    let attempt = match query.attempt.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<i32>().ok().filter(|&n| n > 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "attempt must be a positive attempt number, got {text:?}"
            ))
        })?),
    };
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let latest = store::progress::latest(&mut tx, account, &[analysis], attempt).await?;
    tx.commit().await?;
    Ok(axum::Json(LatestProgress {
        latest: latest.into_iter().next().map(|(_, record)| record),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastAnalyzedQuery {
    url: String,
    branch: String,
}

async fn last_analyzed(
    State(state): State<AppState>,
    OperatorRead(claims): OperatorRead,
    ApiQuery(query): ApiQuery<LastAnalyzedQuery>,
) -> Result<axum::Json<LastAnalyzed>, ApiError> {
    if query.branch.is_empty() || query.branch.len() > 255 {
        return Err(ApiError::bad_request("branch must be 1 to 255 characters"));
    }
    let repository = gitview_core::remote::RepositoryUrl::parse(&query.url)
        .map_err(|err| ApiError::bad_request(format!("url: {err}")))?;
    let fingerprint = repository.fingerprint(&query.branch);
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let last: Option<Option<String>> = sqlx::query_scalar(
        "SELECT last_analyzed_commit FROM repositories WHERE account_id = $1 AND fingerprint = $2",
    )
    .bind(account)
    .bind(&fingerprint)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(axum::Json(LastAnalyzed {
        last_analyzed_commit: last.flatten(),
    }))
}

pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::GET, "/v1/repositories/last-analyzed", last_analyzed)
        .on(
            Method::GET,
            "/v1/runs/{analysis}/progress/latest",
            latest_progress,
        )
        .on(Method::GET, "/v1/account/policy", account_policy)
}
