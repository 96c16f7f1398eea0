//! Batch ingest through the gateway against a raw `COPY` of the same rows, in one run.
//!
//! ```sh
//! nice cargo bench -p gitview-gateway --bench ingest
//! GITVIEW_BENCH_COMMITS=100000 nice cargo bench -p gitview-gateway --bench ingest
//! GITVIEW_BENCH_COMMITS_JSONL=/tmp/out/commits.jsonl nice cargo bench -p gitview-gateway --bench ingest
//! ```
//!
//! Starts a throwaway PostgreSQL 15 cluster (as the tests do) and, per round, two fresh
//! migrated databases:
//!
//! - **gateway**: the gateway's router serves one of them on 127.0.0.1 in this process (real
//!   HTTP through reqwest, the default pool of 16, connected as a role without BYPASSRLS);
//!   after `POST /v1/runs/{analysis}/start`, the commits go to `POST /v1/runs/{analysis}/commits`
//!   one batch after another, in batches of the runner's size (500, `PipelineOptions`), as the
//!   runner's gateway sink sends them (one runner token, `CommitBatch` bodies);
//! - **copy** (the reference): the same rows, exactly as the gateway stores them, go into
//!   `commits` and `commit_files` with one `COPY … FROM STDIN` each in one transaction, as the
//!   superuser (`COPY FROM` refuses tables under row-level security for anyone else).
//!
//! Request bodies and COPY text are encoded before the clock starts, so both sides time only
//! the transfer and the server's work. Rounds alternate which side goes first, with a
//! `CHECKPOINT` between runs. The figure of merit is rows/s (commits + file stats) of the
//! gateway over COPY's; the target is ≥ 0.5.
//!
//! The commits are synthesized (deterministic: a linear history with 5% merges, 1 to 12 file
//! stats each, realistic messages, identities and enrichment), `GITVIEW_BENCH_COMMITS` of them
//! (default 50,000); or read from a `commits.jsonl` that `gitview-runner analyze` wrote.
//! `GITVIEW_BENCH_ROUNDS` (default 2) sets the rounds.
#![expect(
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{Cluster, Rng, env_or, load_average, runner_token};
use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::{BatchStored, CommitBatch, CommitUpload, StartRun};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// The runner's batch size (`runner::pipeline::PipelineOptions::default().batch_size`).
const BATCH: usize = 500;
const ACCOUNT: &str = "bench";
const ANALYSIS: &str = "0b6f2c1e-bench-ingest";
const REPOSITORY: &str = "https://git.example.com/bench/history.git";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let rounds: usize = env_or("GITVIEW_BENCH_ROUNDS", 2);
    let commits = match std::env::var_os("GITVIEW_BENCH_COMMITS_JSONL") {
        Some(path) => read_jsonl(std::path::Path::new(&path)),
        None => synthesize(env_or("GITVIEW_BENCH_COMMITS", 50_000)),
    };
    let files: usize = commits.iter().map(|c| c.record.files.len()).sum();
    let rows = commits.len() + files;
    println!(
        "ingest: {} commits with {files} file stats ({rows} rows) in batches of {BATCH}; load average {}",
        commits.len(),
        load_average()
    );
    let bodies: Vec<Vec<u8>> = commits
        .chunks(BATCH)
        .enumerate()
        .map(|(n, chunk)| {
            serde_json::to_vec(&CommitBatch {
                batch: n as u64,
                commits: chunk.to_vec(),
            })
            .expect("a batch serializes")
        })
        .collect();
    let payload: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "  request bodies: {:.1} MiB in {} batches",
        payload as f64 / f64::from(1 << 20),
        bodies.len()
    );

    let cluster = Cluster::start().await;
    let (mut gateway_total, mut copy_total) = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let mut times = [Duration::ZERO; 2];
        let mut digests = [String::new(), String::new()];
        let order: [usize; 2] = if round % 2 == 0 { [1, 0] } else { [0, 1] };
        for side in order {
            let database = format!("{}_{round}", ["gateway", "copy"][side]);
            cluster.database(&database).await;
            cluster
                .pg
                .exec("postgres", "CHECKPOINT")
                .await
                .expect("checkpoint");
            times[side] = if side == 0 {
                through_gateway(&cluster, &database, &bodies, commits.len()).await
            } else {
                through_copy(&cluster, &database, &commits).await
            };
            digests[side] = check_stored(&cluster, &database, commits.len(), files).await;
        }
        assert_eq!(
            digests[0], digests[1],
            "the gateway and COPY stored the same rows"
        );
        let [gateway, copy] = times;
        println!(
            "  round {round}: gateway {:>9.0} rows/s ({:.2} s)   COPY {:>9.0} rows/s ({:.2} s)   ratio {:.2}",
            rows as f64 / gateway.as_secs_f64(),
            gateway.as_secs_f64(),
            rows as f64 / copy.as_secs_f64(),
            copy.as_secs_f64(),
            copy.as_secs_f64() / gateway.as_secs_f64(),
        );
        gateway_total += gateway;
        copy_total += copy;
    }
    let total = (rows * rounds) as f64;
    println!(
        "ingest over {rounds} rounds: gateway {:.0} rows/s ({:.0} commits/s), COPY {:.0} rows/s ({:.0} commits/s): gateway/COPY = {:.2} (target >= 0.5); load average {}",
        total / gateway_total.as_secs_f64(),
        (commits.len() * rounds) as f64 / gateway_total.as_secs_f64(),
        total / copy_total.as_secs_f64(),
        (commits.len() * rounds) as f64 / copy_total.as_secs_f64(),
        copy_total.as_secs_f64() / gateway_total.as_secs_f64(),
        load_average()
    );
}

/// Starts the run, then posts every batch in order, as the runner does; the time of the
/// batches.
async fn through_gateway(
    cluster: &Cluster,
    database: &str,
    bodies: &[Vec<u8>],
    commits: usize,
) -> Duration {
    let (addr, signing) = cluster.serve(database).await;
    let token = runner_token(&signing, ACCOUNT, ANALYSIS);
    let http = reqwest::Client::new();
    let url = |tail: &str| format!("http://{addr}/v1/runs/{ANALYSIS}/{tail}");
    let start = StartRun {
        namespace: "bench".into(),
        name: "history".into(),
        attempt: 1,
        repository_url: REPOSITORY.into(),
        branch: "main".into(),
        mode: "Full".into(),
        config: json!({"profile": "default"}),
    };
    let response = http
        .post(url("start"))
        .bearer_auth(&token)
        .json(&start)
        .send()
        .await
        .expect("the gateway answers start");
    assert!(
        response.status().is_success(),
        "start: {}",
        response.status()
    );
    let clock = Instant::now();
    let mut inserted = 0;
    for body in bodies {
        let response = http
            .post(url("commits"))
            .bearer_auth(&token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the gateway answers a batch");
        let status = response.status();
        assert!(
            status.is_success(),
            "batch: {status}: {}",
            response.text().await.unwrap_or_default()
        );
        let stored: BatchStored = response.json().await.expect("a BatchStored body");
        inserted += stored.inserted;
    }
    let elapsed = clock.elapsed();
    assert_eq!(inserted as usize, commits, "every commit is new");
    elapsed
}

/// The same rows as the gateway stores them, by `COPY` as the superuser in one transaction;
/// the time from `BEGIN` to the end of `COMMIT`.
async fn through_copy(cluster: &Cluster, database: &str, commits: &[CommitUpload]) -> Duration {
    let mut conn = sqlx::PgConnection::connect(&cluster.pg.url("postgres", database))
        .await
        .expect("the superuser connects");
    // What `start` creates.
    let repository =
        gitview_core::remote::RepositoryUrl::parse(REPOSITORY).expect("a valid repository URL");
    let (account, repository): (i64, i64) = sqlx::query_as(
        "WITH a AS (INSERT INTO accounts (name) VALUES ($1) RETURNING id),
              r AS (INSERT INTO repositories (account_id, fingerprint, url, branch)
                    SELECT id, $2, $3, 'main' FROM a RETURNING id, account_id)
         SELECT account_id, id FROM r",
    )
    .bind(ACCOUNT)
    .bind(repository.fingerprint("main"))
    .bind(repository.as_str())
    .fetch_one(&mut conn)
    .await
    .expect("account and repository");
    sqlx::query(
        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, config)
         VALUES ($1, $2, $3, 'bench', 'history', 1, 'Full', 'running', '{\"profile\": \"default\"}')",
    )
    .bind(ANALYSIS)
    .bind(account)
    .bind(repository)
    .execute(&mut conn)
    .await
    .expect("the analysis");
    let (commit_text, file_text) = copy_text(account, repository, commits);

    let clock = Instant::now();
    let mut tx = conn.begin().await.expect("BEGIN");
    for (statement, text) in [
        (
            "COPY commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
               authored_at, committer_name, committer_email, committed_at, message, lines_added,
               lines_deleted, files_changed, renames, enrichment, record) FROM STDIN",
            &commit_text,
        ),
        (
            "COPY commit_files (account_id, repository_id, commit_id, seq, path, added, deleted, status) FROM STDIN",
            &file_text,
        ),
    ] {
        let mut copy = tx.copy_in_raw(statement).await.expect("COPY starts");
        for chunk in text.as_bytes().chunks(1 << 20) {
            copy.send(chunk).await.expect("COPY data");
        }
        copy.finish().await.expect("COPY ends");
    }
    tx.commit().await.expect("COMMIT");
    clock.elapsed()
}

/// Checks that `database` holds every row; a digest of its rows, equal for both sides.
async fn check_stored(cluster: &Cluster, database: &str, commits: usize, files: usize) -> String {
    let mut conn = sqlx::PgConnection::connect(&cluster.pg.url("postgres", database))
        .await
        .expect("the superuser connects");
    let (stored_commits, stored_files, digest): (i64, i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM commits), (SELECT count(*) FROM commit_files),
           (SELECT md5(string_agg(concat_ws('|', id, parents, author_name, author_email, authored_at,
              committer_name, committer_email, committed_at, message, lines_added, lines_deleted,
              files_changed, renames, enrichment, record), ',' ORDER BY id)) FROM commits)
           || (SELECT md5(string_agg(concat_ws('|', commit_id, seq, path, added, deleted, status), ','
              ORDER BY commit_id, seq)) FROM commit_files)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counts");
    assert_eq!(
        (stored_commits as usize, stored_files as usize),
        (commits, files),
        "{database} holds every row"
    );
    digest
}

/// `COPY` text-format rows for `commits` and `commit_files`: the values the gateway's commits
/// route stores.
fn copy_text(account: i64, repository: i64, commits: &[CommitUpload]) -> (String, String) {
    let (mut out, mut files) = (String::new(), String::new());
    for upload in commits {
        let record = &upload.record;
        let added: u64 = record.files.iter().filter_map(|f| f.added).sum();
        let deleted: u64 = record.files.iter().filter_map(|f| f.deleted).sum();
        let fields = [
            account.to_string(),
            repository.to_string(),
            escape(&record.id),
            escape(ANALYSIS),
            format!("{{{}}}", record.parents.join(",")),
            escape(&record.author.name),
            escape(&record.author.email),
            time(&record.author.time),
            escape(&record.committer.name),
            escape(&record.committer.email),
            time(&record.committer.time),
            escape(&record.message),
            added.to_string(),
            deleted.to_string(),
            record.files.len().to_string(),
            escape(&serde_json::to_string(&record.renames).expect("renames serialize")),
            escape(&upload.enrichment.to_string()),
            escape(&serde_json::to_string(record).expect("a record serializes")),
        ];
        out.push_str(&fields.join("\t"));
        out.push('\n');
        for (seq, file) in record.files.iter().enumerate() {
            let number = |n: Option<u64>| n.map_or_else(|| "\\N".to_owned(), |n| n.to_string());
            let status = match file.status {
                FileStatus::Added => "A",
                FileStatus::Deleted => "D",
                FileStatus::Modified => "M",
                FileStatus::TypeChanged => "T",
            };
            writeln!(
                files,
                "{account}\t{repository}\t{}\t{}\t{}\t{}\t{}\t{status}",
                record.id,
                seq + 1,
                escape(&file.path),
                number(file.added),
                number(file.deleted),
            )
            .expect("writing to a String");
        }
    }
    (out, files)
}

/// A value in COPY's text format.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A record's time as a `timestamptz` literal (the instant the gateway stores).
fn time(text: &str) -> String {
    gitview_core::time::epoch_seconds(text)
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| "\\N".to_owned(), |t| t.to_string())
}

/// `commits.jsonl` (one `CommitRecord` a line) with a synthesized enrichment.
fn read_jsonl(path: &std::path::Path) -> Vec<CommitUpload> {
    let text = std::fs::read_to_string(path).expect("GITVIEW_BENCH_COMMITS_JSONL is readable");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let record: CommitRecord =
                serde_json::from_str(line).expect("each line is a CommitRecord");
            let enrichment = enrichment(&record);
            CommitUpload { record, enrichment }
        })
        .collect()
}

const AREAS: &[&str] = &[
    "src",
    "src/api",
    "src/db",
    "src/model",
    "crates/core/src",
    "crates/cli/src",
    "tests",
    "docs",
    "web/components",
    "scripts",
];
const EXTENSIONS: &[(&str, &str)] = &[
    ("rs", "Rust"),
    ("rs", "Rust"),
    ("ts", "TypeScript"),
    ("md", "Markdown"),
    ("toml", "TOML"),
    ("py", "Python"),
];
const SUBJECTS: &[&str] = &[
    "fix(parser): handle an empty input without panicking",
    "feat(api): page analyses with an opaque cursor",
    "refactor: split the pipeline into stages",
    "docs: explain the retention janitor",
    "chore(deps): bump tokio from 1.46 to 1.47",
    "Merge pull request #4182 from team/feature-branch",
    "test: cover the compare-and-set on the last analyzed commit",
    "perf(db): batch the upserts of file stats",
    "Revert \"feat: stream artifacts to object storage\"",
    "Update README.md",
];
const BODY: &str = "The previous behaviour read the whole history into memory before writing \
anything, which made large repositories time out on small nodes. Stream the batches instead \
and keep only the facts the story stage needs.\n\nRefs: #1234\nSigned-off-by: Dev <dev@example.com>\n";

/// `n` commits of a linear history with 5% merges, from 2016 on.
fn synthesize(n: usize) -> Vec<CommitUpload> {
    let mut rng = Rng::new(0x9e1f_ce11);
    let mut time = 1_451_606_400_i64; // 2016-01-01
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let offsets = ["+00:00", "+02:00", "-07:00", "+05:30", "+09:00"];
    let person = |rng: &mut Rng, time: i64| {
        let k = rng.below(150);
        let offset = offsets[(k % 5) as usize];
        let shift = match offset {
            "+00:00" => 0,
            "+02:00" => 7200,
            "-07:00" => -25_200,
            "+05:30" => 19_800,
            _ => 32_400,
        };
        let local = jiff::Timestamp::from_second(time + shift).expect("a time in range");
        Person {
            name: format!("Developer {k}"),
            email: format!("dev{k}@example.com"),
            time: format!("{}{offset}", local.strftime("%Y-%m-%dT%H:%M:%S")),
            canonical: None,
        }
    };
    let mut commits = Vec::with_capacity(n);
    for i in 0..n {
        time += 60 + rng.below(7200) as i64;
        let id = format!("{:016x}{:024x}", rng.next(), i);
        let merge = i > 10 && rng.below(20) == 0;
        let mut parents: Vec<String> = ids.last().cloned().into_iter().collect();
        if merge {
            parents.push(ids[rng.below(ids.len() as u64 - 1) as usize].clone());
        }
        let files = if merge {
            Vec::new()
        } else {
            let count = *rng.pick(&[1, 1, 1, 2, 2, 3, 4, 5, 8, 12]);
            (0..count)
                .map(|_| {
                    let (extension, _) = rng.pick(EXTENSIONS);
                    let binary = rng.below(50) == 0;
                    FileStat {
                        path: format!("{}/module_{}.{extension}", rng.pick(AREAS), rng.below(300)),
                        added: (!binary).then(|| rng.below(120)),
                        deleted: (!binary).then(|| rng.below(60)),
                        status: match rng.below(30) {
                            0..=2 => FileStatus::Added,
                            3 => FileStatus::Deleted,
                            _ => FileStatus::Modified,
                        },
                    }
                })
                .collect()
        };
        let subject = rng.pick(SUBJECTS);
        let message = if rng.below(3) == 0 {
            format!("{subject}\n")
        } else {
            format!("{subject}\n\n{BODY}")
        };
        let record = CommitRecord {
            id: id.clone(),
            parents,
            author: person(&mut rng, time - 3600),
            committer: person(&mut rng, time),
            message,
            files,
            renames: Vec::new(),
        };
        let enrichment = enrichment(&record);
        commits.push(CommitUpload { record, enrichment });
        ids.push(id);
    }
    commits
}

/// An enrichment shaped like the runner's enrich stage's.
fn enrichment(record: &CommitRecord) -> Value {
    let churn: u64 = record
        .files
        .iter()
        .map(|f| f.added.unwrap_or(0) + f.deleted.unwrap_or(0))
        .sum();
    let mut languages: Vec<&str> = record
        .files
        .iter()
        .filter_map(|f| {
            let extension = f.path.rsplit('.').next()?;
            EXTENSIONS
                .iter()
                .find(|(e, _)| *e == extension)
                .map(|(_, l)| *l)
        })
        .collect();
    languages.sort_unstable();
    languages.dedup();
    let mut areas: Vec<&str> = record
        .files
        .iter()
        .map(|f| f.path.split('/').next().unwrap_or("(root)"))
        .collect();
    areas.sort_unstable();
    areas.dedup();
    let class = if record.parents.len() > 1 {
        "merge"
    } else if record.message.starts_with("fix") {
        "fix"
    } else if record.message.starts_with("docs") {
        "docs"
    } else {
        "feature"
    };
    let size = match churn {
        0..=9 => "tiny",
        10..=99 => "small",
        100..=499 => "medium",
        _ => "large",
    };
    json!({
        "class": class, "languages": languages, "references": [{"kind": "issue", "id": "1234"}],
        "bot": false, "churn": churn, "size": size, "areas": areas, "tags": [], "releases": []
    })
}
