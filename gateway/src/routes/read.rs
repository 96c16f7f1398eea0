//! The read API for users and downstream services: analyses, one analysis with its story,
//! timeline and phases, its commits, and its progress (routes and bodies in
//! [`gitview_core::results`]).
//!
//! Every request carries an API key ([`Reader`]) and every query runs in a tenant transaction
//! of the key's account, naming the account in its `WHERE` as well: the code scopes each query
//! and row-level security scopes it again. An analysis of another account is answered exactly
//! like one that does not exist (404), so ids leak nothing. Lists page as
//! [`crate::kit::paging`] says.
//!
//! Accounts whose policy scrubs PII (`accounts.scrub_pii`) get every person and every piece of
//! free text scrubbed again on the way out, with the runner's own rules
//! ([`gitview_core::scrub`]): commit records (emails hashed, secrets redacted in messages),
//! enrichments, analyses' messages, phases, story and timeline. Rows stored before the policy
//! was turned on hold raw text; this is what keeps them from being read. The policy is read in
//! the same query as the rows (no extra round trip), and a missing policy scrubs.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gitview_core::records::CommitRecord;
use gitview_core::results::{
    AnalysisDetail, AnalysisPage, AnalysisSummary, ArtifactInfo, CommitPage, CommitView,
    ProgressEvent, ProgressPage, ProgressRecord, RepositoryRef, RunStatus,
};
use gitview_core::scrub::{self, SCRUBBED_DOMAIN};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::borrow::Cow;

use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::{Cursor, List, invalid_cursor, limit, page, window};
use crate::kit::state::AppState;
use crate::kit::table::Routes;
use crate::storage::{self, ArtifactStore};

pub use slice::{DEFAULT_MAX_COMMITS, MAX_COMMITS};

/// The read routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::GET, "/v1/analyses", analyses)
        .on(Method::GET, "/v1/analyses/{id}", analysis)
        .on(Method::GET, "/v1/analyses/{id}/commits", commits)
        .on(Method::GET, "/v1/analyses/{id}/progress", progress)
        .on(Method::GET, "/v1/analyses/{id}/artifacts/{name}", artifact)
        .on(Method::GET, "/v1/analyses/{id}/slice", slice::slice)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalysesQuery {
    repository: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitsQuery {
    author: Option<String>,
    path: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "{what}");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no analysis {id:?}"))
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// The account's scrub policy as a scalar subquery on the bound account (`$1`); a missing row
/// scrubs.
pub(crate) const SCRUB_PII: &str = "coalesce((SELECT scrub_pii FROM accounts WHERE id = $1), true)";

/// Free text scrubbed in place.
pub(crate) fn scrub_text(text: &mut String) {
    if let (Cow::Owned(scrubbed), _) = scrub::scrub_text(text) {
        *text = scrubbed;
    }
}

/// An author email as the runner stores it scrubbed, computed in SQL from a stored email:
/// `<16 hex of sha256(lower-cased, trimmed email)>@scrubbed.invalid` (lower-casing is
/// PostgreSQL's: the same as the runner's for ASCII emails).
pub(crate) fn hashed_email_sql(column: &str) -> String {
    format!(
        "(left(encode(sha256(convert_to(lower(btrim({column})), 'UTF8')), 'hex'), 16) || '@{SCRUBBED_DOMAIN}')"
    )
}

/// The columns of an [`AnalysisRow`] (`a` = analyses, `r` = repositories).
macro_rules! analysis_columns {
    () => {
        concat!(
            "a.id, a.namespace, a.name, a.attempt, a.mode, a.status, a.message, a.from_commit, ",
            "a.to_commit, a.commits_analyzed, r.fingerprint, r.url, r.branch, ",
            "r.last_analyzed_commit, ",
            rfc3339!("a.created_at"),
            " AS created_at, ",
            rfc3339!("a.started_at"),
            " AS started_at, ",
            rfc3339!("a.finished_at"),
            " AS finished_at"
        )
    };
}

#[derive(Debug, sqlx::FromRow)]
struct AnalysisRow {
    id: String,
    namespace: String,
    name: String,
    attempt: i32,
    mode: String,
    status: String,
    message: String,
    from_commit: Option<String>,
    to_commit: Option<String>,
    commits_analyzed: i64,
    fingerprint: String,
    url: String,
    branch: String,
    last_analyzed_commit: Option<String>,
    created_at: String,
    started_at: String,
    finished_at: Option<String>,
}

impl AnalysisRow {
    /// The summary, its free text (the message) scrubbed if `scrub`.
    fn summary_scrubbed(mut self, scrub: bool) -> Result<AnalysisSummary, ApiError> {
        if scrub {
            scrub_text(&mut self.message);
        }
        self.summary()
    }

    fn summary(self) -> Result<AnalysisSummary, ApiError> {
        let status = match self.status.as_str() {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            other => return Err(internal("unknown analysis status", other)),
        };
        Ok(AnalysisSummary {
            id: self.id,
            repository: RepositoryRef {
                fingerprint: self.fingerprint,
                url: self.url,
                branch: self.branch,
                last_analyzed_commit: self.last_analyzed_commit,
            },
            namespace: self.namespace,
            name: self.name,
            attempt: self.attempt,
            mode: self.mode,
            status,
            message: self.message,
            from_commit: self.from_commit,
            to_commit: self.to_commit,
            commits_analyzed: unsigned(self.commits_analyzed),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// The account's repositories a `repository` parameter names: by fingerprint (64 hex), or by
/// URL in any spelling of the same remote, whatever its transport (every branch).
async fn repositories(
    tx: &mut PgConnection,
    account: i64,
    repository: &str,
) -> Result<Vec<i64>, ApiError> {
    let fingerprint = repository.len() == 64
        && repository
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ids = if fingerprint {
        sqlx::query_scalar("SELECT id FROM repositories WHERE account_id = $1 AND fingerprint = $2")
            .bind(account)
            .bind(repository)
            .fetch_all(tx)
            .await?
    } else {
        let url = gitview_core::remote::RepositoryUrl::parse(repository).map_err(|err| {
            ApiError::bad_request(format!(
                "repository must be a fingerprint (64 hex) or a repository URL: {err}"
            ))
        })?;
        sqlx::query_scalar("SELECT id FROM repositories WHERE account_id = $1 AND remote = $2")
            .bind(account)
            .bind(url.remote())
            .fetch_all(tx)
            .await?
    };
    Ok(ids)
}

async fn analyses(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<AnalysesQuery>,
) -> Result<axum::Json<AnalysisPage>, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let status = match query.status.as_deref() {
        None => None,
        Some(status @ ("running" | "succeeded" | "failed")) => Some(status.to_owned()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status must be running, succeeded or failed, not {other:?}"
            )));
        }
    };
    let window = window(query.since.as_deref(), query.until.as_deref())?;
    let cursor = Cursor::decode(List::Analyses, query.cursor.as_deref())?;
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let repositories = match &query.repository {
        Some(repository) => {
            let ids = repositories(&mut tx, reader.account, repository).await?;
            if ids.is_empty() {
                return Ok(axum::Json(AnalysisPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            Some(ids)
        }
        None => None,
    };
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        analysis_columns!(),
        ", coalesce((SELECT scrub_pii FROM accounts WHERE id = "
    ));
    sql.push_bind(reader.account).push(
        "), true) AS scrub_pii FROM analyses a JOIN repositories r ON r.id = a.repository_id
         WHERE a.account_id = ",
    );
    sql.push_bind(reader.account);
    // One repository (the common case) as `=`, so the per-repository index also gives the
    // order; several (one URL, several branches) as `= ANY`.
    match repositories.as_deref() {
        Some([one]) => {
            sql.push(" AND a.repository_id = ").push_bind(*one);
        }
        Some(many) => {
            sql.push(" AND a.repository_id = ANY(")
                .push_bind(many.to_vec())
                .push(")");
        }
        None => {}
    }
    if let Some(status) = status {
        sql.push(" AND a.status = ").push_bind(status);
    }
    window.push(&mut sql, "a.created_at");
    if let Some(cursor) = cursor {
        // Analyses' cursors always carry a time (created_at is NOT NULL).
        let Some(time) = cursor.time else {
            return Err(invalid_cursor());
        };
        sql.push(" AND (a.created_at, a.id) < (")
            .push_bind(time)
            .push("::timestamptz, ")
            .push_bind(cursor.id)
            .push(")");
    }
    sql.push(" ORDER BY a.created_at DESC, a.id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows: Vec<ListRow> = sql.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let (rows, next_cursor) = page(rows, limit, List::Analyses, |row| Cursor {
        time: Some(row.summary.created_at.clone()),
        id: row.summary.id.clone(),
    });
    Ok(axum::Json(AnalysisPage {
        items: rows
            .into_iter()
            .map(|row| row.summary.summary_scrubbed(row.scrub_pii))
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

#[derive(Debug, sqlx::FromRow)]
struct ListRow {
    #[sqlx(flatten)]
    summary: AnalysisRow,
    scrub_pii: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: AnalysisRow,
    scrub_pii: bool,
    config: Value,
    metrics: Value,
    model_versions: Value,
}

/// An artifact's name, media type, size, digest, and, when the detail shows it, its content
/// (inline) or its object's key.
type ArtifactRow = (String, String, i64, String, Option<Vec<u8>>, Option<String>);

/// Story and timeline objects up to this size are shown in the detail; larger ones only
/// through the artifact route.
const DETAIL_OBJECT_LIMIT: i64 = 16 << 20;

/// The artifacts the detail inlines.
const STORY: &str = "story.md";
const TIMELINE: &str = "timeline.json";

async fn analysis(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
) -> Result<axum::Json<AnalysisDetail>, ApiError> {
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let row: DetailRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {}, {SCRUB_PII} AS scrub_pii, a.config, a.metrics, a.model_versions
         FROM analyses a JOIN repositories r ON r.id = a.repository_id
         WHERE a.account_id = $1 AND a.id = $2",
        analysis_columns!()
    )))
    .bind(reader.account)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(&id))?;
    let mut phases: Vec<Value> = sqlx::query_scalar(
        "SELECT document FROM phases WHERE account_id = $1 AND analysis_id = $2 ORDER BY seq",
    )
    .bind(reader.account)
    .bind(&id)
    .fetch_all(&mut *tx)
    .await?;
    let artifacts: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT name, media_type, size, sha256, CASE WHEN name IN ($3, $4) THEN content END,
           CASE WHEN name IN ($3, $4) AND size <= $5 THEN storage_key END
         FROM artifacts WHERE account_id = $1 AND analysis_id = $2 ORDER BY name",
    )
    .bind(reader.account)
    .bind(&id)
    .bind(STORY)
    .bind(TIMELINE)
    .bind(DETAIL_OBJECT_LIMIT)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let (mut story, mut timeline) = (None, None);
    let mut infos = Vec::with_capacity(artifacts.len());
    for (name, media_type, size, sha256, content, key) in artifacts {
        let content = match (content, key, &state.artifacts) {
            (Some(content), _, _) => Some(content),
            (None, Some(key), Some(store)) => Some(read_object(store, &state.metrics, &key).await?),
            _ => None,
        };
        match (name.as_str(), content) {
            (STORY, Some(bytes)) => story = Some(String::from_utf8_lossy(&bytes).into_owned()),
            (TIMELINE, Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => timeline = Some(value),
                Err(err) => {
                    tracing::warn!(analysis = %id, error = %err, "timeline.json is not JSON");
                }
            },
            _ => {}
        }
        infos.push(ArtifactInfo {
            name,
            media_type,
            size: unsigned(size),
            sha256,
        });
    }
    if row.scrub_pii {
        for phase in &mut phases {
            scrub::scrub_json(phase);
        }
        if let Some(story) = &mut story {
            scrub_text(story);
        }
        if let Some(timeline) = &mut timeline {
            scrub::scrub_json(timeline);
        }
    }
    Ok(axum::Json(AnalysisDetail {
        summary: row.summary.summary_scrubbed(row.scrub_pii)?,
        config: row.config,
        metrics: row.metrics,
        model_versions: row.model_versions,
        phases,
        story,
        timeline,
        artifacts: infos,
    }))
}

/// An object's whole content (the detail's story and timeline, bounded by
/// [`DETAIL_OBJECT_LIMIT`]).
async fn read_object(
    store: &ArtifactStore,
    metrics: &crate::metrics::Metrics,
    key: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut stream = store
        .read(key)
        .await
        .map_err(|err| object_read_error(metrics, err))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|err| object_read_error(metrics, err))?);
    }
    Ok(bytes)
}

fn object_read_error(metrics: &crate::metrics::Metrics, err: object_store::Error) -> ApiError {
    metrics.object_store_failed("read");
    tracing::warn!(error = %err, "reading an artifact object failed");
    ApiError::unavailable("the artifact store failed; retry")
}

#[derive(Debug, sqlx::FromRow)]
struct ArtifactContentRow {
    media_type: String,
    size: i64,
    sha256: String,
    content: Option<Vec<u8>>,
    storage_key: Option<String>,
    scrub_pii: bool,
}

/// Whether scrubbing applies to a media type: text and JSON (a scrubbed email or secret keeps
/// JSON valid: the replacements hold no quotes or backslashes).
fn is_textual(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-ndjson"
        || essence == "application/jsonl"
}

/// `GET /v1/analyses/{id}/artifacts/{name}`: the artifact's bytes with its media type and
/// `ETag` (its sha256), streamed from the object store when it is stored there. An account
/// that scrubs PII gets text and JSON artifacts scrubbed line by line (then without a
/// `Content-Length`, which scrubbing changes).
async fn artifact(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    reader: Reader,
) -> Result<Response, ApiError> {
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let row: Option<ArtifactContentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT media_type, size, sha256, content, storage_key, {SCRUB_PII} AS scrub_pii
         FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name = $3"
    )))
    .bind(reader.account)
    .bind(&id)
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        require_analysis(&mut tx, reader.account, &id).await?;
        return Err(ApiError::not_found(format!(
            "analysis {id} has no artifact {name:?}"
        )));
    };
    tx.commit().await?;
    let scrub = row.scrub_pii && is_textual(&row.media_type);
    let mut response = match (row.content, row.storage_key) {
        (Some(content), _) if scrub => {
            let text = String::from_utf8_lossy(&content);
            Response::new(Body::from(scrub::scrub_text(&text).0.into_owned()))
        }
        (Some(content), _) => {
            let mut response = Response::new(Body::from(content));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(row.size));
            response
        }
        (None, Some(key)) => {
            let store = state.artifacts.as_ref().ok_or_else(|| {
                tracing::error!(
                    key,
                    "an artifact is in object storage, but none is configured"
                );
                ApiError::unavailable(
                    "this artifact is in object storage, which this gateway is not configured with",
                )
            })?;
            let stream = store
                .read(&key)
                .await
                .map_err(|err| object_read_error(&state.metrics, err))?;
            if scrub {
                Response::new(storage::body_stream(scrubbed_lines(stream)))
            } else {
                let mut response = Response::new(storage::body_stream(stream));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(row.size));
                response
            }
        }
        (None, None) => unreachable!("the artifacts table's CHECK keeps one of content and key"),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&row.media_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if !scrub && let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", row.sha256)) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

/// Past this many bytes without a newline, a streamed artifact is scrubbed in pieces.
const LONGEST_SCRUBBED_LINE: usize = 1 << 20;

/// `stream` scrubbed a line at a time (emails and secrets never span lines).
fn scrubbed_lines(
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
) -> BoxStream<'static, Result<Bytes, object_store::Error>> {
    let state = (stream, Vec::<u8>::new(), false);
    futures::stream::unfold(state, |(mut stream, mut pending, mut ended)| async move {
        loop {
            if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                return Some((Ok(scrub_line(&line)), (stream, pending, ended)));
            }
            // A very long line goes out in pieces rather than held whole.
            if ended || pending.len() >= LONGEST_SCRUBBED_LINE {
                if pending.is_empty() {
                    return None;
                }
                let line = std::mem::take(&mut pending);
                return Some((Ok(scrub_line(&line)), (stream, pending, ended)));
            }
            match stream.next().await {
                Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                Some(Err(err)) => return Some((Err(err), (stream, pending, true))),
                None => ended = true,
            }
        }
    })
    .boxed()
}

fn scrub_line(line: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(line);
    Bytes::from(scrub::scrub_text(&text).0.into_owned())
}

/// The account's scrub policy if it has the analysis, else 404 (in the tenant transaction).
pub(crate) async fn require_analysis(
    tx: &mut PgConnection,
    account: i64,
    id: &str,
) -> Result<bool, ApiError> {
    let scrub: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {SCRUB_PII} WHERE EXISTS (SELECT FROM analyses WHERE account_id = $1 AND id = $2)"
    )))
    .bind(account)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    scrub.ok_or_else(|| not_found(id))
}

/// `%`, `_` and `\` taken literally by `LIKE … ESCAPE '\'`.
pub(crate) fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[derive(Debug, sqlx::FromRow)]
struct CommitRow {
    id: String,
    committed_at: Option<String>,
    record: Value,
    enrichment: Value,
    lines_added: i64,
    lines_deleted: i64,
}

async fn commits(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
    ApiQuery(query): ApiQuery<CommitsQuery>,
) -> Result<axum::Json<CommitPage>, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let window = window(query.since.as_deref(), query.until.as_deref())?;
    let cursor = Cursor::decode(List::Commits, query.cursor.as_deref())?;
    let author = match query.author.as_deref().map(str::trim) {
        Some("") => return Err(ApiError::bad_request("author must not be empty")),
        author => author.map(str::to_owned),
    };
    // A file, or everything under a directory.
    let path = match query.path.as_deref().map(|p| p.trim_matches('/')) {
        Some("") => {
            return Err(ApiError::bad_request(
                "path must name a file or directory, relative to the repository root",
            ));
        }
        path => path.map(str::to_owned),
    };
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let scrub = require_analysis(&mut tx, reader.account, &id).await?;
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
        "SELECT c.id, ",
        rfc3339!("c.committed_at"),
        " AS committed_at, c.record, c.enrichment, c.lines_added, c.lines_deleted
         FROM commits c WHERE c.account_id = "
    ));
    sql.push_bind(reader.account)
        .push(" AND c.analysis_id = ")
        .push_bind(id.clone());
    if let Some(author) = author
        .as_deref()
        .filter(|author| scrub && author.contains('@'))
    {
        // Scrubbed, the reader sees hashed emails and filters by them (or by a raw email, which
        // hashes alike): rows stored scrubbed hold the hash, rows stored raw are hashed here.
        let hashed = scrub::hash_email(author).to_lowercase();
        sql.push(" AND (lower(c.author_email) = ")
            .push_bind(hashed.clone())
            .push(format_args!(
                " OR {} = ",
                hashed_email_sql("c.author_email")
            ))
            .push_bind(hashed)
            .push(")");
    } else if let Some(author) = author {
        sql.push(" AND (c.author_name = ")
            .push_bind(author.clone())
            .push(" OR lower(c.author_email) = lower(")
            .push_bind(author)
            .push("))");
    }
    if let Some(path) = path {
        sql.push(
            " AND EXISTS (SELECT FROM commit_files f WHERE f.account_id = c.account_id
               AND f.repository_id = c.repository_id AND f.commit_id = c.id AND (f.path = ",
        )
        .push_bind(path.clone())
        .push(" OR f.path LIKE ")
        .push_bind(format!("{}/%", like_literal(&path)))
        .push(" ESCAPE '\\'))");
    }
    window.push(&mut sql, "c.committed_at");
    match cursor {
        Some(Cursor {
            time: Some(time),
            id,
        }) => {
            sql.push(" AND (c.committed_at, c.id) < (")
                .push_bind(time)
                .push("::timestamptz, ")
                .push_bind(id)
                .push(")");
        }
        // Commits without a committer time come first (DESC puts NULLs first): after one of
        // them, the rest of them and then every dated commit.
        Some(Cursor { time: None, id }) => {
            sql.push(" AND (c.committed_at IS NOT NULL OR c.id < ")
                .push_bind(id)
                .push(")");
        }
        None => {}
    }
    sql.push(" ORDER BY c.committed_at DESC, c.id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows: Vec<CommitRow> = sql.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let (rows, next_cursor) = page(rows, limit, List::Commits, |row| Cursor {
        time: row.committed_at.clone(),
        id: row.id.clone(),
    });
    let items = rows
        .into_iter()
        .map(|row| {
            let mut record: CommitRecord = serde_json::from_value(row.record)
                .map_err(|err| internal("a stored commit record does not parse", err))?;
            let mut enrichment = row.enrichment;
            if scrub {
                scrub::scrub_record(&mut record);
                scrub::scrub_json(&mut enrichment);
            }
            Ok(CommitView {
                record,
                enrichment,
                lines_added: unsigned(row.lines_added),
                lines_deleted: unsigned(row.lines_deleted),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(axum::Json(CommitPage { items, next_cursor }))
}

/// A `progress_events` row: id, stage, done, total, elapsed ms, attempt, time.
type ProgressRow = (i64, String, i64, i64, i64, Option<i32>, String);

async fn progress(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
    ApiQuery(query): ApiQuery<ProgressQuery>,
) -> Result<axum::Json<ProgressPage>, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = match Cursor::decode(List::Progress, query.cursor.as_deref())? {
        Some(cursor) => Some(cursor.id.parse::<i64>().map_err(|_| invalid_cursor())?),
        None => None,
    };
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    require_analysis(&mut tx, reader.account, &id).await?;
    let rows: Vec<ProgressRow> = sqlx::query_as(concat!(
        "SELECT e.id, e.stage, e.done, e.total, e.elapsed_ms, e.attempt, ",
        rfc3339!("e.at"),
        " FROM progress_events e WHERE e.account_id = $1 AND e.analysis_id = $2 AND e.id > $3
         ORDER BY e.id LIMIT $4"
    ))
    .bind(reader.account)
    .bind(&id)
    .bind(after.unwrap_or(0))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let (rows, next_cursor) = page(rows, limit, List::Progress, |row| Cursor {
        time: None,
        id: row.0.to_string(),
    });
    Ok(axum::Json(ProgressPage {
        items: rows
            .into_iter()
            .map(
                |(_, stage, done, total, elapsed_ms, attempt, at)| ProgressRecord {
                    event: ProgressEvent {
                        stage,
                        done: unsigned(done),
                        total: unsigned(total),
                        elapsed_ms: unsigned(elapsed_ms),
                    },
                    attempt,
                    at,
                },
            )
            .collect(),
        next_cursor,
    }))
}

mod slice;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_the_path_literally() {
        assert_eq!(like_literal(r"a_b%c\d"), r"a\_b\%c\\d");
    }
}
