//! A superseded attempt writes nothing (issue finding 2). Once attempt 2 of an analysis has
//! started, attempt 1's still valid token — a pod the operator gave up on, on a partitioned
//! node — gets 409 on every runner write that changes the run's results (start, commits,
//! phases, artifacts, finish), and `start` never lowers the stored attempt. Its progress
//! events and log lines are kept under its own attempt and never answered as the current
//! progress. The check holds against a write already in flight: it locks the analysis' row
//! in the write's transaction.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, batch, claims, commit, count, sign, start_body};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

const URL: &str = "https://git.example.com/org/repo.git";

/// A runner token of `attempt`.
fn token(gw: &Gateway, attempt: i32) -> String {
    let mut claims = claims("team-a", "uid-1");
    claims.attempt = attempt;
    sign(&gw.signing, &claims)
}

fn start_of(attempt: i32) -> Value {
    let mut body = start_body(URL);
    body["attempt"] = json!(attempt);
    body
}

async fn put(gw: &Gateway, token: &str, path: &str, body: reqwest::Body) -> (StatusCode, Value) {
    let response = gw
        .http
        .put(gw.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The stored attempt and status of `uid-1`.
async fn stored(admin: &mut sqlx::PgConnection) -> (i32, String) {
    sqlx::query_as("SELECT attempt, status FROM analyses WHERE id = 'uid-1'")
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_superseded_attempts_token_writes_nothing() {
    let gw = Gateway::start().await;
    let (one, two) = (token(&gw, 1), token(&gw, 2));
    let (status, body) = gw.post(&one, "/v1/runs/uid-1/start", &start_of(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c1 = commit(1, &[]);
    let (status, body) = gw
        .post(
            &one,
            "/v1/runs/uid-1/commits",
            &batch(0, std::slice::from_ref(&c1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = put(&gw, &one, "/v1/runs/uid-1/phases", r#"[{"by": 1}]"#.into()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = put(&gw, &one, "/v1/runs/uid-1/artifacts/story.md", "one".into()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The operator gave up on attempt 1 and started attempt 2.
    let (status, body) = gw.post(&two, "/v1/runs/uid-1/start", &start_of(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut admin = gw.admin().await;
    assert_eq!(stored(&mut admin).await, (2, "running".to_owned()));
    let audit_before = count(&mut admin, "SELECT count(*) FROM audit_log").await;

    // Attempt 1's token, still unexpired, writes nothing: 409 naming both attempts.
    let c2 = commit(2, std::slice::from_ref(&c1.id));
    let refused = [
        gw.post(&one, "/v1/runs/uid-1/start", &start_of(1)).await,
        gw.post(
            &one,
            "/v1/runs/uid-1/commits",
            &batch(1, std::slice::from_ref(&c2)),
        )
        .await,
        // A batch number attempt 1 stored already: no answer from the stored batch either.
        gw.post(
            &one,
            "/v1/runs/uid-1/commits",
            &batch(0, std::slice::from_ref(&c1)),
        )
        .await,
        put(
            &gw,
            &one,
            "/v1/runs/uid-1/phases",
            r#"[{"by": 1, "late": true}]"#.into(),
        )
        .await,
        put(
            &gw,
            &one,
            "/v1/runs/uid-1/artifacts/story.md",
            "stale".into(),
        )
        .await,
        put(
            &gw,
            &one,
            "/v1/runs/uid-1/artifacts/other.md",
            "stale".into(),
        )
        .await,
        gw.post(
            &one,
            "/v1/runs/uid-1/finish",
            &json!({"status": "failed", "message": "lost", "commitsAnalyzed": 0}),
        )
        .await,
    ];
    for (n, (status, body)) in refused.iter().enumerate() {
        assert_eq!(*status, StatusCode::CONFLICT, "write {n}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("attempt 1") && message.contains("attempt 2"),
            "write {n} names both attempts: {body}"
        );
    }
    assert_eq!(
        stored(&mut admin).await,
        (2, "running".to_owned()),
        "a stale start neither rewinds nor fails the run"
    );
    let phases: Vec<Value> =
        sqlx::query_scalar("SELECT document FROM phases WHERE analysis_id = 'uid-1'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(phases, [json!({"by": 1})]);
    let artifacts: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT name, content FROM artifacts WHERE analysis_id = 'uid-1'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(artifacts, [("story.md".to_owned(), b"one".to_vec())]);
    assert_eq!(count(&mut admin, "SELECT count(*) FROM commits").await, 1);
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM commit_batches").await,
        1
    );
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM audit_log").await,
        audit_before,
        "nothing refused is audited as done"
    );

    // A token of an attempt that has not started writes nothing either.
    let three = token(&gw, 3);
    let (status, body) = gw
        .post(
            &three,
            "/v1/runs/uid-1/commits",
            &batch(5, std::slice::from_ref(&c2)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Progress and log lines of attempt 1 are kept under attempt 1; the current progress is
    // attempt 2's even when attempt 1 reported last.
    let progress = |stage: &str| json!({"stage": stage, "done": 1, "total": 2, "elapsedMs": 5});
    let (status, _) = gw
        .post(&two, "/v1/runs/uid-1/progress", &progress("fetch"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = gw
        .post(&one, "/v1/runs/uid-1/progress", &progress("summarize"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let line = json!({"lines": [{"seq": 0, "at": "2024-05-01T09:30:00Z", "level": "info", "message": "late"}]});
    let (status, body) = gw.post(&one, "/v1/runs/uid-1/logs", &line).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kept: Vec<(String, Option<i32>)> = sqlx::query_as(
        "SELECT stage, attempt FROM progress_events WHERE analysis_id = 'uid-1' ORDER BY id",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        kept,
        [
            ("fetch".to_owned(), Some(2)),
            ("summarize".to_owned(), Some(1))
        ]
    );
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM run_logs WHERE analysis_id = 'uid-1' AND attempt = 1"
        )
        .await,
        1
    );
    let mut operator = claims("team-a", "");
    operator.scope = vec![gitview_core::token::SCOPE_RUNS_READ.into()];
    let operator = sign(&gw.signing, &operator);
    let (status, body) = gw.get(&operator, "/v1/runs/uid-1/progress/latest").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["latest"]["stage"], &body["latest"]["attempt"]),
        (&json!("fetch"), &json!(2)),
        "a superseded attempt's event is not the current progress: {body}"
    );
    // Asked for by number, attempt 1's newest is still there.
    let (_, body) = gw
        .get(&operator, "/v1/runs/uid-1/progress/latest?attempt=1")
        .await;
    assert_eq!(body["latest"]["stage"], json!("summarize"), "{body}");

    // The current attempt writes and finishes as usual.
    let (status, body) = gw
        .post(
            &two,
            "/v1/runs/uid-1/commits",
            &batch(1, std::slice::from_ref(&c2)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = put(&gw, &two, "/v1/runs/uid-1/phases", r#"[{"by": 2}]"#.into()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = put(&gw, &two, "/v1/runs/uid-1/artifacts/story.md", "two".into()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = gw
        .post(
            &two,
            "/v1/runs/uid-1/finish",
            &json!({"status": "succeeded", "commitsAnalyzed": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored(&mut admin).await, (2, "succeeded".to_owned()));
    // A repeated finish of the current attempt is still idempotent; attempt 1's is not.
    let (status, body) = gw
        .post(
            &two,
            "/v1/runs/uid-1/finish",
            &json!({"status": "succeeded", "commitsAnalyzed": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = gw
        .post(
            &one,
            "/v1/runs/uid-1/finish",
            &json!({"status": "failed", "commitsAnalyzed": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stored(&mut admin).await, (2, "succeeded".to_owned()));
}

/// Attempt 1's write is in flight when attempt 2 starts: the write waits for the analysis' row
/// (held here, as a start holds it) and then sees the new attempt, in its own transaction.
#[tokio::test]
async fn a_write_in_flight_when_a_new_attempt_starts_is_refused() {
    let gw = Gateway::start().await;
    let one = token(&gw, 1);
    let (status, body) = gw.post(&one, "/v1/runs/uid-1/start", &start_of(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The superuser holds the row, as attempt 2's start would between its read and its write.
    let mut admin = gw.admin().await;
    let mut starting = admin.begin().await.unwrap();
    sqlx::query("SELECT attempt FROM analyses WHERE id = 'uid-1' FOR UPDATE")
        .execute(&mut *starting)
        .await
        .unwrap();
    let write = tokio::spawn({
        let (http, url) = (gw.http.clone(), gw.url("/v1/runs/uid-1/commits"));
        async move {
            let response = http
                .post(url)
                .bearer_auth(one)
                .json(&batch(0, &[commit(1, &[])]))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    });
    // Wait (bounded, polling the condition) until the write waits on the row lock.
    let mut watcher = sqlx::PgConnection::connect(&gw.pg.url("postgres", "gitview"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'gateway' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            !write.is_finished(),
            "the write did not wait for the analysis' row: {:?}",
            write.await.unwrap()
        );
        assert!(
            Instant::now() < deadline,
            "the write never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("UPDATE analyses SET attempt = 2 WHERE id = 'uid-1'")
        .execute(&mut *starting)
        .await
        .unwrap();
    starting.commit().await.unwrap();

    let (status, body) = write.await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(count(&mut admin, "SELECT count(*) FROM commits").await, 0);
}
