//! The web UI in a real browser (headless Chromium over WebDriver) against the gateway on a
//! throwaway PostgreSQL: sign in through the form with an API key, see the account's
//! repositories, open one — its page frames the stored report page, sandboxed — and follow a
//! sentence inside the frame to its commit, sign out (back at the form, the cookie gone), and
//! with another account's session the repository's page is a 404. No console error and no
//! Content-Security-Policy violation on any page. Then the history's pages: search from a
//! repository's page, follow a result to its commit and a file of it to its history, and
//! watch an analysis' page keep its progress current as the runner reports. Screenshots:
//! `<target>/test-artifacts/browser/gateway-ui/` and `…/gateway-ui-pages/`.
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
    told(gw, account, uid, report).await
}

/// Ends the started run `uid` as succeeded, with the story and its rendered report page; the
/// fingerprint.
async fn told(gw: &Gateway, account: &str, uid: &str, report: &Report) -> String {
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

/// An artifact as a run stores it: name, media type, bytes.
type Artifact = (&'static str, &'static str, Vec<u8>);

/// A linear history of `n` commits with a side branch merged every 100, newest first, its
/// first commit named by the story's one sentence; and the page's artifacts as a pod's run
/// writes them: `story.json`, the self-contained `index.html`, and the web UI's `report.html`
/// with `graph.json`.
fn long_history(n: usize) -> (Vec<String>, Vec<Artifact>) {
    // Ids whose first seven digits differ: a multiplicative hash of the row, then the row.
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{:08x}{:032x}", (i as u64 * 2_654_435_761) as u32, i))
        .collect();
    let graph: Vec<GraphCommit> = (0..n)
        .map(|i| {
            // Row i's first parent is row i + 1 (older); every 100th also merges row i + 3.
            let mut parents: Vec<String> = ids.get(i + 1).cloned().into_iter().collect();
            if i % 100 == 0 && i + 3 < n {
                parents.push(ids[i + 3].clone());
            }
            // And row 10 merges one far below: a stub at each end, no lane held between.
            if i == 10 && n > 2000 {
                parents.push(ids[2000].clone());
            }
            GraphCommit {
                id: ids[i].clone(),
                parents,
                class: if i % 3 == 0 { "fix" } else { "feature" }.into(),
                subject: format!("change {}", n - i),
                tags: if i == 5 {
                    vec!["v9.0".into()]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let first = ids[n - 1].clone();
    let story = StoryDocument {
        title: "long".into(),
        coverage: Some(StoryCoverage {
            whole_history: true,
            commits: n as u64,
            ..StoryCoverage::default()
        }),
        sections: vec![StorySection {
            id: "in-brief".into(),
            heading: "In brief".into(),
            list: false,
            claims: vec![Claim {
                text: format!("It began with `{}`.", &first[..7]),
                evidence: Evidence {
                    commits: vec![first.clone()],
                    ..Evidence::default()
                },
            }],
        }],
        ..StoryDocument::default()
    };
    let report = Report {
        story,
        range: "HEAD".into(),
        commits: vec![CommitEntry {
            id: first.clone(),
            time: 1_700_000_000,
            date: "2023-11-14".into(),
            author: "Ada Author".into(),
            subject: "change 1".into(),
            class: "feature".into(),
            added: 1,
            deleted: 0,
            files: 1,
            tags: Vec::new(),
        }],
        graph,
        ..Report::default()
    };
    let pages = gitview_report::render_windowed(&report);
    let artifacts = vec![
        (
            "story.json",
            "application/json",
            serde_json::to_vec(&report.story).unwrap(),
        ),
        ("index.html", "text/html", pages.whole.into_bytes()),
        ("graph.json", "application/json", pages.graph.into_bytes()),
        ("report.html", "text/html", pages.page.into_bytes()),
    ];
    (ids, artifacts)
}

/// The graph's row requests the repository's page made so far.
async fn row_requests(browser: &Browser) -> Vec<String> {
    let asked = browser
        .eval(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })
                .filter(function (name) { return name.indexOf('/graph?') !== -1; });",
        )
        .await;
    serde_json::from_value(asked).unwrap()
}

#[tokio::test]
async fn a_long_historys_graph_loads_its_rows_in_windows_as_it_scrolls() {
    const N: usize = 3000;
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let (ids, artifacts) = long_history(N);
    let uid = "windows-a1";
    gw.start_run("team-a", uid, URL).await;
    let fingerprint = gw.succeeded_with("team-a", uid, URL, artifacts).await;
    let base = format!("http://localhost:{}", gw.addr.port());
    let repository = format!("/ui/repositories/{fingerprint}");

    let browser = Browser::launch(Options {
        name: "gateway-ui-graph".into(),
        offline: false,
    })
    .await;
    browser.goto(&format!("{base}/ui/")).await;
    sign_in(&browser, &key.secret).await;
    browser.click(&format!("a[href=\"{repository}\"]")).await;
    at(&browser, &repository).await;
    let framed = browser
        .eval("return document.querySelector('iframe.report').getAttribute('src')")
        .await;
    let framed = framed.as_str().unwrap().to_owned();
    assert!(
        framed.starts_with("/ui/analyses/") && framed.ends_with("/report"),
        "the analysis' windowed page framed: {framed}"
    );
    browser
        .client()
        .find(Locator::Css("iframe.report"))
        .await
        .expect("the framed report")
        .enter_frame()
        .await
        .expect("entering the report's frame");
    // The newest rows drawn, from the first window, with the page carrying no rows itself.
    browser
        .wait_until(
            "the newest rows drawn",
            &format!(
                "return Array.prototype.some.call(document.querySelectorAll('#graph-svg .gid'),
                   function (t) {{ return t.textContent === '{}'; }})",
                &ids[0][..7]
            ),
        )
        .await;
    let stubs = browser
        .eval("return document.querySelectorAll('#graph-svg path.gstub').length")
        .await;
    assert!(
        stubs.as_u64().unwrap() >= 1,
        "the long merge's stub drawn: {stubs}"
    );
    let carried = browser
        .eval("return document.getElementById('graph-data').textContent.length")
        .await;
    assert!(
        carried.as_u64().unwrap() < 2_000,
        "the page's graph block is its skeleton, not {N} rows: {carried} bytes"
    );
    // To the first commit: only the windows on the way there's ends are fetched.
    browser.click("#graph-first").await;
    browser
        .wait_until(
            "the first commit's row drawn",
            &format!(
                "return Array.prototype.some.call(document.querySelectorAll('#graph-svg .gid'),
                   function (t) {{ return t.textContent === '{}'; }})",
                &ids[N - 1][..7]
            ),
        )
        .await;
    // The sentence's link shows the first commit in the graph, highlighted.
    browser.click("#story .claim a.gr").await;
    browser
        .wait_until(
            "the sentence's commit highlighted in the graph",
            &format!(
                "return document.getElementById('graph-status').textContent.indexOf('row {N} of {N}') !== -1
                   && document.querySelector('#graph-svg circle.gon') !== null"
            ),
        )
        .await;
    // A commit the page does not name is found by the gateway, its window fetched.
    let middle = N / 2;
    browser
        .eval(&format!(
            "location.hash = '#commit-{}'; return true;",
            &ids[middle][..10]
        ))
        .await;
    browser
        .wait_until(
            "a commit the page does not name, found and shown",
            &format!(
                "return document.getElementById('graph-status').textContent
                   === 'Commit {} (row {} of {N}) highlighted: change {}'",
                &ids[middle][..7],
                middle + 1,
                N - middle
            ),
        )
        .await;
    browser.screenshot("graph-middle").await;
    browser
        .client()
        .enter_parent_frame()
        .await
        .expect("leaving the frame");
    let asked = row_requests(&browser).await;
    let windows = N.div_ceil(512);
    assert!(
        asked.len() < windows,
        "fewer windows fetched than the graph has ({windows}): {asked:#?}"
    );
    assert!(
        asked.iter().any(|a| a.contains("find=")),
        "the gateway asked for the unnamed commit: {asked:#?}"
    );
    browser
        .assert_clean("the repository's page and its windowed report")
        .await;

    browser.close().await;
}

/// Types `text` into the field `css` finds.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    browser
        .client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("finding {css}: {err}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("typing into {css}: {err}"));
}

#[tokio::test]
async fn a_person_searches_follows_a_commit_to_a_files_history_and_watches_an_analysis() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "ui").await;
    let (report, _) = report();
    // A stored history of three commits, the second with a hostile subject, then a run that
    // is still going.
    let uid = "pages-b1";
    gw.start_run("team-a", uid, URL).await;
    let first = common::commit(1, &[]);
    let mut second = common::commit(2, std::slice::from_ref(&first.id));
    second.message = format!("second step {HOSTILE}\n\nwith a body\n");
    let third = common::commit(3, std::slice::from_ref(&second.id));
    let enriched =
        |c: &gitview_core::records::CommitRecord| (c.clone(), json!({"class": "feature"}));
    gw.store_commits(
        "team-a",
        uid,
        0,
        &[enriched(&first), enriched(&second), enriched(&third)],
    )
    .await;
    let fingerprint = told(&gw, "team-a", uid, &report).await;
    let live = "pages-live";
    gw.start_run("team-a", live, URL).await;
    let token = gw.token("team-a", live);
    let progress = |stage: &str, done: u64| json!({"stage": stage, "done": done, "total": 4});
    gw.post(
        &token,
        &format!("/v1/runs/{live}/progress"),
        &progress("extract", 1),
    )
    .await;
    let base = format!("http://localhost:{}", gw.addr.port());
    let repository = format!("/ui/repositories/{fingerprint}");

    let browser = Browser::launch(Options {
        name: "gateway-ui-pages".into(),
        offline: false,
    })
    .await;
    browser.goto(&format!("{base}/ui/")).await;
    sign_in(&browser, &key.secret).await;

    // From the repository's page, search its messages.
    browser.click(&format!("a[href=\"{repository}\"]")).await;
    at(&browser, &repository).await;
    type_into(&browser, "#search-q", "second").await;
    browser.click("form.search button[type=submit]").await;
    at(&browser, &format!("{repository}/search")).await;
    let found = browser
        .eval(
            "return [document.querySelectorAll('table.commits tbody tr').length,
                     document.querySelectorAll('img, [onerror]').length, document.scripts.length,
                     document.querySelector('table.commits tbody').innerText]",
        )
        .await;
    assert_eq!(found[0], 1, "one commit found: {found}");
    assert_eq!(found[1], 0, "an injected element: {found}");
    assert_eq!(found[2], 0, "a script on the search page: {found}");
    assert!(
        found[3].as_str().unwrap().contains(HOSTILE),
        "the hostile subject as text: {found}"
    );
    browser.screenshot("search").await;
    browser.assert_clean("the search").await;

    // Follow the result to its commit, by keyboard: the link takes focus and Enter follows it.
    let commit = format!("{repository}/commits/{}", second.id);
    browser
        .eval(&format!(
            "document.querySelector('table.commits a[href=\"{commit}\"]').focus(); return true;"
        ))
        .await;
    browser
        .client()
        .active_element()
        .await
        .expect("the focused link")
        .send_keys("\u{E007}")
        .await
        .expect("pressing Enter on the link");
    at(&browser, &commit).await;
    let shown = browser
        .eval(
            "return [document.querySelector('h1').innerText, document.querySelector('pre.message').innerText,
                     document.querySelectorAll('img, [onerror]').length]",
        )
        .await;
    assert_eq!(
        shown,
        json!([format!("second step {HOSTILE}"), "with a body", 0]),
        "the commit's message as text"
    );
    browser.screenshot("commit").await;
    browser.assert_clean("the commit").await;

    // Follow a file of it to the file's history.
    let file = format!("{repository}/files/src/2.rs");
    browser.click(&format!("a[href=\"{file}\"]")).await;
    at(&browser, &file).await;
    let rows = browser
        .eval("return document.querySelectorAll('table.commits tbody tr').length")
        .await;
    assert_eq!(rows, 1, "the file's one commit");
    browser.screenshot("file-history").await;
    browser.assert_clean("the file's history").await;

    // The running analysis: its page shows the progress at load, then keeps it current as
    // the runner reports, by its own script, under the page's policy.
    browser.click("header.bar a[href=\"/ui/analyses\"]").await;
    at(&browser, "/ui/analyses").await;
    browser
        .click(&format!("a[href=\"/ui/analyses/{live}\"]"))
        .await;
    at(&browser, &format!("/ui/analyses/{live}")).await;
    let loaded = browser
        .eval(
            "return [document.getElementById('progress-stage').textContent,
                     document.getElementById('progress-done').textContent]",
        )
        .await;
    assert_eq!(loaded, json!(["extract", "1"]), "the progress at load");
    gw.post(
        &token,
        &format!("/v1/runs/{live}/progress"),
        &progress("summarize", 3),
    )
    .await;
    browser
        .wait_until(
            "the page showing the new progress",
            "return document.getElementById('progress-stage').textContent === 'summarize'
                 && document.getElementById('progress-done').textContent === '3'
                 && document.getElementById('progress-bar').value === 3",
        )
        .await;
    browser.screenshot("analysis-progress").await;
    browser.assert_clean("the analysis' page").await;
    browser.close().await;
}

/// Figures for a long history's repository page in the web UI, its graph in windows: the
/// pages of `GITVIEW_UI_BENCH_DIR` (`runner/tests/browser.rs::ui_pages_of_a_large_history`
/// writes them) stored as a pod's run stores them, then in Chromium: the page opened (first
/// contentful paint, the framed report's, and until the graph's first rows are drawn), the
/// jump to the first commit, and frame times scrolling the graph against the idle reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: GITVIEW_UI_BENCH_DIR names a run's pages"]
async fn figures_for_a_large_historys_windowed_graph() {
    let dir = std::env::var("GITVIEW_UI_BENCH_DIR").expect("GITVIEW_UI_BENCH_DIR: a run's pages");
    let read = |name: &str| std::fs::read(std::path::Path::new(&dir).join(name)).unwrap();
    let graph: gitview_report::graph::GraphData =
        serde_json::from_slice(&read("graph.json")).unwrap();
    let first = graph.ids[(graph.n - 1) * 7..].to_owned();
    let artifacts = vec![
        ("story.json", "application/json", read("story.json")),
        ("index.html", "text/html", read("index.html")),
        ("graph.json", "application/json", read("graph.json")),
        ("report.html", "text/html", read("report.html")),
    ];
    for (name, _, bytes) in &artifacts {
        println!("{name}: {} bytes", bytes.len());
    }
    let store_dir = tempfile::tempdir().unwrap();
    let store = gitview_gateway::storage::ArtifactStore::local(store_dir.path()).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store, 1 << 30)
    })
    .await;
    let key = gw.create_key("team-a", "ui").await;
    gw.start_run("team-a", "bench-1", URL).await;
    let fingerprint = gw.succeeded_with("team-a", "bench-1", URL, artifacts).await;
    let base = format!("http://localhost:{}", gw.addr.port());
    let browser = Browser::launch(Options {
        name: "gateway-ui-large".into(),
        offline: false,
    })
    .await;
    browser.goto(&format!("{base}/ui/")).await;
    sign_in(&browser, &key.secret).await;
    let page = format!("{base}/ui/repositories/{fingerprint}");
    let drawn = "return document.querySelectorAll('#graph-svg circle').length";
    for round in 1..=3 {
        browser.goto("about:blank").await;
        let started = std::time::Instant::now();
        browser.goto(&page).await;
        let top = browser
            .eval(
                "var n = performance.getEntriesByType('navigation')[0];
                 var fcp = performance.getEntriesByName('first-contentful-paint')[0];
                 return [n.loadEventEnd, fcp ? fcp.startTime : null, n.transferSize, performance.timeOrigin];",
            )
            .await;
        enter_report(&browser).await;
        browser.wait_until("the graph's first rows", drawn).await;
        let wall = started.elapsed();
        let framed = browser
            .eval(
                "var n = performance.getEntriesByType('navigation')[0];
                 var fcp = performance.getEntriesByName('first-contentful-paint')[0];
                 return [n.loadEventEnd, fcp ? fcp.startTime : null, n.transferSize, performance.timeOrigin];",
            )
            .await;
        // The framed page's times from the top page's start.
        let offset = framed[3].as_f64().unwrap() - top[3].as_f64().unwrap();
        println!(
            "round {round}: repository page load {:.0} ms, first contentful paint {:.0} ms ({} bytes); \
             the framed report's first contentful paint {:.0} ms, load {:.0} ms from the page's start ({} bytes); \
             the graph's first rows drawn within {} ms of the navigation (as polled)",
            top[0].as_f64().unwrap(),
            top[1].as_f64().unwrap_or(f64::NAN),
            top[2],
            framed[1].as_f64().unwrap_or(f64::NAN) + offset,
            framed[0].as_f64().unwrap() + offset,
            framed[2],
            wall.as_millis()
        );
        browser.client().enter_parent_frame().await.unwrap();
    }
    enter_report(&browser).await;
    browser.wait_until("the graph's first rows", drawn).await;
    browser
        .eval("document.getElementById('graph-sec').scrollIntoView(); return 0;")
        .await;
    let jump = browser
        .client()
        .execute_async(
            &format!(
                "var done = arguments[arguments.length - 1];
                 var t0 = performance.now();
                 document.getElementById('graph-first').click();
                 function drawn() {{
                   var rows = document.querySelectorAll('#graph-svg tspan.gid');
                   for (var i = rows.length - 1; i >= 0; i--) {{ if (rows[i].textContent === '{first}') {{ return true; }} }}
                   return false;
                 }}
                 function frame() {{
                   if (drawn()) {{ requestAnimationFrame(function () {{ done(performance.now() - t0); }}); }}
                   else if (performance.now() - t0 > 10000) {{ done(null); }}
                   else {{ requestAnimationFrame(frame); }}
                 }}
                 requestAnimationFrame(frame);"
            ),
            Vec::new(),
        )
        .await
        .unwrap();
    println!(
        "jump to the first commit (row {} of {}): {:.0} ms from the click to the frame after its row is drawn",
        graph.n,
        graph.n,
        jump.as_f64().expect("the first commit drawn within 10 s")
    );
    browser.screenshot("graph-first").await;
    for (from, step, label) in [
        ("0", 0, "idle (the reference)"),
        ("0", 40, "scrolled gently from the newest"),
        ("0", 200, "scrolled from the newest"),
        ("box.scrollHeight / 2", 200, "scrolled mid-history"),
    ] {
        let frames = browser.scroll_frames("graph", from, step, 300).await;
        println!("graph {label}, {step} px a frame: {}", frames.summary());
    }
    browser.screenshot("graph-scrolled").await;
    browser.client().enter_parent_frame().await.unwrap();
    let windows = browser
        .eval("return performance.getEntriesByType('resource').filter(function (e) { return e.name.indexOf('/graph?') !== -1; }).map(function (e) { return e.transferSize; })")
        .await;
    let sizes: Vec<u64> = serde_json::from_value(windows).unwrap();
    println!(
        "{} windows fetched, {} bytes in all (the whole graph.json: {} rows)",
        sizes.len(),
        sizes.iter().sum::<u64>(),
        graph.n
    );
    browser.assert_clean("the large repository page").await;
    browser.close().await;
}

/// Enters the repository page's framed report.
async fn enter_report(browser: &Browser) {
    browser
        .client()
        .find(Locator::Css("iframe.report"))
        .await
        .expect("the framed report")
        .enter_frame()
        .await
        .expect("entering the report's frame");
}
