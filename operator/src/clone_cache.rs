//! A tracker's clone cache: the PersistentVolumeClaim its runs keep the repository's clone on,
//! so an incremental run fetches only the new commits (the runner's `clone_cache`).
//!
//! * The tracker controller keeps the claim ([`reconcile`]): created once from
//!   `spec.cloneCache` (`<tracker>-clone-cache`, owned by the tracker, so it goes with it),
//!   deleted when the field is removed. Its size is not changed afterwards.
//! * An attempt of an Analysis the tracker owns mounts it ([`for_attempt`]) — but one running
//!   pod at a time: a claim is usually ReadWriteOnce, and a second pod on another node would
//!   wait for the volume until its deadline. An attempt that finds the claim in use, missing,
//!   lost or someone else's runs without it, cloning into scratch as without a cache.
//!
//! The claim and its pods carry `gitview.dev/clone-cache: <tracker uid>`.

use std::collections::BTreeMap;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, RepositoryTracker};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Pod, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::error::Error;

/// Held from the check that a claim is free until its pod is created, so two attempts of one
/// tracker starting at once cannot both mount it.
static CLAIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The claim of the tracker named `tracker`.
pub fn claim_name(tracker: &str) -> String {
    const SUFFIX: &str = "-clone-cache";
    let mut base: String = tracker.chars().take(253 - SUFFIX.len()).collect();
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}{SUFFIX}")
}

/// The claim `tracker` asks for, if it asks for one.
pub fn claim(tracker: &RepositoryTracker) -> Option<PersistentVolumeClaim> {
    let spec = tracker.spec.clone_cache.as_ref()?;
    let uid = tracker.uid()?;
    Some(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim_name(&tracker.name_any())),
            namespace: tracker.namespace(),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    labels::MANAGED_BY.to_owned(),
                ),
                (
                    "app.kubernetes.io/component".to_owned(),
                    "clone-cache".to_owned(),
                ),
                (labels::CLONE_CACHE.to_owned(), uid),
            ])),
            owner_references: tracker.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: spec.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), spec.size.clone())])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    })
}

/// Whether `claim` is the clone cache of the tracker with `uid`.
fn belongs_to(claim: &PersistentVolumeClaim, uid: &str) -> bool {
    claim.labels().get(labels::CLONE_CACHE).map(String::as_str) == Some(uid)
}

/// Keeps the tracker's claim as its spec says: created when asked for and missing, deleted
/// when no longer asked for. A claim the API server refuses (a quota, a missing storage class)
/// is a warning, not a failed reconcile: the tracker's runs clone afresh.
pub async fn reconcile(tracker: &RepositoryTracker, client: &Client) -> Result<(), Error> {
    let (Some(namespace), Some(uid)) = (tracker.namespace(), tracker.uid()) else {
        return Ok(());
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let name = claim_name(&tracker.name_any());
    let existing = claims.get_opt(&name).await?;
    match (claim(tracker), existing) {
        (Some(wanted), None) => match claims.create(&PostParams::default(), &wanted).await {
            Ok(_) => info!(namespace, claim = name, "created the tracker's clone cache"),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => {
                warn!(namespace, claim = name, code = status.code, message = %status.message,
                    "the tracker's clone cache was refused: its runs clone afresh");
            }
            Err(err) => return Err(err.into()),
        },
        (None, Some(existing)) if belongs_to(&existing, &uid) => {
            match claims.delete(&name, &DeleteParams::default()).await {
                Ok(_) => info!(namespace, claim = name, "deleted the tracker's clone cache"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
        _ => {}
    }
    Ok(())
}

/// A claim an attempt mounts: held until the attempt's pod exists.
#[derive(Debug)]
pub struct Claimed {
    pub name: String,
    /// The tracker's uid: the label value of the claim and the pod.
    pub label: String,
    _held: tokio::sync::MutexGuard<'static, ()>,
}

impl Claimed {
    /// A claim as [`for_attempt`] gives it, for the pod builder's tests.
    #[cfg(test)]
    pub fn for_test(name: &str, label: &str) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            _held: CLAIMING
                .try_lock()
                .expect("tests take the claim lock one at a time"),
        }
    }
}

/// The clone cache an attempt of `an` mounts: its tracker's claim, if the tracker asks for one,
/// the claim is its own and not lost, and no other pod of the tracker that mounts it is still
/// there. Hold the answer until the attempt's pod is created.
pub async fn for_attempt(an: &Analysis, client: &Client) -> Result<Option<Claimed>, Error> {
    let Some(owner) = an
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "RepositoryTracker")
    else {
        return Ok(None);
    };
    let Some(namespace) = an.namespace() else {
        return Ok(None);
    };
    let trackers: Api<RepositoryTracker> = Api::namespaced(client.clone(), &namespace);
    let Some(tracker) = trackers.get_opt(&owner.name).await? else {
        return Ok(None);
    };
    if tracker.uid().as_deref() != Some(owner.uid.as_str()) || tracker.spec.clone_cache.is_none() {
        return Ok(None);
    }
    let name = claim_name(&tracker.name_any());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let Some(claim) = claims.get_opt(&name).await? else {
        return Ok(None);
    };
    let lost = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|phase| phase == "Lost");
    if !belongs_to(&claim, &owner.uid) || lost || claim.meta().deletion_timestamp.is_some() {
        return Ok(None);
    }
    let held = CLAIMING.lock().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mounting = pods
        .list(&ListParams::default().labels(&format!("{}={}", labels::CLONE_CACHE, owner.uid)))
        .await?;
    let busy = mounting.items.iter().any(|pod| {
        !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
    });
    if busy {
        info!(
            namespace,
            claim = name,
            "another run of the tracker holds its clone cache: this attempt clones afresh"
        );
        return Ok(None);
    }
    Ok(Some(Claimed {
        name,
        label: owner.uid.clone(),
        _held: held,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(spec: serde_json::Value) -> RepositoryTracker {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "gitview.dev/v1alpha1",
            "kind": "RepositoryTracker",
            "metadata": {"name": "repo", "namespace": "team-a", "uid": "tracker-uid"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn a_tracker_asks_for_its_claim_only_with_clone_cache() {
        let base = serde_json::json!({"repository": {"url": "https://example.com/r.git"},
                                      "branches": ["main"]});
        assert!(claim(&tracker(base.clone())).is_none());
        let mut with = base;
        with["cloneCache"] = serde_json::json!({"size": "5Gi", "storageClassName": "fast"});
        let claim = claim(&tracker(with)).unwrap();
        assert_eq!(claim.metadata.name.as_deref(), Some("repo-clone-cache"));
        assert_eq!(claim.metadata.namespace.as_deref(), Some("team-a"));
        assert!(belongs_to(&claim, "tracker-uid"));
        assert!(!belongs_to(&claim, "another"));
        let owner = &claim.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("RepositoryTracker", "tracker-uid", Some(true))
        );
        let spec = claim.spec.unwrap();
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(spec.access_modes.unwrap(), ["ReadWriteOnce"]);
        assert_eq!(
            spec.resources.unwrap().requests.unwrap()["storage"].0,
            "5Gi"
        );
    }

    #[test]
    fn claim_names_fit_an_object_name() {
        assert_eq!(claim_name("repo"), "repo-clone-cache");
        let long = "a".repeat(253);
        assert_eq!(claim_name(&long).len(), 253);
        let dashed = format!("{}-{}", "a".repeat(240), "b".repeat(12));
        assert!(
            !claim_name(&dashed).contains("--"),
            "{}",
            claim_name(&dashed)
        );
    }
}
