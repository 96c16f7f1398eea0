//! `GET /v1/repositories/{fingerprint}/story`: the repository's current story — the one the
//! newest succeeded analysis of it wrote over its whole history (`story.json` with
//! `coverage.wholeHistory`, and `story.md`), read from the artifacts' rows or the object
//! store. Each analysis keeps its own story as artifacts too; this is the repository's.
//!
//! An account whose policy scrubs PII gets the Markdown and every string of the document
//! scrubbed, as the artifact route scrubs text and JSON artifacts on the way out.

use axum::extract::State;
use gitview_core::results::RepositoryStory;

use super::shared::{
    STORY_MD, artifact_stored, current_story, require_repository, scrub_text, stored_bytes,
};
use crate::db;
use crate::error::ApiError;
use crate::kit::extract::ApiPath;
use crate::kit::guard::Reader;
use crate::kit::state::AppState;

pub(crate) async fn story(
    State(state): State<AppState>,
    ApiPath(fingerprint): ApiPath<String>,
    reader: Reader,
) -> Result<axum::Json<RepositoryStory>, ApiError> {
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let (id, repository, scrub) = require_repository(&mut tx, reader.account, &fingerprint).await?;
    let story = current_story(&mut tx, &state, reader.account, id, scrub)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "repository {fingerprint} has no story of its whole history yet: no succeeded analysis has written one"
            ))
        })?;
    let markdown = artifact_stored(&mut tx, reader.account, &story.analysis_id, STORY_MD).await?;
    // Read from the object store, if that is where it is, with the connection given back.
    tx.commit().await?;
    let markdown = match markdown {
        Some(stored) => Some(stored_bytes(&state, stored).await?),
        None => None,
    };
    let mut markdown = markdown
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    if scrub {
        scrub_text(&mut markdown);
    }
    Ok(axum::Json(RepositoryStory {
        repository,
        analysis_id: story.analysis_id,
        finished_at: Some(story.finished_at),
        markdown,
        story: story.document,
    }))
}
