//! The rows of an analysis' phase documents, replaced whole by each write.

use serde_json::Value;
use sqlx::PgConnection;

/// Replaces the analysis' phases with `phases`, numbered from 1 in order.
pub(crate) async fn replace(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    phases: &[Value],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM phases WHERE account_id = $1 AND analysis_id = $2")
        .bind(account)
        .bind(analysis)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO phases (account_id, analysis_id, seq, document)
         SELECT $1, $2, p.ord::integer, p.value FROM jsonb_array_elements($3) WITH ORDINALITY AS p(value, ord)",
    )
    .bind(account)
    .bind(analysis)
    .bind(Value::Array(phases.to_vec()))
    .execute(tx)
    .await?;
    Ok(())
}
