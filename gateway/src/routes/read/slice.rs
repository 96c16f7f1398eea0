//! `GET /v1/analyses/{id}/slice`: JSON slices of a repository's history for downstream model
//! services ([`HistorySlice`]): what they need to write recommendations — totals, breakdowns
//! by class, month, path and author, and the newest commits with ids to cite — computed by
//! PostgreSQL from the stored commits, in one query, so a model service never re-reads git.
//!
//! A slice covers the commits of the analysis' repository stored by this analysis or an
//! earlier one of the same repository (the history as this analysis knew it; an incremental
//! analysis stores only its new commits, but its slice covers the whole history), narrowed by
//! `since`/`until` (committer time) and `path` (a file or directory). Scrubbing follows the
//! account's policy as everywhere in the read API: emails hashed, secrets redacted in
//! subjects.

use axum::extract::State;
use gitview_core::results::{
    HistorySlice, SLICE_SCHEMA, SliceCommit, SliceGroup, SliceTotals, SliceWindow,
};
use gitview_core::scrub::{self, SCRUBBED_DOMAIN};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

use super::shared::{
    ListRow, SCRUB_PII, analysis_columns, hashed_email_sql, internal, not_found, path_filter,
    push_touches_path, scrub_text,
};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::window;
use crate::kit::state::AppState;

/// Commits in a slice when the request names no `maxCommits`.
pub const DEFAULT_MAX_COMMITS: i64 = 100;
/// The most commits a slice lists.
pub const MAX_COMMITS: i64 = 1000;
/// Rows of the top-paths and top-authors breakdowns.
const TOP: i64 = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SliceQuery {
    since: Option<String>,
    until: Option<String>,
    path: Option<String>,
    max_commits: Option<String>,
}

fn max_commits(value: Option<&str>) -> Result<i64, ApiError> {
    let Some(value) = value else {
        return Ok(DEFAULT_MAX_COMMITS);
    };
    match value.parse::<i64>() {
        Ok(n) if (0..=MAX_COMMITS).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "maxCommits must be a whole number from 0 to {MAX_COMMITS}, not {value:?}"
        ))),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SliceRow {
    #[sqlx(flatten)]
    list: ListRow,
    totals: Value,
    by_class: Value,
    by_month: Value,
    top_paths: Value,
    top_authors: Value,
    commits: Value,
}

fn parse<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|err| internal(what, err))
}

pub(crate) async fn slice(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
    ApiQuery(query): ApiQuery<SliceQuery>,
) -> Result<axum::Json<HistorySlice>, ApiError> {
    let window = window(query.since.as_deref(), query.until.as_deref())?;
    let limit = max_commits(query.max_commits.as_deref())?;
    let path = path_filter(query.path.as_deref())?;
    // The author's email as the reader may see it: hashed under a scrubbing policy (rows
    // stored scrubbed already hold the hash).
    let email = format!(
        "CASE WHEN NOT s.scrub OR c.author_email LIKE '%@{SCRUBBED_DOMAIN}' THEN c.author_email ELSE {} END",
        hashed_email_sql("c.author_email")
    );
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "WITH s AS (SELECT {} AS scrub),
         an AS (SELECT repository_id, created_at FROM analyses WHERE account_id = ",
        SCRUB_PII
    ));
    sql.push_bind(reader.account)
        .push(" AND id = ")
        .push_bind(id.clone())
        .push(format!(
            "), sel AS MATERIALIZED (
               SELECT c.id, c.repository_id, c.committed_at, c.author_name, {email} AS author_email,
                 c.lines_added, c.lines_deleted, c.files_changed,
                 coalesce(c.enrichment->>'class', 'unclassified') AS class,
                 split_part(c.message, E'\\n', 1) AS subject,
                 coalesce(c.enrichment->'releases', '[]') AS releases
               FROM commits c, an, s
               WHERE c.account_id = $1 AND c.repository_id = an.repository_id
                 AND c.analysis_id IN (SELECT a2.id FROM analyses a2 WHERE a2.account_id = $1
                   AND a2.repository_id = an.repository_id AND a2.created_at <= an.created_at)"
        ));
    let mut path_files = String::from("TRUE");
    if let Some(path) = &path {
        push_touches_path(&mut sql, "c", path);
        // The same file filter for the top paths' lines: the binds are $2 (the id) onwards,
        // so the path's two binds are named by their position.
        path_files = "(f.path = $3 OR f.path LIKE $4 ESCAPE '\\')".to_owned();
    }
    window.push(&mut sql, "c.committed_at");
    let month = "to_char(committed_at AT TIME ZONE 'UTC', 'YYYY-MM')";
    sql.push(format!(
        ")
         SELECT {columns}, s.scrub AS scrub_pii,
           (SELECT json_build_object('commits', count(*), 'authors', count(DISTINCT lower(author_email)),
              'linesAdded', coalesce(sum(lines_added), 0), 'linesDeleted', coalesce(sum(lines_deleted), 0),
              'firstCommitAt', {first}, 'lastCommitAt', {last}) FROM sel) AS totals,
           (SELECT coalesce(json_agg(g ORDER BY g.commits DESC, g.key), '[]') FROM
              (SELECT class AS key, count(*) AS commits, sum(lines_added) AS \"linesAdded\",
                 sum(lines_deleted) AS \"linesDeleted\" FROM sel GROUP BY class) g) AS by_class,
           (SELECT coalesce(json_agg(g ORDER BY g.key), '[]') FROM
              (SELECT {month} AS key, count(*) AS commits, sum(lines_added) AS \"linesAdded\",
                 sum(lines_deleted) AS \"linesDeleted\", count(DISTINCT lower(author_email)) AS authors
               FROM sel WHERE committed_at IS NOT NULL GROUP BY {month}) g) AS by_month,
           (SELECT coalesce(json_agg(g ORDER BY g.\"linesAdded\" + g.\"linesDeleted\" DESC, g.key), '[]') FROM
              (SELECT regexp_replace(f.path, '^([^/]+/[^/]+)/.*$', '\\1') AS key,
                 count(DISTINCT f.commit_id) AS commits, coalesce(sum(f.added), 0) AS \"linesAdded\",
                 coalesce(sum(f.deleted), 0) AS \"linesDeleted\"
               FROM sel JOIN commit_files f ON f.repository_id = sel.repository_id AND f.commit_id = sel.id
               WHERE f.account_id = $1 AND {path_files}
               GROUP BY 1 ORDER BY sum(coalesce(f.added, 0) + coalesce(f.deleted, 0)) DESC, 1 LIMIT {TOP}) g) AS top_paths,
           (SELECT coalesce(json_agg(g ORDER BY g.commits DESC, g.key), '[]') FROM
              (SELECT lower(author_email) AS key,
                 (array_agg(author_name ORDER BY committed_at DESC NULLS LAST))[1] AS name,
                 count(*) AS commits, sum(lines_added) AS \"linesAdded\", sum(lines_deleted) AS \"linesDeleted\"
               FROM sel GROUP BY lower(author_email) ORDER BY count(*) DESC, 1 LIMIT {TOP}) g) AS top_authors,
           (SELECT coalesce(json_agg(x ORDER BY x.\"committedAt\" DESC NULLS LAST, x.id DESC), '[]') FROM
              (SELECT id, {at} AS \"committedAt\", author_name AS \"authorName\", author_email AS \"authorEmail\",
                 class, subject, lines_added AS \"linesAdded\", lines_deleted AS \"linesDeleted\",
                 files_changed AS \"filesChanged\", releases
               FROM sel ORDER BY committed_at DESC NULLS LAST, id DESC LIMIT ",
        columns = analysis_columns!(),
        first = rfc3339!("min(committed_at)"),
        last = rfc3339!("max(committed_at)"),
        at = rfc3339!("committed_at"),
    ));
    sql.push_bind(limit).push(
        ") x) AS commits
         FROM analyses a JOIN repositories r ON r.id = a.repository_id, s
         WHERE a.account_id = $1 AND a.id = $2",
    );
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let row: SliceRow = sql
        .build_query_as()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found(&id))?;
    tx.commit().await?;

    let scrub_pii = row.list.scrub_pii;
    let totals: SliceTotals = parse("slice totals", row.totals)?;
    let mut commits: Vec<SliceCommit> = parse("slice commits", row.commits)?;
    if scrub_pii {
        for commit in &mut commits {
            scrub_text(&mut commit.subject);
            // Names are kept, as in the commits list; an email in a name field is not.
            if commit.author_name.contains('@') {
                commit.author_name = scrub::hash_emails_in(&commit.author_name).0.into_owned();
            }
        }
    }
    let truncated = totals.commits > commits.len() as u64;
    Ok(axum::Json(HistorySlice {
        schema: SLICE_SCHEMA.to_owned(),
        analysis: row.list.summary.summary_scrubbed(scrub_pii)?,
        window: SliceWindow {
            since: window.since.clone(),
            until: window.until.clone(),
            path,
        },
        totals,
        by_class: parse::<Vec<SliceGroup>>("slice classes", row.by_class)?,
        by_month: parse::<Vec<SliceGroup>>("slice months", row.by_month)?,
        top_paths: parse::<Vec<SliceGroup>>("slice paths", row.top_paths)?,
        top_authors: parse::<Vec<SliceGroup>>("slice authors", row.top_authors)?,
        commits,
        truncated,
    }))
}
