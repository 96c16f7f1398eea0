//! The web UI's pages of the account's analyses, rendered by
//! [`gitview_report::ui::analyses`]:
//!
//! * `/ui/analyses`: newest first, a page at a time, each with its status, repository and
//!   latest progress (the API's list, [`list_page`]).
//! * `/ui/analyses/{id}`: its status, attempt, latest progress, artifacts and run log. A small
//!   script on the page polls `/ui/analyses/{id}/progress` while the run is running; without
//!   it the page shows the progress as it was when loaded.
//! * `/ui/analyses/{id}/progress`: the latest progress as JSON ([`UiProgress`]), for that
//!   script: the session's, not an API key's (the cookie is only sent under `/ui`).
//! * `/ui/analyses/{id}/artifacts/{name}`: an artifact's bytes as the API serves them
//!   ([`artifact_response`]), under a policy that sandboxes them: a stored HTML page is
//!   shown inert, in an opaque origin, never as the signed-in person.
//!
//! Another account's analysis is the 404 page (or a 404 body for the JSON) of one that does
//! not exist; an account whose policy scrubs PII sees messages and log lines scrubbed.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use gitview_core::results::{ArtifactInfo, ProgressRecord};
use gitview_core::scrub;
use gitview_report::ui::{self, analyses as pages};
use serde::{Deserialize, Serialize};

use super::session::{Session, refused};
use super::{Peer, page, private, signed_in};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::paging::{Cursor, List, Window, limit};
use crate::kit::state::AppState;
use crate::routes::logs::{AnalysisOf, LinesFilter, LogCursor, levels, lines};
use crate::routes::read::analyses::{ListFilter, list_page};
use crate::routes::read::artifacts::artifact_response;
use crate::routes::read::shared::{ListRow, SCRUB_PII, analysis_columns, scrub_text, unsigned};
use crate::store;

/// The log lines an analysis' page shows at a time.
const LOG_LINES: i64 = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ListQuery {
    cursor: Option<String>,
}

/// `GET /ui/analyses`: the account's analyses, newest first.
pub(super) async fn analyses(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Cursor::decode(List::Analyses, query.cursor.as_deref())
        .and_then(|cursor| Ok((cursor, limit(None)?)));
    let (cursor, limit) = match paging {
        Ok(paging) => paging,
        Err(err) => return refused(&name, err),
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let listed = list_page(
        &mut tx,
        account,
        ListFilter {
            repositories: None,
            status: None,
            window: &Window::default(),
        },
        cursor,
        limit,
    )
    .await?;
    let ids: Vec<String> = listed.items.iter().map(|a| a.id.clone()).collect();
    let mut progress: HashMap<String, ProgressRecord> =
        store::progress::latest(&mut tx, account, &ids, None)
            .await?
            .into_iter()
            .collect();
    tx.commit().await?;
    let rows: Vec<pages::AnalysisRow> = listed
        .items
        .into_iter()
        .map(|summary| pages::AnalysisRow {
            progress: progress.remove(&summary.id),
            summary,
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        pages::analyses(&name, &rows, listed.next_cursor.as_deref()),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct DetailQuery {
    /// Where the shown run log starts (a log cursor), after its first page.
    log: Option<String>,
}

/// The account's analysis `id` with the account's scrub policy, if it has it.
async fn analysis_row(
    tx: &mut sqlx::PgConnection,
    account: i64,
    id: &str,
) -> Result<Option<ListRow>, ApiError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {}, {SCRUB_PII} AS scrub_pii
         FROM analyses a JOIN repositories r ON r.id = a.repository_id
         WHERE a.account_id = $1 AND a.id = $2",
        analysis_columns!()
    )))
    .bind(account)
    .bind(id)
    .fetch_optional(tx)
    .await?)
}

/// `GET /ui/analyses/{id}`: one analysis: status, attempt, progress, artifacts and log.
pub(super) async fn analysis(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, ApiError> {
    let after = match LogCursor::decode(query.log.as_deref()) {
        Ok(after) => after,
        Err(err) => return refused(&name, err),
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let Some(row) = analysis_row(&mut tx, account, &id).await? else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            ui::not_found(&name, "There is no such analysis in this account."),
        ));
    };
    let progress = store::progress::latest(&mut tx, account, std::slice::from_ref(&id), None)
        .await?
        .into_iter()
        .next()
        .map(|(_, record)| record);
    let artifacts: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT name, media_type, size, sha256 FROM artifacts
         WHERE account_id = $1 AND analysis_id = $2 ORDER BY name",
    )
    .bind(account)
    .bind(&id)
    .fetch_all(&mut *tx)
    .await?;
    let levels = levels(None)?;
    let mut log = lines(
        &mut tx,
        AnalysisOf {
            account,
            analysis: &id,
        },
        LinesFilter {
            attempt: None,
            levels: &levels,
        },
        after,
        LOG_LINES,
    )
    .await?;
    tx.commit().await?;
    let scrub = row.scrub_pii;
    if scrub {
        for record in &mut log.items {
            scrub_text(&mut record.line.message);
            scrub::scrub_json(&mut record.line.fields);
        }
    }
    let view = pages::AnalysisView {
        summary: row.summary.summary_scrubbed(scrub)?,
        progress,
        artifacts: artifacts
            .into_iter()
            .map(|(name, media_type, size, sha256)| ArtifactInfo {
                name,
                media_type,
                size: unsigned(size),
                sha256,
            })
            .collect(),
        log: log.items,
        log_next: log.next_cursor,
    };
    Ok(page(StatusCode::OK, pages::analysis(&name, &view)))
}

/// `GET /ui/analyses/{id}/progress`: the analysis' status and newest progress event (of its
/// current attempt), for the page's script.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UiProgress {
    status: String,
    latest: Option<ProgressRecord>,
}

pub(super) async fn progress(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse as _;
    let Some((account, _)) = signed_in(&state, &headers, &peer).await? else {
        return Err(ApiError::unauthorized("sign in at /ui/sign-in"));
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM analyses WHERE account_id = $1 AND id = $2")
            .bind(account)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(status) = status else {
        return Err(ApiError::not_found(format!("no analysis {id:?}")));
    };
    let latest = store::progress::latest(&mut tx, account, std::slice::from_ref(&id), None)
        .await?
        .into_iter()
        .next()
        .map(|(_, record)| record);
    tx.commit().await?;
    let mut response = axum::Json(UiProgress { status, latest }).into_response();
    private(response.headers_mut());
    Ok(response)
}

/// What an artifact served to a signed-in person may do: nothing. `sandbox` (without
/// `allow-scripts` or `allow-same-origin`) puts a stored HTML page in an opaque origin with no
/// script; it loads nothing but its own inline styles and data images.
const ARTIFACT_POLICY: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// `GET /ui/analyses/{id}/artifacts/{name}`: an artifact, as the API serves it, sandboxed.
pub(super) async fn artifact(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path((id, artifact)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut response = match artifact_response(&state, account, &id, &artifact).await {
        Ok(response) => response,
        Err(err) => return refused(&name, err),
    };
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ARTIFACT_POLICY),
    );
    private(headers);
    Ok(response)
}
