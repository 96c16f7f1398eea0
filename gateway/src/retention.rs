//! The retention janitor: deletes what is older than each account's `retention_days`.
//!
//! Per account, in one tenant transaction (row-level security binds the janitor like any
//! request; the accounts and their retention come from the `gitview_account_retention`
//! function, `migrations/0005_retention.sql`):
//!
//! 1. the analyses created before the cutoff are chosen;
//! 2. their **commits are handed over** to the oldest analysis of the same repository that
//!    stays, where one does. Commits belong to the repository: `commits.analysis_id` records
//!    only which analysis stored a commit first, and later analyses of the repository (a full
//!    re-analysis stores nothing twice; an incremental one builds on them) rely on those rows.
//!    Deleting an old analysis must not delete a recent one's history. The heir lists them
//!    from then on, as if it had stored them first — which among the analyses that remain, it
//!    did or could have;
//! 3. the analyses are deleted, and with them by `ON DELETE CASCADE` their phases, artifacts,
//!    progress events, run logs and batches, and the commits no remaining analysis of the repository
//!    holds (with their file stats). Repositories stay, with their last analyzed commit: an
//!    incremental run goes on from there;
//! 4. the account's audit rows older than the cutoff are deleted, and so are its cached
//!    summaries no run has found or stored since the cutoff (`summaries.used_at`);
//! 5. when anything was deleted, one audit row (actor `retention`) records the counts and the
//!    deleted analyses' ids.
//!
//! A pass runs under a PostgreSQL advisory lock held by a transaction on its own connection,
//! so of several gateway replicas one deletes and the others skip; the lock ends with that
//! transaction (or its connection, if the process dies).

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::db;
use crate::kit::audit::audit;
use crate::storage::{self, ArtifactStore};

/// The advisory lock key of a retention pass ("gitview" and 1, in ASCII).
pub const LOCK_KEY: i64 = 0x6769_7476_6965_7701;
/// The actor of the audit rows a pass writes.
pub const ACTOR: &str = "retention";

/// What a pass deleted in one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub account: i64,
    pub retention_days: i32,
    /// The analyses deleted, by id.
    pub analyses: Vec<String>,
    /// Commits deleted with them (no remaining analysis of their repository).
    pub commits: i64,
    /// Commits of deleted analyses handed over to a remaining analysis of their repository.
    pub commits_kept: i64,
    /// Audit rows deleted (older than the retention).
    pub audit_rows: i64,
    /// Cached summaries deleted (unused for longer than the retention).
    pub summaries: i64,
    /// The deleted analyses' artifacts in object storage.
    #[serde(skip)]
    pub object_keys: Vec<String>,
    /// Of those, the objects deleted.
    pub objects: u64,
    /// Objects no artifact row names and uploads never completed (left by a crash), deleted.
    pub orphans: u64,
}

impl Deleted {
    fn is_empty(&self) -> bool {
        self.analyses.is_empty() && self.audit_rows == 0 && self.summaries == 0 && self.orphans == 0
    }
}

/// The outcome of a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Another pass holds the lock (another replica); nothing was done.
    Skipped,
    /// The accounts where something was deleted.
    Done(Vec<Deleted>),
}

/// One pass over every account, under the advisory lock; with `store`, the deleted
/// analyses' artifact objects go too, and so do objects no row names (see [`crate::storage`]).
pub async fn run_once(pool: &PgPool, store: Option<&ArtifactStore>) -> Result<Pass, sqlx::Error> {
    let mut lock = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(Pass::Skipped);
    }
    let accounts: Vec<(i64, i32)> =
        sqlx::query_as("SELECT account_id, retention_days FROM gitview_account_retention()")
            .fetch_all(&mut *lock)
            .await?;
    let mut done = Vec::new();
    for (account, retention_days) in accounts {
        let mut deleted = account_pass(pool, account, retention_days).await?;
        if let Some(store) = store {
            deleted.objects = store.delete_all(&deleted.object_keys).await;
            deleted.orphans = sweep_orphans(pool, store, account).await?;
        }
        if !deleted.is_empty() {
            done.push(deleted);
        }
    }
    lock.commit().await?;
    Ok(Pass::Done(done))
}

/// One account's deletions, in one tenant transaction.
async fn account_pass(
    pool: &PgPool,
    account: i64,
    retention_days: i32,
) -> Result<Deleted, sqlx::Error> {
    let mut tx = db::tenant(pool, account).await?;
    let cutoff: String = sqlx::query_scalar(concat!(
        "SELECT ",
        db::rfc3339!("(now() - make_interval(days => $1))")
    ))
    .bind(retention_days)
    .fetch_one(&mut *tx)
    .await?;
    let analyses: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM analyses WHERE account_id = $1 AND created_at < $2::timestamptz
         ORDER BY created_at, id FOR UPDATE",
    )
    .bind(account)
    .bind(&cutoff)
    .fetch_all(&mut *tx)
    .await?;
    let mut deleted = Deleted {
        account,
        retention_days,
        ..Deleted::default()
    };
    if !analyses.is_empty() {
        // The heir of each repository: its oldest analysis that stays.
        deleted.commits_kept = sqlx::query(
            "UPDATE commits c SET analysis_id = heir.id
             FROM (SELECT DISTINCT ON (repository_id) repository_id, id FROM analyses
                   WHERE account_id = $1 AND created_at >= $3::timestamptz
                   ORDER BY repository_id, created_at, id) heir
             WHERE c.account_id = $1 AND c.analysis_id = ANY($2)
               AND c.repository_id = heir.repository_id",
        )
        .bind(account)
        .bind(&analyses)
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        .try_into()
        .unwrap_or(i64::MAX);
        deleted.commits = sqlx::query_scalar(
            "SELECT count(*) FROM commits WHERE account_id = $1 AND analysis_id = ANY($2)",
        )
        .bind(account)
        .bind(&analyses)
        .fetch_one(&mut *tx)
        .await?;
        deleted.object_keys = sqlx::query_scalar(
            "SELECT storage_key FROM artifacts
             WHERE account_id = $1 AND analysis_id = ANY($2) AND storage_key IS NOT NULL",
        )
        .bind(account)
        .bind(&analyses)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM analyses WHERE account_id = $1 AND id = ANY($2)")
            .bind(account)
            .bind(&analyses)
            .execute(&mut *tx)
            .await?;
    }
    deleted.analyses = analyses;
    deleted.audit_rows =
        sqlx::query("DELETE FROM audit_log WHERE account_id = $1 AND at < $2::timestamptz")
            .bind(account)
            .bind(&cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            .try_into()
            .unwrap_or(i64::MAX);
    deleted.summaries =
        sqlx::query("DELETE FROM summaries WHERE account_id = $1 AND used_at < $2::timestamptz")
            .bind(account)
            .bind(&cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            .try_into()
            .unwrap_or(i64::MAX);
    if !deleted.is_empty() {
        audit(
            &mut tx,
            account,
            ACTOR,
            "retention.delete",
            &format!("before {cutoff}"),
            json!({
                "retentionDays": retention_days,
                "cutoff": cutoff,
                "analyses": deleted.analyses.len(),
                "analysisIds": deleted.analyses,
                "commits": deleted.commits,
                "commitsKept": deleted.commits_kept,
                "auditRows": deleted.audit_rows,
                "summaries": deleted.summaries,
                "objects": deleted.object_keys.len(),
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

/// Deletes the account's objects that no artifact row names and that are older than
/// [`storage::ORPHAN_GRACE`]. A store that cannot be listed is logged and skipped (the next
/// pass tries again); the database's errors end the pass.
async fn sweep_orphans(
    pool: &PgPool,
    store: &ArtifactStore,
    account: i64,
) -> Result<u64, sqlx::Error> {
    let staged = store.delete_old_staged(account, storage::ORPHAN_GRACE);
    let listed = match store.old_keys(account, storage::ORPHAN_GRACE).await {
        Ok(listed) => listed,
        Err(err) => {
            tracing::warn!(account, error = %err, "retention: cannot list artifact objects");
            return Ok(staged);
        }
    };
    if listed.is_empty() {
        return Ok(staged);
    }
    let mut tx = db::tenant(pool, account).await?;
    let orphans = storage::orphans(&mut tx, account, listed).await?;
    tx.commit().await?;
    Ok(staged + store.delete_all(&orphans).await)
}

/// A pass now and then every `interval`, logging what it did; errors are logged and the next
/// pass tries again. Never returns.
pub async fn every(pool: PgPool, store: Option<ArtifactStore>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        log(run_once(&pool, store.as_ref()).await);
    }
}

/// Logs a pass' outcome.
pub fn log(outcome: Result<Pass, sqlx::Error>) {
    match outcome {
        Ok(Pass::Skipped) => {
            tracing::info!("retention: another gateway holds the lock; skipped");
        }
        Ok(Pass::Done(accounts)) => {
            for deleted in &accounts {
                tracing::info!(
                    account = deleted.account,
                    retention_days = deleted.retention_days,
                    analyses = deleted.analyses.len(),
                    commits = deleted.commits,
                    commits_kept = deleted.commits_kept,
                    audit_rows = deleted.audit_rows,
                    summaries = deleted.summaries,
                    objects = deleted.objects,
                    orphans = deleted.orphans,
                    "retention: deleted"
                );
            }
            tracing::info!(accounts = accounts.len(), "retention: pass done");
        }
        Err(err) => tracing::warn!(error = %err, "retention: pass failed; retrying next time"),
    }
}

/// `--retention-interval`: `0` (off), or a duration such as `1h`, `30m`, `1h 30m`, `PT1H`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    let span: jiff::SignedDuration = text
        .parse()
        .map_err(|err| format!("not a duration such as 1h or 30m: {err}"))?;
    Duration::try_from(span).map_err(|_| "a duration must not be negative".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_in_friendly_units_or_zero() {
        assert_eq!(parse_interval("0"), Ok(Duration::ZERO));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("PT15M"), Ok(Duration::from_secs(900)));
        assert!(parse_interval("-1h").is_err());
        assert!(parse_interval("hourly").is_err());
    }
}
