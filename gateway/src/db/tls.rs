//! TLS to PostgreSQL: which `sslmode` and CA the gateway connects with, and errors that say
//! what went wrong (a CA that did not sign the server's certificate, a certificate for another
//! host, a server without TLS) and with which settings, never the URL's password.
//!
//! sqlx 0.9 reads `sslmode` and `sslrootcert` from the URL's query (also spelled `ssl-mode`,
//! `ssl-root-cert`, `ssl-ca`) and, for what the URL does not say, from `PGSSLMODE` and
//! `PGSSLROOTCERT`; its default is `prefer`. [`Target::parse`] resolves the same settings in
//! the same order, with the gateway's own flags on top, and hands them to sqlx explicitly, so
//! what it reports is what sqlx does. Where sqlx departs from libpq, this module follows libpq
//! or refuses:
//!
//! * a `PGSSLMODE` that is not an sslmode is refused (sqlx ignores it and uses `prefer`);
//! * `allow` is refused (sqlx connects without TLS where libpq falls back to TLS);
//! * `require` with a CA verifies the chain, as `verify-ca` does (libpq's rule, and sqlx's
//!   documentation; its code never verifies under `require`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// How the connection is protected, as libpq names it (`allow` excepted: see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, without verifying its certificate; plain otherwise.
    Prefer,
    /// TLS or nothing, without verifying the certificate unless a CA is given.
    Require,
    /// TLS, the certificate chaining to the CA (or the system's trust store), any host name.
    VerifyCa,
    /// TLS, the certificate chaining to the CA and naming the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The names [`FromStr`] takes.
    pub const NAMES: &'static str = "disable, prefer, require, verify-ca or verify-full";

    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value that is not an sslmode the gateway takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownSslMode(String);

impl FromStr for SslMode {
    type Err = UnknownSslMode;

    fn from_str(s: &str) -> Result<Self, UnknownSslMode> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(UnknownSslMode(
                    "sslmode allow is not supported (sqlx would connect without TLS): use prefer \
                     or require"
                        .to_owned(),
                ));
            }
            _ => {
                return Err(UnknownSslMode(format!(
                    "unknown sslmode {s:?}: use {}",
                    Self::NAMES
                )));
            }
        })
    }
}

/// The gateway's TLS flags, which win over the URL and the `PG*` variables.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-sslmode`.
    pub mode: Option<SslMode>,
    /// `--database-sslrootcert`.
    pub root_cert: Option<PathBuf>,
}

/// The CA certificate(s) the server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file (read again for each new connection, so a rotated Secret is picked up).
    File(PathBuf),
    /// PEM text given in `PGSSLROOTCERT` itself (sqlx takes either).
    Inline,
}

/// The resolved TLS settings of a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The sslmode asked for.
    pub mode: SslMode,
    /// The CA, if one is given; otherwise verification uses the system's trust store.
    pub root_cert: Option<RootCert>,
}

impl Settings {
    /// What sqlx is asked to do: `require` with a CA verifies as `verify-ca`.
    fn sqlx_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require if self.root_cert.is_some() => PgSslMode::VerifyCa,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        }
    }

    /// Whether the server's certificate is checked against a CA.
    pub fn verifies(&self) -> bool {
        matches!(
            self.sqlx_mode(),
            PgSslMode::VerifyCa | PgSslMode::VerifyFull
        )
    }
}

/// `sslmode=verify-full, CA file /etc/…`: the settings as an error or a log line names them.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode)?;
        if self.mode == SslMode::Require && self.root_cert.is_some() {
            f.write_str(" with a CA: verified as verify-ca")?;
        }
        if self.verifies() {
            match &self.root_cert {
                Some(RootCert::File(path)) => write!(f, ", CA file {}", path.display()),
                Some(RootCert::Inline) => f.write_str(", CA from PGSSLROOTCERT"),
                None => f.write_str(", CA: the system's trust store"),
            }
        } else {
            Ok(())
        }
    }
}

/// A database URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not a PostgreSQL URL sqlx takes. (Neither sqlx's nor the url crate's messages repeat
    /// the URL, so no password is shown.)
    #[error("the database URL is not valid: {0}")]
    Url(String),
    /// A bad `sslmode` in the URL.
    #[error("the database URL's sslmode: {0}")]
    UrlMode(UnknownSslMode),
    /// A bad `PGSSLMODE`.
    #[error("PGSSLMODE: {0}")]
    EnvMode(UnknownSslMode),
}

/// Where the database is and how to reach it: sqlx's options with the TLS settings resolved.
#[derive(Debug, Clone)]
pub struct Target {
    options: PgConnectOptions,
    tls: Settings,
}

impl Target {
    /// Parses `url`, with `PGSSLMODE` and `PGSSLROOTCERT` from the environment and the flags'
    /// `overrides` on top: flag, then URL, then variable, then `prefer`.
    pub fn parse(url: &str, overrides: &Overrides) -> Result<Self, ParseError> {
        Self::parse_with_env(url, overrides, |name| std::env::var(name).ok())
    }

    fn parse_with_env(
        url: &str,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ParseError> {
        // sqlx parses the URL with the url crate too (reqwest's `Url` is that crate's).
        let parsed = reqwest::Url::parse(url).map_err(|err| ParseError::Url(err.to_string()))?;
        // sqlx takes any scheme: `user:password@host` would be scheme `user`, host localhost.
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(ParseError::Url(
                "it must begin with postgres:// or postgresql://".to_owned(),
            ));
        }
        let (mut url_mode, mut url_root_cert) = (None, None);
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "sslmode" | "ssl-mode" => {
                    url_mode = Some(value.parse().map_err(ParseError::UrlMode)?);
                }
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                    url_root_cert = Some(PathBuf::from(&*value));
                }
                _ => {}
            }
        }
        let mode = match (overrides.mode, url_mode, env("PGSSLMODE")) {
            (Some(mode), _, _) | (None, Some(mode), _) => mode,
            (None, None, Some(value)) => value.parse().map_err(ParseError::EnvMode)?,
            (None, None, None) => SslMode::Prefer,
        };
        let root_cert = match (&overrides.root_cert, url_root_cert, env("PGSSLROOTCERT")) {
            (Some(path), _, _) => Some(RootCert::File(path.clone())),
            (None, Some(path), _) => Some(RootCert::File(path)),
            // sqlx's own test for inline PEM.
            (None, None, Some(value)) if value.trim().starts_with("-----BEGIN") => {
                Some(RootCert::Inline)
            }
            (None, None, Some(value)) => Some(RootCert::File(PathBuf::from(value))),
            (None, None, None) => None,
        };
        let tls = Settings { mode, root_cert };
        let mut options =
            PgConnectOptions::from_str(url).map_err(|err| ParseError::Url(err.to_string()))?;
        options = options.ssl_mode(tls.sqlx_mode());
        if let Some(RootCert::File(path)) = &tls.root_cert {
            options = options.ssl_root_cert(path);
        }
        Ok(Self { options, tls })
    }

    /// sqlx's options.
    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// The TLS settings.
    pub fn tls(&self) -> &Settings {
        &self.tls
    }

    /// `host:port`, or the Unix socket's path: where the database is, without credentials.
    pub fn server(&self) -> String {
        match self.options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", self.options.get_host(), self.options.get_port()),
        }
    }

    /// Checks that the CA file, if verification needs one, can be read and holds a
    /// certificate, so that a missing file says so rather than failing each connection with
    /// an I/O error.
    pub fn check_root_cert(&self) -> Result<(), ConnectError> {
        let Some(RootCert::File(path)) = &self.tls.root_cert else {
            return Ok(());
        };
        if !self.tls.verifies() {
            return Ok(());
        }
        let pem = std::fs::read_to_string(path).map_err(|source| ConnectError::RootCert {
            path: path.clone(),
            settings: self.tls.to_string(),
            problem: source.to_string(),
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ConnectError::RootCert {
                path: path.clone(),
                settings: self.tls.to_string(),
                problem: "it holds no PEM certificate".to_owned(),
            });
        }
        Ok(())
    }

    /// The error of a failed connection, naming the TLS problem if there is one.
    pub fn explain(&self, err: sqlx::Error) -> ConnectError {
        match TlsProblem::of(&err, &self.options) {
            Some(problem) => ConnectError::Tls {
                server: self.server(),
                settings: self.tls.to_string(),
                problem,
            },
            None => ConnectError::Database {
                server: self.server(),
                settings: self.tls.to_string(),
                source: Box::new(err),
            },
        }
    }
}

/// A failed connection to the database.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The CA file cannot be used.
    #[error("the database's CA file {} ({settings}): {problem}", path.display())]
    RootCert {
        /// The file.
        path: PathBuf,
        /// The TLS settings, as [`Settings`] displays them.
        settings: String,
        /// What is wrong with it.
        problem: String,
    },
    /// TLS with the server failed.
    #[error("TLS with the database at {server} failed ({settings}): {problem}")]
    Tls {
        /// [`Target::server`].
        server: String,
        /// The TLS settings, as [`Settings`] displays them.
        settings: String,
        /// What failed.
        problem: TlsProblem,
    },
    /// Any other failure (the server is down, the credentials are refused, …).
    #[error("cannot connect to the database at {server} ({settings})")]
    Database {
        /// [`Target::server`].
        server: String,
        /// The TLS settings, as [`Settings`] displays them.
        settings: String,
        /// sqlx's error (boxed: it is large).
        #[source]
        source: Box<sqlx::Error>,
    },
}

impl ConnectError {
    /// Whether waiting may help: the database is not up yet (see [`super::is_not_up_yet`]).
    /// A certificate does not fix itself.
    pub fn is_not_up_yet(&self) -> bool {
        match self {
            Self::Database { source, .. } => super::is_not_up_yet(source),
            Self::RootCert { .. } | Self::Tls { .. } => false,
        }
    }
}

/// What went wrong with TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server answered the TLS request with "no".
    NotOffered,
    /// The server's certificate does not chain to the CA.
    UnknownIssuer,
    /// The server's certificate does not name the host connected to.
    WrongHost {
        /// The host connected to.
        host: String,
        /// The names the certificate holds.
        names: Vec<String>,
    },
    /// Another reason the certificate is refused (expired, not yet valid, revoked, …).
    Certificate(String),
    /// Any other TLS failure.
    Other(String),
}

impl TlsProblem {
    /// The TLS problem behind a connection error, if any. rustls' errors reach sqlx's as the
    /// I/O error of the handshake, or as sqlx's `Tls`.
    pub fn of(err: &sqlx::Error, options: &PgConnectOptions) -> Option<Self> {
        match err {
            sqlx::Error::Io(io) => rustls_error(io).map(|err| Self::from_rustls(err, options)),
            sqlx::Error::Tls(inner) => Some(match inner.downcast_ref::<rustls::Error>() {
                Some(err) => Self::from_rustls(err, options),
                // sqlx's words when the server answers the TLS request with "N".
                None if inner.to_string() == "server does not support TLS" => Self::NotOffered,
                None => Self::Other(inner.to_string()),
            }),
            _ => None,
        }
    }

    fn from_rustls(err: &rustls::Error, options: &PgConnectOptions) -> Self {
        use rustls::CertificateError as C;
        match err {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => Self::UnknownIssuer,
            rustls::Error::InvalidCertificate(C::NotValidForName) => Self::WrongHost {
                host: options.get_host().to_owned(),
                names: Vec::new(),
            },
            rustls::Error::InvalidCertificate(C::NotValidForNameContext {
                expected,
                presented,
            }) => Self::WrongHost {
                host: expected.to_str().into_owned(),
                names: presented.iter().map(|name| general_name(name)).collect(),
            },
            rustls::Error::InvalidCertificate(other) => Self::Certificate(other.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOffered => f.write_str(
                "the server does not accept TLS connections (PostgreSQL's ssl setting is off)",
            ),
            Self::UnknownIssuer => f.write_str(
                "the server's certificate is not signed by a trusted CA (wrong CA file?)",
            ),
            Self::WrongHost { host, names } if names.is_empty() => {
                write!(
                    f,
                    "the server's certificate is not valid for the host {host}"
                )
            }
            Self::WrongHost { host, names } => write!(
                f,
                "the server's certificate is not valid for the host {host}: it names {}",
                names.join(", ")
            ),
            Self::Certificate(reason) => write!(f, "the server's certificate is refused: {reason}"),
            Self::Other(reason) => write!(f, "the TLS handshake failed: {reason}"),
        }
    }
}

/// The rustls error inside an I/O error, if that is what it carries.
pub(crate) fn rustls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// `db.example` for webpki's `DnsName("db.example")`, `10.0.0.1` for its
/// `IpAddress(10.0.0.1)`; other names as webpki writes them.
fn general_name(name: &str) -> String {
    let dns = || name.strip_prefix("DnsName(\"")?.strip_suffix("\")");
    let ip = || name.strip_prefix("IpAddress(")?.strip_suffix(')');
    dns().or_else(ip).unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, overrides: &Overrides, env: &[(&str, &str)]) -> Result<Target, ParseError> {
        Target::parse_with_env(url, overrides, |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn settings(url: &str, overrides: &Overrides, env: &[(&str, &str)]) -> Settings {
        parse(url, overrides, env).unwrap().tls
    }

    const DB: &str = "postgres://gateway:s3cret@db.example:5433/gitview";

    #[test]
    fn the_mode_is_the_flags_then_the_urls_then_pgsslmode_then_prefer() {
        let none = Overrides::default();
        assert_eq!(settings(DB, &none, &[]).mode, SslMode::Prefer);
        assert_eq!(
            settings(DB, &none, &[("PGSSLMODE", "verify-ca")]).mode,
            SslMode::VerifyCa
        );
        let url = format!("{DB}?sslmode=require");
        assert_eq!(
            settings(&url, &none, &[("PGSSLMODE", "verify-ca")]).mode,
            SslMode::Require
        );
        assert_eq!(
            settings(&format!("{DB}?ssl-mode=Verify-Full"), &none, &[]).mode,
            SslMode::VerifyFull,
            "sqlx's alias, any case"
        );
        let flag = Overrides {
            mode: Some(SslMode::Disable),
            root_cert: None,
        };
        assert_eq!(
            settings(&url, &flag, &[("PGSSLMODE", "verify-ca")]).mode,
            SslMode::Disable
        );
    }

    #[test]
    fn the_ca_is_the_flags_then_the_urls_then_pgsslrootcert() {
        let none = Overrides::default();
        let file = |path: &str| Some(RootCert::File(PathBuf::from(path)));
        assert_eq!(settings(DB, &none, &[]).root_cert, None);
        assert_eq!(
            settings(DB, &none, &[("PGSSLROOTCERT", "/env/ca.crt")]).root_cert,
            file("/env/ca.crt")
        );
        assert_eq!(
            settings(
                DB,
                &none,
                &[(
                    "PGSSLROOTCERT",
                    "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"
                )]
            )
            .root_cert,
            Some(RootCert::Inline)
        );
        let url = format!("{DB}?sslrootcert=/url/ca.crt");
        assert_eq!(
            settings(&url, &none, &[("PGSSLROOTCERT", "/env/ca.crt")]).root_cert,
            file("/url/ca.crt")
        );
        assert_eq!(
            settings(&format!("{DB}?ssl-ca=%2Furl%2Fca.crt"), &none, &[]).root_cert,
            file("/url/ca.crt")
        );
        let flag = Overrides {
            mode: None,
            root_cert: Some(PathBuf::from("/flag/ca.crt")),
        };
        assert_eq!(settings(&url, &flag, &[]).root_cert, file("/flag/ca.crt"));
    }

    #[test]
    fn sqlx_gets_the_resolved_mode_and_require_with_a_ca_verifies_the_chain() {
        let target = parse(
            &format!("{DB}?sslmode=require"),
            &Overrides::default(),
            &[("PGSSLMODE", "disable")],
        )
        .unwrap();
        assert!(matches!(
            target.options().get_ssl_mode(),
            PgSslMode::Require
        ));
        assert!(!target.tls().verifies());
        assert_eq!(target.tls().to_string(), "sslmode=require");

        let target = parse(
            &format!("{DB}?sslmode=require&sslrootcert=/ca.crt"),
            &Overrides::default(),
            &[],
        )
        .unwrap();
        assert!(matches!(
            target.options().get_ssl_mode(),
            PgSslMode::VerifyCa
        ));
        assert_eq!(
            target.tls().to_string(),
            "sslmode=require with a CA: verified as verify-ca, CA file /ca.crt"
        );

        let target = parse(DB, &Overrides::default(), &[("PGSSLMODE", "verify-full")]).unwrap();
        assert!(matches!(
            target.options().get_ssl_mode(),
            PgSslMode::VerifyFull
        ));
        assert_eq!(
            target.tls().to_string(),
            "sslmode=verify-full, CA: the system's trust store"
        );
        assert_eq!(target.server(), "db.example:5433");
    }

    #[test]
    fn bad_modes_are_refused_with_the_names_that_work() {
        let err = parse(DB, &Overrides::default(), &[("PGSSLMODE", "verify_full")])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "PGSSLMODE: unknown sslmode \"verify_full\": use disable, prefer, require, verify-ca or verify-full"
        );
        let err = parse(&format!("{DB}?sslmode=allow"), &Overrides::default(), &[])
            .err()
            .unwrap();
        assert!(err.to_string().contains("allow is not supported"), "{err}");
        assert!(matches!(
            "verify-full".parse::<SslMode>(),
            Ok(SslMode::VerifyFull)
        ));
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        for url in [
            "postgres://gateway:s3cret@db.example:notaport/gitview",
            "gateway:s3cret@db.example",
            "db.example:5432/gitview?password=s3cret",
        ] {
            let err = parse(url, &Overrides::default(), &[]).err().unwrap();
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn webpki_names_read_as_names() {
        assert_eq!(general_name("DnsName(\"db.example\")"), "db.example");
        assert_eq!(general_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(general_name("URI(x)"), "URI(x)");
    }
}
