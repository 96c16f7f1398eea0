//! Accounts' data policies over real HTTP against a throwaway PostgreSQL: the admin routes that
//! set them (with audit rows), and scrubbing on read — an account that scrubs reads hashed
//! emails and redacted secrets even from rows stored raw before its policy changed; an account
//! that does not reads them as stored.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{ADMIN_TOKEN, Gateway, batch, claims, commit, count, sign};
use gitview_core::records::{CommitRecord, Identity};
use gitview_core::results::{AccountPolicy, AnalysisDetail, AnalysisPage, CommitPage};
use gitview_core::scrub::hash_email;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A fake AWS access key id, assembled so this file does not trip secret scanners.
fn aws_key() -> String {
    ["AKIA", "IOSFODNN7EXAMPLE"].concat()
}

/// A commit with a raw email, a mailmap identity and a secret in its message.
fn raw_commit() -> CommitRecord {
    let mut c = commit(1, &[]);
    c.author.email = "Ada@Example.com".into();
    c.author.canonical = Some(Identity {
        name: "Ada L".into(),
        email: "ada@corp.example".into(),
    });
    c.message = format!(
        "Add the deploy key {}\n\nSigned-off-by: Ada <ada@example.com>\n",
        aws_key()
    );
    c
}

/// A run of `uid` for `account` that stores everything raw: the gateway stores what runners
/// send, and the superuser then writes a message as a run before the policy would have.
async fn raw_run(gw: &Gateway, account: &str, uid: &str) -> CommitRecord {
    gw.start_run(account, uid, "https://git.example.com/org/repo.git")
        .await;
    let token = gw.token(account, uid);
    let c = raw_commit();
    let mut body = batch(0, std::slice::from_ref(&c));
    body["commits"][0]["enrichment"] = json!({"subject": "mail bob@example.org"});
    let (status, body) = gw
        .post(&token, &format!("/v1/runs/{uid}/commits"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = aws_key();
    for (path, content_type, body) in [
        (
            "phases",
            "application/json",
            json!([{"title": format!("Ada <ada@example.com> adds {key}")}]).to_string(),
        ),
        (
            "artifacts/story.md",
            "text/markdown",
            format!("# Story\nAda (ada@example.com) committed {key}.\n"),
        ),
        (
            "artifacts/timeline.json",
            "application/json",
            json!({"events": [{"who": "bob@example.org"}]}).to_string(),
        ),
    ] {
        let response = gw
            .http
            .put(gw.url(&format!("/v1/runs/{uid}/{path}")))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let mut admin = gw.admin().await;
    sqlx::query("UPDATE analyses SET message = $1 WHERE id = $2")
        .bind("fetch https://deploy:hunter2@git.example.com/org/repo.git failed")
        .bind(uid)
        .execute(&mut admin)
        .await
        .unwrap();
    c
}

fn parse<T: serde::de::DeserializeOwned>(status: StatusCode, body: Value) -> T {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn scrubbing_accounts_read_raw_rows_scrubbed_and_others_as_stored() {
    let gw = Gateway::start().await;
    let stored = raw_run(&gw, "team-s", "uid-s").await;
    raw_run(&gw, "team-r", "uid-r").await;
    let s_key = gw.create_key("team-s", "reader").await.secret;
    let r_key = gw.create_key("team-r", "reader").await.secret;
    // team-s turns scrubbing on after its rows were stored raw; team-r turns it off.
    let (status, body) = gw.set_policy("team-s", &json!({"scrubPii": true})).await;
    let policy: AccountPolicy = parse(status, body);
    assert!(policy.scrub_pii);
    let (status, body) = gw.set_policy("team-r", &json!({"scrubPii": false})).await;
    assert!(!parse::<AccountPolicy>(status, body).scrub_pii);

    // The rows hold the raw text.
    let mut admin = gw.admin().await;
    let raw = "SELECT count(*) FROM commits WHERE author_email = 'Ada@Example.com' \
               AND message LIKE '%AKIAIOSFODNN7EXAMPLE%'";
    assert_eq!(count(&mut admin, raw).await, 2);

    // team-s: commits scrubbed in identities, messages and enrichment.
    let hashed = hash_email("Ada@Example.com");
    let (status, body) = gw.get(&s_key, "/v1/analyses/uid-s/commits").await;
    let text = body.to_string();
    let page: CommitPage = parse(status, body);
    let record = &page.items[0].record;
    assert_eq!(record.author.email, hashed);
    assert_eq!(
        record.author.canonical.as_ref().unwrap().email,
        hash_email("ada@corp.example")
    );
    assert_eq!(record.author.name, "ada", "names are kept");
    assert_eq!(
        record.message,
        format!(
            "Add the deploy key [REDACTED:aws-access-key-id]\n\nSigned-off-by: Ada <{hashed}>\n"
        )
    );
    assert_eq!(
        page.items[0].enrichment,
        json!({"subject": format!("mail {}", hash_email("bob@example.org"))})
    );
    for leak in [
        &aws_key(),
        "@example.com",
        "@Example.com",
        "corp.example",
        "bob@",
    ] {
        assert!(!text.contains(leak), "{leak} read back: {text}");
    }
    // The author filter takes the hashed email it shows, or the raw one.
    for author in [hashed.as_str(), "ada@example.com"] {
        let (status, body) = gw
            .get(
                &s_key,
                &format!("/v1/analyses/uid-s/commits?author={author}"),
            )
            .await;
        assert_eq!(parse::<CommitPage>(status, body).items.len(), 1, "{author}");
    }

    // team-s: the analysis' message, phases, story and timeline.
    let (status, body) = gw.get(&s_key, "/v1/analyses/uid-s").await;
    let text = body.to_string();
    let detail: AnalysisDetail = parse(status, body);
    assert_eq!(
        detail.summary.message,
        "fetch [REDACTED:url-password]git.example.com/org/repo.git failed"
    );
    assert_eq!(
        detail.phases,
        vec![
            json!({"title": format!("Ada <{}> adds [REDACTED:aws-access-key-id]", hash_email("ada@example.com"))})
        ]
    );
    assert_eq!(
        detail.story.as_deref(),
        Some(
            format!(
                "# Story\nAda ({}) committed [REDACTED:aws-access-key-id].\n",
                hash_email("ada@example.com")
            )
            .as_str()
        )
    );
    assert_eq!(
        detail.timeline,
        Some(json!({"events": [{"who": hash_email("bob@example.org")}]}))
    );
    for leak in [&aws_key(), "@example.", "hunter2"] {
        assert!(!text.contains(leak), "{leak} read back: {text}");
    }
    let (status, body) = gw.get(&s_key, "/v1/analyses").await;
    let page: AnalysisPage = parse(status, body);
    assert_eq!(page.items[0].message, detail.summary.message);

    // team-r: everything as stored.
    let (status, body) = gw.get(&r_key, "/v1/analyses/uid-r/commits").await;
    let page: CommitPage = parse(status, body);
    assert_eq!(page.items[0].record, stored);
    assert_eq!(
        page.items[0].enrichment,
        json!({"subject": "mail bob@example.org"})
    );
    let (status, body) = gw.get(&r_key, "/v1/analyses/uid-r").await;
    let detail: AnalysisDetail = parse(status, body);
    assert!(detail.summary.message.contains("hunter2"));
    assert!(detail.story.unwrap().contains(&aws_key()));
    assert_eq!(
        detail.timeline,
        Some(json!({"events": [{"who": "bob@example.org"}]}))
    );
}

#[tokio::test]
async fn policies_are_set_and_read_on_the_admin_path_with_audit_rows() {
    let gw = Gateway::start().await;
    let path = "/v1/admin/accounts/team-p/policy";
    // Unknown accounts have no policy to read; a PUT creates the account.
    let (status, body) = gw.get(ADMIN_TOKEN, path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = gw.set_policy("team-p", &json!({"retentionDays": 30})).await;
    let policy: AccountPolicy = parse(status, body);
    assert_eq!(
        policy,
        AccountPolicy {
            account: "team-p".into(),
            scrub_pii: true,
            retention_days: 30
        },
        "absent fields stay as they were (the defaults)"
    );
    let (status, body) = gw.set_policy("team-p", &json!({"scrubPii": false})).await;
    let policy: AccountPolicy = parse(status, body);
    assert_eq!((policy.scrub_pii, policy.retention_days), (false, 30));
    let (status, body) = gw.get(ADMIN_TOKEN, path).await;
    assert_eq!(parse::<AccountPolicy>(status, body), policy);

    let mut admin = gw.admin().await;
    let details: Vec<Value> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'account.policy' AND actor = 'admin'
         AND target = 'team-p' ORDER BY id",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        details,
        vec![
            json!({"before": {"scrubPii": true, "retentionDays": 365},
                   "after": {"scrubPii": true, "retentionDays": 30}}),
            json!({"before": {"scrubPii": true, "retentionDays": 30},
                   "after": {"scrubPii": false, "retentionDays": 30}}),
        ]
    );

    // Bad values and bad credentials change nothing.
    for (body, expected) in [
        (json!({"retentionDays": 0}), StatusCode::BAD_REQUEST),
        (json!({"retentionDays": 36_501}), StatusCode::BAD_REQUEST),
        (
            json!({"retentionDays": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"scrubPII": true}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, answer) = gw.set_policy("team-p", &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let key = gw.create_key("team-p", "reader").await.secret;
    let response = gw
        .http
        .put(gw.url(path))
        .bearer_auth(&key)
        .json(&json!({"scrubPii": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = gw.get(ADMIN_TOKEN, path).await;
    assert_eq!(parse::<AccountPolicy>(status, body), policy);
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM audit_log WHERE action = 'account.policy'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn the_operator_reads_its_tokens_account_policy_and_nothing_else() {
    let gw = Gateway::start().await;
    let operator = |account: &str| {
        sign(
            &gw.signing,
            &gitview_core::token::TokenClaims::operator_read(account, jiff::Timestamp::now()),
        )
    };
    // A policy set on the admin path is the one the operator reads for the account's runners.
    let (status, _) = gw
        .set_policy("team-k", &json!({"scrubPii": false, "retentionDays": 30}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gw.get(&operator("team-k"), "/v1/account/policy").await;
    let policy: AccountPolicy = parse(status, body);
    assert_eq!(
        (
            policy.account.as_str(),
            policy.scrub_pii,
            policy.retention_days
        ),
        ("team-k", false, 30)
    );
    // An account not seen yet gets a new account's policy, which scrubs; the same route
    // answers each token's own account, never another's.
    let (status, body) = gw.get(&operator("team-new"), "/v1/account/policy").await;
    let policy: AccountPolicy = parse(status, body);
    assert_eq!(
        (
            policy.account.as_str(),
            policy.scrub_pii,
            policy.retention_days
        ),
        ("team-new", true, 365)
    );
    // Without the scope (a runner token, an operator token for other reads), with an API key
    // or the admin token: refused.
    let mut other_scopes = claims("team-k", "");
    other_scopes.scope = vec![
        gitview_core::token::SCOPE_REPOSITORIES_READ.into(),
        gitview_core::token::SCOPE_RUNS_READ.into(),
    ];
    let key = gw.create_key("team-k", "reader").await.secret;
    for (credential, want) in [
        (gw.token("team-k", "uid-k"), StatusCode::FORBIDDEN),
        (sign(&gw.signing, &other_scopes), StatusCode::FORBIDDEN),
        (key, StatusCode::UNAUTHORIZED),
        (ADMIN_TOKEN.to_owned(), StatusCode::UNAUTHORIZED),
    ] {
        let (status, body) = gw.get(&credential, "/v1/account/policy").await;
        assert_eq!(status, want, "{body}");
    }
}
