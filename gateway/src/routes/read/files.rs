//! `GET /v1/repositories/{fingerprint}/files/{path}/history`: one path's history — every
//! stored commit of the repository that touched the path (a file, or anything under a
//! directory: the commits list's and slice's `path` filter), newest first, with the lines it
//! changed under the path, who changed it, totals over all of them, and the current story's
//! storylines that include any of them.
//!
//! axum takes a parameter holding slashes only as a trailing wildcard, so the router serves
//! `/v1/repositories/{fingerprint}/files/{*rest}` and the handler requires `rest` to end with
//! `/history` (404 otherwise); the document names the route as it reads.
//!
//! One query computes it from the path's file stats (`commit_files_by_path`): the commits
//! that touched the path with their lines under it, then totals, authors, this page and which
//! of the story's commits are among them. Scrubbing follows the account's policy as in the
//! slice: emails hashed, secrets redacted in subjects; the storylines come from the scrubbed
//! story.

use std::collections::HashSet;

use axum::extract::State;
use gitview_core::results::{
    FileHistory, FileStoryline, RepositoryRef, SliceCommit, SliceGroup, SliceTotals,
};
use gitview_core::scrub::{self, SCRUBBED_DOMAIN};
use gitview_core::story::StorylineIndex;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::shared::{
    SCRUB_PII, current_story, hashed_email_sql, internal, path_filter, push_path_match,
    require_repository, scrub_text,
};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::extract::{ApiPath, ApiQuery};
use crate::kit::guard::Reader;
use crate::kit::paging::{Cursor, List, limit, page};
use crate::kit::state::AppState;

/// The authors listed, most commits first.
const TOP_AUTHORS: i64 = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHistoryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The path of `{*rest}` (`<path>/history`): 404 when it does not end with `/history` (no
/// such route), 400 when the path is empty.
fn file_path(rest: &str) -> Result<String, ApiError> {
    let path = match rest.strip_suffix("/history") {
        Some(path) => path,
        None if rest == "history" => "",
        None => return Err(ApiError::not_found("no such route")),
    };
    path_filter(Some(path))?
        .ok_or_else(|| ApiError::bad_request("path must name a file or directory"))
}

#[derive(Debug, sqlx::FromRow)]
struct FileRow {
    scrub_pii: bool,
    totals: Value,
    authors: Value,
    commits: Value,
    in_story: Vec<String>,
}

fn parse<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|err| internal(what, err))
}

/// The story's storylines with a commit of `touched`, with how many, most first (in the
/// story's order among equals).
fn storylines(index: &[StorylineIndex], touched: &HashSet<String>) -> Vec<FileStoryline> {
    let mut lines: Vec<FileStoryline> = index
        .iter()
        .filter_map(|line| {
            let commits = line.commits.iter().filter(|c| touched.contains(*c)).count() as u64;
            (commits > 0).then(|| FileStoryline {
                id: line.id.clone(),
                title: line.title.clone(),
                category: line.category.clone(),
                lifecycle: line.lifecycle.clone(),
                commits,
            })
        })
        .collect();
    lines.sort_by_key(|line| std::cmp::Reverse(line.commits));
    lines
}

/// The query: `$1` the account, `$2` the repository, then the path's two binds, the story's
/// commits, the cursor and the page size. The commits that touched the path (`sel`) are kept
/// narrow; emails are hashed once per distinct stored email (`emails`), and the page's
/// messages and enrichments are read for its rows only.
fn file_query(
    account: i64,
    repository: i64,
    path: &str,
    story_commits: Vec<String>,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryBuilder<Postgres> {
    // An author's email as the reader may see it: hashed under a scrubbing policy (rows
    // stored scrubbed already hold the hash).
    let seen = |column: &str| {
        format!(
            "CASE WHEN NOT s.scrub OR {column} LIKE '%@{SCRUBBED_DOMAIN}' THEN {column} ELSE {} END",
            hashed_email_sql(column)
        )
    };
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "WITH s AS (SELECT {SCRUB_PII} AS scrub),
         touched AS MATERIALIZED (
           SELECT f.commit_id AS id, coalesce(sum(f.added), 0) AS added,
             coalesce(sum(f.deleted), 0) AS deleted, count(*) AS files
           FROM commit_files f WHERE f.account_id = "
    ));
    sql.push_bind(account)
        .push(" AND f.repository_id = ")
        .push_bind(repository)
        .push(" AND ");
    push_path_match(&mut sql, "f", path);
    sql.push(format!(
        " GROUP BY f.commit_id),
         sel AS MATERIALIZED (
           SELECT c.id, c.committed_at, c.author_name, c.author_email, t.added, t.deleted, t.files
           FROM touched t JOIN commits c ON c.account_id = $1 AND c.repository_id = $2 AND c.id = t.id),
         emails AS MATERIALIZED (
           SELECT e.author_email AS stored, lower({email}) AS key
           FROM (SELECT DISTINCT author_email FROM sel) e, s)
         SELECT s.scrub AS scrub_pii,
           (SELECT json_build_object('commits', count(*),
              'authors', (SELECT count(DISTINCT key) FROM emails),
              'linesAdded', coalesce(sum(added), 0), 'linesDeleted', coalesce(sum(deleted), 0),
              'firstCommitAt', {first}, 'lastCommitAt', {last}) FROM sel) AS totals,
           (SELECT coalesce(json_agg(g ORDER BY g.commits DESC, g.key), '[]') FROM
              (SELECT e.key, (array_agg(sel.author_name ORDER BY sel.committed_at DESC NULLS LAST))[1] AS name,
                 count(*) AS commits, sum(sel.added) AS \"linesAdded\", sum(sel.deleted) AS \"linesDeleted\"
               FROM sel JOIN emails e ON e.stored = sel.author_email
               GROUP BY e.key ORDER BY count(*) DESC, 1 LIMIT {TOP_AUTHORS}) g) AS authors,
           (SELECT coalesce(array_agg(sel.id), '{{}}') FROM sel WHERE sel.id IN (SELECT unnest(",
        email = seen("e.author_email"),
        first = rfc3339!("min(committed_at)"),
        last = rfc3339!("max(committed_at)"),
    ));
    sql.push_bind(story_commits).push(format!(
        "::text[]))) AS in_story,
           (SELECT coalesce(json_agg(json_build_object('id', x.id, 'committedAt', {at},
              'authorName', x.author_name, 'authorEmail', {email},
              'class', coalesce(c.enrichment->>'class', 'unclassified'),
              'subject', split_part(c.message, E'\\n', 1), 'linesAdded', x.added,
              'linesDeleted', x.deleted, 'filesChanged', x.files,
              'releases', coalesce(c.enrichment->'releases', '[]'))
              ORDER BY x.committed_at DESC, x.id DESC), '[]')
            FROM (SELECT * FROM sel WHERE TRUE",
        at = rfc3339!("x.committed_at"),
        email = seen("x.author_email"),
    ));
    if let Some(cursor) = cursor {
        cursor.push_newest_first(&mut sql, "committed_at", "id");
    }
    sql.push(" ORDER BY committed_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1)
        .push(
            ") x JOIN commits c ON c.account_id = $1 AND c.repository_id = $2 AND c.id = x.id)
             AS commits FROM s",
        );
    sql
}

pub(crate) async fn history(
    State(state): State<AppState>,
    ApiPath((fingerprint, rest)): ApiPath<(String, String)>,
    reader: Reader,
    ApiQuery(query): ApiQuery<FileHistoryQuery>,
) -> Result<axum::Json<FileHistory>, ApiError> {
    let path = file_path(&rest)?;
    let limit = limit(query.limit.as_deref())?;
    let cursor = Cursor::decode(List::FileHistory, query.cursor.as_deref())?;
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    let repository = require_repository(&mut tx, reader.account, &fingerprint).await?;
    let history = path_history(
        &mut tx,
        &state,
        reader.account,
        repository,
        path,
        PageAt { cursor, limit },
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(history))
}

/// Where a page of a path's history starts, and how long it is.
pub(crate) struct PageAt {
    pub(crate) cursor: Option<Cursor>,
    pub(crate) limit: i64,
}

/// One page of `path`'s history in `repository` (as [`require_repository`] found it: its id,
/// reference and the account's scrub policy), in the caller's tenant transaction: the API's
/// route and the web UI's file page both read it here.
pub(crate) async fn path_history(
    tx: &mut PgConnection,
    state: &AppState,
    account: i64,
    (id, repository, scrub): (i64, RepositoryRef, bool),
    path: String,
    at: PageAt,
) -> Result<FileHistory, ApiError> {
    let PageAt { cursor, limit } = at;
    // A directory near the root matches most of a large history: its totals and authors
    // aggregate every commit, which sorts and hashes in memory rather than on disk with this.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    let story = current_story(&mut *tx, state, account, id, scrub).await?;
    let index = story
        .map(|story| story.document.storylines)
        .unwrap_or_default();
    let story_commits: Vec<String> = index
        .iter()
        .flat_map(|line| line.commits.iter().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let row: FileRow = file_query(account, id, &path, story_commits, cursor, limit)
        .build_query_as()
        .fetch_one(&mut *tx)
        .await?;

    let scrub_pii = row.scrub_pii;
    let totals: SliceTotals = parse("file totals", row.totals)?;
    let mut authors: Vec<SliceGroup> = parse("file authors", row.authors)?;
    let commits: Vec<SliceCommit> = parse("file commits", row.commits)?;
    let (mut commits, next_cursor) = page(commits, limit, List::FileHistory, |commit| Cursor {
        time: commit.committed_at.clone(),
        id: commit.id.clone(),
    });
    if scrub_pii {
        for commit in &mut commits {
            scrub_text(&mut commit.subject);
            // Names are kept, as in the commits list; an email in a name field is not.
            if commit.author_name.contains('@') {
                commit.author_name = scrub::hash_emails_in(&commit.author_name).0.into_owned();
            }
        }
        for author in &mut authors {
            if let Some(name) = author.name.as_mut().filter(|name| name.contains('@')) {
                *name = scrub::hash_emails_in(name).0.into_owned();
            }
        }
    }
    let touched: HashSet<String> = row.in_story.into_iter().collect();
    Ok(FileHistory {
        repository,
        path,
        totals,
        authors,
        storylines: storylines(&index, &touched),
        commits,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_what_precedes_history() {
        assert_eq!(
            file_path("src/main.rs/history").ok(),
            Some("src/main.rs".into())
        );
        assert_eq!(
            file_path("docs/history/history").ok(),
            Some("docs/history".into())
        );
        assert_eq!(file_path("/src/history").ok(), Some("src".into()));
        for empty in ["history", "/history", "//history"] {
            let err = file_path(empty).expect_err(empty);
            assert_eq!(err.status.as_u16(), 400, "{empty}");
        }
        let err = file_path("src/main.rs").expect_err("no suffix");
        assert_eq!(err.status.as_u16(), 404);
        assert_eq!(
            file_path("src/historyx").map_err(|e| e.status.as_u16()),
            Err(404)
        );
    }

    #[test]
    fn storylines_count_the_path_s_commits_most_first() {
        let line = |id: &str, commits: &[&str]| StorylineIndex {
            id: id.into(),
            title: format!("{id} title"),
            category: "feature".into(),
            lifecycle: "active".into(),
            commits: commits.iter().map(|c| (*c).to_owned()).collect(),
        };
        let index = [
            line("storyline-1", &["a", "b"]),
            line("storyline-2", &["c"]),
            line("storyline-3", &["a", "c", "d"]),
        ];
        let touched: HashSet<String> = ["a", "c", "d"].map(String::from).into();
        let lines = storylines(&index, &touched);
        let found: Vec<(&str, u64)> = lines.iter().map(|l| (l.id.as_str(), l.commits)).collect();
        assert_eq!(
            found,
            [("storyline-3", 3), ("storyline-1", 1), ("storyline-2", 1)]
        );
    }
}
