//! `GET /v1/runs/{analysis}/history`: the commits the run's repository already has in the
//! gateway (stored by any run of it in the account), oldest committer time first, so an
//! incremental run can tell the whole history's story without re-reading git.
//!
//! Each commit comes back as it was uploaded (the record exactly as extracted, and its
//! enrichment), scrubbed again when the account's policy scrubs PII and the row was not stored
//! clean under today's scrub rules (migration `0014`): rows stored before the policy was
//! turned on hold raw text, and a run must not carry it into a story.
//!
//! Pages are keyset-paginated on (committer time, id) and read through
//! `commits_by_repository_time` (migration `0011`), so the 200th page of a 100,000-commit
//! history costs what the first does. Commits without a committer time come last.

use axum::extract::State;
use gitview_core::records::CommitRecord;
use gitview_core::results::{CommitUpload, StoredHistoryPage};
use gitview_core::scrub;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

use crate::db::{self, SCRUB_PII, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Runner;
use crate::kit::paging::{Cursor, List, limit_within, page};
use crate::kit::state::AppState;
use crate::store::attempts::repository_of;

/// Commits in a page when the request names no `limit`.
pub const DEFAULT_HISTORY_LIMIT: i64 = 500;
/// The largest page.
pub const MAX_HISTORY_LIMIT: i64 = 2000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct HistoryRow {
    id: String,
    committed_at: Option<String>,
    record: Value,
    enrichment: Value,
    scrub_pii: bool,
    /// Stored clean under today's scrub rules (migration `0014`): passed through as stored.
    clean: bool,
}

/// The columns of a [`HistoryRow`], and the raw time to order by.
const COLUMNS: &str = concat!(
    "c.id, c.committed_at AS at, ",
    rfc3339!("c.committed_at"),
    " AS committed_at, c.record, c.enrichment, c.clean_under"
);

/// The query of one page after `cursor`, oldest first. Dated commits and undated ones (last)
/// are two index range scans, each ordered by the index, so the cursor's condition is an
/// index bound rather than a filter over every earlier row.
fn page_query(
    account: i64,
    repository: i64,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryBuilder<Postgres> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT p.id, p.committed_at, p.record, p.enrichment, {SCRUB_PII} AS scrub_pii, \
         coalesce(p.clean_under = {}, false) AS clean FROM (",
        scrub::RULES_VERSION
    ));
    // The first branch binds the account, so it is `$1` (the scrub policy's) everywhere.
    let mut first = true;
    let mut base = |sql: &mut QueryBuilder<Postgres>| {
        sql.push(format_args!(
            "SELECT {COLUMNS} FROM commits c WHERE c.account_id = "
        ));
        if std::mem::take(&mut first) {
            sql.push_bind(account);
        } else {
            sql.push("$1");
        }
        sql.push(" AND c.repository_id = ").push_bind(repository);
    };
    let (dated, undated_after) = match cursor {
        None => (Some(None), None),
        Some(Cursor {
            time: Some(time),
            id,
        }) => (Some(Some((time, id))), None),
        Some(Cursor { time: None, id }) => (None, Some(id)),
    };
    if let Some(after) = dated {
        sql.push("(");
        base(&mut sql);
        sql.push(" AND c.committed_at IS NOT NULL");
        if let Some((time, id)) = after {
            sql.push(" AND (c.committed_at, c.id) > (")
                .push_bind(time)
                .push("::timestamptz, ")
                .push_bind(id)
                .push(")");
        }
        sql.push(" ORDER BY c.committed_at, c.id LIMIT ")
            .push_bind(limit + 1)
            .push(") UNION ALL ");
    }
    sql.push("(");
    base(&mut sql);
    sql.push(" AND c.committed_at IS NULL");
    if let Some(id) = undated_after {
        sql.push(" AND c.id > ").push_bind(id);
    }
    sql.push(" ORDER BY c.id LIMIT ")
        .push_bind(limit + 1)
        .push(")) p ORDER BY p.at NULLS LAST, p.id LIMIT ")
        .push_bind(limit + 1);
    sql
}

pub(crate) async fn history(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<StoredHistoryPage>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let limit = limit_within(
        query.limit.as_deref(),
        DEFAULT_HISTORY_LIMIT,
        MAX_HISTORY_LIMIT,
    )?;
    let cursor = Cursor::decode(List::History, query.cursor.as_deref())?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let repository = repository_of(&mut tx, &analysis).await?;
    let rows: Vec<HistoryRow> = page_query(account, repository, cursor, limit)
        .build_query_as()
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let (rows, next_cursor) = page(rows, limit, List::History, |row| Cursor {
        time: row.committed_at.clone(),
        id: row.id.clone(),
    });
    let commits = rows
        .into_iter()
        .map(|row| {
            let mut record: CommitRecord = serde_json::from_value(row.record).map_err(|err| {
                tracing::error!(error = %err, "a stored commit record does not parse");
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            })?;
            let mut enrichment = row.enrichment;
            if row.scrub_pii && !row.clean {
                scrub::scrub_record(&mut record);
                scrub::scrub_json(&mut enrichment);
            }
            Ok(CommitUpload { record, enrichment })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(axum::Json(StoredHistoryPage {
        commits,
        next_cursor,
    }))
}
