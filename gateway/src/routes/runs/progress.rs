//! `POST /v1/runs/{analysis}/progress`: a progress event, kept under the token's attempt
//! whichever attempt is current: a superseded one's events are history, never the current
//! progress (see [`crate::routes::tracking`]).

use axum::extract::State;
use axum::http::StatusCode;
use gitview_core::results::ProgressEvent;

use crate::db;
use crate::error::ApiError;
use crate::kit::check::bigint;
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store;
use crate::store::attempts::repository_of;
use crate::store::progress::Counts;

/// An event's counts as `bigint`.
fn counts(event: &ProgressEvent) -> Result<Counts, ApiError> {
    Ok(Counts {
        done: bigint("done", event.done)?,
        total: bigint("total", event.total)?,
        elapsed_ms: bigint("elapsedMs", event.elapsed_ms)?,
    })
}

pub(crate) async fn progress(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<ProgressEvent>,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // Any attempt's events are kept, under its own attempt.
    repository_of(&mut tx, &analysis).await?;
    let counts = counts(&body)?;
    store::progress::insert(
        &mut tx,
        account,
        &analysis,
        claims.attempt,
        &body.stage,
        counts,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_bigint_name_their_field() {
        let event = |elapsed_ms| ProgressEvent {
            stage: "extract".into(),
            done: 1,
            total: 2,
            elapsed_ms,
        };
        assert_eq!(
            counts(&event(3)).ok(),
            Some(Counts {
                done: 1,
                total: 2,
                elapsed_ms: 3
            })
        );
        let err = counts(&event(u64::MAX)).expect_err("too large");
        assert_eq!(err.message, "elapsedMs is too large");
    }
}
