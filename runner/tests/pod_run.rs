//! `gitview-runner run` end to end, as a runner pod runs it: the run config and token mounted
//! in a directory, the repository served by `git daemon`, results written through the real
//! gateway into a throwaway PostgreSQL, and then read back and compared with `git` itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Repo, git_numstat};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use gitview_crds::wire::{
    RunOutcome, SCOPE_ANALYSIS_WRITE, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenClaims,
};
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
            tokio::spawn(async move { axum::serve(listener, api::router(state, 16 << 20)).await });
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
        let now = jiff::Timestamp::now().as_second();
        let claims = TokenClaims {
            iss: TOKEN_ISSUER.into(),
            aud: TOKEN_AUDIENCE.into(),
            sub: analysis.into(),
            account: account.into(),
            analysis: analysis.into(),
            attempt,
            scope: vec![SCOPE_ANALYSIS_WRITE.into()],
            iat: now,
            exp: now + 600,
        };
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

/// Runs one attempt in a fresh pod directory; returns the exit code, outcome and logs.
fn run_pod(
    stack: &Stack,
    work: &Path,
    uid: &str,
    url: &str,
    mode: &str,
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
        "scrubPii": false,
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
    let output = Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
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
    assert_eq!(stack.scalar::<i64>("SELECT count(*) FROM artifacts WHERE analysis_id = $1 AND name IN ('story.md', 'timeline.json')", "uid-full"), 2);
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
    assert_eq!(
        stack.scalar::<String>(
            "SELECT last_analyzed_commit FROM repositories WHERE url = $1",
            &url.replace(".git", "")
        ),
        head.trim()
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
}
