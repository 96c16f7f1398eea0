//! An OpenSSH server on 127.0.0.1 for fetch tests: a throwaway host key, one authorized client
//! key, public-key login as the current user only. Stops when dropped.
#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where Debian's `openssh-server` puts the daemon.
pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    child: Child,
    pub port: u16,
    /// The authorized client key (mode 0600) and a `known_hosts` file naming the server's key.
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    /// A key the server does not accept, and a `known_hosts` naming another host key.
    pub stranger_key: PathBuf,
    pub wrong_known_hosts: PathBuf,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gitview-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts `sshd` if it is installed (None otherwise), and returns once it listens.
    pub fn start(dir: &Path) -> Option<Self> {
        if !Path::new(SSHD).exists() {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        // OpenSSH checks that its privilege separation directory exists, even unprivileged.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("host_key");
        let other_host_key = dir.join("other_host_key");
        let client_key = dir.join("client_key");
        let stranger_key = dir.join("stranger_key");
        for key in [&host_key, &other_host_key, &client_key, &stranger_key] {
            keygen(key);
        }
        let public = |key: &Path| {
            std::fs::read_to_string(key.with_extension("pub"))
                .unwrap()
                .trim()
                .to_owned()
        };
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, public(&client_key) + "\n").unwrap();
        let port = crate::serve::free_port();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public(&host_key)),
        )
        .unwrap();
        let wrong_known_hosts = dir.join("wrong_known_hosts");
        std::fs::write(
            &wrong_known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public(&other_host_key)),
        )
        .unwrap();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 StrictModes no\nUsePAM no\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sshd");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Server listening on") => break,
                Some(Ok(_)) => {}
                other => panic!("sshd exited before it listened: {other:?}"),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(Self {
            child,
            port,
            client_key,
            known_hosts,
            stranger_key,
            wrong_known_hosts,
        })
    }

    /// `ssh://<current user>@127.0.0.1:<port><absolute path>`.
    pub fn url(&self, path: &Path) -> String {
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
