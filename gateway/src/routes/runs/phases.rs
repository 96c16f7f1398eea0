//! `PUT /v1/runs/{analysis}/phases`: the run's phase documents, replaced whole.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::db;
use crate::error::ApiError;
use crate::kit::audit::audit;
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store;
use crate::store::attempts::current_attempt;

/// Phases are JSON objects.
fn check_phases(phases: &[Value]) -> Result<(), ApiError> {
    if phases.iter().any(|phase| !phase.is_object()) {
        return Err(ApiError::bad_request(
            "phases must be a JSON array of objects",
        ));
    }
    Ok(())
}

pub(crate) async fn phases(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<Vec<Value>>,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    check_phases(&body)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    current_attempt(&mut tx, &analysis, claims.attempt).await?;
    store::phases::replace(&mut tx, account, &analysis, &body).await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "phases.put",
        &analysis,
        json!({"phases": body.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_objects() {
        assert!(check_phases(&[json!({"name": "extract"})]).is_ok());
        assert!(check_phases(&[]).is_ok());
        assert!(check_phases(&[json!({}), json!([1])]).is_err());
    }
}
