//! The RepositoryTracker controller: polls each tracker's remote for its branches' heads (a
//! `git ls-remote`, nothing cloned), and per branch creates an incremental Analysis from the
//! tracker's template when the head moved past the last analyzed commit, under the tracker's
//! concurrency policy and history limits. It writes only the tracker's status, never its
//! spec, so GitOps tools see no drift.
//!
//! Polls happen on the adaptive interval in the status, when the spec changes, and when the
//! `gitview.dev/requested-at` annotation takes a new value. Between polls, a change of an
//! owned Analysis (a run finishing under `Forbid`) is acted on with the heads already known.

pub mod decide;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{
    API_VERSION, Analysis, AnalysisMode, AnalysisPhase, AnalysisProfile, AnalysisRepository,
    AnalysisSpec, BranchStatus, ModeType, RepositoryTracker, RepositoryTrackerStatus,
};
use gitview_crds::wire::keys;
use gitview_runner::fetch::{Credentials, FetchError, Secret as GitSecret};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{self, Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::analysis::act::FIELD_MANAGER;
use crate::conditions::{self, READY, RECONCILING, STALLED};
use crate::error::{Error, Refusal, is_not_found, refusal_of};
pub use crate::gateway::GatewayReader;
use crate::metrics::Metrics;
use crate::scope::WatchScope;
use decide::{Owned, PollOutcome, Rejected, Step};

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
}

/// The gateway account of a namespace, by the rule Analyses write under.
async fn account_of(client: &Client, namespace: &str) -> Result<String, kube::Error> {
    let ns = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .get(namespace)
        .await?;
    Ok(crate::analysis::act::account_of(&ns))
}

/// What a reconcile reads: the shared context, and the cache of owned Analyses whose watch
/// triggers the controller. Reading runs from that cache (not the Analysis controller's,
/// which its own watch fills at its own pace) means a reconcile woken by a run finishing sees
/// it finished: otherwise `Forbid` could take the finished run for a running one, wait, and
/// not be woken again before the next poll.
struct Context {
    shared: Arc<TrackerContext>,
    owned: Store<Analysis>,
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
        let cached = owned_of(&self.owned, tracker);
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
    let (trackers, trackers_writer) = reflector::store::<RepositoryTracker>();
    let tracker_stream = scope
        .watch(&client, &watcher::Config::default(), trackers.clone(), slim)
        .reflect(trackers_writer)
        .applied_objects();
    let (owned, owned_writer) = reflector::store::<Analysis>();
    let owned_stream = scope
        .watch(
            &client,
            &watcher::Config::default().labels(labels::TRACKER),
            owned.clone(),
            |a: &mut Analysis| drop_managed_fields(a),
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

fn error_policy(tracker: Arc<RepositoryTracker>, err: &Error, ctx: Arc<Context>) -> Requeue {
    let class = err.class();
    warn!(namespace = tracker.namespace().unwrap_or_default(), tracker = tracker.name_any(), error = %err, "tracker reconcile failed");
    ctx.shared.metrics.observe_error("repositorytracker", class);
    Requeue::requeue(class.requeue_after())
}

/// Why a poll failed.
#[derive(Debug)]
enum PollError {
    /// Needs a change from outside (a missing Secret, a repository that does not exist, refused
    /// credentials): `Stalled`.
    Stalled(String),
    /// May pass by itself (the host is down): retried at the minimum interval.
    Transient(String),
}

fn owned_of(store: &Store<Analysis>, tracker: &RepositoryTracker) -> Vec<Owned> {
    let uid = tracker.uid();
    store
        .state()
        .iter()
        .filter(|a| {
            a.namespace() == tracker.namespace()
                && a.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|a| {
            let annotations = a.annotations();
            let status = a.status.as_ref();
            let phase = status.and_then(|s| s.phase);
            Some(Owned {
                name: a.name_any(),
                branch: annotations.get(labels::BRANCH)?.clone(),
                head: annotations.get(labels::HEAD_COMMIT)?.clone(),
                finished: phase.is_some_and(AnalysisPhase::is_finished),
                succeeded: phase == Some(AnalysisPhase::Succeeded),
                to_commit: status
                    .and_then(|s| s.result.as_ref())
                    .and_then(|r| r.to_commit.clone()),
                created: a.creation_timestamp().map_or(0, |t| t.0.as_second()),
            })
        })
        .collect()
}

/// What a poll authenticates with: http(s) basic auth or a token, and an ssh key with its
/// `known_hosts`, as read from the tracker's `credentialsSecret`.
#[derive(Default)]
struct PollCredentials {
    basic: Credentials,
    ssh_key: Option<Vec<u8>>,
    known_hosts: Option<Vec<u8>>,
}

/// Reads the tracker's `credentialsSecret` as an Analysis's is read ([`crate::credentials`]):
/// `username`, `password` or `token` (or the value under its `key`), `ssh-privatekey`,
/// `known_hosts`.
async fn credentials(
    client: &Client,
    tracker: &RepositoryTracker,
) -> Result<PollCredentials, PollError> {
    let Some(reference) = &tracker.spec.repository.credentials_secret else {
        return Ok(PollCredentials::default());
    };
    let namespace = tracker.namespace().unwrap_or_default();
    let secret = match Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&reference.name)
        .await
    {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return Err(PollError::Stalled(format!(
                "credentials Secret {namespace}/{} not found",
                reference.name
            )));
        }
        Err(err) => {
            return Err(PollError::Transient(format!(
                "cannot read the credentials Secret: {err}"
            )));
        }
    };
    let data = secret.data.unwrap_or_default();
    let git = crate::credentials::git(reference, &data)
        .map_err(|err| PollError::Stalled(err.to_string()))?;
    Ok(poll_credentials(git))
}

/// The poll's credentials from the runner-named git credentials of [`crate::credentials::git`].
fn poll_credentials(mut git: BTreeMap<String, k8s_openapi::ByteString>) -> PollCredentials {
    let text = |key: &str| {
        git.get(key)
            .map(|v| {
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            })
            .filter(|v| !v.is_empty())
    };
    let basic = Credentials {
        username: text(keys::GIT_USERNAME),
        password: text(keys::GIT_PASSWORD).map(GitSecret::new),
        token: text(keys::GIT_TOKEN).map(GitSecret::new),
        ..Credentials::default()
    };
    let mut bytes = |key: &str| git.remove(key).map(|v| v.0).filter(|v| !v.is_empty());
    PollCredentials {
        basic,
        ssh_key: bytes(keys::SSH_PRIVATE_KEY),
        known_hosts: bytes(keys::SSH_KNOWN_HOSTS),
    }
}

/// Writes the ssh key (0600: `ssh` refuses anything looser) and `known_hosts` into `dir`, for
/// the duration of one poll; returns the credentials that name them.
fn with_ssh_files(
    dir: &std::path::Path,
    credentials: PollCredentials,
) -> std::io::Result<Credentials> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut basic = credentials.basic;
    let write = |name: &str, bytes: &[u8], mode: u32| -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(path)
    };
    if let Some(key) = &credentials.ssh_key {
        basic.ssh_private_key = Some(write("ssh-privatekey", key, 0o600)?);
    }
    if let Some(known_hosts) = &credentials.known_hosts {
        basic.ssh_known_hosts = Some(write("known_hosts", known_hosts, 0o644)?);
    }
    Ok(basic)
}

/// `git ls-remote --heads` of the tracker's repository, on a blocking thread, through a
/// throwaway scratch directory (the scratch repository, and an ssh key while the poll runs:
/// on the operator's memory-backed `/tmp` in the chart, so never on a disk).
///
/// The poll connects on the tenant's behalf, so it is held to the egress policy of the profile
/// the tracker's runs use (`repositoryPolicy.allowLinkLocal`; restricted while that profile
/// does not exist): a refused address is never dialled, and the refusal stalls the tracker.
async fn poll(
    client: &Client,
    tracker: &RepositoryTracker,
) -> Result<Vec<(String, String)>, PollError> {
    let egress = egress_policy(client, tracker).await?;
    let credentials = credentials(client, tracker).await?;
    let url = tracker.spec.repository.url.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let scratch = tempfile::Builder::new()
            .prefix("gitview-ls-remote-")
            .tempdir()
            .map_err(|e| PollError::Transient(format!("no scratch directory: {e}")))?;
        let credentials = with_ssh_files(scratch.path(), credentials).map_err(|e| {
            PollError::Transient(format!("cannot write the ssh key for the poll: {e}"))
        })?;
        gitview_runner::fetch::list_branches(
            &url,
            &credentials,
            &scratch.path().join("repo"),
            Some(egress),
        )
        .map_err(|err: FetchError| {
            if err.is_invalid_input() {
                PollError::Stalled(err.to_string())
            } else {
                PollError::Transient(err.to_string())
            }
        })
    })
    .await
    .map_err(|e| PollError::Transient(format!("the poll panicked: {e}")))??;
    Ok(listed
        .into_iter()
        .map(|(branch, id)| (branch, id.to_string()))
        .collect())
}

/// The egress policy of the profile the tracker's Analyses run with.
async fn egress_policy(
    client: &Client,
    tracker: &RepositoryTracker,
) -> Result<gitview_egress::Policy, PollError> {
    let name = &tracker.spec.template.spec.profile;
    match Api::<AnalysisProfile>::all(client.clone())
        .get_opt(name)
        .await
    {
        Ok(profile) => {
            Ok(gitview_egress::Policy::new(profile.is_some_and(|p| {
                p.spec.repository_policy.allow_link_local
            })))
        }
        Err(err) => Err(PollError::Transient(format!(
            "cannot read AnalysisProfile {name:?} for its repository policy: {err}"
        ))),
    }
}

fn seconds(d: i64) -> SignedDuration {
    SignedDuration::from_secs(d)
}

async fn reconcile(
    tracker: Arc<RepositoryTracker>,
    context: Arc<Context>,
) -> Result<Requeue, Error> {
    // Until the owned runs are listed, a tracker could not tell a running branch from an idle one.
    if !context.owned_ready.wait().await {
        return Ok(Requeue::await_change());
    }
    let ctx = &context.shared;
    let namespace = tracker
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = tracker.name_any();
    let now = Timestamp::now();
    let previous = tracker.status.clone().unwrap_or_default();
    let generation = tracker.metadata.generation;
    let api: Api<RepositoryTracker> = Api::namespaced(ctx.client.clone(), &namespace);
    let analyses: Api<Analysis> = Api::namespaced(ctx.client.clone(), &namespace);
    let spec = &tracker.spec;
    let (min, max) = (
        i64::from(spec.poll.min_interval_seconds),
        i64::from(spec.poll.max_interval_seconds),
    );

    let mut status = RepositoryTrackerStatus {
        observed_generation: generation,
        ..previous.clone()
    };
    if spec.suspend {
        // Requests (the annotation, webhook deliveries) are acknowledged, not acted on: the
        // status says they were seen while suspended, and resuming polls anyway.
        status.last_handled_requested_at = tracker
            .annotations()
            .get(labels::REQUESTED_AT)
            .cloned()
            .or(previous.last_handled_requested_at.clone());
        status.last_handled_webhook = previous
            .last_webhook
            .as_ref()
            .map(gitview_crds::v1alpha1::WebhookDelivery::key)
            .or(previous.last_handled_webhook.clone());
        status.next_poll_time = None;
        status.conditions = tracker_conditions(
            true,
            false,
            false,
            "Suspended",
            "polling is suspended (spec.suspend)",
            &previous.conditions,
            generation,
            now,
        );
        write_status(&api, &name, &previous, &status).await?;
        return Ok(Requeue::await_change());
    }

    // The webhook's path, while its secret can be read.
    status.webhook_path = match webhook::secret_of(&ctx.client, &tracker).await {
        Ok(Some(secret)) => Some(format!(
            "/hooks/{namespace}/{name}/{}",
            webhook::path_token(&secret, &tracker.uid().unwrap_or_default())
        )),
        Ok(None) => None,
        Err(err) => {
            warn!(namespace, tracker = name, error = %err, "cannot read the webhook secret");
            previous.webhook_path.clone()
        }
    };

    let requested = tracker.annotations().get(labels::REQUESTED_AT).cloned();
    let webhook = previous
        .last_webhook
        .as_ref()
        .map(gitview_crds::v1alpha1::WebhookDelivery::key);
    let webhook_since_poll = webhook.is_some() && webhook != previous.last_handled_webhook;
    let due = previous.next_poll_time.as_ref().is_none_or(|t| t.0 <= now)
        || previous.observed_generation != generation
        || (requested.is_some() && requested != previous.last_handled_requested_at)
        || webhook_since_poll;
    let mut heads: Vec<(String, String)> = previous
        .branches
        .iter()
        .filter_map(|b| Some((b.name.clone(), b.head_commit.clone()?)))
        .collect();
    let mut poll_failure: Option<PollError> = None;
    if due {
        status.last_handled_requested_at = requested
            .clone()
            .or(previous.last_handled_requested_at.clone());
        status.last_handled_webhook = webhook.or(previous.last_handled_webhook.clone());
        status.last_poll_time = Some(Time(now));
        match poll(&ctx.client, &tracker).await {
            Ok(listed) => {
                let polled: Vec<(String, String)> = listed
                    .into_iter()
                    .filter(|(b, _)| decide::matches(&spec.branches, b))
                    .collect();
                let moved = polled != heads;
                let interval =
                    decide::next_interval(previous.poll_interval_seconds, moved, min, max);
                let wait = interval
                    + decide::jitter(interval, &format!("{:?}{}", tracker.uid(), now.as_second()));
                status.poll_interval_seconds = Some(interval);
                status.next_poll_time =
                    Some(Time(now.checked_add(seconds(wait.max(1))).unwrap_or(now)));
                if moved {
                    info!(
                        namespace,
                        tracker = name,
                        branches = polled.len(),
                        "branch heads moved"
                    );
                }
                heads = polled;
            }
            Err(err) => {
                status.poll_interval_seconds = Some(min);
                status.next_poll_time = Some(Time(now.checked_add(seconds(min)).unwrap_or(now)));
                poll_failure = Some(err);
            }
        }
    }

    // Per branch: what to run, then the history limits. An Analysis the API server refused for
    // this generation of the spec is not asked for again (see `held_rejection`).
    let asked = requested.is_some() && requested != previous.last_handled_requested_at;
    let held = decide::held_rejection(&previous.conditions, generation, asked);
    let mut rejected = held.clone();
    let owned = context.runs(&tracker);
    let mut branches = Vec::new();
    // (warning, reason, note, the Analysis it is about). The recorder folds Events with the
    // same reason and related object into one series that keeps the first note, so each
    // Analysis needs its own related object for its note to be seen.
    let mut notes: Vec<(bool, &'static str, String, Option<String>)> = Vec::new();
    for (branch, head) in &heads {
        let mine: Vec<&Owned> = owned.iter().filter(|a| &a.branch == branch).collect();
        let before = previous.branches.iter().find(|b| &b.name == branch);
        let mut last = decide::last_analyzed(
            &mine,
            before.and_then(|b| b.last_analyzed_commit.as_deref()),
        );
        // The gateway knows runs the tracker does not own (an Analysis applied by hand). Only
        // asked when the head moved past what the tracker knows: a poll that finds nothing new
        // costs no request.
        if last.as_deref() != Some(head.as_str())
            && let Some(gateway) = &ctx.gateway
        {
            match account_of(&ctx.client, &namespace).await {
                Ok(account) => match gateway
                    .last_analyzed(&account, &spec.repository.url, branch)
                    .await
                {
                    Ok(Some(commit)) => last = Some(commit),
                    Ok(None) => {}
                    Err(err) => {
                        debug!(namespace, tracker = name, branch, error = %err, "cannot ask the gateway; the tracker's own runs decide")
                    }
                },
                Err(err) => {
                    debug!(namespace, tracker = name, error = %err, "cannot read the namespace's account")
                }
            }
        }
        let mut last_analysis = mine
            .iter()
            .max_by_key(|a| a.created)
            .map(|a| a.name.clone())
            .or_else(|| before.and_then(|b| b.last_analysis.clone()));
        let step = match decide::plan(spec.concurrency_policy, head, last.as_deref(), &mine) {
            Step::Create | Step::Replace(_) if held.is_some() => Step::Nothing,
            step => step,
        };
        match &step {
            Step::Nothing => {}
            Step::Wait(running) => debug!(
                namespace,
                tracker = name,
                branch,
                running,
                "waiting for the running analysis (Forbid)"
            ),
            Step::Replace(running) => {
                for victim in running.iter().cloned() {
                    match analyses.delete(&victim, &DeleteParams::background()).await {
                        Ok(_) => notes.push((
                            false,
                            "Superseded",
                            format!("deleted {victim}: branch {branch} moved to {head} (Replace)"),
                            Some(victim),
                        )),
                        Err(err) if is_not_found(&err) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
            }
            Step::Create => {}
        }
        if matches!(step, Step::Create | Step::Replace(_)) {
            match create(&analyses, &tracker, branch, head).await? {
                Ok(created) => {
                    context.expect(
                        &tracker,
                        decide::just_created(&created, branch, head, now.as_second()),
                    );
                    notes.push((
                        false,
                        "AnalysisCreated",
                        format!("created {created} for {branch} at {head}"),
                        Some(created.clone()),
                    ));
                    last_analysis = Some(created);
                }
                // Its template makes an Analysis the API server refuses: a configuration error
                // of the tracker, said in its status and an Event, not retried every 5 s.
                Err(refused) => {
                    let quota = refused.quota_exceeded;
                    let why = if quota {
                        conditions::reason::QUOTA_EXCEEDED
                    } else {
                        conditions::reason::CREATE_REJECTED
                    };
                    // A full quota is refused again at every poll: one Warning per streak.
                    if !conditions::find(&previous.conditions, READY)
                        .is_some_and(|c| c.reason == why && quota)
                    {
                        notes.push((true, why, refused.message.clone(), None));
                    }
                    rejected.get_or_insert(refused);
                }
            }
        }
        for doomed in decide::prune(
            &mine,
            spec.successful_history_limit,
            spec.failed_history_limit,
        ) {
            match analyses.delete(&doomed, &DeleteParams::background()).await {
                Ok(_) => debug!(
                    namespace,
                    tracker = name,
                    analysis = doomed,
                    "pruned by the history limit"
                ),
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        branches.push(BranchStatus {
            name: branch.clone(),
            head_commit: Some(head.clone()),
            last_analyzed_commit: last,
            last_analysis,
        });
    }
    status.branches = branches;

    // What the last poll found stays until the next poll: a reconcile that did not poll (its
    // own status write, an annotation, a run that finished) must not turn a failed poll into
    // NoMatchingBranch.
    let outcome = match (due, &poll_failure) {
        (false, _) => PollOutcome::NotDue,
        (true, None) => PollOutcome::Listed,
        (true, Some(PollError::Stalled(m))) => PollOutcome::Failed {
            needs_change: true,
            message: m.clone(),
        },
        (true, Some(PollError::Transient(m))) => PollOutcome::Failed {
            needs_change: false,
            message: m.clone(),
        },
    };
    let summary = decide::summary(
        &outcome,
        rejected.as_ref(),
        heads.len(),
        &spec.branches,
        &previous.conditions,
    );
    status.conditions = tracker_conditions(
        summary.ready,
        summary.stalled,
        summary.reconciling,
        summary.reason,
        &summary.message,
        &previous.conditions,
        generation,
        now,
    );
    if let PollOutcome::Failed { message, .. } = &outcome {
        notes.push((true, decide::why::POLL_FAILED, message.clone(), None));
    }
    write_status(&api, &name, &previous, &status).await?;

    let reference = tracker.object_ref(&());
    for (warning, reason, note, analysis) in notes {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: "Poll".to_owned(),
            secondary: analysis.map(|name| ObjectReference {
                api_version: Some(API_VERSION.to_owned()),
                kind: Some("Analysis".to_owned()),
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..ObjectReference::default()
            }),
        };
        if let Err(err) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %err, reason, "cannot publish event");
        }
    }
    let next = status.next_poll_time.map_or(Duration::from_secs(60), |t| {
        Duration::try_from(t.0.duration_since(Timestamp::now()))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1))
    });
    Ok(Requeue::requeue(next))
}

/// The tracker's kstatus conditions: `Ready` always carries the message, `Reconciling` and
/// `Stalled` only while true. Public for the Argo CD health check's test
/// (`tests/argocd_health.rs`), which reads what this writes.
#[expect(
    clippy::too_many_arguments,
    reason = "the three conditions' inputs, read by the Argo CD health test as they are"
)]
pub fn tracker_conditions(
    ready: bool,
    stalled: bool,
    reconciling: bool,
    reason: &str,
    message: &str,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let status = |on: bool| if on { "True" } else { "False" };
    let reason_if = |on: bool| {
        if on {
            reason
        } else {
            conditions::reason::AS_EXPECTED
        }
    };
    vec![
        conditions::condition(
            READY,
            status(ready),
            reason,
            message.to_owned(),
            previous,
            generation,
            now,
        ),
        conditions::condition(
            RECONCILING,
            status(reconciling),
            reason_if(reconciling),
            if reconciling {
                message.to_owned()
            } else {
                String::new()
            },
            previous,
            generation,
            now,
        ),
        conditions::condition(
            STALLED,
            status(stalled),
            reason_if(stalled),
            if stalled {
                message.to_owned()
            } else {
                String::new()
            },
            previous,
            generation,
            now,
        ),
    ]
}

async fn write_status(
    api: &Api<RepositoryTracker>,
    name: &str,
    previous: &RepositoryTrackerStatus,
    status: &RepositoryTrackerStatus,
) -> Result<(), Error> {
    if previous == status {
        return Ok(());
    }
    // The webhook receiver owns its fields: never applied here, so they are never taken over
    // or rolled back by a stale copy.
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
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Creates the branch's Analysis for `head` (or finds it created already); returns its name, or
/// the API server's refusal of it ([`crate::error::refusal`]: its template makes an Analysis
/// the API server refuses, or a ResourceQuota counting Analyses is used up).
async fn create(
    api: &Api<Analysis>,
    tracker: &RepositoryTracker,
    branch: &str,
    head: &str,
) -> Result<Result<String, Rejected>, Error> {
    let name = decide::analysis_name(&tracker.name_any(), branch, head);
    let template = &tracker.spec.template;
    let mut labels_map: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    let tracker_label: String = tracker.name_any().chars().take(63).collect();
    labels_map.insert(
        labels::TRACKER.to_owned(),
        tracker_label.trim_end_matches(['-', '.', '_']).to_owned(),
    );
    let mut annotations: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .map(|m| m.annotations.clone())
        .unwrap_or_default();
    annotations.insert(labels::BRANCH.to_owned(), branch.to_owned());
    annotations.insert(labels::HEAD_COMMIT.to_owned(), head.to_owned());
    let analysis = Analysis {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: tracker.namespace(),
            labels: Some(labels_map),
            annotations: Some(annotations),
            owner_references: tracker.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: AnalysisSpec {
            repository: AnalysisRepository {
                source: tracker.spec.repository.clone(),
                git_ref: Some(branch.to_owned()),
            },
            mode: AnalysisMode {
                kind: ModeType::Incremental,
                ..AnalysisMode::default()
            },
            run: template.spec.clone(),
        },
        status: None,
    };
    match api.create(&PostParams::default(), &analysis).await {
        Ok(_) => info!(analysis = name, branch, head, "created analysis"),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            debug!(analysis = name, "analysis exists already")
        }
        Err(err) => {
            let Some((refusal, status)) = refusal_of(&err) else {
                return Err(err.into());
            };
            warn!(analysis = name, code = status.code, message = %status.message, ?refusal, "the API server refused the tracker's analysis");
            let text = crate::analysis::classify::truncate(&status.message);
            let message = match refusal {
                Refusal::QuotaExceeded => format!(
                    "a ResourceQuota refused Analysis {name}: {text}; tried again on the next poll"
                ),
                Refusal::Invalid => format!(
                    "the API server refused Analysis {name} ({}): {text}; the tracker creates Analyses again when its spec changes",
                    status.code
                ),
            };
            return Ok(Err(Rejected {
                quota_exceeded: refusal == Refusal::QuotaExceeded,
                message,
            }));
        }
    }
    Ok(Ok(name))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_poll_authenticates_with_the_token_under_the_references_key() {
        let data = BTreeMap::from([
            (
                "deploy-pat".to_owned(),
                k8s_openapi::ByteString(b"pat-1\n".to_vec()),
            ),
            (
                "username".to_owned(),
                k8s_openapi::ByteString(b"ci".to_vec()),
            ),
        ]);
        let reference = gitview_crds::v1alpha1::SecretReference {
            name: "forge".to_owned(),
            key: Some("deploy-pat".to_owned()),
        };
        let polled = poll_credentials(crate::credentials::git(&reference, &data).unwrap());
        let (user, token) = polled.basic.basic_account().unwrap();
        assert_eq!((user.as_str(), token.expose()), ("ci", "pat-1"));
        // Without the key, the poll would have gone out anonymously: it is said instead.
        let mut without = data.clone();
        without.remove("deploy-pat");
        assert!(crate::credentials::git(&reference, &without).is_err());
    }

    #[test]
    fn the_ssh_key_is_written_owner_only_for_the_poll() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = PollCredentials {
            basic: Credentials {
                username: Some("git".to_owned()),
                ..Credentials::default()
            },
            ssh_key: Some(b"-----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec()),
            known_hosts: Some(b"[127.0.0.1]:2222 ssh-ed25519 AAAA\n".to_vec()),
        };
        let written = with_ssh_files(dir.path(), credentials).unwrap();
        let key = written.ssh_private_key.clone().unwrap();
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read(&key).unwrap(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        );
        assert!(
            written
                .ssh_known_hosts
                .is_some_and(|p| p.starts_with(dir.path()))
        );
        assert_eq!(written.username.as_deref(), Some("git"));
        // Without ssh material nothing is written.
        let none = with_ssh_files(dir.path(), PollCredentials::default()).unwrap();
        assert!(none.ssh_private_key.is_none() && none.ssh_known_hosts.is_none());
    }
}
