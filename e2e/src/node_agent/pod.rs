//! One pod's life on the node, as a task: prepare (read its Secrets and ConfigMaps, decide with
//! [`spec::plan`], write its volumes; retried every second like the kubelet's sync loop) →
//! start the process → supervise it against exit, `activeDeadlineSeconds` and deletion →
//! write the terminal status. The task never restarts a container (restartPolicy Never).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodCondition, PodStatus, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::watch;
use tokio::time::Instant;

use super::spec::{self, ConfigError, HostPaths, Plan, Sources, VolumeContent};
use super::status::{self, Container, DEADLINE, PodFailure, Terminated};
use super::{Shared, Signal};

/// How often a pod that cannot start yet is retried.
const RETRY: Duration = Duration::from_secs(1);
/// SIGTERM → SIGKILL for `activeDeadlineSeconds`.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);
/// Upper bound of the SIGTERM → SIGKILL wait on deletion (tests should not wait 30 s).
const MAX_DELETE_GRACE: Duration = Duration::from_secs(5);
/// How much of the log is read for `FallbackToLogsOnError`.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read {what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error("cannot write the pod's volumes: {0}")]
    Io(#[from] std::io::Error),
}

impl PrepareError {
    fn waiting(&self, attempt: u32) -> (&'static str, String) {
        match self {
            Self::Config(e) => (e.waiting_reason(attempt), e.to_string()),
            Self::Api { .. } => ("CreateContainerConfigError", self.to_string()),
            Self::Io(_) => ("ContainerCreating", self.to_string()),
        }
    }
}

/// Writes the pod's status; remembers the conditions so transition times stay put.
struct Reporter {
    api: Api<Pod>,
    pod: Pod,
    name: String,
    start_time: Timestamp,
    image_id: Option<String>,
    conditions: Vec<PodCondition>,
    last: Option<(Container, Option<String>)>,
}

impl Reporter {
    async fn report(&mut self, container: Container, failure: Option<PodFailure<'_>>) {
        let key = (container.clone(), failure.map(|f| f.reason.to_owned()));
        if self.last.as_ref() == Some(&key) {
            return;
        }
        let status =
            status::pod_status(&self.pod, self.start_time, self.image_id.as_deref(), &container, failure, &self.conditions, Timestamp::now());
        self.write(status).await;
        self.last = Some(key);
    }

    async fn write(&mut self, status: PodStatus) {
        self.conditions = status.conditions.clone().unwrap_or_default();
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        for attempt in 0..5u32 {
            match self.api.patch_status(&self.name, &PatchParams::default(), &patch).await {
                Ok(_) => return,
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                // Rejected (validation, a terminal phase the API server will not revert): retrying
                // the same body cannot help.
                Err(kube::Error::Api(s)) if (400..500).contains(&s.code) => {
                    tracing::warn!(pod = %self.name, status = ?s, "the API server rejected the pod status");
                    return;
                }
                Err(err) => {
                    tracing::warn!(pod = %self.name, error = %err, attempt, "cannot write the pod status");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
}

/// Why supervision stopped before the process exited by itself.
enum Interrupt {
    Deadline,
    Deleted(Duration),
    Gone,
}

/// Resolves once the pod is being deleted (with its grace period) or is gone.
async fn deletion(signal: &mut watch::Receiver<Signal>) -> Interrupt {
    loop {
        let current = *signal.borrow_and_update();
        if current.gone {
            return Interrupt::Gone;
        }
        if let Some(grace) = current.deleting {
            return Interrupt::Deleted(grace);
        }
        if signal.changed().await.is_err() {
            // The agent is shutting down and will abort this task.
            std::future::pending::<()>().await;
        }
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        (None, None) => (255, None),
    }
}

/// Signals a whole process group (the container's process and anything it started).
pub(super) async fn signal_group(kill: &Path, pgid: u32, signal: &str) {
    let _ = tokio::process::Command::new(kill)
        .args([format!("-{signal}"), "--".to_owned(), format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// SIGTERM, wait up to `grace`, SIGKILL.
async fn terminate(child: &mut tokio::process::Child, kill: &Path, pgid: u32, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_group(kill, pgid, "TERM").await;
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        return status;
    }
    signal_group(kill, pgid, "KILL").await;
    child.wait().await
}

fn read_head(path: &Path, max: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(file) = File::open(path) {
        let _ = file.take(max).read_to_end(&mut out);
    }
    out
}

fn read_tail(path: &Path, max: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if file.seek(SeekFrom::Start(len.saturating_sub(max))).is_ok() {
            let _ = file.read_to_end(&mut out);
        }
    }
    out
}

/// Reads what the plan refers to and decides.
async fn prepare(shared: &Shared, pod: &Pod) -> Result<Plan, PrepareError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref().ok_or(ConfigError::NoImage(String::new()))?;
    let (secret_names, config_map_names) = spec::referenced_sources(spec);
    let mut sources = Sources::default();
    let secrets: Api<Secret> = Api::namespaced(shared.client.clone(), namespace);
    for name in secret_names {
        match secrets.get_opt(&name).await {
            Ok(Some(secret)) => sources.add_secret(&name, &secret),
            Ok(None) => {}
            Err(source) => return Err(PrepareError::Api { what: format!("secret {namespace}/{name}"), source }),
        }
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), namespace);
    for name in config_map_names {
        match config_maps.get_opt(&name).await {
            Ok(Some(cm)) => sources.add_config_map(&name, &cm),
            Ok(None) => {}
            Err(source) => return Err(PrepareError::Api { what: format!("configmap {namespace}/{name}"), source }),
        }
    }
    Ok(spec::plan(pod, &shared.node_name, &shared.images, &sources, &shared.extra_env)?)
}

/// Writes the volumes under `dir/volumes/<name>` (replacing a previous attempt's).
fn materialise(dir: &Path, volumes: &[(String, VolumeContent)]) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let mut paths = BTreeMap::new();
    for (name, content) in volumes {
        let path = dir.join("volumes").join(name);
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path)?;
        match content {
            VolumeContent::Files { files, group } => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
                chown(&path, Some(0), *group)?;
                for file in files {
                    let target = path.join(&file.path);
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent)?;
                    }
                    fs::write(&target, &file.data)?;
                    // With fsGroup, the kubelet makes volume files group-readable.
                    let mode = if group.is_some() { file.mode | 0o040 } else { file.mode };
                    fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
                    chown(&target, Some(0), *group)?;
                }
            }
            VolumeContent::EmptyDir { uid, gid } => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o777))?;
                chown(&path, Some(*uid), Some(*gid))?;
            }
        }
        paths.insert(name.clone(), path);
    }
    Ok(paths)
}

/// Whether a container of this pod was started before (by an earlier agent): then it is lost,
/// not restarted.
fn started_elsewhere(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some() || s.terminated.is_some())))
}

/// The pod task. Marks the pod finished in the agent's table when done and confirms a pending
/// deletion.
pub(super) async fn run(shared: Arc<Shared>, pod: Pod, mut signal: watch::Receiver<Signal>) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    lifecycle(&shared, &pod, &api, &mut signal).await;
    if shared.finish(&uid, &signal) {
        confirm_deletion(&api, &name, &uid).await;
    }
}

/// Deletes the pod with grace period 0 (the kubelet's "all containers are gone"); the API
/// server removes it once its finalizers are empty.
pub(super) async fn confirm_deletion(api: &Api<Pod>, name: &str, uid: &str) {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(uid.to_owned()), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => tracing::debug!(pod = %name, "deletion confirmed"),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(err) => tracing::warn!(pod = %name, error = %err, "cannot confirm the pod's deletion"),
    }
}

async fn lifecycle(shared: &Shared, pod: &Pod, api: &Api<Pod>, signal: &mut watch::Receiver<Signal>) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = Timestamp::now();
    let start_time = pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(now, |t| t.0);
    let deadline = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds).map(|secs| {
        let at = start_time.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap_or(start_time);
        Instant::now() + Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
    });
    let mut reporter = Reporter {
        api: api.clone(),
        pod: pod.clone(),
        name: name.clone(),
        start_time,
        image_id: None,
        conditions: pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default(),
        last: None,
    };
    let never_ran = || Container::Terminated(Terminated::never_ran(Timestamp::now()));

    let spec = pod.spec.as_ref();
    let containers = spec.map_or(0, |s| s.containers.len());
    if containers != 1 || spec.is_some_and(|s| s.init_containers.as_ref().is_some_and(|i| !i.is_empty())) {
        let message = "the gitview e2e node agent runs single-container pods without init containers";
        reporter.write(status::unsupported(pod, start_time, message, Timestamp::now())).await;
        return;
    }
    if started_elsewhere(pod) {
        reporter.report(never_ran(), None).await;
        return;
    }

    // Prepare, retrying like the kubelet until it works, the pod goes or the deadline passes.
    reporter.report(Container::Waiting { reason: "ContainerCreating".to_owned(), message: None }, None).await;
    let dir = shared.work_dir.join(&uid);
    let mut attempt = 0u32;
    let (plan, volume_paths) = loop {
        let failed = match prepare(shared, pod).await {
            Ok(plan) => match materialise(&dir, &plan.volumes) {
                Ok(paths) => break (plan, paths),
                Err(err) => PrepareError::Io(err),
            },
            Err(err) => err,
        };
        let (reason, message) = failed.waiting(attempt);
        tracing::debug!(pod = %name, reason, %message, "container cannot start yet");
        reporter.report(Container::Waiting { reason: reason.to_owned(), message: Some(message) }, None).await;
        attempt += 1;
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            interrupt = deletion(signal) => {
                if !matches!(interrupt, Interrupt::Gone) {
                    reporter.report(never_ran(), None).await;
                }
                return;
            }
            () = until(deadline) => {
                reporter.report(never_ran(), Some(DEADLINE)).await;
                return;
            }
        }
    };
    if !matches!(*signal.borrow(), Signal { deleting: None, gone: false }) {
        if !signal.borrow().gone {
            reporter.report(never_ran(), None).await;
        }
        return;
    }
    if deadline.is_some_and(|at| at <= Instant::now()) {
        // The kubelet does not start a container of a pod past its deadline.
        reporter.report(never_ran(), Some(DEADLINE)).await;
        return;
    }

    // Start.
    let (image_key, binary) = &shared.images[plan.image];
    reporter.image_id = Some(format!("local://{image_key}@{}", binary.display()));
    let paths = HostPaths { volumes: volume_paths, termination_file: dir.join("termination-log"), binary: binary.clone() };
    let log_path = dir.join("log");
    let spawned = (|| {
        File::create(&paths.termination_file)?;
        fs::set_permissions(&paths.termination_file, fs::Permissions::from_mode(0o666))?;
        let log = File::create(&log_path)?;
        let mut command = tokio::process::Command::new(&shared.tools.unshare);
        command
            .args(spec::launch_args(&plan, &paths, &shared.tools))
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true);
        command.spawn()
    })();
    let started_at = Timestamp::now();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let t = Terminated { reason: "StartError".to_owned(), message: Some(err.to_string()), ..Terminated::never_ran(started_at) };
            reporter.report(Container::Terminated(Terminated { exit_code: 128, ..t }), None).await;
            return;
        }
    };
    let Some(pgid) = child.id() else {
        return;
    };
    let container_id = format!("local://{uid}/{pgid}");
    shared.set_process(&uid, Some(pgid));
    tracing::info!(pod = %name, pid = pgid, "container started");
    reporter.report(Container::Running { started_at, container_id: container_id.clone() }, None).await;

    // Supervise.
    let kill = shared.tools.kill.clone();
    let interrupted = tokio::select! {
        status = child.wait() => Ok(status),
        () = until(deadline) => Err(Interrupt::Deadline),
        interrupt = deletion(signal) => Err(interrupt),
    };
    let (waited, failure, report) = match interrupted {
        Ok(status) => (status, None, true),
        Err(Interrupt::Deadline) => (terminate(&mut child, &kill, pgid, DEADLINE_GRACE).await, Some(DEADLINE), true),
        Err(Interrupt::Deleted(grace)) => (terminate(&mut child, &kill, pgid, grace.min(MAX_DELETE_GRACE)).await, None, true),
        Err(Interrupt::Gone) => (terminate(&mut child, &kill, pgid, Duration::ZERO).await, None, false),
    };
    // Whatever the container left behind in its process group goes with it.
    signal_group(&kill, pgid, "KILL").await;
    shared.set_process(&uid, None);
    let finished_at = Timestamp::now();
    let (code, sig) = waited.map_or((255, None), exit_code);
    tracing::info!(pod = %name, exit_code = code, "container finished");
    if !report {
        return;
    }
    let message = status::termination_message(
        &read_head(&paths.termination_file, status::MAX_TERMINATION_MESSAGE as u64),
        &read_tail(&log_path, LOG_TAIL_BYTES),
        plan.fallback_to_logs,
        code,
    );
    let terminated = Terminated::exited(code, sig, message, started_at, finished_at, container_id);
    reporter.report(Container::Terminated(terminated), failure).await;
}
