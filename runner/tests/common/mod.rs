//! Test repositories built with the real `git` CLI, and the baselines real `git` prints for
//! them. Every git call runs with a private HOME and no system or global config, fixed
//! identities and explicit dates, so results do not depend on the machine.
#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gitview_runner::extract::{self, ExtractOptions, Extractor};
use gitview_runner::record::CommitRecord;

/// Seconds since the epoch of the first commit a [`Repo`] makes (2023-11-14T22:13:20Z).
pub const EPOCH: i64 = 1_700_000_000;

/// A git command with a deterministic environment.
pub fn git_command(dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_AUTHOR_NAME", "Ada Author")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Carl Committer")
        .env("GIT_COMMITTER_EMAIL", "carl@example.com")
        .env("LC_ALL", "C");
    cmd
}

fn check(output: Output, what: &str) -> Vec<u8> {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A repository in a temporary directory.
pub struct Repo {
    _tmp: tempfile::TempDir,
    pub path: PathBuf,
    pub home: PathBuf,
    clock: Cell<i64>,
}

impl Repo {
    /// `git init -b main` in a fresh directory.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        // The default algorithm, spelled out: the numstat baseline must be Myers.
        std::fs::write(
            home.join("gitconfig"),
            "[diff]\n\talgorithm = myers\n[core]\n\tquotepath = false\n",
        )
        .unwrap();
        let repo = Self {
            _tmp: tmp,
            path,
            home,
            clock: Cell::new(EPOCH),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A directory next to the repository (for clones and outputs), removed with it.
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.path.parent().unwrap().join(name)
    }

    /// Runs git in the repository; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        String::from_utf8(self.git_bytes(&self.path, args)).expect("utf-8 output")
    }

    /// Runs git in `dir` with this repository's environment; returns stdout.
    pub fn git_bytes(&self, dir: &Path, args: &[&str]) -> Vec<u8> {
        let output = git_command(dir, &self.home)
            .args(args)
            .output()
            .expect("run git");
        check(output, &format!("git {args:?}"))
    }

    /// Writes a file (creating directories).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let path = self.path.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        let path = self.path.join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path.join(rel)).unwrap()
    }

    /// Stages everything and commits one minute after the previous commit.
    pub fn commit(&self, message: &str) -> String {
        let time = self.clock.get() + 60;
        self.commit_at(message, time)
    }

    /// Stages everything and commits at `time` (author and committer date, UTC+02:00).
    pub fn commit_at(&self, message: &str, time: i64) -> String {
        self.clock.set(self.clock.get().max(time));
        self.git(&["add", "-A"]);
        self.commit_staged_at(message, time, &[])
    }

    /// Commits what is staged, at `time`, with extra `git commit` arguments.
    pub fn commit_staged_at(&self, message: &str, time: i64, extra: &[&str]) -> String {
        let date = format!("@{time} +0200");
        let mut cmd = git_command(&self.path, &self.home);
        cmd.args(["commit", "-q", "--allow-empty", "-m", message])
            .args(extra)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        check(cmd.output().unwrap(), "git commit");
        self.head()
    }

    /// Runs a git command that creates a commit (merge, …) at the next minute.
    pub fn git_at(&self, args: &[&str]) -> String {
        let time = self.clock.get() + 60;
        self.clock.set(time);
        let date = format!("@{time} -0530");
        let mut cmd = git_command(&self.path, &self.home);
        cmd.args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        String::from_utf8(check(cmd.output().unwrap(), &format!("git {args:?}"))).unwrap()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub fn now(&self) -> i64 {
        self.clock.get()
    }
}

/// One line of `git log --numstat`: path, added, deleted (`None` for `-`).
pub type GitFile = (String, Option<u64>, Option<u64>);

/// `git log -z --numstat --no-renames --format=%H <args>` in `dir`, parsed: commits in order,
/// each with its files.
pub fn git_numstat(repo: &Repo, dir: &Path, args: &[&str]) -> Vec<(String, Vec<GitFile>)> {
    let mut full = vec!["log", "-z", "--numstat", "--no-renames", "--format=%H"];
    full.extend_from_slice(args);
    let raw = repo.git_bytes(dir, &full);
    let mut commits: Vec<(String, Vec<GitFile>)> = Vec::new();
    for token in raw.split(|&b| b == 0) {
        let token = token.strip_prefix(b"\n").unwrap_or(token);
        if token.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(token).into_owned();
        match text.splitn(3, '\t').collect::<Vec<_>>()[..] {
            [added, deleted, path] => {
                let count = |n: &str| (n != "-").then(|| n.parse::<u64>().expect("a count"));
                commits.last_mut().expect("a commit first").1.push((
                    path.to_owned(),
                    count(added),
                    count(deleted),
                ));
            }
            _ => commits.push((text, Vec::new())),
        }
    }
    commits
}

/// The library's records for `since..until` in the repository at `dir`.
pub fn extract_records(
    dir: &Path,
    since: Option<&str>,
    until: &str,
    options: ExtractOptions,
) -> Vec<CommitRecord> {
    let repo = extract::open(dir).expect("open");
    let plan = extract::plan(&repo, since, until).expect("plan");
    let mut extractor = Extractor::new(&repo, options).expect("extractor");
    plan.commits
        .iter()
        .map(|&id| extractor.commit(id).expect("extract"))
        .collect()
}

/// Asserts that the records list the same commits, in the same order, with exactly the files
/// git lists.
pub fn assert_matches_git(records: &[CommitRecord], git: &[(String, Vec<GitFile>)]) {
    let ours: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let theirs: Vec<&str> = git.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ours, theirs, "commit order differs from git log");
    for (record, (id, files)) in records.iter().zip(git) {
        let ours: Vec<GitFile> = record
            .files
            .iter()
            .map(|f| (f.path.clone(), f.added, f.deleted))
            .collect();
        assert_eq!(
            &ours,
            files,
            "files of commit {id} ({:?}) differ from git log --numstat",
            record.message.lines().next()
        );
    }
}

/// Deterministic pseudo-random numbers (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
