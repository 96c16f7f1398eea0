//! The decide step of a RepositoryTracker: pure functions of what was observed ([`Observed`])
//! and the clock, tested without a cluster. [`actions`] says what to change — runs to
//! supersede, create and prune, per branch — and [`conclude`] the status and Events, from what
//! was observed and what the act step got done ([`Done`]): a create the API server refused
//! is known only then.

use std::collections::BTreeMap;
use std::time::Duration;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{
    BranchStatus, ConcurrencyPolicy, RepositoryTracker, RepositoryTrackerStatus, WebhookDelivery,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt as _;
use sha2::{Digest as _, Sha256};

use crate::conditions::{self, READY, Summary, reason};
use crate::events::{self, Note};

/// Event reasons that are not condition reasons.
pub mod event {
    /// An Analysis was created for a branch head.
    pub const ANALYSIS_CREATED: &str = "AnalysisCreated";
    /// `Replace`: a running Analysis was deleted for a newer head.
    pub const SUPERSEDED: &str = "Superseded";
}

/// Everything the decisions are made from.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub tracker: &'a RepositoryTracker,
    pub now: Timestamp,
    pub webhook: Webhook,
    /// What the remote listed when a poll was due ([`poll_due`]): its branches and their
    /// heads, or why the poll failed. `None`: no poll was due.
    pub listed: Option<Result<Vec<(String, String)>, PollError>>,
    /// The tracker's Analyses, those created but not in the cache yet included.
    pub owned: Vec<Owned>,
    /// Per branch, the last analyzed commit the gateway knows, for the branches it was asked
    /// about ([`gateway_questions`]) and answered.
    pub gateway: BTreeMap<String, String>,
}

/// The webhook path as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Webhook {
    /// The path the tracker's webhook secret gives.
    Path(String),
    /// The tracker has no webhook secret.
    None,
    /// Not read (suspended), or unreadable now: the status keeps the path it had.
    NotRead,
}

/// Why a poll failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollError {
    /// Needs a change from outside (a missing Secret, a repository that does not exist, refused
    /// credentials, a refused address): `Stalled`.
    Stalled(String),
    /// May pass by itself (the host is down): retried at the minimum interval.
    Transient(String),
}

/// A change to the cluster, in the order they are made: per branch, the superseded runs, the
/// new run, then the runs beyond the history limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `Replace`: delete a run that is still going, for the branch's new head.
    Supersede {
        analysis: String,
        branch: String,
        head: String,
    },
    /// Create the branch's Analysis for `head`.
    Create { branch: String, head: String },
    /// Delete a finished run beyond the history limits.
    Prune { analysis: String },
}

/// What the act step got done, for [`conclude`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// A superseded run was deleted (not one found gone already).
    Superseded { analysis: String, branch: String },
    /// The branch's Analysis was created, or found created already.
    Created { analysis: String, branch: String },
    /// The API server refused the branch's Analysis.
    Refused { branch: String, rejected: Rejected },
}

/// The status to write and the Events to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Concluded {
    pub status: RepositoryTrackerStatus,
    pub events: Vec<Note>,
}

fn previous(tracker: &RepositoryTracker) -> RepositoryTrackerStatus {
    tracker.status.clone().unwrap_or_default()
}

fn requested(tracker: &RepositoryTracker) -> Option<String> {
    tracker.annotations().get(labels::REQUESTED_AT).cloned()
}

/// Whether the tracker polls now: on its interval, when its spec changed, when a poll is asked
/// for (`gitview.dev/requested-at` took a new value) or a webhook delivery arrived since the
/// last poll. Never while suspended.
pub fn poll_due(tracker: &RepositoryTracker, now: Timestamp) -> bool {
    if tracker.spec.suspend {
        return false;
    }
    let previous = previous(tracker);
    let requested = requested(tracker);
    let webhook = previous.last_webhook.as_ref().map(WebhookDelivery::key);
    let webhook_since_poll = webhook.is_some() && webhook != previous.last_handled_webhook;
    previous.next_poll_time.as_ref().is_none_or(|t| t.0 <= now)
        || previous.observed_generation != tracker.metadata.generation
        || (requested.is_some() && requested != previous.last_handled_requested_at)
        || webhook_since_poll
}

/// The branches and heads this reconcile works with: what the poll listed (of the branches
/// that match), else what the status says from the last poll.
pub fn heads(
    tracker: &RepositoryTracker,
    listed: Option<&Result<Vec<(String, String)>, PollError>>,
) -> Vec<(String, String)> {
    match listed {
        Some(Ok(listed)) => listed
            .iter()
            .filter(|(branch, _)| matches(&tracker.spec.branches, branch))
            .cloned()
            .collect(),
        _ => previous(tracker)
            .branches
            .iter()
            .filter_map(|b| Some((b.name.clone(), b.head_commit.clone()?)))
            .collect(),
    }
}

fn runs_of<'o>(owned: &'o [Owned], branch: &str) -> Vec<&'o Owned> {
    owned.iter().filter(|a| a.branch == branch).collect()
}

/// The last analyzed commit of a branch by the tracker's own account: its runs', else the
/// status's.
fn own_last(tracker: &RepositoryTracker, branch: &str, mine: &[&Owned]) -> Option<String> {
    let previous = previous(tracker);
    let before = previous.branches.iter().find(|b| b.name == branch);
    last_analyzed(mine, before.and_then(|b| b.last_analyzed_commit.as_deref()))
}

/// The branches to ask the gateway about: those whose head moved past what the tracker knows
/// (it knows runs the tracker does not own, an Analysis applied by hand). A poll that finds
/// nothing new costs no request.
pub fn gateway_questions(
    tracker: &RepositoryTracker,
    heads: &[(String, String)],
    owned: &[Owned],
) -> Vec<String> {
    heads
        .iter()
        .filter(|(branch, head)| {
            own_last(tracker, branch, &runs_of(owned, branch)).as_deref() != Some(head.as_str())
        })
        .map(|(branch, _)| branch.clone())
        .collect()
}

/// The last analyzed commit of a branch: the gateway's answer, else the tracker's own.
fn last_known(o: &Observed<'_>, branch: &str, mine: &[&Owned]) -> Option<String> {
    o.gateway
        .get(branch)
        .cloned()
        .or_else(|| own_last(o.tracker, branch, mine))
}

/// A refusal from an earlier reconcile that still holds ([`held_rejection`]).
fn held(o: &Observed<'_>) -> Option<Rejected> {
    let previous = previous(o.tracker);
    let requested = requested(o.tracker);
    let asked = requested.is_some() && requested != previous.last_handled_requested_at;
    held_rejection(&previous.conditions, o.tracker.metadata.generation, asked)
}

/// What to change: per branch, the run its head needs under the concurrency policy (none
/// while a refusal holds), and the finished runs beyond the history limits.
pub fn actions(o: &Observed<'_>) -> Vec<Action> {
    let spec = &o.tracker.spec;
    if spec.suspend {
        return Vec::new();
    }
    let held = held(o);
    let mut actions = Vec::new();
    for (branch, head) in heads(o.tracker, o.listed.as_ref()) {
        let mine = runs_of(&o.owned, &branch);
        let last = last_known(o, &branch, &mine);
        let step = match plan(spec.concurrency_policy, &head, last.as_deref(), &mine) {
            Step::Create | Step::Replace(_) if held.is_some() => Step::Nothing,
            step => step,
        };
        if let Step::Replace(running) = &step {
            actions.extend(running.iter().map(|analysis| Action::Supersede {
                analysis: analysis.clone(),
                branch: branch.clone(),
                head: head.clone(),
            }));
        }
        if matches!(step, Step::Create | Step::Replace(_)) {
            actions.push(Action::Create {
                branch: branch.clone(),
                head: head.clone(),
            });
        }
        actions.extend(
            prune(
                &mine,
                spec.successful_history_limit,
                spec.failed_history_limit,
            )
            .into_iter()
            .map(|analysis| Action::Prune { analysis }),
        );
    }
    actions
}

/// The status and Events of this reconcile: what the poll found (or what the last one left),
/// each branch's head, last analyzed commit and last run, the next poll on the adaptive
/// interval, and the conditions.
pub fn conclude(o: &Observed<'_>, done: &[Done]) -> Concluded {
    let tracker = o.tracker;
    let spec = &tracker.spec;
    let previous = previous(tracker);
    let generation = tracker.metadata.generation;
    let namespace = tracker.namespace().unwrap_or_default();
    let requested = requested(tracker);
    let webhook = previous.last_webhook.as_ref().map(WebhookDelivery::key);
    let mut status = RepositoryTrackerStatus {
        observed_generation: generation,
        ..previous.clone()
    };
    if spec.suspend {
        // Requests (the annotation, webhook deliveries) are acknowledged, not acted on: the
        // status says they were seen while suspended, and resuming polls anyway.
        status.last_handled_requested_at = requested.or(previous.last_handled_requested_at.clone());
        status.last_handled_webhook = webhook.or(previous.last_handled_webhook.clone());
        status.next_poll_time = None;
        let suspended = Summary {
            ready: true,
            reconciling: false,
            stalled: false,
            reason: reason::SUSPENDED,
            message: "polling is suspended (spec.suspend)".to_owned(),
        };
        status.conditions =
            conditions::render_ongoing(&suspended, &previous.conditions, generation, o.now);
        return Concluded {
            status,
            events: Vec::new(),
        };
    }

    status.webhook_path = match &o.webhook {
        Webhook::Path(path) => Some(path.clone()),
        Webhook::None => None,
        Webhook::NotRead => previous.webhook_path.clone(),
    };
    let (min, max) = (
        i64::from(spec.poll.min_interval_seconds),
        i64::from(spec.poll.max_interval_seconds),
    );
    let heads = heads(tracker, o.listed.as_ref());
    if let Some(listed) = &o.listed {
        status.last_handled_requested_at = requested.or(previous.last_handled_requested_at.clone());
        status.last_handled_webhook = webhook.or(previous.last_handled_webhook.clone());
        status.last_poll_time = Some(Time(o.now));
        let wait = match listed {
            Ok(_) => {
                let moved = heads != self::heads(tracker, None);
                let interval = next_interval(previous.poll_interval_seconds, moved, min, max);
                status.poll_interval_seconds = Some(interval);
                let seed = format!("{:?}{}", tracker.uid(), o.now.as_second());
                (interval + jitter(interval, &seed)).max(1)
            }
            Err(_) => {
                status.poll_interval_seconds = Some(min);
                min
            }
        };
        status.next_poll_time = Some(Time(
            o.now
                .checked_add(SignedDuration::from_secs(wait))
                .unwrap_or(o.now),
        ));
    }

    // Per branch: what it stands at, and what this reconcile did about it.
    let mut rejected = held(o);
    let mut events = Vec::new();
    let mut branches = Vec::new();
    for (branch, head) in &heads {
        let mine = runs_of(&o.owned, branch);
        let before = previous.branches.iter().find(|b| &b.name == branch);
        let mut last_analysis = mine
            .iter()
            .max_by_key(|a| a.created)
            .map(|a| a.name.clone())
            .or_else(|| before.and_then(|b| b.last_analysis.clone()));
        for done in done.iter().filter(|d| d.branch() == branch) {
            match done {
                Done::Superseded { analysis, .. } => events.push(
                    Note::normal(
                        event::SUPERSEDED,
                        format!("deleted {analysis}: branch {branch} moved to {head} (Replace)"),
                    )
                    .about(events::analysis(&namespace, analysis)),
                ),
                Done::Created { analysis, .. } => {
                    events.push(
                        Note::normal(
                            event::ANALYSIS_CREATED,
                            format!("created {analysis} for {branch} at {head}"),
                        )
                        .about(events::analysis(&namespace, analysis)),
                    );
                    last_analysis = Some(analysis.clone());
                }
                // Its template makes an Analysis the API server refuses: a configuration error
                // of the tracker, said in its status and an Event, not retried every 5 s.
                Done::Refused {
                    rejected: refused, ..
                } => {
                    let quota = refused.quota_exceeded;
                    let why = if quota {
                        reason::QUOTA_EXCEEDED
                    } else {
                        reason::CREATE_REJECTED
                    };
                    // A full quota is refused again at every poll: one Warning per streak.
                    if !conditions::find(&previous.conditions, READY)
                        .is_some_and(|c| c.reason == why && quota)
                    {
                        events.push(Note::warning(why, refused.message.clone()));
                    }
                    rejected.get_or_insert_with(|| refused.clone());
                }
            }
        }
        branches.push(BranchStatus {
            name: branch.clone(),
            head_commit: Some(head.clone()),
            last_analyzed_commit: last_known(o, branch, &mine),
            last_analysis,
        });
    }
    status.branches = branches;

    // What the last poll found stays until the next poll: a reconcile that did not poll (its
    // own status write, an annotation, a run that finished) must not turn a failed poll into
    // NoMatchingBranch.
    let outcome = match &o.listed {
        None => PollOutcome::NotDue,
        Some(Ok(_)) => PollOutcome::Listed,
        Some(Err(PollError::Stalled(message))) => PollOutcome::Failed {
            needs_change: true,
            message: message.clone(),
        },
        Some(Err(PollError::Transient(message))) => PollOutcome::Failed {
            needs_change: false,
            message: message.clone(),
        },
    };
    let summary = summary(
        &outcome,
        rejected.as_ref(),
        heads.len(),
        &spec.branches,
        &previous.conditions,
    );
    status.conditions =
        conditions::render_ongoing(&summary, &previous.conditions, generation, o.now);
    if let PollOutcome::Failed { message, .. } = outcome {
        events.push(Note::warning(reason::POLL_FAILED, message));
    }
    Concluded { status, events }
}

impl Done {
    fn branch(&self) -> &str {
        match self {
            Self::Superseded { branch, .. }
            | Self::Created { branch, .. }
            | Self::Refused { branch, .. } => branch,
        }
    }
}

/// When to look again: at the next poll (at least a second from `now`); a minute if the
/// status names none.
pub fn requeue_after(status: &RepositoryTrackerStatus, now: Timestamp) -> Duration {
    status
        .next_poll_time
        .as_ref()
        .map_or(Duration::from_secs(60), |t| {
            Duration::try_from(t.0.duration_since(now))
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_secs(1))
        })
}

/// What the tracker knows of one Analysis it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub name: String,
    pub branch: String,
    /// The branch head it was created for.
    pub head: String,
    pub finished: bool,
    pub succeeded: bool,
    /// The last commit it analyzed, once it succeeded.
    pub to_commit: Option<String>,
    /// Creation time in seconds, to order runs.
    pub created: i64,
}

/// The step for one branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Up to date, or a run for this head exists already (running, done or failed: a failed
    /// run is retried by its own retry policy, and the next push gets a new one).
    Nothing,
    /// Create an Analysis for the head.
    Create,
    /// `Forbid`: the named run is still going; the head is analyzed when it has finished.
    Wait(String),
    /// `Replace`: delete these unfinished runs, then create one for the head.
    Replace(Vec<String>),
}

/// Decides for one branch whose head is `head`; `owned` are the branch's Analyses.
pub fn plan(
    policy: ConcurrencyPolicy,
    head: &str,
    last_analyzed: Option<&str>,
    owned: &[&Owned],
) -> Step {
    if last_analyzed == Some(head) || owned.iter().any(|a| a.head == head) {
        return Step::Nothing;
    }
    let running: Vec<&&Owned> = owned.iter().filter(|a| !a.finished).collect();
    match (policy, running.last()) {
        (_, None) | (ConcurrencyPolicy::Allow, Some(_)) => Step::Create,
        (ConcurrencyPolicy::Forbid, Some(a)) => Step::Wait(a.name.clone()),
        (ConcurrencyPolicy::Replace, Some(_)) => {
            Step::Replace(running.iter().map(|a| a.name.clone()).collect())
        }
    }
}

/// A run this controller just created, as the cache will show it.
pub fn just_created(name: &str, branch: &str, head: &str, now: i64) -> Owned {
    Owned {
        name: name.to_owned(),
        branch: branch.to_owned(),
        head: head.to_owned(),
        finished: false,
        succeeded: false,
        to_commit: None,
        created: now,
    }
}

/// The cached runs plus those created but not in the cache yet (by name).
pub fn with_unseen(mut cached: Vec<Owned>, unseen: Vec<Owned>) -> Vec<Owned> {
    for run in unseen {
        if !cached.iter().any(|c| c.name == run.name) {
            cached.push(run);
        }
    }
    cached
}

/// The newest commit a successful run of the branch analyzed, else what the status said.
pub fn last_analyzed(owned: &[&Owned], previous: Option<&str>) -> Option<String> {
    owned
        .iter()
        .filter(|a| a.succeeded)
        .max_by_key(|a| a.created)
        .and_then(|a| a.to_commit.clone())
        .or_else(|| previous.map(str::to_owned))
}

/// Finished runs beyond the history limits, oldest first: what to delete.
pub fn prune(owned: &[&Owned], successful_limit: i32, failed_limit: i32) -> Vec<String> {
    let mut doomed = Vec::new();
    for (succeeded, limit) in [(true, successful_limit), (false, failed_limit)] {
        let mut done: Vec<&&Owned> = owned
            .iter()
            .filter(|a| a.finished && a.succeeded == succeeded)
            .collect();
        done.sort_by_key(|a| std::cmp::Reverse(a.created));
        doomed.extend(
            done.iter()
                .skip(usize::try_from(limit.max(0)).unwrap_or(0))
                .map(|a| a.name.clone()),
        );
    }
    doomed
}

/// What this reconcile learned from the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// No poll was due (a reconcile for the tracker's own status write, an annotation, a run
    /// that finished): the last poll's outcome stands.
    NotDue,
    /// The remote listed its branches.
    Listed,
    /// The poll failed; `needs_change`: only a change from outside helps (a missing Secret, a
    /// repository that does not exist, refused credentials), so the tracker is `Stalled`.
    Failed { needs_change: bool, message: String },
}

/// The API server's refusal of an Analysis the tracker created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// A ResourceQuota of the namespace is used up: tried again on the next poll. Otherwise the
    /// Analysis as the template makes it is refused, and the tracker waits for its spec to
    /// change.
    pub quota_exceeded: bool,
    /// What the conditions say, with the server's message.
    pub message: String,
}

/// The refusal of an earlier reconcile that still holds: the tracker is `Stalled` with
/// `CreateRejected` for this generation of its spec. It creates no Analysis until the spec
/// changes (its template is what was refused), so it does not ask the API server every poll
/// for the same refusal; or until a poll is `asked` for (`gitview.dev/requested-at`: the
/// refusal may have had a cause outside the tracker, since removed).
pub fn held_rejection(
    previous: &[Condition],
    generation: Option<i64>,
    asked: bool,
) -> Option<Rejected> {
    if asked {
        return None;
    }
    conditions::find(previous, conditions::STALLED)
        .filter(|c| {
            c.status == "True"
                && c.reason == reason::CREATE_REJECTED
                && c.observed_generation == generation
        })
        .map(|c| Rejected {
            quota_exceeded: false,
            message: c.message.clone(),
        })
}

/// The tracker's conditions: a refused Analysis first (nothing runs while it lasts), then the
/// poll's outcome, which a reconcile that did not poll keeps as the last poll left it; then
/// whether any branch matches.
pub fn summary(
    poll: &PollOutcome,
    rejected: Option<&Rejected>,
    heads: usize,
    patterns: &[String],
    previous: &[Condition],
) -> Summary {
    let summary = |ready: bool, stalled: bool, reason: &'static str, message: String| Summary {
        ready,
        reconciling: !ready && !stalled,
        stalled,
        reason,
        message,
    };
    if let Some(rejected) = rejected {
        let reason = if rejected.quota_exceeded {
            reason::QUOTA_EXCEEDED
        } else {
            reason::CREATE_REJECTED
        };
        return summary(
            false,
            !rejected.quota_exceeded,
            reason,
            rejected.message.clone(),
        );
    }
    match poll {
        PollOutcome::Failed {
            needs_change,
            message,
        } => return summary(false, *needs_change, reason::POLL_FAILED, message.clone()),
        PollOutcome::NotDue => {
            let last =
                conditions::find(previous, READY).filter(|c| c.reason == reason::POLL_FAILED);
            if let Some(ready) = last {
                let stalled = conditions::find(previous, conditions::STALLED)
                    .is_some_and(|c| c.status == "True");
                return summary(false, stalled, reason::POLL_FAILED, ready.message.clone());
            }
        }
        PollOutcome::Listed => {}
    }
    if heads == 0 {
        summary(
            false,
            false,
            reason::NO_MATCHING_BRANCH,
            format!("the remote has no branch matching {patterns:?}"),
        )
    } else {
        summary(
            true,
            false,
            reason::TRACKING,
            format!("tracking {heads} branch(es)"),
        )
    }
}

/// Whether `branch` matches one of the tracker's names or patterns (`*` matches any run of
/// characters, `/` included: `release/*` matches `release/1.0` and `release/1/rc`).
pub fn matches(patterns: &[String], branch: &str) -> bool {
    patterns
        .iter()
        .any(|p| glob(p.as_bytes(), branch.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, tail)| t == c && glob(rest, tail)),
    }
}

/// Seconds until the next poll: the minimum while the repository moves (a branch changed at
/// this poll, or the first poll), doubling towards the maximum while it is quiet (seed 002's
/// adaptive schedule).
pub fn next_interval(previous: Option<i64>, moved: bool, min: i64, max: i64) -> i64 {
    match previous {
        Some(prev) if !moved => (prev.saturating_mul(2)).clamp(min, max),
        _ => min,
    }
}

/// Up to ±10 % of `interval`, derived from `seed` (the tracker's UID and the poll time), so
/// that trackers created together do not poll together.
pub fn jitter(interval: i64, seed: &str) -> i64 {
    let digest = Sha256::digest(seed.as_bytes());
    let spread = interval / 10;
    if spread == 0 {
        return 0;
    }
    let r = i64::from(u16::from_be_bytes([digest[0], digest[1]]));
    r % (2 * spread + 1) - spread
}

/// The name of the Analysis for `branch` at `head`: stable, so creating it twice is harmless,
/// and short enough for the pods named after it.
pub fn analysis_name(tracker: &str, branch: &str, head: &str) -> String {
    let tracker: String = tracker.chars().take(30).collect();
    let tracker = tracker.trim_end_matches(['-', '.']);
    let branch_hash = hex(&Sha256::digest(branch.as_bytes())[..3]);
    let short: String = head.chars().take(10).collect();
    format!("{tracker}-{branch_hash}-{short}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
