//! The runner's history benchmark (issue 4): extraction alone and the whole `analyze` against
//! `git log --numstat --no-renames` on the same repository, measured in the same run, and an
//! incremental `analyze` of the last commits with the summary cache of the full run.
//!
//! ```sh
//! cargo bench -p gitview-runner --bench history -- <repository> [--incremental N] [--threads N]
//! ```
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
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use gitview_runner::extract::{self, ExtractOptions};
use gitview_runner::pipeline::{ParallelExtract, default_threads};
use serde::{Deserialize, Serialize};

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
    peak_rss_mib: f64,
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
    incremental: usize,
    threads: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut repository = None;
    let mut incremental = 100;
    let mut threads = default_threads();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to harness-less benches.
            "--bench" => {}
            "--incremental" => incremental = args.next().context("--incremental N")?.parse()?,
            "--threads" => threads = args.next().context("--threads N")?.parse()?,
            other if other.starts_with('-') => bail!("unknown option {other}"),
            other => repository = Some(PathBuf::from(other)),
        }
    }
    let repository = repository.context(
        "usage: cargo bench -p gitview-runner --bench history -- <repository> [--incremental N] [--threads N]",
    )?;
    Ok(Args {
        repository,
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

    // git log --numstat --no-renames, its output parsed as it streams (as a consumer would).
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
    let (git_time, git_totals) = measure_streaming(&mut git, &scratch.path().join("git.time"))?;
    println!(
        "git log --numstat --no-renames: {:.2} s, {:.0} commits/s, peak RSS {:.0} MiB",
        git_time.seconds,
        git_totals.commits as f64 / git_time.seconds,
        git_time.peak_rss_mib
    );

    // Extraction alone, in a child process of this benchmark.
    let mut child = Command::new(std::env::current_exe()?);
    child.env(CHILD, format!("{}\t{}", repo.display(), args.threads));
    let (extract_time, output) = measure_output(&mut child, &scratch.path().join("extract.time"))?;
    let extract_totals: Totals = serde_json::from_slice(&output).context("the child's totals")?;
    println!(
        "runner extract ({} threads): {:.2} s, {:.0} commits/s, peak RSS {:.0} MiB",
        args.threads,
        extract_time.seconds,
        extract_totals.commits as f64 / extract_time.seconds,
        extract_time.peak_rss_mib
    );
    ensure!(
        extract_totals == git_totals,
        "COUNTS DIFFER: git {git_totals:?}, runner {extract_totals:?}"
    );
    println!("counts identical: {git_totals:?}");

    // The whole analyze with the embedded (extractive) summarizer.
    let cache = scratch.path().join("summary-cache");
    let mut full = Command::new(&runner);
    full.arg("analyze")
        .arg(repo)
        .arg("--out")
        .arg(scratch.path().join("full"))
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--progress-every", "0"]);
    let (full_time, _) = measure_output(&mut full, &scratch.path().join("full.time"))?;
    let full_commits = analyzed_commits(&scratch.path().join("full"))?;
    ensure!(
        full_commits == git_totals.commits,
        "analyze saw {full_commits} commits, git {}",
        git_totals.commits
    );
    println!(
        "runner analyze (whole pipeline): {:.2} s, {:.0} commits/s, peak RSS {:.0} MiB",
        full_time.seconds,
        full_commits as f64 / full_time.seconds,
        full_time.peak_rss_mib
    );

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

    println!();
    println!("| figure | measured | target | result |");
    println!("|---|---|---|---|");
    let speedup = git_time.seconds / extract_time.seconds;
    println!(
        "| extract speed-up over git (git time / extract time) | {speedup:.2}× | ≥ 3× | {} |",
        verdict(speedup >= 3.0)
    );
    println!(
        "| extract peak RSS | {:.0} MiB | ≤ 1024 MiB | {} |",
        extract_time.peak_rss_mib,
        verdict(extract_time.peak_rss_mib <= 1024.0)
    );
    let whole = git_time.seconds / full_time.seconds;
    println!(
        "| whole analyze speed-up over git | {whole:.2}× | > 1× | {} |",
        verdict(whole > 1.0)
    );
    println!(
        "| incremental analyze of {inc_commits} commits | {:.2} s | ≤ 3 s | {} |",
        inc_time.seconds,
        verdict(inc_time.seconds <= 3.0)
    );
    Ok(())
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
        .args(["-f", "%M", "-o"])
        .arg(time_file)
        .arg(command.get_program())
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null());
    timed
}

fn measured(seconds: f64, time_file: &Path) -> anyhow::Result<Measured> {
    let text = std::fs::read_to_string(time_file)?;
    let kib: f64 = text
        .lines()
        .last()
        .context("GNU time wrote nothing")?
        .trim()
        .parse()
        .with_context(|| format!("GNU time's output: {text:?}"))?;
    Ok(Measured {
        seconds,
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
        let record = workers.next(index)?;
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
