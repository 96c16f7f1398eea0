//! The rows of a run's artifacts: content inline up to the limit, else the key of the object
//! the object store holds ([`crate::storage`]).

use sqlx::PgConnection;

/// An artifact's row as a write stores it: its content inline, or the key of its object.
#[derive(Debug)]
pub(crate) struct Artifact<'a> {
    pub(crate) analysis: &'a str,
    pub(crate) name: &'a str,
    pub(crate) media_type: &'a str,
    pub(crate) size: u64,
    pub(crate) sha256: &'a str,
    /// The object's key; `None`: the content is inline.
    pub(crate) key: Option<&'a str>,
    pub(crate) inline: Vec<u8>,
    /// Found clean under this scrub rules version (migration `0015`), if checked and clean.
    pub(crate) clean_under: Option<i32>,
}

/// The object key of the artifact's stored row (`Some(None)`: stored inline; `None`: no
/// row), with the row locked until the transaction ends.
pub(crate) async fn lock_key(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    name: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT storage_key FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name = $3 FOR UPDATE",
    )
    .bind(account)
    .bind(analysis)
    .bind(name)
    .fetch_optional(tx)
    .await
}

/// Stores the artifact's row, replacing one of the same name.
pub(crate) async fn upsert(
    tx: &mut PgConnection,
    account: i64,
    artifact: Artifact<'_>,
) -> Result<(), sqlx::Error> {
    let content = artifact.key.is_none().then_some(artifact.inline);
    sqlx::query(
        "INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content, storage_key, clean_under)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (account_id, analysis_id, name) DO UPDATE SET media_type = EXCLUDED.media_type, size = EXCLUDED.size,
           sha256 = EXCLUDED.sha256, content = EXCLUDED.content, storage_key = EXCLUDED.storage_key,
           clean_under = EXCLUDED.clean_under, created_at = now()",
    )
    .bind(account)
    .bind(artifact.analysis)
    .bind(artifact.name)
    .bind(artifact.media_type)
    .bind(i64::try_from(artifact.size).unwrap_or(i64::MAX))
    .bind(artifact.sha256)
    .bind(content)
    .bind(artifact.key)
    .bind(artifact.clean_under)
    .execute(tx)
    .await?;
    Ok(())
}
