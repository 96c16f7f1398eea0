//! Private repositories: a tracker whose token sits under a key of its own choosing in the
//! credentials Secret (`credentialsSecret.key`) polls with it, as an Analysis fetches with it.
//!
//! The repository is served over HTTPS with basic auth ([`HttpsGit`]: `git http-backend` as a
//! CGI behind a small TLS server, like the runner's fetch tests): gix sends basic auth only
//! over TLS. Its certificate is issued by the suite's own CA ([`SuiteCa`]), which the
//! operators the suite starts trust through `SSL_CERT_FILE`.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, RepositoryTracker};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;

use super::{Env, image};

/// The suite's certificate authority and a server certificate it issued for 127.0.0.1.
#[derive(Debug)]
pub struct SuiteCa {
    /// Where the CA certificate is, as PEM: the operators' `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl SuiteCa {
    /// A new CA, its certificate written to `dir/suite-ca.pem`.
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "gitview-e2e-git-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".to_owned()])?;
        server
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &issuer)?;
        let ca_file = dir.join("suite-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())?;
        Ok(Self {
            ca_file,
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

/// Smart HTTP over TLS for the repositories under one directory, to one user and password:
/// `git http-backend` run per request after an `Authorization: Basic` check. One thread per
/// connection, one request per connection. Stops accepting when dropped.
#[derive(Debug)]
pub struct HttpsGit {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests served with the right credentials, and refused without them.
    pub accepted: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
}

impl HttpsGit {
    pub fn start(root: &Path, ca: &SuiteCa, user: &str, password: &str) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![ca.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(ca.key_der.clone().into()),
            )?;
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let root = root.to_owned();
        let (stopped, counted, denied) = (stop.clone(), accepted.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (config, root, expected) = (config.clone(), root.clone(), expected.clone());
                let (counted, denied) = (counted.clone(), denied.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let _ = serve_one(&mut tls, &root, &expected, &counted, &denied);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Ok(Self {
            port,
            stop,
            accepted,
            refused,
        })
    }

    /// `https://127.0.0.1:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(
    stream: &mut (impl Read + Write),
    root: &Path,
    expected_auth: &str,
    accepted: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    drop(reader);

    if header("authorization") != Some(expected_auth) {
        refused.fetch_add(1, Ordering::SeqCst);
        let message = "authentication required\n";
        return write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
            message.len()
        );
    }
    accepted.fetch_add(1, Ordering::SeqCst);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "e2e")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(protocol) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output()?;
    let _ = writer.join();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, 2))
        });
    let Some((at, sep)) = split else {
        return write!(
            stream,
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    let cgi_headers = String::from_utf8_lossy(&output.stdout[..at]).into_owned();
    let cgi_body = &output.stdout[at + sep..];
    let mut status = "200 OK".to_owned();
    let mut response_headers = String::new();
    for line in cgi_headers.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => {
                status = value.trim().to_owned();
            }
            Some(_) => {
                response_headers.push_str(line);
                response_headers.push_str("\r\n");
            }
            None => {}
        }
    }
    write!(
        stream,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        cgi_body.len()
    )?;
    stream.write_all(cgi_body)?;
    stream.flush()
}

fn read_chunked(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                if line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// The user name gix sends with a token when the Secret has no `username`
/// (`gitview_git::fetch::DEFAULT_TOKEN_USERNAME`).
const TOKEN_USER: &str = "x-access-token";

pub async fn a_tracker_polls_a_private_repository_with_the_token_under_its_key(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let repo = env.git.create(&ns, 3)?;
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    let root = repo.parent().context("repositories have a parent")?;
    let token = format!("pat-{ns}");
    let server = HttpsGit::start(root, &env.ca, TOKEN_USER, &token)?;
    let url = server.url(&ns);

    // The token under a key of the user's choosing: no `token`, `password` or `username`.
    env.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: forge, namespace: {ns}}}\nstringData:\n  deploy-pat: \"{token}\"\n"
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-ok}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::OK
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", credentialsSecret: {{name: forge, key: deploy-pat}}}}\n  branches: [main]\n  \
         poll: {{minIntervalSeconds: 10, maxIntervalSeconds: 20}}\n  template:\n    spec: {{profile: {ns}-ok}}\n"
    ))?;

    // The first poll lists the branch with the token, and the head gets its Analysis.
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    let want = head.clone();
    let tracking = move |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
            s.branches.iter().any(|b| {
                b.name == "main"
                    && b.head_commit.as_deref() == Some(want.as_str())
                    && b.last_analysis.is_some()
            })
        })
    };
    let timeout = Duration::from_secs(60);
    let polled =
        tokio::time::timeout(timeout, await_condition(trackers.clone(), "repo", tracking)).await;
    let tracker = match polled {
        Ok(found) => found?.context("the tracker vanished")?,
        Err(_) => {
            let status = trackers.get_opt("repo").await?.and_then(|t| t.status);
            bail!(
                "the tracker did not poll the private repository within {timeout:?} \
                 (requests with the token: {}, without: {}); status: {}",
                server.accepted.load(Ordering::SeqCst),
                server.refused.load(Ordering::SeqCst),
                serde_json::to_string(&status)?
            )
        }
    };
    let ready = tracker
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .context("Ready")?;
    ensure!(ready.status == "True", "{ready:?}");
    ensure!(
        server.accepted.load(Ordering::SeqCst) > 0,
        "no request carried the token"
    );

    // The Analysis exists, for the head, with the tracker's credentials reference as it is.
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), &ns);
    let owned = analyses
        .list(&ListParams::default().labels(labels::TRACKER))
        .await?
        .items;
    let run = owned
        .iter()
        .find(|a| a.annotations().get(labels::HEAD_COMMIT) == Some(&head))
        .with_context(|| format!("no Analysis for {head} among {} owned", owned.len()))?;
    let reference = run
        .spec
        .repository
        .source
        .credentials_secret
        .as_ref()
        .context("the Analysis has no credentialsSecret")?;
    ensure!(
        reference.name == "forge" && reference.key.as_deref() == Some("deploy-pat"),
        "{reference:?}"
    );
    Ok(())
}
