//! The Argo CD health checks in `config/gitops/argocd/health/`, run in Lua 5.1 (the dialect of
//! gopher-lua, which Argo CD runs them in) against the objects the operator writes.
//!
//! An Analysis's status comes from the operator's own decide step, reconcile by reconcile, and
//! reaches the script the way Argo CD hands it over: serialized to JSON by the real API types,
//! decoded into Lua tables with an absent field as `nil`. A renamed field, a changed condition
//! or a new status shape therefore breaks these tests, not a user's dashboard. A
//! RepositoryTracker's status is computed inside the controller's reconcile, which needs an API
//! server; its conditions here come from the controller's own condition writer, for each state
//! the controller reports (suspended, tracking, stalled or failing polls, no matching branch).
#![expect(
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use gitview_crds::v1alpha1::{
    Analysis, AnalysisPhase, AnalysisProfile, Progress, RepositoryTracker, RepositoryTrackerStatus,
};
use gitview_operator::analysis::decide::{Observed, decide};
use gitview_operator::fixtures::*;
use gitview_operator::settings::Settings;
use gitview_operator::tracker::tracker_conditions;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Table};
use serde::Serialize;
use serde_json::json;

/// Argo CD's health statuses.
const STATUSES: &[&str] = &[
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

/// Runs a health script on `obj` as Argo CD does; returns `(status, message)`.
fn health(script: &str, obj: &impl Serialize) -> (String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/gitops/argocd/health")
        .join(script);
    let code = std::fs::read_to_string(&path).expect("the health script exists");
    let json = serde_json::to_value(obj).expect("the object serializes");
    let lua = Lua::new();
    // Argo CD decodes the object from JSON: a null or absent field is nil, not a sentinel.
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    lua.globals()
        .set("obj", lua.to_value_with(&json, options).expect("converts"))
        .expect("sets obj");
    let hs: Table = lua
        .load(&code)
        .set_name(script)
        .eval()
        .unwrap_or_else(|err| panic!("{script} fails on {json}: {err}"));
    let status: String = hs.get("status").expect("a string status");
    let message: String = hs.get("message").expect("a string message");
    assert!(
        STATUSES.contains(&status.as_str()),
        "{script} answered {status:?}, which Argo CD does not know"
    );
    (status, message)
}

/// The Analysis after one reconcile of the operator, at `now`, with `pods` and `profile`.
fn reconciled(
    an: &Analysis,
    pods: &[Pod],
    profile: Option<&AnalysisProfile>,
    missing_secrets: &[&str],
    now: Timestamp,
) -> Analysis {
    let observed = Observed {
        analysis: an,
        pods: pods.iter().collect(),
        run_secrets: vec![],
        profile,
        missing_secrets: missing_secrets.iter().map(|s| (*s).to_owned()).collect(),
        runner_progress: None,
        refused: None,
        now,
    };
    let plan = decide(&observed, &Settings::default());
    let mut next = an.clone();
    next.status = Some(
        plan.status
            .expect("an Analysis not being deleted gets a status"),
    );
    next
}

/// An Analysis whose first attempt was started, with its pod as `pod` makes it, reconciled
/// again at `at(secs)`.
fn with_pod(an: Analysis, pod: impl FnOnce(Pod) -> Pod, secs: i64) -> Analysis {
    let profile = profile();
    let started = reconciled(&an, &[], Some(&profile), &[], at(1));
    let pod = pod(runner_pod(&started, 1));
    reconciled(&started, &[pod], Some(&profile), &[], at(secs))
}

fn phase(an: &Analysis) -> Option<AnalysisPhase> {
    an.status.as_ref().and_then(|s| s.phase)
}

#[track_caller]
fn expect_analysis(an: &Analysis, status: &str, message: &str) {
    let (got_status, got_message) = health("analysis.lua", an);
    let json = serde_json::to_string(&an.status).expect("serializes");
    assert_eq!(got_status, status, "{got_message:?} for {json}");
    assert_eq!(got_message, message, "for {json}");
}

#[test]
fn a_new_analysis_waits_for_the_operator() {
    expect_analysis(
        &analysis("demo"),
        "Progressing",
        "Waiting for the gitview operator",
    );
}

#[test]
fn pending_and_running_attempts_are_progressing_with_the_operators_words() {
    let profile = profile();
    let pending = reconciled(&analysis("demo"), &[], Some(&profile), &[], at(1));
    assert_eq!(phase(&pending), Some(AnalysisPhase::Pending));
    expect_analysis(&pending, "Progressing", "Pending: attempt 1: pending");

    let waiting = with_pod(
        analysis("demo"),
        |p| p.pending_because("ContainerCreating"),
        5,
    );
    expect_analysis(
        &waiting,
        "Progressing",
        "Pending: attempt 1: ContainerCreating",
    );

    let running = with_pod(analysis("demo"), PodFixture::running, 5);
    assert_eq!(phase(&running), Some(AnalysisPhase::Running));
    expect_analysis(&running, "Progressing", "Running: attempt 1: running");
}

#[test]
fn progress_the_runner_reported_names_the_stage_and_counts() {
    let mut running = with_pod(analysis("demo"), PodFixture::running, 5);
    running.status.as_mut().expect("reconciled").progress = Some(Progress {
        stage: "extract".to_owned(),
        done: Some(420),
        total: Some(1000),
        summary: "extract 420/1000".to_owned(),
    });
    expect_analysis(&running, "Progressing", "Running: extract 420/1000");
}

#[test]
fn a_succeeded_analysis_is_healthy_with_what_it_analyzed() {
    let done = with_pod(
        analysis("demo"),
        |p| p.succeeded_with(&outcome_line(120)),
        90,
    );
    assert_eq!(phase(&done), Some(AnalysisPhase::Succeeded));
    expect_analysis(&done, "Healthy", "analyzed 120 commits");
    // Reconciled again after it finished, it says the same.
    let again = reconciled(&done, &[], Some(&profile()), &[], at(200));
    expect_analysis(&again, "Healthy", "analyzed 120 commits");
}

#[test]
fn a_failed_analysis_is_degraded_with_the_ready_message() {
    let invalid = with_pod(analysis("demo"), |p| p.failed_with(2, "bad ref"), 90);
    assert_eq!(phase(&invalid), Some(AnalysisPhase::Failed));
    expect_analysis(&invalid, "Degraded", "invalid input, not retried: bad ref");

    let no_retries = analysis("demo").with_spec(json!({"retryPolicy": {"limit": 0}}));
    let exhausted = with_pod(no_retries, |p| p.failed_with(1, "boom"), 90);
    assert_eq!(phase(&exhausted), Some(AnalysisPhase::Failed));
    let (status, message) = health("analysis.lua", &exhausted);
    assert_eq!(status, "Degraded");
    assert!(
        message.starts_with("attempt 1 failed") && message.ends_with("retry limit 0 reached"),
        "{message}"
    );
}

#[test]
fn a_backing_off_analysis_is_progressing_and_says_when_it_retries() {
    let retrying = with_pod(analysis("demo"), |p| p.failed_with(1, "boom"), 61);
    assert_eq!(phase(&retrying), Some(AnalysisPhase::Retrying));
    let (status, message) = health("analysis.lua", &retrying);
    assert_eq!(status, "Progressing");
    assert!(
        message.starts_with("Retrying: attempt 1 failed")
            && message.contains("attempt 2 starts at"),
        "{message}"
    );
}

#[test]
fn a_stalled_analysis_is_degraded_with_the_stalled_message() {
    let no_profile = reconciled(&analysis("demo"), &[], None, &[], at(1));
    assert_eq!(phase(&no_profile), Some(AnalysisPhase::Pending));
    expect_analysis(
        &no_profile,
        "Degraded",
        "AnalysisProfile \"default\" not found; the run starts once it exists",
    );

    let with_credentials = analysis("demo")
        .with_spec(json!({"repository": {"credentialsSecret": {"name": "git-creds"}}}));
    let no_secret = reconciled(
        &with_credentials,
        &[],
        Some(&profile()),
        &["git-creds"],
        at(1),
    );
    expect_analysis(
        &no_secret,
        "Degraded",
        "Secret git-creds not found in namespace team-a; the run starts once it exists",
    );
}

#[test]
fn a_spec_the_operator_has_not_seen_is_progressing() {
    let mut done = with_pod(analysis("demo"), |p| p.succeeded_with(&outcome_line(3)), 90);
    done.metadata.generation = Some(2);
    expect_analysis(
        &done,
        "Progressing",
        "Waiting for the operator to observe the latest spec",
    );
}

/// A RepositoryTracker of generation 1 with the conditions the tracker controller writes for
/// `(ready, stalled, reason, message)` (reconciling when neither).
fn tracker(
    suspend: bool,
    conditions: Option<(bool, bool, &'static str, &str)>,
) -> RepositoryTracker {
    let spec = serde_json::from_value(json!({
        "repository": {"url": "https://git.example.com/org/repo.git"},
        "branches": ["main"],
    }))
    .expect("a valid spec");
    let mut rt = RepositoryTracker::new("tracker", spec);
    rt.metadata.namespace = Some(NAMESPACE.to_owned());
    rt.metadata.generation = Some(1);
    rt.spec.suspend = suspend;
    rt.status = conditions.map(|(ready, stalled, why, message)| RepositoryTrackerStatus {
        observed_generation: Some(1),
        conditions: tracker_conditions(
            ready,
            stalled,
            !ready && !stalled,
            why,
            message,
            &[],
            Some(1),
            at(0),
        ),
        ..RepositoryTrackerStatus::default()
    });
    rt
}

#[test]
fn trackers_map_to_argo_health() {
    // What the controller writes in each state (operator/src/tracker/mod.rs).
    let cases = [
        (tracker(true, None), "Suspended", "Tracker is suspended"),
        (
            tracker(
                true,
                Some((
                    true,
                    false,
                    "Suspended",
                    "polling is suspended (spec.suspend)",
                )),
            ),
            "Suspended",
            "Tracker is suspended",
        ),
        (
            tracker(false, None),
            "Progressing",
            "Waiting for the gitview operator",
        ),
        (
            tracker(
                false,
                Some((true, false, "Tracking", "tracking 2 branch(es)")),
            ),
            "Healthy",
            "tracking 2 branch(es)",
        ),
        (
            tracker(false, Some((true, false, "Tracking", ""))),
            "Healthy",
            "Tracking",
        ),
        (
            tracker(
                false,
                Some((false, true, "PollFailed", "Secret \"git-creds\" not found")),
            ),
            "Degraded",
            "Secret \"git-creds\" not found",
        ),
        (
            tracker(
                false,
                Some((false, false, "PollFailed", "connection refused; retrying")),
            ),
            "Progressing",
            "connection refused; retrying",
        ),
        (
            tracker(
                false,
                Some((
                    false,
                    false,
                    "NoMatchingBranch",
                    "the remote has no branch matching [\"main\"]",
                )),
            ),
            "Progressing",
            "the remote has no branch matching [\"main\"]",
        ),
        (
            tracker(false, Some((false, false, "NoMatchingBranch", ""))),
            "Progressing",
            "Tracker is not ready yet",
        ),
    ];
    for (rt, status, message) in cases {
        let json = serde_json::to_string(&rt).expect("serializes");
        assert_eq!(
            health("repositorytracker.lua", &rt),
            (status.to_owned(), message.to_owned()),
            "{json}"
        );
    }

    // A status with no conditions yet, and one the operator wrote for an older spec.
    let mut fresh = tracker(false, None);
    fresh.status = Some(RepositoryTrackerStatus::default());
    assert_eq!(
        health("repositorytracker.lua", &fresh).1,
        "Waiting for the gitview operator"
    );
    let mut edited = tracker(false, Some((true, false, "Tracking", "ok")));
    edited.metadata.generation = Some(2);
    assert_eq!(
        health("repositorytracker.lua", &edited),
        (
            "Progressing".to_owned(),
            "Waiting for the operator to observe the latest spec".to_owned()
        )
    );
}
