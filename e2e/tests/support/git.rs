//! A real git repository served on loopback by `git-daemon`, for runs that clone over
//! `git://`: the repository grows during a scenario (commit, tag) like a team's would.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Context as _, bail, ensure};

/// First commit time of every fixture (2024-01-01T00:00:00Z); later commits are a day apart.
const EPOCH: i64 = 1_704_067_200;

/// `git-daemon` exporting the repositories under one directory.
#[derive(Debug)]
pub struct GitServer {
    child: Child,
    base: PathBuf,
    home: PathBuf,
    pub port: u16,
    clock: AtomicI64,
}

impl GitServer {
    /// Starts the daemon on a free loopback port; returns once it accepts connections.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let base = dir.join("repos");
        let home = dir.join("git-home");
        std::fs::create_dir_all(&base)?;
        std::fs::create_dir_all(&home)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .context("git --exec-path")?;
        let exec_path = String::from_utf8(exec_path.stdout)?;
        // The daemon itself, under `setpriv --pdeathsig`, so it dies with the suite.
        let mut child = Command::new("setpriv")
            .arg("--pdeathsig=KILL")
            .arg("--")
            .arg(Path::new(exec_path.trim()).join("git-daemon"))
            // --verbose: without it the daemon never says "Ready to rumble".
            .args([
                "--verbose",
                "--reuseaddr",
                "--listen=127.0.0.1",
                "--export-all",
                "--informative-errors",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(&base)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("git-daemon")?;
        let stderr = child.stderr.take().context("git-daemon stderr")?;
        // Its log is read on a thread (and drained after), so a daemon that never gets ready
        // fails the suite's set-up instead of hanging it.
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            let outcome = loop {
                match lines.next() {
                    Some(Ok(line)) if line.contains("Ready to rumble") => break Ok(()),
                    Some(Ok(_)) => {}
                    other => {
                        break Err(format!("git-daemon exited before it was ready: {other:?}"));
                    }
                }
            };
            let _ = ready.send(outcome);
            for _ in lines {}
        });
        match is_ready.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => bail!(err),
            Err(_) => {
                let _ = child.kill();
                bail!("git-daemon did not say it was ready within 30 s");
            }
        }
        Ok(Self {
            child,
            base,
            home,
            port,
            clock: AtomicI64::new(EPOCH),
        })
    }

    /// The `git://` URL of a repository.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a repository `name` (branch `main`) with `commits` commits, each touching a few
    /// files, and returns its path.
    pub fn create(&self, name: &str, commits: usize) -> anyhow::Result<PathBuf> {
        let path = self.base.join(name);
        ensure!(!path.exists(), "repository {name} exists");
        std::fs::create_dir_all(&path)?;
        self.git(&path, &["init", "-q", "-b", "main"])?;
        self.commit(&path, commits)?;
        Ok(path)
    }

    /// Adds `n` commits to the repository at `path`; returns the new tip.
    pub fn commit(&self, path: &Path, n: usize) -> anyhow::Result<String> {
        for _ in 0..n {
            let at = self.clock.fetch_add(86_400, Ordering::Relaxed);
            let day = (at - EPOCH) / 86_400;
            let dir = path.join(format!("src/area{}", day % 3));
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("file{}.rs", day % 5));
            let mut text = std::fs::read_to_string(&file).unwrap_or_default();
            for line in 0..(day % 7 + 1) {
                text.push_str(&format!("// day {day} line {line}\n"));
            }
            std::fs::write(&file, text)?;
            self.git(path, &["add", "-A"])?;
            let kind = ["feat", "fix", "docs", "refactor"][(day % 4) as usize];
            let date = format!("@{at} +0000");
            let status = Command::new("git")
                .current_dir(path)
                .args(["commit", "-q", "-m", &format!("{kind}: change {day}")])
                .env("GIT_AUTHOR_DATE", &date)
                .env("GIT_COMMITTER_DATE", &date)
                .envs(self.identity())
                .status()?;
            ensure!(status.success(), "git commit failed");
        }
        self.git(path, &["rev-parse", "HEAD"])
    }

    /// Lists `git log --format=%H` of a range, newest first.
    pub fn log(&self, path: &Path, range: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .git(path, &["log", "--format=%H", range])?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    fn identity(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
            ("GIT_AUTHOR_NAME", "Ada Author".to_owned()),
            ("GIT_AUTHOR_EMAIL", "ada@example.com".to_owned()),
            ("GIT_COMMITTER_NAME", "Ada Author".to_owned()),
            ("GIT_COMMITTER_EMAIL", "ada@example.com".to_owned()),
        ]
    }

    /// Runs git in `dir`; returns its trimmed stdout.
    pub fn git(&self, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .envs(self.identity())
            .output()?;
        ensure!(
            out.status.success(),
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
