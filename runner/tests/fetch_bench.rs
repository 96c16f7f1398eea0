//! A measurement, not a test: clone a real repository over `git daemon` on 127.0.0.1 with the
//! fetch stage and with `git clone --bare`, in the same run, and print the times and ratios.
//!
//! ```text
//! GITVIEW_FETCH_BENCH_REPO=/path/to/repo.git \
//!   cargo test --release -p gitview-runner --test fetch_bench -- --ignored --nocapture
//! ```
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

#[path = "common/serve.rs"]
mod serve;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gitview_git::fetch::{self, FetchRequest, History};
use gix::ObjectId;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
#[ignore = "a measurement: needs GITVIEW_FETCH_BENCH_REPO"]
fn fetch_against_git_clone() {
    let Some(source) = std::env::var_os("GITVIEW_FETCH_BENCH_REPO") else {
        eprintln!("set GITVIEW_FETCH_BENCH_REPO to a repository to measure");
        return;
    };
    let source = Path::new(&source).canonicalize().unwrap();
    let name = source.file_name().unwrap().to_string_lossy().into_owned();
    let daemon = serve::GitDaemon::start(source.parent().unwrap());
    let url = daemon.url(&name);
    let head = git(&source, &["rev-parse", "HEAD"]);
    let commits = git(&source, &["rev-list", "--count", "HEAD"]);
    let scratch = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let status = Command::new("git")
        // The fetch stage takes HEAD's branch and the tags: so does this.
        .args(["clone", "--bare", "--single-branch", "--quiet", &url])
        .arg(scratch.path().join("git.git"))
        .status()
        .unwrap();
    assert!(status.success());
    let git_clone = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let full = fetch::fetch(&FetchRequest::new(&url, scratch.path().join("gix.git"))).unwrap();
    let gix_clone = started.elapsed().as_secs_f64();
    assert_eq!(full.commit.to_string(), head);
    assert_eq!(
        git(&full.git_dir, &["rev-list", "--count", "HEAD"]),
        commits
    );

    let started = Instant::now();
    let again = fetch::fetch(&FetchRequest::new(&url, &full.git_dir)).unwrap();
    let noop = started.elapsed().as_secs_f64();
    assert_eq!(again.objects_received, 0);

    let since = git(&source, &["rev-parse", "HEAD~100"]);
    let mut request = FetchRequest::new(&url, scratch.path().join("shallow.git"));
    request.history = History::Since(ObjectId::from_hex(since.as_bytes()).unwrap());
    let started = Instant::now();
    let shallow = fetch::fetch(&request).unwrap();
    let shallow_time = started.elapsed().as_secs_f64();

    println!(
        "repository: {} ({commits} commits on HEAD)",
        source.display()
    );
    println!("git clone --bare --single-branch: {git_clone:.2} s");
    println!(
        "fetch, full:             {gix_clone:.2} s ({:.2}x git), {} objects, {} bytes",
        gix_clone / git_clone,
        full.objects_received,
        full.bytes_received
    );
    println!("fetch, nothing new:      {noop:.3} s");
    println!(
        "fetch, since HEAD~100:   {shallow_time:.2} s, {} rounds, {} objects, {} bytes ({:.1}% of full)",
        shallow.rounds,
        shallow.objects_received,
        shallow.bytes_received,
        100.0 * shallow.bytes_received as f64 / full.bytes_received.max(1) as f64
    );
}
