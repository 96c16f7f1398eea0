//! The gateway's HTTP API: the bodies runners send and the answers they get. Serde types only,
//! so the runner's client and the gateway share one definition. All JSON, camelCase; every path
//! starts with `/v1`.
//!
//! Runner routes (a runner token for the analysis in the path, `Authorization: Bearer …`):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/runs/{analysis}/start` | [`StartRun`] | [`RunStarted`] |
//! | `POST /v1/runs/{analysis}/commits` | [`CommitBatch`] | [`BatchStored`] |
//! | `PUT /v1/runs/{analysis}/phases` | a JSON array of phase documents | 204 |
//! | `PUT /v1/runs/{analysis}/artifacts/{name}` | the bytes, with their `Content-Type` | 204 |
//! | `POST /v1/runs/{analysis}/progress` | [`ProgressEvent`] | 204 |
//! | `POST /v1/runs/{analysis}/logs` | [`LogBatch`] (at most 1000 lines) | [`LogsStored`] |
//! | `POST /v1/runs/{analysis}/finish` | [`FinishRun`] | [`RunFinished`], or 409 when the advance lost |
//! | `GET /v1/runs/{analysis}/history?limit=N&cursor=C` | | [`StoredHistoryPage`] |
//! | `GET /v1/runs/{analysis}/history/stream` | | NDJSON: [`StoredCommit`] lines, then [`StoredHistoryEnd`] |
//! | `POST /v1/runs/{analysis}/summaries/lookup` | [`SummaryLookup`] | [`SummariesFound`] |
//! | `PUT /v1/runs/{analysis}/summaries/{key}` | the summary, a JSON value | 204 |
//!
//! `history` pages the commits the run's repository already has in the gateway (stored by any
//! earlier run of it in the account), oldest committer time first, so an incremental run can
//! tell the whole history's story; `limit` is 1 to 2000 (default 500). `history/stream` answers
//! the same commits in the same order in one response, one JSON object a line
//! (`application/x-ndjson`), and ends with a line that counts them: a stream without it was
//! cut off. The summary cache is the account's: a key (64 hex digits, the runner's chunk hash
//! with prompt version and model) stored by one run is found by every later run of the same
//! account, and by no other account.
//!
//! Read routes (a per-account API key, `Authorization: Bearer gvk_…`; another account's
//! analysis is answered 404, like one that does not exist):
//!
//! | method and path | query | answer |
//! |---|---|---|
//! | `GET /v1/analyses` | `repository` (fingerprint or URL), `status`, `since`, `until`, `limit`, `cursor` | [`AnalysisPage`] |
//! | `GET /v1/analyses/{id}` | | [`AnalysisDetail`] |
//! | `GET /v1/analyses/{id}/commits` | `author`, `path`, `since`, `until`, `limit`, `cursor` | [`CommitPage`] |
//! | `GET /v1/analyses/{id}/progress` | `limit`, `cursor` | [`ProgressPage`] |
//! | `GET /v1/analyses/{id}/logs` | `attempt`, `level` (the least), `limit`, `cursor` | [`LogPage`] |
//! | `GET /v1/repositories/{fingerprint}/story` | | [`RepositoryStory`] |
//! | `GET /v1/repositories/{fingerprint}/files/{path}/history` | `limit`, `cursor` | [`FileHistory`] |
//!
//! A repository's story is the one the newest succeeded analysis of it wrote over its whole
//! history (its `story.json` and `story.md` artifacts); each analysis keeps its own as
//! artifacts too. A file's history is every stored commit of the repository that touched the
//! path (a file, or everything under a directory), newest first, with its authors, totals and
//! the current story's storylines that include any of those commits.
//!
//! `limit` is 1 to 500 (default 50); `nextCursor` of one page is the `cursor` of the next.
//! `since` (inclusive) and `until` (exclusive) are RFC 3339 times with an offset, on the
//! analysis' creation or the commit's committer time. `author` matches a name exactly or an
//! email in any case; `path` a file, or everything under a directory. Unknown parameters and
//! bad values answer 400 naming the parameter.
//!
//! Admin routes (the gateway's admin token, `Authorization: Bearer …`):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/admin/accounts/{account}/keys` | [`CreateApiKey`] | 201 [`ApiKeyCreated`] (the only time the key is shown) |
//! | `GET /v1/admin/accounts/{account}/keys` | | [`ApiKeyList`] |
//! | `DELETE /v1/admin/accounts/{account}/keys/{id}` | | 204 (revoked; again: 204) |
//! | `GET /v1/admin/accounts/{account}/policy` | | [`AccountPolicy`] |
//! | `PUT /v1/admin/accounts/{account}/policy` | [`SetAccountPolicy`] | [`AccountPolicy`] |
//!
//! Operator routes (a token the operator signs for one account, with the scope named; the
//! account is the token's):
//!
//! | method and path | scope | answer |
//! |---|---|---|
//! | `GET /v1/repositories/last-analyzed?url=URL&branch=BRANCH` | `repositories:read` | [`LastAnalyzed`] |
//! | `GET /v1/runs/{analysis}/progress/latest[?attempt=N]` | `runs:read` | [`LatestProgress`] |
//! | `GET /v1/account/policy` | `policy:read` | [`AccountPolicy`] (a new account's policy when the account has none yet) |
//!
//! Times are RFC 3339 strings in UTC. Every error is an [`ErrorBody`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::records::CommitRecord;
use crate::story::StoryDocument;

/// The one scope an API key has today: the read routes.
pub const SCOPE_READ: &str = "read";
/// Every scope an API key may have.
pub const API_KEY_SCOPES: &[&str] = &[SCOPE_READ];

/// Starts (or, for a retried attempt, resumes) the analysis named in the path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRun {
    /// Where the Analysis lives in the cluster.
    pub namespace: String,
    pub name: String,
    pub attempt: i32,
    /// The repository's remote URL, in canonical form and so without credentials (the gateway
    /// canonicalises it again, and refuses local paths).
    pub repository_url: String,
    /// The branch (or ref) the run follows; with the URL it names the repository's history.
    pub branch: String,
    /// `Full`, `Incremental` or `Range`.
    pub mode: String,
    /// The run's configuration, for the record.
    #[serde(default)]
    pub config: serde_json::Value,
}

/// What the gateway knows of the repository when a run starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub analysis_id: String,
    pub repository_id: i64,
    /// The hex SHA-256 of the repository's remote (`host[:port]/path`, whatever the transport)
    /// and branch: one remote reached over https or ssh is one repository.
    pub fingerprint: String,
    /// The newest commit a finished run of this repository covered, if any: where an
    /// incremental run starts.
    pub last_analyzed_commit: Option<String>,
}

/// A commit as the runner sends it: the record plus what the enrich stage found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommitUpload {
    #[serde(flatten)]
    pub record: CommitRecord,
    #[serde(default)]
    pub enrichment: serde_json::Value,
}

/// One batch of commits. Batches are numbered from 0; sending a batch again (a retried request
/// or attempt) stores nothing twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitBatch {
    pub batch: u64,
    pub commits: Vec<CommitUpload>,
}

/// What a batch changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchStored {
    /// Commits new to the repository's history.
    pub inserted: u64,
    /// Commits it had already.
    pub existing: u64,
}

/// Where a stage is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub stage: String,
    pub done: u64,
    pub total: u64,
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

/// Moves the repository's last analyzed commit from `expected` to `to`, only if nobody moved it
/// since the run started (compare-and-set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Advance {
    pub expected: Option<String>,
    pub to: String,
}

/// Ends the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FinishRun {
    pub status: RunStatus,
    #[serde(default)]
    pub message: String,
    pub from_commit: Option<String>,
    pub to_commit: Option<String>,
    pub commits_analyzed: u64,
    /// Counts, stage timings and metrics (the runner's `analysis.json`).
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Summarizer and model versions.
    #[serde(default)]
    pub model_versions: serde_json::Value,
    /// Only for a successful run that should advance the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<Advance>,
}

/// The finished run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFinished {
    pub analysis_id: String,
    pub status: RunStatus,
    pub last_analyzed_commit: Option<String>,
}

/// The one shape of every error the gateway returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Machine-readable, e.g. `unauthorized`, `conflict`, `payload_too_large`.
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// Creates an API key for the account in the path (created itself if new).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKey {
    /// What the key is for, 1 to 100 characters (`ci-dashboard`).
    pub name: String,
    /// A subset of [`API_KEY_SCOPES`]; empty or absent means `["read"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An API key as the admin path lists it: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// The key's public id, the part after `gvk_`; what `DELETE …/keys/{id}` takes.
    pub id: String,
    pub account: String,
    pub name: String,
    /// `gvk_<id>`, to recognise the key by.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// Updated at most once a minute.
    pub last_used_at: Option<String>,
}

/// Where a repository and branch were last analyzed, for the operator's trackers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastAnalyzed {
    /// The last analyzed commit; null when the repository and branch were never analyzed in
    /// this account.
    pub last_analyzed_commit: Option<String>,
}

/// A new key, with its secret: shown once, stored only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The whole key, `gvk_<id>_<secret>`, for `Authorization: Bearer`.
    pub secret: String,
}

/// An account's keys, oldest first, revoked ones included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
}

/// The most days an account may keep its results (a century).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// An account's data policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountPolicy {
    pub account: String,
    /// Emails hashed and secrets redacted: by the runner before anything is stored, and by the
    /// gateway again on every read route, over rows stored before the policy was turned on.
    pub scrub_pii: bool,
    /// Analyses (with their phases, artifacts, progress and commits) and audit rows older than
    /// this are deleted by the retention janitor.
    pub retention_days: u32,
}

/// Changes an account's policy (the account is created if new); absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetAccountPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub_pii: Option<bool>,
    /// 1 to [`MAX_RETENTION_DAYS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36_500))]
    pub retention_days: Option<u32>,
}

/// The repository an analysis ran on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRef {
    /// The hex SHA-256 of the repository's remote (`host[:port]/path`, whatever the transport)
    /// and branch: one remote reached over https or ssh is one repository.
    pub fingerprint: String,
    /// The canonical URL the latest run reached the remote by (no credentials).
    pub url: String,
    pub branch: String,
    pub last_analyzed_commit: Option<String>,
}

/// One analysis, as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSummary {
    /// The Analysis' uid.
    pub id: String,
    pub repository: RepositoryRef,
    /// Where the Analysis lives in the cluster.
    pub namespace: String,
    pub name: String,
    pub attempt: i32,
    pub mode: String,
    pub status: RunStatus,
    pub message: String,
    pub from_commit: Option<String>,
    pub to_commit: Option<String>,
    pub commits_analyzed: u64,
    pub created_at: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A page of analyses, newest first. `nextCursor` fetches the next page (absent on the last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisPage {
    pub items: Vec<AnalysisSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A stored artifact, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactInfo {
    pub name: String,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
}

/// One analysis with everything it produced but its commits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisDetail {
    #[serde(flatten)]
    pub summary: AnalysisSummary,
    pub config: serde_json::Value,
    pub metrics: serde_json::Value,
    pub model_versions: serde_json::Value,
    /// The phase documents, in order.
    pub phases: Vec<serde_json::Value>,
    /// `story.md`, when the run wrote it.
    pub story: Option<String>,
    /// `timeline.json`, when the run wrote it.
    pub timeline: Option<serde_json::Value>,
    pub artifacts: Vec<ArtifactInfo>,
}

/// A commit as stored: the record exactly as extracted, what the enrich stage found, and
/// line totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitView {
    #[serde(flatten)]
    pub record: CommitRecord,
    pub enrichment: serde_json::Value,
    pub lines_added: u64,
    pub lines_deleted: u64,
}

/// A page of an analysis' commits, newest (by committer time) first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitPage {
    pub items: Vec<CommitView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A progress event as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressRecord {
    #[serde(flatten)]
    pub event: ProgressEvent,
    /// The attempt whose runner wrote it (absent for events from before attempts were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    pub at: String,
}

/// A page of an analysis' progress events, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressPage {
    pub items: Vec<ProgressRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// How much a log line matters, least first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// Every level, least first.
    pub const ALL: [Self; 5] = [
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
    ];

    /// The level as JSON and the query string spell it (`warn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The level named `name` (as [`Self::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == name)
    }
}

/// One line of a run's log. `seq` numbers the attempt's lines from 0: a line sent again with
/// the same `seq` (a retried batch) is stored once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub seq: u64,
    /// When the runner logged it: RFC 3339 with an offset.
    pub at: String,
    pub level: LogLevel,
    pub message: String,
    /// Structured fields (`{"stage": "extract"}`); a JSON object.
    #[serde(default = "empty_object")]
    pub fields: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The most lines a [`LogBatch`] may hold (the gateway answers 413 to more).
pub const MAX_LOG_LINES: usize = 1000;

/// A batch of log lines of the token's attempt (`POST /v1/runs/{analysis}/logs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    #[schemars(length(max = MAX_LOG_LINES))]
    pub lines: Vec<LogLine>,
}

/// What a log batch changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsStored {
    /// Lines stored now.
    pub inserted: u64,
    /// Lines stored before (same attempt and `seq`): not stored again.
    pub existing: u64,
}

/// A log line as stored, with the attempt that logged it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    pub attempt: i32,
    #[serde(flatten)]
    pub line: LogLine,
}

/// A page of an analysis' log lines, in order: by attempt, then `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    pub items: Vec<LogRecord>,
    /// The `cursor` of the next page; absent on the last page (a client paging through the
    /// log stops there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The `cursor` after this page's last line; present whenever the page has lines, on the
    /// last page too. A follower (`kubectl gitview logs -f`) keeps it, or the one it had when a
    /// page is empty, and later asks for just the lines stored after it. Lines are ordered by
    /// attempt, then `seq`: a line stored later at an earlier position (a superseded attempt's
    /// late batch) is not after a follower's cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_cursor: Option<String>,
}

/// `GET /v1/analyses/{id}/slice`: a self-contained JSON slice of a repository's history as an
/// analysis knew it — totals, breakdowns and the newest commits of a time window and path —
/// for downstream model services (recommendations, reviews), without their re-reading git.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistorySlice {
    /// The slice format: [`SLICE_SCHEMA`].
    pub schema: String,
    pub analysis: AnalysisSummary,
    pub window: SliceWindow,
    pub totals: SliceTotals,
    /// By commit class (conventional-commit type or heuristic: feature, fix, …), most commits
    /// first.
    pub by_class: Vec<SliceGroup>,
    /// By calendar month of the committer time (UTC, `YYYY-MM`), oldest first.
    pub by_month: Vec<SliceGroup>,
    /// Paths to depth two (`src/gateway`), most lines changed first; at most 20. Under a
    /// `path` filter, only lines under it count.
    pub top_paths: Vec<SliceGroup>,
    /// Authors by email, most commits first; at most 20. `key` is the email (hashed where
    /// the account's policy scrubs PII), `name` the name they used last.
    pub top_authors: Vec<SliceGroup>,
    /// The newest commits of the window, newest first; at most `maxCommits`.
    pub commits: Vec<SliceCommit>,
    /// More commits are in the window than `commits` holds.
    pub truncated: bool,
}

/// The slice format [`HistorySlice::schema`] names.
pub const SLICE_SCHEMA: &str = "gitview.dev/history-slice/v1";

/// What a slice covers: the repository's commits stored by this analysis and its
/// repository's earlier ones, committed in [`since`, `until`) and touching `path`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SliceWindow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SliceTotals {
    pub commits: u64,
    pub authors: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    /// The window's first and last committer times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_commit_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit_at: Option<String>,
}

/// One group of a breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SliceGroup {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub commits: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    /// Distinct authors (by month only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<u64>,
}

/// A commit as a slice shows it: enough to cite it, not its files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SliceCommit {
    pub id: String,
    pub committed_at: Option<String>,
    pub author_name: String,
    pub author_email: String,
    pub class: String,
    /// The message's first line (secrets redacted where the policy scrubs).
    pub subject: String,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub files_changed: u64,
    /// Release tags naming the commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
}

/// `GET /v1/runs/{analysis}/progress/latest` (operator token): the run's newest progress event,
/// if it wrote any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestProgress {
    pub latest: Option<ProgressRecord>,
}

/// `GET /v1/runs/{analysis}/history`: a page of the commits the run's repository already has in
/// the gateway, oldest committer time first (then by id), each as it was uploaded (the record
/// and its enrichment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredHistoryPage {
    pub commits: Vec<CommitUpload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One commit line of `GET /v1/runs/{analysis}/history/stream`: the record as uploaded and its
/// enrichment (unlike [`CommitUpload`], the record is not flattened, so the gateway can pass
/// both stored documents through as they are).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoredCommit {
    pub record: CommitRecord,
    pub enrichment: serde_json::Value,
}

/// The last line of `GET /v1/runs/{analysis}/history/stream`, `{"end":{"commits":N}}`: the
/// stream is whole when it ends with this line and `N` commit lines came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredHistoryEnd {
    pub end: StoredHistoryCount,
}

/// The response header of a stored-history stream saying whether its commits come scrubbed
/// (`true`: the account's policy scrubs PII, so every line was scrubbed or stored clean under
/// today's rules) or as stored (`false`). A runner whose account scrubs need not scrub them
/// again when it says `true`.
pub const SCRUBBED_HEADER: &str = "gitview-scrubbed";

/// How many commits a stored-history stream carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredHistoryCount {
    pub commits: u64,
}

/// The most keys one summary lookup may name.
pub const MAX_SUMMARY_LOOKUP: usize = 1000;

/// `POST /v1/runs/{analysis}/summaries/lookup`: which of these summaries the account has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SummaryLookup {
    /// 1 to [`MAX_SUMMARY_LOOKUP`] keys, each 64 lower-case hex digits.
    pub keys: Vec<String>,
}

/// The summaries found, by key; keys the account has no summary for are absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummariesFound {
    pub summaries: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `GET /v1/repositories/{fingerprint}/story`: the repository's current story.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStory {
    pub repository: RepositoryRef,
    /// The analysis that wrote it.
    pub analysis_id: String,
    /// When that analysis finished (RFC 3339).
    pub finished_at: Option<String>,
    /// `story.md`, as written.
    pub markdown: String,
    /// `story.json`: every claim with its evidence.
    pub story: StoryDocument,
}

/// `GET /v1/repositories/{fingerprint}/files/{path}/history`: one path's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileHistory {
    pub repository: RepositoryRef,
    pub path: String,
    /// Over every stored commit that touched the path (not only this page's).
    pub totals: SliceTotals,
    /// Who changed the path, most commits first; at most 20. `key` is the email (hashed where
    /// the account's policy scrubs PII), `name` the name they used last.
    pub authors: Vec<SliceGroup>,
    /// The current story's storylines with a commit that touched the path, most such commits
    /// first.
    pub storylines: Vec<FileStoryline>,
    /// This page's commits, newest first, with the lines they changed under the path.
    pub commits: Vec<SliceCommit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A storyline a path takes part in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileStoryline {
    pub id: String,
    pub title: String,
    pub category: String,
    pub lifecycle: String,
    /// The storyline's commits that touched the path.
    pub commits: u64,
}
