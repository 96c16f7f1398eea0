//! The account's summary cache, for runs: `POST /v1/runs/{analysis}/summaries/lookup` finds
//! the summaries the account already has of a run's chunks, and
//! `PUT /v1/runs/{analysis}/summaries/{key}` stores one. A key is the runner's hash of a
//! chunk with its prompt version and model (64 lower-case hex digits), so a summary stored by
//! one run is found by every later run of the same account, and by no other account (the
//! rows are the account's, under row-level security).
//!
//! Any attempt of a started analysis may use the cache: a summary is named by what it
//! summarises, so a superseded attempt's is as good as the current one's. Like progress
//! events and log lines, storing one writes no audit row (a run stores one per chunk). Found
//! summaries are scrubbed again when the account's policy scrubs PII, as every read of stored
//! text is.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt as _;
use gitview_core::results::{MAX_SUMMARY_LOOKUP, SummariesFound, SummaryLookup};
use gitview_core::scrub;
use serde_json::Value;

use crate::db;
use crate::error::ApiError;
use crate::kit::check::contains_nul;
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store;
use crate::store::attempts::repository_of;

/// The largest summary stored, in bytes of its JSON (whatever `--max-body-bytes` says: a
/// summary is bounded on its own).
pub const MAX_SUMMARY_BYTES: usize = 256 << 10;

/// A summary key: 64 lower-case hex digits.
fn is_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A lookup's keys, checked (1 to [`MAX_SUMMARY_LOOKUP`], each a key) and without repeats.
fn lookup_keys(lookup: SummaryLookup) -> Result<Vec<String>, ApiError> {
    let count = lookup.keys.len();
    if !(1..=MAX_SUMMARY_LOOKUP).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "keys must name 1 to {MAX_SUMMARY_LOOKUP} summaries, not {count}"
        )));
    }
    if let Some(index) = lookup.keys.iter().position(|key| !is_key(key)) {
        return Err(ApiError::bad_request(format!(
            "keys[{index}] must be 64 lower-case hex digits"
        )));
    }
    let mut keys = lookup.keys;
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

pub(crate) async fn lookup(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<SummaryLookup>,
) -> Result<axum::Json<SummariesFound>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let keys = lookup_keys(body)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    repository_of(&mut tx, &analysis).await?;
    let found = store::summaries::find(&mut tx, account, &keys).await?;
    tx.commit().await?;
    let summaries = found
        .into_iter()
        .map(|(key, mut document, scrub_pii)| {
            if scrub_pii {
                scrub::scrub_json(&mut document);
            }
            (key, document)
        })
        .collect();
    Ok(axum::Json(SummariesFound { summaries }))
}

/// Whether the request says its body is JSON (`application/json` or `…+json`), as axum's
/// `Json` requires.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("a summary is at most {MAX_SUMMARY_BYTES} bytes of JSON"),
    )
}

/// The body, up to [`MAX_SUMMARY_BYTES`] (413 above: by `Content-Length` first, then by the
/// bytes as they come), as JSON.
async fn summary_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a summary is sent as Content-Type: application/json",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_SUMMARY_BYTES as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::bad_request(format!("reading the summary's body failed: {err}"))
        })?;
        if bytes.len() + chunk.len() > MAX_SUMMARY_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let document: Value = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("the summary is not JSON: {err}")))?;
    // PostgreSQL's jsonb cannot hold NUL: refuse it by name rather than with a database error.
    if contains_nul(&document) {
        return Err(ApiError::bad_request(
            "the summary contains a NUL character, which cannot be stored",
        ));
    }
    Ok(document)
}

pub(crate) async fn put(
    State(state): State<AppState>,
    ApiPath((analysis, key)): ApiPath<(String, String)>,
    runner: Runner,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    if !is_key(&key) {
        return Err(ApiError::bad_request(
            "key must be 64 lower-case hex digits",
        ));
    }
    let document = summary_body(&headers, body).await?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    repository_of(&mut tx, &analysis).await?;
    store::summaries::put(&mut tx, account, &key, &document).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(keys: Vec<String>) -> Result<Vec<String>, ApiError> {
        lookup_keys(SummaryLookup { keys })
    }

    #[test]
    fn keys_are_lower_case_hex_and_a_lookup_names_a_bounded_few() {
        let (a, b) = ("a".repeat(64), "0f".repeat(32));
        assert_eq!(
            lookup(vec![b.clone(), a.clone(), b.clone()]).ok(),
            Some(vec![b, a.clone()])
        );
        let err = lookup(vec![]).expect_err("none");
        assert!(
            err.message.starts_with("keys must name 1 to 1000"),
            "{err:?}"
        );
        let err = lookup(vec![a.clone(); MAX_SUMMARY_LOOKUP + 1]).expect_err("too many");
        assert!(err.message.contains("not 1001"), "{err:?}");
        for bad in [
            "A".repeat(64),
            "a".repeat(63),
            "g".repeat(64),
            String::new(),
        ] {
            let err = lookup(vec![a.clone(), bad.clone()]).expect_err(&bad);
            assert!(err.message.starts_with("keys[1] "), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn json_bodies_are_named_by_their_content_type() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/vnd.gitview+json".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
    }
}
