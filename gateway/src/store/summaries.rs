//! The account's summary cache: a run stores the summaries its model wrote, by key, and every
//! later run of the account finds them (`migrations/0012_summaries.sql`).

use serde_json::Value;
use sqlx::PgConnection;

use crate::db::SCRUB_PII;

/// A run that finds a summary marks it used, but at most once in this interval: a lookup of
/// a thousand fresh keys writes nothing, and retention (whole days) never needs finer.
const USE_GRANULARITY: &str = "1 hour";

/// The account's summaries of `keys`, each with the account's scrub policy, marking them used.
pub(crate) async fn find(
    tx: &mut PgConnection,
    account: i64,
    keys: &[String],
) -> Result<Vec<(String, Value, bool)>, sqlx::Error> {
    // The CTE's update and the outer select see the same snapshot: every summary found is
    // answered, whether or not it needed touching.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH touched AS (
           UPDATE summaries SET used_at = now()
           WHERE account_id = $1 AND key = ANY($2) AND used_at < now() - interval '{USE_GRANULARITY}')
         SELECT key, document, {SCRUB_PII} FROM summaries WHERE account_id = $1 AND key = ANY($2)"
    )))
    .bind(account)
    .bind(keys)
    .fetch_all(tx)
    .await
}

/// Stores the summary under `key`, replacing one stored before (the same key names the same
/// chunk, prompt and model: storing it again is harmless).
pub(crate) async fn put(
    tx: &mut PgConnection,
    account: i64,
    key: &str,
    document: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO summaries (account_id, key, document) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, key) DO UPDATE SET document = EXCLUDED.document, used_at = now()",
    )
    .bind(account)
    .bind(key)
    .bind(document)
    .execute(tx)
    .await?;
    Ok(())
}
