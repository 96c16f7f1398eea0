//! A throwaway PostgreSQL for tests: `initdb` and `postgres` from the PostgreSQL 15 server
//! binaries on a temporary directory and a free loopback port, trust authentication, no fsync,
//! and TLS with a certificate of the test's if it asks ([`TestPostgres::start_with_tls`]).
//! The server runs under `setpriv --pdeathsig KILL` (as `nobody` when the tests run as root,
//! since PostgreSQL refuses to run as root), so it dies with the test process however that
//! ends; dropping [`TestPostgres`] stops it and removes its files.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

/// UID and GID of `nobody`/`nogroup` on Debian.
const NOBODY: u32 = 65534;

/// A running throwaway cluster.
#[derive(Debug)]
pub struct TestPostgres {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// Where the server binaries are: `$GITVIEW_PG_BIN`, else PostgreSQL 15's Debian location.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("GITVIEW_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command that runs as `nobody` when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--pdeathsig=KILL",
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(program);
        cmd
    } else {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig=KILL", "--"]).arg(program);
        cmd
    }
}

/// A server certificate and its key, PEM, for [`TestPostgres::start_with_tls`].
#[derive(Debug, Clone, Copy)]
pub struct ServerTls<'a> {
    /// The certificate (and any intermediates).
    pub cert_pem: &'a str,
    /// Its private key.
    pub key_pem: &'a str,
}

impl TestPostgres {
    /// Creates and starts a cluster; returns once it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_inner(None).await
    }

    /// Creates and starts a cluster with `ssl = on` serving `tls`'s certificate; plain
    /// connections are still accepted (`pg_stat_ssl` tells them apart).
    pub async fn start_with_tls(tls: ServerTls<'_>) -> anyhow::Result<Self> {
        Self::start_inner(Some(tls)).await
    }

    async fn start_inner(tls: Option<ServerTls<'_>>) -> anyhow::Result<Self> {
        let bin = bin_dir();
        if !bin.join("initdb").exists() {
            bail!(
                "PostgreSQL server binaries not found in {} (install postgresql-15, or set GITVIEW_PG_BIN)",
                bin.display()
            );
        }
        let root = is_root();
        let dir = tempfile::Builder::new().prefix("gitview-pg-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        for path in [&data, &socket] {
            std::fs::create_dir(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            if root {
                std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY))?;
            }
        }
        let initdb = as_server_user(&bin.join("initdb"), root)
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ])
            .stdin(Stdio::null())
            .output()
            .context("initdb")?;
        if !initdb.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        }
        // PostgreSQL refuses a key file that others may read: 0600, owned by the server's user.
        let mut ssl_settings = Vec::new();
        if let Some(tls) = tls {
            let tls_dir = dir.path().join("tls");
            std::fs::create_dir(&tls_dir)?;
            let (cert, key) = (tls_dir.join("server.crt"), tls_dir.join("server.key"));
            std::fs::write(&cert, tls.cert_pem)?;
            std::fs::write(&key, tls.key_pem)?;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
            if root {
                std::os::unix::fs::chown(&key, Some(NOBODY), Some(NOBODY))?;
            }
            ssl_settings = vec![
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert.display()),
                format!("ssl_key_file={}", key.display()),
            ];
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        let child = as_server_user(&bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&socket)
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=200"])
            .args(
                ssl_settings
                    .iter()
                    .flat_map(|setting| ["-c", setting.as_str()]),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("postgres")?;
        let mut cluster = Self { child, dir, port };
        cluster.await_ready(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    async fn await_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "postgres exited ({status}) before accepting connections:\n{}",
                    self.log()
                );
            }
            if sqlx::PgConnection::connect(&self.admin_url()).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not accept connections within {timeout:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The superuser's URL for database `postgres`.
    pub fn admin_url(&self) -> String {
        self.url("postgres", "postgres")
    }

    /// The URL of `database` as `user` (trust authentication: no password).
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database; returns its name.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await?;
        Ok(name.to_owned())
    }

    /// Runs SQL as the superuser in `database`.
    pub async fn exec(&self, database: &str, sql: &str) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres", database)).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut admin)
            .await?;
        Ok(())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
