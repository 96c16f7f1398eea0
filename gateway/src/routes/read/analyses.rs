//! `GET /v1/analyses` (the account's analyses, newest first, filtered by repository, status
//! and creation time) and `GET /v1/analyses/{id}` (one analysis with its phases, story,
//! timeline and artifact list).

use axum::extract::State;
use gitview_core::results::{AnalysisDetail, AnalysisPage, ArtifactInfo};
use gitview_core::scrub;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::shared::{
    AnalysisRow, ListRow, SCRUB_PII, analysis_columns, not_found, read_object, scrub_text, unsigned,
};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::{Cursor, List, Window, invalid_cursor, limit, page, window};
use crate::kit::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalysesQuery {
    repository: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The account's repositories a `repository` parameter names: by fingerprint (64 hex), or by
/// URL in any spelling of the same remote, whatever its transport (every branch).
async fn repositories(
    tx: &mut PgConnection,
    account: i64,
    repository: &str,
) -> Result<Vec<i64>, ApiError> {
    let fingerprint = repository.len() == 64
        && repository
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ids = if fingerprint {
        sqlx::query_scalar("SELECT id FROM repositories WHERE account_id = $1 AND fingerprint = $2")
            .bind(account)
            .bind(repository)
            .fetch_all(tx)
            .await?
    } else {
        let url = gitview_core::remote::RepositoryUrl::parse(repository).map_err(|err| {
            ApiError::bad_request(format!(
                "repository must be a fingerprint (64 hex) or a repository URL: {err}"
            ))
        })?;
        sqlx::query_scalar("SELECT id FROM repositories WHERE account_id = $1 AND remote = $2")
            .bind(account)
            .bind(url.remote())
            .fetch_all(tx)
            .await?
    };
    Ok(ids)
}

pub(crate) async fn analyses(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<AnalysesQuery>,
) -> Result<axum::Json<AnalysisPage>, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let status = match query.status.as_deref() {
        None => None,
        Some(status @ ("running" | "succeeded" | "failed")) => Some(status.to_owned()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status must be running, succeeded or failed, not {other:?}"
            )));
        }
    };
    let window = window(query.since.as_deref(), query.until.as_deref())?;
    let cursor = Cursor::decode(List::Analyses, query.cursor.as_deref())?;
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let repositories = match &query.repository {
        Some(repository) => {
            let ids = repositories(&mut tx, reader.account, repository).await?;
            if ids.is_empty() {
                return Ok(axum::Json(AnalysisPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            Some(ids)
        }
        None => None,
    };
    let page = list_page(
        &mut tx,
        reader.account,
        ListFilter {
            repositories: repositories.as_deref(),
            status,
            window: &window,
        },
        cursor,
        limit,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(page))
}

/// Which of the account's analyses a list shows: of these repositories (all without), with
/// this status (any without), created in this window.
pub(crate) struct ListFilter<'a> {
    pub(crate) repositories: Option<&'a [i64]>,
    pub(crate) status: Option<String>,
    pub(crate) window: &'a Window,
}

/// A page of the account's analyses as `filter` selects them, newest first, from `cursor`
/// on, in the caller's tenant transaction, scrubbed as the account's policy says (the API's
/// list and the web UI's both read it here).
pub(crate) async fn list_page(
    tx: &mut PgConnection,
    account: i64,
    filter: ListFilter<'_>,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<AnalysisPage, ApiError> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        analysis_columns!(),
        ", coalesce((SELECT scrub_pii FROM accounts WHERE id = "
    ));
    sql.push_bind(account).push(
        "), true) AS scrub_pii FROM analyses a JOIN repositories r ON r.id = a.repository_id
         WHERE a.account_id = ",
    );
    sql.push_bind(account);
    // One repository (the common case) as `=`, so the per-repository index also gives the
    // order; several (one URL, several branches) as `= ANY`.
    match filter.repositories {
        Some([one]) => {
            sql.push(" AND a.repository_id = ").push_bind(*one);
        }
        Some(many) => {
            sql.push(" AND a.repository_id = ANY(")
                .push_bind(many.to_vec())
                .push(")");
        }
        None => {}
    }
    if let Some(status) = filter.status {
        sql.push(" AND a.status = ").push_bind(status);
    }
    filter.window.push(&mut sql, "a.created_at");
    if let Some(cursor) = cursor {
        // Analyses' cursors always carry a time (created_at is NOT NULL).
        let Some(time) = cursor.time else {
            return Err(invalid_cursor());
        };
        sql.push(" AND (a.created_at, a.id) < (")
            .push_bind(time)
            .push("::timestamptz, ")
            .push_bind(cursor.id)
            .push(")");
    }
    sql.push(" ORDER BY a.created_at DESC, a.id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows: Vec<ListRow> = sql.build_query_as().fetch_all(&mut *tx).await?;
    let (rows, next_cursor) = page(rows, limit, List::Analyses, |row| Cursor {
        time: Some(row.summary.created_at.clone()),
        id: row.summary.id.clone(),
    });
    Ok(AnalysisPage {
        items: rows
            .into_iter()
            .map(|row| row.summary.summary_scrubbed(row.scrub_pii))
            .collect::<Result<_, _>>()?,
        next_cursor,
    })
}

#[derive(Debug, sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: AnalysisRow,
    scrub_pii: bool,
    config: Value,
    metrics: Value,
    model_versions: Value,
}

/// An artifact's name, media type, size, digest, and, when the detail shows it, its content
/// (inline) or its object's key.
type ArtifactRow = (String, String, i64, String, Option<Vec<u8>>, Option<String>);

/// Story and timeline objects up to this size are shown in the detail; larger ones only
/// through the artifact route.
const DETAIL_OBJECT_LIMIT: i64 = 16 << 20;

/// The artifacts the detail inlines.
const STORY: &str = "story.md";
const TIMELINE: &str = "timeline.json";

pub(crate) async fn analysis(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
) -> Result<axum::Json<AnalysisDetail>, ApiError> {
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let row: DetailRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {}, {SCRUB_PII} AS scrub_pii, a.config, a.metrics, a.model_versions
         FROM analyses a JOIN repositories r ON r.id = a.repository_id
         WHERE a.account_id = $1 AND a.id = $2",
        analysis_columns!()
    )))
    .bind(reader.account)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(&id))?;
    let mut phases: Vec<Value> = sqlx::query_scalar(
        "SELECT document FROM phases WHERE account_id = $1 AND analysis_id = $2 ORDER BY seq",
    )
    .bind(reader.account)
    .bind(&id)
    .fetch_all(&mut *tx)
    .await?;
    let artifacts: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT name, media_type, size, sha256, CASE WHEN name IN ($3, $4) THEN content END,
           CASE WHEN name IN ($3, $4) AND size <= $5 THEN storage_key END
         FROM artifacts WHERE account_id = $1 AND analysis_id = $2 ORDER BY name",
    )
    .bind(reader.account)
    .bind(&id)
    .bind(STORY)
    .bind(TIMELINE)
    .bind(DETAIL_OBJECT_LIMIT)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let (mut story, mut timeline) = (None, None);
    let mut infos = Vec::with_capacity(artifacts.len());
    for (name, media_type, size, sha256, content, key) in artifacts {
        let content = match (content, key, &state.artifacts) {
            (Some(content), _, _) => Some(content),
            (None, Some(key), Some(store)) => Some(read_object(store, &state.metrics, &key).await?),
            _ => None,
        };
        match (name.as_str(), content) {
            (STORY, Some(bytes)) => story = Some(String::from_utf8_lossy(&bytes).into_owned()),
            (TIMELINE, Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => timeline = Some(value),
                Err(err) => {
                    tracing::warn!(analysis = %id, error = %err, "timeline.json is not JSON");
                }
            },
            _ => {}
        }
        infos.push(ArtifactInfo {
            name,
            media_type,
            size: unsigned(size),
            sha256,
        });
    }
    if row.scrub_pii {
        for phase in &mut phases {
            scrub::scrub_json(phase);
        }
        if let Some(story) = &mut story {
            scrub_text(story);
        }
        if let Some(timeline) = &mut timeline {
            scrub::scrub_json(timeline);
        }
    }
    Ok(axum::Json(AnalysisDetail {
        summary: row.summary.summary_scrubbed(row.scrub_pii)?,
        config: row.config,
        metrics: row.metrics,
        model_versions: row.model_versions,
        phases,
        story,
        timeline,
        artifacts: infos,
    }))
}
