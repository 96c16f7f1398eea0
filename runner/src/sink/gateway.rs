//! The gateway client, and the [`Sink`] that writes a pod run's results through it.
//!
//! Every call carries the attempt's token. Transient failures (connection errors, 429, 5xx)
//! are retried with backoff a few times; every route is idempotent (batches are numbered, the
//! start and finish of an attempt may be repeated), so a retry never stores anything twice.
//! What the gateway refuses for good (400, 403, 404, 413, 422) is [`SinkError::Rejected`];
//! 401 (an expired token), 409 (another run advanced the repository first) and the transient
//! failures end the attempt as retryable: the next attempt gets a new token and starts from
//! the repository's new state.

use std::time::Duration;

use gitview_core::results::{
    Advance, BatchStored, CommitBatch, CommitUpload, ErrorBody, FinishRun, LogBatch, LogLine,
    LogsStored, MAX_SUMMARY_LOOKUP, ProgressEvent, RunFinished, RunStarted, RunStatus,
    SCRUBBED_HEADER, StartRun, SummariesFound, SummaryLookup,
};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;

use crate::analysis_json::AnalysisSummary;
use crate::sink::history::EarlierCommit;
use crate::story::PhaseRecord;
use crate::summarize::{CacheError, Summary, SummaryCache};

use super::history::read_history;
use super::runlog::{LOCAL_TARGET, MAX_LOG_LINES, RunLog};
use super::{EnrichedCommit, Progress, RunInfo, Sink, SinkError};

/// Tries per request, the first included.
const TRIES: u32 = 4;
/// About the most message and field bytes one log batch carries (besides its line limit).
const LOG_BATCH_BYTES: usize = 2 << 20;

/// Talks to the gateway for one attempt of one analysis. Clones share one connection pool.
#[derive(Clone)]
pub struct GatewayClient {
    client: Client,
    base: String,
    analysis: String,
    token: String,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("GatewayClient")
            .field("base", &self.base)
            .field("analysis", &self.analysis)
            .finish_non_exhaustive()
    }
}

impl GatewayClient {
    /// A client for `analysis` at the gateway's base URL.
    pub fn new(base_url: &str, analysis: &str, token: &str) -> Result<Self, SinkError> {
        gitview_git::tls::install_crypto_provider();
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("gitview-runner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| {
                SinkError::Unavailable(format!("cannot build the HTTP client: {err}"))
            })?;
        Ok(Self {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            analysis: analysis.to_owned(),
            token: token.trim().to_owned(),
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v1/runs/{}/{tail}", self.base, self.analysis)
    }

    /// Posts a progress event. Progress is advisory: a lost event is logged, and never fails
    /// the run.
    pub fn progress(&self, progress: &Progress) {
        let event = ProgressEvent {
            stage: progress.stage.as_str().to_owned(),
            done: progress.done,
            total: progress.total,
            elapsed_ms: progress.elapsed_ms,
        };
        let posted = self.call::<serde_json::Value>("progress", || {
            self.client.post(self.url("progress")).json(&event)
        });
        if let Err(err) = posted {
            tracing::warn!(error = %err, "progress not recorded");
        }
    }

    /// Sends a request (rebuilt for each try) and reads the answer; `None` for 204.
    fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Option<T>, SinkError> {
        let response = self.send(what, build)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        response
            .json::<T>()
            .map(Some)
            .map_err(|err| SinkError::Unavailable(format!("{what}: unreadable answer: {err}")))
    }

    /// Sends a request (rebuilt for each try) until it is answered with success, retrying
    /// what is transient; the answer's body is the caller's to read.
    fn send(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response, SinkError> {
        let mut delay = Duration::from_millis(250);
        for try_ in 1..=TRIES {
            let last = try_ == TRIES;
            let outcome = build().bearer_auth(&self.token).send();
            let response = match outcome {
                Ok(response) => response,
                Err(err) if !last => {
                    tracing::warn!(what, error = %err, try_, "gateway unreachable; retrying");
                    std::thread::sleep(delay);
                    delay *= 2;
                    continue;
                }
                Err(err) => return Err(SinkError::Unavailable(format!("{what}: {err}"))),
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if transient && !last {
                tracing::warn!(
                    what,
                    status = status.as_u16(),
                    try_,
                    "gateway answered a transient failure; retrying"
                );
                std::thread::sleep(delay);
                delay *= 2;
                continue;
            }
            let message = response.json::<ErrorBody>().map_or_else(
                |_| status.to_string(),
                |body| {
                    format!(
                        "{} ({}, request {})",
                        body.message, body.code, body.request_id
                    )
                },
            );
            let message = format!("{what}: gateway answered {}: {message}", status.as_u16());
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::CONFLICT | StatusCode::REQUEST_TIMEOUT => {
                    SinkError::Unavailable(message)
                }
                status if transient || status.is_server_error() => SinkError::Unavailable(message),
                _ => SinkError::Rejected(message),
            });
        }
        Err(SinkError::Unavailable(format!("{what}: no answer")))
    }

    /// Starts (or resumes) the analysis; says where the repository's history stands.
    pub fn start(&self, body: &StartRun) -> Result<RunStarted, SinkError> {
        self.call("start", || self.client.post(self.url("start")).json(body))?
            .ok_or_else(|| SinkError::Unavailable("start: empty answer".into()))
    }

    /// Stores one numbered batch of commits.
    pub fn commits(&self, batch: &CommitBatch) -> Result<BatchStored, SinkError> {
        self.call("commits", || {
            self.client.post(self.url("commits")).json(batch)
        })?
        .ok_or_else(|| SinkError::Unavailable("commits: empty answer".into()))
    }

    /// Ends the run.
    pub fn finish(&self, body: &FinishRun) -> Result<RunFinished, SinkError> {
        self.call("finish", || self.client.post(self.url("finish")).json(body))?
            .ok_or_else(|| SinkError::Unavailable("finish: empty answer".into()))
    }

    /// Stores one batch of the attempt's log lines (at most [`MAX_LOG_LINES`]).
    pub fn logs(&self, batch: &LogBatch) -> Result<LogsStored, SinkError> {
        self.call("logs", || self.client.post(self.url("logs")).json(batch))?
            .ok_or_else(|| SinkError::Unavailable("logs: empty answer".into()))
    }

    /// Ships the run log's unshipped lines in batches of at most [`MAX_LOG_LINES`]. Never
    /// fails the run: when a batch is not taken, says so on stderr only and switches the run
    /// log off (its lines stay on stderr).
    pub fn ship_logs(&self, log: &RunLog) {
        if !log.is_on() {
            return;
        }
        let lines = log.drain();
        let mut rest = lines.as_slice();
        while !rest.is_empty() {
            let take = batch_len(rest);
            let batch = LogBatch {
                lines: rest[..take].to_vec(),
            };
            if let Err(err) = self.logs(&batch) {
                log.switch_off();
                tracing::warn!(
                    target: LOCAL_TARGET,
                    error = %err,
                    lost = rest.len(),
                    "the run log could not be shipped to the gateway; from now on it is on stderr only"
                );
                return;
            }
            rest = &rest[take..];
        }
    }

    /// Every commit the repository already has in the gateway, oldest first, from one stream
    /// (`GET /v1/runs/{analysis}/history/stream`), each with its stored enrichment where that
    /// still reads. The request is retried as every call is; a stream that breaks off or
    /// lacks its end line ([`read_history`]) ends the attempt as retryable.
    ///
    /// Also answers whether the gateway says they come scrubbed ([`SCRUBBED_HEADER`]; a
    /// gateway that does not say is taken not to have).
    pub fn stored_history(&self) -> Result<(Vec<EarlierCommit>, bool), SinkError> {
        let response = self.send("history", || self.client.get(self.url("history/stream")))?;
        let scrubbed = response
            .headers()
            .get(SCRUBBED_HEADER)
            .is_some_and(|value| value.as_bytes() == b"true");
        let commits = read_history(std::io::BufReader::with_capacity(1 << 20, response))
            .map_err(|err| SinkError::Unavailable(format!("history: {err}")))?;
        Ok((commits, scrubbed))
    }

    /// The account's cached summaries among `keys` (asked in groups of
    /// [`MAX_SUMMARY_LOOKUP`]).
    pub fn lookup_summaries(
        &self,
        keys: &[String],
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, SinkError> {
        let mut found = std::collections::BTreeMap::new();
        for group in keys.chunks(MAX_SUMMARY_LOOKUP) {
            let body = SummaryLookup {
                keys: group.to_vec(),
            };
            let answer: SummariesFound = self
                .call("summaries", || {
                    self.client.post(self.url("summaries/lookup")).json(&body)
                })?
                .ok_or_else(|| SinkError::Unavailable("summaries: empty answer".into()))?;
            found.extend(answer.summaries);
        }
        Ok(found)
    }

    /// Stores a summary in the account's cache.
    pub fn put_summary(&self, key: &str, summary: &serde_json::Value) -> Result<(), SinkError> {
        self.put_json(&format!("summaries/{key}"), summary)
    }

    fn put_json(&self, tail: &str, body: &serde_json::Value) -> Result<(), SinkError> {
        self.call::<serde_json::Value>(tail, || self.client.put(self.url(tail)).json(body))
            .map(drop)
    }
}

/// The account's summary cache in the gateway, so a run in a pod finds the summaries any
/// earlier run of the account made: the keys of a run's chunks are looked up at once
/// ([`SummaryCache::prefetch`]), the rest one by one; a summary that no longer reads is a miss.
#[derive(Debug)]
pub struct GatewayCache<'c> {
    client: &'c GatewayClient,
    found: std::collections::HashMap<String, serde_json::Value>,
    /// Keys asked for already (found or not).
    asked: std::collections::HashSet<String>,
}

impl<'c> GatewayCache<'c> {
    pub fn new(client: &'c GatewayClient) -> Self {
        Self {
            client,
            found: std::collections::HashMap::new(),
            asked: std::collections::HashSet::new(),
        }
    }
}

fn cache_error(err: SinkError) -> CacheError {
    CacheError::Gateway(err.to_string())
}

impl SummaryCache for GatewayCache<'_> {
    fn prefetch(&mut self, keys: &[String]) -> Result<(), CacheError> {
        let new: Vec<String> = keys
            .iter()
            .filter(|k| !self.asked.contains(*k))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let found = self.client.lookup_summaries(&new).map_err(cache_error)?;
        self.asked.extend(new);
        self.found.extend(found);
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<Option<Summary>, CacheError> {
        if !self.asked.contains(key) {
            self.prefetch(&[key.to_owned()])?;
        }
        Ok(self
            .found
            .get(key)
            .and_then(|value| serde_json::from_value(value.clone()).ok()))
    }

    fn put(&mut self, key: &str, summary: &Summary) -> Result<(), CacheError> {
        let value = serde_json::to_value(summary)
            .map_err(|err| CacheError::Gateway(format!("summary {key}: {err}")))?;
        self.client.put_summary(key, &value).map_err(cache_error)?;
        self.asked.insert(key.to_owned());
        self.found.insert(key.to_owned(), value);
        Ok(())
    }
}

/// How many of `lines` (at least one) go in the next batch: at most [`MAX_LOG_LINES`], and
/// about [`LOG_BATCH_BYTES`] of text.
fn batch_len(lines: &[LogLine]) -> usize {
    let mut bytes = 0;
    let mut take = 0;
    for line in lines.iter().take(MAX_LOG_LINES) {
        bytes += line.message.len() + line.fields.to_string().len() + 64;
        if take > 0 && bytes > LOG_BATCH_BYTES {
            break;
        }
        take += 1;
    }
    take.max(1)
}

/// Writes a pod run's results through the gateway.
#[derive(Debug)]
pub struct GatewaySink<'c> {
    client: &'c GatewayClient,
    /// Where the repository's history stood when the run started (the compare-and-set's
    /// expected value), and whether a successful run advances it.
    expected: Option<String>,
    advances: bool,
    /// The run log, shipped at every progress report and before the finish.
    log: Option<RunLog>,
    /// What the gateway stored, for the outcome.
    pub inserted: u64,
    pub finished: Option<RunFinished>,
}

impl<'c> GatewaySink<'c> {
    /// `expected`: [`RunStarted::last_analyzed_commit`]; `advances`: full and incremental runs
    /// move the repository's last analyzed commit, ranges do not.
    pub fn new(client: &'c GatewayClient, expected: Option<String>, advances: bool) -> Self {
        Self {
            client,
            expected,
            advances,
            log: None,
            inserted: 0,
            finished: None,
        }
    }

    /// Ships `log` at stage boundaries (every progress report) and before the finish.
    #[must_use]
    pub fn with_log(mut self, log: RunLog) -> Self {
        self.log = Some(log);
        self
    }

    fn ship_logs(&self) {
        if let Some(log) = &self.log {
            self.client.ship_logs(log);
        }
    }
}

impl Sink for GatewaySink<'_> {
    fn begin(&mut self, run: &RunInfo) -> Result<(), SinkError> {
        tracing::info!(commits = run.total_commits, "writing to the gateway");
        Ok(())
    }

    fn commits(&mut self, batch: u64, commits: &[EnrichedCommit]) -> Result<(), SinkError> {
        let body = CommitBatch {
            batch,
            commits: commits
                .iter()
                .map(|commit| {
                    Ok(CommitUpload {
                        record: commit.record.clone(),
                        enrichment: serde_json::to_value(&commit.enrichment)
                            .map_err(|err| SinkError::Rejected(format!("enrichment: {err}")))?,
                    })
                })
                .collect::<Result<_, SinkError>>()?,
        };
        let stored = self.client.commits(&body)?;
        self.inserted += stored.inserted;
        Ok(())
    }

    fn phases(&mut self, phases: &[PhaseRecord]) -> Result<(), SinkError> {
        let body = serde_json::to_value(phases)
            .map_err(|err| SinkError::Rejected(format!("phases: {err}")))?;
        self.client.put_json("phases", &body)
    }

    fn artifact(&mut self, name: &str, media_type: &str, bytes: &[u8]) -> Result<(), SinkError> {
        let tail = format!("artifacts/{name}");
        self.client
            .call::<serde_json::Value>(&tail, || {
                self.client
                    .client
                    .put(self.client.url(&tail))
                    .header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(bytes.to_vec())
            })
            .map(drop)
    }

    fn progress(&mut self, progress: &Progress) -> Result<(), SinkError> {
        self.client.progress(progress);
        self.ship_logs();
        Ok(())
    }

    fn finish(&mut self, summary: &AnalysisSummary) -> Result<(), SinkError> {
        let to = summary.config.until_commit.clone();
        let body = FinishRun {
            status: RunStatus::Succeeded,
            message: format!("analyzed {} commits", summary.counts.commits),
            from_commit: summary.config.since_commit.clone(),
            to_commit: Some(to.clone()),
            commits_analyzed: summary.counts.commits,
            metrics: serde_json::to_value(summary)
                .map_err(|err| SinkError::Rejected(err.to_string()))?,
            model_versions: serde_json::to_value(summary.model_versions())
                .map_err(|err| SinkError::Rejected(err.to_string()))?,
            advance: self.advances.then(|| Advance {
                expected: self.expected.clone(),
                to,
            }),
        };
        self.ship_logs();
        self.finished = Some(self.client.finish(&body)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gitview_core::results::LogLevel;

    use super::*;

    fn line(seq: u64, bytes: usize) -> LogLine {
        LogLine {
            seq,
            at: "2024-05-01T09:30:00Z".into(),
            level: LogLevel::Info,
            message: "x".repeat(bytes),
            fields: serde_json::json!({}),
        }
    }

    #[test]
    fn log_batches_keep_to_the_line_limit_and_about_the_byte_budget() {
        let many: Vec<LogLine> = (0..2500).map(|seq| line(seq, 10)).collect();
        assert_eq!(batch_len(&many), MAX_LOG_LINES);
        assert_eq!(batch_len(&many[2000..]), 500);
        let big: Vec<LogLine> = (0..400).map(|seq| line(seq, 16 * 1024)).collect();
        let take = batch_len(&big);
        assert!(take < 400 && take * 16 * 1024 <= LOG_BATCH_BYTES, "{take}");
        assert_eq!(batch_len(&big[..1]), 1);
    }
}
