//! Headless Chromium driven over WebDriver, for the tests that need a real browser: the report
//! page `analyze` writes (opened from disk) and the gateway's web UI.
//!
//! [`Browser::start`] finds Debian's `chromium` and `chromedriver` (or the binaries
//! `GITVIEW_CHROMIUM` and `GITVIEW_CHROMEDRIVER` name), starts chromedriver on a free loopback
//! port and opens a headless session with a fresh profile. The session records the browser's
//! console (`goog:loggingPrefs` `{"browser": "ALL"}`, read from chromedriver's log endpoint),
//! which is where Chromium reports script errors, failed loads and every Content-Security-Policy
//! violation, in the page and in its frames: [`Browser::assert_clean`] fails on any of them.
//! Alerts are left open (`unhandledPromptBehavior: ignore`) so [`Browser::assert_no_alert`]
//! sees one that fired (and while one is open, every other command fails with "unexpected
//! alert open" and its text). Screenshots go to `<target dir>/test-artifacts/browser/<name>/`.
//!
//! [`Options::offline`] cuts the browser off the network for its whole life: every request
//! goes to a proxy on a closed loopback port, loopback included (`<-loopback>`), so nothing a
//! page asks for can load, not even from this machine. chromedriver still drives the browser:
//! it talks to Chromium's DevTools port directly, which no proxy setting concerns.
#![forbid(unsafe_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use fantoccini::{Client, Locator};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where Debian installs the browser and its driver.
pub const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";
pub const DEBIAN_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a condition may take to hold ([`Browser::wait_until`]) and chromedriver to start.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Why no browser could be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{what} is missing at {path} (set {variable}, or install Debian's `chromium` and `chromium-driver`: ./test.sh does when run as root)"
    )]
    Missing {
        what: &'static str,
        variable: &'static str,
        path: PathBuf,
    },
    #[error("starting {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("chromedriver did not listen on {addr} within {DEADLINE:?}{exited}")]
    DriverNotReady { addr: SocketAddr, exited: String },
    #[error("chromedriver could not open a Chromium session: {0}")]
    Session(#[from] Box<fantoccini::error::NewSessionError>),
    #[error("WebDriver: {0}")]
    Command(#[from] Box<fantoccini::error::CmdError>),
}

/// The browser and its driver, from the environment or Debian's paths.
pub fn binaries() -> Result<(PathBuf, PathBuf), Error> {
    let find = |variable: &'static str, default: &str, what: &'static str| {
        let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Missing {
                what,
                variable,
                path,
            })
        }
    };
    Ok((
        find("GITVIEW_CHROMIUM", DEBIAN_CHROMIUM, "Chromium")?,
        find("GITVIEW_CHROMEDRIVER", DEBIAN_CHROMEDRIVER, "chromedriver")?,
    ))
}

/// How to start a [`Browser`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Names the folder screenshots and the console transcript go to.
    pub name: String,
    /// No network at all (see the crate's doc).
    pub offline: bool,
}

/// One entry of the browser's console, as chromedriver reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// `console-api`, `javascript`, `network`, `security`, …
    #[serde(default)]
    pub source: String,
    pub message: String,
}

impl LogEntry {
    /// An error, or a Content-Security-Policy violation at any level.
    pub fn is_problem(&self) -> bool {
        self.level == "SEVERE" || self.message.contains("Content Security Policy")
    }
}

/// A headless Chromium session; ends with [`Browser::close`] (or, after a failed test, when
/// dropped).
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Child,
    addr: SocketAddr,
    session: Option<String>,
    artifacts: PathBuf,
    shots: AtomicUsize,
    _profile: tempfile::TempDir,
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::Io {
            what: "a loopback port".into(),
            source,
        })
}

/// `<target dir>/test-artifacts/browser`: `CARGO_TARGET_DIR`, else the target folder the test
/// binary runs from (`target/debug/deps/…`).
pub fn artifacts_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        })
        .unwrap_or_else(std::env::temp_dir);
    target.join("test-artifacts").join("browser")
}

/// chromedriver's log endpoint (not in the W3C protocol, so not in fantoccini).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

impl Browser {
    /// chromedriver on a free port and a headless Chromium session with a fresh profile.
    pub async fn start(options: Options) -> Result<Self, Error> {
        let (chromium, chromedriver) = binaries()?;
        let artifacts = artifacts_root().join(&options.name);
        let _ = std::fs::remove_dir_all(&artifacts);
        std::fs::create_dir_all(&artifacts).map_err(|source| Error::Io {
            what: format!("the artifacts folder {}", artifacts.display()),
            source,
        })?;
        let profile = tempfile::tempdir().map_err(|source| Error::Io {
            what: "a browser profile".into(),
            source,
        })?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(artifacts.join("chromedriver.log")).map_err(|source| {
            Error::Io {
                what: "chromedriver's log".into(),
                source,
            }
        })?;
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|source| Error::Io {
                what: "chromedriver's log".into(),
                source,
            })?)
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Io {
                what: chromedriver.display().to_string(),
                source,
            })?;
        // Ready when it accepts connections (or failed when it exited).
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                return Err(Error::DriverNotReady {
                    addr,
                    exited: format!(" (it exited: {status})"),
                });
            }
            if started.elapsed() > DEADLINE {
                let _ = driver.kill();
                return Err(Error::DriverNotReady {
                    addr,
                    exited: String::new(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            // Without these, Chromium's own background requests on this machine get
            // connections refused many at a time.
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if options.offline {
            args.push(format!("--proxy-server=http://127.0.0.1:{}", free_port()?));
            args.push("--proxy-bypass-list=<-loopback>".into());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        capabilities.insert("unhandledPromptBehavior".into(), json!("ignore"));
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&format!("http://{addr}"))
        .await;
        let client = match client {
            Ok(client) => client,
            Err(err) => {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(Box::new(err).into());
            }
        };
        let session = client.session_id().await.map_err(Box::new)?;
        Ok(Self {
            client,
            driver,
            addr,
            session,
            artifacts,
            shots: AtomicUsize::new(0),
            _profile: profile,
        })
    }

    /// [`Browser::start`] for a test: fails it with what is missing or went wrong, and what to
    /// do about it.
    pub async fn launch(options: Options) -> Self {
        Self::start(options)
            .await
            .unwrap_or_else(|err| panic!("no headless Chromium: {err}"))
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where this browser's screenshots and console transcript go.
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// Navigates to `url` and waits for the document to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("navigating to {url}: {err}"));
    }

    /// The value of `script`, run as a function body in the current frame (`return …`).
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("running {script}: {err}"))
    }

    /// Polls `script` (a function body returning a value) until its value is truthy; the
    /// value. Panics naming `what` when it is not within [`DEADLINE`].
    pub async fn wait_until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > DEADLINE {
                let at = self
                    .client
                    .execute(
                        "return [location.href, document.body ? document.body.innerText.slice(0, 300) : '']",
                        Vec::new(),
                    )
                    .await
                    .unwrap_or_default();
                panic!("{what}: not within {DEADLINE:?} (last value {value}; the page: {at})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrolls the element `#id` of the current frame by `step` pixels a frame for `frames`
    /// frames, from the scroll position `from` (a script expression over `box`, the element):
    /// the time between frames, and the time the page's own frame callbacks took with the style
    /// and layout they caused, each sorted (milliseconds). `step` 0 is the idle reference.
    pub async fn scroll_frames(&self, id: &str, from: &str, step: u32, frames: u32) -> FrameTimes {
        let measured = self
            .client
            .execute_async(
                &format!(
                    "var done = arguments[arguments.length - 1];
                     var box = document.getElementById('{id}');
                     box.scrollTop = {from};
                     var raf = window.requestAnimationFrame, work = [];
                     window.requestAnimationFrame = function (fn) {{
                       return raf.call(window, function (t) {{
                         var s = performance.now(); fn(t); void document.body.offsetHeight;
                         work.push(performance.now() - s);
                       }});
                     }};
                     var times = [], last = null, left = {frames};
                     function step(t) {{
                       if (last !== null) {{ times.push(t - last); }}
                       last = t;
                       if (left-- === 0) {{ window.requestAnimationFrame = raf; done([times, work]); return; }}
                       box.scrollTop += {step};
                       raf.call(window, step);
                     }}
                     raf.call(window, function (t) {{ last = null; raf.call(window, step); }});"
                ),
                Vec::new(),
            )
            .await
            .unwrap_or_else(|err| panic!("scrolling #{id}: {err}"));
        let sorted = |list: &Value| {
            let mut list: Vec<f64> = list
                .as_array()
                .map(|l| l.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            list.sort_by(f64::total_cmp);
            list
        };
        FrameTimes {
            between: sorted(&measured[0]),
            work: sorted(&measured[1]),
        }
    }

    /// Clicks the element `css` finds in the current frame.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("finding {css}: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("clicking {css}: {err}"));
    }

    /// Saves a screenshot of the window as `NN-name.png` in [`Browser::artifacts`].
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|err| panic!("screenshot {name}: {err}"));
        let n = self.shots.fetch_add(1, Ordering::Relaxed) + 1;
        let path = self.artifacts.join(format!("{n:02}-{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        path
    }

    /// The console entries since the last call (chromedriver hands each entry out once); they
    /// are also appended to `console.log` in [`Browser::artifacts`].
    pub async fn console(&self) -> Vec<LogEntry> {
        let value = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|err| panic!("reading the browser's console: {err}"));
        let entries: Vec<LogEntry> = serde_json::from_value(value)
            .unwrap_or_else(|err| panic!("the browser's console as chromedriver sends it: {err}"));
        if !entries.is_empty() {
            let text: String = entries
                .iter()
                .map(|e| format!("{} {} {}\n", e.level, e.source, e.message))
                .collect();
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.artifacts.join("console.log"))
            {
                let _ = file.write_all(text.as_bytes());
            }
        }
        entries
    }

    /// Fails naming `page` if an alert is open (a script the page should not run fired it).
    pub async fn assert_no_alert(&self, page: &str) {
        if let Ok(text) = self.client.get_alert_text().await {
            panic!("{page}: an alert fired: {text:?}");
        }
    }

    /// Fails naming `page` on any console error or Content-Security-Policy violation since the
    /// last check, or an open alert.
    pub async fn assert_clean(&self, page: &str) {
        self.assert_no_alert(page).await;
        let problems: Vec<LogEntry> = self
            .console()
            .await
            .into_iter()
            .filter(LogEntry::is_problem)
            .collect();
        assert!(
            problems.is_empty(),
            "{page}: console errors or CSP violations: {problems:#?}"
        );
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.session = None;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// After a failed test: ends the session so Chromium quits with it, then chromedriver.
    fn drop(&mut self) {
        if let Some(session) = self.session.take()
            && let Ok(mut stream) = TcpStream::connect(self.addr)
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{session} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.addr
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_policy_violations_are_problems() {
        let entries: Vec<LogEntry> = serde_json::from_value(json!([
            {"level": "SEVERE", "source": "javascript", "message": "file:///x.html 12:3 Uncaught TypeError: x is null", "timestamp": 1},
            {"level": "WARNING", "source": "security", "message": "Refused to load the image 'x' because it violates the following Content Security Policy directive: \"default-src 'none'\".", "timestamp": 2},
            {"level": "INFO", "source": "console-api", "message": "hello", "timestamp": 3}
        ]))
        .expect("chromedriver's log entries");
        let problems: Vec<bool> = entries.iter().map(LogEntry::is_problem).collect();
        assert_eq!(problems, [true, true, false]);
    }

    #[test]
    fn a_missing_binary_is_named_with_what_to_do() {
        let err = Error::Missing {
            what: "chromedriver",
            variable: "GITVIEW_CHROMEDRIVER",
            path: PathBuf::from(DEBIAN_CHROMEDRIVER),
        }
        .to_string();
        assert!(
            err.contains("chromedriver is missing at /usr/bin/chromedriver"),
            "{err}"
        );
        assert!(
            err.contains("GITVIEW_CHROMEDRIVER") && err.contains("chromium-driver"),
            "{err}"
        );
    }
}

/// What [`Browser::scroll_frames`] measured, each list sorted (milliseconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameTimes {
    /// Between consecutive frames.
    pub between: Vec<f64>,
    /// The page's own frame callbacks, with the style and layout they caused.
    pub work: Vec<f64>,
}

impl FrameTimes {
    /// The `q` quantile of `list` (0 when empty).
    fn at(list: &[f64], q: f64) -> f64 {
        list.get(((list.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// One line: frames, their p50/p95/max, how many were over a 60 Hz frame (with 0.5 ms of
    /// timer jitter: an idle page's frames are 16.6 to 16.8 ms apart) and over 25 ms (a
    /// dropped frame), then the page's drawing.
    pub fn summary(&self) -> String {
        let over = |ms: f64| self.between.iter().filter(|t| **t > ms).count();
        format!(
            "{} frames, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, {} over 16.7 ms, {} over 25 ms (a dropped frame at 60 Hz); the page's drawing: {} frame callbacks, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            self.between.len(),
            Self::at(&self.between, 0.5),
            Self::at(&self.between, 0.95),
            Self::at(&self.between, 1.0),
            over(1000.0 / 60.0 + 0.5),
            over(1000.0 / 60.0 * 1.5),
            self.work.len(),
            Self::at(&self.work, 0.5),
            Self::at(&self.work, 0.95),
            Self::at(&self.work, 1.0),
        )
    }
}
