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
        // A token in the user-name slot (`https://ghp_...@host/...`) is a credential like a
        // password, and the URL shows in `kubectl get`, Events and the status.
        validation = Rule::new("!self.matches('^(https|http|git)://[^/?#]*@')").message("url must not carry a user name or token with https, http or git (it would show in kubectl get, Events and the status): put credentials in a Secret and reference it as credentialsSecret"),
        validation = Rule::new("!self.matches('^ssh://[^/?#]*@') || self.matches('^ssh://[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}@')").message("url may carry only a plain user name with ssh (ssh://git@host/org/repo): keys and tokens belong in a Secret referenced as credentialsSecret"),
        validation = Rule::new(PORT_RULE).message("url's port must be a number from 1 to 65535"),
    )]
    pub url: String,

    /// Secret in the same namespace holding git credentials: `username` and `password` (or
    /// `token`) for http(s), `ssh-privatekey` and optionally `known_hosts` for ssh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretReference>,
}

/// A URL without a port, or with one from 1 to 65535. The first alternative says "it has a
/// port" (the host, after any user name, is followed by `:` and no `@`, so a password is not
/// taken for a port); the second that it is in range.
const PORT_RULE: &str = concat!(
    r"!self.matches('^[a-z]+://([^/?#]*@)?([^/?#@\\[\\]:]*|\\[[^\\]/]*\\]):[^/?#@]*([/?#]|$)')",
    r" || self.matches('^[a-z]+://([^/?#]*@)?([^/?#@\\[\\]:]*|\\[[^\\]/]*\\]):",
    r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})([/?#]|$)')",
);

/// The API server's own check of one Kubernetes quantity (`isQuantity`, from its CEL quantity
/// library): `2Gi`, `2G`, `500m` and `1` are quantities, `2GB` is not. The field is
/// int-or-string, hence `string(self)`. (The API server estimates the cost of a rule on an
/// int-or-string as if it were a 3 MiB string: more passes over it than this exceed its budget,
/// so a negative quantity is left to the pod's own validation.)
pub(crate) fn quantity_rule() -> kube::core::Rule {
    kube::core::Rule::new("isQuantity(string(self))").message(kube::core::Message::Expression(
        r#"'"' + string(self) + '" is not a Kubernetes quantity: write bytes as 512Mi, 2Gi or 2G (not 2GB), CPUs as 500m or 2'"#.to_owned(),
    ))
}

/// Most resource names the runner container's `limits` or `requests` can name (it needs `cpu`,
/// `memory` and `ephemeral-storage` at most). It bounds how often the quantity rule runs: the
/// API server multiplies a rule's estimated cost by that, and with 16 the rule exceeds its
/// budget.
const MAX_RESOURCE_NAMES: u64 = 8;

/// Schema transform of a `ResourceRequirements` field (a k8s-openapi type, whose quantities are
/// bare int-or-strings): every value of its `limits` and `requests` gets [`quantity_rule`], so
/// `memory: 2GB` is refused at admission, naming the field, instead of failing the pod's create.
pub(crate) fn resource_quantities(schema: &mut schemars::Schema) {
    fn walk(object: &mut serde_json::Map<String, serde_json::Value>) {
        let mut found = false;
        if let Some(serde_json::Value::Object(properties)) = object.get_mut("properties") {
            for list in ["limits", "requests"] {
                let Some(serde_json::Value::Object(map)) = properties.get_mut(list) else {
                    continue;
                };
                let Some(values) = map.get_mut("additionalProperties") else {
                    continue;
                };
                let Ok(mut quantity) = schemars::Schema::try_from(values.clone()) else {
                    continue;
                };
                if kube::core::validate(&mut quantity, quantity_rule()).is_ok() {
                    *values = quantity.to_value();
                    map.insert("maxProperties".to_owned(), MAX_RESOURCE_NAMES.into());
                    found = true;
                }
            }
        }
        if found {
            return;
        }
        // `Option<ResourceRequirements>` may wrap the object (`anyOf` with null).
        for value in object.values_mut() {
            match value {
                serde_json::Value::Object(inner) => walk(inner),
                serde_json::Value::Array(items) => {
                    for item in items {
                        if let serde_json::Value::Object(inner) = item {
                            walk(inner);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(object) = schema.as_object_mut() {
        walk(object);
    }
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
    /// An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama's `/v1`, LiteLLM).
    ChatCompletions,
    /// Anthropic's Messages API (`https://api.anthropic.com` unless a base URL is given).
    AnthropicMessages,
}
