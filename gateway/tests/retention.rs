//! The retention janitor against a throwaway PostgreSQL, as the gateway's role (only RLS
//! standing): what is older than an account's retention goes, with its phases, artifacts,
//! progress and the commits no remaining analysis holds; recent analyses and other accounts'
//! data stay; a pass held off by another's lock does nothing; concurrent passes delete once;
//! each account's deletions leave one audit row.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, batch, commit, count};
use gitview_gateway::db;
use gitview_gateway::retention::{self, ACTOR, LOCK_KEY, Pass};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

/// A run of `uid` for `account` on `url` storing `commits` (by number), with a phase, a story
/// and a progress event, then made `days_ago` old (created, started) by the superuser.
async fn run(gw: &Gateway, account: &str, uid: &str, url: &str, commits: &[u8], days_ago: i32) {
    gw.start_run(account, uid, url).await;
    let token = gw.token(account, uid);
    let records: Vec<_> = commits.iter().map(|n| commit(*n, &[])).collect();
    let (status, body) = gw
        .post(
            &token,
            &format!("/v1/runs/{uid}/commits"),
            &batch(0, &records),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = gw
        .post(
            &token,
            &format!("/v1/runs/{uid}/progress"),
            &json!({"stage": "extract", "done": 1, "total": 1, "elapsedMs": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (path, body) in [
        ("phases", "[{\"title\": \"Start\"}]"),
        ("artifacts/story.md", "# Story\n"),
    ] {
        let response = gw
            .http
            .put(gw.url(&format!("/v1/runs/{uid}/{path}")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let mut admin = gw.admin().await;
    sqlx::query(
        "UPDATE analyses SET created_at = now() - make_interval(days => $1),
                             started_at = now() - make_interval(days => $1) WHERE id = $2",
    )
    .bind(days_ago)
    .bind(uid)
    .execute(&mut admin)
    .await
    .unwrap();
}

/// Rows of `table` of analysis `uid`, as the superuser.
async fn rows(gw: &Gateway, table: &str, uid: &str) -> i64 {
    count(
        &mut gw.admin().await,
        &format!("SELECT count(*) FROM {table} WHERE analysis_id = '{uid}'"),
    )
    .await
}

/// The gateway's role's pool: what `serve` and `retention` run as.
async fn gateway_pool(gw: &Gateway) -> sqlx::PgPool {
    db::connect(&gw.pg.url("gateway", "gitview"), 4)
        .await
        .unwrap()
}

/// Account A keeps 30 days: `a-old` (40 days; repository one, commits 1–3), `a-new` (today;
/// repository one, commits 3–4: 3 is a-old's), `a-gone` (40 days; repository two, commits 5–6,
/// no other analysis). Account B keeps 365 days: `b-old` (40 days). Old audit rows in both.
async fn setup(gw: &Gateway) {
    let one = "https://git.example.com/org/one.git";
    let two = "https://git.example.com/org/two.git";
    run(gw, "team-a", "a-old", one, &[1, 2, 3], 40).await;
    run(gw, "team-a", "a-new", one, &[3, 4], 0).await;
    run(gw, "team-a", "a-gone", two, &[5, 6], 40).await;
    run(gw, "team-b", "b-old", one, &[1, 2], 40).await;
    let (status, body) = gw.set_policy("team-a", &json!({"retentionDays": 30})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gw.pg
        .exec(
            "gitview",
            "INSERT INTO audit_log (account_id, actor, action, target, at)
             SELECT id, 'test', 'old.thing', 'x', now() - interval '40 days' FROM accounts",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn old_analyses_go_recent_ones_and_other_accounts_stay() {
    let gw = Gateway::start().await;
    setup(&gw).await;
    let pool = gateway_pool(&gw).await;

    let Pass::Done(deleted) = retention::run_once(&pool, None).await.unwrap() else {
        panic!("nothing else holds the lock");
    };
    // Only A: B keeps a year, its 40-day-old analysis and audit row included.
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let a = &deleted[0];
    assert_eq!(a.analyses, ["a-old", "a-gone"]);
    // Commits 5 and 6 deleted; 1, 2 and 3 (a-old stored 3 first) handed to a-new.
    assert_eq!((a.commits, a.commits_kept, a.audit_rows), (2, 3, 1));

    let mut admin = gw.admin().await;
    let analyses: Vec<String> = sqlx::query_scalar("SELECT id FROM analyses ORDER BY id")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert_eq!(analyses, ["a-new", "b-old"]);
    for table in [
        "phases",
        "artifacts",
        "progress_events",
        "commit_batches",
        "commits",
    ] {
        for uid in ["a-old", "a-gone"] {
            assert_eq!(rows(&gw, table, uid).await, 0, "{table} of {uid}");
        }
        assert!(rows(&gw, table, "a-new").await > 0, "{table} of a-new");
        assert!(rows(&gw, table, "b-old").await > 0, "{table} of b-old");
    }
    // Repository one's history stays whole: a-old's commits 1 and 2 are a-new's now.
    let a_commits: Vec<String> = sqlx::query_scalar(
        "SELECT c.id FROM commits c JOIN accounts a ON a.id = c.account_id
         WHERE a.name = 'team-a' ORDER BY c.id",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let ids: Vec<String> = [1u8, 2, 3, 4].iter().map(|n| commit(*n, &[]).id).collect();
    assert_eq!(a_commits, ids, "repository two's commits went with a-gone");
    assert_eq!(rows(&gw, "commits", "a-new").await, 4);
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM commit_files WHERE commit_id IN (SELECT id FROM commits)"
        )
        .await,
        count(&mut admin, "SELECT count(*) FROM commit_files").await,
        "no file stats outlive their commit"
    );
    // One audit row for A, with the counts; A's old audit row gone, B's kept.
    let audits: Vec<(String, Value)> = sqlx::query_as(
        "SELECT a.name, l.detail FROM audit_log l JOIN accounts a ON a.id = l.account_id
         WHERE l.actor = $1 ORDER BY l.id",
    )
    .bind(ACTOR)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0].0, "team-a");
    let detail = &audits[0].1;
    assert_eq!(
        (
            &detail["analyses"],
            &detail["commits"],
            &detail["commitsKept"],
            &detail["auditRows"]
        ),
        (&json!(2), &json!(2), &json!(3), &json!(1))
    );
    assert_eq!(detail["analysisIds"], json!(["a-old", "a-gone"]));
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit_log WHERE action = 'old.thing'"
        )
        .await,
        1,
        "B's"
    );

    // Again: nothing left to delete, no audit row.
    assert_eq!(
        retention::run_once(&pool, None).await.unwrap(),
        Pass::Done(vec![])
    );
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit_log WHERE actor = 'retention'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_held_lock_skips_the_pass_and_concurrent_passes_delete_once() {
    let gw = Gateway::start().await;
    setup(&gw).await;
    let pool = gateway_pool(&gw).await;

    // Another replica's pass holds the lock: this one does nothing.
    let mut other = sqlx::PgConnection::connect(&gw.pg.url("gateway", "gitview"))
        .await
        .unwrap();
    let mut held = other.begin().await.unwrap();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *held)
        .await
        .unwrap();
    assert!(locked);
    assert_eq!(
        retention::run_once(&pool, None).await.unwrap(),
        Pass::Skipped
    );
    assert_eq!(
        rows(&gw, "commits", "a-old").await,
        3,
        "a-old still has its commits"
    );
    held.rollback().await.unwrap();

    // Two at once: between them, everything is deleted once and audited once.
    let (first, second) = tokio::join!(
        retention::run_once(&pool, None),
        retention::run_once(&pool, None)
    );
    let mut analyses = Vec::new();
    for pass in [first.unwrap(), second.unwrap()] {
        if let Pass::Done(deleted) = pass {
            analyses.extend(deleted.into_iter().flat_map(|d| d.analyses));
        }
    }
    analyses.sort();
    assert_eq!(analyses, ["a-gone", "a-old"]);
    let mut admin = gw.admin().await;
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit_log WHERE actor = 'retention'"
        )
        .await,
        1
    );
    assert_eq!(count(&mut admin, "SELECT count(*) FROM analyses").await, 2);
}
