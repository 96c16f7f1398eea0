//! Unit tests of the decide step, driven through a small simulated world that applies each
//! plan the way the act step would (no API server involved).

use std::time::Duration;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{AnalysisPhase, AnalysisProfile, AttemptFailure, Canary};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::build::{attempt_name, canary_bucket};
use super::decide::{Action, Observed, Plan, Refused, decide};
use crate::conditions::{self, reason};
use crate::error::Refusal;
use crate::fixtures::*;
use crate::settings::Settings;

struct World {
    an: gitview_crds::v1alpha1::Analysis,
    pods: Vec<Pod>,
    secrets: Vec<(String, Option<i32>)>,
    profile: Option<AnalysisProfile>,
    missing: Vec<String>,
    now: Timestamp,
    analysis_deleted: bool,
    /// What the runner last reported through the gateway.
    reported: Option<gitview_core::results::ProgressEvent>,
    settings: Settings,
}

impl World {
    fn new(an: gitview_crds::v1alpha1::Analysis) -> Self {
        Self {
            an,
            pods: vec![],
            secrets: vec![],
            profile: Some(profile()),
            missing: vec![],
            now: at(0),
            analysis_deleted: false,
            reported: None,
            settings: Settings::default(),
        }
    }

    fn decide(&self, refused: Option<&Refused>) -> Plan {
        let pods: Vec<&Pod> = self.pods.iter().collect();
        let observed = Observed {
            analysis: &self.an,
            pods,
            run_secrets: self.secrets.clone(),
            profile: self.profile.as_ref(),
            missing_secrets: self.missing.clone(),
            runner_progress: self.reported.as_ref(),
            refused,
            now: self.now,
        };
        decide(&observed, &self.settings)
    }

    /// One reconcile: decide, then apply the plan as `act` would.
    fn step(&mut self) -> Plan {
        let plan = self.decide(None);
        self.apply(plan)
    }

    /// One reconcile whose start of an attempt the API server refuses: `act` creates nothing
    /// that stays and hands the refusal back, and the plan is decided again knowing it.
    fn step_refused(&mut self, refusal: Refusal, message: &str) -> Plan {
        let first = self.decide(None);
        let number = *started(&first)
            .first()
            .expect("the reconcile starts an attempt");
        let name = attempt_name("demo", self.an.metadata.uid.as_deref().unwrap(), number);
        let code = if refusal == Refusal::QuotaExceeded {
            403
        } else {
            422
        };
        let refused = Refused {
            kind: "Pod",
            name,
            code,
            message: message.to_owned(),
            refusal,
        };
        let plan = self.decide(Some(&refused));
        self.apply(plan)
    }

    fn apply(&mut self, plan: Plan) -> Plan {
        for action in plan.before_status.iter().chain(&plan.after_status) {
            match action {
                Action::StartAttempt(start) => {
                    self.pods.push(runner_pod(&self.an, start.number));
                    let name = attempt_name(
                        "demo",
                        self.an.metadata.uid.as_deref().unwrap(),
                        start.number,
                    );
                    self.secrets.push((name, Some(start.number)));
                }
                Action::DeleteSecret(name) => self.secrets.retain(|(n, _)| n != name),
                Action::ReleasePod(name) => {
                    if let Some(pod) = self
                        .pods
                        .iter_mut()
                        .find(|p| p.metadata.name.as_ref() == Some(name))
                    {
                        pod.metadata.finalizers = None;
                    }
                }
                Action::DeletePod(name) => {
                    self.pods.retain(|p| p.metadata.name.as_ref() != Some(name))
                }
                Action::DeleteAnalysis => self.analysis_deleted = true,
            }
        }
        if let Some(status) = &plan.status {
            self.an.status = Some(status.clone());
        }
        plan
    }

    fn pod(&mut self, attempt: i32) -> &mut Pod {
        let name = attempt_name("demo", self.an.metadata.uid.as_deref().unwrap(), attempt);
        self.pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
            .expect("pod exists")
    }

    fn set_pod(&mut self, attempt: i32, change: impl FnOnce(Pod) -> Pod) {
        let pod = self.pod(attempt);
        *pod = change(pod.clone());
    }

    fn phase(&self) -> Option<AnalysisPhase> {
        self.an.status.as_ref().and_then(|s| s.phase)
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let c = conditions::find(&self.an.status.as_ref().unwrap().conditions, type_).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    fn attempts(&self) -> &[gitview_crds::v1alpha1::Attempt] {
        &self.an.status.as_ref().unwrap().attempts
    }
}

fn started(plan: &Plan) -> Vec<i32> {
    plan.before_status
        .iter()
        .filter_map(|a| match a {
            Action::StartAttempt(s) => Some(s.number),
            _ => None,
        })
        .collect()
}

fn event_reasons(plan: &Plan) -> Vec<&'static str> {
    plan.events.iter().map(|e| e.reason).collect()
}

#[test]
fn first_reconcile_starts_attempt_one() {
    let mut w = World::new(analysis("demo"));
    let plan = w.step();
    assert_eq!(started(&plan), [1]);
    assert_eq!(w.phase(), Some(AnalysisPhase::Pending));
    assert_eq!(
        w.condition(conditions::RECONCILING),
        ("True".into(), reason::ATTEMPT_PENDING.into())
    );
    assert_eq!(w.condition(conditions::READY).0, "False");
    assert_eq!(event_reasons(&plan), ["AttemptStarted"]);
    let status = w.an.status.as_ref().unwrap();
    assert_eq!(status.resolved, Some(resolved()));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.attempt_count, Some(1));
    // The only requeue is the deadline backstop (3600 s + 30 s slack + 1 s).
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(3631)));

    // A second reconcile before the pod shows up in the cache starts nothing new.
    let again = w.step();
    assert!(started(&again).is_empty());
}

#[test]
fn a_running_attempt_shows_what_its_runner_reported() {
    let mut w = World::new(analysis("demo"));
    w.settings.progress_refresh = Some(Duration::from_secs(15));
    w.step();
    // Pending: nothing reported yet, and no refresh before the pod runs.
    w.reported = Some(gitview_core::results::ProgressEvent {
        stage: "extract".into(),
        done: 420,
        total: 1000,
        elapsed_ms: 900,
    });
    let plan = w.step();
    assert_eq!(
        w.an.status
            .as_ref()
            .unwrap()
            .progress
            .as_ref()
            .unwrap()
            .stage,
        "scheduling"
    );
    assert!(
        plan.requeue_after > Some(Duration::from_secs(15)),
        "{:?}",
        plan.requeue_after
    );
    w.set_pod(1, PodFixture::running);
    w.now = at(5);
    let plan = w.step();
    let progress = w.an.status.as_ref().unwrap().progress.clone().unwrap();
    assert_eq!(
        (
            progress.stage.as_str(),
            progress.done,
            progress.total,
            progress.summary.as_str()
        ),
        (
            "extract",
            Some(420),
            Some(1000),
            "attempt 1: extract 420/1000"
        )
    );
    // Looked at again when the progress is refreshed.
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(15)));
    // A refresh without an answer from the gateway keeps the last report.
    w.reported = None;
    w.now = at(20);
    w.step();
    assert_eq!(
        w.an.status
            .as_ref()
            .unwrap()
            .progress
            .as_ref()
            .unwrap()
            .summary,
        "attempt 1: extract 420/1000"
    );
    // A stage that has counted nothing yet shows its name alone.
    w.reported = Some(gitview_core::results::ProgressEvent {
        stage: "fetch".into(),
        done: 0,
        total: 0,
        elapsed_ms: 10,
    });
    w.now = at(35);
    w.step();
    let progress = w.an.status.as_ref().unwrap().progress.clone().unwrap();
    assert_eq!(
        (progress.done, progress.total, progress.summary.as_str()),
        (None, None, "attempt 1: fetch")
    );
    // Without a gateway client, only the deadline backstop.
    w.settings.progress_refresh = None;
    assert!(w.step().requeue_after > Some(Duration::from_secs(3000)));
}

#[test]
fn a_running_pod_makes_the_analysis_running() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, PodFixture::running);
    w.now = at(5);
    let plan = w.step();
    assert_eq!(w.phase(), Some(AnalysisPhase::Running));
    assert_eq!(
        w.an.status
            .as_ref()
            .unwrap()
            .progress
            .as_ref()
            .unwrap()
            .summary,
        "attempt 1: running"
    );
    assert!(plan.before_status.is_empty() && plan.after_status.is_empty());
}

#[test]
fn a_pod_waiting_on_its_image_says_so() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, |p| p.pending_because("ImagePullBackOff"));
    w.step();
    assert_eq!(
        w.an.status
            .as_ref()
            .unwrap()
            .progress
            .as_ref()
            .unwrap()
            .summary,
        "attempt 1: ImagePullBackOff"
    );
}

#[test]
fn success_records_the_result_deletes_the_secret_and_releases_the_pod() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, |p| p.succeeded_with(&outcome_line(42)));
    w.now = at(61);
    let plan = w.step();
    assert_eq!(w.phase(), Some(AnalysisPhase::Succeeded));
    assert_eq!(
        w.condition(conditions::READY),
        ("True".into(), reason::SUCCEEDED.into())
    );
    assert_eq!(w.condition(conditions::RECONCILING).0, "False");
    assert_eq!(w.condition(conditions::STALLED).0, "False");
    let status = w.an.status.clone().unwrap();
    let result = status.result.unwrap();
    assert_eq!(
        (result.commits_analyzed, result.to_commit.as_deref()),
        (42, Some("abc123"))
    );
    assert_eq!(result.analysis_id.as_deref(), Some("0000demo-uid"));
    assert_eq!(status.completion_time, Some(Time(at(60))));
    assert_eq!(status.attempts[0].exit_code, Some(0));
    assert_eq!(
        status.attempts[0].message.as_deref(),
        Some("analyzed 42 commits")
    );
    assert!(
        w.secrets.is_empty(),
        "secret deleted as soon as the pod finished"
    );
    assert!(
        w.pods[0].metadata.finalizers.is_none(),
        "pod released after its outcome is recorded"
    );
    assert!(
        plan.after_status
            .iter()
            .all(|a| matches!(a, Action::DeleteSecret(_) | Action::ReleasePod(_)))
    );
    assert_eq!(event_reasons(&plan), ["AttemptSucceeded", "Succeeded"]);

    // Afterwards: nothing to do, nothing to wait for.
    let quiet = w.step();
    assert!(
        quiet.before_status.is_empty() && quiet.after_status.is_empty() && quiet.events.is_empty()
    );
    assert_eq!(quiet.requeue_after, None);
    assert_eq!(quiet.status.as_ref(), w.an.status.as_ref());
}

#[test]
fn a_failed_attempt_is_retried_after_its_backoff() {
    let mut w = World::new(analysis("demo").with_spec(json!({"retryPolicy": {"limit": 2, "backoff": {"initialSeconds": 10, "factor": 3, "maxSeconds": 100}}})));
    w.step();
    w.set_pod(1, |p| p.failed_with(1, "fetch failed: connection reset"));
    w.now = at(61);
    let plan = w.step();
    assert_eq!(w.phase(), Some(AnalysisPhase::Retrying));
    assert_eq!(
        w.condition(conditions::RECONCILING),
        ("True".into(), reason::BACKOFF.into())
    );
    assert_eq!(
        plan.requeue_after,
        Some(Duration::from_secs(10)),
        "retry at end (60, rounded up to 61) + 10 s, now 61"
    );
    assert!(started(&plan).is_empty());
    assert_eq!(event_reasons(&plan), ["AttemptFailed", "RetryScheduled"]);
    let attempt = &w.attempts()[0];
    assert_eq!(
        (attempt.exit_code, attempt.reason.as_deref()),
        (Some(1), Some("Error"))
    );
    assert_eq!(attempt.failure_class, Some(AttemptFailure::RunnerError));
    assert_eq!(
        attempt.message.as_deref(),
        Some("fetch failed: connection reset")
    );

    w.now = at(70);
    assert!(started(&w.step()).is_empty(), "not before the backoff");
    w.now = at(71);
    let plan = w.step();
    assert_eq!(started(&plan), [2]);
    assert_eq!(w.phase(), Some(AnalysisPhase::Pending));

    // The second failure waits 10 * 3 = 30 s.
    w.set_pod(2, |p| p.failed_with(1, "again"));
    w.now = at(61);
    let plan = w.step();
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn retries_exhausted_fails_for_good() {
    let mut w = World::new(
        analysis("demo")
            .with_spec(json!({"retryPolicy": {"limit": 1, "backoff": {"initialSeconds": 1}}})),
    );
    w.step();
    w.set_pod(1, |p| p.failed_with(1, "boom"));
    w.now = at(100);
    let plan = w.step();
    assert_eq!(started(&plan), [2], "backoff already passed: retry at once");
    w.set_pod(2, |p| p.failed_with(1, "boom again"));
    w.now = at(200);
    let plan = w.step();
    assert!(started(&plan).is_empty());
    assert_eq!(w.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(
        w.condition(conditions::STALLED),
        ("True".into(), reason::RETRIES_EXHAUSTED.into())
    );
    assert_eq!(
        w.condition(conditions::READY),
        ("False".into(), reason::RETRIES_EXHAUSTED.into())
    );
    assert_eq!(w.attempts().len(), 2);
    assert!(event_reasons(&plan).contains(&"Failed"));
    assert!(w.secrets.is_empty());
    assert!(w.pods.iter().all(|p| p.metadata.finalizers.is_none()));
}

#[test]
fn invalid_input_is_never_retried() {
    let mut w = World::new(analysis("demo").with_spec(json!({"retryPolicy": {"limit": 5}})));
    w.step();
    w.set_pod(1, |p| {
        p.failed_with(2, r#"{"message":"ref refs/heads/nope not found"}"#)
    });
    w.now = at(100);
    let plan = w.step();
    assert!(started(&plan).is_empty());
    assert_eq!(w.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(
        w.condition(conditions::STALLED),
        ("True".into(), reason::INVALID_INPUT.into())
    );
    assert_eq!(
        w.attempts()[0].failure_class,
        Some(AttemptFailure::InvalidInput)
    );
    assert_eq!(
        w.attempts()[0].message.as_deref(),
        Some("ref refs/heads/nope not found")
    );
}

#[test]
fn a_pod_deleted_by_someone_else_is_recorded_and_retried() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, PodFixture::running);
    w.step();
    // Someone deletes the pod: our finalizer holds it while the kubelet stops the container.
    w.set_pod(1, |p| p.deleted_at(at(30)));
    w.now = at(31);
    let plan = w.step();
    assert_eq!(
        w.phase(),
        Some(AnalysisPhase::Running),
        "wait for the kubelet to confirm"
    );
    assert!(plan.after_status.is_empty());
    w.set_pod(1, |p| p.failed_with(143, "").deleted_at(at(30)));
    w.now = at(62);
    let plan = w.step();
    let attempt = &w.attempts()[0];
    assert_eq!(
        (attempt.reason.as_deref(), attempt.failure_class),
        (Some("PodDeleted"), Some(AttemptFailure::Infrastructure))
    );
    assert!(
        plan.after_status
            .contains(&Action::ReleasePod(attempt.pod.clone()))
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Retrying));
}

#[test]
fn a_pod_that_vanished_counts_as_an_infrastructure_failure() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.pods.clear(); // force-deleted with its finalizer stripped
    w.now = at(20);
    w.step();
    let attempt = &w.attempts()[0];
    assert_eq!(
        (attempt.reason.as_deref(), attempt.failure_class),
        (Some("PodMissing"), Some(AttemptFailure::Infrastructure))
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Retrying));
}

#[test]
fn a_node_that_never_confirms_a_deletion_is_taken_for_lost() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, |p| p.running().deleted_at(at(10)));
    w.now = at(10 + 61);
    w.step();
    assert_eq!(w.attempts()[0].reason.as_deref(), Some("PodDeleted"));
}

#[test]
fn eviction_is_an_infrastructure_failure() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, PodFixture::evicted);
    w.now = at(100);
    w.step();
    let attempt = &w.attempts()[0];
    assert_eq!(
        (attempt.reason.as_deref(), attempt.failure_class),
        (Some("Evicted"), Some(AttemptFailure::Infrastructure))
    );
    assert!(
        attempt
            .message
            .as_deref()
            .unwrap()
            .contains("low on resource")
    );
}

#[test]
fn deadline_exceeded_is_not_retried_by_default() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, PodFixture::deadline_exceeded);
    w.now = at(3700);
    w.step();
    assert_eq!(
        w.attempts()[0].failure_class,
        Some(AttemptFailure::DeadlineExceeded)
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(w.condition(conditions::STALLED).1, reason::NOT_RETRYABLE);
}

#[test]
fn deadline_exceeded_is_retried_when_the_policy_says_so() {
    let an = analysis("demo").with_spec(json!({"retryPolicy": {"retryOn": ["DeadlineExceeded"]}}));
    let mut w = World::new(an);
    w.step();
    w.set_pod(1, PodFixture::deadline_exceeded);
    w.now = at(3700);
    let plan = w.step();
    assert_eq!(started(&plan), [2], "ended at 60, backoff 10 s long past");
}

#[test]
fn a_pod_that_never_starts_is_stopped_at_the_deadline() {
    let mut w = World::new(analysis("demo").with_spec(json!({"activeDeadlineSeconds": 60})));
    w.step();
    w.set_pod(1, |p| p.pending_because("ContainerCreating"));
    w.now = at(60 + 30); // deadline + slack, not past it yet
    let plan = w.step();
    assert!(plan.after_status.is_empty());
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
    w.now = at(60 + 31);
    let plan = w.step();
    let pod = attempt_name("demo", "0000demo-uid", 1);
    assert!(plan.after_status.contains(&Action::DeletePod(pod)));
    assert_eq!(
        w.attempts()[0].failure_class,
        Some(AttemptFailure::DeadlineExceeded)
    );
}

#[test]
fn ttl_cleans_up_resources_and_keeps_the_analysis() {
    let mut w = World::new(analysis("demo").with_spec(json!({"ttlSecondsAfterFinished": 100})));
    w.step();
    w.set_pod(1, |p| p.succeeded_with(&outcome_line(1)));
    w.now = at(70);
    let plan = w.step();
    assert_eq!(
        plan.requeue_after,
        Some(Duration::from_secs(90)),
        "completed at 60, ttl 100"
    );
    w.now = at(160);
    let plan = w.step();
    assert!(
        plan.after_status
            .iter()
            .any(|a| matches!(a, Action::DeletePod(_)))
    );
    assert!(w.pods.is_empty());
    assert!(!w.analysis_deleted);
    assert_eq!(event_reasons(&plan), ["TTLExpired"]);
    let after = w.step();
    assert!(
        after.after_status.is_empty() && after.events.is_empty(),
        "cleanup happens once"
    );
}

#[test]
fn ttl_can_delete_the_analysis() {
    let mut w = World::new(
        analysis("demo")
            .with_spec(json!({"ttlSecondsAfterFinished": 0, "ttlPolicy": "DeleteAnalysis"})),
    );
    w.step();
    w.set_pod(1, |p| p.failed_with(2, "bad"));
    w.now = at(61);
    let plan = w.step();
    assert_eq!(w.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(
        plan.after_status.last(),
        Some(&Action::DeleteAnalysis),
        "deleted after the status is written"
    );
    assert!(w.analysis_deleted);
}

#[test]
fn a_missing_profile_stalls_until_it_exists() {
    let mut w = World::new(analysis("demo"));
    w.profile = None;
    let plan = w.step();
    assert!(started(&plan).is_empty());
    assert_eq!(
        plan.requeue_after, None,
        "no polling: the profile watch brings the change"
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Pending));
    assert_eq!(
        w.condition(conditions::STALLED),
        ("True".into(), reason::PROFILE_NOT_FOUND.into())
    );
    assert_eq!(w.condition(conditions::RECONCILING).0, "False");
    assert_eq!(event_reasons(&plan), [reason::PROFILE_NOT_FOUND]);
    let again = w.step();
    assert!(again.events.is_empty(), "the warning is not repeated");

    w.profile = Some(profile());
    let plan = w.step();
    assert_eq!(started(&plan), [1]);
    assert_eq!(w.condition(conditions::STALLED).0, "False");
}

#[test]
fn an_analysis_naming_no_profile_waits_for_the_operators_default_profile() {
    // The API server gave it `profile: default`; the operator's default profile is another.
    let mut w = World::new(analysis("demo"));
    w.settings.default_profile = "team-default".to_owned();
    w.profile = None;
    let plan = w.step();
    assert!(
        plan.events[0]
            .message
            .contains("\"team-default\" not found")
    );
    let mut team = profile();
    team.metadata.name = Some("team-default".to_owned());
    w.profile = Some(team);
    w.step();
    assert_eq!(
        w.an.status
            .as_ref()
            .and_then(|s| s.resolved.as_ref())
            .map(|r| r.profile.as_str()),
        Some("team-default")
    );
}

#[test]
fn a_refused_runner_pod_stalls_until_the_spec_changes() {
    let mut w = World::new(
        analysis("demo").with_spec(json!({"resources": {"limits": {"memory": "128Mi"}}})),
    );
    let message = "pods \"demo-0000demo-a1\" is forbidden: maximum memory usage per Container is 64Mi, but limit is 128Mi";
    let plan = w.step_refused(Refusal::Invalid, message);
    assert!(
        started(&plan).is_empty(),
        "the refused start is not planned again"
    );
    assert_eq!(
        plan.requeue_after, None,
        "no retry loop: a change of the spec or profile brings the next try"
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Pending));
    assert!(
        w.attempts().is_empty(),
        "an attempt that never started is not recorded"
    );
    assert_eq!(
        w.condition(conditions::STALLED),
        ("True".into(), reason::CREATE_REJECTED.into())
    );
    assert_eq!(
        w.condition(conditions::READY),
        ("False".into(), reason::CREATE_REJECTED.into())
    );
    assert_eq!(w.condition(conditions::RECONCILING).0, "False");
    assert_eq!(
        event_reasons(&plan),
        [reason::CREATE_REJECTED],
        "one Warning, not two"
    );
    assert!(
        plan.events[0].warning && plan.events[0].message.contains("64Mi, but limit is 128Mi"),
        "{:?}",
        plan.events
    );
    let stalled = conditions::find(
        &w.an.status.as_ref().unwrap().conditions,
        conditions::STALLED,
    )
    .unwrap();
    assert!(
        stalled
            .message
            .contains("runner pod demo-0000demo-a1 (422)")
            && stalled.message.contains("64Mi"),
        "{}",
        stalled.message
    );
    let rejection = w.an.status.as_ref().unwrap().rejection.clone().unwrap();
    assert_eq!(
        (
            rejection.kind.as_str(),
            rejection.code,
            rejection.generation,
            rejection.quota_exceeded
        ),
        ("Pod", 422, Some(1), false)
    );

    // The reconciles that follow (its own status write, a profile event) wait, silently.
    w.now = at(600);
    let plan = w.step();
    assert!(
        started(&plan).is_empty() && plan.events.is_empty() && plan.requeue_after.is_none(),
        "{plan:?}"
    );
    assert_eq!(w.condition(conditions::STALLED).1, reason::CREATE_REJECTED);

    // A new generation of the spec: the attempt starts, and the refusal is gone.
    w.an =
        w.an.clone()
            .with_spec(json!({"resources": {"limits": {"memory": "32Mi"}}}));
    w.an.metadata.generation = Some(2);
    let plan = w.step();
    assert_eq!(started(&plan), [1]);
    assert_eq!(w.condition(conditions::STALLED).0, "False");
    assert!(w.an.status.as_ref().unwrap().rejection.is_none());
}

#[test]
fn a_refused_start_is_tried_again_when_the_profile_changes() {
    let mut w = World::new(analysis("demo"));
    let mut built_from = profile();
    built_from.metadata.generation = Some(3);
    w.profile = Some(built_from.clone());
    w.step_refused(
        Refusal::Invalid,
        "Pod \"x\" is invalid: spec.volumes[1].emptyDir.sizeLimit: Invalid value",
    );
    assert!(started(&w.step()).is_empty());
    built_from.metadata.generation = Some(4);
    w.profile = Some(built_from);
    assert_eq!(started(&w.step()), [1]);
}

#[test]
fn a_full_quota_is_retried_every_30_s_and_warned_about_once() {
    let mut w = World::new(analysis("demo"));
    let message = "pods \"p\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1";
    let plan = w.step_refused(Refusal::QuotaExceeded, message);
    assert!(started(&plan).is_empty());
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
    assert_eq!(event_reasons(&plan), [reason::QUOTA_EXCEEDED]);
    assert!(plan.events[0].warning);
    // It frees by itself: not Stalled, still Reconciling.
    assert_eq!(w.condition(conditions::STALLED).0, "False");
    assert_eq!(
        w.condition(conditions::RECONCILING),
        ("True".into(), reason::QUOTA_EXCEEDED.into())
    );
    assert_eq!(w.phase(), Some(AnalysisPhase::Pending));

    // Its own status write brings a reconcile at once: it waits for the rest of the 30 s.
    w.now = at(10);
    let plan = w.step();
    assert!(started(&plan).is_empty() && plan.events.is_empty());
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(20)));
    // Then it tries again; refused again, no second Warning.
    w.now = at(30);
    let plan = w.step_refused(Refusal::QuotaExceeded, message);
    assert!(plan.events.is_empty(), "{:?}", plan.events);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
    // The quota freed: the next try starts it.
    w.now = at(60);
    assert_eq!(started(&w.step()), [1]);
    assert_eq!(
        w.condition(conditions::RECONCILING).1,
        reason::ATTEMPT_PENDING
    );
}

#[test]
fn a_refused_retry_keeps_the_attempts_before_it() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.set_pod(1, |p| p.failed_with(1, "network down"));
    w.now = at(61);
    w.step();
    w.now = at(200);
    w.step_refused(Refusal::Invalid, "refused");
    assert_eq!(w.phase(), Some(AnalysisPhase::Retrying));
    assert_eq!(w.attempts().len(), 1);
    assert_eq!(w.condition(conditions::STALLED).1, reason::CREATE_REJECTED);
}

#[test]
fn missing_credentials_stall_with_a_clear_message() {
    let mut w = World::new(
        analysis("demo")
            .with_spec(json!({"repository": {"credentialsSecret": {"name": "git-creds"}}})),
    );
    w.missing = vec!["git-creds".into()];
    let plan = w.step();
    assert!(started(&plan).is_empty());
    assert_eq!(
        w.condition(conditions::STALLED).1,
        reason::CREDENTIALS_NOT_FOUND
    );
    assert!(plan.events[0].message.contains("git-creds"));
}

#[test]
fn link_local_repositories_need_the_profile_to_allow_them() {
    let an = analysis("demo")
        .with_spec(json!({"repository": {"url": "http://169.254.169.254/repo.git"}}));
    let mut w = World::new(an);
    w.step();
    assert_eq!(
        w.condition(conditions::STALLED).1,
        reason::REPOSITORY_NOT_ALLOWED
    );
    let mut allowing = profile();
    allowing.spec.repository_policy.allow_link_local = true;
    w.profile = Some(allowing);
    assert_eq!(started(&w.step()), [1]);
}

#[test]
fn a_lost_status_write_adopts_the_existing_pod_instead_of_starting_another() {
    let mut w = World::new(analysis("demo"));
    w.pods.push(runner_pod(&w.an, 1).running());
    let plan = w.step();
    assert!(started(&plan).is_empty());
    assert_eq!(w.attempts().len(), 1);
    assert_eq!(w.phase(), Some(AnalysisPhase::Running));
}

#[test]
fn an_analysis_being_deleted_releases_its_pods_and_writes_nothing() {
    let mut w = World::new(analysis("demo"));
    w.step();
    w.an.metadata.deletion_timestamp = Some(Time(at(5)));
    let plan = w.step();
    assert_eq!(plan.status, None);
    assert_eq!(
        plan.after_status,
        [Action::ReleasePod(attempt_name("demo", "0000demo-uid", 1))]
    );
}

#[test]
fn the_canary_is_chosen_by_weight_once_per_analysis() {
    let with_weight = |weight| {
        let mut p = profile();
        p.spec.canary = Some(Canary {
            image: Some("runner:canary".into()),
            model: None,
            weight,
        });
        p
    };
    let mut all = World::new(analysis("demo"));
    all.profile = Some(with_weight(100));
    all.step();
    let resolved = all.an.status.as_ref().unwrap().resolved.clone().unwrap();
    assert!(resolved.canary);
    assert_eq!(resolved.runner_image, "runner:canary");

    let mut none = World::new(analysis("demo"));
    none.profile = Some(with_weight(0));
    none.step();
    assert!(
        !none
            .an
            .status
            .as_ref()
            .unwrap()
            .resolved
            .as_ref()
            .unwrap()
            .canary
    );

    // Roughly `weight` percent of uids land in the canary.
    let hits = (0..1000)
        .filter(|i| canary_bucket(&format!("uid-{i}")) < 20)
        .count();
    assert!(
        (150..=250).contains(&hits),
        "{hits} of 1000 in a 20% canary"
    );

    // A retry keeps the resolution of the first attempt even if the profile changed.
    all.set_pod(1, |p| p.failed_with(1, "x"));
    all.now = at(1000);
    all.profile = Some(profile());
    all.step();
    assert_eq!(
        all.an
            .status
            .as_ref()
            .unwrap()
            .resolved
            .as_ref()
            .unwrap()
            .runner_image,
        "runner:canary"
    );
}

#[test]
fn attempt_names_fit_in_a_label_and_stay_unique_per_incarnation() {
    let long = "a".repeat(80);
    let name = attempt_name(&long, "12345678-aaaa", 12);
    assert!(name.len() <= 63, "{name}");
    assert!(name.ends_with("-12345678-a12"));
    assert_ne!(
        attempt_name("x", "11111111", 1),
        attempt_name("x", "22222222", 1)
    );
    assert!(!attempt_name("ends-with-dash-", "1", 1).contains("--"));
    let _ = labels::POD_FINALIZER;
}
