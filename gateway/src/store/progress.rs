//! The rows of a run's progress events, each kept under the attempt whose token wrote it.

use gitview_core::results::{ProgressEvent, ProgressRecord};
use sqlx::PgConnection;

use crate::db::rfc3339;

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

#[derive(Debug, sqlx::FromRow)]
struct LatestRow {
    analysis_id: String,
    stage: String,
    done: i64,
    total: i64,
    elapsed_ms: i64,
    attempt: Option<i32>,
    at: String,
}

/// The newest progress event of each of `analyses` that has one: of attempt `attempt`, or
/// without it of the analysis' current attempt (the one that started last) or a later one —
/// never of a superseded attempt, whose runner may still report. By analysis id.
pub(crate) async fn latest(
    tx: &mut PgConnection,
    account: i64,
    analyses: &[String],
    attempt: Option<i32>,
) -> Result<Vec<(String, ProgressRecord)>, sqlx::Error> {
    let rows: Vec<LatestRow> = sqlx::query_as(concat!(
        "SELECT DISTINCT ON (e.analysis_id) e.analysis_id, e.stage, e.done, e.total, ",
        "e.elapsed_ms, e.attempt, ",
        rfc3339!("e.at"),
        " AS at FROM progress_events e
         JOIN analyses a ON a.account_id = e.account_id AND a.id = e.analysis_id
         WHERE e.account_id = $1 AND e.analysis_id = ANY($2)
           AND CASE WHEN $3::integer IS NULL THEN e.attempt >= a.attempt ELSE e.attempt = $3 END
         ORDER BY e.analysis_id, e.id DESC"
    ))
    .bind(account)
    .bind(analyses)
    .bind(attempt)
    .fetch_all(tx)
    .await?;
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|row| {
            let record = ProgressRecord {
                event: ProgressEvent {
                    stage: row.stage,
                    done: unsigned(row.done),
                    total: unsigned(row.total),
                    elapsed_ms: unsigned(row.elapsed_ms),
                },
                attempt: row.attempt,
                at: row.at,
            };
            (row.analysis_id, record)
        })
        .collect())
}
