//! The Analysis controller.
//!
//! Each reconcile: **observe** ([`observe`]) the Analysis, its runner pods and secrets and its
//! profile from watch caches → **decide** ([`decide`], pure: the new status, the actions, the
//! Events, when to look again) → **act** ([`act`]): create or delete what the plan says, write
//! the status once with server-side apply, then release finished pods and publish Events.
//!
//! Runner pods carry a finalizer that is removed only after their outcome is in the status,
//! so a pod deleted by anyone never loses its result. Retries wait for their backoff by
//! requeueing at that time. A missing profile or Secret stalls the Analysis until a watch on
//! profiles or Secrets brings the change. A run Secret or runner pod the API server refuses
//! (a 4xx of the object's own, [`crate::error::refusal`]) stalls it until its spec or profile
//! changes, or, for a full ResourceQuota, retries the start every
//! [`Settings::quota_retry`](crate::settings::Settings::quota_retry).
//!
//! Analyses and profiles are watched through [`DeserializeGuard`]: an Analysis the operator
//! cannot read is skipped with a Warning Event, a profile it cannot read counts as absent
//! ([`crate::guard`]).

pub mod act;
pub mod build;
pub mod classify;
pub mod decide;
pub mod observe;

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisProfile};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, PartialObjectMeta};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action as Requeue, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{Instrument, debug, info_span, warn};

use crate::error::Error;
use crate::metrics::Metrics;
use crate::scope::WatchScope;
use crate::settings::Settings;
use crate::token::TokenSigner;
use observe::Stores;

pub use crate::clock::Clock;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub signer: TokenSigner,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub stores: Stores,
    pub clock: Clock,
    /// Where running attempts' progress is read (with [`Settings::progress_refresh`]).
    pub gateway: Option<Arc<crate::gateway::GatewayReader>>,
    /// The gateway account of each namespace, for those reads.
    pub accounts: Arc<crate::account::Accounts>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Label selector of everything the operator creates.
pub fn managed_selector() -> String {
    format!("app.kubernetes.io/managed-by={}", labels::MANAGED_BY)
}

/// One reconcile of one Analysis, as the controller runs it: one the operator cannot read is
/// skipped until it changes, with a Warning Event ([`crate::guard`]).
pub async fn reconcile(
    guard: Arc<DeserializeGuard<Analysis>>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let Some(an) = crate::guard::valid(&guard, &ctx.recorder).await else {
        return Ok(Requeue::await_change());
    };
    reconcile_analysis(an, ctx).await
}

async fn reconcile_analysis(an: &Analysis, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let span = info_span!(
        "reconcile",
        namespace = an.namespace().unwrap_or_default(),
        analysis = an.name_any()
    );
    async move {
        let started = Instant::now();
        let now = (ctx.clock)();
        let pods: Api<Pod> =
            Api::namespaced(ctx.client.clone(), &an.namespace().unwrap_or_default());
        let mut snapshot = observe::observe(an, &ctx.stores, &ctx.settings, &pods).await?;
        snapshot.runner_progress = runner_progress(an, &ctx).await;
        let plan = decide::decide(&snapshot.observed(an, now), &ctx.settings);
        debug!(?plan, "decided");
        let mut requeue = plan.requeue_after;
        if let act::Acted::Refused(refused) = act::act(an, plan, &snapshot, &ctx, now).await? {
            // The API server refused what the attempt needs: a configuration error (or a full
            // quota), not a transient one. Decided again knowing it, the plan records it in the
            // status instead of the attempt, and starts nothing.
            snapshot.refused = Some(refused);
            let plan = decide::decide(&snapshot.observed(an, now), &ctx.settings);
            debug!(?plan, "decided after the refusal");
            requeue = plan.requeue_after;
            if let act::Acted::Refused(again) = act::act(an, plan, &snapshot, &ctx, now).await? {
                warn!(?again, "a plan made after a refusal started an attempt");
            }
        }
        ctx.metrics.observe_reconcile("analysis", started.elapsed());
        Ok(requeue.map_or_else(Requeue::await_change, Requeue::requeue))
    }
    .instrument(span)
    .await
}

/// The latest progress the running attempt's own runner wrote through the gateway, if the
/// Analysis is running and the gateway answers (a failure is logged and shows no progress:
/// it must not stop the reconcile).
async fn runner_progress(
    an: &Analysis,
    ctx: &Context,
) -> Option<gitview_core::results::ProgressEvent> {
    let gateway = ctx.gateway.as_ref()?;
    let status = an.status.as_ref()?;
    let attempt = status.attempts.last()?;
    if status.phase != Some(gitview_crds::v1alpha1::AnalysisPhase::Running) || attempt.is_finished()
    {
        return None;
    }
    let (namespace, uid) = (an.namespace()?, an.metadata.uid.clone()?);
    let account = match ctx.accounts.get(&ctx.client, &namespace).await {
        Ok(account) => account,
        Err(err) => {
            debug!(error = %err, "cannot read the namespace for the run's account");
            return None;
        }
    };
    match gateway
        .latest_progress(&account, &uid, attempt.number)
        .await
    {
        Ok(progress) => progress,
        Err(err) => {
            debug!(error = %err, "cannot read the run's progress from the gateway");
            None
        }
    }
}

/// What a failed reconcile does: count it by class and retry after the class's delay.
pub fn error_policy(
    an: Arc<DeserializeGuard<Analysis>>,
    err: &Error,
    ctx: Arc<Context>,
) -> Requeue {
    let class = err.class();
    warn!(namespace = an.namespace().unwrap_or_default(), analysis = an.name_any(), error = %err, class = class.as_str(), "reconcile failed");
    ctx.metrics.observe_error("analysis", class);
    Requeue::requeue(class.requeue_after())
}

/// Drops what the operator never reads from cached objects, to keep memory flat.
fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.retain(|k, _| k.starts_with("gitview.dev/"));
    }
}

/// The caches and the controller, wired together. Nothing runs until [`Wiring::run`].
pub struct Wiring {
    pub analyses: Store<DeserializeGuard<Analysis>>,
    pub stores: Stores,
    controller: Controller<DeserializeGuard<Analysis>>,
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring").finish_non_exhaustive()
    }
}

/// Builds the watch streams, their caches and the controller. Analyses, runner pods and
/// secrets are watched in `scope`; profiles are cluster-scoped and always watched cluster-wide.
/// A profile's change wakes the Analyses that run with it (`default_profile`: those that name
/// `default`, [`crate::settings::profile_for`]).
pub fn wire(client: Client, concurrency: u16, scope: &WatchScope, default_profile: &str) -> Wiring {
    let (analyses, analyses_writer) = reflector::store::<DeserializeGuard<Analysis>>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let (secrets, secrets_writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let (profiles, profiles_writer) = reflector::store::<DeserializeGuard<AnalysisProfile>>();

    let analysis_stream = scope
        .watch(&client, &watcher::Config::default(), analyses.clone(), slim)
        .reflect(analyses_writer)
        .applied_objects();
    let pod_stream = scope
        .watch(
            &client,
            &watcher::Config::default().labels(&managed_selector()),
            pods.clone(),
            slim,
        )
        .reflect(pods_writer)
        .touched_objects();
    let secret_stream = scope
        .watch(&client, &watcher::Config::default(), secrets.clone(), slim)
        .reflect(secrets_writer)
        .touched_objects();
    let profile_stream = watcher(
        Api::<DeserializeGuard<AnalysisProfile>>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(slim)
    .reflect(profiles_writer)
    .touched_objects();

    let by_profile = analyses.clone();
    let default_profile = default_profile.to_owned();
    let by_secret = analyses.clone();
    let controller = Controller::for_stream(analysis_stream, analyses.clone())
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns_stream(pod_stream)
        .watches_stream(profile_stream, move |profile| {
            let name = profile.name_any();
            unfinished(&by_profile, |a| {
                crate::settings::profile_for(&a.spec.run.profile, &default_profile) == name
            })
        })
        .watches_stream(secret_stream, move |secret| {
            let (name, namespace) = (secret.name_any(), secret.namespace());
            unfinished(&by_secret, |a| {
                a.namespace() == namespace && observe::referenced_secrets(a).contains(&name)
            })
        });
    Wiring {
        analyses,
        stores: Stores {
            pods,
            secrets,
            profiles,
        },
        controller,
    }
}

impl Wiring {
    /// Runs the controller until its watches end or the future is dropped.
    pub async fn run(self, ctx: Arc<Context>) {
        self.controller
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(err) = result {
                    debug!(error = %err, "controller event");
                }
            })
            .await;
    }
}

/// The unfinished Analyses in the cache that `keep` selects, as the controller names them.
fn unfinished(
    store: &Store<DeserializeGuard<Analysis>>,
    keep: impl Fn(&Analysis) -> bool,
) -> Vec<ObjectRef<DeserializeGuard<Analysis>>> {
    store
        .state()
        .iter()
        .filter(|guard| {
            crate::guard::ok(guard).is_some_and(|a| {
                !a.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(gitview_crds::v1alpha1::AnalysisPhase::is_finished)
                    && keep(a)
            })
        })
        .map(|guard| ObjectRef::from_obj(&**guard))
        .collect()
}

#[cfg(test)]
mod tests;
