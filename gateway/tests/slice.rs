//! JSON slices for downstream model services (`GET /v1/analyses/{id}/slice`), over real HTTP
//! on a throwaway PostgreSQL: totals and breakdowns computed from what two runs of one
//! repository stored, narrowed by time, path and size, scrubbed by the account's policy, and
//! nothing of another tenant's.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, commit};
use gitview_core::records::CommitRecord;
use gitview_core::results::{HistorySlice, SLICE_SCHEMA};
use gitview_core::scrub;
use reqwest::StatusCode;
use serde_json::{Value, json};

const URL: &str = "https://git.example.com/org/slice.git";

async fn store(
    gw: &Gateway,
    uid: &str,
    commits: &[(CommitRecord, Value)],
    to: &str,
    expected: Option<&str>,
) {
    gw.start_run("team-a", uid, URL).await;
    let token = gw.token("team-a", uid);
    gw.store_commits("team-a", uid, 0, commits).await;
    let finish = json!({"status": "succeeded", "toCommit": to, "commitsAnalyzed": commits.len(),
                        "metrics": {}, "advance": {"expected": expected, "to": to}});
    let (status, body) = gw
        .post(&token, &format!("/v1/runs/{uid}/finish"), &finish)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn slice(gw: &Gateway, key: &str, path: &str) -> HistorySlice {
    let (status, body) = gw.get(key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn slices_summarize_the_history_an_analysis_knew() {
    let gw = Gateway::start().await;
    // A full run: c1 (feature), c2 (fix, a secret in its subject), c3 (docs, by grace,
    // released as v1.0); then an incremental run: c4 (fix) in February.
    let c1 = commit(1, &[]);
    let mut c2 = commit(2, std::slice::from_ref(&c1.id));
    let secret = ["AKIA", "IOSFODNN7EXAMPLE"].concat();
    c2.message = format!("fix: stop logging {secret}\n\nlong body\n");
    let mut c3 = commit(3, std::slice::from_ref(&c2.id));
    c3.author.name = "grace".into();
    c3.author.email = "Grace@Example.com".into();
    c3.files[0].path = "docs/guide/intro.md".into();
    c3.files[0].added = Some(40);
    let mut c4 = commit(4, std::slice::from_ref(&c3.id));
    c4.committer.time = "2024-02-10T10:00:00+00:00".into();
    let class = |class: &str| json!({"class": class, "releases": []});
    store(
        &gw,
        "uid-full",
        &[
            (c1.clone(), class("feature")),
            (c2.clone(), class("fix")),
            (c3.clone(), json!({"class": "docs", "releases": ["v1.0"]})),
        ],
        &c3.id,
        None,
    )
    .await;
    store(
        &gw,
        "uid-incr",
        &[(c4.clone(), class("fix"))],
        &c4.id,
        Some(&c3.id),
    )
    .await;
    let key = gw.create_key("team-a", "model-service").await.secret;

    // The incremental analysis' slice covers the whole history it built on.
    let all = slice(&gw, &key, "/v1/analyses/uid-incr/slice").await;
    assert_eq!(all.schema, SLICE_SCHEMA);
    assert_eq!(all.analysis.id, "uid-incr");
    assert_eq!((all.totals.commits, all.totals.authors), (4, 2));
    // Lines: each commit adds n+1 and deletes 1 in src/, but c3's 40 in docs/.
    assert_eq!(
        (all.totals.lines_added, all.totals.lines_deleted),
        (2 + 3 + 40 + 5, 4)
    );
    assert_eq!(
        all.totals.last_commit_at.as_deref(),
        Some("2024-02-10T10:00:00.000000Z")
    );
    let ids: Vec<&str> = all.commits.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&c4.id, &c3.id, &c2.id, &c1.id]);
    assert!(!all.truncated);
    let classes: Vec<(&str, u64)> = all
        .by_class
        .iter()
        .map(|g| (g.key.as_str(), g.commits))
        .collect();
    assert_eq!(classes, [("fix", 2), ("docs", 1), ("feature", 1)]);
    let months: Vec<(&str, u64, Option<u64>)> = all
        .by_month
        .iter()
        .map(|g| (g.key.as_str(), g.commits, g.authors))
        .collect();
    assert_eq!(months, [("2024-01", 3, Some(2)), ("2024-02", 1, Some(1))]);
    assert_eq!(all.commits[1].releases, ["v1.0"]);
    assert_eq!(
        all.commits[2].subject,
        "fix: stop logging [REDACTED:aws-access-key-id]"
    );
    // The policy scrubs by default: emails hashed, as the commits list shows them.
    let grace = scrub::hash_email("Grace@Example.com");
    assert_eq!(all.commits[1].author_email, grace);
    let authors: Vec<(&str, Option<&str>, u64)> = all
        .top_authors
        .iter()
        .map(|g| (g.key.as_str(), g.name.as_deref(), g.commits))
        .collect();
    assert_eq!(
        authors,
        [
            (
                scrub::hash_email("ada@example.com").as_str(),
                Some("ada"),
                3
            ),
            (grace.as_str(), Some("grace"), 1)
        ]
    );
    let paths: Vec<(&str, u64)> = all
        .top_paths
        .iter()
        .map(|g| (g.key.as_str(), g.lines_added))
        .collect();
    assert_eq!(paths[0], ("docs/guide", 40), "{paths:?}");
    assert!(paths.contains(&("src/4.rs", 5)), "{paths:?}");
    assert!(!serde_json::to_string(&all).unwrap().contains(&secret));

    // The full analysis knew only its own three.
    let full = slice(&gw, &key, "/v1/analyses/uid-full/slice").await;
    assert_eq!(full.totals.commits, 3);

    // Narrowed: by time, by path, by size.
    let feb = slice(
        &gw,
        &key,
        "/v1/analyses/uid-incr/slice?since=2024-02-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        (feb.totals.commits, feb.commits[0].id.as_str()),
        (1, c4.id.as_str())
    );
    assert_eq!(feb.window.since.as_deref(), Some("2024-02-01T00:00:00Z"));
    let docs = slice(&gw, &key, "/v1/analyses/uid-incr/slice?path=docs/").await;
    assert_eq!(
        (docs.totals.commits, docs.commits[0].id.as_str()),
        (1, c3.id.as_str())
    );
    let doc_paths: Vec<&str> = docs.top_paths.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(doc_paths, ["docs/guide"], "only lines under the path count");
    assert_eq!(docs.window.path.as_deref(), Some("docs"));
    let two = slice(
        &gw,
        &key,
        "/v1/analyses/uid-incr/slice?maxCommits=2&until=2024-03-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        (two.commits.len(), two.totals.commits, two.truncated),
        (2, 4, true)
    );

    // Unscrubbed when the account's policy says so.
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let raw = slice(&gw, &key, "/v1/analyses/uid-incr/slice").await;
    assert_eq!(raw.commits[1].author_email, "Grace@Example.com");

    // Bad parameters are named; another tenant's key finds nothing.
    for (query, named) in [
        ("maxCommits=lots", "maxCommits"),
        ("maxCommits=1001", "maxCommits"),
        ("since=yesterday", "since"),
        ("path=", "path"),
        ("depth=3", "depth"),
    ] {
        let (status, body) = gw
            .get(&key, &format!("/v1/analyses/uid-incr/slice?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
    let other = gw.create_key("team-b", "other").await.secret;
    let (status, _) = gw.get(&other, "/v1/analyses/uid-incr/slice").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
