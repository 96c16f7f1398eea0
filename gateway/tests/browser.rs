//! The web UI in a real browser (headless Chromium over WebDriver) against the gateway on a
//! throwaway PostgreSQL: sign in through the form with an API key, see the account's
//! repositories, open one — its page frames the stored report page, sandboxed — and follow a
//! sentence inside the frame to its commit, sign out (back at the form, the cookie gone), and
//! with another account's session the repository's page is a 404. No console error and no
//! Content-Security-Policy violation on any page. Screenshots:
//! `<target>/test-artifacts/browser/gateway-ui/`.
//!
//! Needs Chromium and chromedriver (Debian's `chromium` and `chromium-driver`, or
//! `GITVIEW_CHROMIUM` and `GITVIEW_CHROMEDRIVER`); fails naming what is missing.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::Gateway;
use gitview_browser::{Browser, Locator, Options};
use gitview_core::story::{Claim, Evidence, StoryCoverage, StoryDocument, StorySection};
use gitview_report::graph::GraphCommit;
use gitview_report::{CommitEntry, Month, Report};
use serde_json::json;

const URL: &str = "https://git.example.com/org/seen.git";
const HOSTILE: &str = "\"><img src=x onerror=alert(1)> <script>alert(1)</script>";

/// A three-commit history's report page, as `analyze` would render it; its first commit's id.
fn report() -> (Report, String) {
    let ids: Vec<String> = ["a1", "b2", "c3"].iter().map(|p| p.repeat(20)).collect();
    let entry = |i: usize, subject: &str| CommitEntry {
        id: ids[i].clone(),
        time: 1_700_000_000 + i as i64 * 60,
        date: "2023-11-14".into(),
        author: "Ada Author".into(),
        subject: subject.into(),
        class: "feature".into(),
        added: 1,
        deleted: 0,
        files: 1,
        tags: Vec::new(),
    };
    let story = StoryDocument {
        title: "seen".into(),
        coverage: Some(StoryCoverage {
            whole_history: true,
            commits: 3,
            ..StoryCoverage::default()
        }),
        sections: vec![StorySection {
            id: "in-brief".into(),
            heading: "In brief".into(),
            list: false,
            claims: vec![Claim {
                text: format!("It began with `{}`.", &ids[0][..7]),
                evidence: Evidence {
                    commits: vec![ids[0].clone()],
                    ..Evidence::default()
                },
            }],
        }],
        ..StoryDocument::default()
    };
    let graph = (0..3)
        .rev()
        .map(|i| GraphCommit {
            id: ids[i].clone(),
            parents: ids.get(i.wrapping_sub(1)).cloned().into_iter().collect(),
            class: "feature".into(),
            subject: format!("step {i}"),
            tags: Vec::new(),
        })
        .collect();
    let report = Report {
        story,
        range: "HEAD".into(),
        commits: vec![entry(0, HOSTILE), entry(1, "step 1"), entry(2, "step 2")],
        months: vec![Month {
            month: "2023-11".into(),
            commits: 3,
            authors: 1,
            added: 3,
            deleted: 0,
        }],
        graph,
        ..Report::default()
    };
    (report, ids[0].clone())
}

/// A succeeded run of `URL` in `account` that stored the story and its rendered report page.
async fn analyzed(gw: &Gateway, account: &str, uid: &str, report: &Report) -> String {
    gw.start_run(account, uid, URL).await;
    gw.succeeded_with(
        account,
        uid,
        URL,
        vec![
            (
                "story.json",
                "application/json",
                serde_json::to_vec(&report.story).unwrap(),
            ),
            (
                "index.html",
                "text/html",
                gitview_report::render(report).into_bytes(),
            ),
        ],
    )
    .await
}

/// Waits until the top document is at `path` (after a redirect or a form post).
async fn at(browser: &Browser, path: &str) {
    browser
        .wait_until(
            &format!("the browser at {path}"),
            &format!("return document.readyState === 'complete' && location.pathname === '{path}'"),
        )
        .await;
}

/// Signs in through the form with `key`.
async fn sign_in(browser: &Browser, key: &str) {
    at(browser, "/ui/sign-in").await;
    browser
        .client()
        .find(Locator::Css("input#key"))
        .await
        .expect("the sign-in form's key field")
        .send_keys(key)
        .await
        .expect("typing the key");
    browser.click("main form button[type=submit]").await;
    at(browser, "/ui/").await;
}

/// The session cookie the browser holds for the UI, if any.
async fn session_cookie(browser: &Browser) -> Option<(bool, bool, String)> {
    browser
        .client()
        .get_all_cookies()
        .await
        .expect("the browser's cookies")
        .into_iter()
        .find(|c| c.name() == "gitview_session")
        .map(|c| {
            (
                c.http_only().unwrap_or(false),
                c.secure().unwrap_or(false),
                format!("{:?}", c.same_site()),
            )
        })
}

#[tokio::test]
async fn a_person_signs_in_reads_a_story_follows_its_evidence_and_signs_out() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let other = gw.create_key("team-b", "ui").await;
    let (report, first) = report();
    let fingerprint = analyzed(&gw, "team-a", "browser-a1", &report).await;
    // `localhost`, not 127.0.0.1: browsers keep `Secure` cookies from http://localhost.
    let base = format!("http://localhost:{}", gw.addr.port());

    let browser = Browser::launch(Options {
        name: "gateway-ui".into(),
        offline: false,
    })
    .await;

    // Signed out, the UI leads to the sign-in form.
    browser.goto(&format!("{base}/ui/")).await;
    at(&browser, "/ui/sign-in").await;
    browser.screenshot("sign-in").await;
    browser.assert_clean("the sign-in form").await;

    // Signing in with the key: the account's repositories, and a session cookie that scripts
    // cannot read and other sites' requests do not carry.
    sign_in(&browser, &key.secret).await;
    assert_eq!(
        session_cookie(&browser).await,
        Some((true, true, "Some(Strict)".into())),
        "the session cookie (HttpOnly, Secure, SameSite)"
    );
    let listed = browser
        .eval(&format!(
            "var a = document.querySelector('a[href=\"/ui/repositories/{fingerprint}\"]');
             return a && a.textContent;"
        ))
        .await;
    assert!(
        listed
            .as_str()
            .unwrap_or_default()
            .contains("git.example.com/org/seen"),
        "the repository in the list: {listed}"
    );
    browser.screenshot("repositories").await;
    browser.assert_clean("the repositories").await;

    // Its page frames the report, which draws (its script runs in the sandbox).
    browser
        .click(&format!("a[href=\"/ui/repositories/{fingerprint}\"]"))
        .await;
    at(&browser, &format!("/ui/repositories/{fingerprint}")).await;
    browser
        .client()
        .find(Locator::Css("iframe.report"))
        .await
        .expect("the framed report")
        .enter_frame()
        .await
        .expect("entering the report's frame");
    browser
        .wait_until(
            "the framed report's graph drawn",
            "return document.querySelectorAll('#graph-svg circle').length === 3",
        )
        .await;
    let inert = browser
        .eval(
            "return [document.querySelectorAll('img, [onerror]').length, document.scripts.length,
                     document.body.innerText]",
        )
        .await;
    assert_eq!(inert[0], 0, "an injected element in the framed report");
    assert_eq!(inert[1], 3, "scripts other than the page's own");
    assert!(
        inert[2].as_str().unwrap().contains(HOSTILE),
        "the hostile subject shown as text"
    );

    // A sentence's commit link lands on the commit's entry, inside the frame.
    let target = format!("c-{first}");
    browser
        .click(&format!("#story .claim a[href=\"#{target}\"]"))
        .await;
    browser
        .wait_until(
            "the sentence's link landing on its commit",
            &format!(
                "var e = document.getElementById('{target}'); var r = e.getBoundingClientRect();
                 return location.hash === '#{target}' && e.matches(':target') && r.top >= 0 && r.bottom <= innerHeight;"
            ),
        )
        .await;
    browser
        .client()
        .enter_parent_frame()
        .await
        .expect("leaving the frame");
    browser.screenshot("repository-evidence").await;
    browser
        .assert_clean("the repository's page and its report")
        .await;

    // Signing out: back at the form, the cookie gone.
    browser.click("form.signout button").await;
    at(&browser, "/ui/sign-in").await;
    assert_eq!(
        session_cookie(&browser).await,
        None,
        "the cookie after sign-out"
    );
    browser.goto(&format!("{base}/ui/")).await;
    at(&browser, "/ui/sign-in").await;
    browser.screenshot("signed-out").await;
    browser.assert_clean("signed out").await;

    // Another account's session: the repository is not listed, and its page is a 404.
    sign_in(&browser, &other.secret).await;
    let home = browser.eval("return document.body.innerText").await;
    assert!(
        !home.as_str().unwrap().contains("seen"),
        "another account's repository listed: {home}"
    );
    browser
        .assert_clean("the other account's repositories")
        .await;
    browser
        .goto(&format!("{base}/ui/repositories/{fingerprint}"))
        .await;
    let page = browser
        .eval(
            "return [performance.getEntriesByType('navigation')[0].responseStatus,
                     document.querySelector('h1').textContent]",
        )
        .await;
    assert_eq!(
        page,
        json!([404, "Not found"]),
        "another account's repository"
    );
    browser.screenshot("other-account-404").await;
    // The one entry a 404 leaves is the browser noting the status; nothing else.
    let problems: Vec<_> = browser
        .console()
        .await
        .into_iter()
        .filter(|e| {
            e.is_problem()
                && !(e.source == "network"
                    && e.message
                        .contains(&format!("/ui/repositories/{fingerprint} "))
                    && e.message.contains("status of 404"))
        })
        .collect();
    assert!(problems.is_empty(), "the 404 page: {problems:#?}");
    browser.assert_no_alert("the 404 page").await;
    browser.close().await;
}
