//! `AnalysisProfile`: the catalog entry a run is executed with.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{RetryPolicy, SummarizerKind};

/// A catalog entry: which runner image, stage settings and models a run uses, the defaults of
/// its runs, and a canary for rolling out a new image or model to a share of runs.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "gitview.dev",
    version = "v1alpha1",
    kind = "AnalysisProfile",
    shortname = "ap",
    category = "gitview",
    status = "AnalysisProfileStatus",
    derive = "PartialEq",
    doc = "A gitview catalog entry: runner image, stage settings, models and run defaults.",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.runner.image"),
    printcolumn(
        name = "Summarizer",
        type_ = "string",
        json_path = ".spec.stages.summarize.summarizer"
    ),
    printcolumn(name = "Canary", type_ = "integer", json_path = ".spec.canary.weight"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[cfg_attr(test, kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct AnalysisProfileSpec {
    pub runner: RunnerSettings,
    #[serde(default)]
    pub stages: StageSettings,
    /// Defaults for the runs that use this profile, where their Analysis leaves a field unset.
    #[serde(default)]
    pub defaults: RunDefaults,
    /// Another image or model for `weight` percent of new runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    #[serde(default)]
    pub repository_policy: RepositoryPolicy,
}

/// The runner container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSettings {
    /// Runner image reference.
    #[schemars(length(min = 1, max = 512), pattern(r"^[^\s]+$"))]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Size limit of the scratch volume the repository is cloned into, a Kubernetes quantity
    /// (`4Gi`, `4G`). Default 2Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = crate::v1alpha1::common::quantity_rule())]
    pub scratch_size: Option<Quantity>,
}

/// Kubernetes image pull policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// Settings of the pipeline stages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageSettings {
    #[serde(default)]
    pub extract: ExtractSettings,
    #[serde(default)]
    pub chunk: ChunkSettings,
    #[serde(default)]
    pub summarize: SummarizeSettings,
    #[serde(default)]
    pub story: StorySettings,
}

/// The story stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorySettings {
    /// Token budget of `brief.md`, the digest for coding agents (`o200k_base` tokens; never
    /// exceeded).
    #[serde(default = "default_brief_tokens")]
    #[schemars(range(min = 100, max = 1_000_000))]
    pub brief_tokens: i32,
}

impl Default for StorySettings {
    fn default() -> Self {
        Self {
            brief_tokens: default_brief_tokens(),
        }
    }
}

fn default_brief_tokens() -> i32 {
    2000
}

/// The extract stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtractSettings {
    /// Apply the repository's `.mailmap` to authors and committers.
    #[serde(default = "yes")]
    pub mailmap: bool,
    /// Diff merge commits against their first parent (git itself prints no numstat for merges).
    #[serde(default)]
    pub first_parent_merge_diffs: bool,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        Self {
            mailmap: true,
            first_parent_merge_diffs: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// The chunk stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChunkSettings {
    /// Token budget of one chunk handed to the summarizer.
    #[serde(default = "default_token_budget")]
    #[schemars(range(min = 256, max = 200000))]
    pub token_budget: i32,
}

impl Default for ChunkSettings {
    fn default() -> Self {
        Self {
            token_budget: default_token_budget(),
        }
    }
}

fn default_token_budget() -> i32 {
    6000
}

/// The summarize and story stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.summarizer == 'Extractive' || has(self.model)").message("stages.summarize.model is required with summarizer ChatCompletions or AnthropicMessages"))]
pub struct SummarizeSettings {
    #[serde(default)]
    pub summarizer: SummarizerKind,
    /// Default model of model-backed runs (ChatCompletions, AnthropicMessages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
    /// Default base URL of the model API (ChatCompletions: required, e.g.
    /// `https://api.openai.com/v1`; AnthropicMessages: `https://api.anthropic.com` if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(r"self.matches('^https?://[^/?#@\\s]+(/[^\\s]*)?$')").message("baseUrl must be an http(s) URL without credentials"))]
    pub base_url: Option<String>,
    /// Version of the prompts; part of the summary cache key.
    #[serde(default = "default_prompt_version")]
    #[schemars(length(min = 1, max = 63))]
    pub prompt_version: String,
    /// Which parts of the story get a model call (`Balanced` when unset and a model is
    /// configured; no effect with the Extractive summarizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<ModelBudget>,
    /// Prices of the models, for the estimated cost a run records in `analysis.json`. A model
    /// without an entry gets no cost (null, with the reason), never a guessed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["model"]))]
    pub prices: Vec<ModelPrice>,
    /// Critical mode: the story measures the history against these goals (gaps and debt, not a
    /// celebration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<CriticalSettings>,
}

impl Default for SummarizeSettings {
    fn default() -> Self {
        Self {
            summarizer: SummarizerKind::default(),
            model: None,
            base_url: None,
            prompt_version: default_prompt_version(),
            budget: None,
            prices: Vec::new(),
            critical: None,
        }
    }
}

/// Which parts of the story get a model call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ModelBudget {
    /// No model call at all: every part is written without a model, as with the Extractive
    /// summarizer.
    None,
    /// Only the executive overview.
    Minimal,
    /// The overview and the largest phases, up to a cap (the runner's README has the rule).
    #[default]
    Balanced,
    /// Every phase and the overview.
    Full,
}

/// The price of one model, in a currency's units per million tokens. Decimal strings (`"3"`,
/// `"0.25"`), as Kubernetes APIs avoid floating-point fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPrice {
    /// The model's name, as the run's model setting spells it.
    #[schemars(length(min = 1, max = 253))]
    pub model: String,
    /// Price of a million input (prompt) tokens.
    #[schemars(length(min = 1, max = 32), pattern(r"^[0-9]+(\.[0-9]+)?$"))]
    pub input_per_million_tokens: String,
    /// Price of a million output (completion) tokens.
    #[schemars(length(min = 1, max = 32), pattern(r"^[0-9]+(\.[0-9]+)?$"))]
    pub output_per_million_tokens: String,
    /// The currency of both prices (ISO 4217). Default USD.
    #[serde(default = "default_currency")]
    #[schemars(length(min = 3, max = 3), pattern(r"^[A-Z]{3}$"))]
    pub currency: String,
}

fn default_currency() -> String {
    "USD".to_owned()
}

/// Critical mode: what the history is measured against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CriticalSettings {
    /// The goals, one sentence each.
    #[schemars(length(min = 1, max = 50), inner(length(min = 1, max = 500)))]
    pub goals: Vec<String>,
    /// Further instructions to the model (e.g. "we ship to regulated banks").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    pub directives: Option<String>,
}

fn default_prompt_version() -> String {
    "v1".to_owned()
}

/// Run defaults of a profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDefaults {
    /// Compute resources of the runner container, in Kubernetes quantities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::v1alpha1::common::resource_quantities)]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 86400))]
    pub active_deadline_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// A canary: another runner image and/or model for a share of new runs. The choice is made
/// once per Analysis (stable across its attempts) and recorded in `status.resolved`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.image) || has(self.model)").message("canary needs an image or a model"))]
pub struct Canary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), pattern(r"^[^\s]+$"))]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,
    /// Percentage of new runs that take the canary.
    #[schemars(range(min = 0, max = 100))]
    pub weight: i32,
}

/// Which repository addresses runs of this profile may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPolicy {
    /// Allow link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
    /// metadata.google.internal, ...). Off by default: they are a credential-theft vector.
    #[serde(default)]
    pub allow_link_local: bool,
}

/// Observed state of an AnalysisProfile, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisProfileStatus {
    /// The generation of the spec the rest of the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` once the operator has read this generation: new runs start as the status says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The runner image new runs start with (those not picked for the canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_image: Option<String>,
    /// The canary in effect: another image or model for `weight` percent of new runs. Absent
    /// when no new run takes one (no canary, or weight 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}
