//! The decide step: a pure function from what was observed (and the clock) to a [`Plan`] —
//! the new status, the actions to take, the Events to publish and when to look again.

use std::time::Duration;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{
    Analysis, AnalysisPhase, AnalysisProfile, AnalysisResult, AnalysisStatus, Attempt,
    AttemptFailure, FailureClass, Progress, Rejection, ResolvedProfile, RetryPolicy, TtlPolicy,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::build::{attempt_name, canary_bucket};
use super::classify::{AttemptEnd, PodState, pod_state, truncate};
use crate::backoff;
use crate::conditions::{self, Summary, reason};
use crate::error::Refusal;
pub use crate::events::Note;
use crate::policy;
use crate::settings::Settings;

/// Everything the decision is made from.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub analysis: &'a Analysis,
    /// Runner pods of this Analysis (by its uid label). Pods of unfinished attempts missing
    /// from the cache were looked up directly, so a pod absent here is gone.
    pub pods: Vec<&'a Pod>,
    /// Names and attempt numbers of this Analysis's run secrets.
    pub run_secrets: Vec<(String, Option<i32>)>,
    /// The AnalysisProfile named by the spec, if it exists.
    pub profile: Option<&'a AnalysisProfile>,
    /// Referenced credentials Secrets that do not exist.
    pub missing_secrets: Vec<String>,
    /// The running attempt's latest progress from its runner (through the gateway).
    pub runner_progress: Option<&'a gitview_core::results::ProgressEvent>,
    /// This reconcile's act step tried to start an attempt and the API server refused what it
    /// created: the plan is decided again knowing it.
    pub refused: Option<&'a Refused>,
    pub now: Timestamp,
}

/// The API server's refusal of an object the act step created to start an attempt: a 4xx that
/// is the object's own ([`crate::error::refusal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// `Pod` or `Secret`.
    pub kind: &'static str,
    pub name: String,
    pub code: u16,
    /// The API server's message.
    pub message: String,
    pub refusal: Refusal,
}

/// What one reconcile does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The status to write; `None` when the Analysis is being deleted.
    pub status: Option<AnalysisStatus>,
    /// Actions taken before the status is written (what the status will claim happened).
    pub before_status: Vec<Action>,
    /// Actions taken only once the status is written (what must not happen unrecorded).
    pub after_status: Vec<Action>,
    pub events: Vec<Note>,
    pub requeue_after: Option<Duration>,
}

/// A change to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create the attempt's Secret, then its Pod.
    StartAttempt(AttemptStart),
    DeleteSecret(String),
    /// Remove the operator's finalizer from a pod whose outcome is recorded.
    ReleasePod(String),
    DeletePod(String),
    DeleteAnalysis,
}

/// What starting an attempt needs beyond the Analysis and its profile.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptStart {
    pub number: i32,
    pub resolved: ResolvedProfile,
    pub deadline_seconds: i64,
    pub resources: Option<ResourceRequirements>,
}

/// Event reasons that are not condition reasons.
pub mod event {
    pub const ATTEMPT_STARTED: &str = "AttemptStarted";
    pub const ATTEMPT_SUCCEEDED: &str = "AttemptSucceeded";
    pub const ATTEMPT_FAILED: &str = "AttemptFailed";
    pub const RETRY_SCHEDULED: &str = "RetryScheduled";
    pub const TTL_EXPIRED: &str = "TTLExpired";
}

/// Effective run settings: the Analysis, else its profile, else built-in defaults.
fn retry_policy(o: &Observed<'_>) -> RetryPolicy {
    o.analysis
        .spec
        .run
        .retry_policy
        .clone()
        .or_else(|| o.profile.and_then(|p| p.spec.defaults.retry_policy.clone()))
        .unwrap_or_default()
}

fn deadline_seconds(o: &Observed<'_>, settings: &Settings) -> i64 {
    o.analysis
        .spec
        .run
        .active_deadline_seconds
        .or_else(|| {
            o.profile
                .and_then(|p| p.spec.defaults.active_deadline_seconds)
        })
        .unwrap_or(settings.default_deadline_seconds)
}

fn pod_named<'a>(o: &Observed<'a>, name: &str) -> Option<&'a Pod> {
    o.pods
        .iter()
        .copied()
        .find(|p| p.metadata.name.as_deref() == Some(name))
}

fn attempt_label(pod: &Pod) -> Option<i32> {
    pod.metadata
        .labels
        .as_ref()?
        .get(labels::ATTEMPT)?
        .parse()
        .ok()
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == labels::POD_FINALIZER)
}

fn secs(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// Decides what to do with an Analysis.
pub fn decide(o: &Observed<'_>, settings: &Settings) -> Plan {
    let an = o.analysis;
    let mut plan = Plan::default();

    if an.metadata.deletion_timestamp.is_some() {
        // Being deleted: its pods and secrets go with it; only our finalizers could hold them.
        for pod in o.pods.iter().filter(|p| has_finalizer(p)) {
            plan.after_status.push(Action::ReleasePod(
                pod.metadata.name.clone().unwrap_or_default(),
            ));
        }
        return plan;
    }

    let previous = an.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    let was_finished = previous.phase.is_some_and(AnalysisPhase::is_finished)
        && previous.completion_time.is_some();

    if !was_finished {
        adopt_unrecorded_pods(o, &mut status);
        record_attempt_ends(o, settings, &mut status, &mut plan);
    }
    let summary = if was_finished {
        finished_summary(&status)
    } else {
        advance(o, settings, &mut status, &mut plan)
    };
    release_finished(o, &status, &mut plan);
    if status.phase.is_some_and(AnalysisPhase::is_finished) {
        apply_ttl(o, &status, &mut plan);
    }

    status.attempt_count = i32::try_from(status.attempts.len()).ok().filter(|n| *n > 0);
    status.observed_generation = an.metadata.generation;
    status.conditions = conditions::render(
        &summary,
        &previous.conditions,
        an.metadata.generation,
        o.now,
    );
    let told = plan.events.iter().any(|n| n.reason == summary.reason);
    if stalled_reason(&previous) != Some(summary.reason)
        && summary.stalled
        && !summary.ready
        && !told
    {
        plan.events
            .push(Note::warning(summary.reason, summary.message.clone()));
    }
    plan.status = Some(status);
    plan
}

/// Pods carrying an attempt number the status does not list yet (the status write of the
/// reconcile that created them was lost, or the cache was behind): record them as started.
fn adopt_unrecorded_pods(o: &Observed<'_>, status: &mut AnalysisStatus) {
    let known = status.attempts.iter().map(|a| a.number).max().unwrap_or(0);
    let mut extra: Vec<(i32, &Pod)> = o
        .pods
        .iter()
        .filter_map(|p| attempt_label(p).map(|n| (n, *p)))
        .filter(|(n, _)| *n > known)
        .collect();
    extra.sort_by_key(|(n, _)| *n);
    for (number, pod) in extra {
        status.attempts.push(Attempt {
            number,
            pod: pod.metadata.name.clone().unwrap_or_default(),
            start_time: pod.metadata.creation_timestamp.clone(),
            completion_time: None,
            exit_code: None,
            reason: None,
            failure_class: None,
            message: None,
        });
    }
}

/// Records how unfinished attempts ended: from their pods, or — when a pod is gone or ran
/// past its deadline without the kubelet stopping it — by the operator's own judgement.
fn record_attempt_ends(
    o: &Observed<'_>,
    settings: &Settings,
    status: &mut AnalysisStatus,
    plan: &mut Plan,
) {
    let deadline = secs(
        Duration::from_secs(u64::try_from(deadline_seconds(o, settings)).unwrap_or(0))
            + settings.deadline_slack,
    );
    let mut result = None;
    for attempt in status.attempts.iter_mut().filter(|a| !a.is_finished()) {
        let end = match pod_named(o, &attempt.pod) {
            None => Some(AttemptEnd::failed(
                o.now,
                AttemptFailure::Infrastructure,
                "PodMissing",
                format!(
                    "runner pod {} disappeared before its outcome was recorded",
                    attempt.pod
                ),
            )),
            Some(pod) => match pod_state(pod, o.now, settings.terminating_slack) {
                PodState::Finished(end) => Some(end),
                _ => {
                    let started = attempt.start_time.as_ref().map_or(o.now, |t| t.0);
                    (o.now > started + deadline).then(|| {
                        plan.after_status
                            .push(Action::DeletePod(attempt.pod.clone()));
                        AttemptEnd::failed(
                            o.now,
                            AttemptFailure::DeadlineExceeded,
                            "DeadlineExceeded",
                            "the attempt did not finish within activeDeadlineSeconds".to_owned(),
                        )
                    })
                }
            },
        };
        if let Some(end) = end {
            if end.failure.is_none() {
                result = status_result(&end, o);
            }
            record(attempt, &end, plan);
        }
    }
    if result.is_some() {
        status.result = result;
    }
}

fn status_result(end: &AttemptEnd, o: &Observed<'_>) -> Option<AnalysisResult> {
    if end.failure.is_some() {
        return None;
    }
    let outcome = end.outcome.clone().unwrap_or_default();
    Some(AnalysisResult {
        analysis_id: outcome
            .analysis_id
            .or_else(|| o.analysis.metadata.uid.clone()),
        from_commit: outcome.from_commit,
        to_commit: outcome.to_commit,
        commits_analyzed: outcome.commits_analyzed.unwrap_or(0),
    })
}

fn record(attempt: &mut Attempt, end: &AttemptEnd, plan: &mut Plan) {
    attempt.completion_time = Some(Time(end.at));
    attempt.exit_code = end.exit_code;
    attempt.reason = Some(end.reason.clone());
    attempt.failure_class = end.failure;
    attempt.message.clone_from(&end.message);
    let detail = end
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    plan.events.push(match end.failure {
        None => Note::normal(
            event::ATTEMPT_SUCCEEDED,
            format!("attempt {} succeeded{detail}", attempt.number),
        ),
        Some(_) => Note::warning(
            event::ATTEMPT_FAILED,
            format!("attempt {} failed ({}){detail}", attempt.number, end.reason),
        ),
    });
}

/// Moves an unfinished Analysis forward: finish it, wait for its backoff, or start an attempt.
fn advance(
    o: &Observed<'_>,
    settings: &Settings,
    status: &mut AnalysisStatus,
    plan: &mut Plan,
) -> Summary {
    let Some(last) = status.attempts.last().cloned() else {
        return start_attempt(o, settings, status, plan, 1);
    };

    if !last.is_finished() {
        let state =
            pod_named(o, &last.pod).map(|p| pod_state(p, o.now, settings.terminating_slack));
        let (phase, stage, summary_reason, text) = match state {
            Some(PodState::Running | PodState::Terminating) => (
                AnalysisPhase::Running,
                "running",
                reason::ATTEMPT_RUNNING,
                format!("attempt {}: running", last.number),
            ),
            Some(PodState::Pending { waiting: Some(w) }) => (
                AnalysisPhase::Pending,
                "scheduling",
                reason::ATTEMPT_PENDING,
                format!("attempt {}: {w}", last.number),
            ),
            _ => (
                AnalysisPhase::Pending,
                "scheduling",
                reason::ATTEMPT_PENDING,
                format!("attempt {}: pending", last.number),
            ),
        };
        match o
            .runner_progress
            .filter(|_| phase == AnalysisPhase::Running)
        {
            // What the runner last reported through the gateway: `extract 420/1000`.
            // A stage that has not counted anything yet (`fetch` before the first objects)
            // shows its name alone.
            Some(reported) => {
                let as_count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                let counted = reported.total > 0;
                status.progress = Some(Progress {
                    stage: reported.stage.clone(),
                    done: counted.then(|| as_count(reported.done)),
                    total: counted.then(|| as_count(reported.total)),
                    summary: if counted {
                        format!(
                            "attempt {}: {} {}/{}",
                            last.number, reported.stage, reported.done, reported.total
                        )
                    } else {
                        format!("attempt {}: {}", last.number, reported.stage)
                    },
                });
            }
            // Otherwise the runner's last report is kept while it runs.
            None if status.phase != Some(phase) || phase == AnalysisPhase::Pending => {
                status.progress = Some(progress(stage, &text));
            }
            None => {}
        }
        status.phase = Some(phase);
        // Look again when the deadline backstop would fire, in case no event comes; while it
        // runs, as often as its progress is refreshed.
        let started = last.start_time.as_ref().map_or(o.now, |t| t.0);
        let backstop = started
            + secs(
                Duration::from_secs(u64::try_from(deadline_seconds(o, settings)).unwrap_or(0))
                    + settings.deadline_slack,
            );
        let mut again = until(o.now, backstop) + Duration::from_secs(1);
        if let Some(refresh) = settings
            .progress_refresh
            .filter(|_| phase == AnalysisPhase::Running)
        {
            again = again.min(refresh);
        }
        plan.requeue_after = Some(again);
        return Summary {
            ready: false,
            reconciling: true,
            stalled: false,
            reason: summary_reason,
            message: text,
        };
    }

    let ended_at = last.completion_time.as_ref().map_or(o.now, |t| t.0);
    match last.failure_class {
        None => finish(
            status,
            plan,
            AnalysisPhase::Succeeded,
            reason::SUCCEEDED,
            ended_at,
            success_message(status),
        ),
        Some(AttemptFailure::InvalidInput) => {
            let message = format!(
                "invalid input, not retried: {}",
                last.message.as_deref().unwrap_or("runner exited 2")
            );
            finish(
                status,
                plan,
                AnalysisPhase::Failed,
                reason::INVALID_INPUT,
                ended_at,
                message,
            )
        }
        Some(failure) => {
            let policy = retry_policy(o);
            let class = match failure {
                AttemptFailure::RunnerError | AttemptFailure::InvalidInput => {
                    FailureClass::RunnerError
                }
                AttemptFailure::Infrastructure => FailureClass::Infrastructure,
                AttemptFailure::DeadlineExceeded => FailureClass::DeadlineExceeded,
            };
            let failed = u32::try_from(
                status
                    .attempts
                    .iter()
                    .filter(|a| a.failure_class.is_some())
                    .count(),
            )
            .unwrap_or(u32::MAX);
            let why = format!(
                "attempt {} failed ({})",
                last.number,
                last.reason.as_deref().unwrap_or("unknown")
            );
            if !policy.retry_on.contains(&class) {
                let message =
                    format!("{why}; {class:?} failures are not retried by this retryPolicy");
                return finish(
                    status,
                    plan,
                    AnalysisPhase::Failed,
                    reason::NOT_RETRYABLE,
                    ended_at,
                    message,
                );
            }
            if i64::from(failed) > i64::from(policy.limit) {
                let message = format!("{why}; retry limit {} reached", policy.limit);
                return finish(
                    status,
                    plan,
                    AnalysisPhase::Failed,
                    reason::RETRIES_EXHAUSTED,
                    ended_at,
                    message,
                );
            }
            // Status times have one-second resolution: a whole-second end may be up to a second
            // late of the true one, so round it up; a retry never starts before its backoff.
            let ended_at = if ended_at.subsec_nanosecond() == 0 {
                ended_at + SignedDuration::from_secs(1)
            } else {
                ended_at
            };
            let retry_at = ended_at + secs(backoff::delay(&policy.backoff, failed));
            if o.now >= retry_at {
                return start_attempt(o, settings, status, plan, last.number + 1);
            }
            let text = format!(
                "{why}; attempt {} starts at {}",
                last.number + 1,
                retry_at.round(jiff::Unit::Second).unwrap_or(retry_at)
            );
            if status.phase != Some(AnalysisPhase::Retrying) {
                plan.events
                    .push(Note::normal(event::RETRY_SCHEDULED, text.clone()));
            }
            status.phase = Some(AnalysisPhase::Retrying);
            status.progress = Some(progress(
                "backoff",
                &format!("retry {} of {}", failed, policy.limit),
            ));
            plan.requeue_after = Some(until(o.now, retry_at));
            Summary {
                ready: false,
                reconciling: true,
                stalled: false,
                reason: reason::BACKOFF,
                message: text,
            }
        }
    }
}

fn success_message(status: &AnalysisStatus) -> String {
    match &status.result {
        Some(r) => format!("analyzed {} commits", r.commits_analyzed),
        None => "succeeded".to_owned(),
    }
}

fn progress(stage: &str, summary: &str) -> Progress {
    Progress {
        stage: stage.to_owned(),
        done: None,
        total: None,
        summary: summary.to_owned(),
    }
}

fn finish(
    status: &mut AnalysisStatus,
    plan: &mut Plan,
    phase: AnalysisPhase,
    why: &'static str,
    at: Timestamp,
    message: String,
) -> Summary {
    status.phase = Some(phase);
    status.completion_time = Some(Time(at.max(status.start_time.as_ref().map_or(at, |t| t.0))));
    if phase == AnalysisPhase::Succeeded {
        let commits = status.result.as_ref().map(|r| r.commits_analyzed);
        status.progress = Some(Progress {
            stage: "done".to_owned(),
            done: commits,
            total: commits,
            summary: "done".to_owned(),
        });
        plan.events
            .push(Note::normal(reason::SUCCEEDED, message.clone()));
        Summary {
            ready: true,
            reconciling: false,
            stalled: false,
            reason: reason::SUCCEEDED,
            message,
        }
    } else {
        status.progress = Some(progress("failed", &format!("failed: {why}")));
        plan.events
            .push(Note::warning(reason::FAILED, message.clone()));
        Summary {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: why,
            message,
        }
    }
}

/// The conditions of an Analysis that finished in an earlier reconcile.
fn finished_summary(status: &AnalysisStatus) -> Summary {
    let ready = status.phase == Some(AnalysisPhase::Succeeded);
    let stalled =
        conditions::find(&status.conditions, conditions::STALLED).filter(|c| c.status == "True");
    let ready_condition = conditions::find(&status.conditions, conditions::READY);
    let reason = if ready {
        reason::SUCCEEDED
    } else {
        stalled.map_or(reason::FAILED, |c| known_reason(&c.reason))
    };
    let message = ready_condition
        .map(|c| c.message.clone())
        .unwrap_or_default();
    Summary {
        ready,
        reconciling: false,
        stalled: !ready,
        reason,
        message,
    }
}

fn known_reason(r: &str) -> &'static str {
    [
        reason::INVALID_INPUT,
        reason::RETRIES_EXHAUSTED,
        reason::NOT_RETRYABLE,
        reason::FAILED,
    ]
    .into_iter()
    .find(|k| *k == r)
    .unwrap_or(reason::FAILED)
}

fn stalled_reason(status: &AnalysisStatus) -> Option<&str> {
    conditions::find(&status.conditions, conditions::STALLED)
        .filter(|c| c.status == "True")
        .map(|c| c.reason.as_str())
}

/// Starts attempt `number`, unless something outside the Analysis blocks it.
fn start_attempt(
    o: &Observed<'_>,
    settings: &Settings,
    status: &mut AnalysisStatus,
    plan: &mut Plan,
    number: i32,
) -> Summary {
    let waiting_phase = if number == 1 {
        AnalysisPhase::Pending
    } else {
        AnalysisPhase::Retrying
    };
    let wait = |status: &mut AnalysisStatus, why: &'static str| {
        status.phase = Some(waiting_phase);
        status.progress = Some(progress("blocked", why));
    };
    let blocked = |status: &mut AnalysisStatus, why: &'static str, message: String| {
        wait(status, why);
        Summary {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: why,
            message,
        }
    };
    let an = o.analysis;
    let Some(profile) = o.profile else {
        let message = format!(
            "AnalysisProfile {:?} not found; the run starts once it exists",
            settings.profile_for(&an.spec.run.profile)
        );
        return blocked(status, reason::PROFILE_NOT_FOUND, message);
    };
    if let Err(refusal) = policy::check_repository_url(
        &an.spec.repository.source.url,
        profile.spec.repository_policy.allow_link_local,
    ) {
        return blocked(status, reason::REPOSITORY_NOT_ALLOWED, refusal.to_string());
    }
    if !o.missing_secrets.is_empty() {
        let message = format!(
            "Secret {} not found in namespace {}; the run starts once it exists",
            o.missing_secrets.join(", "),
            an.metadata.namespace.as_deref().unwrap_or_default()
        );
        return blocked(status, reason::CREDENTIALS_NOT_FOUND, message);
    }
    if let Some(refused) = o.refused {
        let summary = reject(o, settings, status, plan, profile, refused);
        wait(status, summary.reason);
        return summary;
    }
    if let Some(summary) = held_by_rejection(o, settings, status, plan, profile) {
        wait(status, summary.reason);
        return summary;
    }

    let resolved = status
        .resolved
        .clone()
        .unwrap_or_else(|| resolve(o, profile));
    let pod = attempt_name(
        an.metadata.name.as_deref().unwrap_or_default(),
        an.metadata.uid.as_deref().unwrap_or_default(),
        number,
    );
    let deadline = deadline_seconds(o, settings);
    plan.before_status.push(Action::StartAttempt(AttemptStart {
        number,
        resolved: resolved.clone(),
        deadline_seconds: deadline,
        resources: an
            .spec
            .run
            .resources
            .clone()
            .or_else(|| profile.spec.defaults.resources.clone()),
    }));
    plan.events.push(Note::normal(
        event::ATTEMPT_STARTED,
        format!(
            "started attempt {number} in pod {pod} ({})",
            resolved.runner_image
        ),
    ));
    status.attempts.push(Attempt {
        number,
        pod,
        start_time: Some(Time(o.now)),
        completion_time: None,
        exit_code: None,
        reason: None,
        failure_class: None,
        message: None,
    });
    status.resolved = Some(resolved);
    status.rejection = None;
    status.phase = Some(AnalysisPhase::Pending);
    status.start_time.get_or_insert(Time(o.now));
    let text = format!("attempt {number}: pending");
    status.progress = Some(progress("scheduling", &text));
    // The pod's watch event brings the next reconcile; this is the deadline backstop.
    plan.requeue_after = Some(
        Duration::from_secs(u64::try_from(deadline).unwrap_or(0))
            + settings.deadline_slack
            + Duration::from_secs(1),
    );
    Summary {
        ready: false,
        reconciling: true,
        stalled: false,
        reason: reason::ATTEMPT_PENDING,
        message: text,
    }
}

/// Records the API server's refusal of this reconcile's start, with what the refused object
/// was built from, so that the reconciles after it wait instead of retrying at once (a 4xx is
/// no transient error): for a change of the Analysis or its profile, or while a full quota
/// frees. A Warning Event says so, once per refusal (once per streak of a full quota).
fn reject(
    o: &Observed<'_>,
    settings: &Settings,
    status: &mut AnalysisStatus,
    plan: &mut Plan,
    profile: &AnalysisProfile,
    refused: &Refused,
) -> Summary {
    let quota_exceeded = refused.refusal == Refusal::QuotaExceeded;
    let rejection = Rejection {
        kind: refused.kind.to_owned(),
        name: refused.name.clone(),
        code: i32::from(refused.code),
        message: truncate(&refused.message),
        quota_exceeded,
        generation: o.analysis.metadata.generation,
        profile_generation: profile.metadata.generation,
        time: Time(o.now),
    };
    let summary = rejection_summary(&rejection, settings);
    if !(quota_exceeded && status.rejection.as_ref().is_some_and(|r| r.quota_exceeded)) {
        plan.events
            .push(Note::warning(summary.reason, summary.message.clone()));
    }
    plan.requeue_after = quota_exceeded.then_some(settings.quota_retry);
    status.rejection = Some(rejection);
    summary
}

/// The refusal in the status, while it still holds: a refused object until the Analysis or its
/// profile has a new generation, a full quota until its retry time.
fn held_by_rejection(
    o: &Observed<'_>,
    settings: &Settings,
    status: &AnalysisStatus,
    plan: &mut Plan,
    profile: &AnalysisProfile,
) -> Option<Summary> {
    let rejection = status.rejection.as_ref()?;
    if rejection.quota_exceeded {
        let retry_at = rejection.time.0 + secs(settings.quota_retry);
        if o.now >= retry_at {
            return None;
        }
        plan.requeue_after = Some(until(o.now, retry_at));
    } else if rejection.generation != o.analysis.metadata.generation
        || rejection.profile_generation != profile.metadata.generation
    {
        return None;
    }
    Some(rejection_summary(rejection, settings))
}

/// The conditions of a refused start: `Stalled` for a refused object (only a change helps),
/// `Reconciling` while a full quota frees.
fn rejection_summary(rejection: &Rejection, settings: &Settings) -> Summary {
    let what = match rejection.kind.as_str() {
        "Pod" => "runner pod",
        "Secret" => "run Secret",
        other => other,
    };
    if rejection.quota_exceeded {
        let message = format!(
            "a ResourceQuota refused {what} {}: {}; tried again every {} s",
            rejection.name,
            rejection.message,
            settings.quota_retry.as_secs()
        );
        Summary {
            ready: false,
            reconciling: true,
            stalled: false,
            reason: reason::QUOTA_EXCEEDED,
            message,
        }
    } else {
        let message = format!(
            "the API server refused {what} {} ({}): {}; the attempt starts when the Analysis's spec or its profile changes",
            rejection.name, rejection.code, rejection.message
        );
        Summary {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: reason::CREATE_REJECTED,
            message,
        }
    }
}

/// Resolves the runner image and model once per Analysis, choosing the canary by weight.
fn resolve(o: &Observed<'_>, profile: &AnalysisProfile) -> ResolvedProfile {
    let uid = o.analysis.metadata.uid.as_deref().unwrap_or_default();
    let canary = profile
        .spec
        .canary
        .as_ref()
        .filter(|c| canary_bucket(uid) < c.weight);
    let default_model = o
        .analysis
        .spec
        .run
        .llm
        .as_ref()
        .and_then(|l| l.model.clone())
        .or_else(|| profile.spec.stages.summarize.model.clone());
    ResolvedProfile {
        profile: profile.metadata.name.clone().unwrap_or_default(),
        runner_image: canary
            .and_then(|c| c.image.clone())
            .unwrap_or_else(|| profile.spec.runner.image.clone()),
        model: canary.and_then(|c| c.model.clone()).or(default_model),
        canary: canary.is_some(),
    }
}

/// Secrets of ended attempts are deleted and their pods released once the status records them.
fn release_finished(o: &Observed<'_>, status: &AnalysisStatus, plan: &mut Plan) {
    let finished = |number: Option<i32>| {
        number.is_none_or(|n| {
            status
                .attempts
                .iter()
                .any(|a| a.number == n && a.is_finished())
        })
    };
    for (name, attempt) in &o.run_secrets {
        if finished(*attempt) {
            plan.after_status.push(Action::DeleteSecret(name.clone()));
        }
    }
    for pod in &o.pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if has_finalizer(pod)
            && finished(attempt_label(pod))
            && !plan
                .after_status
                .contains(&Action::ReleasePod(name.clone()))
        {
            plan.after_status.push(Action::ReleasePod(name));
        }
    }
}

/// After `ttlSecondsAfterFinished`, deletes the Analysis or only its pods, per `ttlPolicy`.
fn apply_ttl(o: &Observed<'_>, status: &AnalysisStatus, plan: &mut Plan) {
    let spec = &o.analysis.spec.run;
    let (Some(ttl), Some(done)) = (
        spec.ttl_seconds_after_finished,
        status.completion_time.as_ref(),
    ) else {
        return;
    };
    let expires = done.0 + SignedDuration::from_secs(i64::from(ttl));
    if o.now < expires {
        plan.requeue_after = Some(until(o.now, expires));
        return;
    }
    match spec.ttl_policy {
        TtlPolicy::DeleteAnalysis => {
            plan.events.push(Note::normal(
                event::TTL_EXPIRED,
                format!("ttlSecondsAfterFinished ({ttl}s) passed: deleting the Analysis"),
            ));
            plan.after_status.push(Action::DeleteAnalysis);
        }
        TtlPolicy::CleanupResources => {
            let live: Vec<&Pod> = o
                .pods
                .iter()
                .copied()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            if !live.is_empty() {
                plan.events.push(Note::normal(
                    event::TTL_EXPIRED,
                    format!("ttlSecondsAfterFinished ({ttl}s) passed: deleting {} runner pod(s), keeping the Analysis", live.len()),
                ));
            }
            for pod in live {
                plan.after_status.push(Action::DeletePod(
                    pod.metadata.name.clone().unwrap_or_default(),
                ));
            }
        }
    }
}
