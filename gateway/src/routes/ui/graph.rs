//! A repository's report in the web UI with its commit graph in windows: a pod's run stores,
//! beside the self-contained `index.html`, `report.html` (the same page, its graph carrying
//! only its skeleton) and `graph.json` (the whole graph). The repository's page frames
//! `report.html`, which asks the repository's page by message for rows as they come into view;
//! that page fetches them here with the session. A 100,000-commit history's page then opens
//! without its megabytes of rows.
//!
//! * `/ui/analyses/{id}/report`: the analysis' `report.html`, sandboxed like the repository's
//!   report ([`REPORT_POLICY`]).
//! * `/ui/analyses/{id}/graph?from=A&to=B`: rows `A..B` of its graph as JSON
//!   ([`gitview_report::graph::Window`], at most [`WINDOW_ROWS`] rows); `?find=ID`:
//!   `{"row": N}`, the row of a commit id (4 to 40 hex digits), `null` when no one row has it.
//!   The graph is read from the artifact once per gateway ([`crate::kit::graphs`]), scrubbed
//!   for an account that scrubs PII unless stored clean under today's rules.
//!
//! Another account's analysis is a 404, as a missing one.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use gitview_core::scrub;
use gitview_report::graph::{GraphData, WINDOW_ROWS};
use serde::Deserialize;
use serde_json::json;

use super::private;
use super::session::{Session, refused};
use crate::db::{self, SCRUB_PII};
use crate::error::ApiError;
use crate::kit::state::AppState;
use crate::routes::read::artifacts::artifact_response;
use crate::routes::read::shared::{Stored, require_analysis, stored_bytes};

/// The report page a pod's run writes for the web UI: its graph's rows come in windows.
pub(super) const FRAMED_REPORT: &str = "report.html";
/// The whole commit graph the windows are cut from.
pub(super) const GRAPH: &str = "graph.json";

/// What a stored report page may do, framed or on its own: run its own inline scripts in an
/// opaque origin (never as the signed-in person), load nothing, be framed only by the UI.
pub(super) const REPORT_POLICY: &str = "sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// Whether the account's analysis `id` wrote the windowed report page and its graph.
pub(super) async fn has_windows(
    tx: &mut sqlx::PgConnection,
    account: i64,
    id: &str,
) -> Result<bool, ApiError> {
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name IN ($3, $4)",
    )
    .bind(account)
    .bind(id)
    .bind(FRAMED_REPORT)
    .bind(GRAPH)
    .fetch_one(tx)
    .await?;
    Ok(found == 2)
}

/// `GET /ui/analyses/{id}/report`: the analysis' `report.html`, sandboxed.
pub(super) async fn report(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut response = match artifact_response(&state, account, &id, FRAMED_REPORT).await {
        Ok(response) => response,
        Err(err) => return refused(&name, err),
    };
    report_headers(&mut response);
    Ok(response)
}

/// The headers of a stored report page served to be seen.
pub(super) fn report_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPORT_POLICY),
    );
    private(headers);
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphQuery {
    from: Option<usize>,
    to: Option<usize>,
    find: Option<String>,
}

/// `GET /ui/analyses/{id}/graph`: a window of the graph's rows, or the row of a commit.
pub(super) async fn graph(
    Session { account, .. }: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<GraphQuery>,
) -> Result<Response, ApiError> {
    enum Asked {
        Rows(usize, usize),
        Find(String),
    }
    let asked = match (query.from, query.to, query.find) {
        (None, None, Some(find)) => Asked::Find(find),
        (Some(from), Some(to), None) if to > from && to - from <= WINDOW_ROWS => {
            Asked::Rows(from, to)
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "ask for rows with from and to (at most {WINDOW_ROWS} rows, to above from), or for a commit's row with find"
            )));
        }
    };
    let graph = state
        .graphs
        .get(account, &id, || load(&state, account, &id))
        .await?;
    let Some(graph) = graph else {
        return Err(ApiError::not_found(format!(
            "analysis {id} has no commit graph"
        )));
    };
    let mut response = match asked {
        Asked::Rows(from, to) => Json(graph.window(from, to)).into_response(),
        Asked::Find(commit) => Json(json!({ "row": graph.find(&commit) })).into_response(),
    };
    private(response.headers_mut());
    Ok(response)
}

/// The account's analysis' graph, parsed, with its artifact's size; `None` when it has none.
async fn load(
    state: &AppState,
    account: i64,
    id: &str,
) -> Result<Option<(GraphData, usize)>, ApiError> {
    let mut tx = db::tenant(&state.pool, account).await?;
    let row: Option<(Option<Vec<u8>>, Option<String>, bool)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT content, storage_key, {SCRUB_PII} AND coalesce(clean_under <> $3, true)
             FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name = $4"
        )))
        .bind(account)
        .bind(id)
        .bind(scrub::RULES_VERSION)
        .bind(GRAPH)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((content, key, scrub)) = row else {
        require_analysis(&mut tx, account, id).await?;
        return Ok(None);
    };
    // The object is read with the connection given back.
    tx.commit().await?;
    let stored = match (content, key) {
        (Some(content), _) => Stored::Inline(content),
        (None, Some(key)) => Stored::Object(key),
        (None, None) => return Ok(None),
    };
    let bytes = stored_bytes(state, stored).await?;
    let size = bytes.len();
    let parsed = if scrub {
        serde_json::from_str(&scrub::scrub_text(&String::from_utf8_lossy(&bytes)).0)
    } else {
        serde_json::from_slice(&bytes)
    };
    match parsed {
        Ok(graph) => Ok(Some((graph, size))),
        Err(err) => {
            tracing::warn!(analysis = id, error = %err, "graph.json is not a commit graph");
            Err(ApiError::unavailable(
                "this analysis' commit graph does not read; run the analysis again",
            ))
        }
    }
}
