//! Read latency under load: get-analysis and list-analyses at a fixed request rate, from a
//! second process, against 100,000 analyses and 1,000,000 commit rows.
//!
//! ```sh
//! nice cargo bench -p gitview-gateway --bench read
//! GITVIEW_BENCH_RATE=500 GITVIEW_BENCH_SECONDS=30 nice cargo bench -p gitview-gateway --bench read
//! ```
//!
//! The bench process starts a throwaway PostgreSQL 15 cluster (as the tests do), migrates a
//! database, and loads it as the superuser with `INSERT … SELECT generate_series` (foreign-key
//! triggers off, the rows consistent by construction; then `VACUUM ANALYZE`):
//!
//! - account `bench`: 1,000 repositories; 100,000 analyses, 100 per repository, one every
//!   10 minutes over about two years (2% running, 8% failed, the rest succeeded), each with a
//!   config, metrics and model versions; every succeeded one with 3 phases, a `story.md`
//!   (~2 KiB) and a `timeline.json` (~1 KiB) inline, as the runner leaves them;
//!   1,000,000 commits (1,000 per repository, each with its ~600-byte record);
//! - account `other`: 10 repositories and 1,000 analyses, which the bench's key must never see.
//!
//! Then it serves the database with the gateway's router on 127.0.0.1 in this process
//! (connected as a role without BYPASSRLS, the default pool of 16), creates an API key on the
//! admin path, and re-executes itself as the load generator (`GITVIEW_BENCH_LOADGEN=1`): a
//! separate process on loopback that first walks some pages to collect cursors, then sends
//! `GITVIEW_BENCH_RATE` requests/s (default 500) open-loop for `GITVIEW_BENCH_SECONDS` (default
//! 30): request *i* is due at *t0 + i/rate* whether or not earlier ones have answered, and its
//! latency runs from when it was due to the end of its body, so a stalled server cannot hide
//! behind a slowed client. The mix: 40% get-analysis, 60% list-analyses — first pages without
//! filters, by repository, by status, by a one-week window, and cursor pages of the first
//! three. Every request has a 10 s timeout, the run is bounded in count and time, and the
//! generator exits by itself (the bench kills it if it overruns by a minute).
//!
//! It reports p50/p99/max latency and errors (any status but 200, or no answer) per route;
//! the target is p99 ≤ 50 ms for every route.
#![expect(
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Cluster, Rng, env_or, load_average, ms, percentiles, schedstat};
use gitview_core::results::{AnalysisPage, ApiKeyCreated};
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;

const DATABASE: &str = "gitview";
/// The load generator's own bound beyond the run: requests time out after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let loadgen = std::env::var_os("GITVIEW_BENCH_LOADGEN").is_some();
    let mut runtime = if loadgen {
        // One thread is plenty for 500 requests/s, and leaves the cores to the server side.
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    if loadgen {
        runtime.block_on(generate_load());
    } else {
        runtime.block_on(run());
    }
}

/// What the bench hands the load generator (a JSON file).
#[derive(Debug, Serialize, Deserialize)]
struct Sample {
    /// Analyses of the key's account.
    ids: Vec<String>,
    /// Repository fingerprints of the key's account.
    fingerprints: Vec<String>,
}

/// Per-route figures the load generator prints (one JSON line on stdout).
#[derive(Debug, Serialize, Deserialize)]
struct RouteReport {
    route: String,
    count: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Report {
    /// The load generator's own CPU and run-queue wait, in nanoseconds ([`schedstat`]).
    cpu_ns: u64,
    wait_ns: u64,
    rate: u64,
    seconds: u64,
    /// Requests per second actually sent.
    sent_rate: f64,
    routes: Vec<RouteReport>,
    all: RouteReport,
}

async fn run() {
    let rate: u64 = env_or("GITVIEW_BENCH_RATE", 500);
    let seconds: u64 = env_or("GITVIEW_BENCH_SECONDS", 30);
    let cluster = Cluster::start().await;
    cluster.database(DATABASE).await;
    let clock = Instant::now();
    load(&cluster).await;
    println!(
        "read: loaded 101,000 analyses and 1,000,000 commits in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let (addr, _) = cluster.serve(DATABASE).await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("http://{addr}/v1/admin/accounts/bench/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .expect("the admin path answers");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let key: ApiKeyCreated = response.json().await.expect("an ApiKeyCreated body");

    let mut conn = sqlx::PgConnection::connect(&cluster.pg.url("postgres", DATABASE))
        .await
        .expect("the superuser connects");
    let sample = Sample {
        ids: sqlx::query_scalar(
            "SELECT id FROM analyses WHERE account_id = 1 ORDER BY md5(id) LIMIT 5000",
        )
        .fetch_all(&mut conn)
        .await
        .expect("analysis ids"),
        fingerprints: sqlx::query_scalar(
            "SELECT fingerprint FROM repositories WHERE account_id = 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("fingerprints"),
    };
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    serde_json::to_writer(file.as_file(), &sample).expect("the sample is written");

    let backends = || async {
        let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity")
            .fetch_all(
                &mut sqlx::PgConnection::connect(&cluster.pg.url("postgres", DATABASE))
                    .await
                    .expect("the superuser connects"),
            )
            .await
            .expect("the server's processes");
        pids.into_iter()
            .filter_map(|pid| u32::try_from(pid).ok())
            .collect::<Vec<u32>>()
    };
    let before_pg: Vec<(u32, (u64, u64))> = backends()
        .await
        .into_iter()
        .map(|pid| (pid, schedstat(pid)))
        .collect();
    let before_gateway = schedstat(std::process::id());
    println!(
        "  load generator: {rate} requests/s for {seconds} s from a second process; load average {}",
        load_average()
    );
    let child = tokio::process::Command::new(
        std::env::current_exe().expect("the bench knows its own path"),
    )
    .env("GITVIEW_BENCH_LOADGEN", "1")
    .env("GITVIEW_BENCH_ADDR", addr.to_string())
    .env("GITVIEW_BENCH_KEY", &key.secret)
    .env("GITVIEW_BENCH_SAMPLE", file.path())
    .env("GITVIEW_BENCH_RATE", rate.to_string())
    .env("GITVIEW_BENCH_SECONDS", seconds.to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .expect("the load generator starts");
    let output = tokio::time::timeout(Duration::from_secs(seconds + 60), child.wait_with_output())
        .await
        .expect("the load generator ends within a minute of its run (killed otherwise)")
        .expect("the load generator's output");
    let (status, text) = (output.status, String::from_utf8_lossy(&output.stdout));
    assert!(status.success(), "the load generator failed: {status}");
    let report: Report = serde_json::from_str(text.trim()).expect("the load generator's report");
    println!(
        "  sent {:.0} requests/s; load average {}",
        report.sent_rate,
        load_average()
    );
    // Where the time went: CPU per request of each process, and how long each waited for a
    // CPU (run-queue time, the machine's contention rather than the gateway's work).
    let after_gateway = schedstat(std::process::id());
    let mut pg = (0, 0);
    for pid in backends().await {
        let (cpu, wait) = schedstat(pid);
        let (cpu0, wait0) = before_pg
            .iter()
            .find(|(p, _)| *p == pid)
            .map_or((0, 0), |(_, stat)| *stat);
        pg.0 += cpu.saturating_sub(cpu0);
        pg.1 += wait.saturating_sub(wait0);
    }
    let requests = report.all.count.max(1) as f64;
    let per = |ns: u64| ns as f64 / 1000.0 / requests;
    println!(
        "  per request, CPU / run-queue wait (us): gateway {:.0} / {:.0}, PostgreSQL {:.0} / {:.0}, load generator {:.0} / {:.0}",
        per(after_gateway.0 - before_gateway.0),
        per(after_gateway.1 - before_gateway.1),
        per(pg.0),
        per(pg.1),
        per(report.cpu_ns),
        per(report.wait_ns),
    );
    println!(
        "  {:<26} {:>7} {:>6} {:>9} {:>9} {:>9}",
        "route", "count", "errors", "p50 ms", "p99 ms", "max ms"
    );
    let mut missed = Vec::new();
    for route in report.routes.iter().chain([&report.all]) {
        println!(
            "  {:<26} {:>7} {:>6} {:>9.1} {:>9.1} {:>9.1}",
            route.route, route.count, route.errors, route.p50_ms, route.p99_ms, route.max_ms
        );
        if route.p99_ms > 50.0 || route.errors > 0 {
            missed.push(route.route.as_str());
        }
    }
    if missed.is_empty() {
        println!("read: every route within p99 <= 50 ms at {rate} requests/s, no errors");
    } else {
        println!(
            "read: MISSED p99 <= 50 ms without errors: {}",
            missed.join(", ")
        );
    }
}

/// The data set (see the module's doc comment), as the superuser past row-level security.
async fn load(cluster: &Cluster) {
    const SQL: &str = r#"
SET session_replication_role = replica; -- no foreign-key triggers: consistent by construction
INSERT INTO accounts (id, name) VALUES (1, 'bench'), (2, 'other');
SELECT setval('accounts_id_seq', 2);
INSERT INTO repositories (id, account_id, fingerprint, url, branch, last_analyzed_commit)
SELECT r, CASE WHEN r <= 1000 THEN 1 ELSE 2 END, encode(sha256(('repository-' || r)::bytea), 'hex'),
  'https://git.example.com/org-' || (r % 37) || '/repository-' || r, 'main',
  md5('head-' || r) || substr(md5('head2-' || r), 1, 8)
FROM generate_series(1, 1010) r;
SELECT setval('repositories_id_seq', 1010);

-- Analysis i of the bench account belongs to repository 1 + (i - 1) % 1000; i = 1 is the newest.
INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status, message,
  from_commit, to_commit, commits_analyzed, config, metrics, model_versions, started_at, finished_at, created_at)
SELECT md5('analysis-' || i)::uuid::text,
  CASE WHEN i <= 100000 THEN 1 ELSE 2 END,
  CASE WHEN i <= 100000 THEN 1 + (i - 1) % 1000 ELSE 1001 + i % 10 END,
  'team-' || i % 20, 'history-' || i, 1 + (i % 7 = 0)::int,
  CASE WHEN i % 10 = 0 THEN 'Full' ELSE 'Incremental' END,
  status,
  CASE status WHEN 'failed' THEN 'the clone failed: the remote end hung up unexpectedly' ELSE '' END,
  md5('from-' || i) || substr(md5('from2-' || i), 1, 8),
  md5('to-' || i) || substr(md5('to2-' || i), 1, 8),
  3 + i % 997,
  jsonb_build_object('profile', 'default', 'mode', 'Incremental', 'branch', 'main',
    'llm', jsonb_build_object('model', 'gpt-4o-mini', 'temperature', 0.2, 'maxTokens', 4096),
    'stages', jsonb_build_object('chunk', jsonb_build_object('tokens', 2000, 'overlap', 200),
      'scrub', jsonb_build_object('pii', true), 'story', jsonb_build_object('phases', 6))),
  jsonb_build_object('commits', 3 + i % 997, 'durationMs', 20000 + i % 50000, 'tokensIn', 50000 + i % 9000,
    'tokensOut', 4000 + i % 700, 'llmCalls', 12 + i % 30, 'bytesFetched', 1000000 + i * 37 % 900000),
  '{"summarizer": "gpt-4o-mini-2024-07-18", "runner": "0.1.0", "tokenizer": "o200k_base"}',
  at, CASE WHEN status = 'running' THEN NULL ELSE at + interval '5 minutes' END, at
FROM generate_series(1, 101000) i,
  LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' - i * interval '10 minutes' AS at,
                  CASE WHEN i % 50 = 0 THEN 'running' WHEN i % 12 = 0 THEN 'failed' ELSE 'succeeded' END AS status) x;

INSERT INTO phases (account_id, analysis_id, seq, document)
SELECT a.account_id, a.id, s, jsonb_build_object('title', 'Phase ' || s || ': ' || left(md5(a.id || s), 12),
  'from', a.from_commit, 'to', a.to_commit, 'commits', 40 * s, 'authors', 3 + s,
  'summary', 'The team ' || repeat('reworked the ingestion path and its tests; ', 5))
FROM analyses a, generate_series(1, 3) s WHERE a.status = 'succeeded';

INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content)
SELECT account_id, id, name, media, length(content), encode(sha256(content), 'hex'), content
FROM (
  SELECT a.account_id, a.id, 'story.md' AS name, 'text/markdown' AS media,
    convert_to('# The story of ' || a.name || E'\n\n' || (SELECT string_agg('Phase ' || k || ' ' || md5(a.id || k)
      || ' brought a new ingestion path, its tests and a faster listing.', E'\n\n') FROM generate_series(1, 20) k), 'UTF8') AS content
  FROM analyses a WHERE a.status = 'succeeded'
  UNION ALL
  SELECT a.account_id, a.id, 'timeline.json', 'application/json',
    convert_to((SELECT jsonb_agg(jsonb_build_object('at', '2025-0' || (1 + k % 9) || '-1' || k % 10 || 'T10:00:00Z',
      'kind', 'milestone', 'title', left(md5(a.id || k), 20))) FROM generate_series(1, 12) k)::text, 'UTF8')
  FROM analyses a WHERE a.status = 'succeeded'
) x;

-- Commit k of repository r: analysis r + 1000 * (k % 100), of the same repository.
INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email, authored_at,
  committer_name, committer_email, committed_at, message, lines_added, lines_deleted, files_changed, enrichment, record)
SELECT 1, r, c.id, md5('analysis-' || (r + 1000 * (k % 100)))::uuid::text, ARRAY[c.parent],
  'Developer ' || k % 150, 'dev' || k % 150 || '@example.com', c.at - interval '1 hour',
  'Developer ' || k % 150, 'dev' || k % 150 || '@example.com', c.at, c.message, 12 + k % 90, k % 40, 1 + k % 6,
  jsonb_build_object('class', 'feature', 'languages', jsonb_build_array('Rust'), 'churn', 12 + k % 130,
    'size', 'small', 'areas', jsonb_build_array('src'), 'bot', false),
  jsonb_build_object('id', c.id, 'parents', jsonb_build_array(c.parent),
    'author', jsonb_build_object('name', 'Developer ' || k % 150, 'email', 'dev' || k % 150 || '@example.com',
      'time', to_char(c.at - interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
    'committer', jsonb_build_object('name', 'Developer ' || k % 150, 'email', 'dev' || k % 150 || '@example.com',
      'time', to_char(c.at, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
    'message', c.message,
    'files', jsonb_build_array(
      jsonb_build_object('path', 'src/module_' || k % 300 || '.rs', 'added', 12 + k % 90, 'deleted', k % 40, 'status', 'M'),
      jsonb_build_object('path', 'tests/module_' || k % 300 || '.rs', 'added', 0, 'deleted', 0, 'status', 'M')),
    'renames', '[]'::jsonb)
FROM generate_series(1, 1000) r, generate_series(1, 1000) k,
  LATERAL (SELECT md5(r || '-' || k) || substr(md5(k || '-' || r), 1, 8) AS id,
                  md5(r || '-' || (k - 1)) || substr(md5((k - 1) || '-' || r), 1, 8) AS parent,
                  timestamptz '2024-01-01 00:00:00+00' + (k * 50 + r % 50) * interval '10 minutes' AS at,
                  'feat(module ' || k % 300 || E'): rework the ingestion path\n\nKeep only what the story needs; see #' || k || E'.\n' AS message) c;
RESET session_replication_role;
"#;
    cluster
        .pg
        .exec(DATABASE, SQL)
        .await
        .expect("the data set loads");
    // As autovacuum would leave it: statistics, and visibility maps for index-only scans.
    cluster
        .pg
        .exec(DATABASE, "VACUUM ANALYZE")
        .await
        .expect("VACUUM ANALYZE");
}

/// The routes of the mix, with their weights (out of 100).
const MIX: &[(&str, u64)] = &[
    ("get-analysis", 40),
    ("list", 10),
    ("list +cursor", 10),
    ("list ?repository", 10),
    ("list ?repository +cursor", 5),
    ("list ?status", 10),
    ("list ?status +cursor", 5),
    ("list ?since&until", 10),
];

/// A request's route, latency, and whether it answered 200.
type Outcome = (&'static str, Duration, bool);

/// The load generator (the second process).
async fn generate_load() {
    let addr = std::env::var("GITVIEW_BENCH_ADDR").expect("GITVIEW_BENCH_ADDR");
    let key = std::env::var("GITVIEW_BENCH_KEY").expect("GITVIEW_BENCH_KEY");
    let rate: u64 = env_or("GITVIEW_BENCH_RATE", 500);
    let seconds: u64 = env_or("GITVIEW_BENCH_SECONDS", 30);
    let sample: Sample = serde_json::from_slice(
        &std::fs::read(std::env::var("GITVIEW_BENCH_SAMPLE").expect("GITVIEW_BENCH_SAMPLE"))
            .expect("the sample file"),
    )
    .expect("a sample");
    gitview_gateway::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTP client");
    let base = format!("http://{addr}/v1/analyses");
    let mut rng = Rng::new(0x10ad);

    // Cursors to page on (and a warm-up): the first 40 pages of each listed filter.
    let mut cursors: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let starts = [
        ("list +cursor", String::new()),
        ("list ?status +cursor", "status=failed".to_owned()),
    ];
    for (route, query) in starts {
        let mut cursor: Option<String> = None;
        for _ in 0..40 {
            let url = match &cursor {
                Some(c) => format!("{base}?{query}&cursor={c}"),
                None => format!("{base}?{query}"),
            };
            let page: AnalysisPage = http
                .get(url)
                .bearer_auth(&key)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("a first page")
                .json()
                .await
                .expect("an AnalysisPage");
            let Some(next) = page.next_cursor else { break };
            cursors.entry(route).or_default().push(next.clone());
            cursor = Some(next);
        }
    }
    for _ in 0..100 {
        let fingerprint = rng.pick(&sample.fingerprints);
        let page: AnalysisPage = http
            .get(format!("{base}?repository={fingerprint}&limit=20"))
            .bearer_auth(&key)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("a repository's first page")
            .json()
            .await
            .expect("an AnalysisPage");
        if let Some(next) = page.next_cursor {
            cursors
                .entry("list ?repository +cursor")
                .or_default()
                .push(format!("repository={fingerprint}&limit=20&cursor={next}"));
        }
    }
    for route in [
        "list +cursor",
        "list ?status +cursor",
        "list ?repository +cursor",
    ] {
        assert!(cursors.contains_key(route), "no cursor for {route}");
    }

    // The schedule, decided up front.
    let total = usize::try_from(rate * seconds).expect("a count that fits");
    let plan: Vec<(&str, String)> = (0..total)
        .map(|_| {
            let mut roll = rng.below(100);
            let route = MIX
                .iter()
                .find(|(_, weight)| {
                    let hit = roll < *weight;
                    roll = roll.saturating_sub(*weight);
                    hit
                })
                .map_or("get-analysis", |&(route, _)| route);
            let url = match route {
                "get-analysis" => format!("{base}/{}", rng.pick(&sample.ids)),
                "list" => base.clone(),
                "list +cursor" => format!("{base}?cursor={}", rng.pick(&cursors[route])),
                "list ?repository" => {
                    format!("{base}?repository={}", rng.pick(&sample.fingerprints))
                }
                "list ?repository +cursor" => format!("{base}?{}", rng.pick(&cursors[route])),
                "list ?status" => format!(
                    "{base}?status={}",
                    ["failed", "running", "succeeded"][rng.below(3) as usize]
                ),
                "list ?status +cursor" => {
                    format!("{base}?status=failed&cursor={}", rng.pick(&cursors[route]))
                }
                _ => {
                    // A one-week window within the two years of analyses.
                    let start = jiff::Timestamp::from_second(
                        1_704_067_200 + rng.below(690 * 86_400) as i64,
                    )
                    .expect("a time in range");
                    let end = start + jiff::SignedDuration::from_hours(7 * 24);
                    format!("{base}?since={start}&until={end}")
                }
            };
            (route, url)
        })
        .collect();

    let results: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total);
    let errors_shown = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (i, (route, url)) in plan.into_iter().enumerate() {
        let due = t0 + period * u32::try_from(i).expect("a count that fits");
        tokio::time::sleep_until(due).await;
        let (http, key, results, errors_shown) = (
            http.clone(),
            key.clone(),
            results.clone(),
            errors_shown.clone(),
        );
        let route: &'static str = MIX
            .iter()
            .find(|(r, _)| *r == route)
            .map_or("get-analysis", |&(r, _)| r);
        tasks.push(tokio::spawn(async move {
            let outcome = async {
                let response = http.get(&url).bearer_auth(&key).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            }
            .await;
            let latency = due.elapsed();
            let ok = match &outcome {
                Ok((status, _)) => *status == reqwest::StatusCode::OK,
                Err(_) => false,
            };
            // The first few failures, to say why.
            if !ok && errors_shown.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
                eprintln!("loadgen: {route} {url}: {outcome:?}");
            }
            results
                .lock()
                .expect("no task panics holding the lock")
                .push((route, latency, ok));
        }));
        // Keep the list of handles from growing without need.
        if tasks.len() >= 4096 {
            tasks.retain(|task: &tokio::task::JoinHandle<()>| !task.is_finished());
        }
    }
    let sent = t0.elapsed().as_secs_f64();
    for task in tasks {
        task.await.expect("a request task ends");
    }
    let results = std::mem::take(&mut *results.lock().expect("no task panics holding the lock"));
    let summarize = |route: &str, samples: &mut Vec<Duration>, errors: usize| {
        let (p50, p99, max) = percentiles(samples);
        RouteReport {
            route: route.to_owned(),
            count: samples.len(),
            errors,
            p50_ms: ms(p50),
            p99_ms: ms(p99),
            max_ms: ms(max),
        }
    };
    let mut routes = Vec::new();
    for (route, _) in MIX {
        let mut samples: Vec<Duration> = results
            .iter()
            .filter(|(r, _, _)| r == route)
            .map(|(_, latency, _)| *latency)
            .collect();
        let errors = results
            .iter()
            .filter(|(r, _, ok)| r == route && !ok)
            .count();
        routes.push(summarize(route, &mut samples, errors));
    }
    let mut all: Vec<Duration> = results.iter().map(|(_, latency, _)| *latency).collect();
    let errors = results.iter().filter(|(_, _, ok)| !ok).count();
    let (cpu_ns, wait_ns) = schedstat(std::process::id());
    let report = Report {
        cpu_ns,
        wait_ns,
        rate,
        seconds,
        sent_rate: total as f64 / sent,
        all: summarize("all", &mut all, errors),
        routes,
    };
    println!(
        "{}",
        serde_json::to_string(&report).expect("a report serializes")
    );
}
