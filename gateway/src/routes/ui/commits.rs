//! The web UI's pages of a repository's history: one commit
//! (`/ui/repositories/{fingerprint}/commits/{id}`), one path's history
//! (`/ui/repositories/{fingerprint}/files/{*path}`) and a search of its commits
//! (`/ui/repositories/{fingerprint}/search?q=&author=&path=`), rendered by
//! [`gitview_report::ui::commit`].
//!
//! Scoped like the API: every query runs in the signed-in account's tenant transaction and
//! names the account; another account's repository or commit is the 404 page of one that does
//! not exist. An account whose policy scrubs PII sees the stored text scrubbed as the API
//! shows it: emails hashed, secrets redacted. The path's history is the API's own
//! ([`path_history`]); the search pages newest first with the commits list's cursors.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gitview_core::results::SliceCommit;
use gitview_core::scrub;
use gitview_report::ui::{self, commit as pages};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::session::{Session, refused};
use super::{page, repository_of};
use crate::db::{self, rfc3339};
use crate::error::ApiError;
use crate::kit::paging::{Cursor, List, limit, page as paged};
use crate::kit::state::AppState;
use crate::routes::read::files::{PageAt, path_history};
use crate::routes::read::shared::{
    like_literal, path_filter, push_hashed_author, push_touches_prefix, scrub_text, unsigned,
};

/// A commit's row as the page reads it.
#[derive(Debug, sqlx::FromRow)]
struct CommitRow {
    id: String,
    parents: Vec<String>,
    author_name: String,
    author_email: String,
    authored_at: Option<String>,
    committed_at: Option<String>,
    message: String,
    class: String,
    references: Value,
    lines_added: i64,
    lines_deleted: i64,
}

/// A person's name and email as a reader under `scrub` may see them: emails hashed, a name
/// that holds an email too (names are kept otherwise, as in the API).
fn person(scrub: bool, name: String, email: String) -> (String, String) {
    if !scrub {
        return (name, email);
    }
    let name = if name.contains('@') {
        scrub::hash_emails_in(&name).0.into_owned()
    } else {
        name
    };
    (name, scrub::hash_email(&email))
}

/// `GET /ui/repositories/{fingerprint}/commits/{id}`: one commit with its files.
pub(super) async fn commit(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path((fingerprint, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut tx = db::tenant(&state.pool, account).await?;
    let (repository_id, repository, scrub) =
        match repository_of(&mut tx, account, &name, &fingerprint).await? {
            Ok(found) => found,
            Err(missing) => return Ok(missing),
        };
    let row: Option<CommitRow> = sqlx::query_as(concat!(
        "SELECT c.id, c.parents, c.author_name, c.author_email, ",
        rfc3339!("c.authored_at"),
        " AS authored_at, ",
        rfc3339!("c.committed_at"),
        " AS committed_at, c.message, coalesce(c.enrichment->>'class', 'unclassified') AS class,
         coalesce(c.enrichment->'references', '[]') AS references, c.lines_added, c.lines_deleted
         FROM commits c WHERE c.account_id = $1 AND c.repository_id = $2 AND c.id = $3"
    ))
    .bind(account)
    .bind(repository_id)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            ui::not_found(&name, "There is no such commit in this repository."),
        ));
    };
    let files: Vec<(String, Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT path, added, deleted, status FROM commit_files
         WHERE account_id = $1 AND repository_id = $2 AND commit_id = $3 ORDER BY seq",
    )
    .bind(account)
    .bind(repository_id)
    .bind(&row.id)
    .fetch_all(&mut *tx)
    .await?;
    let phase = phase_of(&mut tx, account, repository_id, &row, scrub).await?;
    tx.commit().await?;

    let (author_name, author_email) = person(scrub, row.author_name, row.author_email);
    let mut message = row.message;
    if scrub {
        scrub_text(&mut message);
    }
    let references = row
        .references
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|reference| reference.get("id").and_then(Value::as_str))
                .map(|id| {
                    let mut id = id.to_owned();
                    if scrub {
                        scrub_text(&mut id);
                    }
                    id
                })
                .collect()
        })
        .unwrap_or_default();
    let view = pages::CommitView {
        id: row.id,
        parents: row.parents,
        author_name,
        author_email,
        authored_at: row.authored_at,
        committed_at: row.committed_at,
        class: row.class,
        message,
        references,
        phase,
        files: files
            .into_iter()
            .map(|(path, added, deleted, status)| pages::FileChange {
                path,
                added: added.map(unsigned),
                deleted: deleted.map(unsigned),
                status,
            })
            .collect(),
        lines_added: unsigned(row.lines_added),
        lines_deleted: unsigned(row.lines_deleted),
    };
    Ok(page(
        StatusCode::OK,
        pages::commit(&name, &repository, &view),
    ))
}

/// The phase the commit falls in, by the newest succeeded analysis of the repository that
/// stored phases: the one that starts or ends with it, or whose author-time span holds its
/// author time. `None` when no such analysis has one that does (a range's analysis tells only
/// its range). Phase documents are the runner's: what does not parse is passed over.
async fn phase_of(
    tx: &mut PgConnection,
    account: i64,
    repository: i64,
    commit: &CommitRow,
    scrub: bool,
) -> Result<Option<pages::PhaseRef>, ApiError> {
    let documents: Vec<Value> = sqlx::query_scalar(
        "SELECT p.document FROM phases p WHERE p.account_id = $1 AND p.analysis_id = (
           SELECT a.id FROM analyses a WHERE a.account_id = $1 AND a.repository_id = $2
             AND a.status = 'succeeded'
             AND EXISTS (SELECT FROM phases q WHERE q.account_id = a.account_id AND q.analysis_id = a.id)
           ORDER BY a.finished_at DESC NULLS LAST, a.id DESC LIMIT 1)
         ORDER BY p.seq",
    )
    .bind(account)
    .bind(repository)
    .fetch_all(tx)
    .await?;
    let at = |value: Option<&str>| value.and_then(|text| text.parse::<jiff::Timestamp>().ok());
    let authored = at(commit.authored_at.as_deref());
    let found = documents.into_iter().find(|document| {
        let text = |key: &str| document.get(key).and_then(Value::as_str);
        let ends = [text("firstCommit"), text("lastCommit")];
        if ends.contains(&Some(commit.id.as_str())) {
            return true;
        }
        match (authored, at(text("start")), at(text("end"))) {
            (Some(authored), Some(start), Some(end)) => start <= authored && authored <= end,
            _ => false,
        }
    });
    Ok(found.map(|document| {
        let text = |key: &str| {
            let mut value = document
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if scrub {
                scrub_text(&mut value);
            }
            value
        };
        pages::PhaseRef {
            number: document.get("number").and_then(Value::as_u64).unwrap_or(0),
            name: text("name"),
            start: text("start"),
            end: text("end"),
        }
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PageQuery {
    cursor: Option<String>,
}

/// `GET /ui/repositories/{fingerprint}/files/{*path}`: the commits that touched the path,
/// newest first, a page at a time (`?cursor=`), with its totals and authors.
pub(super) async fn file(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path((fingerprint, path)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let asked = path_filter(Some(&path))
        .and_then(|path| path.ok_or_else(|| ApiError::bad_request("no path")))
        .and_then(|path| {
            let cursor = Cursor::decode(List::FileHistory, query.cursor.as_deref())?;
            Ok((path, cursor, limit(None)?))
        });
    let (path, cursor, limit) = match asked {
        Ok(asked) => asked,
        Err(err) => return refused(&name, err),
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let repository = match repository_of(&mut tx, account, &name, &fingerprint).await? {
        Ok(found) => found,
        Err(missing) => return Ok(missing),
    };
    let history = path_history(
        &mut tx,
        &state,
        account,
        repository,
        path,
        PageAt { cursor, limit },
    )
    .await?;
    tx.commit().await?;
    Ok(page(StatusCode::OK, pages::file_history(&name, &history)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SearchQuery {
    q: String,
    author: String,
    path: String,
    cursor: Option<String>,
}

/// A commit as the search reads it: a [`SliceCommit`]'s columns and the whole message (to
/// check a match against the scrubbed text).
#[derive(Debug, sqlx::FromRow)]
struct FoundRow {
    id: String,
    committed_at: Option<String>,
    author_name: String,
    author_email: String,
    class: String,
    message: String,
    lines_added: i64,
    lines_deleted: i64,
    files_changed: i32,
    releases: Value,
}

/// What a search asks for, trimmed; all empty: nothing asked yet.
struct Asked {
    text: String,
    author: String,
    path: String,
}

impl Asked {
    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.author.is_empty() && self.path.is_empty()
    }
}

/// The search's query: the repository's commits whose message holds `text`, whose author's
/// name holds `author` (or whose email is it), that touched a path starting with `path`,
/// newest first from `cursor`, `limit + 1` of them. Under a scrubbing policy an email is
/// matched only whole and hashed, as the reader sees it, so that a search cannot probe the
/// stored emails a letter at a time.
fn search_query(
    account: i64,
    repository: i64,
    asked: &Asked,
    scrub: bool,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryBuilder<Postgres> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
        "SELECT c.id, ",
        rfc3339!("c.committed_at"),
        " AS committed_at, c.author_name, c.author_email,
         coalesce(c.enrichment->>'class', 'unclassified') AS class, c.message, c.lines_added,
         c.lines_deleted, c.files_changed, coalesce(c.enrichment->'releases', '[]') AS releases
         FROM commits c WHERE c.account_id = "
    ));
    sql.push_bind(account)
        .push(" AND c.repository_id = ")
        .push_bind(repository);
    let contains = |text: &str| format!("%{}%", like_literal(text));
    if !asked.text.is_empty() {
        sql.push(" AND c.message ILIKE ")
            .push_bind(contains(&asked.text))
            .push(" ESCAPE '\\'");
    }
    if !asked.author.is_empty() {
        if scrub && asked.author.contains('@') {
            push_hashed_author(&mut sql, "c", &asked.author);
        } else {
            sql.push(" AND (c.author_name ILIKE ")
                .push_bind(contains(&asked.author))
                .push(" ESCAPE '\\'");
            if !scrub {
                sql.push(" OR c.author_email ILIKE ")
                    .push_bind(contains(&asked.author))
                    .push(" ESCAPE '\\'");
            }
            sql.push(")");
        }
    }
    if !asked.path.is_empty() {
        push_touches_prefix(&mut sql, "c", &asked.path);
    }
    if let Some(cursor) = cursor {
        cursor.push_newest_first(&mut sql, "c.committed_at", "c.id");
    }
    sql.push(" ORDER BY c.committed_at DESC, c.id DESC LIMIT ")
        .push_bind(limit + 1);
    sql
}

/// `GET /ui/repositories/{fingerprint}/search?q=&author=&path=`: the repository's commits by
/// words in their message, their author and the paths they touched, newest first, a page at a
/// time.
pub(super) async fn search(
    Session { account, name }: Session,
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let asked = Asked {
        text: query.q.trim().to_owned(),
        author: query.author.trim().to_owned(),
        path: query.path.trim().trim_start_matches('/').to_owned(),
    };
    let paging = Cursor::decode(List::Commits, query.cursor.as_deref())
        .and_then(|cursor| Ok((cursor, limit(None)?)));
    let (cursor, limit) = match paging {
        Ok(paging) => paging,
        Err(err) => return refused(&name, err),
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let (repository_id, repository, scrub) =
        match repository_of(&mut tx, account, &name, &fingerprint).await? {
            Ok(found) => found,
            Err(missing) => return Ok(missing),
        };
    let rows: Vec<FoundRow> = if asked.is_empty() {
        Vec::new()
    } else {
        search_query(account, repository_id, &asked, scrub, cursor, limit)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?
    };
    tx.commit().await?;
    let (rows, next_cursor) = paged(rows, limit, List::Commits, |row| Cursor {
        time: row.committed_at.clone(),
        id: row.id.clone(),
    });
    let commits = found_commits(rows, &asked.text, scrub);
    let view = pages::SearchView {
        text: asked.text,
        author: asked.author,
        path: asked.path,
        commits,
        next_cursor,
    };
    Ok(page(
        StatusCode::OK,
        pages::search(&name, &repository, &view),
    ))
}

/// The rows as the reader sees them: scrubbed under `scrub`, and then only those whose
/// scrubbed message still holds `text` (a match on a redacted secret or a hashed email is no
/// match: searching must not reveal what scrubbing hides).
fn found_commits(rows: Vec<FoundRow>, text: &str, scrub: bool) -> Vec<SliceCommit> {
    let needle = text.to_lowercase();
    rows.into_iter()
        .filter_map(|row| {
            let mut message = row.message;
            if scrub {
                scrub_text(&mut message);
                if !message.to_lowercase().contains(&needle) {
                    return None;
                }
            }
            let (author_name, author_email) = person(scrub, row.author_name, row.author_email);
            Some(SliceCommit {
                id: row.id,
                committed_at: row.committed_at,
                author_name,
                author_email,
                class: row.class,
                subject: message.lines().next().unwrap_or_default().to_owned(),
                lines_added: unsigned(row.lines_added),
                lines_deleted: unsigned(row.lines_deleted),
                files_changed: u64::try_from(row.files_changed).unwrap_or_default(),
                releases: serde_json::from_value(row.releases).unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, message: &str) -> FoundRow {
        FoundRow {
            id: id.into(),
            committed_at: Some("2024-01-01T00:00:00.000000Z".into()),
            author_name: "ada@example.com".into(),
            author_email: "ada@example.com".into(),
            class: "feature".into(),
            message: message.into(),
            lines_added: 1,
            lines_deleted: 2,
            files_changed: 3,
            releases: Value::Array(Vec::new()),
        }
    }

    #[test]
    fn a_scrubbed_search_never_matches_what_scrubbing_hides() {
        let rows = vec![
            row("a", "mail ada@example.com about it\n"),
            row("b", "Fix the parser\n\nbody"),
        ];
        let found = found_commits(rows, "ada@", true);
        assert!(found.is_empty(), "{found:?}");
        let found = found_commits(vec![row("b", "Fix the parser\n\nbody")], "PARSER", true);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].subject, "Fix the parser");
        assert!(found[0].author_email.ends_with("@scrubbed.invalid"));
        assert!(!found[0].author_name.contains("example.com"));
        let found = found_commits(vec![row("a", "mail ada@example.com\n")], "ada@", false);
        assert_eq!(found[0].author_email, "ada@example.com");
    }

    #[test]
    fn an_empty_search_asks_nothing() {
        let asked = Asked {
            text: String::new(),
            author: String::new(),
            path: String::new(),
        };
        assert!(asked.is_empty());
    }
}
