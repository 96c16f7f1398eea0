//! The observe step: what exists for an Analysis, read from the watch caches. Only a pod the
//! status says is running but the cache lacks is looked up directly, so that a cache lagging
//! behind never reads as "the pod is gone".

use std::sync::Arc;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisProfile};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::ResourceExt;
use kube::api::{Api, PartialObjectMeta};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};

use super::decide::Observed;
use crate::error::{Error, is_not_found};
use crate::settings::Settings;

/// The watch caches the controller reads.
#[derive(Clone)]
pub struct Stores {
    /// Runner pods (label-selected) of the watched namespaces.
    pub pods: Store<Pod>,
    /// Secret metadata of the watched namespaces: run secrets and referenced credentials.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Profiles; one the operator cannot read counts as absent ([`crate::guard`]).
    pub profiles: Store<DeserializeGuard<AnalysisProfile>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Owned results of observation; [`Snapshot::observed`] lends them to the decide step.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub pods: Vec<Arc<Pod>>,
    pub run_secrets: Vec<(String, Option<i32>)>,
    pub profile: Option<Arc<DeserializeGuard<AnalysisProfile>>>,
    pub missing_secrets: Vec<String>,
    /// The running attempt's latest progress, as its runner wrote it through the gateway.
    pub runner_progress: Option<gitview_core::results::ProgressEvent>,
    /// What the API server refused when this reconcile tried to start an attempt.
    pub refused: Option<super::decide::Refused>,
}

impl Snapshot {
    pub fn observed<'a>(&'a self, analysis: &'a Analysis, now: Timestamp) -> Observed<'a> {
        Observed {
            analysis,
            pods: self.pods.iter().map(AsRef::as_ref).collect(),
            run_secrets: self.run_secrets.clone(),
            profile: self.profile(),
            missing_secrets: self.missing_secrets.clone(),
            runner_progress: self.runner_progress.as_ref(),
            refused: self.refused.as_ref(),
            now,
        }
    }

    /// The Analysis's profile, if it exists and can be read.
    pub fn profile(&self) -> Option<&AnalysisProfile> {
        self.profile.as_deref().and_then(crate::guard::ok)
    }

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .map(AsRef::as_ref)
            .find(|p| p.metadata.name.as_deref() == Some(name))
    }
}

fn has_uid(labels: &std::collections::BTreeMap<String, String>, uid: &str) -> bool {
    labels.get(labels::ANALYSIS_UID).is_some_and(|v| v == uid)
}

/// Names of the credentials Secrets an Analysis references.
pub fn referenced_secrets(an: &Analysis) -> Vec<String> {
    let mut names: Vec<String> = [
        an.spec
            .repository
            .source
            .credentials_secret
            .as_ref()
            .map(|s| s.name.clone()),
        an.spec
            .run
            .llm
            .as_ref()
            .and_then(|l| l.credentials_secret.as_ref())
            .map(|s| s.name.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    names.dedup();
    names
}

/// Observes an Analysis; its profile is the one [`Settings::profile_for`] names.
pub async fn observe(
    an: &Analysis,
    stores: &Stores,
    settings: &Settings,
    pods_api: &Api<Pod>,
) -> Result<Snapshot, Error> {
    let uid = an
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingField("metadata.uid"))?;
    let namespace = an
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;

    let mut pods: Vec<Arc<Pod>> = stores
        .pods
        .state()
        .into_iter()
        .filter(|p| has_uid(p.labels(), uid))
        .collect();
    let unfinished = an
        .status
        .iter()
        .flat_map(|s| &s.attempts)
        .filter(|a| !a.is_finished());
    for attempt in unfinished {
        if pods
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(attempt.pod.as_str()))
        {
            continue;
        }
        match pods_api.get(&attempt.pod).await {
            Ok(pod) if has_uid(pod.labels(), uid) => pods.push(Arc::new(pod)),
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err.into()),
        }
    }

    let secrets = stores.secrets.state();
    let run_secrets = secrets
        .iter()
        .filter(|s| {
            s.metadata.namespace.as_deref() == Some(namespace.as_str()) && has_uid(s.labels(), uid)
        })
        .filter(|s| {
            s.labels().get(labels::SECRET_ROLE).map(String::as_str) == Some(labels::SECRET_ROLE_RUN)
        })
        .map(|s| {
            (
                s.name_any(),
                s.labels().get(labels::ATTEMPT).and_then(|a| a.parse().ok()),
            )
        })
        .collect();
    let missing_secrets = referenced_secrets(an)
        .into_iter()
        .filter(|name| {
            stores
                .secrets
                .get(&ObjectRef::new(name).within(&namespace))
                .is_none()
        })
        .collect();
    let profile = stores
        .profiles
        .get(&ObjectRef::new(settings.profile_for(&an.spec.run.profile)));

    Ok(Snapshot {
        pods,
        run_secrets,
        profile,
        missing_secrets,
        runner_progress: None,
        refused: None,
    })
}
