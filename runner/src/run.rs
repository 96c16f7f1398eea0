//! `gitview-runner run`: the pod face. One attempt of one Analysis.
//!
//! Reads the [`RunConfig`] the operator mounted (`$GITVIEW_RUN_DIR/run.json`, default
//! [`RUN_SECRET_MOUNT_PATH`]), validates it, and — always, whatever happens — leaves one JSON
//! [`RunOutcome`] line in the termination-message file (`$GITVIEW_TERMINATION_LOG`, default
//! `/dev/termination-log`) for the operator to copy into the Analysis status.
//!
//! An attempt: start the analysis in the gateway (which says where the repository's history
//! stands) → fetch what the mode needs into the scratch volume (everything for `Full`; since
//! the last analyzed commit for `Incremental`; since `mode.since` for `Range`) → the
//! [`pipeline`](crate::pipeline) → write through the gateway ([`crate::sink::gateway`]) → finish,
//! advancing the repository's last analyzed commit by compare-and-set (`Full` and
//! `Incremental` only). A failure after the start is recorded in the gateway as a failed run.
//! Summaries are not cached across runs yet (the gateway has no summary cache).
//!
//! Exit codes: [`EXIT_SUCCESS`]; [`EXIT_INVALID_INPUT`] for input no retry can fix (missing or
//! malformed config, unsupported version, a refused URL or revision, an unknown repository or
//! ref, refused credentials, data the gateway refuses); 1 for everything else (the gateway or
//! the git host unreachable, another run advanced the repository first, an expired token).
//!
//! **Test hook**: with `GITVIEW_RUNNER_TEST_EXIT=<code>` set, `run` writes an outcome saying so
//! and exits with `<code>` at once, without reading the config. It exists so end-to-end tests
//! can drive the operator's retry logic; nothing sets it in production.

use std::path::{Path, PathBuf};

use gitview_crds::wire::{
    EXIT_INVALID_INPUT, EXIT_SUCCESS, RUN_CONFIG_VERSION, RUN_SECRET_MOUNT_PATH, RunConfig,
    RunOutcome, SCRATCH_MOUNT_PATH, keys,
};

use gitview_core::remote::{RepositoryUrl, redact};
use gitview_core::results::{FinishRun, RunStarted, RunStatus, StartRun};
use gitview_crds::v1alpha1::ModeType;

use crate::extract::{self, ExtractError};
use crate::pipeline::{PipelineOptions, Source, run_pipeline};
use crate::sink::gateway::{GatewayClient, GatewaySink};
use crate::sink::runlog::RunLog;
use crate::sink::{Progress, Stage};
use crate::summarize;
use gitview_git::fetch::{self, Credentials, FetchRequest, History};

/// Directory holding the run config (and, beside it, the credentials).
pub const RUN_DIR_ENV: &str = "GITVIEW_RUN_DIR";
/// Scratch directory for the clone.
pub const SCRATCH_ENV: &str = "GITVIEW_SCRATCH";
/// Where the termination message goes.
pub const TERMINATION_LOG_ENV: &str = "GITVIEW_TERMINATION_LOG";
/// Test hook: exit with this code right away (see the module docs).
pub const TEST_EXIT_ENV: &str = "GITVIEW_RUNNER_TEST_EXIT";
/// Kubernetes' default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";
/// The kubelet keeps at most this many bytes of a termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;
/// Exit code of retryable failures.
pub const EXIT_RETRYABLE: i32 = 1;

/// Where a run finds its inputs and leaves its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnv {
    pub run_dir: PathBuf,
    pub scratch: PathBuf,
    pub termination_log: PathBuf,
    /// A tracker's clone kept between runs ([`crate::clone_cache`]), when the operator
    /// mounted one.
    pub clone_cache: Option<crate::clone_cache::CloneCache>,
    /// The raw value of [`TEST_EXIT_ENV`], if set.
    pub test_exit: Option<String>,
}

impl RunEnv {
    /// From the process environment, with the pod's defaults.
    pub fn from_env() -> Self {
        let path = |name: &str, default: &str| {
            std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            run_dir: path(RUN_DIR_ENV, RUN_SECRET_MOUNT_PATH),
            scratch: path(SCRATCH_ENV, SCRATCH_MOUNT_PATH),
            termination_log: path(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG),
            clone_cache: crate::clone_cache::CloneCache::from_env(),
            test_exit: std::env::var(TEST_EXIT_ENV).ok(),
        }
    }
}

/// Errors of `gitview-runner run`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the run config {path:?}")]
    ConfigUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid run config {path:?}")]
    ConfigInvalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("unsupported run config version {found} (this runner reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("invalid repository URL: {0}")]
    InvalidUrl(#[from] gitview_core::remote::UrlError),
    #[error("invalid revision {rev:?} in {field}: {reason}")]
    InvalidRevision {
        field: &'static str,
        rev: String,
        reason: &'static str,
    },
    #[error("invalid test exit code {0:?} in GITVIEW_RUNNER_TEST_EXIT")]
    InvalidTestExit(String),
    #[error("cannot read the gateway token {path:?}")]
    TokenUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Summarizer(#[from] summarize::SummarizeError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

impl RunError {
    /// True when retrying cannot help: the input itself is wrong.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Sink(err) => !err.is_retryable(),
            Self::Fetch(err) => err.is_invalid_input(),
            Self::Extract(err) => err.is_invalid_input(),
            Self::Summarizer(err) => !err.is_retryable(),
            Self::Pipeline(err) => err.is_invalid_input(),
            // A missing token is the operator's to fix; the next attempt mounts a new one.
            Self::TokenUnreadable { .. } => false,
            _ => true,
        }
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub code: i32,
    pub outcome: RunOutcome,
}

impl Finished {
    fn failed(err: &RunError) -> Self {
        let code = if err.is_invalid_input() {
            EXIT_INVALID_INPUT
        } else {
            EXIT_RETRYABLE
        };
        Self {
            code,
            outcome: RunOutcome {
                message: error_chain(err),
                ..RunOutcome::default()
            },
        }
    }
}

/// Runs one attempt, writes its termination message, and returns the exit code. Ships no
/// run log (see [`run_with_log`]).
pub fn run(env: &RunEnv) -> i32 {
    run_with_log(env, &RunLog::off())
}

/// Runs one attempt, writes its termination message, and returns the exit code. What `log`
/// recorded is shipped to the gateway's logs route at stage boundaries and once at the end,
/// success or failure, once the gateway client exists; a failure to ship never fails the run.
pub fn run_with_log(env: &RunEnv, log: &RunLog) -> i32 {
    let (finished, client) = attempt_logged(env, log);
    match finished.code {
        // `outcome`, not `message`: that is the event's own (JSON would hold two).
        EXIT_SUCCESS => tracing::info!(outcome = %finished.outcome.message, "run finished"),
        code => tracing::error!(code, outcome = %finished.outcome.message, "run failed"),
    }
    if let Some(client) = client {
        client.ship_logs(log);
    }
    if let Err(err) = write_termination_message(&env.termination_log, &finished.outcome) {
        tracing::error!(path = %env.termination_log.display(), error = %err, "could not write the termination message");
    }
    finished.code
}

/// Runs one attempt and says how it ended, without writing anything.
pub fn attempt(env: &RunEnv) -> Finished {
    attempt_logged(env, &RunLog::off()).0
}

/// [`attempt`], shipping `log` through the gateway client, which it returns (when it got as
/// far as making one) for the last lines.
fn attempt_logged(env: &RunEnv, log: &RunLog) -> (Finished, Option<GatewayClient>) {
    if let Some(raw) = &env.test_exit {
        return (test_exit(raw), None);
    }
    let mut client = None;
    let finished = match attempt_inner(env, log, &mut client) {
        Ok(finished) => finished,
        Err(err) => Finished::failed(&err),
    };
    (finished, client)
}

fn attempt_inner(
    env: &RunEnv,
    log: &RunLog,
    client_slot: &mut Option<GatewayClient>,
) -> Result<Finished, RunError> {
    let config = load_config(&env.run_dir)?;
    validate(&config)?;
    tracing::info!(
        namespace = %config.analysis.namespace,
        analysis = %config.analysis.name,
        attempt = config.attempt,
        repository = %redact(&config.repository.url),
        git_ref = ?config.repository.git_ref,
        mode = ?config.mode.kind,
        scratch = %env.scratch.display(),
        "run config accepted"
    );
    let token_path = env.run_dir.join(keys::TOKEN);
    let token =
        std::fs::read_to_string(&token_path).map_err(|source| RunError::TokenUnreadable {
            path: token_path,
            source,
        })?;
    let client: &GatewayClient = client_slot.insert(GatewayClient::new(
        &config.gateway_url,
        &config.analysis.uid,
        &token,
    )?);
    let branch = config
        .repository
        .git_ref
        .clone()
        .unwrap_or_else(|| "HEAD".to_owned());
    // The gateway learns the repository by its canonical URL only: no user name or token the
    // spec's URL may hold leaves the pod, in the URL or in the recorded config.
    let repository = RepositoryUrl::parse(&config.repository.url)?;
    let mut recorded = config.clone();
    recorded.repository.url = repository.to_string();
    let started = client.start(&StartRun {
        namespace: config.analysis.namespace.clone(),
        name: config.analysis.name.clone(),
        attempt: config.attempt,
        repository_url: repository.to_string(),
        branch,
        mode: mode_name(config.mode.kind).to_owned(),
        config: serde_json::to_value(&recorded).unwrap_or_default(),
    })?;
    match analyze_into_gateway(env, &config, client, log, &started) {
        Ok(outcome) => Ok(Finished {
            code: EXIT_SUCCESS,
            outcome,
        }),
        Err(err) => {
            // Record the failure; the attempt's outcome stays the original error either way.
            let failed = FinishRun {
                status: RunStatus::Failed,
                message: error_chain(&err),
                from_commit: None,
                to_commit: None,
                commits_analyzed: 0,
                metrics: serde_json::Value::Null,
                model_versions: serde_json::Value::Null,
                advance: None,
            };
            if let Err(finish_err) = client.finish(&failed) {
                tracing::warn!(error = %finish_err, "could not record the failure in the gateway");
            }
            Err(err)
        }
    }
}

fn mode_name(kind: ModeType) -> &'static str {
    match kind {
        ModeType::Full => "Full",
        ModeType::Incremental => "Incremental",
        ModeType::Range => "Range",
    }
}

/// Fetches the history the mode needs into the scratch volume, runs the pipeline and writes
/// through the gateway.
fn analyze_into_gateway(
    env: &RunEnv,
    config: &RunConfig,
    client: &GatewayClient,
    log: &RunLog,
    started: &RunStarted,
) -> Result<RunOutcome, RunError> {
    let began = std::time::Instant::now();
    // Every connection the run makes for its tenant is checked against the profile's policy.
    let egress = gitview_egress::Policy::new(config.egress.allow_link_local);
    let since = match config.mode.kind {
        ModeType::Full => None,
        ModeType::Range => config.mode.since.clone(),
        ModeType::Incremental => started.last_analyzed_commit.clone(),
    };
    // A tracker's clone from its earlier runs, when mounted and free; else a fresh clone.
    let scratch_clone = env.scratch.join("repo.git");
    let cached =
        env.clone_cache
            .as_ref()
            .and_then(|cache| match cache.checkout(&config.repository.url) {
                Ok(cached) => {
                    if cached.is_none() {
                        tracing::info!("the cached clone is in use by another run: cloning afresh");
                    }
                    cached
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the clone cache cannot be used: cloning afresh");
                    None
                }
            });
    let mut request = FetchRequest::new(
        &config.repository.url,
        cached
            .as_ref()
            .map_or_else(|| scratch_clone.clone(), |cached| cached.path.clone()),
    );
    request.git_ref.clone_from(&config.repository.git_ref);
    request.history = History::for_since(since.as_deref());
    request.credentials = Credentials::from_dir(&env.run_dir)?;
    request.egress = Some(egress);
    // The fetch is the first stage `kubectl get an` shows: it starts at 0/0, moves with the
    // objects received and indexed (sampled about once a second), and ends at the objects the
    // fetch brought.
    let elapsed_ms = move || u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    let fetch_progress = |done, total| Progress {
        stage: Stage::Fetch,
        done,
        total,
        elapsed_ms: elapsed_ms(),
    };
    client.progress(&fetch_progress(0, 0));
    let reporting = client.clone();
    request.on_progress = Some(fetch::ProgressHook::new(move |sample| {
        if let Some(total) = sample.total {
            reporting.progress(&Progress {
                stage: Stage::Fetch,
                done: sample.done,
                total,
                elapsed_ms: elapsed_ms(),
            });
        }
    }));
    // An incremental run tells the whole history: what earlier runs stored, read from the
    // gateway while the fetch runs.
    let incremental = config.mode.kind == ModeType::Incremental && since.is_some();
    let (fetched, earlier) = std::thread::scope(|scope| {
        let reading = incremental.then(|| {
            let client = client.clone();
            scope.spawn(move || {
                let reading = std::time::Instant::now();
                let earlier = crate::earlier::from_gateway(&client)?;
                tracing::info!(
                    commits = earlier.commits.len(),
                    ms = u64::try_from(reading.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "read the repository's stored history from the gateway"
                );
                Ok::<_, RunError>(earlier)
            })
        });
        let fetched = fetch_into(&mut request, cached.as_ref(), &scratch_clone);
        let earlier = match reading {
            Some(reading) => reading.join().expect("reading the stored history panicked"),
            None => Ok(crate::earlier::Earlier::none()),
        };
        (fetched, earlier)
    });
    let (fetched, earlier) = (fetched?, earlier?);
    client.progress(&fetch_progress(
        fetched.objects_received,
        fetched.objects_received,
    ));
    let repo = extract::open(&fetched.git_dir)?;
    let open_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);

    let mut options = PipelineOptions::from_run_config(config);
    options.since.clone_from(&since);
    options.until = config
        .mode
        .until
        .clone()
        .unwrap_or_else(|| fetched.commit.to_string());
    let key_file = env.run_dir.join(keys::LLM_API_KEY);
    let mut summarizer = summarize::summarizer_for(
        &config.profile,
        key_file.exists().then_some(key_file.as_path()),
        Some(egress),
    )?;
    // A model's summaries are kept in the account's cache in the gateway, so a later run sends
    // no prompt for a chunk it has seen; the extractive summarizer is faster than the lookup.
    let mut gateway_cache;
    let mut no_cache = summarize::NoCache;
    let cache: &mut dyn summarize::SummaryCache =
        if summarizer.info().kind == summarize::EXTRACTIVE_KIND {
            &mut no_cache
        } else {
            gateway_cache = crate::sink::gateway::GatewayCache::new(client);
            &mut gateway_cache
        };
    let advances = config.mode.kind != ModeType::Range;
    let mut sink = GatewaySink::new(client, started.last_analyzed_commit.clone(), advances)
        .with_log(log.clone());
    let source = Source {
        repo: &repo,
        location: redact(&config.repository.url),
        started: began,
        open_ms,
        earlier,
    };
    let summary = run_pipeline(&source, &options, summarizer.as_mut(), cache, &mut sink)?;
    Ok(RunOutcome {
        message: format!(
            "analyzed {} commits ({} new to the repository's history)",
            summary.counts.commits, sink.inserted
        ),
        analysis_id: Some(started.analysis_id.clone()),
        from_commit: summary.config.since_commit.clone(),
        to_commit: Some(summary.config.until_commit.clone()),
        commits_analyzed: i64::try_from(summary.counts.commits).ok(),
    })
}

/// Fetches into the cached clone, if there is one; a failure there that another attempt could
/// fix (a corrupt or half-written clone, a full volume) removes the clone and fetches into
/// `scratch` instead. Invalid input fails as it would anywhere.
fn fetch_into(
    request: &mut FetchRequest,
    cached: Option<&crate::clone_cache::CachedClone>,
    scratch: &Path,
) -> Result<fetch::Fetched, fetch::FetchError> {
    let Some(cached) = cached else {
        return fetch::fetch(request);
    };
    match fetch::fetch(request) {
        Err(err) if !err.is_invalid_input() => {
            tracing::warn!(
                error = %err,
                path = %cached.path.display(),
                "the fetch into the cached clone failed: removing it and cloning afresh"
            );
            if let Err(err) = cached.discard() {
                tracing::warn!(error = %err, "the cached clone could not be removed");
            }
            request.dest = scratch.to_owned();
            fetch::fetch(request)
        }
        fetched => fetched,
    }
}

fn test_exit(raw: &str) -> Finished {
    match raw.trim().parse::<u8>() {
        Ok(code) => Finished {
            code: i32::from(code),
            outcome: RunOutcome {
                message: format!("test hook {TEST_EXIT_ENV}: exiting with code {code}"),
                ..RunOutcome::default()
            },
        },
        Err(_) => Finished::failed(&RunError::InvalidTestExit(raw.to_owned())),
    }
}

/// Reads `run.json` from `run_dir`.
pub fn load_config(run_dir: &Path) -> Result<RunConfig, RunError> {
    let path = run_dir.join(keys::RUN_CONFIG);
    let text = std::fs::read(&path).map_err(|source| RunError::ConfigUnreadable {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| RunError::ConfigInvalid { path, source })
}

/// Checks what the runner can check without touching the network.
pub fn validate(config: &RunConfig) -> Result<(), RunError> {
    if config.version != RUN_CONFIG_VERSION {
        return Err(RunError::UnsupportedVersion {
            found: config.version,
            supported: RUN_CONFIG_VERSION,
        });
    }
    // The URL rules of the Analysis CRD, enforced again where the URL is used.
    RepositoryUrl::validate(&config.repository.url)?;
    let revisions = [
        ("repository.ref", config.repository.git_ref.as_deref()),
        ("mode.since", config.mode.since.as_deref()),
        ("mode.until", config.mode.until.as_deref()),
    ];
    for (field, rev) in revisions {
        if let Some(rev) = rev {
            validate_revision(rev).map_err(|reason| RunError::InvalidRevision {
                field,
                rev: rev.to_owned(),
                reason,
            })?;
        }
    }
    Ok(())
}

/// Revisions as the Analysis CRD admits them (`^[A-Za-z0-9_][A-Za-z0-9._/^~-]*$`, at most 255
/// characters), and nothing git would read as a range.
pub fn validate_revision(rev: &str) -> Result<(), &'static str> {
    let mut chars = rev.chars();
    match chars.next() {
        None => return Err("empty"),
        Some(first) if !(first.is_ascii_alphanumeric() || first == '_') => {
            return Err("must start with a letter, digit or underscore");
        }
        Some(_) => {}
    }
    if rev.len() > 255 {
        return Err("longer than 255 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "._/^~-".contains(c)) {
        return Err("only letters, digits and . _ / ^ ~ - are allowed");
    }
    if rev.contains("..") {
        return Err("must name one revision, not a range");
    }
    Ok(())
}

/// Writes `outcome` as one JSON line, shortening the message to fit the kubelet's limit.
pub fn write_termination_message(path: &Path, outcome: &RunOutcome) -> std::io::Result<()> {
    std::fs::write(path, termination_line(outcome))
}

/// The termination message for `outcome`: one JSON line of at most
/// [`TERMINATION_MESSAGE_LIMIT`] bytes.
pub fn termination_line(outcome: &RunOutcome) -> String {
    let mut outcome = outcome.clone();
    loop {
        let line = serde_json::to_string(&outcome)
            .unwrap_or_else(|_| String::from("{\"message\":\"unserializable outcome\"}"));
        if line.len() < TERMINATION_MESSAGE_LIMIT || outcome.message.is_empty() {
            return line + "\n";
        }
        let excess = line.len() + 1 - TERMINATION_MESSAGE_LIMIT;
        let mut keep = outcome.message.len().saturating_sub(excess + 3);
        while !outcome.message.is_char_boundary(keep) {
            keep -= 1;
        }
        outcome.message.truncate(keep);
        outcome.message.push('…');
    }
}

/// `err` and its sources, joined like anyhow's `{:#}`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_follow_the_crd_pattern() {
        for ok in ["main", "v1.2.3", "release/2024", "HEAD~3", "abc123^", "_x"] {
            assert_eq!(validate_revision(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-rf",
            "main..dev",
            "a b",
            "@{1}",
            "refs/heads/x:y",
            &"a".repeat(256),
        ] {
            assert!(validate_revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_test_hook_exits_with_its_code() {
        assert_eq!(test_exit("3").code, 3);
        assert_eq!(test_exit("0").code, 0);
        assert!(test_exit("0").outcome.message.contains(TEST_EXIT_ENV));
        assert_eq!(test_exit("three").code, EXIT_INVALID_INPUT);
        assert_eq!(test_exit("256").code, EXIT_INVALID_INPUT);
    }

    #[test]
    fn termination_messages_fit_the_kubelet_limit() {
        let long = RunOutcome {
            message: "é".repeat(5000),
            ..RunOutcome::default()
        };
        let line = termination_line(&long);
        assert!(
            line.len() <= TERMINATION_MESSAGE_LIMIT,
            "{} bytes",
            line.len()
        );
        assert!(line.ends_with("…\"}\n"));
        let parsed = RunOutcome::parse(&line);
        assert!(parsed.message.starts_with("éé"));

        let short = RunOutcome {
            message: "ok".into(),
            commits_analyzed: Some(3),
            ..RunOutcome::default()
        };
        assert_eq!(
            termination_line(&short),
            "{\"message\":\"ok\",\"commitsAnalyzed\":3}\n"
        );
    }

    #[test]
    fn failures_are_classified_for_the_exit_code() {
        use crate::sink::SinkError;
        let unavailable = RunError::Sink(SinkError::Unavailable("gateway down".into()));
        assert_eq!(Finished::failed(&unavailable).code, EXIT_RETRYABLE);
        let rejected = RunError::Sink(SinkError::Rejected("bad batch".into()));
        assert_eq!(Finished::failed(&rejected).code, EXIT_INVALID_INPUT);
        assert_eq!(
            Finished::failed(&RunError::UnsupportedVersion {
                found: 9,
                supported: 1
            })
            .code,
            EXIT_INVALID_INPUT
        );
        assert!(
            Finished::failed(&unavailable)
                .outcome
                .message
                .contains("gateway down")
        );
    }
}
