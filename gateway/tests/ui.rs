//! The web UI over real HTTP on a throwaway PostgreSQL: sign-in with an API key, the session
//! cookie and its flags, the pages' policies, a repository's report page framed and
//! sandboxed, tenancy (another account's repository is a 404), forms from other origins
//! refused, and sessions ended by signing out or by revoking the key.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::Gateway;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

const URL: &str = "https://git.example.com/org/seen.git";
const REPORT: &str = "<!DOCTYPE html><html><body><h1>the report of seen</h1></body></html>";

/// A browser without redirects or a cookie jar: every header is the test's to check.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A succeeded run of `URL` in `account` that wrote a whole-history story and its report page.
async fn analyzed(gw: &Gateway, account: &str, uid: &str) -> String {
    gw.start_run(account, uid, URL).await;
    gw.succeeded_with(
        account,
        uid,
        URL,
        vec![
            (
                "story.json",
                "application/json",
                serde_json::to_vec(&json!({"title": "seen", "sections": [],
                "coverage": {"wholeHistory": true, "commits": 1}}))
                .unwrap(),
            ),
            ("index.html", "text/html", REPORT.as_bytes().to_vec()),
        ],
    )
    .await
}

/// Signs in with `key`: the response.
async fn sign_in(gw: &Gateway, key: &str, origin: Option<&str>) -> reqwest::Response {
    // `key=…` as a browser posts the form (keys are URL-safe: `gvk_`, hex and `_`).
    let body: String = key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut request = browser()
        .post(gw.url("/ui/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={body}"));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

/// The session cookie a sign-in set (`name=value`), and the whole header.
fn session_of(response: &reqwest::Response) -> (String, String) {
    let header = response
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let pair = header.split(';').next().unwrap().to_owned();
    (pair, header)
}

async fn get(gw: &Gateway, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(gw.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_person_signs_in_with_a_key_and_sees_only_their_accounts_repositories() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let other = gw.create_key("team-b", "ui").await;
    let fingerprint = analyzed(&gw, "team-a", "ui-a1").await;

    // Signed out: every page leads to the sign-in form, which has a strict policy.
    let response = get(&gw, "/ui/", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
    let response = get(&gw, &format!("/ui/repositories/{fingerprint}/report"), None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the report too");
    let response = get(&gw, "/ui/sign-in", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.starts_with("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("action=\"/ui/sign-in\"")
    );

    // A wrong key, a malformed one, a post from another site: refused, with the form again.
    let response = sign_in(
        &gw,
        &format!("{}0", &key.secret[..key.secret.len() - 1]),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("unknown or revoked")
    );
    let response = sign_in(&gw, "hunter2", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = sign_in(&gw, &key.secret, Some("https://evil.example")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // The key: a session cookie a script cannot read and other sites' requests do not carry.
    let host = format!("http://{}", gw.addr);
    let response = sign_in(&gw, &key.secret, Some(&host)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/");
    let (cookie, header) = session_of(&response);
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/ui",
        "Max-Age=43200",
    ] {
        assert!(header.contains(flag), "{flag} in {header}");
    }
    assert!(!header.contains(&key.secret), "the key is not the cookie");

    // The account's repositories, then one's page framing its report, sandboxed.
    let response = get(&gw, "/ui/", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let home = response.text().await.unwrap();
    assert!(home.contains("git.example.com/org/seen"), "{home}");
    assert!(
        home.contains(&format!("href=\"/ui/repositories/{fingerprint}\"")),
        "{home}"
    );
    assert!(home.contains("team-a"));
    let response = get(
        &gw,
        &format!("/ui/repositories/{fingerprint}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-src 'self'")
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("src=\"/ui/repositories/{fingerprint}/report\"")),
        "{page}"
    );
    assert!(page.contains("sandbox=\"allow-scripts\""));
    let response = get(
        &gw,
        &format!("/ui/repositories/{fingerprint}/report"),
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.starts_with("sandbox allow-scripts;") && !policy.contains("allow-same-origin"),
        "{policy}"
    );
    assert_eq!(response.text().await.unwrap(), REPORT);

    // Another account's session: the repository is not there, like one that does not exist.
    let theirs = session_of(&sign_in(&gw, &other.secret, None).await).0;
    let home = get(&gw, "/ui/", Some(&theirs)).await.text().await.unwrap();
    assert!(!home.contains("seen"), "{home}");
    for path in [
        format!("/ui/repositories/{fingerprint}"),
        format!("/ui/repositories/{fingerprint}/report"),
    ] {
        let response = get(&gw, &path, Some(&theirs)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let missing = "0".repeat(64);
    let response = get(&gw, &format!("/ui/repositories/{missing}"), Some(&theirs)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A malformed fingerprint is not there either: the same page, not the API's error body.
    let response = get(&gw, "/ui/repositories/nope", Some(&theirs)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("no such repository")
    );

    // Signing out ends that session only.
    let response = browser()
        .post(gw.url("/ui/sign-out"))
        .header(COOKIE, &theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&gw, "/ui/", Some(&theirs)).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&gw, "/ui/", Some(&cookie)).await.status(),
        StatusCode::OK
    );

    // Revoking the key ends every session made with it.
    let response = gw
        .http
        .delete(gw.url(&format!("/v1/admin/accounts/team-a/keys/{}", key.key.id)))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = get(&gw, "/ui/", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
}

/// A gateway whose UI trusts an auth proxy at `from`, mapping alice to team-a and the group
/// `platform` to team-b.
async fn behind_proxy(from: &str) -> Gateway {
    use gitview_gateway::kit::auth_proxy::AuthProxy;
    use gitview_gateway::kit::state::UiSettings;
    let proxy = AuthProxy {
        user_header: "x-forwarded-email".into(),
        groups_header: Some("x-forwarded-groups".into()),
        from: vec![from.parse().unwrap()],
        accounts: serde_yaml::from_str(
            "users: {alice@example.com: team-a}\ngroups: {platform: team-b}\n",
        )
        .unwrap(),
    };
    Gateway::start_configured(Some(common::ADMIN_TOKEN), move |state| {
        state.with_ui(UiSettings {
            auth_proxy: Some(std::sync::Arc::new(proxy)),
            ..UiSettings::default()
        })
    })
    .await
}

async fn as_proxied(gw: &Gateway, path: &str, user: &str, groups: &str) -> reqwest::Response {
    browser()
        .get(gw.url(path))
        .header("x-forwarded-email", user)
        .header("x-forwarded-groups", groups)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_an_auth_proxy_its_headers_sign_people_in_but_only_from_the_proxy() {
    // The tests' requests come from loopback: here that is the proxy.
    let gw = behind_proxy("127.0.0.0/8").await;
    gw.create_key("team-b", "exists").await;
    let fingerprint = analyzed(&gw, "team-a", "px-a1").await;
    let response = as_proxied(&gw, "/ui/", "alice@example.com", "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("git.example.com/org/seen")
    );
    let report = format!("/ui/repositories/{fingerprint}/report");
    let response = as_proxied(&gw, &report, "alice@example.com", "").await;
    assert_eq!(response.text().await.unwrap(), REPORT);
    // By group, into another account: not alice's repository.
    let response = as_proxied(&gw, &report, "bob@example.com", "dev, platform").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Nobody the map knows: signed out.
    let response = as_proxied(&gw, "/ui/", "eve@example.com", "dev").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // The same headers from anywhere but the proxy are ignored.
    let gw = behind_proxy("10.0.0.0/8").await;
    analyzed(&gw, "team-a", "px-a2").await;
    let response = as_proxied(&gw, "/ui/", "alice@example.com", "").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
}
