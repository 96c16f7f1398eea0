//! Git servers on 127.0.0.1 for fetch tests: `git daemon` here, and `git http-backend` behind
//! a small HTTPS server with basic auth from `gitview_git::testing` (the end-to-end suite uses
//! it too). Both serve every repository under one directory and stop when dropped.
#![allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates; each uses part of it"
)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use gitview_git::testing::{Fault, HttpsGit, Tls, base64};

/// A port that was free a moment ago (git daemon takes a port number, not a socket).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `git daemon` exporting every repository under a base path.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    /// Starts the daemon and returns once it accepts connections (it says "Ready to rumble").
    pub fn start(base: &Path) -> Self {
        let port = free_port();
        // The daemon binary itself, not `git daemon`: the `git` wrapper runs `git-daemon` as a
        // child, and killing the wrapper would leave the daemon running after the test.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git --exec-path");
        let exec_path = String::from_utf8(exec_path.stdout).expect("UTF-8 path");
        let mut child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args([
                "--verbose",
                "--reuseaddr",
                "--listen=127.0.0.1",
                "--export-all",
                "--informative-errors",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn git daemon");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Ready to rumble") => break,
                Some(Ok(_)) => {}
                other => panic!("git daemon exited before it was ready: {other:?}"),
            }
        }
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, port }
    }

    /// `git://127.0.0.1:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
