//! A git server over HTTPS for tests (feature `testing`): `git http-backend` as a CGI behind a
//! small TLS server with basic auth, on 127.0.0.1, serving every repository under one
//! directory, with faults to inject. gix sends basic auth only over TLS, so authenticated
//! fetches and polls can only be tested this way. The runner's fetch tests and the end-to-end
//! suite's credential scenarios share it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// TLS material for [`HttpsGit`]: a CA and a server certificate it issued for 127.0.0.1 and
/// `localhost`.
#[derive(Debug)]
pub struct Tls {
    /// The CA's certificate, as PEM (what clients add to their roots).
    pub ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Tls {
    /// A new CA and server certificate.
    pub fn generate() -> Result<Self, rcgen::Error> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "gitview-test-git-ca");
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
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

/// A fault [`HttpsGit`] injects into an authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer the next request with this status instead of running the CGI.
    Status(u16),
    /// Run the CGI for the next pack request (`command=fetch`) but close the connection
    /// halfway through the pack.
    TruncatePack,
}

/// Smart HTTP over TLS: `git http-backend` run as a CGI per request, after an
/// `Authorization: Basic` check. HTTP/1.1, one thread per connection, one request per
/// connection. Stops accepting when dropped.
#[derive(Debug)]
pub struct HttpsGit {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests served with the right credentials, and how many were refused without them.
    pub requests: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
    /// Faults to inject, first in first out, to test server errors and broken transfers.
    pub fail_with: Arc<Mutex<Vec<Fault>>>,
}

impl HttpsGit {
    /// Serves the repositories under `root` to `user`:`password`.
    pub fn start(root: &Path, tls: &Tls, user: &str, password: &str) -> std::io::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|config| {
                config.with_no_client_auth().with_single_cert(
                    vec![tls.cert_der.clone().into()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(tls.key_der.clone().into()),
                )
            })
            .map_err(std::io::Error::other)?;
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let fail_with = Arc::new(Mutex::new(Vec::new()));
        let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let root = root.to_owned();
        {
            let (stop, requests, refused, fail_with) = (
                stop.clone(),
                requests.clone(),
                refused.clone(),
                fail_with.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let config = config.clone();
                    let root = root.clone();
                    let expected = expected.clone();
                    let (requests, refused, fail_with) =
                        (requests.clone(), refused.clone(), fail_with.clone());
                    std::thread::spawn(move || {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        let _ =
                            serve_one(&mut tls, &root, &expected, &requests, &refused, &fail_with);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    });
                }
            });
        }
        Ok(Self {
            port,
            stop,
            requests,
            refused,
            fail_with,
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
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(
    stream: &mut (impl Read + Write),
    root: &Path,
    expected_auth: &str,
    requests: &AtomicUsize,
    refused: &AtomicUsize,
    fail_with: &Mutex<Vec<Fault>>,
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
    requests.fetch_add(1, Ordering::SeqCst);

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
    let is_pack_request = body.windows(13).any(|w| w == b"command=fetch");
    let injected = {
        let mut fail_with = fail_with.lock().unwrap_or_else(PoisonError::into_inner);
        match fail_with.first().copied() {
            Some(Fault::TruncatePack) if !is_pack_request => None,
            Some(_) => Some(fail_with.remove(0)),
            None => None,
        }
    };
    if let Some(Fault::Status(status)) = injected {
        return write!(
            stream,
            "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let truncate = injected == Some(Fault::TruncatePack);

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
        .env("REMOTE_USER", "gitview-test")
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
    if truncate {
        stream.write_all(&cgi_body[..cgi_body.len() / 2])?;
        stream.flush()?;
        return Err(std::io::Error::other("truncated on purpose"));
    }
    stream.write_all(cgi_body)?;
    stream.flush()
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
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

/// Standard base64 with padding (the `Authorization: Basic` encoding).
pub fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}
