//! `GET /v1/runs/{analysis}/history/stream` over real HTTP on a throwaway PostgreSQL: the
//! stored history in one NDJSON answer — exactly the commits the paged route answers, in its
//! order, then the line that counts them; scrubbed per policy, per account, for the token's
//! analysis only. A stored row that cannot be answered ends the stream without its last line;
//! a client that goes away ends the read and its transaction.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, count};
use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::{
    CommitBatch, CommitUpload, SCRUBBED_HEADER, StoredCommit, StoredHistoryCount, StoredHistoryEnd,
    StoredHistoryPage,
};
use gitview_core::scrub;
use reqwest::StatusCode;
use serde_json::json;

/// A commit `n` (its id is `n` in hex, repeated) by `email` on January `day` 2024 (an
/// unparsable time, so no committer time, for day 0).
fn record(n: u8, day: u8, email: &str) -> CommitRecord {
    let person = Person {
        name: "someone".into(),
        email: email.into(),
        time: if day == 0 {
            "sometime".to_owned()
        } else {
            format!("2024-01-{day:02}T10:00:00+00:00")
        },
        canonical: None,
    };
    CommitRecord {
        id: format!("{n:02x}").repeat(20),
        parents: vec![],
        author: person.clone(),
        committer: person,
        message: format!("change {n}\n\nbody\n"),
        files: vec![FileStat {
            path: format!("src/{n}.rs"),
            added: Some(1),
            deleted: Some(0),
            status: FileStatus::Modified,
        }],
        renames: vec![],
    }
}

/// Starts `uid` of `account` on `url` and stores `commits`, each enriched with a note naming
/// its author's email.
async fn run(gw: &Gateway, account: &str, uid: &str, url: &str, commits: &[CommitRecord]) {
    gw.start_run(account, uid, url).await;
    let body = serde_json::to_value(CommitBatch {
        batch: 0,
        commits: commits
            .iter()
            .map(|c| CommitUpload {
                record: c.clone(),
                enrichment: json!({"class": "feature", "note": format!("by {}", c.author.email)}),
            })
            .collect(),
    })
    .unwrap();
    let (status, body) = gw
        .post(
            &gw.token(account, uid),
            &format!("/v1/runs/{uid}/commits"),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every page of `uid`'s history from the paged route, 3 at a time.
async fn paged(gw: &Gateway, account: &str, uid: &str) -> Vec<StoredCommit> {
    let (mut commits, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut path = format!("/v1/runs/{uid}/history?limit=3");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = gw.get(&gw.token(account, uid), &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let page: StoredHistoryPage = serde_json::from_value(body).unwrap();
        commits.extend(
            page.commits
                .into_iter()
                .map(|CommitUpload { record, enrichment }| StoredCommit { record, enrichment }),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return commits,
        }
    }
}

/// What a stream answered: its commit lines, its last line if it had one (only ever as the
/// last), and whether the body ended cleanly.
#[derive(Debug)]
struct Streamed {
    commits: Vec<StoredCommit>,
    end: Option<StoredHistoryEnd>,
    clean: bool,
    /// What the `gitview-scrubbed` header said.
    scrubbed: bool,
}

/// Reads `uid`'s stream with `token`, which must be answered 200 with NDJSON.
async fn streamed_with(gw: &Gateway, token: &str, uid: &str) -> Streamed {
    let mut response = gw
        .http
        .get(gw.url(&format!("/v1/runs/{uid}/history/stream")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "{:?}",
        response.headers()
    );
    let scrubbed = match response.headers()[SCRUBBED_HEADER].to_str().unwrap() {
        "true" => true,
        "false" => false,
        other => panic!("{SCRUBBED_HEADER}: {other}"),
    };
    let mut bytes = Vec::new();
    let clean = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    let text = String::from_utf8(bytes).unwrap();
    let mut streamed = Streamed {
        commits: Vec::new(),
        end: None,
        clean,
        scrubbed,
    };
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with('\n'), "a partial line: {line}");
        assert!(streamed.end.is_none(), "a line after the last: {line}");
        match serde_json::from_str::<StoredHistoryEnd>(line) {
            Ok(end) => streamed.end = Some(end),
            Err(_) => streamed.commits.push(serde_json::from_str(line).unwrap()),
        }
    }
    streamed
}

async fn streamed(gw: &Gateway, account: &str, uid: &str) -> Streamed {
    streamed_with(gw, &gw.token(account, uid), uid).await
}

fn ended(commits: u64) -> Option<StoredHistoryEnd> {
    Some(StoredHistoryEnd {
        end: StoredHistoryCount { commits },
    })
}

#[tokio::test]
async fn the_stream_is_the_paged_history_whole_scrubbed_per_account() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/history.git";
    // Days 5, 3, 3 (a tie, broken by id), undated, 1; then 9, 7 from a second run.
    let secret = ["AKIA", "IOSFODNN7EXAMPLE"].concat();
    let mut first = vec![
        record(0x50, 5, "ada@example.com"),
        record(0x32, 3, "Grace@Example.com"),
        record(0x31, 3, "ada@example.com"),
        record(0x70, 0, "ada@example.com"),
        record(0x10, 1, "ada@example.com"),
    ];
    first[1].message = format!("fix: stop logging {secret}\n");
    run(&gw, "team-a", "h-1", url, &first).await;
    let second = [
        record(0x90, 9, "Grace@Example.com"),
        record(0x72, 7, "ada@example.com"),
    ];
    run(&gw, "team-a", "h-2", url, &second).await;
    // Another repository of the account, and the same repository in another account.
    let other = "https://git.example.com/org/other.git";
    run(
        &gw,
        "team-a",
        "h-other",
        other,
        &[record(0x11, 2, "a@x.org")],
    )
    .await;
    run(&gw, "team-b", "b-1", url, &[record(0x12, 2, "b@x.org")]).await;
    let expected = ["10", "31", "32", "50", "72", "90", "70"].map(|n| n.repeat(20));

    // Scrubbed by default (the rows were stored raw): exactly what the pages answer.
    let stream = streamed(&gw, "team-a", "h-2").await;
    assert!(stream.clean && stream.scrubbed);
    assert_eq!(stream.end, ended(7));
    let ids: Vec<&str> = stream
        .commits
        .iter()
        .map(|c| c.record.id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(stream.commits, paged(&gw, "team-a", "h-2").await);
    let grace = &stream.commits[2];
    assert_eq!(
        grace.record.author.email,
        scrub::hash_email("Grace@Example.com")
    );
    assert_eq!(
        grace.record.message,
        "fix: stop logging [REDACTED:aws-access-key-id]\n"
    );
    assert_eq!(
        grace.enrichment["note"],
        format!("by {}", scrub::hash_email("Grace@Example.com"))
    );

    // Passed through as uploaded when the account does not scrub.
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stream = streamed(&gw, "team-a", "h-1").await;
    assert!(!stream.scrubbed, "said to come as stored");
    assert_eq!(stream.end, ended(7));
    assert_eq!(stream.commits, paged(&gw, "team-a", "h-1").await);
    let mut uploaded: Vec<CommitRecord> = first.iter().chain(&second).cloned().collect();
    uploaded.sort_by_key(|c| expected.iter().position(|id| *id == c.id));
    assert_eq!(
        stream
            .commits
            .iter()
            .map(|c| c.record.clone())
            .collect::<Vec<_>>(),
        uploaded
    );
    assert_eq!(
        stream.commits[2].enrichment,
        json!({"class": "feature", "note": "by Grace@Example.com"})
    );

    // Each run sees its own repository in its own account.
    let stream = streamed(&gw, "team-a", "h-other").await;
    assert_eq!(stream.end, ended(1));
    assert_eq!(stream.commits[0].record.id, "11".repeat(20));
    let stream = streamed(&gw, "team-b", "b-1").await;
    assert_eq!(stream.end, ended(1));
    assert_eq!(stream.commits[0].record.id, "12".repeat(20));

    // A token of another account naming this analysis finds no such run; a token of another
    // analysis is refused; API keys and no credential are not runner tokens. Each in the one
    // error shape, before any line.
    let path = "/v1/runs/h-2/history/stream";
    let key = gw.create_key("team-a", "reader").await.secret;
    for (credential, status) in [
        (gw.token("team-b", "h-2"), StatusCode::NOT_FOUND),
        (gw.token("team-a", "h-1"), StatusCode::FORBIDDEN),
        (key, StatusCode::UNAUTHORIZED),
    ] {
        let (got, body) = gw.get(&credential, path).await;
        assert_eq!(got, status, "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
    let response = gw.http.get(gw.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_row_that_cannot_be_answered_ends_the_stream_without_its_last_line() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/broken.git";
    let commits: Vec<CommitRecord> = (1..=5).map(|n| record(n, n, "ada@example.com")).collect();
    run(&gw, "team-a", "broken", url, &commits).await;
    let whole = streamed(&gw, "team-a", "broken").await;
    assert_eq!((whole.end, whole.clean), (ended(5), true));
    // The fourth commit's stored record is no commit record (as the superuser; the gateway
    // never stores one): scrubbing has to parse it, and cannot.
    sqlx::query("UPDATE commits SET record = '{\"not\": \"a record\"}' WHERE id = $1")
        .bind(&commits[3].id)
        .execute(&mut gw.admin().await)
        .await
        .unwrap();
    let cut = streamed(&gw, "team-a", "broken").await;
    assert_eq!(cut.end, None, "{cut:?}");
    assert!(
        !cut.clean,
        "the body ends in an error, not as a whole answer"
    );
    assert!(cut.commits.len() <= 3);
    assert_eq!(cut.commits[..], whole.commits[..cut.commits.len()]);
}

/// Whether a backend of the gateway's role still holds the stream's read (running it, or idle
/// in its transaction).
async fn reading(admin: &mut sqlx::PgConnection) -> i64 {
    count(
        admin,
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'gateway' \
         AND state <> 'idle' AND query LIKE 'SELECT c.record::text%'",
    )
    .await
}

#[tokio::test]
async fn a_large_history_streams_in_chunks_and_a_client_that_leaves_ends_the_read() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/large.git";
    gw.start_run("team-a", "large", url).await;
    // 20,000 commits of about 2 KiB each (as the superuser: faster than batches), far more
    // than the socket's buffers and the chunks read ahead hold.
    sqlx::query(
        "INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name,
             author_email, committer_name, committer_email, committed_at, message, lines_added,
             lines_deleted, files_changed, enrichment, record)
         SELECT a.account_id, a.repository_id, lpad(to_hex(n), 40, '0'), a.id, '{}', 'ada',
             'ada@example.com', 'ada', 'ada@example.com',
             timestamptz '2024-01-01' + make_interval(mins => n), repeat('x', 2000), 1, 0, 0,
             '{\"class\": \"feature\"}',
             jsonb_build_object('id', lpad(to_hex(n), 40, '0'), 'parents', '[]'::jsonb,
                 'author', jsonb_build_object('name', 'ada', 'email', 'ada@example.com',
                     'time', '2024-01-01T00:00:00Z'),
                 'committer', jsonb_build_object('name', 'ada', 'email', 'ada@example.com',
                     'time', '2024-01-01T00:00:00Z'),
                 'message', repeat('x', 2000), 'files', '[]'::jsonb, 'renames', '[]'::jsonb)
         FROM analyses a, generate_series(1, 20000) n WHERE a.id = 'large'",
    )
    .execute(&mut gw.admin().await)
    .await
    .unwrap();
    let oldest_first = |stream: &Streamed| {
        let ids: Vec<String> = stream.commits.iter().map(|c| c.record.id.clone()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "oldest first");
        assert_eq!((stream.end, stream.clean), (ended(20_000), true));
    };
    // Scrubbed (in batches, several at once): still every commit, in order.
    let scrubbed = streamed(&gw, "team-a", "large").await;
    oldest_first(&scrubbed);
    assert!(
        scrubbed
            .commits
            .iter()
            .all(|c| c.record.author.email == scrub::hash_email("ada@example.com"))
    );
    // Passed through.
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let whole = streamed(&gw, "team-a", "large").await;
    oldest_first(&whole);
    assert_eq!(whole.commits[0].record.author.email, "ada@example.com");
    assert_eq!(whole.commits[0].record.message.len(), 2000);

    // A client that reads one chunk and leaves.
    let mut response = gw
        .http
        .get(gw.url("/v1/runs/large/history/stream"))
        .bearer_auth(gw.token("team-a", "large"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.chunk().await.unwrap().is_some());
    let mut admin = gw.admin().await;
    assert_eq!(
        reading(&mut admin).await,
        1,
        "the read holds its transaction"
    );
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reading(&mut admin).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the read outlived its client by 30 s"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_row_stored_clean_is_passed_through_until_the_scrub_rules_change() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/clean.git";
    // What a runner of a scrubbing account uploads: scrubbed records. And one raw commit.
    let mut commits: Vec<CommitRecord> = (1..=4).map(|n| record(n, n, "ada@example.com")).collect();
    for commit in &mut commits[..3] {
        scrub::scrub_record(commit);
    }
    run(&gw, "team-a", "clean-1", url, &commits).await;
    let mut admin = gw.admin().await;
    let marked: Vec<(String, Option<i32>)> =
        sqlx::query_as("SELECT id, clean_under FROM commits ORDER BY id")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    let version = Some(scrub::RULES_VERSION);
    assert_eq!(
        marked,
        commits
            .iter()
            .zip([version, version, version, None])
            .map(|(c, v)| (c.id.clone(), v))
            .collect::<Vec<_>>(),
        "the scrubbed commits are stored clean, the raw one is not"
    );
    let stream = streamed(&gw, "team-a", "clean-1").await;
    assert_eq!(stream.end, ended(4));
    assert_eq!(stream.commits, paged(&gw, "team-a", "clean-1").await);
    let mut scrubbed = commits.clone();
    scrub::scrub_record(&mut scrubbed[3]);
    assert_eq!(
        stream
            .commits
            .iter()
            .map(|c| c.record.clone())
            .collect::<Vec<_>>(),
        scrubbed
    );

    // A row marked clean is passed through as stored, unscrubbed: a raw email planted in it
    // (as the superuser; the gateway never marks such a row) comes back as it is...
    sqlx::query(
        "UPDATE commits SET record = jsonb_set(record, '{message}', '\"by grace@example.com\"') \
         WHERE id = $1",
    )
    .bind(&commits[0].id)
    .execute(&mut admin)
    .await
    .unwrap();
    for answer in [
        streamed(&gw, "team-a", "clean-1").await.commits,
        paged(&gw, "team-a", "clean-1").await,
    ] {
        assert_eq!(answer[0].record.message, "by grace@example.com");
    }
    // ...until it was marked under other rules than today's: then it is scrubbed again.
    sqlx::query("UPDATE commits SET clean_under = $2 WHERE id = $1")
        .bind(&commits[0].id)
        .bind(scrub::RULES_VERSION - 1)
        .execute(&mut admin)
        .await
        .unwrap();
    let hashed = format!("by {}", scrub::hash_email("grace@example.com"));
    for answer in [
        streamed(&gw, "team-a", "clean-1").await.commits,
        paged(&gw, "team-a", "clean-1").await,
    ] {
        assert_eq!(answer[0].record.message, hashed);
        assert_eq!(answer[1..], stream.commits[1..]);
    }

    // An account that does not scrub has its rows stored unchecked; scrubbed on read once
    // its policy scrubs.
    let (status, body) = gw.set_policy("team-b", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run(&gw, "team-b", "b-clean", url, &commits[3..]).await;
    let unchecked: i64 = count(
        &mut admin,
        "SELECT count(*) FROM commits c JOIN accounts a ON a.id = c.account_id \
         WHERE a.name = 'team-b' AND c.clean_under IS NULL",
    )
    .await;
    assert_eq!(unchecked, 1);
    let stream = streamed(&gw, "team-b", "b-clean").await;
    assert_eq!(stream.commits[0].record, commits[3], "as uploaded");
    let (status, body) = gw.set_policy("team-b", &json!({"scrubPii": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stream = streamed(&gw, "team-b", "b-clean").await;
    assert_eq!(stream.commits[0].record, scrubbed[3]);
}
