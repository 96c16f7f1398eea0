//! A gateway killed mid-batch leaves no partial batch (issue 5).
//!
//! The real `gitview-gateway serve` binary runs as a child process against a throwaway
//! PostgreSQL, connected as a role bound by row-level security. One large commits batch is
//! sent; once its transaction is writing (seen in `pg_stat_activity` as the superuser) the
//! process gets SIGKILL. The batch must then be all there or not at all, and after a restart
//! the same batch is stored exactly once. Every wait polls a condition, bounded; no blind sleeps.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{batch, claims, count, key_pair, migrated_postgres, sign, start_body};
use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::BatchStored;
use gitview_gateway::testing::TestPostgres;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;

/// Commits in the batch, and file stats each: large enough that the insert takes a while.
const COMMITS: usize = 5_000;
const FILES_PER_COMMIT: usize = 4;
/// Kills tried until one lands mid-transaction.
const ATTEMPTS: usize = 3;
const ACCOUNT: &str = "team-a";

/// A bounded wait: [`Deadline::tick`] pauses 10 ms, and panics naming the condition once
/// the time is up. Conditions are polled, never waited for blindly.
struct Deadline {
    what: &'static str,
    timeout: Duration,
    at: Instant,
}

impl Deadline {
    fn new(what: &'static str, timeout: Duration) -> Self {
        Self {
            what,
            timeout,
            at: Instant::now() + timeout,
        }
    }

    async fn tick(&self) {
        assert!(
            Instant::now() < self.at,
            "{}: not within {:?}",
            self.what,
            self.timeout
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The gateway binary, serving.
struct Process {
    child: tokio::process::Child,
}

impl Process {
    /// Starts `gitview-gateway serve` on `addr` and returns once `/readyz` answers 200.
    async fn start(
        pg: &TestPostgres,
        public_key: &Path,
        addr: SocketAddr,
        log: &Path,
        http: &reqwest::Client,
    ) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gitview-gateway"));
        // Only the flags below: no configuration from the test's environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("GITVIEW_") {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("serve")
            .args(["--database-url", &pg.url("gateway", "gitview")])
            .arg("--token-public-key-file")
            .arg(public_key)
            .args(["--listen", &addr.to_string(), "--log-format", "text"])
            // No janitor: the gateway's only transactions are the test's requests.
            .args(["--retention-interval", "0"])
            // Commit batches only: no artifact reaches the object store.
            .args(["--object-store", "none"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("the gateway binary starts");
        let mut process = Self { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!(
                    "the gateway exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            let ready = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                return process;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway was not ready within 30 s:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and the exit reaped.
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

/// A linear history of [`COMMITS`] commits with [`FILES_PER_COMMIT`] file stats each.
fn history() -> Vec<CommitRecord> {
    let mut commits: Vec<CommitRecord> = Vec::with_capacity(COMMITS);
    for n in 0..COMMITS {
        let time = jiff::Timestamp::from_second(1_704_067_200 + 60 * n as i64)
            .unwrap()
            .to_string();
        let person = |name: &str| Person {
            name: name.into(),
            email: format!("{name}@example.com"),
            time: time.clone(),
            canonical: None,
        };
        commits.push(CommitRecord {
            id: format!("{:040x}", n + 1),
            parents: commits.last().map(|c| c.id.clone()).into_iter().collect(),
            author: person("ada"),
            committer: person("carl"),
            message: format!("change {n}\n\nTouches a few files of module {}.\n", n % 97),
            files: (0..FILES_PER_COMMIT)
                .map(|f| FileStat {
                    path: format!("src/module{}/file{f}.rs", n % 97),
                    added: (f != 3).then_some((n % 50 + f) as u64),
                    deleted: (f != 3).then_some((n % 7) as u64),
                    status: if f == 3 {
                        FileStatus::Added
                    } else {
                        FileStatus::Modified
                    },
                })
                .collect(),
            renames: vec![],
        });
    }
    commits
}

/// What the database holds of `analysis`' batch `number`, as the superuser (bypassing RLS):
/// commits, their file stats, batch rows, and `commits.upsert` audit rows.
async fn stored(admin: &mut sqlx::PgConnection, analysis: &str, number: i64) -> [i64; 4] {
    // `analysis` is the test's own identifier: formatting it into SQL is safe here.
    [
        count(
            admin,
            &format!("SELECT count(*) FROM commits WHERE analysis_id = '{analysis}'"),
        )
        .await,
        count(
            admin,
            &format!(
                "SELECT count(*) FROM commit_files f JOIN analyses a ON a.repository_id = f.repository_id
                 WHERE a.id = '{analysis}'"
            ),
        )
        .await,
        count(
            admin,
            &format!(
                "SELECT count(*) FROM commit_batches WHERE analysis_id = '{analysis}' AND batch = {number}"
            ),
        )
        .await,
        count(
            admin,
            &format!(
                "SELECT count(*) FROM audit_log WHERE action = 'commits.upsert' AND target = '{analysis}'
                   AND (detail->>'batch')::bigint = {number}"
            ),
        )
        .await,
    ]
}

/// The gateway role's backends whose transaction is writing (an xid assigned) or that run an
/// insert into `commits` / `commit_files`: their state, and how their statement begins.
async fn writing_backends(admin: &mut sqlx::PgConnection) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT state, left(query, 25) FROM pg_stat_activity WHERE usename = 'gateway'
           AND (backend_xid IS NOT NULL OR (state = 'active' AND query ILIKE 'INSERT INTO commit%'))",
    )
    .fetch_all(admin)
    .await
    .unwrap()
}

async fn post(
    http: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = http
        .post(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_gateway_killed_mid_batch_leaves_no_partial_batch() {
    let began = Instant::now();
    gitview_gateway::install_crypto_provider();
    let pg = migrated_postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let (signing, public) = key_pair(7);
    let public_key = dir.path().join("token.pub.pem");
    std::fs::write(&public_key, public).unwrap();
    let log: PathBuf = dir.path().join("gateway.log");
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut admin = sqlx::PgConnection::connect(&pg.url("postgres", "gitview"))
        .await
        .unwrap();
    let history = history();
    let body = batch(0, &history);
    let files = (COMMITS * FILES_PER_COMMIT) as i64;
    let complete = [COMMITS as i64, files, 1, 1];

    // Each attempt: its own analysis of its own repository, so an earlier attempt's commits
    // (if its kill came too late) are not "existing" for the next.
    let mut killed_mid_transaction = None;
    for attempt in 1..=ATTEMPTS {
        let analysis = format!("crash-{attempt}");
        let token = sign(&signing, &claims(ACCOUNT, &analysis));
        let gateway = Process::start(&pg, &public_key, addr, &log, &http).await;
        let (status, started) = post(
            &http,
            addr,
            &token,
            &format!("/v1/runs/{analysis}/start"),
            &start_body(&format!("https://git.example.com/org/crash-{attempt}.git")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");

        let sent = Instant::now();
        let request = tokio::spawn({
            let (http, body, token) = (http.clone(), body.clone(), token.clone());
            let url = format!("http://{addr}/v1/runs/{analysis}/commits");
            async move {
                let response = http.post(url).bearer_auth(token).json(&body).send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.text().await?))
            }
        });
        let deadline = Deadline::new("the batch's transaction writing", Duration::from_secs(60));
        let seen = loop {
            let writing = writing_backends(&mut admin).await;
            if !writing.is_empty() {
                break writing;
            }
            assert!(
                !request.is_finished(),
                "the batch was answered before its transaction was seen writing"
            );
            deadline.tick().await;
        };
        let writing_after = sent.elapsed();
        gateway.kill().await;

        let answer = request.await.unwrap();
        // The killed process' backends end once PostgreSQL notices the client is gone (after
        // the statement running then); only then is what they leave behind final.
        let deadline = Deadline::new(
            "the killed gateway's backends gone",
            Duration::from_secs(60),
        );
        while count(
            &mut admin,
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'gateway'",
        )
        .await
            > 0
        {
            deadline.tick().await;
        }
        let after_kill = stored(&mut admin, &analysis, 0).await;
        // All or nothing: commits, their file stats, the batch row and its audit row.
        assert!(
            after_kill == [0; 4] || after_kill == complete,
            "attempt {attempt}: a partial batch after the kill: \
             [commits, commit_files, commit_batches, audit rows] = {after_kill:?}, \
             expected {:?} or {complete:?}",
            [0; 4]
        );
        if after_kill == [0; 4] {
            let error = answer.expect_err("a batch that was not stored cannot have been answered");
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason = format!("{reason}: {cause}");
                source = cause.source();
            }
            println!(
                "attempt {attempt}: SIGKILL {writing_after:?} after sending, mid-transaction \
                 (the gateway's backend when seen writing: {seen:?}): nothing stored; \
                 the client got: {reason}"
            );
            for line in pg.log().lines().filter(|l| l.contains("client")) {
                println!("  postgres: {line}");
            }
            killed_mid_transaction = Some((analysis, token));
            break;
        }
        // Too late: the batch had committed. It is complete (asserted above); the client may
        // have had its answer just before the kill.
        match answer {
            Ok((status, text)) => {
                assert_eq!(status, StatusCode::OK, "{text}");
                println!(
                    "attempt {attempt}: SIGKILL landed after the commit and the answer ({text})"
                );
            }
            Err(error) => println!(
                "attempt {attempt}: SIGKILL landed after the commit; the client got: {error}"
            ),
        }
    }
    let (analysis, token) = killed_mid_transaction
        .unwrap_or_else(|| panic!("in {ATTEMPTS} attempts no SIGKILL landed mid-transaction"));

    // Restarted, the gateway stores the same batch exactly once, complete.
    let gateway = Process::start(&pg, &public_key, addr, &log, &http).await;
    let path = format!("/v1/runs/{analysis}/commits");
    let (status, first) = post(&http, addr, &token, &path, &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first: BatchStored = serde_json::from_value(first).unwrap();
    assert_eq!(
        first,
        BatchStored {
            inserted: COMMITS as u64,
            existing: 0
        }
    );
    assert_eq!(stored(&mut admin, &analysis, 0).await, complete);
    // The same batch again: the answer recorded for it, nothing written twice.
    let (status, again) = post(&http, addr, &token, &path, &body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(serde_json::from_value::<BatchStored>(again).unwrap(), first);
    assert_eq!(stored(&mut admin, &analysis, 0).await, complete);
    // The same commits in a new batch (a retried attempt): all existing, none duplicated.
    let (status, resent) = post(&http, addr, &token, &path, &batch(1, &history)).await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(
        serde_json::from_value::<BatchStored>(resent).unwrap(),
        BatchStored {
            inserted: 0,
            existing: COMMITS as u64
        }
    );
    let [commits, commit_files, ..] = stored(&mut admin, &analysis, 0).await;
    assert_eq!((commits, commit_files), (COMMITS as i64, files));
    assert_eq!(
        stored(&mut admin, &analysis, 1).await,
        [commits, files, 1, 1]
    );
    gateway.kill().await;
    println!("took {:?}", began.elapsed());
}
