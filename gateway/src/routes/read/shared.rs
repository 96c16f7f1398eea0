//! What the read routes share, below them: the scrub policy in SQL (`SCRUB_PII`) and the
//! scrubbing of text and emails, the analysis rows lists, details and slices select, the
//! 404 for another account's analysis or repository, the `path` filter and `LIKE` escaping,
//! whole-object reads, and a repository's current story (its story and its files' histories
//! both start from it).

use std::borrow::Cow;

use futures::StreamExt as _;

use gitview_core::results::{AnalysisSummary, RepositoryRef, RunStatus};
use gitview_core::scrub::{self, SCRUBBED_DOMAIN};
use gitview_core::story::StoryDocument;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::db::rfc3339;
use crate::error::ApiError;
use crate::kit::state::AppState;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;

/// A server-side failure: logged with `what` and its detail, answered without.
pub(crate) fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "{what}");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

/// 404 for an analysis the account does not have (or that does not exist: alike).
pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no analysis {id:?}"))
}

/// A count as stored (`bigint`, never negative) as the bodies carry it.
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

pub(crate) use crate::db::SCRUB_PII;

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
pub(crate) use analysis_columns;

/// An analysis with its repository, as [`analysis_columns!`] selects it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AnalysisRow {
    pub(crate) id: String,
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
    pub(crate) created_at: String,
    started_at: String,
    finished_at: Option<String>,
}

impl AnalysisRow {
    /// The summary, its free text (the message) scrubbed if `scrub`.
    pub(crate) fn summary_scrubbed(mut self, scrub: bool) -> Result<AnalysisSummary, ApiError> {
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

/// An [`AnalysisRow`] with the account's scrub policy (lists and slices).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ListRow {
    #[sqlx(flatten)]
    pub(crate) summary: AnalysisRow,
    pub(crate) scrub_pii: bool,
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

/// A `path` as the read routes take it (the commits list's and slice's filter, a file's
/// history): a file or a directory, relative to the repository's root, slashes at either end
/// ignored; empty is refused.
pub(crate) fn path_filter(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(|p| p.trim_matches('/')) {
        Some("") => Err(ApiError::bad_request(
            "path must name a file or directory, relative to the repository root",
        )),
        path => Ok(path.map(str::to_owned)),
    }
}

/// The condition that the `commit_files` row `{files}` is the file `path` or under the
/// directory `path`, as `(… OR …)`: one index scan each on `commit_files_by_path`.
pub(crate) fn push_path_match(sql: &mut QueryBuilder<Postgres>, files: &str, path: &str) {
    sql.push(format_args!("({files}.path = "))
        .push_bind(path.to_owned())
        .push(format_args!(" OR {files}.path LIKE "))
        .push_bind(format!("{}/%", like_literal(path)))
        .push(" ESCAPE '\\')");
}

/// The condition that the commit `{commits}` touched `path` (a file, or anything under a
/// directory), as ` AND EXISTS (…)`.
pub(crate) fn push_touches_path(sql: &mut QueryBuilder<Postgres>, commits: &str, path: &str) {
    push_touches(sql, commits, |sql| push_path_match(sql, "f", path));
}

/// The condition that the commit `{commits}` touched a path that starts with `prefix` (taken
/// literally: a directory, a file, or part of a name), as ` AND EXISTS (…)`: one index scan
/// on `commit_files_by_path`.
pub(crate) fn push_touches_prefix(sql: &mut QueryBuilder<Postgres>, commits: &str, prefix: &str) {
    push_touches(sql, commits, |sql| {
        sql.push("f.path LIKE ")
            .push_bind(format!("{}%", like_literal(prefix)))
            .push(" ESCAPE '\\'");
    });
}

/// ` AND EXISTS (…)` a `commit_files` row `f` of the commit `{commits}` for which `condition`
/// (on `f`) holds.
fn push_touches(
    sql: &mut QueryBuilder<Postgres>,
    commits: &str,
    condition: impl FnOnce(&mut QueryBuilder<Postgres>),
) {
    sql.push(format_args!(
        " AND EXISTS (SELECT FROM commit_files f WHERE f.account_id = {commits}.account_id
           AND f.repository_id = {commits}.repository_id AND f.commit_id = {commits}.id AND "
    ));
    condition(sql);
    sql.push(")");
}

/// The condition that the commit `{commits}`' author has the email `email` as a reader sees
/// it under a scrubbing policy, as ` AND (…)`: the hashed email (or a raw one, which hashes
/// alike) matches rows stored scrubbed, which hold the hash, and rows stored raw, hashed here.
pub(crate) fn push_hashed_author(sql: &mut QueryBuilder<Postgres>, commits: &str, email: &str) {
    let hashed = scrub::hash_email(email).to_lowercase();
    sql.push(format_args!(" AND (lower({commits}.author_email) = "))
        .push_bind(hashed.clone())
        .push(format_args!(
            " OR {} = ",
            hashed_email_sql(&format!("{commits}.author_email"))
        ))
        .push_bind(hashed)
        .push(")");
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

/// An object's whole content (the detail's story and timeline, bounded by
/// [`DETAIL_OBJECT_LIMIT`]).
pub(crate) async fn read_object(
    store: &ArtifactStore,
    metrics: &Metrics,
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

/// The object store failed on a read: counted and logged, answered 503 without detail.
pub(crate) fn object_read_error(metrics: &Metrics, err: object_store::Error) -> ApiError {
    metrics.object_store_failed("read");
    tracing::warn!(error = %err, "reading an artifact object failed");
    ApiError::unavailable("the artifact store failed; retry")
}

/// 400 unless `fingerprint` is one (64 lower-case hex digits, as every analysis shows it).
fn check_fingerprint(fingerprint: &str) -> Result<(), ApiError> {
    let hex = fingerprint.len() == 64
        && fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "fingerprint must be a repository's fingerprint: 64 lower-case hex digits",
        ))
    }
}

/// A repository of the account, by fingerprint: its id, as bodies show it, and the account's
/// scrub policy; 404 for one the account does not have (or that does not exist: alike).
pub(crate) async fn require_repository(
    tx: &mut PgConnection,
    account: i64,
    fingerprint: &str,
) -> Result<(i64, RepositoryRef, bool), ApiError> {
    check_fingerprint(fingerprint)?;
    type Row = (i64, String, String, String, Option<String>, bool);
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, fingerprint, url, branch, last_analyzed_commit, {SCRUB_PII}
         FROM repositories WHERE account_id = $1 AND fingerprint = $2"
    )))
    .bind(account)
    .bind(fingerprint)
    .fetch_optional(tx)
    .await?;
    let (id, fingerprint, url, branch, last_analyzed_commit, scrub) =
        row.ok_or_else(|| ApiError::not_found(format!("no repository {fingerprint:?}")))?;
    let repository = RepositoryRef {
        fingerprint,
        url,
        branch,
        last_analyzed_commit,
    };
    Ok((id, repository, scrub))
}

/// The artifact holding a story as data.
pub(crate) const STORY_JSON: &str = "story.json";
/// The artifact holding a story as Markdown.
pub(crate) const STORY_MD: &str = "story.md";
/// The largest story read whole (`story.json` lists every storyline's commits: a
/// 100,000-commit history's is a few MiB).
const STORY_LIMIT: i64 = 64 << 20;

/// A repository's current story: the newest succeeded analysis' `story.json` that tells the
/// whole history.
#[derive(Debug)]
pub(crate) struct CurrentStory {
    pub(crate) analysis_id: String,
    pub(crate) finished_at: String,
    /// Scrubbed (every string) when the account's policy scrubs PII.
    pub(crate) document: StoryDocument,
}

/// Where an artifact's bytes are: in its row, or in the object store under a key.
#[derive(Debug)]
pub(crate) enum Stored {
    Inline(Vec<u8>),
    Object(String),
}

/// An artifact's bytes, from its row or the object store; `None` when the analysis has no
/// such artifact, or one larger than [`STORY_LIMIT`] (logged).
pub(crate) async fn artifact_bytes(
    tx: &mut PgConnection,
    state: &AppState,
    account: i64,
    analysis: &str,
    name: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    match artifact_stored(tx, account, analysis, name).await? {
        None => Ok(None),
        Some(stored) => stored_bytes(state, stored).await.map(Some),
    }
}

/// Where an artifact is, read in the caller's transaction; `None` as [`artifact_bytes`]. A
/// caller that can commit first reads an object with [`stored_bytes`] after, so a slow or
/// large read from the object store holds no database connection (fifty readers of a long
/// history's report page emptied the pool when it did).
pub(crate) async fn artifact_stored(
    tx: &mut PgConnection,
    account: i64,
    analysis: &str,
    name: &str,
) -> Result<Option<Stored>, ApiError> {
    let row: Option<(i64, Option<Vec<u8>>, Option<String>)> = sqlx::query_as(
        "SELECT size, content, storage_key FROM artifacts
         WHERE account_id = $1 AND analysis_id = $2 AND name = $3",
    )
    .bind(account)
    .bind(analysis)
    .bind(name)
    .fetch_optional(tx)
    .await?;
    Ok(match row {
        None => None,
        Some((size, _, _)) if size > STORY_LIMIT => {
            tracing::warn!(
                analysis,
                name,
                size,
                "a story artifact is too large to read whole"
            );
            None
        }
        Some((_, Some(content), _)) => Some(Stored::Inline(content)),
        Some((_, None, Some(key))) => Some(Stored::Object(key)),
        Some((_, None, None)) => None,
    })
}

/// The bytes of an artifact [`artifact_stored`] found.
pub(crate) async fn stored_bytes(state: &AppState, stored: Stored) -> Result<Vec<u8>, ApiError> {
    match stored {
        Stored::Inline(content) => Ok(content),
        Stored::Object(key) => {
            let store = state.artifacts.as_ref().ok_or_else(|| {
                tracing::error!(
                    key,
                    "an artifact is in object storage, but none is configured"
                );
                ApiError::unavailable(
                    "this story is in object storage, which this gateway is not configured with",
                )
            })?;
            read_object(store, &state.metrics, &key).await
        }
    }
}

/// The repository's current story: of its succeeded analyses, newest finished first, the
/// first whose `story.json` parses and covers the whole history (`coverage.wholeHistory`); a
/// story of a range, or one written before stories said what they cover, is passed over.
/// Scrubbed when `scrub`. `None` when no analysis wrote one.
pub(crate) async fn current_story(
    tx: &mut PgConnection,
    state: &AppState,
    account: i64,
    repository: i64,
    scrub: bool,
) -> Result<Option<CurrentStory>, ApiError> {
    // One candidate at a time, keyset on (finished_at, id): the newest one almost always
    // tells the whole history, and the next is read only when it does not.
    let mut after: Option<(String, String)> = None;
    loop {
        let candidate = next_candidate(tx, account, repository, after.take()).await?;
        let Some((analysis_id, finished_at)) = candidate else {
            return Ok(None);
        };
        if let Some(bytes) = artifact_bytes(tx, state, account, &analysis_id, STORY_JSON).await?
            && let Some(document) = whole_history(&analysis_id, &bytes, scrub)
        {
            return Ok(Some(CurrentStory {
                analysis_id,
                finished_at,
                document,
            }));
        }
        after = Some((finished_at, analysis_id));
    }
}

/// The repository's newest succeeded analysis with a `story.json` finished before `after`
/// (`(finished_at, id)`, keyset), or the newest of all: its id and end.
async fn next_candidate(
    tx: &mut PgConnection,
    account: i64,
    repository: i64,
    after: Option<(String, String)>,
) -> Result<Option<(String, String)>, ApiError> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
        "SELECT a.id, ",
        rfc3339!("a.finished_at"),
        " FROM analyses a WHERE a.account_id = "
    ));
    sql.push_bind(account)
        .push(" AND a.repository_id = ")
        .push_bind(repository)
        .push(
            " AND a.status = 'succeeded' AND a.finished_at IS NOT NULL
              AND EXISTS (SELECT FROM artifacts s WHERE s.account_id = a.account_id
                AND s.analysis_id = a.id AND s.name = ",
        )
        .push_bind(STORY_JSON)
        .push(")");
    if let Some((finished_at, id)) = after {
        sql.push(" AND (a.finished_at, a.id) < (")
            .push_bind(finished_at)
            .push("::timestamptz, ")
            .push_bind(id)
            .push(")");
    }
    sql.push(" ORDER BY a.finished_at DESC, a.id DESC LIMIT 1");
    let candidate: Option<(String, String)> = sql.build_query_as().fetch_optional(&mut *tx).await?;
    Ok(candidate)
}

/// The analysis behind the repository's current story, as [`current_story`] finds it, without
/// reading the story each time: whether an analysis' story tells the whole history is read once
/// per gateway and remembered (a stored story never changes). The web UI's repository page needs
/// no more (reading and scrubbing a 100,000-commit history's story on every view made its p99
/// 430 ms under fifty readers).
pub(crate) async fn current_story_analysis(
    tx: &mut PgConnection,
    state: &AppState,
    account: i64,
    repository: i64,
) -> Result<Option<String>, ApiError> {
    let mut after: Option<(String, String)> = None;
    loop {
        let Some((analysis_id, finished_at)) =
            next_candidate(tx, account, repository, after.take()).await?
        else {
            return Ok(None);
        };
        let whole = match state.whole_histories.get(account, &analysis_id) {
            Some(whole) => whole,
            None => {
                let whole = artifact_bytes(tx, state, account, &analysis_id, STORY_JSON)
                    .await?
                    .is_some_and(|bytes| whole_history(&analysis_id, &bytes, false).is_some());
                state.whole_histories.set(account, &analysis_id, whole);
                whole
            }
        };
        if whole {
            return Ok(Some(analysis_id));
        }
        after = Some((finished_at, analysis_id));
    }
}

/// `story.json` as a story of the whole history (scrubbed when `scrub`), or `None` for a story
/// of a range, one without coverage, or one that does not parse (logged).
fn whole_history(analysis: &str, bytes: &[u8], scrub: bool) -> Option<StoryDocument> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| tracing::warn!(analysis, error = %err, "story.json is not JSON"))
        .ok()?;
    if value.pointer("/coverage/wholeHistory") != Some(&serde_json::Value::Bool(true)) {
        return None;
    }
    if scrub {
        scrub::scrub_json(&mut value);
    }
    serde_json::from_value(value)
        .map_err(|err| tracing::warn!(analysis, error = %err, "story.json is not a story"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_the_path_literally() {
        assert_eq!(like_literal(r"a_b%c\d"), r"a\_b\%c\\d");
    }
}
