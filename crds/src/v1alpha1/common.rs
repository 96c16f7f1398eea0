//! Types shared by several kinds of the v1alpha1 API.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A git repository: where it lives and how to authenticate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySource {
    /// Remote URL. Schemes: https, http, ssh, git. Write scp-style addresses
    /// (`git@host:org/repo`) as `ssh://git@host/org/repo`. Credentials never go in the URL:
    /// reference a `credentialsSecret` instead.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(
        validation = Rule::new("self.matches('^(https|http|ssh|git)://')").message("url must use one of the schemes https, http, ssh or git (file:// and scp-style addresses are not accepted)"),
        validation = Rule::new(r"self.matches('^[a-z]+://([^/?#@\\s]*@)?([A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[^\\s]*)?$')").message("url must look like scheme://host[:port]/path, with a non-empty host and no spaces"),
        validation = Rule::new("!self.matches('^[a-z]+://[^/?#@]*:[^/?#@]*@')").message("url must not embed a password: reference a credentialsSecret instead"),
        validation = Rule::new("!self.matches('^[a-z]+://[^/?#]*/[^?#]*@')").message("url must not hold an '@' after its host (a password with a '/' in it?): reference a credentialsSecret instead, and write an '@' in a path as %40"),
    )]
    pub url: String,

    /// Secret in the same namespace holding git credentials: `username` and `password` (or
    /// `token`) for http(s), `ssh-privatekey` and optionally `known_hosts` for ssh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretReference>,
}

/// A Secret in the namespace of the referring object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Key within the Secret, where the referring field needs one value (default given there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(r"^[-._a-zA-Z0-9]+$"))]
    pub key: Option<String>,
}

/// Failure classes an attempt can end with, as recorded in `status.attempts[].reason` and
/// selected by `retryPolicy.retryOn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FailureClass {
    /// The runner exited non-zero (other than 2): a retryable error in the run itself.
    RunnerError,
    /// The pod was lost for reasons outside the run: evicted, its node lost, deleted by someone.
    Infrastructure,
    /// The attempt ran past `activeDeadlineSeconds`.
    DeadlineExceeded,
}

/// How failed attempts are retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 means a single attempt).
    #[serde(default = "default_retry_limit")]
    #[schemars(range(min = 0, max = 20))]
    pub limit: i32,
    /// Exponential backoff between attempts.
    #[serde(default)]
    pub backoff: Backoff,
    /// Failure classes that are retried. Invalid input (runner exit code 2) is never retried.
    #[serde(default = "default_retry_on")]
    #[schemars(length(max = 3))]
    #[x_kube(validation = Rule::new("self.all(x, self.exists_one(y, y == x))").message("retryOn must not list a failure class twice"))]
    pub retry_on: Vec<FailureClass>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            limit: default_retry_limit(),
            backoff: Backoff::default(),
            retry_on: default_retry_on(),
        }
    }
}

fn default_retry_limit() -> i32 {
    3
}

fn default_retry_on() -> Vec<FailureClass> {
    vec![FailureClass::RunnerError, FailureClass::Infrastructure]
}

/// Exponential backoff: attempt n+1 starts `min(initialSeconds * factor^(n-1), maxSeconds)`
/// after attempt n ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.initialSeconds <= self.maxSeconds").message("backoff.initialSeconds must not exceed backoff.maxSeconds"))]
pub struct Backoff {
    /// Wait before the first retry, in seconds.
    #[serde(default = "default_backoff_initial")]
    #[schemars(range(min = 1, max = 3600))]
    pub initial_seconds: i32,
    /// Multiplier applied to the wait after every retry.
    #[serde(default = "default_backoff_factor")]
    #[schemars(range(min = 1, max = 10))]
    pub factor: i32,
    /// Upper bound of the wait, in seconds.
    #[serde(default = "default_backoff_max")]
    #[schemars(range(min = 1, max = 86400))]
    pub max_seconds: i32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_seconds: default_backoff_initial(),
            factor: default_backoff_factor(),
            max_seconds: default_backoff_max(),
        }
    }
}

fn default_backoff_initial() -> i32 {
    10
}
fn default_backoff_factor() -> i32 {
    2
}
fn default_backoff_max() -> i32 {
    600
}

/// What happens when `ttlSecondsAfterFinished` expires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TtlPolicy {
    /// Delete the runner pods and secrets, keep the Analysis and its status. The right choice
    /// for Analyses declared in a GitOps repository, which would otherwise be re-created.
    #[default]
    CleanupResources,
    /// Delete the Analysis itself (its pods and secrets go with it).
    DeleteAnalysis,
}

/// The summarizer a stage uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SummarizerKind {
    /// Offline, deterministic and factual: themes, areas, authors and notable commits taken from
    /// the history itself. Needs no model and no credentials.
    #[default]
    Extractive,
    /// An OpenAI-compatible chat-completions endpoint.
    ChatCompletions,
}
