//! Run logs over real HTTP against a throwaway PostgreSQL: a runner writes batches of lines, a
//! retried batch stores nothing twice, a reader pages through them in order with filters,
//! oversized and malformed batches are refused by name, and no tenant reads or writes
//! another's log.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, claims, count, sign};
use gitview_core::results::{LogLevel, LogPage, LogsStored, MAX_LOG_LINES};
use reqwest::StatusCode;
use serde_json::{Value, json};

const URL: &str = "https://git.example.com/org/repo.git";

fn lines(seqs: std::ops::Range<u64>, level: &str) -> Value {
    let lines: Vec<Value> = seqs
        .map(|seq| {
            json!({"seq": seq, "at": format!("2024-05-01T09:{:02}:00+02:00", seq % 60),
                   "level": level, "message": format!("line {seq}"), "fields": {"stage": "extract"}})
        })
        .collect();
    json!({ "lines": lines })
}

fn parse<T: serde::de::DeserializeOwned>(status: StatusCode, body: Value) -> T {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn lines_are_stored_once_and_read_back_in_order() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", URL).await;
    let token = gw.token("team-a", "uid-1");
    let path = "/v1/runs/uid-1/logs";

    let (status, body) = gw.post(&token, path, &lines(0..5, "info")).await;
    let stored: LogsStored = parse(status, body);
    assert_eq!((stored.inserted, stored.existing), (5, 0));
    // The same batch again (a retried request), and one overlapping it: nothing twice.
    let (status, body) = gw.post(&token, path, &lines(0..5, "info")).await;
    let stored: LogsStored = parse(status, body);
    assert_eq!((stored.inserted, stored.existing), (0, 5));
    let (status, body) = gw.post(&token, path, &lines(3..8, "warn")).await;
    let stored: LogsStored = parse(status, body);
    assert_eq!((stored.inserted, stored.existing), (3, 2));
    // A second attempt numbers its lines from 0 again.
    let mut second = claims("team-a", "uid-1");
    second.attempt = 2;
    let (status, body) = gw
        .post(&sign(&gw.signing, &second), path, &lines(0..2, "error"))
        .await;
    let stored: LogsStored = parse(status, body);
    assert_eq!(stored.inserted, 2);
    let mut db = gw.admin().await;
    assert_eq!(count(&mut db, "SELECT count(*) FROM run_logs").await, 10);

    // Paging walks every line once, by attempt then seq.
    let key = gw.create_key("team-a", "reader").await.secret;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let (status, body) = gw
            .get(&key, &format!("/v1/analyses/uid-1/logs?limit=3{query}"))
            .await;
        let page: LogPage = parse(status, body);
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|r| (r.attempt, r.line.seq)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<(i32, u64)> = (0..8)
        .map(|seq| (1, seq))
        .chain((0..2).map(|seq| (2, seq)))
        .collect();
    assert_eq!(seen, expected);

    // Stored as sent (the time in UTC), the first write of a seq winning.
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/logs?limit=1").await;
    let page: LogPage = parse(status, body);
    let first = &page.items[0].line;
    assert_eq!(
        (first.at.as_str(), first.level, first.message.as_str()),
        ("2024-05-01T07:00:00.000000Z", LogLevel::Info, "line 0")
    );
    assert_eq!(first.fields, json!({"stage": "extract"}));
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/logs?attempt=1").await;
    let page: LogPage = parse(status, body);
    assert_eq!(
        page.items[3].line.level,
        LogLevel::Info,
        "seq 3 kept its first level"
    );

    // Filters: the attempt, the least level.
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/logs?attempt=2").await;
    let page: LogPage = parse(status, body);
    assert_eq!(page.items.len(), 2);
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/logs?level=warn").await;
    let page: LogPage = parse(status, body);
    let levels: Vec<LogLevel> = page.items.iter().map(|r| r.line.level).collect();
    assert_eq!(
        levels,
        [[LogLevel::Warn; 3].as_slice(), &[LogLevel::Error; 2]].concat()
    );
    for bad in [
        "level=loud",
        "attempt=one",
        "limit=0",
        "cursor=!!",
        "colour=red",
    ] {
        let (status, body) = gw
            .get(&key, &format!("/v1/analyses/uid-1/logs?{bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn oversized_and_malformed_batches_are_refused_by_name() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", URL).await;
    let token = gw.token("team-a", "uid-1");
    let path = "/v1/runs/uid-1/logs";
    // Small enough for the test gateway's 64 KiB body limit, but too many lines (counted
    // before any line is read).
    let too_many: Vec<Value> = (0..=MAX_LOG_LINES as u64)
        .map(|seq| json!({"seq": seq, "at": "", "level": "info", "message": ""}))
        .collect();
    let body = json!({ "lines": too_many });
    assert!(body.to_string().len() < 64 * 1024);
    let (status, body) = gw.post(&token, path, &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    // Over the body limit: 413 from the limit itself.
    let (status, _) = gw.post(&token, path, &lines(0..1000, "info")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A bad line is named.
    let mut batch = lines(0..3, "info");
    batch["lines"][2]["at"] = json!("yesterday");
    let (status, body) = gw.post(&token, path, &batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("lines[2]: at"),
        "{body}"
    );
    let mut batch = lines(0..3, "info");
    batch["lines"][1]["level"] = json!("loud");
    let (status, body) = gw.post(&token, path, &batch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Nothing of the refused batches was stored.
    let mut db = gw.admin().await;
    assert_eq!(count(&mut db, "SELECT count(*) FROM run_logs").await, 0);
    // An analysis that was never started.
    let other = gw.token("team-a", "uid-never");
    let (status, _) = gw
        .post(&other, "/v1/runs/uid-never/logs", &lines(0..1, "info"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_tenant_reads_or_writes_another_tenants_log() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-a", URL).await;
    gw.start_run("team-b", "uid-b", URL).await;
    let token_a = gw.token("team-a", "uid-a");
    let (status, body) = gw
        .post(&token_a, "/v1/runs/uid-a/logs", &lines(0..3, "info"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A runner token for another analysis (of another account, or of the same) is refused.
    let token_b = gw.token("team-b", "uid-b");
    let (status, body) = gw
        .post(&token_b, "/v1/runs/uid-a/logs", &lines(10..12, "error"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let token_a_other = gw.token("team-a", "uid-other");
    let (status, _) = gw
        .post(
            &token_a_other,
            "/v1/runs/uid-a/logs",
            &lines(10..12, "error"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A token naming team-b but the path's analysis id (of team-a): RLS hides uid-a, so the
    // analysis is not found for team-b, and nothing lands in team-a's log.
    let forged = gw.token("team-b", "uid-a");
    let (status, _) = gw
        .post(&forged, "/v1/runs/uid-a/logs", &lines(10..12, "error"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut db = gw.admin().await;
    assert_eq!(count(&mut db, "SELECT count(*) FROM run_logs").await, 3);

    // Another tenant's key sees nothing: 404, exactly like an analysis that does not exist.
    let key_b = gw.create_key("team-b", "reader").await.secret;
    let (status, body) = gw.get(&key_b, "/v1/analyses/uid-a/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, missing) = gw.get(&key_b, "/v1/analyses/uid-missing/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"].as_str().map(|m| m.replace("uid-a", "")),
        missing["message"]
            .as_str()
            .map(|m| m.replace("uid-missing", ""))
    );
    let (status, body) = gw.get(&key_b, "/v1/analyses/uid-b/logs").await;
    let page: LogPage = parse(status, body);
    assert!(page.items.is_empty());
    // Runner tokens are not keys.
    let (status, _) = gw.get(&token_a, "/v1/analyses/uid-a/logs").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // At the database, as the gateway's role with only RLS standing: team-b's transaction
    // sees none of team-a's lines, even without a WHERE on the account.
    let pool = gitview_gateway::db::connect(&gw.pg.url("gateway", "gitview"), 1)
        .await
        .unwrap();
    let account_b: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE name = 'team-b'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let mut tx = gitview_gateway::db::tenant(&pool, account_b).await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM run_logs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, 0);
}

#[tokio::test]
async fn lines_are_read_scrubbed_when_the_accounts_policy_scrubs() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", URL).await;
    let secret = ["AKIA", "IOSFODNN7EXAMPLE"].concat();
    let batch = json!({"lines": [{
        "seq": 0, "at": "2024-05-01T09:00:00+02:00", "level": "warn",
        "message": format!("push by ada@example.com refused with {secret}"),
        "fields": {"author": "ada@example.com", "stage": "extract"},
    }]});
    let (status, body) = gw
        .post(&gw.token("team-a", "uid-1"), "/v1/runs/uid-1/logs", &batch)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = gw.create_key("team-a", "reader").await.secret;
    let read = || async {
        let (status, body) = gw.get(&key, "/v1/analyses/uid-1/logs").await;
        let page: LogPage = parse(status, body);
        page.items[0].line.clone()
    };
    // A new account's policy scrubs.
    let line = read().await;
    let hashed = gitview_core::scrub::hash_email("ada@example.com");
    assert_eq!(
        line.message,
        format!("push by {hashed} refused with [REDACTED:aws-access-key-id]")
    );
    assert_eq!(line.fields["author"], json!(hashed));
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let line = read().await;
    assert_eq!(
        line.message,
        format!("push by ada@example.com refused with {secret}")
    );
}

#[tokio::test]
async fn a_follower_reads_exactly_the_lines_stored_after_its_cursor() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", URL).await;
    let token = gw.token("team-a", "uid-1");
    let key = gw.create_key("team-a", "reader").await.secret;
    let write = |seqs: std::ops::Range<u64>| {
        let (gw, token) = (&gw, &token);
        async move {
            let (status, body) = gw
                .post(token, "/v1/runs/uid-1/logs", &lines(seqs, "info"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    // Reads every page after `cursor` as a follower does: prints the lines, keeps the
    // resume cursor (or the one it had when a page is empty).
    let follow = |mut cursor: Option<String>| {
        let (gw, key) = (&gw, &key);
        async move {
            let mut seen = Vec::new();
            loop {
                let query = cursor
                    .as_ref()
                    .map_or(String::new(), |c| format!("&cursor={c}"));
                let (status, body) = gw
                    .get(key, &format!("/v1/analyses/uid-1/logs?limit=2{query}"))
                    .await;
                let page: LogPage = parse(status, body);
                assert_eq!(
                    page.resume_cursor.is_some(),
                    !page.items.is_empty(),
                    "a resume cursor whenever the page has lines"
                );
                if page.next_cursor.is_some() {
                    assert_eq!(
                        page.next_cursor, page.resume_cursor,
                        "both after the last line"
                    );
                }
                seen.extend(page.items.iter().map(|r| (r.attempt, r.line.seq)));
                if let Some(resume) = page.resume_cursor {
                    cursor = Some(resume);
                }
                if page.next_cursor.is_none() {
                    return (seen, cursor);
                }
            }
        }
    };

    // Nothing yet: an empty page, no cursor either way.
    let (seen, cursor) = follow(None).await;
    assert!(seen.is_empty());
    assert_eq!(cursor, None);
    // Three lines (a full page of two, then a last page of one that still gives a cursor).
    write(0..3).await;
    let (seen, cursor) = follow(cursor).await;
    assert_eq!(seen, [(1, 0), (1, 1), (1, 2)]);
    assert!(cursor.is_some());
    // Nothing new: an empty page, and the follower keeps the cursor it had.
    let (seen, same) = follow(cursor.clone()).await;
    assert!(seen.is_empty());
    assert_eq!(same, cursor);
    // Lines appended later (one of them sent again), then a second attempt's: exactly those.
    write(2..6).await;
    let mut second = claims("team-a", "uid-1");
    second.attempt = 2;
    let (status, body) = gw
        .post(
            &sign(&gw.signing, &second),
            "/v1/runs/uid-1/logs",
            &lines(0..2, "info"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (seen, cursor) = follow(cursor).await;
    assert_eq!(seen, [(1, 3), (1, 4), (1, 5), (2, 0), (2, 1)]);
    let (seen, _) = follow(cursor).await;
    assert!(seen.is_empty(), "none twice");
}
