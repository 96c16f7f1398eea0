//! The rows of a run's log lines, each named by its analysis, attempt and `seq`: a line
//! stored already is not stored again.

use serde_json::Value;
use sqlx::PgConnection;

/// A batch's rows, column by column (for `UNNEST`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LogColumns<'a> {
    pub(crate) seq: Vec<i64>,
    pub(crate) at: Vec<String>,
    pub(crate) level: Vec<&'static str>,
    pub(crate) message: Vec<&'a str>,
    pub(crate) fields: Vec<&'a Value>,
}

/// Stores the lines of `attempt` not stored yet; answers how many it stored.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    attempt: i32,
    columns: &LogColumns<'_>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO run_logs (account_id, analysis_id, attempt, seq, at, level, message, fields)
         SELECT $1, $2, $3, l.seq, l.at::timestamptz, l.level, l.message, l.fields
         FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
           AS l(seq, at, level, message, fields)
         ON CONFLICT (account_id, analysis_id, attempt, seq) DO NOTHING",
    )
    .bind(account)
    .bind(analysis)
    .bind(attempt)
    .bind(&columns.seq)
    .bind(&columns.at)
    .bind(&columns.level)
    .bind(&columns.message)
    .bind(&columns.fields)
    .execute(tx)
    .await?
    .rows_affected())
}
