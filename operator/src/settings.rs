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
    /// The AnalysisProfile of runs that name none ([`profile_for`]).
    pub default_profile: String,
}

/// The profile name the API server gives an Analysis (or a tracker's template) that names
/// none: the CRD's default for `spec.profile`.
pub const DEFAULT_PROFILE: &str = "default";

/// The AnalysisProfile a run naming `named` uses: `named`, except that [`DEFAULT_PROFILE`] —
/// which is what an Analysis that names no profile carries — means `default_profile` (the
/// operator's `--default-profile`, the chart's `catalog.defaultProfile`).
pub fn profile_for<'a>(named: &'a str, default_profile: &'a str) -> &'a str {
    if named == DEFAULT_PROFILE {
        default_profile
    } else {
        named
    }
}

impl Settings {
    /// [`profile_for`] with this operator's default profile.
    pub fn profile_for<'a>(&'a self, named: &'a str) -> &'a str {
        profile_for(named, &self.default_profile)
    }
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
            default_profile: DEFAULT_PROFILE.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analysis_naming_no_profile_runs_with_the_default_profile() {
        assert_eq!(profile_for("default", "team-default"), "team-default");
        assert_eq!(profile_for("full-history", "team-default"), "full-history");
        // Out of the box, `default` is the profile named default.
        assert_eq!(Settings::default().profile_for("default"), "default");
    }
}
