//! The gateway over real HTTP on 127.0.0.1 against a throwaway PostgreSQL (one cluster per
//! test, started with initdb/postgres), connected as a role whose only rights are
//! `gitview_app`'s: row-level security is what keeps tenants apart below the gateway.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, batch, claims, commit, count, key_pair, sign, start_body};
use gitview_core::results::{BatchStored, ErrorBody};
use gitview_gateway::db;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection as _;

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_without_effect() {
    let gw = Gateway::start().await;
    let owner = db::connect(&gw.pg.url("gitview_owner", "gitview"), 2)
        .await
        .unwrap();
    db::migrate(&owner).await.expect("a second run is a no-op");
    let mut admin = gw.admin().await;
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM _sqlx_migrations").await,
        i64::try_from(db::MIGRATOR.iter().count()).unwrap()
    );
    let bypass: bool =
        sqlx::query_scalar("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'gitview_app'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!bypass, "the gateway's role must not bypass RLS");
    let unprotected: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
           AND relname <> '_sqlx_migrations' AND NOT relrowsecurity",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tables without RLS: {unprotected:?}"
    );
}

#[tokio::test]
async fn a_run_is_written_once_even_when_retried() {
    let gw = Gateway::start().await;
    let started = gw
        .start_run("team-a", "uid-1", "https://Git.Example.com/org/repo.git")
        .await;
    assert_eq!(started.last_analyzed_commit, None);
    assert_eq!(
        started.fingerprint,
        gitview_core::remote::fingerprint("https://git.example.com/org/repo", "main").unwrap()
    );
    let token = gw.token("team-a", "uid-1");
    let c1 = commit(1, &[]);
    let c2 = commit(2, std::slice::from_ref(&c1.id));
    let c3 = commit(3, std::slice::from_ref(&c2.id));

    let (status, first) = gw
        .post(
            &token,
            "/v1/runs/uid-1/commits",
            &batch(0, &[c2.clone(), c1.clone()]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        serde_json::from_value::<BatchStored>(first.clone()).unwrap(),
        BatchStored {
            inserted: 2,
            existing: 0
        }
    );
    // The same batch again (a retried request): the same answer, nothing written twice.
    let (status, again) = gw
        .post(
            &token,
            "/v1/runs/uid-1/commits",
            &batch(0, &[c2.clone(), c1.clone()]),
        )
        .await;
    assert_eq!((status, again), (StatusCode::OK, first));
    // A retried attempt re-sends known commits in a new batch: they count as existing.
    let (_, overlap) = gw
        .post(
            &token,
            "/v1/runs/uid-1/commits",
            &batch(1, &[c3.clone(), c2.clone()]),
        )
        .await;
    assert_eq!(
        serde_json::from_value::<BatchStored>(overlap).unwrap(),
        BatchStored {
            inserted: 1,
            existing: 1
        }
    );

    let mut admin = gw.admin().await;
    assert_eq!(count(&mut admin, "SELECT count(*) FROM commits").await, 3);
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM commit_files").await,
        6
    );
    let (added, binary): (i64, i64) = sqlx::query_as(
        "SELECT sum(added)::bigint, count(*) FILTER (WHERE added IS NULL) FROM commit_files",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        (added, binary),
        (2 + 3 + 4, 3),
        "numstat counts and binary files survive"
    );
    let authored: i64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM authored_at)::bigint FROM commits WHERE id = $1",
    )
    .bind(&c1.id)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        authored,
        "2024-01-02T10:00:00+02:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    );

    // Phases, an artifact, progress, and the finish that advances the repository.
    let (status, _) = gw
        .post(
            &token,
            "/v1/runs/uid-1/progress",
            &json!({"stage": "extract", "done": 3, "total": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = gw
        .http
        .put(gw.url("/v1/runs/uid-1/phases"))
        .bearer_auth(&token)
        .json(&json!([{"number": 1, "summary": "first"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = gw
        .http
        .put(gw.url("/v1/runs/uid-1/artifacts/story.md"))
        .bearer_auth(&token)
        .header("content-type", "text/markdown")
        .body("# Story\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let finish = json!({"status": "succeeded", "fromCommit": null, "toCommit": c3.id, "commitsAnalyzed": 3,
                        "metrics": {"commits": 3}, "advance": {"expected": null, "to": c3.id}});
    let (status, body) = gw.post(&token, "/v1/runs/uid-1/finish", &finish).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lastAnalyzedCommit"], c3.id.as_str());
    let (story, status_text): (Vec<u8>, String) = sqlx::query_as(
        "SELECT a.content, an.status FROM artifacts a JOIN analyses an ON an.id = a.analysis_id WHERE a.name = 'story.md'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        (story.as_slice(), status_text.as_str()),
        (&b"# Story\n"[..], "succeeded")
    );
    assert!(
        count(&mut admin, "SELECT count(*) FROM audit_log").await >= 6,
        "every mutation is audited"
    );

    // The next run of the repository starts where this one ended, whichever spelling and
    // transport it reaches the remote by; another host's is another repository.
    for (uid, url) in [
        ("uid-2", "https://git.example.com/org/repo/"),
        ("uid-3", "git@git.example.com:org/repo.git"),
    ] {
        let next = gw.start_run("team-a", uid, url).await;
        assert_eq!(
            next.last_analyzed_commit.as_deref(),
            Some(c3.id.as_str()),
            "{url}"
        );
    }
    let other = gw
        .start_run("team-a", "uid-4", "https://git2.example.com/org/repo")
        .await;
    assert_eq!(other.last_analyzed_commit, None);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_clear_message() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://h/r").await;
    let path = "/v1/runs/uid-1/progress";
    let body = json!({"stage": "extract", "done": 1, "total": 2});
    let (other_key, _) = key_pair(9);
    let expired = {
        let mut c = claims("team-a", "uid-1");
        c.exp = c.iat - 3600;
        sign(&gw.signing, &c)
    };
    let wrong_audience = {
        let mut c = claims("team-a", "uid-1");
        c.aud = "somebody-else".into();
        sign(&gw.signing, &c)
    };
    let no_scope = {
        let mut c = claims("team-a", "uid-1");
        c.scope = vec!["analysis:read".into()];
        sign(&gw.signing, &c)
    };
    let cases = [
        (
            "not-a-jwt".to_owned(),
            StatusCode::UNAUTHORIZED,
            "not a JWT",
        ),
        (expired, StatusCode::UNAUTHORIZED, "expired"),
        (
            sign(&other_key, &claims("team-a", "uid-1")),
            StatusCode::UNAUTHORIZED,
            "signature",
        ),
        (wrong_audience, StatusCode::UNAUTHORIZED, "audience"),
        (no_scope, StatusCode::FORBIDDEN, "analysis:write"),
        (
            gw.token("team-a", "uid-2"),
            StatusCode::FORBIDDEN,
            "another analysis",
        ),
    ];
    for (token, status, message) in cases {
        let response = gw
            .http
            .post(gw.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{message}");
        let request_id = response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let error: ErrorBody = response.json().await.unwrap();
        assert!(error.message.contains(message), "{error:?}");
        assert_eq!(error.request_id, request_id);
    }
    let response = gw.http.post(gw.url(path)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let mut admin = gw.admin().await;
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM progress_events").await,
        0,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn tenants_see_nothing_of_each_other() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-a", "https://h/a").await;
    let a = gw.token("team-a", "uid-a");
    let (status, _) = gw
        .post(&a, "/v1/runs/uid-a/commits", &batch(0, &[commit(1, &[])]))
        .await;
    assert_eq!(status, StatusCode::OK);
    gw.start_run("team-b", "uid-b", "https://h/b").await;

    // Through the gateway: team B holding a (validly signed) token that names A's analysis.
    let b_on_a = gw.token("team-b", "uid-a");
    let (status, body) = gw
        .post(&b_on_a, "/v1/runs/uid-a/start", &start_body("https://h/a"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        !body.to_string().contains("team-a"),
        "nothing of A's is named: {body}"
    );
    for (path, payload) in [
        ("/v1/runs/uid-a/commits", batch(7, &[commit(9, &[])])),
        (
            "/v1/runs/uid-a/progress",
            json!({"stage": "x", "done": 0, "total": 0}),
        ),
        (
            "/v1/runs/uid-a/finish",
            json!({"status": "failed", "commitsAnalyzed": 0}),
        ),
    ] {
        let (status, body) = gw.post(&b_on_a, path, &payload).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let response = gw
        .http
        .put(gw.url("/v1/runs/uid-a/artifacts/story.md"))
        .bearer_auth(&b_on_a)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Below the gateway: as its role, with only RLS standing.
    let mut app = sqlx::PgConnection::connect(&gw.pg.url("gateway", "gitview"))
        .await
        .unwrap();
    let b: i64 = sqlx::query_scalar("SELECT gitview_ensure_account('team-b')")
        .fetch_one(&mut app)
        .await
        .unwrap();
    let tables = [
        "accounts",
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
    for setting in [Some(b), None] {
        let mut tx = app.begin().await.unwrap();
        if let Some(account) = setting {
            sqlx::query("SELECT set_config('gitview.account_id', $1, true)")
                .bind(account.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for table in tables {
            let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table} WHERE {} IS DISTINCT FROM $1",
                if table == "accounts" {
                    "id"
                } else {
                    "account_id"
                }
            )))
            .bind(setting)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(
                foreign, 0,
                "{table} shows another tenant's rows with account {setting:?}"
            );
        }
        let all: i64 = sqlx::query_scalar("SELECT count(*) FROM commits")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(all, 0, "B has no commits and must see none");
        // Writing into A's rows is refused by the policy's check.
        let write = sqlx::query("INSERT INTO progress_events (account_id, analysis_id, stage, done, total, elapsed_ms) VALUES (1, 'uid-a', 'x', 0, 0, 0)")
            .execute(&mut *tx)
            .await;
        assert!(
            write.is_err(),
            "RLS lets account {setting:?} write A's rows"
        );
        tx.rollback().await.unwrap();
    }
    let mut admin = gw.admin().await;
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM commits").await,
        1,
        "A's data is intact"
    );
}

#[tokio::test]
async fn of_two_concurrent_advances_exactly_one_wins() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://h/r").await;
    gw.start_run("team-a", "uid-2", "https://h/r").await;
    let finish = |to: &str| json!({"status": "succeeded", "commitsAnalyzed": 1, "advance": {"expected": null, "to": to}});
    let (t1, t2) = (gw.token("team-a", "uid-1"), gw.token("team-a", "uid-2"));
    let (f1, f2) = (finish(&"a".repeat(40)), finish(&"b".repeat(40)));
    let (one, two) = tokio::join!(
        gw.post(&t1, "/v1/runs/uid-1/finish", &f1),
        gw.post(&t2, "/v1/runs/uid-2/finish", &f2),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{one:?} {two:?}"
    );
    let loser = if one.0 == StatusCode::CONFLICT {
        one.1
    } else {
        two.1
    };
    assert!(
        loser["message"]
            .as_str()
            .unwrap()
            .contains("another run advanced it first"),
        "{loser}"
    );
}

#[tokio::test]
async fn a_run_that_lost_the_race_to_the_same_tip_succeeds() {
    let gw = Gateway::start().await;
    let finish = |to: &str| json!({"status": "succeeded", "commitsAnalyzed": 1, "advance": {"expected": null, "to": to}});
    let tip = "c".repeat(40);
    for uid in ["uid-1", "uid-2", "uid-3"] {
        gw.start_run("team-a", uid, "https://h/r").await;
    }
    let (code, body) = gw
        .post(
            &gw.token("team-a", "uid-1"),
            "/v1/runs/uid-1/finish",
            &finish(&tip),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // Another run from the same start to the same tip: the repository already stands there.
    let (code, body) = gw
        .post(
            &gw.token("team-a", "uid-2"),
            "/v1/runs/uid-2/finish",
            &finish(&tip),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // One that would move it elsewhere still loses.
    let (code, body) = gw
        .post(
            &gw.token("team-a", "uid-3"),
            "/v1/runs/uid-3/finish",
            &finish(&"d".repeat(40)),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn malformed_oversized_and_invalid_bodies_get_a_4xx_json_error() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://h/r").await;
    let token = gw.token("team-a", "uid-1");
    let url = gw.url("/v1/runs/uid-1/commits");
    let send = |body: Vec<u8>, content_type: &'static str| {
        gw.http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            b"{not json".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            b"{\"batch\": 0}".to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
        ),
        (
            b"{}".to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            "application/json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            [b"[".as_slice(), &vec![b' '; 70 * 1024], b"]"].concat(),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = send(body, content_type).await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        let error: ErrorBody = response.json().await.unwrap();
        assert_eq!(error.code, code);
        assert!(!error.message.is_empty());
    }
    let mut bad_id = commit(1, &[]);
    bad_id.id = "HEAD".into();
    let response = gw
        .http
        .post(&url)
        .bearer_auth(&token)
        .json(&batch(0, &[bad_id]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut nul = commit(2, &[]);
    nul.message = "a\0b".into();
    let response = gw
        .http
        .post(&url)
        .bearer_auth(&token)
        .json(&batch(0, &[nul]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .json::<ErrorBody>()
            .await
            .unwrap()
            .message
            .contains("NUL")
    );
    let response = gw.http.get(gw.url("/v1/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<ErrorBody>().await.unwrap().code,
        "not_found"
    );
    let mut admin = gw.admin().await;
    assert_eq!(count(&mut admin, "SELECT count(*) FROM commits").await, 0);
}

#[tokio::test]
async fn spellings_of_one_remote_share_one_history_and_no_credentials_are_stored() {
    let gw = Gateway::start().await;
    let first = gw
        .start_run("team-a", "uid-1", "https://GitHub.com/org/repo.git")
        .await;
    let token = gw.token("team-a", "uid-1");
    let finish = json!({"status": "succeeded", "commitsAnalyzed": 1,
                        "advance": {"expected": null, "to": "a".repeat(40)}});
    let (status, body) = gw.post(&token, "/v1/runs/uid-1/finish", &finish).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The same remote over ssh, scp-style, with a token as the user name in the config too.
    let mut body = start_body("ghp_secret0123@github.com:org/repo");
    body["config"] =
        json!({"repository": {"url": "https://ghp_secret0123@github.com/org/repo.git"}});
    let (status, started) = gw
        .post(&gw.token("team-a", "uid-2"), "/v1/runs/uid-2/start", &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["repositoryId"], first.repository_id);
    assert_eq!(started["fingerprint"], first.fingerprint.as_str());
    assert_eq!(
        started["lastAnalyzedCommit"],
        "a".repeat(40),
        "the ssh run continues where the https run ended"
    );
    assert_eq!(
        first.fingerprint,
        gitview_core::remote::fingerprint("ssh://git@github.com/org/repo", "main").unwrap()
    );

    let mut admin = gw.admin().await;
    let (url, remote): (String, String) = sqlx::query_as("SELECT url, remote FROM repositories")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        (url.as_str(), remote.as_str()),
        ("ssh://github.com/org/repo", "github.com/org/repo")
    );
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT r.url || ' ' || a.config::text || ' ' || coalesce(l.detail::text, '')
         FROM analyses a JOIN repositories r ON r.id = a.repository_id
         LEFT JOIN audit_log l ON l.target = a.id",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!stored.is_empty());
    for row in stored {
        assert!(!row.contains("ghp_secret"), "{row}");
    }
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM analyses WHERE config->'repository'->>'url' = 'https://github.com/org/repo'"
        )
        .await,
        1
    );

    // Reading by URL: any spelling of the remote names both runs.
    let key = gw.create_key("team-a", "reader").await.secret;
    for spelling in ["https://github.com/org/repo", "git@github.com:org/repo.git"] {
        let query: String = url_escape(spelling);
        let (status, page) = gw
            .get(&key, &format!("/v1/analyses?repository={query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            page["items"].as_array().map(Vec::len),
            Some(2),
            "{spelling}: {page}"
        );
    }

    // A local path names no remote repository.
    let (status, body) = gw
        .post(
            &gw.token("team-a", "uid-3"),
            "/v1/runs/uid-3/start",
            &start_body("/srv/git/repo"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Migration 0006 renames every stored repository by its remote: rows that named one remote
/// and branch in two spellings keep both histories, the newest taking the new fingerprint.
#[tokio::test]
async fn migration_0006_fingerprints_stored_repositories_by_their_remote() {
    let (pg, owner) = common::postgres_migrated_to(Some(5)).await;
    let mut admin = sqlx::PgConnection::connect(&pg.url("postgres", "gitview"))
        .await
        .unwrap();
    // URLs as the earlier rules stored them, with fingerprints of the earlier formula.
    sqlx::raw_sql(
        "INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b');
         INSERT INTO repositories (id, account_id, fingerprint, url, branch) VALUES
           (1, 1, 'old-1', 'https://github.com/org/repo', 'main'),
           (2, 1, 'old-2', 'ssh://github.com/org/repo', 'main'),
           (3, 1, 'old-3', 'https://github.com/org/repo', 'dev'),
           (4, 2, 'old-4', 'https://github.com/org/repo', 'main'),
           (5, 1, 'old-5', 'git+ssh://h//a//b/', 'main'),
           (6, 1, 'old-6', 'https://h/x.git', 'main'),
           (7, 1, 'old-7', 'https://h:8443/r/.git', 'main');
         INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, created_at) VALUES
           ('an-1', 1, 1, 'ns', 'an-1', 1, 'Full', 'succeeded', '2024-01-01T00:00:00Z'),
           ('an-2', 1, 2, 'ns', 'an-2', 1, 'Full', 'succeeded', '2024-02-01T00:00:00Z');",
    )
    .execute(&mut admin)
    .await
    .unwrap();

    db::migrate(&owner).await.expect("0006 applies");

    let rows: Vec<(i64, String, String, String, String)> =
        sqlx::query_as("SELECT id, fingerprint, url, remote, branch FROM repositories ORDER BY id")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    let fp = |url: &str, branch: &str| gitview_core::remote::fingerprint(url, branch).unwrap();
    let expected = [
        (1, "old-1".to_owned(), "https://github.com/org/repo"),
        (
            2,
            fp("https://github.com/org/repo", "main"),
            "ssh://github.com/org/repo",
        ),
        (
            3,
            fp("git@github.com:org/repo", "dev"),
            "https://github.com/org/repo",
        ),
        (
            4,
            fp("https://github.com/org/repo", "main"),
            "https://github.com/org/repo",
        ),
        (5, fp("git+ssh://h//a//b//", "main"), "ssh://h/a/b"),
        (6, fp("https://h/x.git.git", "main"), "https://h/x"),
        (7, fp("https://h:8443/r", "main"), "https://h:8443/r"),
    ];
    assert_eq!(rows.len(), expected.len());
    for ((id, fingerprint, url, remote, branch), (want_id, want_fp, want_url)) in
        rows.iter().zip(&expected)
    {
        assert_eq!(id, want_id);
        assert_eq!(fingerprint, want_fp, "repository {id}");
        assert_eq!(url, want_url, "repository {id}");
        let canonical = gitview_core::remote::RepositoryUrl::parse(url).unwrap();
        assert_eq!(remote, canonical.remote(), "repository {id}");
        if fingerprint.len() == 64 {
            assert_eq!(
                *fingerprint,
                canonical.fingerprint(branch),
                "repository {id}"
            );
        }
    }
    let unforced: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class
         WHERE oid IN ('repositories'::regclass, 'analyses'::regclass) AND NOT relforcerowsecurity",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        unforced.is_empty(),
        "row-level security is forced again: {unforced:?}"
    );
}

#[tokio::test]
async fn the_operator_reads_where_a_repository_was_last_analyzed() {
    let gw = Gateway::start().await;
    let tip = "e".repeat(40);
    gw.start_run("team-a", "uid-1", "https://git.example.com/org/repo.git")
        .await;
    let finish = json!({"status": "succeeded", "commitsAnalyzed": 1, "advance": {"expected": null, "to": tip}});
    let (code, body) = gw
        .post(
            &gw.token("team-a", "uid-1"),
            "/v1/runs/uid-1/finish",
            &finish,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    let operator = |account: &str| {
        let mut claims = claims(account, "");
        claims.scope = vec![gitview_core::token::SCOPE_REPOSITORIES_READ.into()];
        sign(&gw.signing, &claims)
    };
    // Any spelling of the remote finds it; the branch must match.
    let ask = |url: &str, branch: &str| {
        format!("/v1/repositories/last-analyzed?url={url}&branch={branch}")
    };
    let (code, body) = gw
        .get(
            &operator("team-a"),
            &ask("ssh://git@GIT.example.com/org/repo", "main"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["lastAnalyzedCommit"], json!(tip));
    let (_, body) = gw
        .get(
            &operator("team-a"),
            &ask("https://git.example.com/org/repo", "dev"),
        )
        .await;
    assert_eq!(body["lastAnalyzedCommit"], serde_json::Value::Null);
    // Another account's token sees nothing of it.
    let (code, body) = gw
        .get(
            &operator("team-b"),
            &ask("https://git.example.com/org/repo", "main"),
        )
        .await;
    assert_eq!(
        (code, &body["lastAnalyzedCommit"]),
        (StatusCode::OK, &serde_json::Value::Null)
    );
    // A runner token lacks the scope; an unsigned request and an API key are refused.
    let (code, _) = gw
        .get(
            &gw.token("team-a", "uid-1"),
            &ask("https://git.example.com/org/repo", "main"),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = gw
        .get("nope", &ask("https://git.example.com/org/repo", "main"))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, body) = gw
        .get(
            &operator("team-a"),
            "/v1/repositories/last-analyzed?url=&branch=main",
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_operator_reads_a_runs_latest_progress() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://git.example.com/org/repo.git")
        .await;
    let operator = |account: &str, scope: &str| {
        let mut claims = claims(account, "");
        claims.scope = vec![scope.into()];
        sign(&gw.signing, &claims)
    };
    let runs = gitview_core::token::SCOPE_RUNS_READ;
    let path = "/v1/runs/uid-1/progress/latest";
    let (code, body) = gw.get(&operator("team-a", runs), path).await;
    assert_eq!((code, &body), (StatusCode::OK, &json!({"latest": null})));
    for (done, stage) in [(10, "extract"), (40, "extract"), (2, "summarize")] {
        let (code, _) = gw
            .post(
                &gw.token("team-a", "uid-1"),
                "/v1/runs/uid-1/progress",
                &json!({"stage": stage, "done": done, "total": 80, "elapsedMs": 7}),
            )
            .await;
        assert_eq!(code, StatusCode::NO_CONTENT);
    }
    let (code, body) = gw.get(&operator("team-a", runs), path).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        (
            &body["latest"]["stage"],
            &body["latest"]["done"],
            &body["latest"]["total"]
        ),
        (&json!("summarize"), &json!(2), &json!(80))
    );
    assert!(
        body["latest"]["at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{body}"
    );
    assert_eq!(body["latest"]["attempt"], json!(1), "{body}");

    // A retry: the operator asks for the running attempt's events, not the newest of any.
    let mut second = claims("team-a", "uid-1");
    second.attempt = 2;
    let (code, _) = gw
        .post(
            &sign(&gw.signing, &second),
            "/v1/runs/uid-1/progress",
            &json!({"stage": "fetch", "done": 1, "total": 3, "elapsedMs": 1}),
        )
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let latest_of = |attempt: &str| format!("{path}?attempt={attempt}");
    for (query, stage, attempt) in [
        (path.to_owned(), json!("fetch"), json!(2)),
        (latest_of("2"), json!("fetch"), json!(2)),
        (latest_of("1"), json!("summarize"), json!(1)),
    ] {
        let (code, body) = gw.get(&operator("team-a", runs), &query).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["latest"]["stage"], &body["latest"]["attempt"]),
            (&stage, &attempt),
            "{query}: {body}"
        );
    }
    let (code, body) = gw.get(&operator("team-a", runs), &latest_of("3")).await;
    assert_eq!((code, &body), (StatusCode::OK, &json!({"latest": null})));
    for bad in ["0", "-1", "two"] {
        let (code, body) = gw.get(&operator("team-a", runs), &latest_of(bad)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.to_string().contains("attempt"), "{bad}: {body}");
    }

    // Another account sees nothing; the trackers' scope, a runner token and a key are refused.
    let (code, body) = gw.get(&operator("team-b", runs), path).await;
    assert_eq!((code, &body), (StatusCode::OK, &json!({"latest": null})));
    let (code, _) = gw
        .get(
            &operator("team-a", gitview_core::token::SCOPE_REPOSITORIES_READ),
            path,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = gw.get(&gw.token("team-a", "uid-1"), path).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let key = gw.create_key("team-a", "reader").await.secret;
    let (code, _) = gw.get(&key, path).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
