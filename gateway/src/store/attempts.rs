//! The attempt checks every run write makes in its own tenant transaction: that the analysis
//! was started, and for the run's results, that the token's attempt is the current one.

use axum::http::StatusCode;

use crate::error::ApiError;

/// The repository of a started analysis, within the tenant transaction. For writes that any
/// attempt may make (progress events, log lines: kept under the token's attempt); the run's
/// results are written through [`current_attempt`].
pub(crate) async fn repository_of(
    tx: &mut sqlx::PgConnection,
    analysis: &str,
) -> Result<i64, ApiError> {
    sqlx::query_scalar("SELECT repository_id FROM analyses WHERE id = $1")
        .bind(analysis)
        .fetch_optional(tx)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "analysis {analysis} has not been started (POST .../start first)"
            ))
        })
}

/// The repository of a started analysis whose current attempt is the token's `attempt`, with
/// the analysis' row locked (`FOR NO KEY UPDATE`) until the transaction ends. Every write of a
/// run's results goes through it in the write's own transaction: a start of a newer attempt
/// waits for the write to commit, and a write that waited for such a start sees its attempt and
/// is refused, so a pod the operator gave up on (a partitioned node, an eviction) can neither
/// overwrite nor fail the retry's results. The lock leaves foreign-key checks alone (they take
/// `FOR KEY SHARE`), so progress events and log lines are never held up by it.
pub(crate) async fn current_attempt(
    tx: &mut sqlx::PgConnection,
    analysis: &str,
    attempt: i32,
) -> Result<i64, ApiError> {
    let row: Option<(i64, i32)> = sqlx::query_as(
        "SELECT repository_id, attempt FROM analyses WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(analysis)
    .fetch_optional(tx)
    .await?;
    match row {
        None => Err(ApiError::not_found(format!(
            "analysis {analysis} has not been started (POST .../start first)"
        ))),
        Some((repository, current)) if current == attempt => Ok(repository),
        Some((_, current)) => Err(attempt_conflict(analysis, attempt, current)),
    }
}

/// 409 for a token of `attempt` when the analysis is at `current`: a superseded attempt (the
/// operator started a newer one) or one that has not started yet.
pub(crate) fn attempt_conflict(analysis: &str, attempt: i32, current: i32) -> ApiError {
    if attempt < current {
        ApiError::new(
            StatusCode::CONFLICT,
            "attempt_superseded",
            format!(
                "the token is for attempt {attempt}, but analysis {analysis} is at attempt {current}: a superseded attempt writes nothing"
            ),
        )
    } else {
        ApiError::new(
            StatusCode::CONFLICT,
            "attempt_not_started",
            format!(
                "the token is for attempt {attempt}, but analysis {analysis} is at attempt {current}: start attempt {attempt} first (POST .../start)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_superseded_or_not_started() {
        let older = attempt_conflict("a1", 1, 2);
        assert_eq!(
            (older.status, older.code),
            (StatusCode::CONFLICT, "attempt_superseded")
        );
        assert!(older.message.contains("attempt 1"), "{older:?}");
        let newer = attempt_conflict("a1", 3, 2);
        assert_eq!(
            (newer.status, newer.code),
            (StatusCode::CONFLICT, "attempt_not_started")
        );
        assert!(newer.message.contains("start attempt 3 first"), "{newer:?}");
    }
}
