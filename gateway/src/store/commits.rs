//! The rows of a commit batch: the commits (each stored once per repository), their file
//! stats, and the batch's record, which makes a batch sent again answer what it stored the
//! first time.

use gitview_core::results::BatchStored;
use serde_json::Value;
use sqlx::PgConnection;

/// The `commit_files` rows of a batch's newly inserted commits, column by column.
#[derive(Debug, Default)]
pub(crate) struct FileColumns<'a> {
    pub(crate) commit_id: Vec<&'a str>,
    pub(crate) seq: Vec<i32>,
    pub(crate) path: Vec<&'a str>,
    pub(crate) added: Vec<Option<i64>>,
    pub(crate) deleted: Vec<Option<i64>>,
    pub(crate) status: Vec<&'static str>,
}

/// What a batch stored when it was sent before: its inserted and existing counts.
pub(crate) async fn stored_batch(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    batch: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT inserted, existing FROM commit_batches WHERE account_id = $1 AND analysis_id = $2 AND batch = $3",
    )
    .bind(account)
    .bind(analysis)
    .bind(batch)
    .fetch_optional(tx)
    .await
}

/// Inserts the commits of `rows` (a JSON array of objects with the `commits` columns) that the
/// repository does not hold yet; answers the ids inserted.
pub(crate) async fn insert_commits(
    tx: &mut PgConnection,
    account: i64,
    repository: i64,
    analysis: &str,
    rows: &Value,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
            authored_at, committer_name, committer_email, committed_at, message, lines_added, lines_deleted,
            files_changed, renames, enrichment, record, clean_under)
         SELECT $1, $2, c.id, $3, ARRAY(SELECT jsonb_array_elements_text(c.parents)), c.author_name, c.author_email,
            to_timestamp(c.authored_at), c.committer_name, c.committer_email, to_timestamp(c.committed_at), c.message,
            c.lines_added, c.lines_deleted, c.files_changed, c.renames, coalesce(c.enrichment, '{}'), c.record, c.clean_under
         FROM jsonb_to_recordset($4) AS c(id text, parents jsonb, author_name text, author_email text,
            authored_at bigint, committer_name text, committer_email text, committed_at bigint, message text,
            lines_added bigint, lines_deleted bigint, files_changed integer, renames jsonb, enrichment jsonb,
            record jsonb, clean_under integer)
         ON CONFLICT (account_id, repository_id, id) DO NOTHING
         RETURNING id",
    )
    .bind(account)
    .bind(repository)
    .bind(analysis)
    .bind(rows)
    .fetch_all(tx)
    .await
}

/// Inserts the file stats of new commits; answers how many rows. As columns: `UNNEST` of
/// arrays costs the database far less than unpacking them from JSON again.
pub(crate) async fn insert_files(
    tx: &mut PgConnection,
    account: i64,
    repository: i64,
    files: &FileColumns<'_>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO commit_files (account_id, repository_id, commit_id, seq, path, added, deleted, status)
         SELECT $1, $2, f.commit_id, f.seq, f.path, f.added, f.deleted, f.status
         FROM UNNEST($3::text[], $4::integer[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])
           AS f(commit_id, seq, path, added, deleted, status)",
    )
    .bind(account)
    .bind(repository)
    .bind(&files.commit_id)
    .bind(&files.seq)
    .bind(&files.path)
    .bind(&files.added)
    .bind(&files.deleted)
    .bind(&files.status)
    .execute(tx)
    .await?
    .rows_affected())
}

/// Records what a batch stored, for the same batch sent again.
pub(crate) async fn record_batch(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    batch: i64,
    stored: &BatchStored,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO commit_batches (account_id, analysis_id, batch, inserted, existing) VALUES ($1, $2, $3, $4, $5)")
        .bind(account)
        .bind(analysis)
        .bind(batch)
        .bind(stored.inserted as i64)
        .bind(stored.existing as i64)
        .execute(tx)
        .await?;
    Ok(())
}
