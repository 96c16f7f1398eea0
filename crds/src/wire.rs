//! Formats that cross process boundaries at run time. The operator writes them, the runner
//! reads them (and leaves its outcome for the operator); all are JSON, versioned where they are
//! stored. The claims of the gateway token beside the run config are `gitview_core::token`'s.

use serde::{Deserialize, Serialize};

use crate::v1alpha1::{AnalysisMode, StageSettings, SummarizerKind};

/// Where the per-attempt Secret is mounted in the runner container (read-only).
pub const RUN_SECRET_MOUNT_PATH: &str = "/var/run/secrets/gitview";
/// Where the size-limited scratch volume is mounted in the runner container.
pub const SCRATCH_MOUNT_PATH: &str = "/scratch";
/// Where a tracker's clone cache (a PersistentVolumeClaim) is mounted, when it is.
pub const CLONE_CACHE_MOUNT_PATH: &str = "/var/cache/gitview";
/// The runner's environment variable naming the clone cache's mount path (unset: no cache).
pub const CLONE_CACHE_ENV: &str = "GITVIEW_CLONE_CACHE";

/// Keys of the per-attempt Secret (file names under [`RUN_SECRET_MOUNT_PATH`]).
pub mod keys {
    /// The [`RunConfig`](super::RunConfig) as JSON.
    pub const RUN_CONFIG: &str = "run.json";
    /// The gateway token (a compact JWS).
    pub const TOKEN: &str = "token";
    pub const GIT_USERNAME: &str = "git-username";
    pub const GIT_PASSWORD: &str = "git-password";
    pub const GIT_TOKEN: &str = "git-token";
    pub const SSH_PRIVATE_KEY: &str = "ssh-privatekey";
    pub const SSH_KNOWN_HOSTS: &str = "known_hosts";
    pub const LLM_API_KEY: &str = "llm-api-key";
}

/// Version of [`RunConfig`] this build writes and reads.
pub const RUN_CONFIG_VERSION: u32 = 1;

/// Everything a runner needs to know about its attempt, except credentials (which sit beside
/// it in the same Secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunConfig {
    pub version: u32,
    pub analysis: AnalysisIdentity,
    pub attempt: i32,
    /// The gateway account the run writes to.
    pub account: String,
    pub repository: RunRepository,
    pub mode: AnalysisMode,
    pub profile: RunProfile,
    /// Base URL of the gateway.
    pub gateway_url: String,
    /// Scrub emails, tokens and keys before anything is persisted.
    pub scrub_pii: bool,
    /// RFC 3339 time the attempt must end by.
    pub deadline: String,
    /// Which addresses the run's outbound connections (its fetch, its model calls) may reach:
    /// the profile's `repositoryPolicy`. Absent in a config from an older operator, which
    /// means the restricted default.
    #[serde(default)]
    pub egress: RunEgress,
}

/// The egress policy of a run (the runner applies it with `gitview-egress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEgress {
    /// Link-local and cloud metadata addresses are allowed.
    #[serde(default)]
    pub allow_link_local: bool,
}

/// Which Analysis a run belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisIdentity {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The RepositoryTracker that created the Analysis (its `gitview.dev/tracker` label), if
    /// one did: the gateway keeps the run config, so its web UI can say what keeps a
    /// repository analyzed. Absent from an older operator's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker: Option<String>,
}

/// The repository of a run. Credentials, if any, are files beside the run config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRepository {
    pub url: String,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
}

/// The profile settings a run executes with, resolved by the operator (canary included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunProfile {
    pub name: String,
    pub runner_image: String,
    pub canary: bool,
    pub stages: StageSettings,
    pub summarizer: SummarizerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_base_url: Option<String>,
}

/// Runner exit code for success.
pub const EXIT_SUCCESS: i32 = 0;
/// Runner exit code for invalid input that no retry can fix.
pub const EXIT_INVALID_INPUT: i32 = 2;

/// The one line a runner leaves in its termination-message file, read back by the operator
/// into the Analysis status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutcome {
    /// Human-readable one-line summary.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commits_analyzed: Option<i64>,
}

impl RunOutcome {
    /// Reads a termination message: the runner's JSON line, or any other text (a crash, or the
    /// kubelet's log fallback) as a plain message.
    pub fn parse(text: &str) -> Self {
        let line = text.trim();
        serde_json::from_str(line).unwrap_or_else(|_| Self {
            message: line.to_owned(),
            ..Self::default()
        })
    }
}
