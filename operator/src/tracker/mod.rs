//! The RepositoryTracker controller: polls each tracker's remote for its branches' heads (a
//! `git ls-remote`, nothing cloned), and per branch creates an incremental Analysis from the
//! tracker's template when the head moved past the last analyzed commit, under the tracker's
//! concurrency policy and history limits. It writes only the tracker's status, never its
//! spec, so GitOps tools see no drift.
//!
//! Polls happen on the adaptive interval in the status, when the spec changes, and when the
//! `gitview.dev/requested-at` annotation takes a new value. Between polls, a change of an
//! owned Analysis (a run finishing under `Forbid`) is acted on with the heads already known.
//!
//! Each reconcile, like the Analysis controller's: **observe** ([`observe`]: the tracker's
//! runs from the watch cache, its webhook path, the remote's branches when a poll is due
//! ([`poll`]), the gateway's last analyzed commits) → **decide** ([`decide`], pure, the clock
//! injected: the runs to supersede, create and prune) → **act** ([`act`]: creates and
//! deletes, a refusal of the API server being an answer) → **status** ([`status`]: conditions
//! and heads concluded from what was observed and done, one server-side apply, then the
//! Events). The Analysis it creates is built by [`build`]; [`webhook`] receives the forges'
//! deliveries. Trackers, and the Analyses they own, are watched through
//! [`DeserializeGuard`]: one the operator cannot read is skipped with a Warning Event
//! ([`crate::guard`]).

pub mod act;
pub mod build;
pub mod decide;
pub mod observe;
pub mod poll;
pub mod status;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, RepositoryTracker};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action as Requeue, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, warn};

use crate::account::Accounts;
use crate::clock::Clock;
use crate::error::Error;
pub use crate::gateway::GatewayReader;
use crate::metrics::Metrics;
use crate::scope::WatchScope;
use decide::Owned;
pub use status::tracker_conditions;

/// What the tracker controller needs.
#[expect(
    missing_debug_implementations,
    reason = "kube's Client and Recorder print nothing useful"
)]
pub struct TrackerContext {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Where the gateway says a repository was last analyzed (by any run, a tracker's or
    /// not); without it, or when it does not answer, the tracker's own runs decide.
    pub gateway: Option<Arc<GatewayReader>>,
    /// The gateway account of each namespace, for those questions.
    pub accounts: Arc<Accounts>,
    pub clock: Clock,
    /// The profile of runs that name none ([`crate::settings::profile_for`]): its egress
    /// policy holds the polls of a tracker whose template names none.
    pub default_profile: String,
}

/// What a reconcile reads: the shared context, and the cache of owned Analyses whose watch
/// triggers the controller. Reading runs from that cache (not the Analysis controller's,
/// which its own watch fills at its own pace) means a reconcile woken by a run finishing sees
/// it finished: otherwise `Forbid` could take the finished run for a running one, wait, and
/// not be woken again before the next poll.
struct Context {
    shared: Arc<TrackerContext>,
    owned: Store<DeserializeGuard<Analysis>>,
    /// Whether `owned` has listed, for every reconcile waiting at once ([`crate::ready`]: the
    /// store's own readiness would wake only one of them).
    owned_ready: crate::ready::Ready,
    /// Analyses this controller created that its cache may not show yet (the "expectations"
    /// of Kubernetes' own controllers), by tracker UID: a reconcile woken by its own status
    /// write before the watch delivered the new run must not take the branch for idle and
    /// start a second run under `Forbid`. An entry goes once the cache shows the run, or
    /// after [`EXPECTATION_TTL`].
    pending: std::sync::Mutex<std::collections::HashMap<String, Vec<(Owned, std::time::Instant)>>>,
}

/// How long a created Analysis is assumed to exist without the cache showing it.
const EXPECTATION_TTL: Duration = Duration::from_secs(60);

impl Context {
    /// The tracker's runs: the cache's, plus the ones created but not seen yet.
    fn runs(&self, tracker: &RepositoryTracker) -> Vec<Owned> {
        let cached = observe::owned_of(&self.owned, tracker);
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entries) = pending.get_mut(&tracker.uid().unwrap_or_default()) else {
            return cached;
        };
        entries.retain(|(run, at)| {
            at.elapsed() < EXPECTATION_TTL && !cached.iter().any(|c| c.name == run.name)
        });
        let unseen: Vec<Owned> = entries.iter().map(|(run, _)| run.clone()).collect();
        decide::with_unseen(cached, unseen)
    }

    /// Remembers a run just created.
    fn expect(&self, tracker: &RepositoryTracker, run: Owned) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending
            .entry(tracker.uid().unwrap_or_default())
            .or_default()
            .push((run, std::time::Instant::now()));
    }
}

/// Runs the controller until its watches end. Trackers and the Analyses they own are watched
/// in `scope`.
pub async fn run(client: Client, ctx: Arc<TrackerContext>, concurrency: u16, scope: WatchScope) {
    let slim = |object: &mut _| drop_managed_fields(object);
    let (trackers, trackers_writer) = reflector::store::<DeserializeGuard<RepositoryTracker>>();
    let tracker_stream = scope
        .watch(&client, &watcher::Config::default(), trackers.clone(), slim)
        .reflect(trackers_writer)
        .applied_objects();
    let (owned, owned_writer) = reflector::store::<DeserializeGuard<Analysis>>();
    let owned_stream = scope
        .watch(
            &client,
            &watcher::Config::default().labels(labels::TRACKER),
            owned.clone(),
            |a: &mut DeserializeGuard<Analysis>| drop_managed_fields(a),
        )
        .reflect(owned_writer)
        .touched_objects();
    let (owned_ready, tell_owned_ready) = crate::ready::Ready::of(owned.clone());
    let context = Arc::new(Context {
        shared: ctx,
        owned,
        owned_ready,
        pending: std::sync::Mutex::default(),
    });
    let controller = Controller::for_stream(tracker_stream, trackers)
        .owns_stream(owned_stream)
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(err) = result {
                debug!(error = %err, "tracker controller event");
            }
        });
    tokio::join!(controller, tell_owned_ready);
}

fn drop_managed_fields<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

fn error_policy(
    tracker: Arc<DeserializeGuard<RepositoryTracker>>,
    err: &Error,
    ctx: Arc<Context>,
) -> Requeue {
    let class = err.class();
    warn!(namespace = tracker.namespace().unwrap_or_default(), tracker = tracker.name_any(), error = %err, "tracker reconcile failed");
    ctx.shared.metrics.observe_error("repositorytracker", class);
    Requeue::requeue(class.requeue_after())
}

async fn reconcile(
    guard: Arc<DeserializeGuard<RepositoryTracker>>,
    context: Arc<Context>,
) -> Result<Requeue, Error> {
    let ctx = &context.shared;
    let Some(tracker) = crate::guard::valid(&guard, &ctx.recorder).await else {
        return Ok(Requeue::await_change());
    };
    // Until the owned runs are listed, a tracker could not tell a running branch from an idle one.
    if !context.owned_ready.wait().await {
        return Ok(Requeue::await_change());
    }
    let namespace = tracker
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    crate::clone_cache::reconcile(tracker, &ctx.client).await?;
    let now = (ctx.clock)();
    let observed = observe::observe(tracker, &context, now).await;
    let actions = decide::actions(&observed);
    debug!(namespace, tracker = tracker.name_any(), ?actions, "decided");
    let done = act::act(tracker, &actions, &context, now).await?;
    let concluded = decide::conclude(&observed, &done);
    let api: Api<RepositoryTracker> = Api::namespaced(ctx.client.clone(), &namespace);
    status::write(&api, tracker, &concluded.status).await?;
    crate::events::publish(
        &ctx.recorder,
        &tracker.object_ref(&()),
        "Poll",
        &concluded.events,
    )
    .await;
    if tracker.spec.suspend {
        return Ok(Requeue::await_change());
    }
    Ok(Requeue::requeue(decide::requeue_after(
        &concluded.status,
        (ctx.clock)(),
    )))
}

#[cfg(test)]
mod tests;
