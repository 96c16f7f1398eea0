//! The rows of a run's start and finish: the analysis (its attempt, status and results) and
//! its repository (the last analyzed commit, advanced by compare-and-set).

use gitview_core::results::FinishRun;
use serde_json::Value;
use sqlx::PgConnection;

/// The analysis' stored attempt, with its row locked (`FOR NO KEY UPDATE`, as every write of
/// results locks it) until the transaction ends; `None` for an analysis not stored yet.
pub(crate) async fn lock_attempt(
    tx: &mut PgConnection,
    analysis: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT attempt FROM analyses WHERE id = $1 FOR NO KEY UPDATE")
        .bind(analysis)
        .fetch_optional(tx)
        .await
}

/// The analysis' stored attempt, unlocked; `None` for an analysis not stored.
pub(crate) async fn attempt(
    tx: &mut PgConnection,
    analysis: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT attempt FROM analyses WHERE id = $1")
        .bind(analysis)
        .fetch_optional(tx)
        .await
}

/// The account's repository of a remote and branch (by `fingerprint`), stored if new: one row
/// per remote and branch, whichever transport a run spells it with. The URL records the
/// latest spelling (the `remote` column follows it), the fingerprint stays. Answers its id
/// and last analyzed commit.
pub(crate) async fn upsert_repository(
    tx: &mut PgConnection,
    account: i64,
    fingerprint: &str,
    url: &str,
    branch: &str,
) -> Result<(i64, Option<String>), sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO repositories (account_id, fingerprint, url, branch) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, fingerprint) DO UPDATE SET url = EXCLUDED.url
         RETURNING id, last_analyzed_commit",
    )
    .bind(account)
    .bind(fingerprint)
    .bind(url)
    .bind(branch)
    .fetch_one(tx)
    .await
}

/// An analysis as its start stores it.
#[derive(Debug)]
pub(crate) struct Started<'a> {
    pub(crate) analysis: &'a str,
    pub(crate) account: i64,
    pub(crate) repository: i64,
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) attempt: i32,
    pub(crate) mode: &'a str,
    pub(crate) config: Value,
}

/// Stores a started analysis, or resumes it (the same attempt again, or a newer one): running
/// again, its message and end cleared. `None` when the stored analysis refuses: it succeeded,
/// belongs to another repository, or is at a newer attempt.
pub(crate) async fn start(
    tx: &mut PgConnection,
    started: Started<'_>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, config)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)
         ON CONFLICT (id) DO UPDATE SET attempt = EXCLUDED.attempt, status = 'running', message = '',
           finished_at = NULL, config = EXCLUDED.config
         WHERE analyses.repository_id = EXCLUDED.repository_id AND analyses.status <> 'succeeded'
           AND analyses.attempt <= EXCLUDED.attempt
         RETURNING id",
    )
    .bind(started.analysis)
    .bind(started.account)
    .bind(started.repository)
    .bind(started.namespace)
    .bind(started.name)
    .bind(started.attempt)
    .bind(started.mode)
    .bind(started.config)
    .fetch_optional(tx)
    .await
}

/// The repository's last analyzed commit.
pub(crate) async fn last_analyzed(
    tx: &mut PgConnection,
    repository: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT last_analyzed_commit FROM repositories WHERE id = $1")
        .bind(repository)
        .fetch_one(tx)
        .await
}

/// Moves the repository's last analyzed commit from `expected` to `to`, by compare-and-set: a
/// concurrent run that advanced first makes this one lose (under READ COMMITTED the second
/// UPDATE waits for the first and re-checks the condition). Answers where the repository
/// stands when that is `to`, `None` when another run moved it elsewhere.
pub(crate) async fn advance(
    tx: &mut PgConnection,
    repository: i64,
    expected: Option<&str>,
    to: &str,
) -> Result<Option<String>, sqlx::Error> {
    let moved: Option<String> = sqlx::query_scalar(
        "UPDATE repositories SET last_analyzed_commit = $2, version = version + 1
         WHERE id = $1 AND last_analyzed_commit IS NOT DISTINCT FROM $3
         RETURNING last_analyzed_commit",
    )
    .bind(repository)
    .bind(to)
    .bind(expected)
    .fetch_optional(&mut *tx)
    .await?;
    // Lost the race to a run that ended where this one ends (runs started together over
    // one tip, e.g. a tracker's Allow policy): the repository already stands where this
    // run would put it, so nothing is lost and the run succeeds.
    match moved {
        Some(commit) => Ok(Some(commit)),
        None => Ok(last_analyzed(tx, repository)
            .await?
            .filter(|current| current == to)),
    }
}

/// Records a run's end: its status (`succeeded` or `failed`), message, commit range, counts,
/// metrics and model versions.
pub(crate) async fn finish(
    tx: &mut PgConnection,
    analysis: &str,
    status: &str,
    body: &FinishRun,
    commits_analyzed: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE analyses SET status = $2, message = $3, from_commit = $4, to_commit = $5, commits_analyzed = $6,
           metrics = $7, model_versions = $8, finished_at = now()
         WHERE id = $1",
    )
    .bind(analysis)
    .bind(status)
    .bind(&body.message)
    .bind(&body.from_commit)
    .bind(&body.to_commit)
    .bind(commits_analyzed)
    .bind(&body.metrics)
    .bind(&body.model_versions)
    .execute(tx)
    .await?;
    Ok(())
}
