//! The runner's history benchmark (issue 4): extraction alone and the whole `analyze` against
//! `git log --numstat --no-renames` on the same repository, measured in the same run, and an
//! incremental `analyze` of the last commits with the summary cache of the full run, and the
//! living-story update: `analyze --update` of an analysis made N first-parent commits ago, and
//! the same with a model (a local chat-completions server counting prompt tokens): the share
//! of the first run's prompt tokens the update sends.
//!
//! ```sh
//! cargo bench -p gitview-runner --bench history -- <repository> [--rounds N] [--incremental N] [--threads N]
//! ```
//!
//! The machines are shared and noisy, so git, the extraction and `analyze` run in `--rounds`
//! rounds (3 by default), git first in odd rounds and last in even ones; each ratio is taken
//! within its round, and the verdict goes by the median. The CPU time (user and system) of
//! each process is reported too: it moves less with the neighbours than the wall time.
//!
//! `<repository>` is a local working copy (fetch a large public history first, then
//! `git clone` it locally). A bare repository works too, but git 2.39 reads no
//! `.gitattributes` in a bare repository while the runner reads `HEAD`'s (as newer git does),
//! so files marked `binary` there are counted differently and the totals differ. Every measured command runs as its own process under GNU time (`/usr/bin/time`,
//! Debian's `time` package) for its wall time and peak RSS. The benchmark fails when the
//! runner's counts (commits, file entries, binary entries, lines added and deleted) differ from
//! git's. Targets, from the issue: extraction ≥ 3× faster than git with peak RSS ≤ 1 GiB; the
//! whole `analyze` faster than git; an incremental run over 100 commits in ≤ 3 s.
#![forbid(unsafe_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use gitview_runner::extract::{self, ExtractOptions, ParallelExtract, default_threads};
use serde::{Deserialize, Serialize};

/// The extraction runs in this binary: with the allocator `gitview-runner` ships with.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Set in the child that extracts: `<repository>\t<threads>`.
const CHILD: &str = "GITVIEW_BENCH_EXTRACT";

/// What both sides count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    commits: u64,
    file_entries: u64,
    binary_entries: u64,
    added: u64,
    deleted: u64,
}

/// One measured process.
#[derive(Debug, Clone, Copy)]
struct Measured {
    seconds: f64,
    /// User and system time.
    cpu_seconds: f64,
    peak_rss_mib: f64,
}

/// One round: git and the runner, one after the other.
#[derive(Debug, Clone, Copy)]
struct Round {
    git: Measured,
    extract: Measured,
    analyze: Measured,
}

impl Round {
    fn extract_speedup(&self) -> f64 {
        self.git.seconds / self.extract.seconds
    }

    fn analyze_speedup(&self) -> f64 {
        self.git.seconds / self.analyze.seconds
    }
}

/// The median of `values` (not empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn main() -> ExitCode {
    if let Ok(job) = std::env::var(CHILD) {
        return match child_extract(&job) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("extract failed: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("history benchmark: {err:#}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    repository: PathBuf,
    rounds: usize,
    incremental: usize,
    threads: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut repository = None;
    let mut rounds = 3;
    let mut incremental = 100;
    let mut threads = default_threads();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to harness-less benches.
            "--bench" => {}
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            "--incremental" => incremental = args.next().context("--incremental N")?.parse()?,
            "--threads" => threads = args.next().context("--threads N")?.parse()?,
            other if other.starts_with('-') => bail!("unknown option {other}"),
            other => repository = Some(PathBuf::from(other)),
        }
    }
    let repository = repository.context(
        "usage: cargo bench -p gitview-runner --bench history -- <repository> [--rounds N] [--incremental N] [--threads N]",
    )?;
    ensure!(rounds > 0, "--rounds must be at least 1");
    Ok(Args {
        repository,
        rounds,
        incremental,
        threads,
    })
}

fn bench() -> anyhow::Result<()> {
    let args = args()?;
    let repo = &args.repository;
    ensure!(
        Path::new("/usr/bin/time").exists(),
        "/usr/bin/time (GNU time, Debian package `time`) is required"
    );
    let runner = PathBuf::from(env!("CARGO_BIN_EXE_gitview-runner"));
    let scratch = tempfile::tempdir()?;
    println!("repository: {}", repo.display());
    let bare = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--is-bare-repository"])
        .output()?;
    if String::from_utf8_lossy(&bare.stdout).trim() == "true" {
        println!(
            "note: a bare repository: git 2.39 ignores .gitattributes here, the runner reads HEAD's; counts of attributed files may differ (use a working copy)"
        );
    }
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Both sides then start with the repository in the page cache.
    let warm = warm_up(repo)?;
    println!(
        "page cache warmed: {:.0} MiB read",
        warm as f64 / (1 << 20) as f64
    );

    let cache = scratch.path().join("summary-cache");
    let mut rounds = Vec::with_capacity(args.rounds);
    let mut git_totals = Totals::default();
    for round in 1..=args.rounds {
        let git_first = round % 2 == 1;
        let mut git = None;
        if git_first {
            git = Some(run_git(repo, scratch.path())?);
        }
        let extract = run_extract(repo, scratch.path(), args.threads)?;
        // The first round's summary cache is the incremental run's; later rounds start empty,
        // as the first did.
        let round_cache = if round == 1 {
            cache.clone()
        } else {
            scratch.path().join(format!("summary-cache-{round}"))
        };
        let analyze = run_analyze(&runner, repo, scratch.path(), &round_cache)?;
        if !git_first {
            git = Some(run_git(repo, scratch.path())?);
        }
        let (git, totals) = git.context("git ran")?;
        let (extract, extract_totals) = extract;
        let (analyze, analyze_commits) = analyze;
        ensure!(
            extract_totals == totals,
            "COUNTS DIFFER: git {totals:?}, runner {extract_totals:?}"
        );
        ensure!(
            analyze_commits == totals.commits,
            "analyze saw {analyze_commits} commits, git {}",
            totals.commits
        );
        git_totals = totals;
        let round = Round {
            git,
            extract,
            analyze,
        };
        println!(
            "round {}: git log --numstat --no-renames {} | extract ({} threads) {} | analyze {} | extract {:.2}× git, analyze {:.2}× git",
            rounds.len() + 1,
            describe(git, totals.commits),
            args.threads,
            describe(extract, totals.commits),
            describe(analyze, totals.commits),
            round.extract_speedup(),
            round.analyze_speedup(),
        );
        rounds.push(round);
    }
    println!("counts identical in every round: {git_totals:?}");

    // An incremental run: the last N first-parent commits (fewer where the first-parent
    // chain is shorter, as on a young repository), with the full run's cache.
    let depth = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-list", "--first-parent", "--count", "HEAD"])
        .output()
        .context("git rev-list --count")?;
    ensure!(
        depth.status.success(),
        "git rev-list --first-parent --count HEAD failed"
    );
    let depth: usize = String::from_utf8_lossy(&depth.stdout).trim().parse()?;
    let since = format!("HEAD~{}", args.incremental.min(depth.saturating_sub(1)));
    let mut incremental = Command::new(&runner);
    incremental
        .arg("analyze")
        .arg(repo)
        .args(["--since", &since])
        .arg("--out")
        .arg(scratch.path().join("incremental"))
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--progress-every", "0"]);
    let (inc_time, _) = measure_output(&mut incremental, &scratch.path().join("inc.time"))?;
    let inc_commits = analyzed_commits(&scratch.path().join("incremental"))?;
    println!(
        "runner analyze --since {since} ({inc_commits} commits): {:.2} s, peak RSS {:.0} MiB",
        inc_time.seconds, inc_time.peak_rss_mib
    );

    // The living story: an analysis of the history as it was N first-parent commits ago,
    // brought up to date with `--update` (only the new commits extracted, the whole story
    // written again). Its own cache, so the update's chunks are summarized as they change.
    let living = scratch.path().join("living");
    let mut before = Command::new(&runner);
    before
        .arg("analyze")
        .arg(repo)
        .args(["--until", &since])
        .arg("--out")
        .arg(&living)
        .args(["--progress-every", "0"]);
    measure_output(&mut before, &scratch.path().join("before.time"))?;
    let mut update = Command::new(&runner);
    update
        .arg("analyze")
        .arg(repo)
        .arg("--update")
        .arg("--out")
        .arg(&living)
        .args(["--progress-every", "0"]);
    let (update_time, _) = measure_output(&mut update, &scratch.path().join("update.time"))?;
    let update_commits = analyzed_commits(&living)?;
    let told: serde_json::Value =
        serde_json::from_slice(&std::fs::read(living.join("analysis.json"))?)?;
    let told = told
        .pointer("/stages/story/commits")
        .and_then(serde_json::Value::as_u64)
        .context("analysis.json has no stages.story.commits")?;
    ensure!(
        told == git_totals.commits,
        "the update told {told} commits, git lists {}",
        git_totals.commits
    );
    let full_analyze = median(rounds.iter().map(|r| r.analyze.seconds).collect());

    // With a model (a local server speaking chat completions, counting each prompt's tokens
    // with the tokenizer the chunks are cut by): the history N first-parent commits ago, then
    // `--update`; the update should send a small share of the first run's prompt tokens.
    let model = ModelServer::start()?;
    let with_model = |command: &mut Command| {
        command
            .args(["--summarizer", "chat", "--model", "bench-model"])
            // Every phase by the model (the default budget gives it the 4 largest), so the
            // share measures the chunks an update sends again; the overview is one prompt more
            // in each run.
            .args(["--model-budget", "full"])
            .args(["--llm-base-url", &model.base_url()])
            .args(["--progress-every", "0"]);
    };
    let model_dir = scratch.path().join("model");
    let mut first = Command::new(&runner);
    first
        .arg("analyze")
        .arg(repo)
        .args(["--until", &since])
        .arg("--out")
        .arg(&model_dir);
    with_model(&mut first);
    measure_output(&mut first, &scratch.path().join("model-first.time"))?;
    let (first_prompts, first_tokens) = model.take();
    let mut again = Command::new(&runner);
    again
        .arg("analyze")
        .arg(repo)
        .arg("--update")
        .arg("--out")
        .arg(&model_dir);
    with_model(&mut again);
    let (again_time, _) = measure_output(&mut again, &scratch.path().join("model-again.time"))?;
    let (again_prompts, again_tokens) = model.take();
    let token_share = 100.0 * again_tokens as f64 / first_tokens.max(1) as f64;
    println!(
        "with a model: the first run sent {first_prompts} prompts ({first_tokens} tokens); the update after {update_commits} commits sent {again_prompts} ({again_tokens} tokens, {token_share:.2}%) in {:.2} s",
        again_time.seconds
    );
    println!(
        "runner analyze --update after {update_commits} commits (story of {told}): {:.2} s, peak RSS {:.0} MiB; {:.1}% of a full analyze ({full_analyze:.2} s)",
        update_time.seconds,
        update_time.peak_rss_mib,
        100.0 * update_time.seconds / full_analyze
    );

    let ratios = |ratio: fn(&Round) -> f64| {
        let values: Vec<f64> = rounds.iter().map(ratio).collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        (median(values), low, high)
    };
    let (speedup, low, high) = ratios(Round::extract_speedup);
    let (cpu, cpu_low, cpu_high) =
        ratios(|round| round.git.cpu_seconds / round.extract.cpu_seconds);
    let (whole, whole_low, whole_high) = ratios(Round::analyze_speedup);
    let peak = rounds
        .iter()
        .map(|round| round.extract.peak_rss_mib)
        .fold(0.0, f64::max);
    let n = rounds.len();
    println!();
    println!("| figure ({n} rounds: median, lowest–highest) | measured | target | result |");
    println!("|---|---|---|---|");
    println!(
        "| extract speed-up over git (git time / extract time) | {speedup:.2}× ({low:.2}–{high:.2}) | ≥ 3× | {} |",
        verdict(speedup >= 3.0)
    );
    println!(
        "| git's CPU time / the extraction's | {cpu:.2}× ({cpu_low:.2}–{cpu_high:.2}) | — | — |"
    );
    println!(
        "| extract peak RSS (highest) | {peak:.0} MiB | ≤ 1024 MiB | {} |",
        verdict(peak <= 1024.0)
    );
    println!(
        "| whole analyze speed-up over git | {whole:.2}× ({whole_low:.2}–{whole_high:.2}) | > 1× | {} |",
        verdict(whole > 1.0)
    );
    println!(
        "| incremental analyze of {inc_commits} commits | {:.2} s | ≤ 3 s | {} |",
        inc_time.seconds,
        verdict(inc_time.seconds <= 3.0)
    );
    println!(
        "| living-story update after {update_commits} commits (whole story of {told}) | {:.2} s ({:.1}% of a full analyze) | ≤ 5 s | {} |",
        update_time.seconds,
        100.0 * update_time.seconds / full_analyze,
        verdict(update_time.seconds <= 5.0)
    );
    println!(
        "| prompt tokens of a model update after {update_commits} commits / the first run's | {token_share:.2}% ({again_tokens} / {first_tokens}) | ≤ 10 % | {} |",
        verdict(token_share <= 10.0)
    );
    Ok(())
}

/// `12.34 s (CPU 20.10 s), 4000 commits/s, 700 MiB`
fn describe(measured: Measured, commits: u64) -> String {
    format!(
        "{:.2} s (CPU {:.2} s), {:.0} commits/s, {:.0} MiB",
        measured.seconds,
        measured.cpu_seconds,
        commits as f64 / measured.seconds,
        measured.peak_rss_mib
    )
}

/// Reads every file of the repository's git directory once; returns the bytes read.
fn warm_up(repo: &Path) -> anyhow::Result<u64> {
    let git_dir = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .context("git rev-parse --absolute-git-dir")?;
    ensure!(
        git_dir.status.success(),
        "git rev-parse --absolute-git-dir failed"
    );
    let mut pending = vec![PathBuf::from(String::from_utf8(git_dir.stdout)?.trim())];
    let mut bytes = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let mut file = std::fs::File::open(entry.path())?;
                bytes += std::io::copy(&mut file, &mut std::io::sink())?;
            }
        }
    }
    Ok(bytes)
}

/// `git log --numstat --no-renames` with its output parsed as it streams (as a consumer
/// would).
fn run_git(repo: &Path, scratch: &Path) -> anyhow::Result<(Measured, Totals)> {
    let mut git = Command::new("git");
    git.arg("-C")
        .arg(repo)
        .args([
            "-c",
            "core.quotepath=off",
            "log",
            "--numstat",
            "--no-renames",
        ])
        .args(["--format=format:@%H", "HEAD"]);
    measure_streaming(&mut git, &scratch.join("git.time"))
}

/// Extraction alone, in a child process of this benchmark.
fn run_extract(repo: &Path, scratch: &Path, threads: usize) -> anyhow::Result<(Measured, Totals)> {
    let mut child = Command::new(std::env::current_exe()?);
    child.env(CHILD, format!("{}\t{}", repo.display(), threads));
    let (time, output) = measure_output(&mut child, &scratch.join("extract.time"))?;
    let totals = serde_json::from_slice(&output).context("the child's totals")?;
    Ok((time, totals))
}

/// The whole `analyze` with the embedded (extractive) summarizer; returns the commits it saw.
fn run_analyze(
    runner: &Path,
    repo: &Path,
    scratch: &Path,
    cache: &Path,
) -> anyhow::Result<(Measured, u64)> {
    let out = scratch.join("full");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let mut full = Command::new(runner);
    full.arg("analyze")
        .arg(repo)
        .arg("--out")
        .arg(&out)
        .arg("--cache-dir")
        .arg(cache)
        .args(["--progress-every", "0"]);
    let (time, _) = measure_output(&mut full, &scratch.join("full.time"))?;
    Ok((time, analyzed_commits(&out)?))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// Runs `command` under GNU time, writing its stdout to a pipe parsed as git's numstat log.
fn measure_streaming(
    command: &mut Command,
    time_file: &Path,
) -> anyhow::Result<(Measured, Totals)> {
    let mut timed = timed(command, time_file);
    let started = Instant::now();
    let mut child = timed.stdout(Stdio::piped()).spawn().context("spawn git")?;
    let stdout = child.stdout.take().context("git's stdout")?;
    let mut totals = Totals::default();
    let mut line = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.first() == Some(&b'@') {
            totals.commits += 1;
            continue;
        }
        let mut fields = line.splitn(3, |b| *b == b'\t');
        let (Some(added), Some(deleted), Some(_path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        totals.file_entries += 1;
        if added == b"-" {
            totals.binary_entries += 1;
        } else {
            totals.added += std::str::from_utf8(added)?.parse::<u64>()?;
            totals.deleted += std::str::from_utf8(deleted)?.parse::<u64>()?;
        }
    }
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(status.success(), "git log failed: {status}");
    Ok((measured(seconds, time_file)?, totals))
}

/// Runs `command` under GNU time; returns its measurement and stdout.
fn measure_output(command: &mut Command, time_file: &Path) -> anyhow::Result<(Measured, Vec<u8>)> {
    let mut timed = timed(command, time_file);
    let started = Instant::now();
    let output = timed.stderr(Stdio::piped()).output()?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        output.status.success(),
        "{:?} failed: {}\n{}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((measured(seconds, time_file)?, output.stdout))
}

fn timed(command: &Command, time_file: &Path) -> Command {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M %U %S", "-o"])
        .arg(time_file)
        .arg(command.get_program())
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null());
    timed
}

fn measured(seconds: f64, time_file: &Path) -> anyhow::Result<Measured> {
    let text = std::fs::read_to_string(time_file)?;
    let line = text.lines().last().context("GNU time wrote nothing")?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("GNU time's output: {text:?}"))?;
    let [kib, user, system] = fields[..] else {
        bail!("GNU time's output: {text:?}");
    };
    Ok(Measured {
        seconds,
        cpu_seconds: user + system,
        peak_rss_mib: kib / 1024.0,
    })
}

/// The number of commits an `analyze` output directory reports.
fn analyzed_commits(out: &Path) -> anyhow::Result<u64> {
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json"))?)?;
    analysis
        .pointer("/counts/commits")
        .and_then(serde_json::Value::as_u64)
        .context("analysis.json has no counts.commits")
}

/// The child: extracts every commit of HEAD's history with the runner's defaults (the same
/// options `analyze` uses) and prints the totals as JSON.
fn child_extract(job: &str) -> anyhow::Result<()> {
    let (path, threads) = job
        .split_once('\t')
        .context("job: <repository>\\t<threads>")?;
    let repo = extract::open(Path::new(path))?;
    // As the pipeline does: the workers start while the walk lists the commits.
    let (plan, mut workers) = ParallelExtract::plan_and_spawn(
        &repo,
        None,
        "HEAD",
        &ExtractOptions::default(),
        threads.parse()?,
    )?;
    let mut totals = Totals::default();
    for index in 0..plan.commits.len() {
        let record = workers.next(index)?.record;
        totals.commits += 1;
        for file in &record.files {
            totals.file_entries += 1;
            match (file.added, file.deleted) {
                (Some(added), Some(deleted)) => {
                    totals.added += added;
                    totals.deleted += deleted;
                }
                _ => totals.binary_entries += 1,
            }
        }
    }
    println!("{}", serde_json::to_string(&totals)?);
    Ok(())
}

/// A chat-completions server on loopback for the model measurement: answers every prompt with
/// one short sentence and counts the prompts and their tokens (`o200k_base`, as the chunks are
/// cut).
struct ModelServer {
    port: u16,
    /// Prompts and prompt tokens since the last [`ModelServer::take`].
    seen: std::sync::Arc<std::sync::Mutex<(u64, u64)>>,
}

impl ModelServer {
    fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen: std::sync::Arc<std::sync::Mutex<(u64, u64)>> = std::sync::Arc::default();
        let counts = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    if let Err(err) = answer(stream, &counts) {
                        eprintln!("model server: {err:#}");
                    }
                });
            }
        });
        Ok(Self { port, seen })
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Prompts and prompt tokens since the last call.
    fn take(&self) -> (u64, u64) {
        std::mem::take(&mut *self.seen.lock().expect("the counts"))
    }
}

/// One chat-completions request (HTTP/1.1, one per connection), answered.
fn answer(
    stream: std::net::TcpStream,
    counts: &std::sync::Mutex<(u64, u64)>,
) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request: serde_json::Value = serde_json::from_slice(&body)?;
    let prompt_tokens: usize = request["messages"]
        .as_array()
        .context("messages")?
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(gitview_runner::chunk::count_tokens)
        .sum();
    {
        let mut counts = counts.lock().expect("the counts");
        counts.0 += 1;
        counts.1 += prompt_tokens as u64;
    }
    let reply = serde_json::json!({
        "id": "bench", "object": "chat.completion", "created": 0, "model": request["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Work went on in this part of the history."}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 10, "total_tokens": prompt_tokens + 10}
    })
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    Ok(())
}
