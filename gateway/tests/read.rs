//! The read API over real HTTP against a throwaway PostgreSQL: what a run wrote reads back
//! through an API key, pages walk every row exactly once, bad parameters and credentials are
//! refused by name, and no route shows one tenant anything of another's — through the gateway,
//! and at the database as the gateway's role with only row-level security standing.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::collections::HashSet;

use common::{ADMIN_TOKEN, Gateway, batch, commit, count};
use gitview_core::records::CommitRecord;
use gitview_core::results::{AnalysisDetail, AnalysisPage, CommitPage, ProgressPage, RunStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

/// Runs `uid` for `account` through the runner API: three commits (one by grace, touching
/// `docs/`), phases, story, timeline, two progress events, a successful finish.
async fn full_run(gw: &Gateway, account: &str, uid: &str, url: &str) -> Vec<CommitRecord> {
    gw.start_run(account, uid, url).await;
    let token = gw.token(account, uid);
    let c1 = commit(1, &[]);
    let c2 = commit(2, std::slice::from_ref(&c1.id));
    let mut c3 = commit(3, std::slice::from_ref(&c2.id));
    c3.author.name = "grace".into();
    c3.author.email = "Grace@Example.com".into();
    c3.files[0].path = "docs/guide.md".into();
    let (status, body) = gw
        .post(
            &token,
            &format!("/v1/runs/{uid}/commits"),
            &batch(0, &[c1.clone(), c2.clone(), c3.clone()]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for done in [1, 3] {
        let (status, _) = gw
            .post(
                &token,
                &format!("/v1/runs/{uid}/progress"),
                &json!({"stage": "extract", "done": done, "total": 3, "elapsedMs": 5}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let put = |path: String, content_type: &'static str, body: Vec<u8>| {
        gw.http
            .put(gw.url(&path))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (path, content_type, body) in [
        (
            format!("/v1/runs/{uid}/phases"),
            "application/json",
            br#"[{"number": 1, "title": "Start"}, {"number": 2, "title": "Growth"}]"#.to_vec(),
        ),
        (
            format!("/v1/runs/{uid}/artifacts/story.md"),
            "text/markdown",
            format!("# The story of {account}\n").into_bytes(),
        ),
        (
            format!("/v1/runs/{uid}/artifacts/timeline.json"),
            "application/json",
            br#"{"events": [1, 2, 3]}"#.to_vec(),
        ),
    ] {
        let response = put(path, content_type, body).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let finish = json!({"status": "succeeded", "fromCommit": c1.id, "toCommit": c3.id, "commitsAnalyzed": 3,
                        "metrics": {"commits": 3}, "modelVersions": {"summarizer": "v1"},
                        "advance": {"expected": null, "to": c3.id}});
    let (status, body) = gw
        .post(&token, &format!("/v1/runs/{uid}/finish"), &finish)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    vec![c1, c2, c3]
}

fn parse<T: serde::de::DeserializeOwned>(status: StatusCode, body: Value) -> T {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn a_run_reads_back_through_an_api_key() {
    let gw = Gateway::start().await;
    let commits = full_run(
        &gw,
        "team-a",
        "uid-1",
        "https://git.example.com/org/repo.git",
    )
    .await;
    let key = gw.create_key("team-a", "reader").await.secret;
    // As stored: the account does not scrub on read (tests/policy.rs covers scrubbing).
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = gw.get(&key, "/v1/analyses").await;
    let page: AnalysisPage = parse(status, body);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor, None);
    let summary = &page.items[0];
    assert_eq!(
        (
            summary.id.as_str(),
            summary.status,
            summary.commits_analyzed
        ),
        ("uid-1", RunStatus::Succeeded, 3)
    );
    assert_eq!(summary.repository.url, "https://git.example.com/org/repo");
    assert_eq!(
        summary.repository.last_analyzed_commit.as_deref(),
        Some(commits[2].id.as_str())
    );
    assert!(summary.finished_at.is_some());
    assert!(summary.created_at.ends_with('Z'), "{}", summary.created_at);

    let (status, body) = gw.get(&key, "/v1/analyses/uid-1").await;
    let detail: AnalysisDetail = parse(status, body);
    assert_eq!(detail.summary, *summary);
    assert_eq!(detail.story.as_deref(), Some("# The story of team-a\n"));
    assert_eq!(detail.timeline, Some(json!({"events": [1, 2, 3]})));
    assert_eq!(
        detail.phases,
        vec![
            json!({"number": 1, "title": "Start"}),
            json!({"number": 2, "title": "Growth"})
        ]
    );
    assert_eq!(detail.metrics, json!({"commits": 3}));
    assert_eq!(detail.model_versions, json!({"summarizer": "v1"}));
    assert_eq!(detail.config, json!({"profile": "default"}));
    assert_eq!(
        (
            detail.summary.from_commit.as_deref(),
            detail.summary.to_commit.as_deref()
        ),
        (Some(commits[0].id.as_str()), Some(commits[2].id.as_str()))
    );
    let names: Vec<&str> = detail.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["story.md", "timeline.json"]);
    assert_eq!(detail.artifacts[0].media_type, "text/markdown");

    // Commits: newest first, as stored, with their files.
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/commits").await;
    let page: CommitPage = parse(status, body);
    let ids: Vec<&str> = page.items.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, [&commits[2].id, &commits[1].id, &commits[0].id]);
    assert_eq!(page.items[0].record, commits[2]);
    assert_eq!(page.items[0].enrichment, json!({"class": "feature"}));
    assert_eq!(
        (page.items[0].lines_added, page.items[0].lines_deleted),
        (4, 1)
    );
    // Filters: author (name, or email in any case), path (a file or a directory), time.
    for (query, expected) in [
        ("author=grace", vec![&commits[2].id]),
        ("author=grace%40example.com", vec![&commits[2].id]),
        ("author=ada", vec![&commits[1].id, &commits[0].id]),
        ("path=docs", vec![&commits[2].id]),
        ("path=docs/guide.md", vec![&commits[2].id]),
        ("path=doc", vec![]),
        ("path=src/1.rs", vec![&commits[0].id]),
        (
            "path=logo.png",
            vec![&commits[2].id, &commits[1].id, &commits[0].id],
        ),
        // c1 is committed 2024-01-02T08:00Z, c2 01-03, c3 01-04.
        (
            "since=2024-01-03T08:00:00Z",
            vec![&commits[2].id, &commits[1].id],
        ),
        ("until=2024-01-03T08:00:00Z", vec![&commits[0].id]),
        (
            "since=2024-01-03T00:00:00Z&until=2024-01-04T00:00:00Z&author=ada",
            vec![&commits[1].id],
        ),
    ] {
        let (status, body) = gw
            .get(&key, &format!("/v1/analyses/uid-1/commits?{query}"))
            .await;
        let page: CommitPage = parse(status, body);
        let ids: Vec<&String> = page.items.iter().map(|c| &c.record.id).collect();
        assert_eq!(ids, expected, "{query}");
    }
    // One commit per page.
    let mut walked = Vec::new();
    let mut path = "/v1/analyses/uid-1/commits?limit=1".to_owned();
    loop {
        let (status, body) = gw.get(&key, &path).await;
        let page: CommitPage = parse(status, body);
        walked.extend(page.items.into_iter().map(|c| c.record.id));
        match page.next_cursor {
            Some(cursor) => path = format!("/v1/analyses/uid-1/commits?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, [&*commits[2].id, &commits[1].id, &commits[0].id]);

    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/progress").await;
    let page: ProgressPage = parse(status, body);
    let done: Vec<u64> = page.items.iter().map(|p| p.event.done).collect();
    assert_eq!(done, [1, 3], "oldest first");
    assert!(
        page.items.iter().all(|p| p.attempt == Some(1)),
        "each event names its runner token's attempt: {page:?}"
    );
    let (status, body) = gw.get(&key, "/v1/analyses/uid-1/progress?limit=1").await;
    let first: ProgressPage = parse(status, body);
    let cursor = first.next_cursor.expect("a second page");
    let (status, body) = gw
        .get(
            &key,
            &format!("/v1/analyses/uid-1/progress?limit=1&cursor={cursor}"),
        )
        .await;
    let second: ProgressPage = parse(status, body);
    assert_eq!(
        (
            second.items.len(),
            second.items[0].event.done,
            second.next_cursor
        ),
        (1, 3, None)
    );

    let (status, body) = gw.get(&key, "/v1/analyses/uid-404").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn a_key_works_until_it_is_revoked() {
    let gw = Gateway::start().await;
    let created = gw.create_key("team-a", "short-lived").await;
    let (status, body) = gw.get(&created.secret, "/v1/analyses").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = gw
        .http
        .delete(gw.url(&format!(
            "/v1/admin/accounts/team-a/keys/{}",
            created.key.id
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = gw.get(&created.secret, "/v1/analyses").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_credentials_are_refused_on_read_routes() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://h/r").await;
    let unknown = format!("gvk_{}_{}", "0".repeat(16), "0".repeat(64));
    let cases = [
        (None, "missing Authorization"),
        (Some("gvk_short".to_owned()), "malformed"),
        (Some(format!("{unknown}0")), "malformed"),
        (Some(unknown), "unknown or revoked"),
        (
            Some(gw.token("team-a", "uid-1")),
            "runner tokens are not accepted",
        ),
        (Some(ADMIN_TOKEN.to_owned()), "takes an API key"),
    ];
    for path in [
        "/v1/analyses",
        "/v1/analyses/uid-1",
        "/v1/analyses/uid-1/commits",
        "/v1/analyses/uid-1/progress",
    ] {
        for (credential, message) in &cases {
            let mut request = gw.http.get(gw.url(path));
            if let Some(credential) = credential {
                request = request.bearer_auth(credential);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {message}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "unauthorized");
            assert!(
                body["message"].as_str().unwrap().contains(message),
                "{path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn bad_query_parameters_get_a_400_naming_the_parameter() {
    let gw = Gateway::start().await;
    full_run(&gw, "team-a", "uid-1", "https://h/r").await;
    let key = gw.create_key("team-a", "k").await.secret;
    let (_, body) = gw.get(&key, "/v1/analyses/uid-1/commits?limit=1").await;
    let commits_cursor = body["nextCursor"].as_str().unwrap().to_owned();
    let cases = [
        ("/v1/analyses?limit=0", "limit"),
        ("/v1/analyses?limit=501", "limit"),
        ("/v1/analyses?limit=ten", "limit"),
        ("/v1/analyses?status=done", "status"),
        ("/v1/analyses?since=yesterday", "since"),
        ("/v1/analyses?until=2024-01-01", "until"),
        (
            "/v1/analyses?since=2024-02-01T00:00:00Z&until=2024-01-01T00:00:00Z",
            "since",
        ),
        ("/v1/analyses?cursor=%21%21", "cursor"),
        (&format!("/v1/analyses?cursor={commits_cursor}"), "cursor"),
        ("/v1/analyses?repository=nohost", "repository"),
        ("/v1/analyses?colour=blue", "colour"),
        ("/v1/analyses?limit=1&limit=2", "limit"),
        ("/v1/analyses/uid-1/commits?author=", "author"),
        ("/v1/analyses/uid-1/commits?path=%2F", "path"),
        ("/v1/analyses/uid-1/commits?limit=9999", "limit"),
        ("/v1/analyses/uid-1/commits?since=soon", "since"),
        ("/v1/analyses/uid-1/commits?cursor=bm9wZQ", "cursor"),
        ("/v1/analyses/uid-1/progress?cursor=bm9wZQ", "cursor"),
        ("/v1/analyses/uid-1/progress?stage=x", "stage"),
    ];
    for (path, parameter) in cases {
        let (status, body) = gw.get(&key, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "bad_request");
        assert!(
            body["message"].as_str().unwrap().contains(parameter),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn pages_walk_every_analysis_exactly_once_in_order() {
    let gw = Gateway::start().await;
    let gw = &gw;
    let a = gw.start_run("team-a", "uid-a-0", "https://h/a").await;
    gw.start_run("team-a", "uid-other-0", "https://h/other")
        .await;
    gw.start_run("team-b", "uid-b-0", "https://h/a").await;
    let mut admin = gw.admin().await;
    // 300 analyses of one repository with many equal creation times (the id breaks ties),
    // every third failed; 50 of another repository; 50 of another tenant.
    sqlx::raw_sql(
        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, created_at)
         SELECT 'uid-a-' || i, r.account_id, r.id, 'team', 'an-' || i, 1, 'Full',
                CASE WHEN i % 3 = 0 THEN 'failed' ELSE 'succeeded' END,
                timestamptz '2024-01-01 00:00:00+00' + (i % 40) * interval '1 hour' + interval '1 microsecond'
         FROM generate_series(1, 299) AS i, repositories r WHERE r.url = 'https://h/a' AND r.account_id =
           (SELECT id FROM accounts WHERE name = 'team-a');
         INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, created_at)
         SELECT 'uid-other-' || i, r.account_id, r.id, 'team', 'o-' || i, 1, 'Full', 'succeeded',
                timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
         FROM generate_series(1, 49) AS i, repositories r WHERE r.url = 'https://h/other';
         INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, created_at)
         SELECT 'uid-b-' || i, r.account_id, r.id, 'team', 'b-' || i, 1, 'Full', 'succeeded',
                timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
         FROM generate_series(1, 49) AS i, repositories r WHERE r.account_id =
           (SELECT id FROM accounts WHERE name = 'team-b');",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let key = gw.create_key("team-a", "walker").await.secret;

    let expected = |filter: &'static str| {
        let sql = format!(
            "SELECT a.id FROM analyses a JOIN accounts c ON c.id = a.account_id
             JOIN repositories r ON r.id = a.repository_id
             WHERE c.name = 'team-a' {filter} ORDER BY a.created_at DESC, a.id DESC"
        );
        async move {
            let mut admin = gw.admin().await;
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut admin)
                .await
                .unwrap()
        }
    };
    let walk = |query: String, limit: usize| {
        let key = &key;
        async move {
            let mut ids = Vec::new();
            let mut pages = 0;
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(cursor) => format!("/v1/analyses?{query}&limit={limit}&cursor={cursor}"),
                    None => format!("/v1/analyses?{query}&limit={limit}"),
                };
                let (status, body) = gw.get(key, &path).await;
                let page: AnalysisPage = parse(status, body);
                assert!(page.items.len() <= limit);
                ids.extend(page.items.into_iter().map(|a| a.id));
                pages += 1;
                if pages == 1 {
                    // Newer analyses arriving mid-walk sort before the cursor: not seen,
                    // and they shift nothing.
                    let mut admin = gw.admin().await;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status)
                         SELECT 'late-{pages}-{limit}-' || md5(random()::text), account_id, id, 't', 'n', 1, 'Full', 'failed'
                         FROM repositories WHERE url = 'https://h/a'"
                    )))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            ids
        }
    };

    let before_walk = expected("").await;
    let all = walk("since=2000-01-01T00:00:00Z".to_owned(), 7).await;
    assert_eq!(all.len(), 350, "300 + 50 of team-a, none of team-b");
    assert_eq!(all, before_walk, "newest first, each exactly once");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());

    let failed = walk(
        format!(
            "repository={}&status=failed&until=2024-01-03T00:00:00Z",
            a.fingerprint
        ),
        13,
    )
    .await;
    let expected_failed = expected(
        "AND r.url = 'https://h/a' AND a.status = 'failed' AND a.created_at < '2024-01-03T00:00:00Z'",
    )
    .await;
    assert_eq!(failed.len(), 99, "uid-a-3, -6, … -297 (uid-a-0 is running)");
    assert_eq!(failed, expected_failed);

    let by_url = walk("repository=https%3A%2F%2FH%2Fother.git".to_owned(), 500).await;
    assert_eq!(
        by_url.len(),
        50,
        "a URL in another spelling names the same repository"
    );
    assert!(by_url.iter().all(|id| id.starts_with("uid-other-")));

    let (status, body) = gw.get(&key, "/v1/analyses").await;
    let first: AnalysisPage = parse(status, body);
    assert_eq!(first.items.len(), 50, "the default page");
    let (status, body) = gw
        .get(&key, "/v1/analyses?repository=https%3A%2F%2Fh%2Fnone")
        .await;
    let none: AnalysisPage = parse(status, body);
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

#[tokio::test]
async fn no_read_route_shows_another_tenant_anything() {
    let gw = Gateway::start().await;
    let a_commits = full_run(&gw, "team-a", "uid-a", "https://h/shared").await;
    full_run(&gw, "team-b", "uid-b", "https://h/shared").await;
    let a_key = gw.create_key("team-a", "a").await.secret;
    let b_key = gw.create_key("team-b", "b").await.secret;

    // Through the gateway: B's key sees B's analysis only, and A's is "not found".
    let (status, body) = gw.get(&b_key, "/v1/analyses").await;
    let page: AnalysisPage = parse(status, body);
    let ids: Vec<&str> = page.items.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["uid-b"]);
    let fingerprint = page.items[0].repository.fingerprint.clone();
    let (status, body) = gw
        .get(
            &b_key,
            &format!("/v1/analyses?repository={fingerprint}&limit=500"),
        )
        .await;
    let page: AnalysisPage = parse(status, body);
    assert_eq!(page.items.len(), 1, "the same repository URL is B's own");
    for path in [
        "/v1/analyses/uid-a",
        "/v1/analyses/uid-a/commits",
        "/v1/analyses/uid-a/commits?author=grace",
        "/v1/analyses/uid-a/progress",
        "/v1/analyses/uid-a/artifacts/story.md",
        "/v1/analyses/uid-a/slice",
        "/v1/analyses/uid-a/slice?path=docs",
    ] {
        let (status, body) = gw.get(&b_key, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let (missing_status, missing) = gw.get(&b_key, &path.replace("uid-a", "uid-zz")).await;
        assert_eq!(missing_status, StatusCode::NOT_FOUND);
        assert_eq!(
            body["message"].as_str().unwrap().replace("uid-a", "uid-zz"),
            missing["message"].as_str().unwrap(),
            "another tenant's analysis reads exactly like a missing one"
        );
        let (status, _) = gw.get(&a_key, path).await;
        assert_eq!(status, StatusCode::OK, "{path} is A's");
    }
    // B's commits are B's rows, even where the commit ids are A's too.
    let (status, body) = gw.get(&b_key, "/v1/analyses/uid-b/commits").await;
    let page: CommitPage = parse(status, body);
    assert_eq!(page.items.len(), a_commits.len());
    let (status, body) = gw.get(&b_key, "/v1/analyses/uid-b").await;
    let detail: AnalysisDetail = parse(status, body);
    assert_eq!(detail.story.as_deref(), Some("# The story of team-b\n"));

    // Below the gateway: as its role, account B set, only RLS between B and A's rows.
    let mut app = sqlx::PgConnection::connect(&gw.pg.url("gateway", "gitview"))
        .await
        .unwrap();
    let (a, b): (i64, i64) =
        sqlx::query_as("SELECT gitview_account_id('team-a'), gitview_account_id('team-b')")
            .fetch_one(&mut app)
            .await
            .unwrap();
    let tables = [
        "accounts",
        "api_keys",
        "repositories",
        "analyses",
        "commits",
        "commit_files",
        "commit_batches",
        "phases",
        "artifacts",
        "progress_events",
        "audit_log",
    ];
    let mut admin = gw.admin().await;
    for table in tables {
        let column = if table == "accounts" {
            "id"
        } else {
            "account_id"
        };
        let a_rows = count(
            &mut admin,
            &format!("SELECT count(*) FROM {table} WHERE {column} = {a}"),
        )
        .await;
        assert!(a_rows > 0, "A has rows in {table} to hide");
        for setting in [Some(b), None] {
            let mut tx = app.begin().await.unwrap();
            if let Some(account) = setting {
                sqlx::query("SELECT set_config('gitview.account_id', $1, true)")
                    .bind(account.to_string())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            let seen: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table} WHERE {column} = $1"
            )))
            .bind(a)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(seen, 0, "{table} shows A's rows to account {setting:?}");
            let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table} WHERE {column} IS DISTINCT FROM $1"
            )))
            .bind(setting)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(
                foreign, 0,
                "{table} shows another tenant's rows to {setting:?}"
            );
            tx.rollback().await.unwrap();
        }
    }
    // The read queries themselves, run as the gateway's role for B without their account
    // filter: RLS alone returns nothing of A's.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('gitview.account_id', $1, true)")
        .bind(b.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    for sql in [
        "SELECT count(*) FROM analyses WHERE id = 'uid-a'",
        "SELECT count(*) FROM commits WHERE analysis_id = 'uid-a'",
        "SELECT count(*) FROM progress_events WHERE analysis_id = 'uid-a'",
        "SELECT count(*) FROM phases WHERE analysis_id = 'uid-a'",
        "SELECT count(*) FROM artifacts WHERE analysis_id = 'uid-a'",
        "SELECT count(*) FROM api_keys WHERE name = 'a'",
    ] {
        let seen: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen, 0, "{sql}");
    }
    tx.rollback().await.unwrap();
}
