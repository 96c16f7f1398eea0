//! Pod statuses as a kubelet writes them: pure functions of the pod, what its container is
//! doing, the previous conditions (so `lastTransitionTime` only moves when a condition's status
//! does) and an injected clock.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Pod and host IP: the agent has no network of its own.
pub(super) const LOOPBACK: &str = "127.0.0.1";
/// Bytes of the termination-message file the kubelet reads.
pub(super) const MAX_TERMINATION_MESSAGE: usize = 4096;
/// `FallbackToLogsOnError`: at most this many bytes...
pub(super) const MAX_LOG_MESSAGE: usize = 2048;
/// ...of at most this many last lines of the log.
pub(super) const MAX_LOG_LINES: usize = 80;

/// Pod-level reason and message when `activeDeadlineSeconds` passed (the kubelet's wording).
pub(super) const DEADLINE_REASON: &str = "DeadlineExceeded";
pub(super) const DEADLINE_MESSAGE: &str =
    "Pod was active on the node longer than the specified deadline";

/// A terminated container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: Option<String>,
}

impl Terminated {
    /// A process that exited: "Completed" for 0, "Error" otherwise (the runtimes' reasons).
    pub(super) fn exited(
        exit_code: i32,
        signal: Option<i32>,
        message: Option<String>,
        started_at: Timestamp,
        finished_at: Timestamp,
        container_id: String,
    ) -> Self {
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        Self {
            exit_code,
            signal,
            reason: reason.to_owned(),
            message,
            started_at: Some(started_at),
            finished_at,
            container_id: Some(container_id),
        }
    }

    /// A container that never ran but whose pod is terminal (deleted or past its deadline
    /// before it started): the kubelet reports 137 with this reason.
    pub(super) fn never_ran(finished_at: Timestamp) -> Self {
        Self {
            exit_code: 137,
            signal: None,
            reason: "ContainerStatusUnknown".to_owned(),
            message: Some(
                "The container could not be located when the pod was terminated".to_owned(),
            ),
            started_at: None,
            finished_at,
            container_id: None,
        }
    }
}

/// What the pod's container is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Container {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
        container_id: String,
    },
    Terminated(Terminated),
}

/// Pod-level failure (`status.reason`/`status.message`), e.g. the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PodFailure<'a> {
    pub reason: &'a str,
    pub message: &'a str,
}

pub(super) const DEADLINE: PodFailure<'static> = PodFailure {
    reason: DEADLINE_REASON,
    message: DEADLINE_MESSAGE,
};

/// `Succeeded`, `Failed`, `Running` or `Pending` for a single-container pod (nothing is restarted).
pub(super) fn phase(container: &Container, failure: Option<PodFailure<'_>>) -> &'static str {
    match container {
        Container::Terminated(t) if t.exit_code == 0 && failure.is_none() => "Succeeded",
        Container::Terminated(_) => "Failed",
        Container::Running { .. } if failure.is_some() => "Failed",
        Container::Running { .. } => "Running",
        Container::Waiting { .. } if failure.is_some() => "Failed",
        Container::Waiting { .. } => "Pending",
    }
}

fn condition(
    previous: &[PodCondition],
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if status { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        last_transition_time: Some(since),
        reason: reason.map(str::to_owned),
        message,
        ..PodCondition::default()
    }
}

/// An init container's state, in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InitState {
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub state: Container,
}

impl InitState {
    fn completed(&self) -> bool {
        matches!(&self.state, Container::Terminated(t) if t.exit_code == 0)
    }
}

/// The pod's whole status (what the agent owns of it) for one state of its container.
pub(super) fn pod_status(
    pod: &Pod,
    start_time: Timestamp,
    image_id: Option<&str>,
    container: &Container,
    failure: Option<PodFailure<'_>>,
    previous: &[PodCondition],
    now: Timestamp,
) -> PodStatus {
    pod_status_with_init(
        pod,
        start_time,
        image_id,
        container,
        failure,
        previous,
        now,
        &[],
    )
}

/// [`pod_status`] of a pod with init containers: `init` holds one state per init container.
/// An init container that failed fails the pod (the agent restarts nothing).
#[expect(
    clippy::too_many_arguments,
    reason = "every input of a pod status, as the kubelet computes it"
)]
pub(super) fn pod_status_with_init(
    pod: &Pod,
    start_time: Timestamp,
    image_id: Option<&str>,
    container: &Container,
    failure: Option<PodFailure<'_>>,
    previous: &[PodCondition],
    now: Timestamp,
    init: &[InitState],
) -> PodStatus {
    let init_failed = init
        .iter()
        .any(|i| matches!(&i.state, Container::Terminated(t) if t.exit_code != 0));
    let initialized = init.iter().all(InitState::completed);
    let phase = if init_failed {
        "Failed"
    } else {
        phase(container, failure)
    };
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let spec_container = pod.spec.as_ref().and_then(|s| s.containers.first());
    let name = spec_container.map(|c| c.name.clone()).unwrap_or_default();
    let running = matches!(container, Container::Running { .. }) && !terminal;

    let (ready_reason, ready_message) = if terminal {
        (Some("PodCompleted"), None)
    } else if running {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!("containers with unready status: [{name}]")),
        )
    };
    let completed = terminal.then_some("PodCompleted");
    let conditions = vec![
        condition(
            previous,
            "PodReadyToStartContainers",
            !terminal,
            None,
            None,
            now,
        ),
        if initialized {
            condition(previous, "Initialized", true, completed, None, now)
        } else {
            let pending: Vec<&str> = init
                .iter()
                .filter(|i| !i.completed())
                .map(|i| i.name.as_str())
                .collect();
            let message = format!("containers with incomplete status: [{}]", pending.join(" "));
            condition(
                previous,
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(message),
                now,
            )
        },
        condition(
            previous,
            "Ready",
            running,
            ready_reason,
            ready_message.clone(),
            now,
        ),
        condition(
            previous,
            "ContainersReady",
            running,
            ready_reason,
            ready_message,
            now,
        ),
        condition(previous, "PodScheduled", true, None, None, now),
    ];

    let (state, container_id) = container_state(container);
    let started = matches!(container, Container::Running { .. }) && !terminal;
    let container_status = ContainerStatus {
        name,
        image: spec_container
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        image_id: image_id.unwrap_or_default().to_owned(),
        container_id,
        ready: running,
        restart_count: 0,
        started: Some(started),
        state: Some(state),
        ..ContainerStatus::default()
    };

    let init_statuses = (!init.is_empty()).then(|| {
        init.iter()
            .map(|i| {
                let (state, container_id) = container_state(&i.state);
                ContainerStatus {
                    name: i.name.clone(),
                    image: i.image.clone(),
                    image_id: i.image_id.clone().unwrap_or_default(),
                    container_id,
                    ready: i.completed(),
                    restart_count: 0,
                    started: Some(matches!(i.state, Container::Running { .. })),
                    state: Some(state),
                    ..ContainerStatus::default()
                }
            })
            .collect()
    });

    PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(conditions),
        container_statuses: Some(vec![container_status]),
        init_container_statuses: init_statuses,
        host_ip: Some(LOOPBACK.to_owned()),
        host_ips: Some(vec![HostIP {
            ip: LOOPBACK.to_owned(),
        }]),
        pod_ip: Some(LOOPBACK.to_owned()),
        pod_ips: Some(vec![PodIP {
            ip: LOOPBACK.to_owned(),
        }]),
        start_time: Some(Time(start_time)),
        reason: failure.map(|f| f.reason.to_owned()),
        message: failure.map(|f| f.message.to_owned()),
        observed_generation: pod.metadata.generation,
        ..PodStatus::default()
    }
}

/// The API's view of one container's state, and its container ID.
fn container_state(container: &Container) -> (ContainerState, Option<String>) {
    match container {
        Container::Waiting { reason, message } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..ContainerState::default()
            },
            None,
        ),
        Container::Running {
            started_at,
            container_id,
        } => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..ContainerState::default()
            },
            Some(container_id.clone()),
        ),
        Container::Terminated(t) => (
            ContainerState {
                terminated: Some(ContainerStateTerminated {
                    container_id: t.container_id.clone(),
                    exit_code: t.exit_code,
                    signal: t.signal,
                    reason: Some(t.reason.clone()),
                    message: t.message.clone(),
                    started_at: t.started_at.map(Time),
                    finished_at: Some(Time(t.finished_at)),
                }),
                ..ContainerState::default()
            },
            t.container_id.clone(),
        ),
    }
}

/// A pod the agent cannot run at all (more than one container): Failed at
/// once with a reason that says so, instead of a silently partial run.
pub(super) fn unsupported(
    pod: &Pod,
    start_time: Timestamp,
    message: &str,
    now: Timestamp,
) -> PodStatus {
    let failure = PodFailure {
        reason: "UnsupportedByNodeAgent",
        message,
    };
    pod_status(
        pod,
        start_time,
        None,
        &Container::Terminated(Terminated::never_ran(now)),
        Some(failure),
        &[],
        now,
    )
}

fn lossy_trimmed(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// The last [`MAX_LOG_LINES`] lines of a log, at most [`MAX_LOG_MESSAGE`] bytes (the end kept).
pub(super) fn log_tail(log: &[u8]) -> String {
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(MAX_LOG_LINES - 1)
        .map_or(0, |(i, _)| i + 1);
    let tail = &body[start..];
    let tail = &tail[tail.len().saturating_sub(MAX_LOG_MESSAGE)..];
    // Cutting may split a UTF-8 sequence at the front: drop continuation bytes.
    let first = tail
        .iter()
        .position(|b| (*b & 0xC0) != 0x80)
        .unwrap_or(tail.len());
    lossy_trimmed(&tail[first..])
}

/// The terminated container's message: the termination-message file (first 4096 bytes,
/// trimmed), or with `FallbackToLogsOnError` and a non-zero exit and an empty file, the log's
/// tail.
pub(super) fn termination_message(
    file: &[u8],
    log: &[u8],
    fallback_to_logs: bool,
    exit_code: i32,
) -> Option<String> {
    let from_file = lossy_trimmed(&file[..file.len().min(MAX_TERMINATION_MESSAGE)]);
    if !from_file.is_empty() {
        return Some(from_file);
    }
    if fallback_to_logs && exit_code != 0 {
        return Some(log_tail(log)).filter(|m| !m.is_empty());
    }
    None
}
