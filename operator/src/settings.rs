//! Operator-wide settings: what the command line and environment configure.

use std::time::Duration;

/// Settings every reconcile reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL of the gateway, handed to runners.
    pub gateway_url: String,
    /// How long a runner token outlives its attempt's deadline.
    pub token_grace: Duration,
    /// Attempt deadline when neither the Analysis nor its profile sets one.
    pub default_deadline_seconds: i64,
    /// Scratch volume size limit when the profile sets none.
    pub default_scratch_size: String,
    /// UID and GID the runner container runs as (non-zero: restricted profile).
    pub runner_uid: i64,
    /// Slack past an attempt's deadline before the operator itself stops the pod (the kubelet
    /// enforces `activeDeadlineSeconds` first; this catches pods that never started).
    pub deadline_slack: Duration,
    /// How long a pod may stay terminating (past its grace period) before its node is taken
    /// for lost and the attempt is recorded as failed.
    pub terminating_slack: Duration,
    /// While an attempt runs, how often its progress is read from the gateway into
    /// `status.progress`; `None`: not read (no gateway client).
    pub progress_refresh: Option<Duration>,
    /// How long an attempt waits before its pod is created again after a ResourceQuota of the
    /// namespace refused it.
    pub quota_retry: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            gateway_url: "http://gitview-gateway.gitview-system.svc:8080".to_owned(),
            token_grace: Duration::from_secs(120),
            default_deadline_seconds: 3600,
            default_scratch_size: "2Gi".to_owned(),
            runner_uid: 65532,
            deadline_slack: Duration::from_secs(30),
            terminating_slack: Duration::from_secs(60),
            progress_refresh: None,
            quota_retry: Duration::from_secs(30),
        }
    }
}
