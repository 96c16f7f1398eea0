//! The HTTP API (see [`gitview_core::results`] for the routes and bodies), health endpoints,
//! and the request-id and body-limit layers around them.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use gitview_core::artifact;
use gitview_core::records::FileStatus;
use gitview_core::results::{
    Advance, BatchStored, CommitBatch, FinishRun, ProgressEvent, RunFinished, RunStarted,
    RunStatus, StartRun,
};
use gitview_core::time::epoch_seconds;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::db;
use crate::error::ApiError;
use crate::kit::audit::audit;
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::{AppState, INLINE_ARTIFACT_LIMIT};
use crate::kit::table::Routes;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;

/// The runner routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::POST, "/v1/runs/{analysis}/start", start)
        .on(Method::POST, "/v1/runs/{analysis}/commits", commits)
        .on(Method::PUT, "/v1/runs/{analysis}/phases", phases)
        .on(
            Method::PUT,
            "/v1/runs/{analysis}/artifacts/{name}",
            artifact,
        )
        .on(Method::POST, "/v1/runs/{analysis}/progress", progress)
        .on(Method::POST, "/v1/runs/{analysis}/finish", finish)
}

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
fn attempt_conflict(analysis: &str, attempt: i32, current: i32) -> ApiError {
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

async fn start(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<StartRun>,
) -> Result<axum::Json<RunStarted>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    if body.attempt != claims.attempt {
        return Err(ApiError::forbidden(format!(
            "the token is for attempt {}, not {}",
            claims.attempt, body.attempt
        )));
    }
    if !matches!(body.mode.as_str(), "Full" | "Incremental" | "Range") {
        return Err(ApiError::bad_request(format!(
            "mode must be Full, Incremental or Range, not {:?}",
            body.mode
        )));
    }
    if body.branch.is_empty() || body.branch.len() > 255 {
        return Err(ApiError::bad_request("branch must be 1 to 255 characters"));
    }
    let repository = gitview_core::remote::RepositoryUrl::parse(&body.repository_url)
        .map_err(|err| ApiError::bad_request(format!("repositoryUrl: {err}")))?;
    if repository.is_local() {
        return Err(ApiError::bad_request(
            "repositoryUrl must name a remote repository, not a local path",
        ));
    }
    let canonical = repository.as_str();
    let fingerprint = repository.fingerprint(&body.branch);
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // The analysis' row first, locked (as every write of results locks it, and before the
    // repository's row, in the order `finish` takes them): a start never lowers the attempt, so
    // a superseded attempt's start changes nothing.
    let stored: Option<i32> =
        sqlx::query_scalar("SELECT attempt FROM analyses WHERE id = $1 FOR NO KEY UPDATE")
            .bind(&analysis)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(current) = stored.filter(|current| *current > body.attempt) {
        return Err(attempt_conflict(&analysis, body.attempt, current));
    }
    // One row per remote and branch, whichever transport a run spells it with: the URL records
    // the latest spelling (the `remote` column follows it), the fingerprint stays.
    let (repository_id, last): (i64, Option<String>) = sqlx::query_as(
        "INSERT INTO repositories (account_id, fingerprint, url, branch) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, fingerprint) DO UPDATE SET url = EXCLUDED.url
         RETURNING id, last_analyzed_commit",
    )
    .bind(account)
    .bind(&fingerprint)
    .bind(canonical)
    .bind(&body.branch)
    .fetch_one(&mut *tx)
    .await?;
    let resumed: Option<String> = sqlx::query_scalar(
        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, config)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)
         ON CONFLICT (id) DO UPDATE SET attempt = EXCLUDED.attempt, status = 'running', message = '',
           finished_at = NULL, config = EXCLUDED.config
         WHERE analyses.repository_id = EXCLUDED.repository_id AND analyses.status <> 'succeeded'
           AND analyses.attempt <= EXCLUDED.attempt
         RETURNING id",
    )
    .bind(&analysis)
    .bind(account)
    .bind(repository_id)
    .bind(&body.namespace)
    .bind(&body.name)
    .bind(body.attempt)
    .bind(&body.mode)
    .bind(recorded_config(body.config))
    .fetch_optional(&mut *tx)
    .await?;
    if resumed.is_none() {
        // A row stored since the first read (a concurrent first start) may be a newer
        // attempt's; the conflicting row is locked and visible now.
        let current: Option<i32> = sqlx::query_scalar("SELECT attempt FROM analyses WHERE id = $1")
            .bind(&analysis)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(current) = current.filter(|current| *current > body.attempt) {
            return Err(attempt_conflict(&analysis, body.attempt, current));
        }
        return Err(ApiError::conflict(format!(
            "analysis {analysis} already succeeded, or belongs to another repository"
        )));
    }
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "run.start",
        &analysis,
        json!({"repository": canonical, "branch": body.branch, "attempt": body.attempt}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(RunStarted {
        analysis_id: analysis,
        repository_id,
        fingerprint,
        last_analyzed_commit: last,
    }))
}

/// A run's configuration as it is stored and read back: its repository URL in canonical form,
/// so no credential a runner left in it (a token as the URL's user name) is kept; a URL
/// without a canonical form is kept redacted ([`gitview_core::remote::redact`]).
fn recorded_config(mut config: Value) -> Value {
    if let Some(url) = config.pointer_mut("/repository/url")
        && let Some(text) = url.as_str()
    {
        let recorded = match gitview_core::remote::RepositoryUrl::parse(text) {
            Ok(canonical) => canonical.to_string(),
            Err(_) => gitview_core::remote::redact(text),
        };
        *url = Value::String(recorded);
    }
    config
}

/// A count as PostgreSQL's `bigint`: counts past `i64::MAX` are refused, never wrapped.
fn bigint(name: &str, n: u64) -> Result<i64, ApiError> {
    i64::try_from(n).map_err(|_| ApiError::bad_request(format!("{name} is too large")))
}

/// The sum of a commit's line counts, as `bigint`.
fn line_total(
    index: usize,
    what: &str,
    mut counts: impl Iterator<Item = u64>,
) -> Result<i64, ApiError> {
    counts
        .try_fold(0i64, |sum, n| sum.checked_add(i64::try_from(n).ok()?))
        .ok_or_else(|| {
            ApiError::bad_request(format!("commits[{index}]: lines {what} are too large"))
        })
}

fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64)
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether any string (or key) in `value` holds a NUL, which PostgreSQL text cannot.
pub(crate) fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

/// The `commit_files` rows of a batch's newly inserted commits, column by column.
#[derive(Debug, Default)]
struct FileColumns<'a> {
    commit_id: Vec<&'a str>,
    seq: Vec<i32>,
    path: Vec<&'a str>,
    added: Vec<Option<i64>>,
    deleted: Vec<Option<i64>>,
    status: Vec<&'static str>,
}

impl<'a> FileColumns<'a> {
    fn of(batch: &'a CommitBatch, inserted: &[String]) -> Result<Self, ApiError> {
        let inserted: std::collections::HashSet<&str> =
            inserted.iter().map(String::as_str).collect();
        let mut columns = Self::default();
        let lines = |n: Option<u64>| {
            n.map(i64::try_from)
                .transpose()
                .map_err(|_| ApiError::bad_request("a file's line count is too large"))
        };
        for upload in &batch.commits {
            let record = &upload.record;
            if !inserted.contains(record.id.as_str()) {
                continue;
            }
            for (index, file) in record.files.iter().enumerate() {
                columns.commit_id.push(&record.id);
                columns.seq.push(
                    i32::try_from(index + 1)
                        .map_err(|_| ApiError::bad_request("a commit has too many files"))?,
                );
                columns.path.push(&file.path);
                columns.added.push(lines(file.added)?);
                columns.deleted.push(lines(file.deleted)?);
                columns.status.push(match file.status {
                    FileStatus::Added => "A",
                    FileStatus::Deleted => "D",
                    FileStatus::Modified => "M",
                    FileStatus::TypeChanged => "T",
                });
            }
        }
        Ok(columns)
    }
}

async fn commits(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<CommitBatch>,
) -> Result<axum::Json<BatchStored>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let mut rows = Vec::with_capacity(body.commits.len());
    for (index, upload) in body.commits.iter().enumerate() {
        let record = &upload.record;
        if !is_object_id(&record.id) || !record.parents.iter().all(|p| is_object_id(p)) {
            return Err(ApiError::bad_request(format!(
                "commits[{index}]: id and parents must be full hex object ids"
            )));
        }
        let added = line_total(index, "added", record.files.iter().filter_map(|f| f.added))?;
        let deleted = line_total(
            index,
            "deleted",
            record.files.iter().filter_map(|f| f.deleted),
        )?;
        rows.push(json!({
            "id": record.id, "parents": record.parents,
            "author_name": record.author.name, "author_email": record.author.email,
            "authored_at": epoch_seconds(&record.author.time),
            "committer_name": record.committer.name, "committer_email": record.committer.email,
            "committed_at": epoch_seconds(&record.committer.time),
            "message": record.message, "lines_added": added, "lines_deleted": deleted,
            "files_changed": record.files.len(), "renames": record.renames,
            "enrichment": upload.enrichment, "record": record,
        }));
    }
    let rows = Value::Array(rows);
    // PostgreSQL text cannot hold NUL: refuse it by name rather than with a database error.
    if contains_nul(&rows) {
        return Err(ApiError::bad_request(
            "a commit contains a NUL character, which cannot be stored",
        ));
    }
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // Before the batch's stored answer too: a superseded attempt learns nothing either.
    let repository = current_attempt(&mut tx, &analysis, claims.attempt).await?;
    let seen: Option<(i64, i64)> = sqlx::query_as(
        "SELECT inserted, existing FROM commit_batches WHERE account_id = $1 AND analysis_id = $2 AND batch = $3",
    )
    .bind(account)
    .bind(&analysis)
    .bind(i64::try_from(body.batch).map_err(|_| ApiError::bad_request("batch is too large"))?)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((inserted, existing)) = seen {
        return Ok(axum::Json(BatchStored {
            inserted: inserted as u64,
            existing: existing as u64,
        }));
    }
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
            authored_at, committer_name, committer_email, committed_at, message, lines_added, lines_deleted,
            files_changed, renames, enrichment, record)
         SELECT $1, $2, c.id, $3, ARRAY(SELECT jsonb_array_elements_text(c.parents)), c.author_name, c.author_email,
            to_timestamp(c.authored_at), c.committer_name, c.committer_email, to_timestamp(c.committed_at), c.message,
            c.lines_added, c.lines_deleted, c.files_changed, c.renames, coalesce(c.enrichment, '{}'), c.record
         FROM jsonb_to_recordset($4) AS c(id text, parents jsonb, author_name text, author_email text,
            authored_at bigint, committer_name text, committer_email text, committed_at bigint, message text,
            lines_added bigint, lines_deleted bigint, files_changed integer, renames jsonb, enrichment jsonb,
            record jsonb)
         ON CONFLICT (account_id, repository_id, id) DO NOTHING
         RETURNING id",
    )
    .bind(account)
    .bind(repository)
    .bind(&analysis)
    .bind(&rows)
    .fetch_all(&mut *tx)
    .await?;
    let mut files_inserted = 0;
    if !inserted.is_empty() {
        // The file stats of the new commits as columns: UNNEST of arrays costs the database
        // far less than unpacking them from JSON again.
        let files = FileColumns::of(&body, &inserted)?;
        files_inserted = sqlx::query(
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    let stored = BatchStored {
        inserted: inserted.len() as u64,
        existing: (body.commits.len() - inserted.len()) as u64,
    };
    sqlx::query("INSERT INTO commit_batches (account_id, analysis_id, batch, inserted, existing) VALUES ($1, $2, $3, $4, $5)")
        .bind(account)
        .bind(&analysis)
        .bind(body.batch as i64)
        .bind(stored.inserted as i64)
        .bind(stored.existing as i64)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "commits.upsert",
        &analysis,
        json!({"batch": body.batch, "inserted": stored.inserted, "existing": stored.existing}),
    )
    .await?;
    tx.commit().await?;
    state.metrics.rows_written("commits", stored.inserted);
    state.metrics.rows_written("commit_files", files_inserted);
    Ok(axum::Json(stored))
}

async fn phases(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<Vec<Value>>,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    if body.iter().any(|phase| !phase.is_object()) {
        return Err(ApiError::bad_request(
            "phases must be a JSON array of objects",
        ));
    }
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    current_attempt(&mut tx, &analysis, claims.attempt).await?;
    sqlx::query("DELETE FROM phases WHERE account_id = $1 AND analysis_id = $2")
        .bind(account)
        .bind(&analysis)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO phases (account_id, analysis_id, seq, document)
         SELECT $1, $2, p.ord::integer, p.value FROM jsonb_array_elements($3) WITH ORDINALITY AS p(value, ord)",
    )
    .bind(account)
    .bind(&analysis)
    .bind(Value::Array(body.clone()))
    .execute(&mut *tx)
    .await?;
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

/// `PUT /v1/runs/{analysis}/artifacts/{name}`: the body is streamed, hashed and counted. Up
/// to [`INLINE_ARTIFACT_LIMIT`] it is kept in the row; above, it goes to the object store as
/// it arrives (never held whole in memory) and the row keeps its key. The row is written last,
/// so a failed or cut-off upload leaves no row; a replaced artifact's old object is deleted
/// once the new row is committed.
async fn artifact(
    State(state): State<AppState>,
    ApiPath((analysis, name)): ApiPath<(String, String)>,
    runner: Runner,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    if !artifact::is_valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "artifact name {name:?}: use {}",
            artifact::NAME_RULE
        )));
    }
    let max = if state.artifacts.is_some() {
        state.max_artifact_bytes
    } else {
        INLINE_ARTIFACT_LIMIT as u64
    };
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            if state.artifacts.is_some() {
                format!("artifacts are limited to {max} bytes (--max-artifact-bytes)")
            } else {
                format!(
                    "artifacts above {INLINE_ARTIFACT_LIMIT} bytes need object storage (--object-store), which is not configured"
                )
            },
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let account = state.account_id(&claims.account).await?;
    // The analysis must exist, at the token's attempt, before anything is stored for it (the
    // row's transaction checks again: a newer attempt may start during the upload).
    {
        let mut tx = db::tenant(&state.pool, account).await?;
        current_attempt(&mut tx, &analysis, claims.attempt).await?;
        tx.commit().await?;
    }

    let mut chunks = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let mut upload: Option<(String, crate::storage::Upload)> = None;
    let outcome: Result<(), ApiError> = async {
        while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
            let chunk = chunk.map_err(|err| {
                ApiError::bad_request(format!("reading the artifact's body failed: {err}"))
            })?;
            size += chunk.len() as u64;
            if size > max {
                return Err(too_large());
            }
            hasher.update(&chunk);
            if let Some((_, writer)) = &mut upload {
                writer
                    .put(chunk)
                    .await
                    .map_err(|err| storage_error(&state.metrics, err))?;
                continue;
            }
            head.extend_from_slice(&chunk);
            if head.len() > INLINE_ARTIFACT_LIMIT {
                let store = state.artifacts.as_ref().ok_or_else(too_large)?;
                let key = ArtifactStore::new_key(account, &analysis, &name);
                let mut writer = store
                    .upload(&key)
                    .await
                    .map_err(|err| storage_error(&state.metrics, err))?;
                let first = bytes::Bytes::from(std::mem::take(&mut head));
                let put = writer.put(first).await;
                upload = Some((key, writer));
                put.map_err(|err| storage_error(&state.metrics, err))?;
            }
        }
        Ok(())
    }
    .await;
    let key = match (outcome, upload) {
        (Err(err), Some((_, writer))) => {
            writer.abort().await;
            return Err(err);
        }
        (Err(err), None) => return Err(err),
        (Ok(()), Some((key, writer))) => {
            writer
                .finish()
                .await
                .map_err(|err| storage_error(&state.metrics, err))?;
            Some(key)
        }
        (Ok(()), None) => None,
    };
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = store_artifact_row(
        &state,
        account,
        &runner,
        &analysis,
        &name,
        &media_type,
        size,
        &digest,
        key.as_deref(),
        head,
    )
    .await;
    if stored.is_ok() {
        let kind = if key.is_some() { "object" } else { "inline" };
        state.metrics.artifact_stored(kind, size);
    }
    let store = state.artifacts.as_ref();
    match (stored, store) {
        (Ok(Some(old)), Some(store)) => {
            if let Err(err) = store.delete(&old).await {
                // An orphan now: the retention janitor deletes it.
                tracing::warn!(key = %old, error = %err, "cannot delete a replaced artifact object");
            }
            Ok(StatusCode::NO_CONTENT)
        }
        (Ok(_), _) => Ok(StatusCode::NO_CONTENT),
        (Err(err), store) => {
            if let (Some(key), Some(store)) = (&key, store)
                && let Err(delete) = store.delete(key).await
            {
                tracing::warn!(key = %key, error = %delete, "cannot delete an unrecorded artifact object");
            }
            Err(err)
        }
    }
}

/// The object store failed: logged with its detail, answered without (it can name buckets
/// and hosts); 503, since a retry may well succeed.
fn storage_error(metrics: &Metrics, err: object_store::Error) -> ApiError {
    metrics.object_store_failed("write");
    tracing::warn!(error = %err, "object storage failed");
    ApiError::unavailable("the artifact store failed; retry")
}

/// Writes an artifact's row (content inline, or the object's key) and its audit row; returns
/// the key of the object it replaced, if any.
#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, each from a different part of the request"
)]
async fn store_artifact_row(
    state: &AppState,
    account: i64,
    runner: &Runner,
    analysis: &str,
    name: &str,
    media_type: &str,
    size: u64,
    digest: &str,
    key: Option<&str>,
    inline: Vec<u8>,
) -> Result<Option<String>, ApiError> {
    let mut tx = db::tenant(&state.pool, account).await?;
    current_attempt(&mut tx, analysis, runner.0.attempt).await?;
    let previous: Option<Option<String>> = sqlx::query_scalar(
        "SELECT storage_key FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name = $3 FOR UPDATE",
    )
    .bind(account)
    .bind(analysis)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let content = key.is_none().then_some(inline);
    sqlx::query(
        "INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content, storage_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account_id, analysis_id, name) DO UPDATE SET media_type = EXCLUDED.media_type, size = EXCLUDED.size,
           sha256 = EXCLUDED.sha256, content = EXCLUDED.content, storage_key = EXCLUDED.storage_key,
           created_at = now()",
    )
    .bind(account)
    .bind(analysis)
    .bind(name)
    .bind(media_type)
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(digest)
    .bind(content)
    .bind(key)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "artifact.put",
        &format!("{analysis}/{name}"),
        json!({"size": size, "sha256": digest, "stored": if key.is_some() { "object" } else { "inline" }}),
    )
    .await?;
    tx.commit().await?;
    Ok(previous.flatten().filter(|old| Some(old.as_str()) != key))
}

async fn progress(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<ProgressEvent>,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // Any attempt's events are kept, under its own attempt: a superseded one's are history,
    // never the current progress (see `tracking::latest_progress`).
    repository_of(&mut tx, &analysis).await?;
    sqlx::query(
        "INSERT INTO progress_events (account_id, analysis_id, attempt, stage, done, total, elapsed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account)
    .bind(&analysis)
    .bind(claims.attempt)
    .bind(&body.stage)
    .bind(bigint("done", body.done)?)
    .bind(bigint("total", body.total)?)
    .bind(bigint("elapsedMs", body.elapsed_ms)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn finish(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<FinishRun>,
) -> Result<axum::Json<RunFinished>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    if body.status == RunStatus::Running {
        return Err(ApiError::bad_request("status must be succeeded or failed"));
    }
    if body.advance.is_some() && body.status != RunStatus::Succeeded {
        return Err(ApiError::bad_request(
            "only a succeeded run advances the repository",
        ));
    }
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let repository = current_attempt(&mut tx, &analysis, claims.attempt).await?;
    let mut last: Option<String> =
        sqlx::query_scalar("SELECT last_analyzed_commit FROM repositories WHERE id = $1")
            .bind(repository)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(Advance { expected, to }) = &body.advance {
        if !is_object_id(to) {
            return Err(ApiError::bad_request(
                "advance.to must be a full hex object id",
            ));
        }
        // Compare-and-set: a concurrent run that advanced first makes this one lose. Under
        // READ COMMITTED the second UPDATE waits for the first and re-checks the condition.
        let moved: Option<String> = sqlx::query_scalar(
            "UPDATE repositories SET last_analyzed_commit = $2, version = version + 1
             WHERE id = $1 AND last_analyzed_commit IS NOT DISTINCT FROM $3
             RETURNING last_analyzed_commit",
        )
        .bind(repository)
        .bind(to)
        .bind(expected)
        .fetch_optional(&mut *tx)
        .await?;
        // Lost the race to a run that ended where this one ends (runs started together over
        // one tip, e.g. a tracker's Allow policy): the repository already stands where this
        // run would put it, so nothing is lost and the run succeeds.
        let moved = match moved {
            Some(commit) => Some(commit),
            None => sqlx::query_scalar::<_, Option<String>>(
                "SELECT last_analyzed_commit FROM repositories WHERE id = $1",
            )
            .bind(repository)
            .fetch_one(&mut *tx)
            .await?
            .filter(|current| current == to),
        };
        match moved {
            Some(commit) => last = Some(commit),
            None => {
                return Err(ApiError::conflict(format!(
                    "the repository's last analyzed commit is no longer {}: another run advanced it first",
                    expected.as_deref().unwrap_or("unset")
                )));
            }
        }
    }
    let status = match body.status {
        RunStatus::Succeeded => "succeeded",
        _ => "failed",
    };
    sqlx::query(
        "UPDATE analyses SET status = $2, message = $3, from_commit = $4, to_commit = $5, commits_analyzed = $6,
           metrics = $7, model_versions = $8, finished_at = now()
         WHERE id = $1",
    )
    .bind(&analysis)
    .bind(status)
    .bind(&body.message)
    .bind(&body.from_commit)
    .bind(&body.to_commit)
    .bind(bigint("commitsAnalyzed", body.commits_analyzed)?)
    .bind(&body.metrics)
    .bind(&body.model_versions)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "run.finish",
        &analysis,
        json!({"status": status, "advance": body.advance}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(RunFinished {
        analysis_id: analysis,
        status: body.status,
        last_analyzed_commit: last,
    }))
}
