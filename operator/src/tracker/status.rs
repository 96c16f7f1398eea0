//! The status step of a RepositoryTracker: its conditions, and the one server-side apply that
//! writes the status (never the spec, so GitOps tools see no drift).

use gitview_crds::v1alpha1::{API_VERSION, RepositoryTracker, RepositoryTrackerStatus};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::conditions::{self, Summary};
use crate::error::Error;

/// The tracker's kstatus conditions ([`conditions::render_ongoing`]): `Ready` always carries
/// the reason, `Reconciling` and `Stalled` the message only while true. Public for the Argo
/// CD health check's test (`tests/argocd_health.rs`), which reads what this writes.
#[expect(
    clippy::too_many_arguments,
    reason = "the three conditions' inputs, read by the Argo CD health test as they are"
)]
pub fn tracker_conditions(
    ready: bool,
    stalled: bool,
    reconciling: bool,
    reason: &'static str,
    message: &str,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let summary = Summary {
        ready,
        reconciling,
        stalled,
        reason,
        message: message.to_owned(),
    };
    conditions::render_ongoing(&summary, previous, generation, now)
}

/// Writes `status` when it differs from the tracker's, with one server-side apply under the
/// operator's field manager. The webhook receiver owns its fields: never applied here, so they
/// are never taken over or rolled back by a stale copy.
pub(super) async fn write(
    api: &Api<RepositoryTracker>,
    tracker: &RepositoryTracker,
    status: &RepositoryTrackerStatus,
) -> Result<(), Error> {
    if tracker.status.clone().unwrap_or_default() == *status {
        return Ok(());
    }
    let mut status = serde_json::to_value(status).map_err(|source| Error::Serialize {
        what: "tracker status",
        source,
    })?;
    if let Some(fields) = status.as_object_mut() {
        fields.remove("lastWebhook");
        fields.remove("recentWebhookDeliveries");
    }
    let patch = json!({ "apiVersion": API_VERSION, "kind": "RepositoryTracker", "status": status });
    api.patch_status(
        &tracker.name_any(),
        &PatchParams::apply(crate::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
