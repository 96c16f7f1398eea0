//! Artifacts in object storage, for real: a local directory (the default) and an S3-compatible
//! server (gofakes3, built from the Go module proxy like the e2e control plane), each behind the
//! gateway on a throwaway PostgreSQL. Above the inline threshold an artifact is streamed to the
//! store and read back streamed; a replaced one's old object goes; an over-large or cut-off
//! upload leaves no row and no object; another tenant sees nothing; the retention janitor
//! deletes the objects of the analyses it deletes, and orphans.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Gateway;
use gitview_gateway::api::INLINE_ARTIFACT_LIMIT;
use gitview_gateway::retention::{self, Pass};
use gitview_gateway::storage::ArtifactStore;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

/// Bytes that are not all alike (so a shifted or truncated copy would not compare equal).
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn put(
    gw: &Gateway,
    account: &str,
    analysis: &str,
    name: &str,
    media_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let response = gw
        .http
        .put(gw.url(&format!("/v1/runs/{analysis}/artifacts/{name}")))
        .bearer_auth(gw.token(account, analysis))
        .header("content-type", media_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn get_raw(gw: &Gateway, key: &str, path: &str) -> reqwest::Response {
    gw.http
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Every regular file under `dir` (the local store's objects).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

async fn storage_key(gw: &Gateway, analysis: &str, name: &str) -> Option<String> {
    let mut admin = gw.admin().await;
    sqlx::query_scalar("SELECT storage_key FROM artifacts WHERE analysis_id = $1 AND name = $2")
        .bind(analysis)
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

async fn rows(gw: &Gateway, analysis: &str) -> i64 {
    let mut admin = gw.admin().await;
    sqlx::query_scalar("SELECT count(*) FROM artifacts WHERE analysis_id = $1")
        .bind(analysis)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// What both stores must do, through the gateway's API.
async fn round_trips(gw: &Gateway) {
    gw.start_run("team-a", "uid-big", "https://h/big").await;
    let key = gw.create_key("team-a", "reader").await.secret;
    let other = gw.create_key("team-b", "other").await.secret;

    // Small: inline in the row.
    let (status, body) = put(
        gw,
        "team-a",
        "uid-big",
        "notes.txt",
        "text/plain",
        b"small\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(storage_key(gw, "uid-big", "notes.txt").await, None);

    // Large: streamed to the store, in several parts (above the part size), read back alike.
    let big = payload(INLINE_ARTIFACT_LIMIT * 9 + 12_345, 1);
    let (status, body) = put(
        gw,
        "team-a",
        "uid-big",
        "export.bin",
        "application/octet-stream",
        big.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let first_key = storage_key(gw, "uid-big", "export.bin")
        .await
        .expect("stored as an object");
    assert!(first_key.contains("/uid-big/"), "{first_key}");
    let response = get_raw(gw, &key, "/v1/analyses/uid-big/artifacts/export.bin").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(
        response.headers()["content-length"],
        big.len().to_string().as_str()
    );
    assert_eq!(
        response.headers()["etag"],
        format!("\"{}\"", sha256_hex(&big)).as_str()
    );
    let got = response.bytes().await.unwrap();
    assert!(
        got.len() == big.len() && got.as_ref() == big.as_slice(),
        "the object came back different"
    );

    // The detail lists it with its size and digest.
    let (status, detail) = gw.get(&key, "/v1/analyses/uid-big").await;
    assert_eq!(status, StatusCode::OK);
    let listed = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "export.bin")
        .unwrap();
    assert_eq!(listed["size"], big.len() as u64);
    assert_eq!(listed["sha256"], sha256_hex(&big));

    // Another tenant: nothing, as if it did not exist.
    let response = get_raw(gw, &other, "/v1/analyses/uid-big/artifacts/export.bin").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get_raw(gw, &key, "/v1/analyses/uid-big/artifacts/missing.bin").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("no artifact \\\"missing.bin\\\"")
    );

    // Replaced: the new object is served, under a new key.
    let bigger = payload(INLINE_ARTIFACT_LIMIT * 2, 2);
    let (status, body) = put(
        gw,
        "team-a",
        "uid-big",
        "export.bin",
        "application/x-test",
        bigger.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let second_key = storage_key(gw, "uid-big", "export.bin").await.unwrap();
    assert_ne!(first_key, second_key);
    let response = get_raw(gw, &key, "/v1/analyses/uid-big/artifacts/export.bin").await;
    assert_eq!(response.headers()["content-type"], "application/x-test");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bigger.as_slice());

    // A story stored as an object still shows in the detail, scrubbed for a scrubbing account
    // (team-a's policy is the default: scrub PII).
    let mut story = b"# Story\nBy ada@example.com.\n".to_vec();
    story.extend(std::iter::repeat_n(b'x', INLINE_ARTIFACT_LIMIT));
    story.extend(b"\nend\n");
    let (status, body) = put(
        gw,
        "team-a",
        "uid-big",
        "story.md",
        "text/markdown",
        story.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(storage_key(gw, "uid-big", "story.md").await.is_some());
    let (_, detail) = gw.get(&key, "/v1/analyses/uid-big").await;
    let shown = detail["story"].as_str().expect("the story is shown");
    assert!(
        shown.starts_with("# Story\nBy ") && !shown.contains("ada@example.com"),
        "{}",
        &shown[..40]
    );
    let response = get_raw(gw, &key, "/v1/analyses/uid-big/artifacts/story.md").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("etag").is_none(),
        "a scrubbed body is not the stored one"
    );
    let streamed = response.text().await.unwrap();
    assert!(streamed.starts_with("# Story\nBy ") && !streamed.contains("ada@example.com"));
    assert!(streamed.ends_with("\nend\n"));
    assert_eq!(streamed, shown);
}

/// Over the limit: 413, and neither a row nor an object stays.
async fn refuses_too_large(gw: &Gateway, limit: u64) {
    gw.start_run("team-a", "uid-huge", "https://h/huge").await;
    let huge = payload(usize::try_from(limit).unwrap() + 1, 3);
    let (status, body) = put(
        gw,
        "team-a",
        "uid-huge",
        "huge.bin",
        "application/octet-stream",
        huge,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("--max-artifact-bytes"), "{body}");
    assert_eq!(rows(gw, "uid-huge").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_directory_holds_large_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::local(dir.path()).unwrap();
    let limit = (INLINE_ARTIFACT_LIMIT * 12) as u64;
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store, limit)
    })
    .await;
    round_trips(&gw).await;
    // One object per stored large artifact: the replaced one is gone.
    let objects = files_under(dir.path());
    assert_eq!(objects.len(), 2, "{objects:?}");
    refuses_too_large(&gw, limit).await;
    assert_eq!(
        files_under(dir.path()).len(),
        2,
        "an over-large upload left an object"
    );
    // /metrics counts the bytes by where they went.
    let metrics = gw.metrics().await;
    let counted = |kind: &str| -> u64 {
        let prefix = format!("gitview_gateway_artifact_bytes_total{{kind=\"{kind}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stored_objects = INLINE_ARTIFACT_LIMIT * 9 + 12_345 + INLINE_ARTIFACT_LIMIT * 2;
    assert!(counted("object") > stored_objects as u64, "{metrics}");
    assert_eq!(counted("inline"), 6, "{metrics}");

    // A client that goes away mid-upload: no row, and its parts are removed.
    gw.start_run("team-a", "uid-cut", "https://h/cut").await;
    let head = format!(
        "PUT /v1/runs/uid-cut/artifacts/cut.bin HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        gw.token("team-a", "uid-cut"),
        INLINE_ARTIFACT_LIMIT * 6
    );
    let addr = gw.addr;
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .write_all(&payload(INLINE_ARTIFACT_LIMIT * 3, 4))
            .unwrap();
        stream.flush().unwrap();
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let objects = files_under(dir.path());
        if objects.len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a cut-off upload left {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows(&gw, "uid-cut").await, 0);

    // Without a store, large artifacts are refused and say why.
    let bare = Gateway::start().await;
    bare.start_run("team-a", "uid-1", "https://h/r").await;
    let (status, body) = put(
        &bare,
        "team-a",
        "uid-1",
        "x.bin",
        "application/octet-stream",
        payload(INLINE_ARTIFACT_LIMIT + 1, 5),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("--object-store"), "{body}");
    // A body far larger than the socket buffers (a long history's report page) still hears
    // the 413: the gateway reads it to the end before answering, so the client is not left
    // with a connection broken mid-send, which looks like an unreachable gateway.
    let (status, body) = put(
        &bare,
        "team-a",
        "uid-1",
        "index.html",
        "text/html",
        payload(32 << 20, 6),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("--object-store"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_the_objects_of_what_it_deletes_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::local(dir.path()).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store.clone(), 64 << 20)
    })
    .await;
    for uid in ["uid-old", "uid-new"] {
        gw.start_run("team-a", uid, &format!("https://h/{uid}"))
            .await;
        let (status, body) = put(
            &gw,
            "team-a",
            uid,
            "export.bin",
            "application/octet-stream",
            payload(INLINE_ARTIFACT_LIMIT + 10, 6),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let old_key = storage_key(&gw, "uid-old", "export.bin").await.unwrap();
    let new_key = storage_key(&gw, "uid-new", "export.bin").await.unwrap();
    let account = old_key.split('/').next().unwrap().to_owned();

    // Orphans, as a crash leaves them: one old enough to go, one too young.
    let aged = dir.path().join(&account).join("uid-gone");
    std::fs::create_dir_all(&aged).unwrap();
    // An upload a killed gateway never completed: the store's staging file, which it does not
    // list.
    for (name, age) in [
        ("aged-orphan.bin", 7 * 3600),
        ("young-orphan.bin", 60),
        ("0123-cut.bin#1", 7 * 3600),
    ] {
        let path = aged.join(name);
        std::fs::write(&path, b"left behind").unwrap();
        let when = std::time::SystemTime::now() - Duration::from_secs(age);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    // The objects of live rows are old too: age doesn't make them orphans.
    for key in [&old_key, &new_key] {
        let when = std::time::SystemTime::now() - Duration::from_secs(8 * 3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(key))
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    let mut admin = gw.admin().await;
    sqlx::query("UPDATE accounts SET retention_days = 30 WHERE name = 'team-a'")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("UPDATE analyses SET created_at = now() - interval '31 days' WHERE id = 'uid-old'")
        .execute(&mut admin)
        .await
        .unwrap();

    let pool = gitview_gateway::db::connect(&gw.pg.url("gateway", "gitview"), 2)
        .await
        .unwrap();
    let Pass::Done(deleted) = retention::run_once(&pool, Some(&store)).await.unwrap() else {
        panic!("skipped");
    };
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].analyses, ["uid-old"]);
    assert_eq!(
        (deleted[0].objects, deleted[0].orphans),
        (1, 2),
        "{deleted:?}"
    );
    let left: Vec<String> = files_under(dir.path())
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        left,
        [
            format!("{account}/uid-gone/young-orphan.bin"),
            new_key.clone()
        ],
        "{left:?}"
    );
    // What stays still reads.
    let key = gw.create_key("team-a", "reader").await.secret;
    let response = get_raw(&gw, &key, "/v1/analyses/uid-new/artifacts/export.bin").await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// `gofakes3` (MIT; an S3 protocol server in Go): `$GITVIEW_GOFAKES3`, else built once from
/// the Go module proxy into `${GITVIEW_CACHE:-~/.cache/gitview}/tools/`.
fn gofakes3() -> PathBuf {
    const VERSION: &str = "v1.2.0";
    if let Some(path) = std::env::var_os("GITVIEW_GOFAKES3") {
        return PathBuf::from(path);
    }
    let cache = common::cache_dir();
    let dir = cache.join(format!("tools/gofakes3-{VERSION}"));
    let bin = dir.join("gofakes3");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(cache.join("tools")).unwrap();
    let staging = tempfile::tempdir_in(cache.join("tools")).unwrap();
    let status = Command::new("go")
        .args([
            "install",
            &format!("github.com/johannesboyne/gofakes3/cmd/gofakes3@{VERSION}"),
        ])
        .env("GOBIN", staging.path())
        .env("CGO_ENABLED", "0")
        .status()
        .expect("`go` runs (Go >= 1.26 builds the S3 server this test uses)");
    assert!(status.success(), "go install gofakes3 {VERSION} failed");
    // Another test may have published it meanwhile: either copy serves.
    let _ = std::fs::rename(staging.path(), &dir);
    assert!(bin.exists(), "no {}", bin.display());
    bin
}

struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_server() -> S3Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(gofakes3())
        .args([
            "-backend",
            "memory",
            "-autobucket",
            "-host",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gofakes3 starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "gofakes3 did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_holds_large_artifacts() {
    let server = tokio::task::spawn_blocking(s3_server).await.unwrap();
    let options = [
        ("aws_endpoint", server.endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test-secret"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let store = ArtifactStore::from_url_with("s3://gitview-artifacts/results", options).unwrap();
    let limit = (INLINE_ARTIFACT_LIMIT * 12) as u64;
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store.clone(), limit)
    })
    .await;
    round_trips(&gw).await;
    refuses_too_large(&gw, limit).await;

    // The bucket holds exactly the live objects, under the prefix, as the rows name them.
    let client = reqwest::Client::new();
    let listing = client
        .get(format!("{}/gitview-artifacts?list-type=2", server.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut listed: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .map(|rest| rest.split("</Key>").next().unwrap())
        .collect();
    listed.sort_unstable();
    let mut admin = gw.admin().await;
    let mut keys: Vec<String> = sqlx::query_scalar(
        "SELECT 'results/' || storage_key FROM artifacts WHERE storage_key IS NOT NULL",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    keys.sort_unstable();
    assert_eq!(listed, keys, "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_artifact_stored_clean_is_read_back_as_stored_until_the_rules_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::local(dir.path()).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), |state| {
        state.with_artifact_store(store, 64 << 20)
    })
    .await;
    // team-a scrubs (a new account's policy).
    gw.start_run("team-a", "uid-clean", "https://h/clean").await;
    let key = gw.create_key("team-a", "reader").await.secret;
    // Inline and in the object store (one 2 MiB line, like a report page's graph data).
    let small = b"<p>by 0123456789abcdef@scrubbed.invalid</p>\n".to_vec();
    let mut large = b"<html>\n<script>".to_vec();
    large.extend(std::iter::repeat_n(b'x', 2 << 20));
    large.extend(b"</script>\n</html>\n");
    let dirty = b"<p>by ada@example.com</p>\n".to_vec();
    for (name, body) in [
        ("small.html", &small),
        ("large.html", &large),
        ("dirty.html", &dirty),
    ] {
        let (status, text) = put(&gw, "team-a", "uid-clean", name, "text/html", body.clone()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {text}");
    }
    let mut admin = gw.admin().await;
    let marks: Vec<(String, Option<i32>)> =
        sqlx::query_as("SELECT name, clean_under FROM artifacts ORDER BY name")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    let version = Some(gitview_core::scrub::RULES_VERSION);
    assert_eq!(
        marks,
        [
            ("dirty.html".to_owned(), None),
            ("large.html".to_owned(), version),
            ("small.html".to_owned(), version),
        ]
    );
    // Clean ones come back as stored, with their length and ETag; the other scrubbed.
    for (name, body) in [("small.html", &small), ("large.html", &large)] {
        let response = get_raw(
            &gw,
            &key,
            &format!("/v1/analyses/uid-clean/artifacts/{name}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["etag"].to_str().unwrap(),
            format!("\"{}\"", sha256_hex(body))
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    let path = "/v1/analyses/uid-clean/artifacts/dirty.html";
    let scrubbed = format!(
        "<p>by {}</p>\n",
        gitview_core::scrub::hash_email("ada@example.com")
    );
    let response = get_raw(&gw, &key, path).await;
    assert!(response.headers().get("etag").is_none());
    assert_eq!(response.text().await.unwrap(), scrubbed);
    // A row marked clean is not scrubbed (marked by the superuser here; the gateway never marks
    // such a one)... until it was marked under other rules than today's.
    for (mark, expected) in [
        (
            gitview_core::scrub::RULES_VERSION,
            String::from_utf8(dirty.clone()).unwrap(),
        ),
        (gitview_core::scrub::RULES_VERSION - 1, scrubbed.clone()),
    ] {
        sqlx::query("UPDATE artifacts SET clean_under = $1 WHERE name = 'dirty.html'")
            .bind(mark)
            .execute(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            get_raw(&gw, &key, path).await.text().await.unwrap(),
            expected
        );
    }
}
