//! `PUT /v1/runs/{analysis}/artifacts/{name}`: an artifact, streamed: up to
//! [`INLINE_ARTIFACT_LIMIT`] kept in its row, above in the object store ([`crate::storage`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use gitview_core::{artifact, scrub};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::db::{self, SCRUB_PII};
use crate::error::ApiError;
use crate::kit::audit::audit;
use crate::kit::extract::ApiPath;
use crate::kit::guard::Runner;
use crate::kit::state::{AppState, INLINE_ARTIFACT_LIMIT};
use crate::metrics::Metrics;
use crate::routes::read::artifacts::is_textual;
use crate::storage::{ArtifactStore, Upload};
use crate::store;
use crate::store::artifacts::Artifact;
use crate::store::attempts::current_attempt;

/// An artifact's name follows the one rule ([`artifact::NAME_RULE`]).
fn check_name(name: &str) -> Result<(), ApiError> {
    if !artifact::is_valid_name(name) {
        return Err(ApiError::bad_request(format!(
            "artifact name {name:?}: use {}",
            artifact::NAME_RULE
        )));
    }
    Ok(())
}

/// The largest artifact accepted: `max_artifact_bytes` with an object store, else what fits
/// in a row.
fn largest(object_store: bool, max_artifact_bytes: u64) -> u64 {
    if object_store {
        max_artifact_bytes
    } else {
        INLINE_ARTIFACT_LIMIT as u64
    }
}

/// 413 for an artifact over `max`, saying which limit it is.
fn over_limit(object_store: bool, max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        if object_store {
            format!("artifacts are limited to {max} bytes (--max-artifact-bytes)")
        } else {
            format!(
                "artifacts above {INLINE_ARTIFACT_LIMIT} bytes need object storage (--object-store), which is not configured"
            )
        },
    )
}

/// The longest line [`CleanCheck`] holds to check whole; an artifact with a longer one is not
/// marked clean (reads scrub it).
const LONGEST_CHECKED_LINE: usize = 64 << 20;

/// Whether a text artifact is clean under today's scrub rules, checked as it arrives: each
/// line whole, as a read that streams it scrubs lines (a read also scrubs a line longer than
/// it holds in pieces, which can only find what the whole line holds or a cut token's tail; a
/// clean mark says the whole lines are clean), or the whole text when it is stored inline, as a
/// read scrubs that.
#[derive(Default)]
struct CleanCheck {
    /// The line not ended yet.
    pending: Vec<u8>,
    dirty: bool,
}

impl CleanCheck {
    fn feed(&mut self, chunk: &[u8]) {
        if self.dirty {
            return;
        }
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(at) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + at + 1;
            if !text_clean(&self.pending[start..end]) {
                self.dirty = true;
                self.pending = Vec::new();
                return;
            }
            start = end;
        }
        self.pending.drain(..start);
        if self.pending.len() > LONGEST_CHECKED_LINE {
            self.dirty = true;
            self.pending = Vec::new();
        }
    }

    /// Whether it is clean; `inline`: the whole artifact, when it is stored in its row.
    fn finish(self, inline: Option<&[u8]>) -> bool {
        match inline {
            Some(whole) => text_clean(whole),
            None => !self.dirty && text_clean(&self.pending),
        }
    }
}

/// Whether scrubbing `bytes` as text (as reads do) changes nothing.
fn text_clean(bytes: &[u8]) -> bool {
    scrub::scrub_text(&String::from_utf8_lossy(bytes)).1 == scrub::ScrubStats::default()
}

/// The most of a refused body read and dropped before the 413 is sent.
const DRAIN_BYTES: u64 = 64 << 20;

/// Reads and drops the rest of a refused body (`read` bytes of it read already), up to
/// [`DRAIN_BYTES`] in all, so the client hears the 413: a server that answers before the body
/// is read closes the connection, and a client still sending sees only a broken connection
/// (a runner took that for an unreachable gateway and failed its run over a report page
/// too large for a gateway without object storage). A larger body is cut off as before.
async fn drain(
    mut chunks: impl futures::Stream<Item = Result<bytes::Bytes, axum::Error>> + Unpin,
    mut read: u64,
) {
    while read <= DRAIN_BYTES {
        match futures::StreamExt::next(&mut chunks).await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            Some(Err(_)) | None => return,
        }
    }
}

/// The request's `Content-Length`, if it states one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

/// The request's `Content-Type`, `application/octet-stream` when it states none.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// `PUT /v1/runs/{analysis}/artifacts/{name}`: the body is streamed, hashed and counted. Up
/// to [`INLINE_ARTIFACT_LIMIT`] it is kept in the row; above, it goes to the object store as
/// it arrives (never held whole in memory) and the row keeps its key. The row is written last,
/// so a failed or cut-off upload leaves no row; a replaced artifact's old object is deleted
/// once the new row is committed.
pub(crate) async fn artifact(
    State(state): State<AppState>,
    ApiPath((analysis, name)): ApiPath<(String, String)>,
    runner: Runner,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    check_name(&name)?;
    let stores = state.artifacts.is_some();
    let max = largest(stores, state.max_artifact_bytes);
    let too_large = || over_limit(stores, max);
    if declared_length(&headers).is_some_and(|len| len > max) {
        drain(body.into_data_stream(), 0).await;
        return Err(too_large());
    }
    let media_type = media_type(&headers);
    let account = state.account_id(&claims.account).await?;
    // The analysis must exist, at the token's attempt, before anything is stored for it (the
    // row's transaction checks again: a newer attempt may start during the upload).
    let scrub_pii: bool = {
        let mut tx = db::tenant(&state.pool, account).await?;
        current_attempt(&mut tx, &analysis, claims.attempt).await?;
        let scrub_pii = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {SCRUB_PII}")))
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        scrub_pii
    };
    // For an account that scrubs, a text artifact is checked as it arrives: one found clean is
    // read back as stored (migration `0015`).
    let mut check = (scrub_pii && is_textual(&media_type)).then(CleanCheck::default);

    let mut chunks = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let mut upload: Option<(String, Upload)> = None;
    let outcome: Result<(), ApiError> = async {
        while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
            let chunk = chunk.map_err(|err| {
                ApiError::bad_request(format!("reading the artifact's body failed: {err}"))
            })?;
            size += chunk.len() as u64;
            if size > max {
                drain(&mut chunks, size).await;
                return Err(too_large());
            }
            hasher.update(&chunk);
            if let Some(check) = &mut check {
                check.feed(&chunk);
            }
            if let Some((_, writer)) = &mut upload {
                writer
                    .put(chunk)
                    .await
                    .map_err(|err| storage_error(&state.metrics, err))?;
                continue;
            }
            head.extend_from_slice(&chunk);
            if head.len() > INLINE_ARTIFACT_LIMIT {
                let store = state.artifacts.as_ref().ok_or_else(too_large)?;
                let key = ArtifactStore::new_key(account, &analysis, &name);
                let mut writer = store
                    .upload(&key)
                    .await
                    .map_err(|err| storage_error(&state.metrics, err))?;
                let first = bytes::Bytes::from(std::mem::take(&mut head));
                let put = writer.put(first).await;
                upload = Some((key, writer));
                put.map_err(|err| storage_error(&state.metrics, err))?;
            }
        }
        Ok(())
    }
    .await;
    let key = match (outcome, upload) {
        (Err(err), Some((_, writer))) => {
            writer.abort().await;
            return Err(err);
        }
        (Err(err), None) => return Err(err),
        (Ok(()), Some((key, writer))) => {
            writer
                .finish()
                .await
                .map_err(|err| storage_error(&state.metrics, err))?;
            Some(key)
        }
        (Ok(()), None) => None,
    };
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = store_artifact_row(
        &state,
        account,
        &runner,
        Artifact {
            analysis: &analysis,
            name: &name,
            media_type: &media_type,
            size,
            sha256: &digest,
            key: key.as_deref(),
            clean_under: check
                .is_some_and(|check| check.finish(key.is_none().then_some(head.as_slice())))
                .then_some(scrub::RULES_VERSION),
            inline: head,
        },
    )
    .await;
    if stored.is_ok() {
        let kind = if key.is_some() { "object" } else { "inline" };
        state.metrics.artifact_stored(kind, size);
    }
    let store = state.artifacts.as_ref();
    match (stored, store) {
        (Ok(Some(old)), Some(store)) => {
            if let Err(err) = store.delete(&old).await {
                // An orphan now: the retention janitor deletes it.
                tracing::warn!(key = %old, error = %err, "cannot delete a replaced artifact object");
            }
            Ok(StatusCode::NO_CONTENT)
        }
        (Ok(_), _) => Ok(StatusCode::NO_CONTENT),
        (Err(err), store) => {
            if let (Some(key), Some(store)) = (&key, store)
                && let Err(delete) = store.delete(key).await
            {
                tracing::warn!(key = %key, error = %delete, "cannot delete an unrecorded artifact object");
            }
            Err(err)
        }
    }
}

/// The object store failed: logged with its detail, answered without (it can name buckets
/// and hosts); 503, since a retry may well succeed.
fn storage_error(metrics: &Metrics, err: object_store::Error) -> ApiError {
    metrics.object_store_failed("write");
    tracing::warn!(error = %err, "object storage failed");
    ApiError::unavailable("the artifact store failed; retry")
}

/// Writes an artifact's row (content inline, or the object's key) and its audit row, at the
/// runner's attempt; returns the key of the object it replaced, if any.
async fn store_artifact_row(
    state: &AppState,
    account: i64,
    runner: &Runner,
    artifact: Artifact<'_>,
) -> Result<Option<String>, ApiError> {
    let mut tx = db::tenant(&state.pool, account).await?;
    current_attempt(&mut tx, artifact.analysis, runner.0.attempt).await?;
    let previous =
        store::artifacts::lock_key(&mut tx, account, artifact.analysis, artifact.name).await?;
    let target = format!("{}/{}", artifact.analysis, artifact.name);
    let detail = json!({"size": artifact.size, "sha256": artifact.sha256, "stored": if artifact.key.is_some() { "object" } else { "inline" }});
    let key = artifact.key;
    store::artifacts::upsert(&mut tx, account, artifact).await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "artifact.put",
        &target,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(previous.flatten().filter(|old| Some(old.as_str()) != key))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn names_and_sizes_are_checked_before_the_body() {
        assert!(check_name("story.md").is_ok());
        assert!(check_name("../x").is_err());
        assert_eq!(largest(false, 1 << 40), INLINE_ARTIFACT_LIMIT as u64);
        assert_eq!(largest(true, 1 << 40), 1 << 40);
        assert!(over_limit(false, 1).message.contains("--object-store"));
        assert!(over_limit(true, 9).message.contains("limited to 9 bytes"));
        let mut headers = HeaderMap::new();
        assert_eq!(
            (declared_length(&headers), media_type(&headers).as_str()),
            (None, "application/octet-stream")
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown"),
        );
        assert_eq!(
            (declared_length(&headers), media_type(&headers).as_str()),
            (Some(12), "text/markdown")
        );
    }
}
