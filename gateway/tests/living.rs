//! The living story's routes over real HTTP on a throwaway PostgreSQL: a run reads back its
//! repository's stored history (`GET /v1/runs/{analysis}/history`) and uses the account's
//! summary cache (`POST …/summaries/lookup`, `PUT …/summaries/{key}`); readers get a
//! repository's current story (`GET /v1/repositories/{fingerprint}/story`) and one path's
//! history (`GET /v1/repositories/{fingerprint}/files/{path}/history`). Paging, limits,
//! scrubbing, tenancy and the retention of summaries.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, count};
use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::{
    CommitBatch, CommitUpload, FileHistory, RepositoryStory, StoredHistoryPage,
};
use gitview_core::scrub;
use gitview_gateway::db;
use gitview_gateway::retention::{self, Pass};
use gitview_gateway::storage::ArtifactStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A commit `n` (its id is `n` in hex, repeated) by `author` on January `day` 2024 (an
/// unparsable time for day 0), changing `files` (path, added, deleted).
fn record(n: u8, day: u8, author: (&str, &str), files: &[(&str, u64, u64)]) -> CommitRecord {
    let time = if day == 0 {
        "sometime".to_owned()
    } else {
        format!("2024-01-{day:02}T10:00:00+00:00")
    };
    let person = Person {
        name: author.0.into(),
        email: author.1.into(),
        time,
        canonical: None,
    };
    CommitRecord {
        id: format!("{n:02x}").repeat(20),
        parents: vec![],
        author: person.clone(),
        committer: person,
        message: format!("change {n}\n\nbody\n"),
        files: files
            .iter()
            .map(|(path, added, deleted)| FileStat {
                path: (*path).into(),
                added: Some(*added),
                deleted: Some(*deleted),
                status: FileStatus::Modified,
            })
            .collect(),
        renames: vec![],
    }
}

const ADA: (&str, &str) = ("ada", "ada@example.com");
const GRACE: (&str, &str) = ("grace", "Grace@Example.com");

/// Starts `uid` of `account` on `url` and stores `commits` (enrichment: their class); the
/// repository's fingerprint.
async fn run(
    gw: &Gateway,
    account: &str,
    uid: &str,
    url: &str,
    commits: &[CommitRecord],
) -> String {
    let started = gw.start_run(account, uid, url).await;
    if !commits.is_empty() {
        let body = serde_json::to_value(CommitBatch {
            batch: 0,
            commits: commits
                .iter()
                .map(|c| CommitUpload {
                    record: c.clone(),
                    enrichment: json!({"class": "feature", "note": format!("by {}", c.author.email)}),
                })
                .collect(),
        })
        .unwrap();
        let (status, body) = gw
            .post(
                &gw.token(account, uid),
                &format!("/v1/runs/{uid}/commits"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    started.fingerprint
}

/// Ends `uid` with `status`, then sets its finish time `hours_ago` (as the superuser).
async fn finish(gw: &Gateway, account: &str, uid: &str, status: &str, hours_ago: i32) {
    let finish = json!({"status": status, "commitsAnalyzed": 0, "metrics": {}});
    let (code, body) = gw
        .post(
            &gw.token(account, uid),
            &format!("/v1/runs/{uid}/finish"),
            &finish,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    sqlx::query(
        "UPDATE analyses SET finished_at = now() - make_interval(hours => $1) WHERE id = $2",
    )
    .bind(hours_ago)
    .bind(uid)
    .execute(&mut gw.admin().await)
    .await
    .unwrap();
}

/// PUTs an artifact of `uid`.
async fn artifact(gw: &Gateway, account: &str, uid: &str, name: &str, body: Vec<u8>) {
    let media_type = if name.ends_with(".json") {
        "application/json"
    } else {
        "text/markdown"
    };
    gw.put_artifact(account, uid, name, media_type, body).await;
}

/// A `story.json` titled `title` with one claim, covering the whole history or not (or
/// saying nothing of what it covers), with `storylines` (id, commits).
fn story_json(
    title: &str,
    whole: Option<bool>,
    claim: &str,
    storylines: &[(&str, &[&str])],
) -> Vec<u8> {
    let mut story = json!({
        "title": title,
        "sections": [{"id": "summary", "heading": "Summary", "claims": [
            {"text": claim, "evidence": {"figures": {"commits": 3}}}]}],
        "storylines": storylines.iter().map(|(id, commits)| json!({
            "id": id, "title": format!("{id} by ada@example.com"), "category": "feature",
            "lifecycle": "active", "commits": commits,
        })).collect::<Vec<_>>(),
    });
    if let Some(whole) = whole {
        story["coverage"] = json!({"wholeHistory": whole, "commits": 3});
    }
    serde_json::to_vec(&story).unwrap()
}

/// A runner's GET; the status and the JSON body.
async fn runner_get(gw: &Gateway, account: &str, uid: &str, path: &str) -> (StatusCode, Value) {
    gw.get(&gw.token(account, uid), path).await
}

/// Every page of `uid`'s stored history, `limit` at a time: the commits in order, and the
/// number of pages.
async fn whole_history(
    gw: &Gateway,
    account: &str,
    uid: &str,
    limit: u32,
) -> (Vec<CommitUpload>, usize) {
    let (mut commits, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let mut path = format!("/v1/runs/{uid}/history?limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = runner_get(gw, account, uid, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let page: StoredHistoryPage = serde_json::from_value(body).unwrap();
        assert!(page.commits.len() <= limit as usize);
        pages += 1;
        commits.extend(page.commits);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (commits, pages),
        }
    }
}

#[tokio::test]
async fn a_run_reads_its_repository_s_stored_history_oldest_first_in_pages() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/history.git";
    // Two runs of one repository: days 5, 3, 3 (a tie, broken by id), undated, 1; then 9, 7.
    let secret = ["AKIA", "IOSFODNN7EXAMPLE"].concat();
    let mut first = vec![
        record(0x50, 5, ADA, &[("a", 1, 0)]),
        record(0x32, 3, GRACE, &[("b", 1, 0)]),
        record(0x31, 3, ADA, &[("c", 1, 0)]),
        record(0x70, 0, ADA, &[("d", 1, 0)]),
        record(0x10, 1, ADA, &[("e", 1, 0)]),
    ];
    first[1].message = format!("fix: stop logging {secret}\n");
    run(&gw, "team-a", "h-1", url, &first).await;
    finish(&gw, "team-a", "h-1", "succeeded", 1).await;
    let second = [
        record(0x90, 9, GRACE, &[("f", 1, 0)]),
        record(0x72, 7, ADA, &[("g", 1, 0)]),
    ];
    run(&gw, "team-a", "h-2", url, &second).await;
    // Another repository of the account, and the same repository in another account.
    run(
        &gw,
        "team-a",
        "h-other",
        "https://git.example.com/org/other.git",
        &[record(0x11, 2, ADA, &[])],
    )
    .await;
    run(&gw, "team-b", "b-1", url, &[record(0x12, 2, ADA, &[])]).await;

    let expected = ["10", "31", "32", "50", "72", "90", "70"].map(|n| n.repeat(20));
    // Scrubbed by default: the account's policy scrubs, and these rows were stored raw.
    for limit in [2, 3, 7, 2000] {
        let (commits, pages) = whole_history(&gw, "team-a", "h-2", limit).await;
        let ids: Vec<&str> = commits.iter().map(|c| c.record.id.as_str()).collect();
        assert_eq!(ids, expected, "limit {limit}");
        assert_eq!(
            pages,
            expected.len().div_ceil(limit as usize).max(1),
            "limit {limit}"
        );
        let grace = commits
            .iter()
            .find(|c| c.record.id == "32".repeat(20))
            .unwrap();
        assert_eq!(
            grace.record.author.email,
            scrub::hash_email("Grace@Example.com")
        );
        assert_eq!(
            grace.record.message,
            "fix: stop logging [REDACTED:aws-access-key-id]\n"
        );
        assert_eq!(
            grace.enrichment["note"],
            format!("by {}", scrub::hash_email("Grace@Example.com"))
        );
    }
    // As uploaded when the account does not scrub: record and enrichment alike.
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (commits, _) = whole_history(&gw, "team-a", "h-1", 500).await;
    let mut uploaded: Vec<CommitRecord> = first.iter().chain(&second).cloned().collect();
    uploaded.sort_by_key(|c| expected.iter().position(|id| *id == c.id));
    assert_eq!(
        commits.iter().map(|c| c.record.clone()).collect::<Vec<_>>(),
        uploaded
    );
    assert_eq!(
        commits[2].enrichment,
        json!({"class": "feature", "note": "by Grace@Example.com"})
    );

    // The other repository's run sees its own history; another account's run sees its own.
    let (other, _) = whole_history(&gw, "team-a", "h-other", 10).await;
    assert_eq!(other.len(), 1);
    let (theirs, _) = whole_history(&gw, "team-b", "b-1", 10).await;
    assert_eq!(
        theirs
            .iter()
            .map(|c| c.record.id.clone())
            .collect::<Vec<_>>(),
        ["12".repeat(20)]
    );
    // A token of another account naming this analysis finds no such run; a token of another
    // analysis is refused.
    let (status, _) = runner_get(&gw, "team-b", "h-2", "/v1/runs/h-2/history").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = gw
        .get(&gw.token("team-a", "h-1"), "/v1/runs/h-2/history")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let key = gw.create_key("team-a", "reader").await.secret;
    let (status, _) = gw.get(&key, "/v1/runs/h-2/history").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "API keys are not runner tokens"
    );

    // Bad parameters are named.
    let other_cursor = {
        let key = gw.create_key("team-a", "pages").await.secret;
        let (_, body) = gw.get(&key, "/v1/analyses?limit=1").await;
        body["nextCursor"].as_str().unwrap().to_owned()
    };
    for (query, named) in [
        ("limit=0", "limit"),
        ("limit=2001", "limit"),
        ("limit=many", "limit"),
        ("cursor=%21%21", "cursor"),
        (&format!("cursor={other_cursor}") as &str, "cursor"),
        ("since=2024-01-01T00:00:00Z", "since"),
    ] {
        let (status, body) = runner_get(
            &gw,
            "team-a",
            "h-2",
            &format!("/v1/runs/h-2/history?{query}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
}

/// PUTs a summary with `body` as JSON; the status.
async fn put_summary(
    gw: &Gateway,
    account: &str,
    uid: &str,
    key: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = gw
        .http
        .put(gw.url(&format!("/v1/runs/{uid}/summaries/{key}")))
        .bearer_auth(gw.token(account, uid))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn lookup(gw: &Gateway, account: &str, uid: &str, keys: &[String]) -> (StatusCode, Value) {
    gw.post(
        &gw.token(account, uid),
        &format!("/v1/runs/{uid}/summaries/lookup"),
        &json!({"keys": keys}),
    )
    .await
}

#[tokio::test]
async fn summaries_are_the_account_s_across_runs_and_go_when_unused() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/cache.git";
    run(&gw, "team-a", "s-1", url, &[]).await;
    run(
        &gw,
        "team-a",
        "s-2",
        "https://git.example.com/org/elsewhere.git",
        &[],
    )
    .await;
    run(&gw, "team-b", "s-b", url, &[]).await;
    let [k1, k2, k3] = ['1', '2', '3'].map(|c| c.to_string().repeat(64));

    // Stored by one run, again (replaced), found by another run of the account.
    let (status, body) =
        put_summary(&gw, "team-a", "s-1", &k1, br#"{"text": "first"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = put_summary(
        &gw,
        "team-a",
        "s-1",
        &k1,
        br#"{"text": "ada@example.com wrote it"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Any JSON value, larger than the gateway's body limit (64 KiB here) but within 256 KiB.
    let big = serde_json::to_vec(&"x".repeat(200 << 10)).unwrap();
    let (status, body) = put_summary(&gw, "team-a", "s-2", &k3, big).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = lookup(&gw, "team-a", "s-2", &[k1.clone(), k2.clone(), k1.clone()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Scrubbed on the way out, as the account's policy says (a row stored before it did).
    let hashed = scrub::hash_email("ada@example.com");
    assert_eq!(
        body,
        json!({"summaries": {&k1: {"text": format!("{hashed} wrote it")}}})
    );
    let (status, body) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = lookup(&gw, "team-a", "s-1", &[k1.clone(), k3.clone()]).await;
    assert_eq!(
        body["summaries"][&k1],
        json!({"text": "ada@example.com wrote it"})
    );
    assert_eq!(
        body["summaries"][&k3].as_str().map(str::len),
        Some(200 << 10)
    );
    // No other account finds them.
    let (status, body) = lookup(&gw, "team-b", "s-b", std::slice::from_ref(&k1)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"summaries": {}})));

    // Bad keys, counts, sizes and types.
    let (status, body) = put_summary(&gw, "team-a", "s-1", &"A".repeat(64), b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("key"), "{body}");
    let (status, _) = put_summary(&gw, "team-a", "s-1", "abc", b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let too_big = serde_json::to_vec(&"x".repeat(256 << 10)).unwrap();
    let (status, body) = put_summary(&gw, "team-a", "s-1", &k2, too_big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, body) = put_summary(&gw, "team-a", "s-1", &k2, b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) =
        put_summary(&gw, "team-a", "s-1", &k2, br#"{"a": "\u0000"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let response = gw
        .http
        .put(gw.url(&format!("/v1/runs/s-1/summaries/{k2}")))
        .bearer_auth(gw.token("team-a", "s-1"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for (keys, named) in [
        (vec![], "keys must name 1 to 1000"),
        // Counted before each key is checked (short keys: the test's body limit is 64 KiB).
        (
            vec!["k".to_owned(); 1001],
            "keys must name 1 to 1000 summaries, not 1001",
        ),
        (vec![k1.clone(), "Z".repeat(64)], "keys[1]"),
    ] {
        let (status, body) = lookup(&gw, "team-a", "s-1", &keys).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{named}: {body}");
        assert!(body["message"].as_str().unwrap().contains(named), "{body}");
    }
    let (status, _) = put_summary(&gw, "team-a", "s-unstarted", &k2, b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a run that has not started");
    let (status, _) = gw
        .post(
            &gw.token("team-a", "s-1"),
            "/v1/runs/s-2/summaries/lookup",
            &json!({"keys": [k1]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut admin = gw.admin().await;
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM summaries").await,
        2,
        "nothing refused was stored"
    );

    // A lookup marks what it finds used (a summary found this hour is not written again).
    sqlx::query("UPDATE summaries SET used_at = now() - interval '10 days'")
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, _) = lookup(&gw, "team-a", "s-1", std::slice::from_ref(&k1)).await;
    assert_eq!(status, StatusCode::OK);
    let recent = "SELECT count(*) FROM summaries WHERE used_at > now() - interval '1 minute'";
    assert_eq!(count(&mut admin, recent).await, 1, "k1 only");

    // Retention: team-a keeps 30 days; k1 was used 40 days ago, k3 5 days ago; team-b's
    // summary, 40 days unused, stays with its year.
    let (status, _) = put_summary(&gw, "team-b", "s-b", &k1, b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = gw.set_policy("team-a", &json!({"retentionDays": 30})).await;
    assert_eq!(status, StatusCode::OK);
    for (summary, days) in [(&k1, 40), (&k3, 5)] {
        sqlx::query(
            "UPDATE summaries SET used_at = now() - make_interval(days => $1) WHERE key = $2",
        )
        .bind(days)
        .bind(summary)
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let pool = db::connect(&gw.pg.url("gateway", "gitview"), 2)
        .await
        .unwrap();
    let Pass::Done(deleted) = retention::run_once(&pool, None).await.unwrap() else {
        panic!("nothing else holds the lock");
    };
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].summaries, 1);
    let (_, body) = lookup(&gw, "team-a", "s-1", &[k1.clone(), k3.clone()]).await;
    let found: Vec<&String> = body["summaries"].as_object().unwrap().keys().collect();
    assert_eq!(found, [&k3]);
    let (_, body) = lookup(&gw, "team-b", "s-b", std::slice::from_ref(&k1)).await;
    assert!(body["summaries"].get(&k1).is_some(), "{body}");
    let detail: Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE actor = 'retention' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(detail["summaries"], 1, "{detail}");
}

async fn story(gw: &Gateway, key: &str, fingerprint: &str) -> (StatusCode, Value) {
    gw.get(key, &format!("/v1/repositories/{fingerprint}/story"))
        .await
}

#[tokio::test]
async fn a_repository_s_story_is_the_newest_that_tells_its_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::local(dir.path()).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store, 64 << 20)
    })
    .await;
    let url = "https://git.example.com/org/story.git";
    let key = gw.create_key("team-a", "reader").await.secret;
    let fingerprint = gitview_core::remote::fingerprint(url, "main").unwrap();
    let (status, body) = story(&gw, &key, &fingerprint).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no repository yet: {body}");

    // A succeeded run whose story says nothing of what it covers, one of a range, a failed one
    // with a whole story: none is the repository's story.
    for (uid, status, whole, hours) in [
        ("st-none", "succeeded", None, 5),
        ("st-range", "succeeded", Some(false), 1),
        ("st-failed", "failed", Some(true), 0),
    ] {
        run(&gw, "team-a", uid, url, &[]).await;
        artifact(
            &gw,
            "team-a",
            uid,
            "story.json",
            story_json(uid, whole, "x", &[]),
        )
        .await;
        artifact(
            &gw,
            "team-a",
            uid,
            "story.md",
            format!("# {uid}\n").into_bytes(),
        )
        .await;
        finish(&gw, "team-a", uid, status, hours).await;
    }
    // A running one, too.
    run(&gw, "team-a", "st-running", url, &[]).await;
    artifact(
        &gw,
        "team-a",
        "st-running",
        "story.json",
        story_json("st-running", Some(true), "x", &[]),
    )
    .await;
    let (status, body) = story(&gw, &key, &fingerprint).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("whole history"),
        "{body}"
    );

    // A whole-history story older than the range's: the current one.
    let claim = "Most work is by ada@example.com.";
    run(&gw, "team-a", "st-old", url, &[]).await;
    artifact(
        &gw,
        "team-a",
        "st-old",
        "story.json",
        story_json("st-old", Some(true), claim, &[("storyline-1", &["ab"])]),
    )
    .await;
    artifact(
        &gw,
        "team-a",
        "st-old",
        "story.md",
        format!("# Story\n\n{claim}\n").into_bytes(),
    )
    .await;
    finish(&gw, "team-a", "st-old", "succeeded", 3).await;
    let (status, body) = story(&gw, &key, &fingerprint).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current: RepositoryStory = serde_json::from_value(body).unwrap();
    assert_eq!(current.analysis_id, "st-old");
    assert_eq!(current.repository.fingerprint, fingerprint);
    assert!(current.finished_at.is_some());
    // Scrubbed by default: the Markdown, the claims, every string of the document.
    let hashed = scrub::hash_email("ada@example.com");
    assert_eq!(
        current.markdown,
        format!("# Story\n\nMost work is by {hashed}.\n")
    );
    assert_eq!(
        current.story.sections[0].claims[0].text,
        format!("Most work is by {hashed}.")
    );
    assert_eq!(
        current.story.storylines[0].title,
        format!("storyline-1 by {hashed}")
    );
    assert_eq!(
        current.story.coverage.as_ref().map(|c| c.whole_history),
        Some(true)
    );

    // A newer whole-history story wins; this one is over 1 MiB, so in the object store.
    run(&gw, "team-a", "st-new", url, &[]).await;
    let long = "y".repeat(1_200_000);
    artifact(
        &gw,
        "team-a",
        "st-new",
        "story.json",
        story_json("st-new", Some(true), &long, &[]),
    )
    .await;
    artifact(
        &gw,
        "team-a",
        "st-new",
        "story.md",
        format!("# New\n\nby ada@example.com\n{long}\n").into_bytes(),
    )
    .await;
    finish(&gw, "team-a", "st-new", "succeeded", 2).await;
    let mut admin = gw.admin().await;
    let in_store = count(
        &mut admin,
        "SELECT count(*) FROM artifacts WHERE analysis_id = 'st-new' AND storage_key IS NOT NULL",
    )
    .await;
    assert_eq!(in_store, 2);
    let (status, body) = story(&gw, &key, &fingerprint).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current: RepositoryStory = serde_json::from_value(body).unwrap();
    assert_eq!(
        (current.analysis_id.as_str(), current.story.title.as_str()),
        ("st-new", "st-new")
    );
    assert!(
        current
            .markdown
            .starts_with(&format!("# New\n\nby {hashed}\n"))
    );
    // As written when the account does not scrub.
    let (status, _) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = story(&gw, &key, &fingerprint).await;
    assert!(
        body["markdown"]
            .as_str()
            .unwrap()
            .starts_with("# New\n\nby ada@example.com\n")
    );

    // Another account: the same repository is its own, with its own story; without one, 404.
    let other = gw.create_key("team-b", "reader").await.secret;
    let (status, _) = story(&gw, &other, &fingerprint).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another account's repository is not found"
    );
    run(&gw, "team-b", "b-story", url, &[]).await;
    artifact(
        &gw,
        "team-b",
        "b-story",
        "story.json",
        story_json("team-b's", Some(true), "b", &[]),
    )
    .await;
    finish(&gw, "team-b", "b-story", "succeeded", 0).await;
    let (status, body) = story(&gw, &other, &fingerprint).await;
    assert_eq!(
        (status, body["analysisId"].as_str()),
        (StatusCode::OK, Some("b-story"))
    );
    assert_eq!(body["markdown"], "", "no story.md");
    let (_, body) = story(&gw, &key, &fingerprint).await;
    assert_eq!(
        body["analysisId"], "st-new",
        "team-b's newer story is not team-a's"
    );

    let (status, body) = story(&gw, &key, "not-a-fingerprint").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("fingerprint"),
        "{body}"
    );
}

async fn file_history(gw: &Gateway, key: &str, fingerprint: &str, rest: &str) -> FileHistory {
    let path = format!("/v1/repositories/{fingerprint}/files/{rest}");
    let (status, body) = gw.get(key, &path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_value(body).unwrap()
}

fn ids(history: &FileHistory) -> Vec<String> {
    history
        .commits
        .iter()
        .map(|c| c.id[..2].to_owned())
        .collect()
}

#[tokio::test]
async fn a_file_s_history_is_its_commits_authors_and_storylines() {
    let gw = Gateway::start().await;
    let url = "https://git.example.com/org/files.git";
    let ada_later = ("Ada L.", "ada@example.com");
    let c1 = record(0x01, 2, ADA, &[("src/main.rs", 10, 0), ("README.md", 5, 0)]);
    let c2 = record(
        0x02,
        3,
        GRACE,
        &[("src/lib.rs", 3, 1), ("src/main.rs", 2, 2)],
    );
    let c3 = record(0x03, 4, ADA, &[("docs/user guide.md", 7, 0)]);
    let c4 = record(0x04, 5, ada_later, &[("src/main.rs", 1, 1)]);
    let c5 = record(0x05, 6, ADA, &[("srcx/other.rs", 1, 0)]);
    let fingerprint = run(&gw, "team-a", "f-1", url, &[c1, c2, c3, c4, c5]).await;
    finish(&gw, "team-a", "f-1", "succeeded", 2).await;
    let key = gw.create_key("team-a", "reader").await.secret;

    // No story yet: no storylines.
    let main = file_history(&gw, &key, &fingerprint, "src/main.rs/history").await;
    assert_eq!(ids(&main), ["04", "02", "01"]);
    assert!(main.storylines.is_empty());

    // A second run adds a commit under src/ and the story.
    let c6 = record(0x06, 7, GRACE, &[("src/nested/deep.rs", 4, 0)]);
    run(&gw, "team-a", "f-2", url, &[c6]).await;
    let id = |n: u8| format!("{n:02x}").repeat(20);
    let (s1, s2, s3) = ([id(1), id(3)], [id(2), id(4), id(6)], [id(5)]);
    fn as_refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }
    let document = story_json(
        "files",
        Some(true),
        "x",
        &[
            ("storyline-1", &as_refs(&s1)),
            ("storyline-2", &as_refs(&s2)),
            ("storyline-3", &as_refs(&s3)),
        ],
    );
    artifact(&gw, "team-a", "f-2", "story.json", document).await;
    finish(&gw, "team-a", "f-2", "succeeded", 1).await;

    // A file: its commits newest first, lines under it only, authors, storylines.
    let main = file_history(&gw, &key, &fingerprint, "src/main.rs/history").await;
    assert_eq!(main.path, "src/main.rs");
    assert_eq!(main.repository.fingerprint, fingerprint);
    assert_eq!(ids(&main), ["04", "02", "01"]);
    let lines: Vec<(u64, u64, u64)> = main
        .commits
        .iter()
        .map(|c| (c.lines_added, c.lines_deleted, c.files_changed))
        .collect();
    assert_eq!(
        lines,
        [(1, 1, 1), (2, 2, 1), (10, 0, 1)],
        "README.md's and src/lib.rs's lines are not src/main.rs's"
    );
    assert_eq!(
        (
            main.totals.commits,
            main.totals.authors,
            main.totals.lines_added,
            main.totals.lines_deleted
        ),
        (3, 2, 13, 3)
    );
    assert_eq!(
        main.totals.first_commit_at.as_deref(),
        Some("2024-01-02T10:00:00.000000Z")
    );
    assert_eq!(
        main.totals.last_commit_at.as_deref(),
        Some("2024-01-05T10:00:00.000000Z")
    );
    // Scrubbed by default: emails hashed; the name each used last.
    let authors: Vec<(String, Option<&str>, u64, u64)> = main
        .authors
        .iter()
        .map(|a| (a.key.clone(), a.name.as_deref(), a.commits, a.lines_added))
        .collect();
    assert_eq!(
        authors,
        [
            (scrub::hash_email("ada@example.com"), Some("Ada L."), 2, 11),
            (scrub::hash_email("Grace@Example.com"), Some("grace"), 1, 2),
        ]
    );
    assert_eq!(
        main.commits[1].author_email,
        scrub::hash_email("Grace@Example.com")
    );
    let storylines: Vec<(&str, u64)> = main
        .storylines
        .iter()
        .map(|s| (s.id.as_str(), s.commits))
        .collect();
    assert_eq!(storylines, [("storyline-2", 2), ("storyline-1", 1)]);
    assert_eq!(
        main.storylines[0].title,
        format!("storyline-2 by {}", scrub::hash_email("ada@example.com"))
    );
    assert!(main.next_cursor.is_none());

    // A directory: everything under it (not srcx/), across both runs; slashes at the ends
    // are ignored.
    let src = file_history(&gw, &key, &fingerprint, "src//history").await;
    assert_eq!(src.path, "src");
    assert_eq!(ids(&src), ["06", "04", "02", "01"]);
    assert_eq!(
        (
            src.commits[2].lines_added,
            src.commits[2].lines_deleted,
            src.commits[2].files_changed
        ),
        (5, 3, 2)
    );
    assert_eq!((src.totals.commits, src.totals.lines_added), (4, 20));
    let storylines: Vec<(&str, u64)> = src
        .storylines
        .iter()
        .map(|s| (s.id.as_str(), s.commits))
        .collect();
    assert_eq!(storylines, [("storyline-2", 3), ("storyline-1", 1)]);
    // A percent-encoded path; a path nothing touched.
    let docs = file_history(&gw, &key, &fingerprint, "docs/user%20guide.md/history").await;
    assert_eq!(
        (docs.path.as_str(), ids(&docs)),
        ("docs/user guide.md", vec!["03".to_owned()])
    );
    let none = file_history(&gw, &key, &fingerprint, "nothing/here/history").await;
    assert_eq!(
        (
            none.totals.commits,
            none.commits.len(),
            none.storylines.len()
        ),
        (0, 0, 0)
    );

    // Pages: one commit each, totals over all of them on every page.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut rest = "src/history?limit=1".to_owned();
        if let Some(cursor) = &cursor {
            rest.push_str(&format!("&cursor={cursor}"));
        }
        let page = file_history(&gw, &key, &fingerprint, &rest).await;
        assert_eq!((page.commits.len(), page.totals.commits), (1, 4));
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["06", "04", "02", "01"]);

    // Unscrubbed when the account says so.
    let (status, _) = gw.set_policy("team-a", &json!({"scrubPii": false})).await;
    assert_eq!(status, StatusCode::OK);
    let main = file_history(&gw, &key, &fingerprint, "src/main.rs/history").await;
    assert_eq!(main.authors[1].key, "grace@example.com");
    assert_eq!(main.commits[1].author_email, "Grace@Example.com");

    // Not a history, an empty path, bad parameters, another account.
    let base = format!("/v1/repositories/{fingerprint}/files");
    for (path, expected, named) in [
        (format!("{base}/src/main.rs"), StatusCode::NOT_FOUND, ""),
        (format!("{base}//history"), StatusCode::BAD_REQUEST, "path"),
        (format!("{base}/history"), StatusCode::BAD_REQUEST, "path"),
        (
            format!("{base}/src/history?limit=0"),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            format!("{base}/src/history?cursor=x"),
            StatusCode::BAD_REQUEST,
            "cursor",
        ),
        (
            format!("{base}/src/history?path=src"),
            StatusCode::BAD_REQUEST,
            "path",
        ),
        (
            "/v1/repositories/nope/files/src/history".to_owned(),
            StatusCode::BAD_REQUEST,
            "fingerprint",
        ),
    ] {
        let (status, body) = gw.get(&key, &path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{path}: {body}"
        );
    }
    let other = gw.create_key("team-b", "reader").await.secret;
    let (status, body) = gw.get(&other, &format!("{base}/src/history")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = gw
        .get(&gw.token("team-a", "f-1"), &format!("{base}/src/history"))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "runner tokens are not API keys"
    );
}
