//! `GET /v1/analyses/{id}/commits`: the commits an analysis stored, newest first by committer
//! time, filtered by author, path and time, each with its file stats and enrichment.

use axum::extract::State;
use gitview_core::records::CommitRecord;
use gitview_core::results::{CommitPage, CommitView};
use gitview_core::scrub;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

use super::shared::{
    internal, path_filter, push_hashed_author, push_touches_path, require_analysis, unsigned,
};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::{Cursor, List, limit, page, window};
use crate::kit::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitsQuery {
    author: Option<String>,
    path: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
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

pub(crate) async fn commits(
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
    let path = path_filter(query.path.as_deref())?;
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
        // Scrubbed, the reader sees hashed emails and filters by them.
        push_hashed_author(&mut sql, "c", author);
    } else if let Some(author) = author {
        sql.push(" AND (c.author_name = ")
            .push_bind(author.clone())
            .push(" OR lower(c.author_email) = lower(")
            .push_bind(author)
            .push("))");
    }
    if let Some(path) = &path {
        push_touches_path(&mut sql, "c", path);
    }
    window.push(&mut sql, "c.committed_at");
    if let Some(cursor) = cursor {
        cursor.push_newest_first(&mut sql, "c.committed_at", "c.id");
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
