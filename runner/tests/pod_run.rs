//! `gitview-runner run` end to end, as a runner pod runs it: the run config and token mounted
//! in a directory, the repository served by `git daemon`, results written through the real
//! gateway into a throwaway PostgreSQL, and then read back and compared with `git` itself.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::response::IntoResponse as _;
use common::{Repo, git_numstat};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use gitview_core::token::TokenClaims;
use gitview_crds::wire::RunOutcome;
use gitview_gateway::testing::TestPostgres;
use gitview_gateway::{api, auth, db};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sqlx::Connection as _;

/// PostgreSQL, the gateway, and the key the "operator" signs tokens with.
struct Stack {
    runtime: tokio::runtime::Runtime,
    pg: TestPostgres,
    gateway: SocketAddr,
    signing: EncodingKey,
}

impl Stack {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// With `fail_logs`, the gateway answers 500 to every `POST /v1/runs/{analysis}/logs`
    /// (and serves the other routes as usual).
    fn start_with(fail_logs: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Started from the test thread, which outlives it (the server dies with its parent).
        let pg = runtime.block_on(TestPostgres::start()).expect("postgres");
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let signing =
            EncodingKey::from_ed_pem(key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let gateway = runtime.block_on(async {
            pg.create_database("gitview").await.unwrap();
            pg.exec(
                "gitview",
                "CREATE ROLE gitview_app NOLOGIN; CREATE ROLE gateway LOGIN IN ROLE gitview_app",
            )
            .await
            .unwrap();
            let owner = db::connect(&pg.url("postgres", "gitview"), 2)
                .await
                .unwrap();
            db::migrate(&owner).await.unwrap();
            let pool = db::connect(&pg.url("gateway", "gitview"), 8).await.unwrap();
            let state =
                api::AppState::new(pool, auth::Verifier::from_pem(public.as_bytes()).unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut router = api::router(state, 16 << 20);
            if fail_logs {
                router = router.layer(axum::middleware::from_fn(
                    |request: axum::extract::Request, next: axum::middleware::Next| async move {
                        if request.uri().path().ends_with("/logs") {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
                        }
                        next.run(request).await
                    },
                ));
            }
            tokio::spawn(async move { axum::serve(listener, router).await });
            addr
        });
        Self {
            runtime,
            pg,
            gateway,
            signing,
        }
    }

    fn token(&self, account: &str, analysis: &str, attempt: i32) -> String {
        let now = jiff::Timestamp::now();
        let claims = TokenClaims::runner(
            account,
            analysis,
            attempt,
            now,
            now + jiff::SignedDuration::from_secs(600),
        );
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.signing).unwrap()
    }

    /// One value of a query, as the superuser (the test's view of the truth).
    fn scalar<T>(&self, sql: &'static str, bind: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        self.runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.pg.url("postgres", "gitview"))
                .await
                .unwrap();
            sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        })
    }
}

impl Stack {
    /// The run log of `analysis` as stored: (attempt, seq, level, message, fields), in order.
    fn run_logs(&self, analysis: &str) -> Vec<(i32, i64, String, String, serde_json::Value)> {
        self.runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.pg.url("postgres", "gitview"))
                .await
                .unwrap();
            let rows: Vec<(i32, i64, String, String, String)> = sqlx::query_as(
                "SELECT attempt, seq, level, message, fields::text FROM run_logs
                 WHERE analysis_id = $1 ORDER BY attempt, seq",
            )
            .bind(analysis)
            .fetch_all(&mut conn)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(a, s, l, m, f)| (a, s, l, m, serde_json::from_str(&f).unwrap()))
                .collect()
        })
    }
}

/// Runs one attempt in a fresh pod directory; returns the exit code, outcome and logs.
fn run_pod(
    stack: &Stack,
    work: &Path,
    uid: &str,
    url: &str,
    mode: &str,
) -> (i32, RunOutcome, String) {
    run_pod_with(stack, work, uid, url, mode, None)
}

/// [`run_pod`] with a tracker's clone cache mounted at `clone_cache`.
fn run_pod_with(
    stack: &Stack,
    work: &Path,
    uid: &str,
    url: &str,
    mode: &str,
    clone_cache: Option<&Path>,
) -> (i32, RunOutcome, String) {
    run_pod_scrubbing(stack, work, uid, url, mode, clone_cache, false)
}

/// [`run_pod_with`], the run told to scrub PII (`scrubPii`, as the operator hands on the
/// account's policy) or not.
fn run_pod_scrubbing(
    stack: &Stack,
    work: &Path,
    uid: &str,
    url: &str,
    mode: &str,
    clone_cache: Option<&Path>,
    scrub_pii: bool,
) -> (i32, RunOutcome, String) {
    let pod = work.join(uid);
    let (run_dir, scratch) = (pod.join("secret"), pod.join("scratch"));
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let config = serde_json::json!({
        "version": 1,
        "analysis": {"namespace": "team-a", "name": uid, "uid": uid},
        "attempt": 1,
        "account": "team-a",
        "repository": {"url": url, "ref": "main"},
        "mode": {"type": mode},
        "profile": {"name": "default", "runnerImage": "gitview/runner:test", "canary": false,
                    "stages": {}, "summarizer": "Extractive"},
        "gatewayUrl": format!("http://{}", stack.gateway),
        "scrubPii": scrub_pii,
        "deadline": "2030-01-01T00:00:00Z"
    });
    std::fs::write(
        run_dir.join("run.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let token = stack.token("team-a", uid, 1);
    std::fs::write(run_dir.join("token"), &token).unwrap();
    let termination = pod.join("termination-log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitview-runner"));
    match clone_cache {
        Some(dir) => command.env("GITVIEW_CLONE_CACHE", dir),
        None => command.env_remove("GITVIEW_CLONE_CACHE"),
    };
    let output = command
        .arg("run")
        .env_remove("GITVIEW_RUNNER_TEST_EXIT")
        .env("GITVIEW_RUN_DIR", &run_dir)
        .env("GITVIEW_SCRATCH", &scratch)
        .env("GITVIEW_TERMINATION_LOG", &termination)
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!logs.contains(&token), "the token is never logged");
    let outcome = RunOutcome::parse(&std::fs::read_to_string(&termination).unwrap());
    (output.status.code().unwrap(), outcome, logs)
}

fn served(repo: &Repo) -> (PathBuf, serve::GitDaemon) {
    let dir = repo.sibling("served");
    std::fs::create_dir_all(&dir).unwrap();
    let bare = dir.join("repo.git");
    assert!(
        Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&repo.path)
            .arg(&bare)
            .status()
            .unwrap()
            .success()
    );
    (bare, serve::GitDaemon::start(&dir))
}

#[test]
fn full_then_incremental_runs_land_in_postgres_with_gits_counts() {
    let repo = Repo::new();
    for n in 0..6 {
        repo.write(
            &format!("src/f{}.rs", n % 3),
            format!("{}\n", "line\n".repeat(n + 1)),
        );
        repo.write("assets/logo.bin", [0u8, 1, 2, n as u8]);
        repo.commit(&format!("feat: step {n}"));
    }
    repo.git(&["tag", "v1.0.0"]);
    let (bare, daemon) = served(&repo);
    let url = daemon.url("repo.git");
    let stack = Stack::start();
    let work = repo.sibling("pods");

    let (code, outcome, logs) = run_pod(&stack, &work, "uid-full", &url, "Full");
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert_eq!(outcome.commits_analyzed, Some(6), "{outcome:?}");
    assert_eq!(outcome.analysis_id.as_deref(), Some("uid-full"));
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(outcome.to_commit.as_deref(), Some(head.trim()));

    // What PostgreSQL holds equals what git says.
    let git = git_numstat(&repo, &repo.path, &[]);
    let git_added: i64 = git
        .iter()
        .flat_map(|(_, files)| files.iter().filter_map(|f| f.1))
        .map(|n| n as i64)
        .sum();
    let git_files: i64 = git.iter().map(|(_, files)| files.len() as i64).sum();
    assert_eq!(
        stack.scalar::<i64>(
            "SELECT count(*) FROM commits WHERE analysis_id = $1",
            "uid-full"
        ),
        6
    );
    assert_eq!(stack.scalar::<i64>("SELECT count(*) FROM commit_files f JOIN commits c ON c.repository_id = f.repository_id AND c.id = f.commit_id WHERE c.analysis_id = $1", "uid-full"), git_files);
    assert_eq!(stack.scalar::<i64>("SELECT coalesce(sum(f.added), 0)::bigint FROM commit_files f JOIN commits c ON c.repository_id = f.repository_id AND c.id = f.commit_id WHERE c.analysis_id = $1", "uid-full"), git_added);
    assert_eq!(
        stack.scalar::<String>("SELECT status FROM analyses WHERE id = $1", "uid-full"),
        "succeeded"
    );
    assert_eq!(stack.scalar::<i64>("SELECT count(*) FROM artifacts WHERE analysis_id = $1 AND name IN ('story.md', 'timeline.json', 'index.html', 'report.html', 'graph.json')", "uid-full"), 5);
    // The report page the gateway's web UI frames.
    let page = String::from_utf8(stack.scalar::<Vec<u8>>(
        "SELECT content FROM artifacts WHERE analysis_id = $1 AND name = 'index.html'",
        "uid-full",
    ))
    .unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("feat: step 5"),
        "{page}"
    );
    assert!(
        stack.scalar::<i64>(
            "SELECT count(*) FROM phases WHERE analysis_id = $1",
            "uid-full"
        ) >= 1
    );
    assert!(
        stack.scalar::<i64>(
            "SELECT count(*) FROM progress_events WHERE analysis_id = $1",
            "uid-full"
        ) >= 1
    );
    // The fetch is a stage of its own, first, ending at the objects it brought.
    assert_eq!(
        stack.scalar::<String>(
            "SELECT stage FROM progress_events WHERE analysis_id = $1 ORDER BY id LIMIT 1",
            "uid-full"
        ),
        "fetch"
    );
    let fetched: i64 = stack.scalar(
        "SELECT done FROM progress_events WHERE analysis_id = $1 AND stage = 'fetch' ORDER BY id DESC LIMIT 1",
        "uid-full",
    );
    assert!(
        fetched > 0,
        "the last fetch event counts the objects received"
    );
    // modelVersions says what made the prose, not how the stages went.
    let versions: String = stack.scalar(
        "SELECT model_versions::text FROM analyses WHERE id = $1",
        "uid-full",
    );
    let versions: serde_json::Value = serde_json::from_str(&versions).unwrap();
    assert_eq!(versions["summarizer"]["kind"], "extractive", "{versions}");
    assert_eq!(versions["tokenizer"], "o200k_base", "{versions}");
    assert_eq!(versions["runner"]["name"], "gitview-runner", "{versions}");
    assert!(versions["promptVersion"].is_string(), "{versions}");
    assert!(
        versions.get("enrich").is_none() && versions.get("write").is_none(),
        "{versions}"
    );
    assert_eq!(
        stack.scalar::<String>(
            "SELECT last_analyzed_commit FROM repositories WHERE url = $1",
            &url.replace(".git", "")
        ),
        head.trim()
    );
    // The recorded config names the repository by its canonical URL, like the repository row.
    assert_eq!(
        stack.scalar::<String>(
            "SELECT config->'repository'->>'url' FROM analyses WHERE id = $1",
            "uid-full"
        ),
        url.replace(".git", "")
    );

    // Two new commits upstream: an incremental run covers exactly those.
    repo.write("src/new.rs", "fn new() {}\n");
    repo.commit("fix: new");
    repo.write("src/new.rs", "fn new() {}\nfn newer() {}\n");
    repo.commit("feat: newer");
    assert!(
        Command::new("git")
            .current_dir(&repo.path)
            .args(["push", "-q"])
            .arg(&bare)
            .arg("main")
            .status()
            .unwrap()
            .success()
    );
    let (code, outcome, logs) = run_pod(&stack, &work, "uid-incr", &url, "Incremental");
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert_eq!(outcome.commits_analyzed, Some(2), "{outcome:?}");
    assert_eq!(outcome.from_commit.as_deref(), Some(head.trim()));
    let new_head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        stack.scalar::<i64>(
            "SELECT count(*) FROM commits WHERE analysis_id = $1",
            "uid-incr"
        ),
        2
    );
    assert_eq!(
        stack.scalar::<String>(
            "SELECT last_analyzed_commit FROM repositories WHERE url = $1",
            &url.replace(".git", "")
        ),
        new_head.trim()
    );
    // Its story is the whole history's, read back from the gateway: the first run's commits
    // and its own.
    let story: serde_json::Value = serde_json::from_slice(&stack.scalar::<Vec<u8>>(
        "SELECT content FROM artifacts WHERE analysis_id = $1 AND name = 'story.json'",
        "uid-incr",
    ))
    .unwrap();
    assert_eq!(
        story["coverage"]["wholeHistory"], true,
        "{}",
        story["coverage"]
    );
    assert_eq!(story["coverage"]["commits"], 8, "{}", story["coverage"]);
    assert_eq!(story["coverage"]["lastCommit"], new_head.trim());
    let markdown = String::from_utf8(stack.scalar::<Vec<u8>>(
        "SELECT content FROM artifacts WHERE analysis_id = $1 AND name = 'story.md'",
        "uid-incr",
    ))
    .unwrap();
    assert!(markdown.contains("has 8 commits"), "{markdown}");
    assert!(
        markdown.starts_with("# repo"),
        "titled after the URL: {markdown}"
    );
    // The release tag of the first run's commits is in the story, though the incremental run's
    // shallow clone never fetched it: it came with the stored enrichment.
    assert!(markdown.contains("v1.0.0"), "{markdown}");
}

/// The objects the run's fetch received, from its "fetch finished" log line.
fn objects_fetched(logs: &str) -> u64 {
    logs.lines()
        .filter(|line| line.contains("fetch finished"))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line["fields"]["objects"].as_u64())
        .next_back()
        .unwrap_or_else(|| panic!("no fetch finished in {logs}"))
}

#[test]
fn a_trackers_clone_cache_makes_the_next_run_fetch_only_the_new_commits() {
    let repo = Repo::new();
    for n in 0..40 {
        repo.write(
            &format!("src/f{}.rs", n % 7),
            format!("{}\n", "x\n".repeat(n + 1)),
        );
        repo.commit(&format!("feat: step {n}"));
    }
    let (bare, daemon) = served(&repo);
    let url = daemon.url("repo.git");
    let stack = Stack::start();
    let work = repo.sibling("pods");
    let cache = repo.sibling("clone-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let push = |message: &str| {
        repo.write("src/new.rs", format!("// {message}\n"));
        repo.commit(message);
        let pushed = Command::new("git")
            .current_dir(&repo.path)
            .args(["push", "-q"])
            .arg(&bare)
            .arg("main")
            .status()
            .unwrap();
        assert!(pushed.success());
    };

    let (code, outcome, logs) = run_pod_with(&stack, &work, "uid-full", &url, "Full", Some(&cache));
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    let full_objects = objects_fetched(&logs);

    // The next run fetches into the clone the first left: only the new commit's objects
    // (commit, trees, blob), where a fresh shallow clone brings a whole snapshot.
    push("fix: one more");
    let (code, outcome, logs) =
        run_pod_with(&stack, &work, "uid-incr", &url, "Incremental", Some(&cache));
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert_eq!(outcome.commits_analyzed, Some(1), "{outcome:?}");
    let cached_objects = objects_fetched(&logs);
    assert!(
        (1..=8).contains(&cached_objects),
        "{cached_objects} objects for one new commit (the full run: {full_objects})"
    );
    let story = |uid: &str| -> serde_json::Value {
        serde_json::from_slice(&stack.scalar::<Vec<u8>>(
            "SELECT content FROM artifacts WHERE analysis_id = $1 AND name = 'story.json'",
            uid,
        ))
        .unwrap()
    };
    assert_eq!(story("uid-incr")["coverage"]["commits"], 41);
    assert_eq!(story("uid-incr")["coverage"]["wholeHistory"], true);

    // A clone another run holds is not used: this run clones afresh, and succeeds.
    push("fix: while another run holds the clone");
    let lock_file = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "lock"))
        .expect("the cache holds the clone's lock file");
    let held = std::fs::File::open(&lock_file).unwrap();
    held.try_lock().unwrap();
    let (code, outcome, logs) =
        run_pod_with(&stack, &work, "uid-held", &url, "Incremental", Some(&cache));
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert!(logs.contains("in use by another run"), "{logs}");
    assert!(objects_fetched(&logs) > cached_objects);
    assert_eq!(story("uid-held")["coverage"]["commits"], 42);
    drop(held);

    // A damaged clone is removed and the run clones afresh: the cache never fails a run.
    push("fix: after the clone was damaged");
    let clone = lock_file.with_extension("git");
    for entry in std::fs::read_dir(clone.join("objects").join("pack")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a pack").unwrap();
    }
    let (code, outcome, logs) = run_pod_with(
        &stack,
        &work,
        "uid-damaged",
        &url,
        "Incremental",
        Some(&cache),
    );
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert!(logs.contains("removing it and cloning afresh"), "{logs}");
    assert_eq!(story("uid-damaged")["coverage"]["commits"], 43);
    assert_eq!(story("uid-damaged")["coverage"]["wholeHistory"], true);
}

#[test]
fn a_missing_ref_is_invalid_input_and_recorded_as_failed() {
    let repo = Repo::new();
    repo.write("a", "a\n");
    repo.commit("one");
    let (_bare, daemon) = served(&repo);
    let stack = Stack::start();
    let url = daemon.url("nothing-here.git");
    let (code, outcome, logs) = run_pod(&stack, &repo.sibling("pods"), "uid-missing", &url, "Full");
    assert_eq!(code, 2, "{outcome:?}\n{logs}");
    assert!(outcome.message.contains("127.0.0.1"), "{outcome:?}");
    assert_eq!(
        stack.scalar::<String>("SELECT status FROM analyses WHERE id = $1", "uid-missing"),
        "failed"
    );
    // A failed run ships its log too, down to the failure.
    let stored = stack.run_logs("uid-missing");
    let last = stored.last().expect("the failed run's log");
    assert_eq!((last.2.as_str(), last.3.as_str()), ("error", "run failed"));
    assert_eq!(last.4["code"], 2);
}

fn small_repo() -> Repo {
    let repo = Repo::new();
    for n in 0..3 {
        repo.write("src/a.rs", "x\n".repeat(n + 1));
        repo.commit(&format!("feat: step {n}"));
    }
    repo
}

#[test]
fn the_runners_own_log_lines_land_in_run_logs_in_order() {
    let repo = small_repo();
    let (_bare, daemon) = served(&repo);
    let stack = Stack::start();
    let (code, outcome, logs) = run_pod(
        &stack,
        &repo.sibling("pods"),
        "uid-logs",
        &daemon.url("repo.git"),
        "Full",
    );
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    let stored = stack.run_logs("uid-logs");
    // Every line: attempt 1, numbered 0.. without a gap, info and above only.
    let seqs: Vec<i64> = stored.iter().map(|row| row.1).collect();
    assert_eq!(
        seqs,
        (0..stored.len() as i64).collect::<Vec<_>>(),
        "{stored:#?}"
    );
    assert!(stored.iter().all(|row| row.0 == 1));
    assert!(
        stored
            .iter()
            .all(|row| ["info", "warn", "error"].contains(&row.2.as_str())),
        "{stored:#?}"
    );
    assert!(stored.iter().all(|row| row.4.is_object()));
    // The same lines as stderr's at info and above, in the same order.
    let stderr: Vec<(String, String)> = logs
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| ["INFO", "WARN", "ERROR"].contains(&line["level"].as_str().unwrap()))
        .map(|line| {
            (
                line["level"].as_str().unwrap().to_lowercase(),
                line["fields"]["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let shipped: Vec<(String, String)> = stored
        .iter()
        .map(|row| (row.2.clone(), row.3.clone()))
        .collect();
    assert_eq!(shipped, stderr);
    assert_eq!(stored[0].3, "run config accepted");
    assert_eq!(stored[0].4["analysis"], "uid-logs");
    assert!(
        stored.last().unwrap().4["outcome"]
            .as_str()
            .unwrap()
            .starts_with("analyzed 3 commits")
    );
    assert_eq!(
        stored.last().unwrap().3,
        "run finished",
        "the last line is shipped too"
    );
    // The stage progress lines, with their fields.
    let stages: Vec<&str> = stored
        .iter()
        .filter(|row| row.3 == "progress")
        .map(|row| row.4["stage"].as_str().unwrap())
        .collect();
    for stage in ["walk", "extract", "chunk", "summarize", "story"] {
        assert!(stages.contains(&stage), "{stage} in {stages:?}");
    }
    let progress = stored.iter().find(|row| row.3 == "progress").unwrap();
    assert!(
        progress.4["done"].is_u64() && progress.4["elapsed_ms"].is_u64(),
        "{progress:?}"
    );
    // Never a credential: the token is not in any stored line.
    let token = stack.token("team-a", "uid-logs", 1);
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        stored
            .iter()
            .all(|row| !row.3.contains(signature) && !row.4.to_string().contains(signature))
    );
}

#[test]
fn a_failing_logs_route_does_not_fail_the_run() {
    let repo = small_repo();
    let (_bare, daemon) = served(&repo);
    let stack = Stack::start_with(true);
    let (code, outcome, logs) = run_pod(
        &stack,
        &repo.sibling("pods"),
        "uid-nologs",
        &daemon.url("repo.git"),
        "Full",
    );
    assert_eq!(code, 0, "{outcome:?}\n{logs}");
    assert_eq!(outcome.commits_analyzed, Some(3));
    assert_eq!(
        stack.scalar::<String>("SELECT status FROM analyses WHERE id = $1", "uid-nologs"),
        "succeeded"
    );
    assert_eq!(
        stack.scalar::<i64>(
            "SELECT count(*) FROM commits WHERE analysis_id = $1",
            "uid-nologs"
        ),
        3
    );
    assert!(stack.run_logs("uid-nologs").is_empty());
    // Said once on stderr, then no more tries.
    assert_eq!(
        logs.matches("the run log could not be shipped").count(),
        1,
        "{logs}"
    );
    assert_eq!(
        logs.matches("\"what\":\"logs\"").count(),
        3,
        "three retries, once: {logs}"
    );
    assert!(logs.contains("run finished"), "{logs}");
}

/// The living-story update in a pod at scale: a large history (`GITVIEW_LIVING_REPO`, a working
/// copy such as a clone of git/git) analyzed in full through the gateway as it was
/// `GITVIEW_LIVING_BACK` (default 100) first-parent commits ago (with `GITVIEW_LIVING_CACHE=1`
/// both pods mount one clone cache, as a tracker's do; both scrub PII as the account's default
/// policy asks, unless `GITVIEW_LIVING_SCRUB=0` turns the policy off), then the incremental run of
/// the commits since, which pages every stored commit back from the gateway and tells the
/// whole history. Prints both wall times; run in release:
/// `GITVIEW_LIVING_REPO=/tmp/big cargo test --release -p gitview-runner --test pod_run -- --ignored --nocapture living`.
#[test]
#[ignore = "a benchmark over a large history named by GITVIEW_LIVING_REPO"]
fn living_story_update_at_scale() {
    let Ok(source) = std::env::var("GITVIEW_LIVING_REPO") else {
        panic!("GITVIEW_LIVING_REPO names the history to measure");
    };
    let back: usize = std::env::var("GITVIEW_LIVING_BACK")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let work = tempfile::tempdir().unwrap();
    let served = work.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = served.join("repo.git");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["clone", "-q", "--bare", &source, bare.to_str().unwrap()]);
    let head = git(&["-C", bare.to_str().unwrap(), "rev-parse", "HEAD"]);
    let before = git(&[
        "-C",
        bare.to_str().unwrap(),
        "rev-parse",
        &format!("HEAD~{back}"),
    ]);
    // The pods follow `main`.
    git(&[
        "-C",
        bare.to_str().unwrap(),
        "update-ref",
        "refs/heads/main",
        &before,
    ]);
    let daemon = serve::GitDaemon::start(&served);
    let url = daemon.url("repo.git");
    let stack = Stack::start();
    let pods = work.path().join("pods");

    let started = std::time::Instant::now();
    // `GITVIEW_LIVING_CACHE=1`: both pods mount a tracker's clone cache.
    let cache = std::env::var_os("GITVIEW_LIVING_CACHE").map(|_| work.path().join("cache"));
    if let Some(cache) = &cache {
        std::fs::create_dir_all(cache).unwrap();
    }
    // As deployed by default: the account's policy scrubs (a new account's does), and the
    // operator hands that on to each run (`GITVIEW_LIVING_SCRUB=0`: neither scrubs).
    let scrub = std::env::var("GITVIEW_LIVING_SCRUB").map_or(true, |v| v != "0");
    if !scrub {
        stack.runtime.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&stack.pg.url("postgres", "gitview"))
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO accounts (name, scrub_pii) VALUES ('team-a', false) \
                 ON CONFLICT (name) DO UPDATE SET scrub_pii = false",
            )
            .execute(&mut admin)
            .await
            .unwrap();
        });
    }
    let (code, outcome, logs) = run_pod_scrubbing(
        &stack,
        &pods,
        "uid-full",
        &url,
        "Full",
        cache.as_deref(),
        scrub,
    );
    let full = started.elapsed();
    assert_eq!(
        code,
        0,
        "{outcome:?}\n{}",
        &logs[logs.len().saturating_sub(4000)..]
    );

    git(&[
        "-C",
        bare.to_str().unwrap(),
        "update-ref",
        "refs/heads/main",
        &head,
    ]);
    let started = std::time::Instant::now();
    let (code, outcome, logs) = run_pod_scrubbing(
        &stack,
        &pods,
        "uid-incr",
        &url,
        "Incremental",
        cache.as_deref(),
        scrub,
    );
    let update = started.elapsed();
    assert_eq!(
        code,
        0,
        "{outcome:?}\n{}",
        &logs[logs.len().saturating_sub(4000)..]
    );
    let story: serde_json::Value = serde_json::from_slice(&stack.scalar::<Vec<u8>>(
        "SELECT content FROM artifacts WHERE analysis_id = $1 AND name = 'story.json'",
        "uid-incr",
    ))
    .unwrap();
    assert_eq!(story["coverage"]["wholeHistory"], true);
    assert_eq!(story["coverage"]["lastCommit"], head.as_str());
    let reading = logs
        .lines()
        .filter(|line| line.contains("read the repository's stored history"))
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|line| line["fields"]["ms"].clone())
        .unwrap_or_default();
    let timings: String = stack.scalar(
        "SELECT metrics->>'timingsMs' FROM analyses WHERE id = $1",
        "uid-incr",
    );
    println!("the update's stage timings (ms; `open` is the start and the fetch): {timings}");
    for line in logs
        .lines()
        .filter(|line| line.contains("fetch finished") || line.contains("since not reached yet"))
    {
        println!("the update's fetch: {line}");
    }
    let told = story["coverage"]["commits"].as_u64().unwrap();
    let new = u64::try_from(outcome.commits_analyzed.unwrap()).unwrap();
    println!(
        "living story in a pod: the full run of {} commits {:.2} s; the update of {new} new commits, telling all {told}, {:.2} s (of which reading the stored history from the gateway {reading} ms)",
        told - new,
        full.as_secs_f64(),
        update.as_secs_f64(),
    );
}
