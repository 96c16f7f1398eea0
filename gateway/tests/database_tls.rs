//! PostgreSQL over TLS, against real throwaway servers with `ssl = on` and certificates from a
//! test CA: each sslmode connects or is refused as libpq's would, the refusals name what is
//! wrong (the CA, the host name, a server without TLS) and the sslmode asked for, and the
//! gateway binary's `migrate` and `serve` fail at start-up with those words, at once (no
//! waiting for a database that is up), and without the URL's password.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use gitview_gateway::db::{self, tls};
use gitview_gateway::testing::{ServerTls, TestPostgres};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A test CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names and IP addresses) and its key, PEM.
    fn server(&self, names: &[SanType]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = names.to_vec();
        params
            .distinguished_name
            .push(DnType::CommonName, "postgres");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn server(ca: &Ca, names: &[SanType]) -> TestPostgres {
    let (cert_pem, key_pem) = ca.server(names);
    TestPostgres::start_with_tls(ServerTls {
        cert_pem: &cert_pem,
        key_pem: &key_pem,
    })
    .await
    .expect("postgres starts with ssl = on")
}

/// The superuser's URL on `host` with a password (trust authentication ignores it; no error
/// may show it) and `query`.
fn url(pg: &TestPostgres, host: &str, query: &str) -> String {
    format!(
        "postgres://postgres:s3cret-pw@{host}:{}/postgres?{query}",
        pg.port
    )
}

fn target(url: &str, overrides: &tls::Overrides) -> tls::Target {
    tls::Target::parse(url, overrides).unwrap()
}

fn no_overrides() -> tls::Overrides {
    tls::Overrides::default()
}

/// Connects to `url`; answers whether the session is encrypted (`pg_stat_ssl`).
async fn connect(url: &str, overrides: &tls::Overrides) -> Result<bool, tls::ConnectError> {
    let pool = db::connect_to(&target(url, overrides), 1).await?;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    Ok(ssl)
}

async fn refused(url: &str, overrides: &tls::Overrides) -> tls::ConnectError {
    match connect(url, overrides).await {
        Ok(ssl) => panic!("{url} connected (ssl: {ssl})"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn verify_full_connects_with_the_ca_that_signed_the_server_and_refuses_another() {
    let ca = Ca::new("gitview test CA");
    let other = Ca::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, other_file) = (
        ca.write(dir.path(), "ca.crt"),
        other.write(dir.path(), "other.crt"),
    );
    let pg = server(&ca, &[SanType::IpAddress(LOOPBACK)]).await;
    let host = "127.0.0.1";

    let verify_full = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
    assert!(
        connect(&url(&pg, host, &verify_full), &no_overrides())
            .await
            .unwrap()
    );
    let verify_ca = format!("sslmode=verify-ca&sslrootcert={}", ca_file.display());
    assert!(
        connect(&url(&pg, host, &verify_ca), &no_overrides())
            .await
            .unwrap()
    );
    // `require` encrypts without verifying; `prefer` takes the TLS the server offers; `disable`
    // stays plain.
    assert!(
        connect(&url(&pg, host, "sslmode=require"), &no_overrides())
            .await
            .unwrap()
    );
    assert!(
        connect(&url(&pg, host, "sslmode=prefer"), &no_overrides())
            .await
            .unwrap()
    );
    assert!(
        !connect(&url(&pg, host, "sslmode=disable"), &no_overrides())
            .await
            .unwrap()
    );
    // The gateway's flags over a URL that says nothing of TLS.
    let flags = tls::Overrides {
        mode: Some(tls::SslMode::VerifyFull),
        root_cert: Some(ca_file.clone()),
    };
    assert!(connect(&url(&pg, host, ""), &flags).await.unwrap());

    // Another CA: refused, naming the CA, the file and the mode.
    let wrong_ca = format!("sslmode=verify-full&sslrootcert={}", other_file.display());
    let err = refused(&url(&pg, host, &wrong_ca), &no_overrides()).await;
    assert!(
        matches!(
            &err,
            tls::ConnectError::Tls {
                problem: tls::TlsProblem::UnknownIssuer,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "TLS with the database at 127.0.0.1:{} failed (sslmode=verify-full, CA file {}): the server's certificate is not signed by a trusted CA (wrong CA file?)",
            pg.port,
            other_file.display()
        )
    );
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    // No CA file: the system's trust store does not know the test CA either.
    let err = refused(&url(&pg, host, "sslmode=verify-full"), &no_overrides()).await;
    assert!(
        err.to_string()
            .contains("(sslmode=verify-full, CA: the system's trust store): the server's certificate is not signed by a trusted CA"),
        "{err}"
    );
    // `require` with a CA verifies the chain, as libpq does.
    let require_other = format!("sslmode=require&sslrootcert={}", other_file.display());
    let err = refused(&url(&pg, host, &require_other), &no_overrides()).await;
    assert!(
        err.to_string()
            .contains("(sslmode=require with a CA: verified as verify-ca, CA file"),
        "{err}"
    );
    assert!(!err.is_not_up_yet(), "a certificate does not fix itself");

    // A CA file that is missing, or holds no certificate, says so before connecting.
    let missing = format!(
        "sslmode=verify-full&sslrootcert={}/nope.crt",
        dir.path().display()
    );
    let err = refused(&url(&pg, host, &missing), &no_overrides()).await;
    assert!(
        matches!(err, tls::ConnectError::RootCert { .. }) && err.to_string().contains("nope.crt"),
        "{err}"
    );
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = refused(
        &url(
            &pg,
            host,
            &format!("sslmode=verify-ca&sslrootcert={}", not_pem.display()),
        ),
        &no_overrides(),
    )
    .await;
    assert!(
        err.to_string().ends_with("it holds no PEM certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_host_and_verify_ca_takes_it() {
    let ca = Ca::new("gitview test CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.crt");
    let pg = server(&ca, &[SanType::DnsName("db.example".try_into().unwrap())]).await;

    let verify_full = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
    let err = refused(&url(&pg, "127.0.0.1", &verify_full), &no_overrides()).await;
    assert!(
        matches!(
            &err,
            tls::ConnectError::Tls {
                problem: tls::TlsProblem::WrongHost { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "TLS with the database at 127.0.0.1:{} failed (sslmode=verify-full, CA file {}): the server's certificate is not valid for the host 127.0.0.1: it names db.example",
            pg.port,
            ca_file.display()
        )
    );
    let verify_ca = format!("sslmode=verify-ca&sslrootcert={}", ca_file.display());
    assert!(
        connect(&url(&pg, "127.0.0.1", &verify_ca), &no_overrides())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn require_refuses_a_server_without_tls_and_prefer_connects_plain() {
    let pg = TestPostgres::start().await.expect("postgres starts");
    let err = refused(&url(&pg, "127.0.0.1", "sslmode=require"), &no_overrides()).await;
    assert_eq!(
        err.to_string(),
        format!(
            "TLS with the database at 127.0.0.1:{} failed (sslmode=require): the server does not accept TLS connections (PostgreSQL's ssl setting is off)",
            pg.port
        )
    );
    assert!(
        !connect(&url(&pg, "127.0.0.1", "sslmode=prefer"), &no_overrides())
            .await
            .unwrap()
    );

    // The binary's start-up says the same, at once.
    let out = gateway(
        &[
            "migrate",
            "--database-url",
            &url(&pg, "127.0.0.1", "sslmode=require"),
        ],
        &[],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains("the server does not accept TLS connections")
            && stderr.contains("sslmode=require"),
        "{stderr}"
    );
}

/// Runs the gateway binary with `args` and `env`, and no `PG*` or `GITVIEW_*` variables of
/// ours; it must end within 30 s.
fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gitview-gateway"));
    for (name, _) in std::env::vars() {
        if name.starts_with("PG") || name.starts_with("GITVIEW_") {
            cmd.env_remove(name);
        }
    }
    let started = Instant::now();
    let out = cmd
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        // What a user sees: no backtrace.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{args:?} took {:?}: a refusal must not wait for the database",
        started.elapsed()
    );
    out
}

/// The stderr of a run that must have failed, checked for the password.
fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded:\n{stderr}");
    assert!(!stderr.contains("s3cret"), "the password shows:\n{stderr}");
    eprintln!("as expected, the gateway refused to start:\n{stderr}");
    stderr
}

#[tokio::test]
async fn the_binary_migrates_over_verified_tls_and_names_a_wrong_ca_or_host_at_start_up() {
    let ca = Ca::new("gitview test CA");
    let other = Ca::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, other_file) = (
        ca.write(dir.path(), "ca.crt"),
        other.write(dir.path(), "other.crt"),
    );
    // Valid for 127.0.0.1 only: `localhost` is another host name.
    let pg = server(&ca, &[SanType::IpAddress(LOOPBACK)]).await;
    pg.create_database("gitview").await.unwrap();
    let db_url = format!(
        "postgres://postgres:s3cret-pw@127.0.0.1:{}/gitview",
        pg.port
    );
    let ca_arg = ca_file.display().to_string();

    // The chart's way: the URL from the Secret, the mode and CA as flags.
    let out = gateway(
        &[
            "migrate",
            "--database-url",
            &db_url,
            "--database-sslmode",
            "verify-full",
            "--database-sslrootcert",
            &ca_arg,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("migrations applied"), "{stderr}");
    assert!(
        stderr.contains("sslmode=verify-full, CA file") && !stderr.contains("s3cret"),
        "the start-up log names the TLS settings, not the password: {stderr}"
    );
    // libpq's variables work too.
    let out = gateway(
        &["migrate", "--database-url", &db_url],
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca_arg)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Another CA, through the environment the chart could set as well.
    let out = gateway(
        &["migrate", "--database-url", &db_url],
        &[
            ("GITVIEW_DATABASE_SSLMODE", "verify-full"),
            (
                "GITVIEW_DATABASE_SSLROOTCERT",
                &other_file.display().to_string(),
            ),
        ],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains(&format!(
            "TLS with the database at 127.0.0.1:{} failed (sslmode=verify-full, CA file {}): the server's certificate is not signed by a trusted CA",
            pg.port,
            other_file.display()
        )),
        "{stderr}"
    );

    // `serve` through `localhost`, which the certificate does not name.
    let (_, public_pem) = common::key_pair(1);
    let key_file = dir.path().join("token.pub");
    std::fs::write(&key_file, public_pem).unwrap();
    let localhost_url = format!(
        "postgres://postgres:s3cret-pw@localhost:{}/gitview?sslmode=verify-full&sslrootcert={}",
        pg.port, ca_arg
    );
    let out = gateway(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &localhost_url,
            "--token-public-key-file",
            &key_file.display().to_string(),
            "--object-store",
            "none",
            "--log-format",
            "text",
        ],
        &[],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains(&format!(
            "TLS with the database at localhost:{} failed (sslmode=verify-full, CA file {ca_arg}): the server's certificate is not valid for the host localhost: it names 127.0.0.1",
            pg.port
        )),
        "{stderr}"
    );

    // A PGSSLMODE sqlx would silently ignore.
    let out = gateway(
        &["migrate", "--database-url", &db_url],
        &[("PGSSLMODE", "verify_full")],
    );
    let stderr = failed(&out);
    assert!(
        stderr.contains("PGSSLMODE: unknown sslmode \"verify_full\": use disable, prefer, require, verify-ca or verify-full"),
        "{stderr}"
    );
}
