//! What the read routes share, below them: the scrub policy in SQL (`SCRUB_PII`) and the
//! scrubbing of text and emails, the analysis rows lists, details and slices select, the
//! 404 for another account's analysis, `LIKE` escaping, and whole-object reads.

use std::borrow::Cow;

use futures::StreamExt as _;

use gitview_core::results::{AnalysisSummary, RepositoryRef, RunStatus};
use gitview_core::scrub::{self, SCRUBBED_DOMAIN};
use sqlx::PgConnection;

use crate::error::ApiError;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_the_path_literally() {
        assert_eq!(like_literal(r"a_b%c\d"), r"a\_b\%c\\d");
    }
}
