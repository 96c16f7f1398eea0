//! The helper catches what the browser tests rely on it to catch, in a real headless Chromium:
//! Content-Security-Policy violations in the console, and an alert left open.

use gitview_browser::{Browser, Options};

#[tokio::test]
async fn policy_violations_and_alerts_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-tD6/Cd27WfiLmYhV9hkGGnTMy91V9qwGgimKlNDRUGE='\">\
         </head><body><p id=\"p\">page</p>\
         <script>document.getElementById('missing').textContent = 'x';</script>\
         <img src=\"https://example.invalid/x.png\" alt=\"\">\
         </body></html>",
    )
    .unwrap();
    let browser = Browser::launch(Options {
        name: "self-test".into(),
        offline: true,
    })
    .await;
    browser.goto(&format!("file://{}", page.display())).await;
    browser
        .wait_until(
            "the page loaded",
            "return document.readyState === 'complete'",
        )
        .await;
    let console = browser.console().await;
    let problems: Vec<&str> = console
        .iter()
        .filter(|e| e.is_problem())
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        problems
            .iter()
            .any(|m| m.contains("Content Security Policy")),
        "the blocked script and image as CSP violations: {console:#?}"
    );

    // An alert stays open for the check to see.
    browser
        .client()
        .execute(
            "setTimeout(function () { alert('fired'); }, 0); return 0;",
            Vec::new(),
        )
        .await
        .unwrap();
    // (Every other command fails while it is open: "unexpected alert open".)
    let started = std::time::Instant::now();
    while browser.client().get_alert_text().await.is_err() {
        assert!(
            started.elapsed() < gitview_browser::DEADLINE,
            "no alert within {:?}",
            gitview_browser::DEADLINE
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = browser.client().get_alert_text().await;
    assert_eq!(text.ok().as_deref(), Some("fired"), "the alert left open");
    browser.client().dismiss_alert().await.unwrap();
    browser.close().await;
}
