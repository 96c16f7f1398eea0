//! The rows of a run's progress events, each kept under the attempt whose token wrote it.

use sqlx::PgConnection;

/// A progress event's counts, as `bigint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) done: i64,
    pub(crate) total: i64,
    pub(crate) elapsed_ms: i64,
}

/// Stores a progress event of `attempt`.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    attempt: i32,
    stage: &str,
    counts: Counts,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO progress_events (account_id, analysis_id, attempt, stage, done, total, elapsed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account)
    .bind(analysis)
    .bind(attempt)
    .bind(stage)
    .bind(counts.done)
    .bind(counts.total)
    .bind(counts.elapsed_ms)
    .execute(tx)
    .await?;
    Ok(())
}
