//! `Analysis`: one run of the pipeline over one repository.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{RepositorySource, RetryPolicy, SecretReference, TtlPolicy};

/// One analysis run over one repository. The operator runs it in an isolated runner pod,
/// retries it under `retryPolicy`, records every attempt in the status and cleans up after
/// `ttlSecondsAfterFinished`.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "gitview.dev",
    version = "v1alpha1",
    kind = "Analysis",
    plural = "analyses",
    namespaced,
    shortname = "an",
    category = "gitview",
    status = "AnalysisStatus",
    derive = "PartialEq",
    doc = "One gitview analysis run over one git repository.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Repository",
        type_ = "string",
        json_path = ".spec.repository.url"
    ),
    printcolumn(name = "Ref", type_ = "string", json_path = ".spec.repository.ref"),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress.summary"
    ),
    printcolumn(
        name = "Commits",
        type_ = "integer",
        json_path = ".status.result.commitsAnalyzed"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Attempts",
        type_ = "integer",
        json_path = ".status.attemptCount",
        priority = 1
    ),
    printcolumn(
        name = "Profile",
        type_ = "string",
        json_path = ".spec.profile",
        priority = 1
    )
)]
#[cfg_attr(test, kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// The repository and ref to analyze. Immutable: a run is defined by what it analyzes.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.repository is immutable: create a new Analysis to analyze another repository or ref"))]
    pub repository: AnalysisRepository,

    /// Which commits to analyze. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.mode is immutable: create a new Analysis to analyze another range"))]
    pub mode: AnalysisMode,

    /// How the run is executed: profile, models, retries, deadline, TTL and resources.
    #[serde(flatten)]
    pub run: RunSettings,
}

/// How a run is executed, as opposed to what it analyzes. A RepositoryTracker's template
/// carries the same settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSettings {
    /// Name of the cluster-scoped AnalysisProfile that says which runner image, stage settings
    /// and models the run uses.
    #[serde(default = "default_profile")]
    #[schemars(
        length(min = 1, max = 253),
        pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub profile: String,

    /// Model settings for the summarize and story stages; the profile's defaults apply where
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSettings>,

    /// How failed attempts are retried; the profile's default applies where unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,

    /// Longest time one attempt may run, in seconds; the runner pod is stopped past it. The
    /// profile's default (else 3600) applies where unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 86400))]
    pub active_deadline_seconds: Option<i64>,

    /// Seconds after the Analysis finished (succeeded or failed for good) before `ttlPolicy`
    /// applies. Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31536000))]
    pub ttl_seconds_after_finished: Option<i32>,

    /// What the TTL deletes: only the runner pods and secrets (default; safe for GitOps), or
    /// the Analysis itself.
    #[serde(default)]
    pub ttl_policy: TtlPolicy,

    /// Compute resources of the runner container; the profile's default applies where unset.
    /// Quantities are Kubernetes quantities (`512Mi`, `2Gi`, `500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::v1alpha1::common::resource_quantities)]
    pub resources: Option<ResourceRequirements>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            profile: default_profile(),
            llm: None,
            retry_policy: None,
            active_deadline_seconds: None,
            ttl_seconds_after_finished: None,
            ttl_policy: TtlPolicy::default(),
            resources: None,
        }
    }
}

fn default_profile() -> String {
    "default".to_owned()
}

/// The repository of an Analysis: a remote and the ref to analyze.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRepository {
    #[serde(flatten)]
    pub source: RepositorySource,

    /// Branch, tag or commit to analyze. Unset: the remote's default branch.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"))]
    #[x_kube(validation = Rule::new("!self.contains('..') && !self.endsWith('/') && !self.endsWith('.lock')").message("ref must be a valid git ref name: no '..', no trailing '/' or '.lock'"))]
    pub git_ref: Option<String>,
}

/// Which commits an Analysis covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'Range' ? has(self.since) : (!has(self.since) && !has(self.until))").message("mode.since is required with type Range, and mode.since and mode.until are allowed only with type Range"))]
pub struct AnalysisMode {
    /// `Full`: the whole history of the ref. `Incremental`: the commits since the last analyzed
    /// commit of this repository and ref (all of them the first time). `Range`: `since..until`.
    #[serde(rename = "type", default)]
    pub kind: ModeType,
    /// First commit excluded from a `Range` (a commit, tag or branch): one revision, not a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        pattern(r"^[A-Za-z0-9_][A-Za-z0-9._/^~-]*$")
    )]
    #[x_kube(validation = Rule::new("!self.contains('..')").message("mode.since must be one revision (a commit, tag or branch), not a range like v1.0..v2.0: the range is mode.since..mode.until"))]
    pub since: Option<String>,
    /// Last commit included in a `Range`: one revision. Unset: the tip of `repository.ref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        pattern(r"^[A-Za-z0-9_][A-Za-z0-9._/^~-]*$")
    )]
    #[x_kube(validation = Rule::new("!self.contains('..')").message("mode.until must be one revision (a commit, tag or branch), not a range: the range is mode.since..mode.until"))]
    pub until: Option<String>,
}

/// The kinds of [`AnalysisMode`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ModeType {
    #[default]
    Full,
    Incremental,
    Range,
}

/// Model settings of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmSettings {
    /// Model name passed to the model API (chat-completions or Anthropic Messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
    /// Base URL of the model API: an OpenAI-compatible one (`https://host/v1`), or Anthropic's
    /// (`https://api.anthropic.com`, the default for AnthropicMessages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(r"self.matches('^https?://[^/?#@\\s]+(/[^\\s]*)?$')").message("llm.baseUrl must be an http(s) URL without credentials"))]
    pub base_url: Option<String>,
    /// Secret in the same namespace holding the API key (key `api-key` unless `key` says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretReference>,
}

/// Lifecycle phase of an Analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AnalysisPhase {
    /// Accepted; waiting for its first runner pod to start (or for a missing dependency).
    Pending,
    /// A runner pod is running.
    Running,
    /// An attempt failed and the next one starts after the backoff.
    Retrying,
    /// Finished with a result.
    Succeeded,
    /// Finished without a result; no more attempts will be made.
    Failed,
}

impl AnalysisPhase {
    /// Whether no further attempt will be made.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// Observed state of an Analysis, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, kstatus-style.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The profile, runner image and model this run resolved to, fixed at its first attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedProfile>,
    /// Every attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Number of attempts started (for printing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<AnalysisResult>,
    /// When the first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Analysis finished (succeeded, or failed for good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Why the next attempt has not started: the API server refused the run Secret or runner
    /// Pod the operator built for it. Cleared when an attempt starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

/// The API server's refusal of an object the operator built to start an attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// What was refused: `Pod` or `Secret`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The HTTP status code of the refusal.
    pub code: i32,
    /// The API server's message, truncated.
    pub message: String,
    /// The namespace's ResourceQuota was used up: the attempt is tried again while it frees.
    /// Otherwise the object as built is refused, and the Analysis waits for a change of its
    /// spec or its profile.
    #[serde(default)]
    pub quota_exceeded: bool,
    /// The Analysis's `metadata.generation` the refused object was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The AnalysisProfile's `metadata.generation` it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_generation: Option<i64>,
    /// When it was refused.
    pub time: Time,
}

/// What a run resolved its profile to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedProfile {
    pub profile: String,
    pub runner_image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether the run was picked for the profile's canary.
    #[serde(default)]
    pub canary: bool,
}

/// One attempt: one runner pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1-based attempt number.
    pub number: i32,
    /// Name of the runner pod.
    pub pod: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Exit code of the runner container, when it ran to an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// CamelCase reason: `Succeeded`, `InvalidInput`, `Error`, `OOMKilled`, `Evicted`,
    /// `NodeLost`, `PodDeleted`, `DeadlineExceeded`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Failure class of a failed attempt; what `retryPolicy.retryOn` is matched against.
    /// `InvalidInput` is never retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<AttemptFailure>,
    /// The runner's one-line outcome or the kubelet's message, truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Attempt {
    /// Whether the attempt has ended (its outcome is recorded).
    pub fn is_finished(&self) -> bool {
        self.completion_time.is_some()
    }
}

/// Why an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AttemptFailure {
    /// The runner exited 2: the input is wrong and no retry can fix it.
    InvalidInput,
    RunnerError,
    Infrastructure,
    DeadlineExceeded,
}

/// Progress of the current attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Current stage: the operator's `scheduling` (the attempt's pod is starting) and
    /// `blocked` (see the conditions for why), then the stages the runner reports through the
    /// gateway, in order `fetch`, `walk`, `extract`, `chunk`, `summarize`, `story`, `finish`,
    /// and at the end `done` or `failed`.
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// One-line rendering for `kubectl get`, e.g. `extract 420/1000`.
    pub summary: String,
}

/// What a successful run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisResult {
    /// Id of the analysis in the gateway (the Analysis uid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_id: Option<String>,
    /// First commit excluded from the analyzed range (unset for a full history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_commit: Option<String>,
    /// Last commit analyzed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_commit: Option<String>,
    #[serde(default)]
    pub commits_analyzed: i64,
}
