//! Label, annotation and finalizer keys that several components agree on.

/// `app.kubernetes.io/managed-by` value on everything the operator creates.
pub const MANAGED_BY: &str = "gitview-operator";
/// `app.kubernetes.io/name` value on runner pods and their secrets.
pub const RUNNER_NAME: &str = "gitview-runner";

/// Name of the owning Analysis (truncated to 63 characters to fit a label value).
pub const ANALYSIS: &str = "gitview.dev/analysis";
/// UID of the owning Analysis: the key the operator selects children by.
pub const ANALYSIS_UID: &str = "gitview.dev/analysis-uid";
/// Attempt number (1-based) a pod or secret belongs to.
pub const ATTEMPT: &str = "gitview.dev/attempt";
/// What a labelled secret is; the janitor only ever touches `run-config` secrets.
pub const SECRET_ROLE: &str = "gitview.dev/secret-role";
/// Value of [`SECRET_ROLE`] on per-attempt run secrets.
pub const SECRET_ROLE_RUN: &str = "run-config";

/// Annotation on run secrets: RFC 3339 time after which their token is useless.
pub const EXPIRES_AT: &str = "gitview.dev/expires-at";

/// Namespace label naming the gateway account a namespace belongs to (default: the namespace).
pub const ACCOUNT: &str = "gitview.dev/account";

/// Label on Analyses a RepositoryTracker created: the tracker's name.
pub const TRACKER: &str = "gitview.dev/tracker";
/// Label on a tracker's clone-cache claim and on the runner pods that mount it: the claim's
/// name. One running pod at a time mounts a claim.
pub const CLONE_CACHE: &str = "gitview.dev/clone-cache";
/// Annotation on a tracker's Analyses: the branch it analyzes.
pub const BRANCH: &str = "gitview.dev/branch";
/// Annotation on a tracker's Analyses: the branch head it was created for.
pub const HEAD_COMMIT: &str = "gitview.dev/head-commit";
/// Annotation on a RepositoryTracker: setting it to a new value (a timestamp, say) asks for a
/// poll now, like Flux's `reconcile.fluxcd.io/requestedAt`; the status echoes the value handled.
pub const REQUESTED_AT: &str = "gitview.dev/requested-at";

/// Finalizer on runner pods, removed once the attempt's outcome is in the Analysis status, so a
/// pod deleted by anyone never loses its result.
pub const POD_FINALIZER: &str = "gitview.dev/record-outcome";
