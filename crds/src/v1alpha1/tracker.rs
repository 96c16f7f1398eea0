//! `RepositoryTracker`: a repository and branches kept analyzed. The operator's `tracker`
//! module is its controller.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::{Message, Rule};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analysis::RunSettings;
use super::common::{RepositorySource, SecretReference};

/// A repository and branches to keep analyzed: the operator polls the remote (and polls sooner
/// on a signed webhook) and creates incremental Analyses from `template`. It never writes its
/// own spec, so it is safe to declare in a GitOps repository.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "gitview.dev",
    version = "v1alpha1",
    kind = "RepositoryTracker",
    namespaced,
    shortname = "rt",
    category = "gitview",
    status = "RepositoryTrackerStatus",
    derive = "PartialEq",
    doc = "A git repository and branches that gitview keeps analyzed.",
    printcolumn(
        name = "Repository",
        type_ = "string",
        json_path = ".spec.repository.url"
    ),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Last Poll", type_ = "date", json_path = ".status.lastPollTime"),
    printcolumn(
        name = "Next Poll",
        type_ = "date",
        json_path = ".status.nextPollTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[cfg_attr(test, kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct RepositoryTrackerSpec {
    /// The remote. Immutable: track another repository with another tracker.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.repository is immutable: create another RepositoryTracker"))]
    pub repository: RepositorySource,

    /// Branches to keep analyzed: names, or patterns with `*` (`release/*`).
    #[schemars(
        length(min = 1, max = 32),
        inner(
            length(min = 1, max = 255),
            pattern(r"^[A-Za-z0-9_*][A-Za-z0-9._/*-]*$")
        )
    )]
    #[x_kube(validation = Rule::new("self.all(b, !b.contains('..'))").message("branches must be valid git branch names: no '..'"))]
    pub branches: Vec<String>,

    #[serde(default)]
    pub poll: PollSettings,

    /// Secret holding the webhook's shared secret (key `secret` unless `key` says). Deliveries
    /// signed with it trigger a poll before the interval ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretReference>,

    /// Template of the Analyses the tracker creates (repository, ref and mode are filled in).
    #[serde(default)]
    pub template: AnalysisTemplate,

    /// What to do when a branch moves while its last Analysis still runs.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// Finished Analyses kept per branch, by outcome.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_history_limit: i32,
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_history_limit: i32,

    /// Stop polling and creating Analyses; running ones are left alone.
    #[serde(default)]
    pub suspend: bool,

    /// Keep the repository's clone between runs on a PersistentVolumeClaim the operator
    /// creates (`<tracker>-clone-cache`, owned by the tracker), so each run fetches only the
    /// new commits instead of cloning afresh. Without it every run clones into its scratch
    /// volume. The claim is created once with this size and storage class; removing the field
    /// deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_cache: Option<CloneCacheSpec>,
}

/// The PersistentVolumeClaim a tracker's clone is kept on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloneCacheSpec {
    /// Size of the claim, a Kubernetes quantity (`5Gi`): room for a full clone of the
    /// repository (git/git: about 300Mi).
    #[x_kube(validation = crate::v1alpha1::common::quantity_rule())]
    pub size: k8s_openapi::apimachinery::pkg::api::resource::Quantity,
    /// StorageClass of the claim; the cluster's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
}

fn default_successful_history() -> i32 {
    3
}
fn default_failed_history() -> i32 {
    1
}

/// Poll interval bounds: the tracker polls every `minIntervalSeconds` while the repository
/// moves, backing off towards `maxIntervalSeconds` while it is quiet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minIntervalSeconds <= self.maxIntervalSeconds").message("poll.minIntervalSeconds must not exceed poll.maxIntervalSeconds"))]
pub struct PollSettings {
    #[serde(default = "default_poll_min")]
    #[schemars(range(min = 10, max = 86400))]
    pub min_interval_seconds: i32,
    #[serde(default = "default_poll_max")]
    #[schemars(range(min = 10, max = 86400))]
    pub max_interval_seconds: i32,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            min_interval_seconds: default_poll_min(),
            max_interval_seconds: default_poll_max(),
        }
    }
}

fn default_poll_min() -> i32 {
    60
}
fn default_poll_max() -> i32 {
    900
}

/// Template of a tracker's Analyses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    #[serde(default)]
    pub spec: RunSettings,
}

/// Labels and annotations copied onto created Analyses. The API server checks them as it
/// would on the Analyses themselves, so a bad key is refused here, on the tracker, and not by
/// every create of an Analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[schemars(transform = label_values)]
    #[x_kube(validation = qualified_keys_rule("labels"))]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = qualified_keys_rule("annotations"))]
    pub annotations: BTreeMap<String, String>,
}

/// CEL: whether `k` is a qualified name, the form of label and annotation keys: an optional
/// DNS-subdomain prefix of at most 253 characters and a `/`, then a name of at most 63
/// characters (the API server's `IsQualifiedName`).
const QUALIFIED_NAME: &str = concat!(
    r"k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')",
    r" && !k.matches('^[^/]{254,}/')",
);

/// Label values as the API server checks them (`IsValidLabelValue`): at most 63 letters,
/// digits, `-`, `_` or `.`, starting and ending with a letter or digit. An OpenAPI pattern, not
/// CEL: a rule over every value of the map would cost more than the API server's budget.
fn label_values(schema: &mut schemars::Schema) {
    if let Some(serde_json::Value::Object(values)) = schema.get_mut("additionalProperties") {
        values.insert("maxLength".to_owned(), 63.into());
        values.insert(
            "pattern".to_owned(),
            r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$".into(),
        );
    }
}

/// Every key of `template.metadata.<field>` is a qualified name; the message names the first
/// that is not.
fn qualified_keys_rule(field: &str) -> Rule {
    Rule::new(format!("self.all(k, {QUALIFIED_NAME})")).message(Message::Expression(format!(
        r#"'template.metadata.{field}: "' + self.filter(k, !({QUALIFIED_NAME}))[0] + '" is not a valid key: an optional DNS-subdomain prefix of at most 253 characters and "/", then a name of at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit'"#
    )))
}

/// Like a CronJob's `concurrencyPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Start another Analysis while the previous one runs.
    Allow,
    /// Wait for the running Analysis; the next one covers everything new since.
    #[default]
    Forbid,
    /// Delete the running Analysis and start a new one.
    Replace,
}

/// Observed state of a RepositoryTracker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryTrackerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll_time: Option<Time>,
    /// When the remote is polled next (sooner on a webhook or a `gitview.dev/requested-at`
    /// annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_poll_time: Option<Time>,
    /// The current poll interval: the minimum while branches move, doubling towards the
    /// maximum while they are quiet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_seconds: Option<i64>,
    /// The last `gitview.dev/requested-at` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_requested_at: Option<String>,
    /// Path of this tracker's webhook on the operator's webhook listener
    /// (`/hooks/NAMESPACE/NAME/TOKEN`, the token derived from the webhook secret, so the path
    /// cannot be guessed without it). Set while `webhookSecret` can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// The last webhook delivery accepted (written by the webhook receiver; a delivery newer
    /// than the last poll makes the tracker poll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_webhook: Option<WebhookDelivery>,
    /// The last delivery the tracker polled for (its ID, or its time without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_webhook: Option<String>,
    /// IDs of the recent deliveries (newest last, at most 32): a delivery whose ID is here is a
    /// replay and is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub recent_webhook_deliveries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub branches: Vec<BranchStatus>,
}

/// One accepted webhook delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// The forge's delivery ID (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`,
    /// `X-Gitview-Delivery`), when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How it was authenticated: `github`, `gitlab` or `hmac`.
    pub source: String,
    pub received_time: Time,
}

impl WebhookDelivery {
    /// What identifies the delivery in `lastHandledWebhook`.
    pub fn key(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| self.received_time.0.to_string())
    }
}

/// What the tracker knows of one branch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BranchStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analyzed_commit: Option<String>,
    /// Name of the newest Analysis created for the branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analysis: Option<String>,
}
