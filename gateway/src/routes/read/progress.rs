//! `GET /v1/analyses/{id}/progress`: the progress events of every attempt, oldest first.

use axum::extract::State;
use gitview_core::results::{ProgressEvent, ProgressPage, ProgressRecord};
use serde::Deserialize;

use super::shared::{require_analysis, unsigned};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::{Cursor, List, invalid_cursor, limit, page};
use crate::kit::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgressQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// A `progress_events` row: id, stage, done, total, elapsed ms, attempt, time.
type ProgressRow = (i64, String, i64, i64, i64, Option<i32>, String);

pub(crate) async fn progress(
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
