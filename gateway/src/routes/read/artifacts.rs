//! `GET /v1/analyses/{id}/artifacts/{name}`: an artifact's bytes, from its row or streamed
//! from the object store, scrubbed line by line for an account that scrubs PII.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::BytesMut;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gitview_core::scrub;

use super::shared::{SCRUB_PII, object_read_error, require_analysis};
use crate::db;
use crate::error::ApiError;
use crate::kit::extract::ApiPath;
use crate::kit::guard::Reader;
use crate::kit::state::AppState;
use crate::storage;

#[derive(Debug, sqlx::FromRow)]
struct ArtifactContentRow {
    media_type: String,
    size: i64,
    sha256: String,
    content: Option<Vec<u8>>,
    storage_key: Option<String>,
    scrub_pii: bool,
    /// Stored clean under today's scrub rules (migration `0015`): read back as stored.
    clean: bool,
}

/// Whether scrubbing applies to a media type: text and JSON (a scrubbed email or secret keeps
/// JSON valid: the replacements hold no quotes or backslashes).
pub(crate) fn is_textual(media_type: &str) -> bool {
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
pub(crate) async fn artifact(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    reader: Reader,
) -> Result<Response, ApiError> {
    artifact_response(&state, reader.account, &id, &name).await
}

/// The artifact `name` of the account's analysis `id` as a response (the API's route's, and
/// the web UI's, which adds its own headers): 404 for another account's analysis or a missing
/// artifact.
pub(crate) async fn artifact_response(
    state: &AppState,
    account: i64,
    id: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let mut tx = db::tenant(&state.pool, account).await?;
    let row: Option<ArtifactContentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT media_type, size, sha256, content, storage_key, {SCRUB_PII} AS scrub_pii,
           coalesce(clean_under = $4, false) AS clean
         FROM artifacts WHERE account_id = $1 AND analysis_id = $2 AND name = $3"
    )))
    .bind(account)
    .bind(id)
    .bind(name)
    .bind(scrub::RULES_VERSION)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        require_analysis(&mut tx, account, id).await?;
        return Err(ApiError::not_found(format!(
            "analysis {id} has no artifact {name:?}"
        )));
    };
    tx.commit().await?;
    let scrub = row.scrub_pii && is_textual(&row.media_type) && !row.clean;
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
    // `BytesMut`: a line is split off the front without moving what follows it (draining a
    // `Vec` moved the rest of the buffer for every line: quadratic in the lines a chunk holds).
    // `scanned`: the bytes at the front of `pending` known to hold no newline.
    let state = (stream, BytesMut::new(), 0usize, false);
    futures::stream::unfold(
        state,
        |(mut stream, mut pending, mut scanned, mut ended)| async move {
            loop {
                if let Some(at) = pending[scanned..].iter().position(|&b| b == b'\n') {
                    let line = pending.split_to(scanned + at + 1);
                    return Some((Ok(scrub_line(&line)), (stream, pending, 0, ended)));
                }
                scanned = pending.len();
                // A very long line goes out in pieces rather than held whole.
                if ended || pending.len() >= LONGEST_SCRUBBED_LINE {
                    if pending.is_empty() {
                        return None;
                    }
                    let line = pending.split();
                    return Some((Ok(scrub_line(&line)), (stream, pending, 0, ended)));
                }
                match stream.next().await {
                    Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                    Some(Err(err)) => return Some((Err(err), (stream, pending, scanned, true))),
                    None => ended = true,
                }
            }
        },
    )
    .boxed()
}

fn scrub_line(line: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(line);
    Bytes::from(scrub::scrub_text(&text).0.into_owned())
}
