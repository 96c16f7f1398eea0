//! The janitor: a backstop for what the controller normally cleans up itself. At start and
//! then periodically it deletes run secrets whose token expired or whose Analysis is gone, and
//! runner pods whose Analysis is gone (releasing the operator's finalizer first). It lists
//! nothing itself: it reads the controller's caches, so it sees only the namespaces the
//! operator watches (`--watch-namespaces`), and looks up an owner Analysis in its child's
//! namespace.

use std::sync::Arc;
use std::time::Duration;

use gitview_crds::labels;
use gitview_crds::v1alpha1::Analysis;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, PartialObjectMeta};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::error::{Error, is_not_found};
use crate::metrics::Metrics;

/// Something the janitor found to clean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// A run secret; `why` says what made it garbage.
    Secret {
        namespace: String,
        name: String,
        why: &'static str,
    },
    /// A runner pod whose Analysis is gone.
    Pod { namespace: String, name: String },
}

/// The owner Analysis of a labelled child: `Some(true)` when it is in the cache with the
/// same uid, `Some(false)` when the cache lacks it (to be confirmed against the API server).
fn owner_cached<K: Resource>(child: &K, analyses: &Store<DeserializeGuard<Analysis>>) -> bool {
    let meta = child.meta();
    let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Analysis")
    else {
        return false;
    };
    let namespace = meta.namespace.clone().unwrap_or_default();
    analyses
        .get(&ObjectRef::new(&owner.name).within(&namespace))
        .is_some_and(|an| an.meta().uid.as_deref() == Some(owner.uid.as_str()))
}

fn expired(secret: &PartialObjectMeta<Secret>, now: Timestamp) -> bool {
    secret
        .annotations()
        .get(labels::EXPIRES_AT)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .is_some_and(|t| t < now)
}

/// Decides what to clean, from the caches (pure). Children whose owner is missing from the
/// cache are candidates only: [`sweep`] confirms with the API server before deleting them.
pub fn plan(
    secrets: &[Arc<PartialObjectMeta<Secret>>],
    pods: &[Arc<Pod>],
    analyses: &Store<DeserializeGuard<Analysis>>,
    now: Timestamp,
) -> Vec<Cleanup> {
    let mut out = Vec::new();
    for secret in secrets {
        if secret.labels().get(labels::SECRET_ROLE).map(String::as_str)
            != Some(labels::SECRET_ROLE_RUN)
        {
            continue;
        }
        let why = if expired(secret, now) {
            "token expired"
        } else if !owner_cached(secret.as_ref(), analyses) {
            "analysis gone"
        } else {
            continue;
        };
        out.push(Cleanup::Secret {
            namespace: secret.namespace().unwrap_or_default(),
            name: secret.name_any(),
            why,
        });
    }
    for pod in pods {
        if !owner_cached(pod.as_ref(), analyses) {
            out.push(Cleanup::Pod {
                namespace: pod.namespace().unwrap_or_default(),
                name: pod.name_any(),
            });
        }
    }
    out
}

/// Whether the owner Analysis of a child really is gone (404, or another uid now).
async fn owner_gone<K: Resource>(client: &Client, child: &K) -> Result<bool, Error> {
    let meta = child.meta();
    let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Analysis")
    else {
        return Ok(true);
    };
    let api: Api<Analysis> = Api::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    match api.get(&owner.name).await {
        Ok(an) => Ok(an.metadata.uid.as_deref() != Some(owner.uid.as_str())),
        Err(err) if is_not_found(&err) => Ok(true),
        Err(err) => Err(err.into()),
    }
}

/// One sweep: plan from the caches, confirm, delete. Returns how many objects it deleted.
pub async fn sweep(
    client: &Client,
    secrets: &Store<PartialObjectMeta<Secret>>,
    pods: &Store<Pod>,
    analyses: &Store<DeserializeGuard<Analysis>>,
    metrics: &Metrics,
    now: Timestamp,
) -> Result<usize, Error> {
    let secret_list = secrets.state();
    let pod_list = pods.state();
    let mut deleted = 0;
    for cleanup in plan(&secret_list, &pod_list, analyses, now) {
        match cleanup {
            Cleanup::Secret {
                namespace,
                name,
                why,
            } => {
                let secret = secret_list
                    .iter()
                    .find(|s| s.name_any() == name && s.namespace().as_deref() == Some(&namespace));
                if why == "analysis gone"
                    && !matches!(secret, Some(s) if owner_gone(client, s.as_ref()).await?)
                {
                    continue;
                }
                let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        info!(%namespace, secret = %name, why, "janitor deleted run secret");
                        metrics.observe_janitor_deletion("secret");
                        deleted += 1;
                    }
                    Err(err) if is_not_found(&err) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Cleanup::Pod { namespace, name } => {
                let Some(pod) = pod_list
                    .iter()
                    .find(|p| p.name_any() == name && p.namespace().as_deref() == Some(&namespace))
                else {
                    continue;
                };
                if !owner_gone(client, pod.as_ref()).await? {
                    continue;
                }
                let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
                crate::analysis::act::release_pod(&api, pod).await?;
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {
                        info!(%namespace, pod = %name, "janitor deleted orphaned runner pod");
                        metrics.observe_janitor_deletion("pod");
                        deleted += 1;
                    }
                    Err(err) if is_not_found(&err) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    Ok(deleted)
}

/// Sweeps at start (once the caches are ready) and then every `interval`, forever.
pub async fn run(
    client: Client,
    secrets: Store<PartialObjectMeta<Secret>>,
    pods: Store<Pod>,
    analyses: Store<DeserializeGuard<Analysis>>,
    metrics: Arc<Metrics>,
    interval: Duration,
) {
    for store_ready in [
        secrets.wait_until_ready().await,
        pods.wait_until_ready().await,
        analyses.wait_until_ready().await,
    ] {
        if store_ready.is_err() {
            warn!("janitor: a cache closed before it was ready; not sweeping");
            return;
        }
    }
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        if let Err(err) = sweep(
            &client,
            &secrets,
            &pods,
            &analyses,
            &metrics,
            Timestamp::now(),
        )
        .await
        {
            warn!(error = %err, "janitor sweep failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::build;
    use crate::fixtures::*;
    use kube::runtime::watcher;

    fn run_secret_meta(
        an: &Analysis,
        attempt: i32,
        expires: Timestamp,
    ) -> Arc<PartialObjectMeta<Secret>> {
        let mut meta = build::runner_pod(&build::AttemptInputs {
            analysis: an,
            attempt,
            resolved: &resolved(),
            profile: &profile().spec,
            deadline_seconds: 60,
            resources: None,
            settings: &crate::settings::Settings::default(),
            clone_cache: None,
        })
        .unwrap()
        .metadata;
        meta.finalizers = None;
        meta.labels
            .as_mut()
            .unwrap()
            .insert(labels::SECRET_ROLE.into(), labels::SECRET_ROLE_RUN.into());
        meta.annotations = Some([(labels::EXPIRES_AT.to_owned(), expires.to_string())].into());
        Arc::new(PartialObjectMeta {
            metadata: meta,
            ..Default::default()
        })
    }

    fn store_with(analyses: &[Analysis]) -> Store<DeserializeGuard<Analysis>> {
        let (reader, mut writer) = kube::runtime::reflector::store::<DeserializeGuard<Analysis>>();
        for an in analyses {
            writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(an.clone()))));
        }
        reader
    }

    #[test]
    fn expired_and_orphaned_secrets_and_orphaned_pods_are_cleaned() {
        let live = analysis("live");
        let gone = analysis("gone");
        let analyses = store_with(std::slice::from_ref(&live));
        let secrets = vec![
            run_secret_meta(&live, 1, at(100)), // live owner, not expired: kept
            run_secret_meta(&live, 2, at(10)),  // expired
            run_secret_meta(&gone, 1, at(100)), // owner gone
        ];
        let pods = vec![
            Arc::new(runner_pod(&live, 1)),
            Arc::new(runner_pod(&gone, 1)),
        ];
        let plan = plan(&secrets, &pods, &analyses, at(50));
        let names: Vec<(&str, &str)> = plan
            .iter()
            .map(|c| match c {
                Cleanup::Secret { name, why, .. } => (name.as_str(), *why),
                Cleanup::Pod { name, .. } => (name.as_str(), "pod"),
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    build::attempt_name("live", "0000live-uid", 2).as_str(),
                    "token expired"
                ),
                (
                    build::attempt_name("gone", "0000gone-uid", 1).as_str(),
                    "analysis gone"
                ),
                (
                    build::attempt_name("gone", "0000gone-uid", 1).as_str(),
                    "pod"
                ),
            ]
        );
    }

    #[test]
    fn a_recreated_analysis_of_the_same_name_does_not_adopt_old_children() {
        let old = analysis("same");
        let mut new = analysis("same");
        new.metadata.uid = Some("another-uid".into());
        let plan = plan(
            &[],
            &[Arc::new(runner_pod(&old, 1))],
            &store_with(&[new]),
            at(0),
        );
        assert_eq!(plan.len(), 1);
    }

    #[test]
    fn secrets_that_are_not_run_secrets_are_never_touched() {
        let mut user_secret = (*run_secret_meta(&analysis("x"), 1, at(0))).clone();
        user_secret.metadata.labels = None;
        assert!(plan(&[Arc::new(user_secret)], &[], &store_with(&[]), at(1000)).is_empty());
    }
}
