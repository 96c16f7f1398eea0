//! API keys: the admin path that creates, lists and revokes them, and what the database keeps
//! of them (a hash), over real HTTP against a throwaway PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{ADMIN_TOKEN, Gateway, count};
use gitview_core::results::{ApiKeyList, ErrorBody};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection as _;

/// The account, key id and scopes the resolver gives for `key`, asked as the gateway's role.
async fn resolve(gw: &Gateway, key: &str) -> Option<(i64, i64, Vec<String>)> {
    use sha2::Digest as _;
    let mut app = sqlx::PgConnection::connect(&gw.pg.url("gateway", "gitview"))
        .await
        .unwrap();
    sqlx::query_as("SELECT account_id, key_id, scopes FROM gitview_resolve_api_key($1)")
        .bind(sha2::Sha256::digest(key.as_bytes()).to_vec())
        .fetch_optional(&mut app)
        .await
        .unwrap()
}

async fn error(response: reqwest::Response) -> (StatusCode, ErrorBody) {
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_key_is_created_shown_once_listed_and_revoked() {
    let gw = Gateway::start().await;
    let created = gw.create_key("team-a", "dashboard").await;
    assert!(
        created
            .secret
            .starts_with(&format!("{}_", created.key.prefix))
    );
    assert_eq!(created.key.prefix, format!("gvk_{}", created.key.id));
    assert_eq!(
        (
            created.key.account.as_str(),
            created.key.name.as_str(),
            created.key.scopes.as_slice()
        ),
        ("team-a", "dashboard", &["read".to_owned()][..])
    );
    assert_eq!(created.key.revoked_at, None);
    let second = gw.create_key("team-a", "exports").await;
    assert_ne!(second.secret, created.secret);

    // The database holds a hash, never the key or its secret part.
    let mut admin = gw.admin().await;
    let secret_part = &created.secret[created.key.prefix.len() + 1..];
    let leaks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys k WHERE row_to_json(k)::text LIKE '%' || $1 || '%'",
    )
    .bind(secret_part)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(leaks, 0);

    let account = resolve(&gw, &created.secret)
        .await
        .expect("a live key resolves");
    assert_eq!(account.2, vec!["read".to_owned()]);
    let list_path = "/v1/admin/accounts/team-a/keys";
    let (status, listed) = gw.get(ADMIN_TOKEN, list_path).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut listed: ApiKeyList = serde_json::from_value(listed).unwrap();
    assert!(
        listed.items[0].last_used_at.is_some(),
        "resolving marks the key used"
    );
    listed.items[0].last_used_at = None;
    assert_eq!(
        listed.items,
        vec![created.key.clone(), second.key.clone()],
        "oldest first, no secret"
    );

    let revoke = |id: String| {
        gw.http
            .delete(gw.url(&format!("{list_path}/{id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(
        revoke(created.key.id.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(resolve(&gw, &created.secret).await, None, "revoked");
    assert!(
        resolve(&gw, &second.secret).await.is_some(),
        "the other key lives"
    );
    assert_eq!(
        revoke(created.key.id.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "revoking again changes nothing"
    );
    let (status, body) = error(revoke("0".repeat(16)).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");
    let (status, _) = error(revoke("not-an-id".into()).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, listed) = gw.get(ADMIN_TOKEN, list_path).await;
    let listed: ApiKeyList = serde_json::from_value(listed).unwrap();
    assert!(listed.items[0].revoked_at.is_some());
    assert!(listed.items[1].revoked_at.is_none());
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action || ' ' || actor || ' ' || target FROM audit_log ORDER BY id",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec![
            format!("apikey.create admin {}", created.key.prefix),
            format!("apikey.create admin {}", second.key.prefix),
            format!("apikey.revoke admin {}", created.key.prefix),
        ],
        "one audit row per change, none for the repeated revoke"
    );
}

#[tokio::test]
async fn an_account_cannot_touch_another_accounts_keys() {
    let gw = Gateway::start().await;
    let a = gw.create_key("team-a", "a").await;
    gw.create_key("team-b", "b").await;
    let response = gw
        .http
        .delete(gw.url(&format!("/v1/admin/accounts/team-b/keys/{}", a.key.id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(resolve(&gw, &a.secret).await.is_some());
    let (_, listed) = gw.get(ADMIN_TOKEN, "/v1/admin/accounts/team-b/keys").await;
    let listed: ApiKeyList = serde_json::from_value(listed).unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].name, "b");

    // Listing the keys of an account nobody created does not create it.
    let (status, body) = gw.get(ADMIN_TOKEN, "/v1/admin/accounts/team-z/keys").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let mut admin = gw.admin().await;
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM accounts WHERE name = 'team-z'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn the_admin_path_wants_the_admin_token_and_valid_bodies() {
    let gw = Gateway::start().await;
    let path = gw.url("/v1/admin/accounts/team-a/keys");
    let body = json!({"name": "x"});
    for (credential, message) in [
        (None, "missing Authorization"),
        (Some("wrong-token"), "invalid"),
        (Some(&ADMIN_TOKEN[1..]), "invalid"),
    ] {
        let mut request = gw.http.post(&path).json(&body);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let (status, error) = error(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credential:?}");
        assert!(error.message.contains(message), "{error:?}");
    }
    for (body, message) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "x", "scopes": ["write"]}), "scopes"),
    ] {
        let (status, error) = error(
            gw.http
                .post(&path)
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(error.message.contains(message), "{error:?}");
    }
    let mut admin = gw.admin().await;
    assert_eq!(count(&mut admin, "SELECT count(*) FROM api_keys").await, 0);
    assert_eq!(count(&mut admin, "SELECT count(*) FROM accounts").await, 0);
}

#[tokio::test]
async fn without_an_admin_token_the_admin_path_is_disabled() {
    let gw = Gateway::start_with(None).await;
    let response = gw
        .http
        .post(gw.url("/v1/admin/accounts/team-a/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let (status, error) = error(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error.code, "admin_disabled");
    assert!(error.message.contains("--admin-token-file"), "{error:?}");
}

#[tokio::test]
async fn keys_are_not_accepted_on_runner_routes() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-1", "https://h/r").await;
    let key = gw.create_key("team-a", "k").await;
    let (status, body) = gw
        .post(
            &key.secret,
            "/v1/runs/uid-1/progress",
            &json!({"stage": "x", "done": 0, "total": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not accepted on runner routes")
    );
    let mut admin = gw.admin().await;
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM progress_events").await,
        0
    );
}
