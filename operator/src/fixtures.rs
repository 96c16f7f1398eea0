//! Test fixtures that read as sentences: `analysis("demo")`, `runner_pod(&an, 1).running()`,
//! `.failed_with(2, "bad ref")`. Used by the unit and scenario tests, and meant for the
//! end-to-end suite's expectations too. Behind the `testing` feature: never in the operator.

use std::collections::BTreeMap;

use gitview_crds::v1alpha1::{
    Analysis, AnalysisProfile, AnalysisProfileSpec, AnalysisSpec, AnalysisStatus,
    RepositoryTracker, RepositoryTrackerSpec, RepositoryTrackerStatus, ResolvedProfile,
    RunnerSettings,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, Pod, PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::analysis::build::{self, AttemptInputs};
use crate::analysis::classify::RUNNER_CONTAINER;
use crate::settings::Settings;

/// The namespace fixtures live in.
pub const NAMESPACE: &str = "team-a";
/// The runner image of the default fixture profile.
pub const RUNNER_IMAGE: &str = "ghcr.io/gitview/gitview-runner:test";

/// A fixed instant: 2026-01-01T00:00:00Z plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + seconds).expect("a valid timestamp")
}

/// A new Analysis in [`NAMESPACE`], created at `at(0)`, with the default spec.
pub fn analysis(name: &str) -> Analysis {
    let spec: AnalysisSpec =
        serde_json::from_value(serde_json::json!({"repository": {"url": "https://git.example.com/org/repo.git", "ref": "main"}}))
            .expect("a valid spec");
    let mut an = Analysis::new(name, spec);
    an.metadata.namespace = Some(NAMESPACE.to_owned());
    an.metadata.uid = Some(format!("0000{name}-uid"));
    an.metadata.generation = Some(1);
    an.metadata.resource_version = Some("1".to_owned());
    an.metadata.creation_timestamp = Some(Time(at(0)));
    an
}

/// Builder-style changes to an Analysis.
pub trait AnalysisFixture: Sized {
    fn with_spec(self, patch: serde_json::Value) -> Self;
    fn with_status(self, status: AnalysisStatus) -> Self;
}

impl AnalysisFixture for Analysis {
    fn with_spec(mut self, patch: serde_json::Value) -> Self {
        let mut value = serde_json::to_value(&self.spec).expect("spec serializes");
        merge(&mut value, patch);
        self.spec = serde_json::from_value(value).expect("patched spec is valid");
        self
    }
    fn with_status(mut self, status: AnalysisStatus) -> Self {
        self.status = Some(status);
        self
    }
}

/// A new RepositoryTracker in [`NAMESPACE`] of generation 1, tracking `main` of the fixture
/// repository, never polled.
pub fn tracker(name: &str) -> RepositoryTracker {
    let spec: RepositoryTrackerSpec = serde_json::from_value(serde_json::json!({
        "repository": {"url": "https://git.example.com/org/repo.git"},
        "branches": ["main"],
    }))
    .expect("a valid spec");
    let mut rt = RepositoryTracker::new(name, spec);
    rt.metadata.namespace = Some(NAMESPACE.to_owned());
    rt.metadata.uid = Some(format!("0000{name}-uid"));
    rt.metadata.generation = Some(1);
    rt.metadata.creation_timestamp = Some(Time(at(0)));
    rt
}

/// Builder-style changes to a RepositoryTracker.
pub trait TrackerFixture: Sized {
    fn with_spec(self, patch: serde_json::Value) -> Self;
    fn with_status(self, status: RepositoryTrackerStatus) -> Self;
}

impl TrackerFixture for RepositoryTracker {
    fn with_spec(mut self, patch: serde_json::Value) -> Self {
        let mut value = serde_json::to_value(&self.spec).expect("spec serializes");
        merge(&mut value, patch);
        self.spec = serde_json::from_value(value).expect("patched spec is valid");
        self
    }
    fn with_status(mut self, status: RepositoryTrackerStatus) -> Self {
        self.status = Some(status);
        self
    }
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The cluster-scoped profile named `default`.
pub fn profile() -> AnalysisProfile {
    AnalysisProfile::new(
        "default",
        AnalysisProfileSpec {
            runner: RunnerSettings {
                image: RUNNER_IMAGE.to_owned(),
                image_pull_policy: None,
                scratch_size: None,
            },
            stages: Default::default(),
            defaults: Default::default(),
            canary: None,
            repository_policy: Default::default(),
        },
    )
}

/// The resolution of [`profile`].
pub fn resolved() -> ResolvedProfile {
    ResolvedProfile {
        profile: "default".to_owned(),
        runner_image: RUNNER_IMAGE.to_owned(),
        model: None,
        canary: false,
    }
}

/// The runner pod the operator builds for an attempt, as just created (no status yet).
pub fn runner_pod(an: &Analysis, attempt: i32) -> Pod {
    let settings = Settings::default();
    let profile = profile();
    let resolved = resolved();
    let mut pod = build::runner_pod(&AttemptInputs {
        analysis: an,
        attempt,
        resolved: &resolved,
        profile: &profile.spec,
        deadline_seconds: 3600,
        resources: None,
        settings: &settings,
        clone_cache: None,
    })
    .expect("fixture analysis has a name, namespace and uid");
    pod.metadata.resource_version = Some(format!("{}", 100 + attempt));
    pod.metadata.creation_timestamp = Some(Time(at(1)));
    pod
}

/// States a runner pod can be put in, as a kubelet would report them.
pub trait PodFixture: Sized {
    fn pending_because(self, reason: &str) -> Self;
    fn running(self) -> Self;
    fn succeeded_with(self, termination_message: &str) -> Self;
    fn failed_with(self, exit_code: i32, termination_message: &str) -> Self;
    fn evicted(self) -> Self;
    fn deadline_exceeded(self) -> Self;
    fn deleted_at(self, when: Timestamp) -> Self;
    fn without_finalizer(self) -> Self;
}

fn container(state: ContainerState) -> Vec<ContainerStatus> {
    vec![ContainerStatus {
        name: RUNNER_CONTAINER.to_owned(),
        image: RUNNER_IMAGE.to_owned(),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        state: Some(state),
        ..ContainerStatus::default()
    }]
}

fn terminated(code: i32, reason: &str, message: &str) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()).filter(|m| !m.is_empty()),
            finished_at: Some(Time(at(60))),
            started_at: Some(Time(at(2))),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

fn with_status(mut pod: Pod, phase: &str, state: Option<ContainerState>) -> Pod {
    pod.status = Some(PodStatus {
        phase: Some(phase.to_owned()),
        container_statuses: state.map(container),
        ..PodStatus::default()
    });
    pod
}

impl PodFixture for Pod {
    fn pending_because(self, reason: &str) -> Self {
        let waiting = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_owned()),
                message: None,
            }),
            ..ContainerState::default()
        };
        with_status(self, "Pending", Some(waiting))
    }
    fn running(self) -> Self {
        let running = ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(at(2))),
            }),
            ..ContainerState::default()
        };
        with_status(self, "Running", Some(running))
    }
    fn succeeded_with(self, message: &str) -> Self {
        with_status(self, "Succeeded", Some(terminated(0, "Completed", message)))
    }
    fn failed_with(self, exit_code: i32, message: &str) -> Self {
        with_status(
            self,
            "Failed",
            Some(terminated(exit_code, "Error", message)),
        )
    }
    fn evicted(self) -> Self {
        let mut pod = with_status(self, "Failed", None);
        let status = pod.status.as_mut().expect("status was just set");
        status.reason = Some("Evicted".to_owned());
        status.message = Some("The node was low on resource: ephemeral-storage.".to_owned());
        status.conditions = Some(vec![PodCondition {
            type_: "DisruptionTarget".to_owned(),
            status: "True".to_owned(),
            reason: Some("TerminationByKubelet".to_owned()),
            ..PodCondition::default()
        }]);
        pod
    }
    fn deadline_exceeded(self) -> Self {
        let mut pod = with_status(self, "Failed", Some(terminated(137, "Error", "")));
        let status = pod.status.as_mut().expect("status was just set");
        status.reason = Some("DeadlineExceeded".to_owned());
        status.message =
            Some("Pod was active on the node longer than the specified deadline".to_owned());
        pod
    }
    fn deleted_at(mut self, when: Timestamp) -> Self {
        self.metadata.deletion_timestamp = Some(Time(when));
        self
    }
    fn without_finalizer(mut self) -> Self {
        self.metadata.finalizers = None;
        self
    }
}

/// A runner's termination message reporting success.
pub fn outcome_line(commits: i64) -> String {
    serde_json::json!({"message": format!("analyzed {commits} commits"), "commitsAnalyzed": commits, "toCommit": "abc123"}).to_string()
}

/// Labels of a namespace (for the account lookup).
pub fn namespace_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "kubernetes.io/metadata.name".to_owned(),
        NAMESPACE.to_owned(),
    )])
}

/// An empty ObjectMeta with a name.
pub fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}
