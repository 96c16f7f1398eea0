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
    told(gw, account, uid).await
}

/// Ends the started run `uid` as succeeded, with a whole-history story and its report page;
/// the fingerprint.
async fn told(gw: &Gateway, account: &str, uid: &str) -> String {
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

/// The response's Content-Security-Policy.
fn policy_of(response: &reqwest::Response) -> String {
    response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned()
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
    let policy = policy_of(&response);
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
    let policy = policy_of(&response);
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

const HOSTILE: &str = "\"><img src=x onerror=alert(1)> <script>alert(1)</script>";

/// A stored history of `URL` in `account`, analyzed by `uid` (then succeeded with a story,
/// its report page and one phase over all of it): 55 commits touching `src/lib.rs`, of which
/// the first has a hostile subject, author and path (and a reference), and two tell apart a
/// literal `%`. The fingerprint and the commits, oldest first.
async fn stored_history(
    gw: &Gateway,
    account: &str,
    uid: &str,
) -> (String, Vec<gitview_core::records::CommitRecord>) {
    use gitview_core::records::{FileStat, FileStatus};
    gw.start_run(account, uid, URL).await;
    let mut commits: Vec<gitview_core::records::CommitRecord> = Vec::new();
    for n in 0..55u8 {
        let parents: Vec<String> = commits.last().map(|c| c.id.clone()).into_iter().collect();
        let mut c = common::commit(n, &parents);
        c.files = vec![FileStat {
            path: "src/lib.rs".into(),
            added: Some(u64::from(n) + 1),
            deleted: Some(1),
            status: FileStatus::Modified,
        }];
        match n {
            0 => {
                c.message = format!("{HOSTILE} subject\n\nthe body: {HOSTILE}\n");
                c.author.name = format!("Mallory {HOSTILE}");
                c.files.push(FileStat {
                    path: format!("docs/{HOSTILE}.md"),
                    added: Some(2),
                    deleted: Some(0),
                    status: FileStatus::Added,
                });
            }
            1 => c.message = "raise coverage to 100% now\n".into(),
            2 => c.message = "raise coverage to 1000 now\n".into(),
            _ => {}
        }
        commits.push(c);
    }
    let uploads: Vec<_> = commits
        .iter()
        .map(|c| {
            let enrichment = if c.id == commits[0].id {
                json!({"class": "fix", "references": [{"kind": "issue", "id": "#42"}]})
            } else {
                json!({"class": "feature"})
            };
            (c.clone(), enrichment)
        })
        .collect();
    for (number, part) in uploads.chunks(28).enumerate() {
        gw.store_commits(account, uid, number as u64, part).await;
    }
    let token = gw.token(account, uid);
    let response = gw
        .http
        .put(gw.url(&format!("/v1/runs/{uid}/phases")))
        .bearer_auth(&token)
        .json(&json!([{
            "number": 1, "name": "Beginnings", "firstCommit": commits[0].id,
            "lastCommit": commits[54].id, "start": "2023-12-31T00:00:00Z",
            "end": "2024-02-01T00:00:00Z", "commits": 55, "summary": "",
        }]))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let fingerprint = told(gw, account, uid).await;
    (fingerprint, commits)
}

/// The page's text and its status.
async fn page_of(gw: &Gateway, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = get(gw, path, Some(cookie)).await;
    (response.status(), response.text().await.unwrap())
}

/// Fails if any hostile string of [`HOSTILE`] became markup.
fn inert(page: &str) {
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
}

/// The `href` of the page's `rel="next"` link, as a path.
fn next_link(page: &str) -> Option<String> {
    let (_, rest) = page.split_once("rel=\"next\" href=\"")?;
    Some(rest.split('"').next()?.replace("&amp;", "&"))
}

#[tokio::test]
async fn commits_files_and_searches_are_pages_of_the_account_only() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let other = gw.create_key("team-b", "ui").await;
    let (fingerprint, commits) = stored_history(&gw, "team-a", "hist-a1").await;
    let cookie = session_of(&sign_in(&gw, &key.secret, None).await).0;
    let theirs = session_of(&sign_in(&gw, &other.secret, None).await).0;
    let repository = format!("/ui/repositories/{fingerprint}");

    // The list draws the repository's activity: its 55 commits, all of January 2024, the last
    // of twelve months.
    let (status, page) = page_of(&gw, "/ui/", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let months = format!("{}55", "0, ".repeat(11));
    assert!(
        page.contains(&format!(
            "aria-label=\"Commits in each of the 12 months to 2024-01: {months}\""
        )),
        "{page}"
    );
    let (_, theirs_home) = page_of(&gw, "/ui/", &theirs).await;
    assert!(!theirs_home.contains("Commits in each"), "{theirs_home}");

    // The repository's page carries the search form.
    let (status, page) = page_of(&gw, &repository, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("action=\"{repository}/search\"")),
        "{page}"
    );

    // A commit: its message, author (the email hashed: the account scrubs), class,
    // reference, phase, parents and files, each file linked to its history.
    let first = &commits[0];
    let (status, page) = page_of(&gw, &format!("{repository}/commits/{}", first.id), &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    inert(&page);
    assert!(page.contains("Mallory"), "{page}");
    assert!(page.contains("@scrubbed.invalid"), "{page}");
    assert!(!page.contains("ada@example.com"), "{page}");
    assert!(page.contains("#42"), "{page}");
    assert!(page.contains("Phase 1: <bdi>Beginnings</bdi>"), "{page}");
    assert!(page.contains(">fix<"), "{page}");
    let lib = format!("{repository}/files/src/lib.rs");
    assert!(page.contains(&format!("href=\"{lib}\"")), "{page}");
    let hostile_path =
        gitview_report::ui::commit::file_href(&fingerprint, &format!("docs/{HOSTILE}.md"));
    assert!(page.contains(&format!("href=\"{hostile_path}\"")), "{page}");
    let (status, page) = page_of(
        &gw,
        &format!("{repository}/commits/{}", commits[3].id),
        &cookie,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("{repository}/commits/{}", commits[2].id)),
        "the parent linked: {page}"
    );
    let (status, page) = page_of(
        &gw,
        &format!("{repository}/commits/{}", "f".repeat(40)),
        &cookie,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("no such commit"), "{page}");

    // A file's history, newest first, a page at a time; the hostile path shown as text.
    let (status, page) = page_of(&gw, &lib, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("/commits/").count(), 50, "{page}");
    assert!(page.contains("55 commits"), "{page}");
    let newest = page.find(&commits[54].id).expect("the newest commit");
    let older = page.find(&commits[53].id).expect("the one before");
    assert!(newest < older, "newest first");
    let next = next_link(&page).expect("a next page");
    let (status, page) = page_of(&gw, &next, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("/commits/").count(), 5, "{page}");
    assert!(next_link(&page).is_none(), "the last page: {page}");
    assert!(page.contains(&first.id), "{page}");
    let (status, page) = page_of(&gw, &hostile_path, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    inert(&page);
    assert_eq!(page.matches("/commits/").count(), 1, "{page}");
    let (status, _) = page_of(&gw, &format!("{lib}?cursor=nope"), &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Search: by words (a `%` taken literally), by author, by path prefix, paged; a clear
    // message when nothing matches, and a hint when nothing is asked.
    let search = |query: &str| format!("{repository}/search?{query}");
    let (status, page) = page_of(&gw, &search("q=100%25"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&commits[1].id), "{page}");
    assert!(!page.contains(&commits[2].id), "{page}");
    assert!(page.contains("value=\"100%\""), "{page}");
    let (_, page) = page_of(&gw, &search("author=mallory"), &cookie).await;
    inert(&page);
    assert_eq!(page.matches("/commits/").count(), 1, "{page}");
    assert!(page.contains(&first.id));
    let (_, page) = page_of(&gw, &search("path=docs%2F"), &cookie).await;
    assert_eq!(page.matches("/commits/").count(), 1, "{page}");
    let (_, page) = page_of(&gw, &search("q=change&author=ada"), &cookie).await;
    assert_eq!(page.matches("/commits/").count(), 50, "{page}");
    let next = next_link(&page).expect("a next page of the search");
    assert!(next.contains("q=change&author=ada&"), "{next}");
    let (_, page) = page_of(&gw, &next, &cookie).await;
    assert_eq!(page.matches("/commits/").count(), 2, "{page}");
    let (_, page) = page_of(&gw, &search("q=no+such+words"), &cookie).await;
    assert!(page.contains("No commit matches this search."), "{page}");
    let (_, page) = page_of(&gw, &search(""), &cookie).await;
    assert!(page.contains("Say what to look for"), "{page}");
    // Under the scrubbing policy an email is matched whole, hashed, never a part of it.
    let (_, page) = page_of(&gw, &search("author=ada%40example.com"), &cookie).await;
    assert_eq!(page.matches("/commits/").count(), 50, "{page}");
    let (_, page) = page_of(&gw, &search("author=%40example"), &cookie).await;
    assert!(page.contains("No commit matches this search."), "{page}");

    // Another account: none of it is there.
    for path in [
        format!("{repository}/commits/{}", first.id),
        lib.clone(),
        search("q=change"),
    ] {
        let (status, page) = page_of(&gw, &path, &theirs).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("change"), "{page}");
    }
    // Signed out: the sign-in form.
    let response = get(&gw, &lib, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn analyses_show_their_progress_log_and_artifacts_to_their_account_only() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let other = gw.create_key("team-b", "ui").await;
    analyzed(&gw, "team-a", "ana-done").await;
    gw.start_run("team-a", "ana-live", URL).await;
    let token = gw.token("team-a", "ana-live");
    let progress = |done: u64| json!({"stage": "extract", "done": done, "total": 10});
    let (status, _) = gw
        .post(&token, "/v1/runs/ana-live/progress", &progress(3))
        .await;
    assert!(status.is_success(), "{status}");
    let (status, body) = gw
        .post(
            &token,
            "/v1/runs/ana-live/logs",
            &json!({"lines": [
                {"seq": 0, "at": "2024-05-01T09:30:00Z", "level": "info", "message": format!("cloning {HOSTILE}"), "fields": {}},
                {"seq": 1, "at": "2024-05-01T09:30:01Z", "level": "warn", "message": "mail ada@example.com", "fields": {}},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gw.put_artifact(
        "team-a",
        "ana-live",
        "notes.html",
        "text/html",
        HOSTILE.as_bytes().to_vec(),
    )
    .await;
    let cookie = session_of(&sign_in(&gw, &key.secret, None).await).0;
    let theirs = session_of(&sign_in(&gw, &other.secret, None).await).0;

    // The list: newest first, with status and progress.
    let (status, page) = page_of(&gw, "/ui/analyses", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let live = page.find("href=\"/ui/analyses/ana-live\"").expect("listed");
    let done = page.find("href=\"/ui/analyses/ana-done\"").expect("listed");
    assert!(live < done, "newest first: {page}");
    assert!(page.contains("extract 3/10"), "{page}");
    assert!(
        page.contains("succeeded") && page.contains("running"),
        "{page}"
    );

    // One: status, progress, log (scrubbed, hostile text inert) and its artifacts' links,
    // under a policy that allows its one script and its polls.
    let response = get(&gw, "/ui/analyses/ana-live", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let policy = policy_of(&response);
    assert!(
        policy.contains("script-src 'sha256-") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let page = response.text().await.unwrap();
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(page.contains("cloning "), "{page}");
    assert!(!page.contains("ada@example.com"), "{page}");
    assert!(page.contains("@scrubbed.invalid"), "{page}");
    assert!(
        page.contains("<span id=\"progress-done\">3</span>"),
        "{page}"
    );
    assert!(page.contains("data-status=\"running\""), "{page}");
    assert!(
        page.contains("href=\"/ui/analyses/ana-live/artifacts/notes.html\""),
        "{page}"
    );

    // The progress as JSON for the page's script, current.
    let (status, body) = page_of(&gw, "/ui/analyses/ana-live/progress", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "running");
    assert_eq!(body["latest"]["done"], 3);
    gw.post(&token, "/v1/runs/ana-live/progress", &progress(7))
        .await;
    let (_, body) = page_of(&gw, "/ui/analyses/ana-live/progress", &cookie).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["latest"]["done"], 7);

    // An artifact through the session, sandboxed: a stored page cannot act in the UI's origin.
    let response = get(
        &gw,
        "/ui/analyses/ana-live/artifacts/notes.html",
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let policy = policy_of(&response);
    assert!(
        policy.starts_with("sandbox;") && !policy.contains("allow-"),
        "{policy}"
    );
    assert_eq!(response.text().await.unwrap(), HOSTILE);
    let (status, _) = page_of(&gw, "/ui/analyses/ana-live/artifacts/nope", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Signed out: pages lead to the form, the JSON answers 401.
    let response = get(&gw, "/ui/analyses/ana-live/artifacts/notes.html", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = get(&gw, "/ui/analyses/ana-live/progress", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Another account: not listed, and every route is a 404.
    let (_, page) = page_of(&gw, "/ui/analyses", &theirs).await;
    assert!(!page.contains("ana-live"), "{page}");
    assert!(page.contains("no analysis yet"), "{page}");
    for path in [
        "/ui/analyses/ana-live",
        "/ui/analyses/ana-live/progress",
        "/ui/analyses/ana-live/artifacts/notes.html",
    ] {
        let (status, page) = page_of(&gw, path, &theirs).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("extract") && !page.contains("img"), "{page}");
    }
}

/// Latencies of `path` read by `readers` at once, `rounds` requests each, every body read to
/// its end: sorted, in milliseconds.
async fn under_load(
    gw: &Gateway,
    path: &str,
    cookie: &str,
    readers: usize,
    rounds: usize,
) -> Vec<f64> {
    let client = browser();
    let tasks: Vec<_> = (0..readers)
        .map(|_| {
            let (client, url, cookie) = (client.clone(), gw.url(path), cookie.to_owned());
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let started = std::time::Instant::now();
                    let response = client
                        .get(&url)
                        .header(COOKIE, &cookie)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK, "{url}");
                    response.bytes().await.unwrap();
                    took.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    all
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index]
}

/// The repository pages' server time under 50 concurrent readers (issue 19: p99 ≤ 100 ms),
/// beside `/healthz` under the same load as the floor of this machine, gateway and client
/// sharing its cores. The report page is the one `GITVIEW_UI_BENCH_PAGE` names (a long
/// history's `index.html`, e.g. git/git's), stored in a local object store as a run stores it:
/// `GITVIEW_UI_BENCH_PAGE=/tmp/out/index.html cargo test --release -p gitview-gateway --test ui -- --ignored --nocapture fifty`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: GITVIEW_UI_BENCH_DIR names a run's pages (or GITVIEW_UI_BENCH_PAGE one page)"]
async fn the_repository_pages_under_fifty_readers() {
    // A run's pages as a pod's run stores them (`story.json`, `index.html`, `report.html`,
    // `graph.json`: `runner/tests/browser.rs::ui_pages_of_a_large_history` writes them), or
    // one report page under a story of no sentences.
    let artifacts: Vec<(&str, &str, Vec<u8>)> = match std::env::var("GITVIEW_UI_BENCH_DIR") {
        Ok(dir) => [
            ("story.json", "application/json"),
            ("index.html", "text/html"),
            ("graph.json", "application/json"),
            ("report.html", "text/html"),
        ]
        .into_iter()
        .map(|(name, media)| {
            (
                name,
                media,
                std::fs::read(std::path::Path::new(&dir).join(name)).unwrap(),
            )
        })
        .collect(),
        Err(_) => {
            let page = std::env::var("GITVIEW_UI_BENCH_PAGE")
                .expect("GITVIEW_UI_BENCH_DIR or GITVIEW_UI_BENCH_PAGE");
            vec![
                (
                    "story.json",
                    "application/json",
                    serde_json::to_vec(&json!({"title": "seen", "sections": [],
                    "coverage": {"wholeHistory": true, "commits": 1}}))
                    .unwrap(),
                ),
                ("index.html", "text/html", std::fs::read(&page).unwrap()),
            ]
        }
    };
    let sizes: Vec<String> = artifacts
        .iter()
        .map(|(name, _, bytes)| format!("{name} {} bytes", bytes.len()))
        .collect();
    let windowed = artifacts.iter().any(|(name, _, _)| *name == "graph.json");
    let rows = artifacts
        .iter()
        .find(|(name, _, _)| *name == "graph.json")
        .map(|(_, _, bytes)| {
            serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["n"]
                .as_u64()
                .unwrap()
        });
    let dir = tempfile::tempdir().unwrap();
    let store = gitview_gateway::storage::ArtifactStore::local(dir.path()).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store, 1 << 30)
    })
    .await;
    let key = gw.create_key("team-a", "ui").await;
    gw.start_run("team-a", "bench-1", URL).await;
    let fingerprint = gw.succeeded_with("team-a", "bench-1", URL, artifacts).await;
    let (cookie, _) = session_of(&sign_in(&gw, &key.secret, None).await);
    let (readers, rounds) = (50, 20);
    println!(
        "{readers} readers × {rounds} requests each; {}",
        sizes.join(", ")
    );
    let mut paths = vec![
        ("/healthz (the floor)", "/healthz".to_owned(), rounds),
        ("repositories", "/ui/".to_owned(), rounds),
        (
            "repository page",
            format!("/ui/repositories/{fingerprint}"),
            rounds,
        ),
        (
            "its report page, whole",
            format!("/ui/repositories/{fingerprint}/report"),
            2,
        ),
    ];
    if windowed {
        let (_, page) = page_of(&gw, &format!("/ui/repositories/{fingerprint}"), &cookie).await;
        let graph = page
            .split("data-graph=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the repository page names its graph's rows")
            .to_owned();
        let n = rows.unwrap();
        paths.push((
            "its windowed report page",
            graph.replace("/graph", "/report"),
            5,
        ));
        paths.push((
            "the graph's first window (512 rows)",
            format!("{graph}?from=0&to=512"),
            rounds,
        ));
        let last = n / 512 * 512;
        paths.push((
            "the graph's last window",
            format!("{graph}?from={last}&to={n}"),
            rounds,
        ));
        paths.push((
            "a commit's row (find)",
            format!("{graph}?find=0000000"),
            rounds,
        ));
    }
    for (what, path, rounds) in paths {
        let took = under_load(&gw, &path, &cookie, readers, rounds).await;
        println!(
            "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
            quantile(&took, 0.5),
            quantile(&took, 0.99),
            took[took.len() - 1],
            took.len()
        );
    }
}

#[tokio::test]
async fn a_repositorys_graph_comes_in_windows_of_its_accounts_analysis_scrubbed() {
    use gitview_report::graph::GraphCommit;
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let other = gw.create_key("team-b", "ui").await;
    // A line of 40 commits, newest first; the newest's subject names an email.
    let ids: Vec<String> = (0..40)
        .map(|i| format!("{:02x}", 100 + i).repeat(20))
        .collect();
    let report = gitview_report::Report {
        story: serde_json::from_value(json!({"title": "seen", "sections": [],
            "coverage": {"wholeHistory": true, "commits": 40}}))
        .unwrap(),
        graph: (0..40)
            .map(|i| GraphCommit {
                id: ids[i].clone(),
                parents: ids.get(i + 1).cloned().into_iter().collect(),
                class: "feature".into(),
                subject: if i == 0 {
                    "mail ada@example.com".into()
                } else {
                    format!("change {i}")
                },
                tags: Vec::new(),
            })
            .collect(),
        ..gitview_report::Report::default()
    };
    let pages = gitview_report::render_windowed(&report);
    let uid = "graph-a1";
    // Started by a tracker: its run config, which the gateway keeps, names it.
    let mut start = common::start_body(URL);
    start["config"] =
        json!({"analysis": {"namespace": "team", "name": uid, "uid": uid, "tracker": "seen-main"}});
    let (status, body) = gw
        .post(
            &gw.token("team-a", uid),
            &format!("/v1/runs/{uid}/start"),
            &start,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fingerprint = gw
        .succeeded_with(
            "team-a",
            uid,
            URL,
            vec![
                (
                    "story.json",
                    "application/json",
                    serde_json::to_vec(&report.story).unwrap(),
                ),
                ("index.html", "text/html", pages.whole.into_bytes()),
                ("graph.json", "application/json", pages.graph.into_bytes()),
                ("report.html", "text/html", pages.page.into_bytes()),
            ],
        )
        .await;
    let (cookie, _) = session_of(&sign_in(&gw, &key.secret, None).await);
    let (theirs, _) = session_of(&sign_in(&gw, &other.secret, None).await);

    // The list says which tracker keeps the repository analyzed.
    let (_, home) = page_of(&gw, "/ui/", &cookie).await;
    assert!(
        home.contains("tracker <code><bdi>seen-main</bdi></code>"),
        "{home}"
    );

    // The repository's page frames the analysis' windowed page, and fetches its rows itself.
    let (status, page) = page_of(&gw, &format!("/ui/repositories/{fingerprint}"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let src = page
        .split("iframe class=\"report\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        src.starts_with("/ui/analyses/") && src.ends_with("/report"),
        "{src}"
    );
    let graph = src.replace("/report", "/graph");
    assert!(page.contains(&format!("data-graph=\"{graph}\"")), "{page}");
    let framed = get(&gw, &src, Some(&cookie)).await;
    assert_eq!(framed.status(), StatusCode::OK);
    assert!(policy_of(&framed).starts_with("sandbox allow-scripts;"));
    assert!(framed.text().await.unwrap().contains("\"window\":true"));

    // A window: its rows, scrubbed (the account scrubs), and the edges crossing it.
    let (status, body) = page_of(&gw, &format!("{graph}?from=0&to=3"), &cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let window: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(window["first"], 0);
    assert_eq!(window["ids"].as_str().unwrap().len(), 21);
    let newest = window["sub"][0].as_str().unwrap();
    assert!(
        !newest.contains("ada@example.com") && newest.contains("@scrubbed.invalid"),
        "{newest}"
    );
    assert_eq!(window["sub"][2], "change 2");
    assert_eq!(
        window["edges"].as_array().unwrap().len(),
        9,
        "3 edges: {body}"
    );
    // The row of a commit by a prefix; none for a prefix no row has.
    let (_, found) = page_of(&gw, &format!("{graph}?find={}", &ids[17][..9]), &cookie).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&found).unwrap(),
        json!({"row": 17})
    );
    let (_, found) = page_of(&gw, &format!("{graph}?find=ffffffff"), &cookie).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&found).unwrap(),
        json!({"row": null})
    );
    // Bad asks are refused, naming what to ask.
    for bad in [
        "?from=0&to=99999",
        "?from=5&to=5",
        "?from=0",
        "",
        "?from=0&to=3&find=abcd",
    ] {
        let (status, body) = page_of(&gw, &format!("{graph}{bad}"), &cookie).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.contains("from and to"), "{bad}: {body}");
    }
    // Another account: the analysis, its page and its graph are not there.
    let (status, _) = page_of(&gw, &format!("{graph}?from=0&to=3"), &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page_of(&gw, &src, &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Signed out: the way to sign in.
    let response = get(&gw, &format!("{graph}?from=0&to=3"), None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Gzipped for a browser that asks, as stored for one that does not.
    let plain = get(&gw, &src, Some(&cookie)).await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let zipped = browser()
        .get(gw.url(&src))
        .header(COOKIE, &cookie)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), StatusCode::OK);
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert!(
        policy_of(&zipped).starts_with("sandbox allow-scripts;"),
        "the policy kept"
    );
    let zipped = zipped.bytes().await.unwrap();
    assert!(zipped.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {} bytes",
        zipped.len(),
        plain.len()
    );
}
