//! Reading a runner pod the way the Job controller does: is its attempt still going, and if
//! not, how did it end?

use std::time::Duration;

use gitview_crds::v1alpha1::AttemptFailure;
use gitview_crds::wire::{EXIT_INVALID_INPUT, RunOutcome};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};

/// Name of the runner container in every runner pod.
pub const RUNNER_CONTAINER: &str = "runner";
/// Longest message kept from a pod in the Analysis status.
pub const MESSAGE_LIMIT: usize = 1024;

/// Where a runner pod's attempt stands.
#[derive(Clone, Debug, PartialEq)]
pub enum PodState {
    /// Not running yet; `waiting` is the container's waiting reason (`ImagePullBackOff`, ...).
    Pending {
        waiting: Option<String>,
    },
    Running,
    /// Deleted while its container still runs; wait for the kubelet to confirm.
    Terminating,
    Finished(AttemptEnd),
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptEnd {
    pub at: Timestamp,
    pub exit_code: Option<i32>,
    /// CamelCase reason recorded in the attempt.
    pub reason: String,
    /// `None` on success.
    pub failure: Option<AttemptFailure>,
    pub message: Option<String>,
    /// The runner's outcome line, on success.
    pub outcome: Option<RunOutcome>,
}

impl AttemptEnd {
    /// An end the operator decided on itself (pod missing, deadline passed).
    pub fn failed(at: Timestamp, failure: AttemptFailure, reason: &str, message: String) -> Self {
        Self {
            at,
            exit_code: None,
            reason: reason.to_owned(),
            failure: Some(failure),
            message: Some(message),
            outcome: None,
        }
    }
}

/// Classifies a runner pod. `terminating_slack` is how long past its deletion deadline a pod
/// may stay unconfirmed before its node is taken for lost.
pub fn pod_state(pod: &Pod, now: Timestamp, terminating_slack: Duration) -> PodState {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let runner = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == RUNNER_CONTAINER));
    let terminated = runner
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref());
    let deleted_at = pod.metadata.deletion_timestamp.as_ref().map(|t| t.0);
    let end_time = terminated
        .and_then(|t| t.finished_at.as_ref())
        .map_or(now, |t| t.0);

    match phase {
        "Succeeded" => PodState::Finished(success(end_time, terminated)),
        "Failed" => PodState::Finished(failure(pod, end_time, terminated, deleted_at.is_some())),
        _ => {
            if let Some(deleted_at) = deleted_at {
                return match terminated {
                    Some(t) if t.exit_code == 0 => {
                        PodState::Finished(success(end_time, terminated))
                    }
                    Some(_) => PodState::Finished(pod_deleted(
                        end_time,
                        "the runner pod was deleted while it ran",
                    )),
                    None if now > deleted_at + slack(terminating_slack) => {
                        PodState::Finished(pod_deleted(
                            now,
                            "the runner pod was deleted and its node never confirmed that it stopped",
                        ))
                    }
                    None => PodState::Terminating,
                };
            }
            if phase == "Running" {
                PodState::Running
            } else {
                let waiting = runner
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.clone());
                PodState::Pending { waiting }
            }
        }
    }
}

fn slack(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

fn success(at: Timestamp, terminated: Option<&ContainerStateTerminated>) -> AttemptEnd {
    let outcome = terminated
        .and_then(|t| t.message.as_deref())
        .map(RunOutcome::parse);
    AttemptEnd {
        at,
        exit_code: Some(0),
        reason: "Succeeded".to_owned(),
        failure: None,
        message: outcome
            .as_ref()
            .map(|o| truncate(&o.message))
            .filter(|m| !m.is_empty()),
        outcome,
    }
}

fn pod_deleted(at: Timestamp, message: &str) -> AttemptEnd {
    AttemptEnd::failed(
        at,
        AttemptFailure::Infrastructure,
        "PodDeleted",
        message.to_owned(),
    )
}

fn failure(
    pod: &Pod,
    at: Timestamp,
    terminated: Option<&ContainerStateTerminated>,
    deleted: bool,
) -> AttemptEnd {
    let status = pod.status.as_ref();
    let pod_reason = status.and_then(|s| s.reason.as_deref());
    let pod_message = status.and_then(|s| s.message.clone());
    let runner_message = terminated
        .and_then(|t| t.message.as_deref())
        .map(|m| RunOutcome::parse(m).message);
    let exit_code = terminated.map(|t| t.exit_code);
    let disruption = status.and_then(|s| s.conditions.as_ref()).and_then(|cs| {
        cs.iter()
            .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
    });

    let (failure, reason, message) = if pod_reason == Some("DeadlineExceeded") {
        (
            AttemptFailure::DeadlineExceeded,
            "DeadlineExceeded".to_owned(),
            pod_message,
        )
    } else if pod_reason == Some("Evicted") {
        (
            AttemptFailure::Infrastructure,
            "Evicted".to_owned(),
            pod_message,
        )
    } else if let Some(condition) = disruption {
        let reason = condition
            .reason
            .clone()
            .unwrap_or_else(|| "Disrupted".to_owned());
        (
            AttemptFailure::Infrastructure,
            reason,
            condition.message.clone(),
        )
    } else if deleted {
        (
            AttemptFailure::Infrastructure,
            "PodDeleted".to_owned(),
            Some("the runner pod was deleted while it ran".to_owned()),
        )
    } else if exit_code == Some(EXIT_INVALID_INPUT) {
        (
            AttemptFailure::InvalidInput,
            "InvalidInput".to_owned(),
            runner_message,
        )
    } else if let Some(t) = terminated {
        let reason = t
            .reason
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "Error".to_owned());
        (AttemptFailure::RunnerError, reason, runner_message)
    } else {
        let reason = pod_reason.unwrap_or("PodFailed").to_owned();
        (AttemptFailure::Infrastructure, reason, pod_message)
    };
    AttemptEnd {
        at,
        exit_code,
        reason,
        failure: Some(failure),
        message: message.map(|m| truncate(&m)).filter(|m| !m.is_empty()),
        outcome: None,
    }
}

/// Cuts a message to [`MESSAGE_LIMIT`] bytes on a character boundary.
pub fn truncate(message: &str) -> String {
    let message = message.trim();
    if message.len() <= MESSAGE_LIMIT {
        return message.to_owned();
    }
    let mut end = MESSAGE_LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}
