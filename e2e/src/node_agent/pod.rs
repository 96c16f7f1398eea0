//! One pod's life on the node, as a task: prepare (read its Secrets, ConfigMaps, tokens and the
//! cluster's Services, decide with [`spec::plan_container`], write its volumes and hosts file;
//! retried every second like the kubelet's sync loop) → for each init container and then the
//! main one: start the process, supervise it against exit, `activeDeadlineSeconds` and
//! deletion → write the terminal status. The task never restarts a container.

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
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, PodCondition, PodStatus, Secret,
    Service, ServiceAccount,
};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use tokio::sync::watch;
use tokio::time::Instant;

use super::spec::{self, ConfigError, HostPaths, Plan, Sources, VolumeContent};
use super::status::{self, Container, DEADLINE, InitState, PodFailure, Terminated};
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

/// Which container of the pod a state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Init(usize),
    Main,
}

/// Writes the pod's status; remembers the conditions so transition times stay put.
struct Reporter {
    api: Api<Pod>,
    pod: Pod,
    name: String,
    start_time: Timestamp,
    image_id: Option<String>,
    conditions: Vec<PodCondition>,
    init: Vec<InitState>,
    main: Container,
    last: Option<(Vec<InitState>, Container, Option<String>)>,
}

impl Reporter {
    /// Records the state of one container and writes the pod's status if it changed.
    async fn set(&mut self, slot: Slot, state: Container, failure: Option<PodFailure<'_>>) {
        match slot {
            Slot::Init(i) => self.init[i].state = state,
            Slot::Main => self.main = state,
        }
        let key = (
            self.init.clone(),
            self.main.clone(),
            failure.map(|f| f.reason.to_owned()),
        );
        if self.last.as_ref() == Some(&key) {
            return;
        }
        let status = status::pod_status_with_init(
            &self.pod,
            self.start_time,
            self.image_id.as_deref(),
            &self.main,
            failure,
            &self.conditions,
            Timestamp::now(),
            &self.init,
        );
        self.write(status).await;
        self.last = Some(key);
    }

    async fn report(&mut self, container: Container, failure: Option<PodFailure<'_>>) {
        self.set(Slot::Main, container, failure).await;
    }

    /// The pod ends before (or while) its containers run: the main container and every init
    /// container that has not finished are reported as never having run.
    async fn never_ran(&mut self, failure: Option<PodFailure<'_>>) {
        let now = Timestamp::now();
        for i in &mut self.init {
            if !matches!(i.state, Container::Terminated(_)) {
                i.state = Container::Terminated(Terminated::never_ran(now));
            }
        }
        self.set(
            Slot::Main,
            Container::Terminated(Terminated::never_ran(now)),
            failure,
        )
        .await;
    }

    async fn write(&mut self, status: PodStatus) {
        self.conditions = status.conditions.clone().unwrap_or_default();
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        for attempt in 0..5u32 {
            match self
                .api
                .patch_status(&self.name, &PatchParams::default(), &patch)
                .await
            {
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
async fn terminate(
    child: &mut tokio::process::Child,
    kill: &Path,
    pgid: u32,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
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

/// Everything decided for a pod: a plan per init container and for the main container, the
/// volumes they mount (each once) and the pod's `/etc/hosts`.
struct Prepared {
    init: Vec<Plan>,
    main: Plan,
    volumes: Vec<(String, VolumeContent)>,
    hosts: String,
    passwd: String,
}

/// Reads what the pod refers to (Secrets, ConfigMaps, bound service-account tokens, the
/// cluster's Services) and decides.
async fn prepare(shared: &Shared, pod: &Pod) -> Result<Prepared, PrepareError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let spec = pod
        .spec
        .as_ref()
        .ok_or(ConfigError::NoImage(String::new()))?;
    let referenced = spec::referenced_sources(spec);
    let mut sources = Sources::default();
    let secrets: Api<Secret> = Api::namespaced(shared.client.clone(), namespace);
    for name in referenced.secrets {
        match secrets.get_opt(&name).await {
            Ok(Some(secret)) => sources.add_secret(&name, &secret),
            Ok(None) => {}
            Err(source) => {
                return Err(PrepareError::Api {
                    what: format!("secret {namespace}/{name}"),
                    source,
                });
            }
        }
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), namespace);
    for name in referenced.config_maps {
        match config_maps.get_opt(&name).await {
            Ok(Some(cm)) => sources.add_config_map(&name, &cm),
            Ok(None) => {}
            Err(source) => {
                return Err(PrepareError::Api {
                    what: format!("configmap {namespace}/{name}"),
                    source,
                });
            }
        }
    }
    // Projected service-account tokens, bound to this pod like the kubelet's (they die with it).
    // Not refreshed: tests are shorter than a token's life.
    let account = spec
        .service_account_name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let accounts: Api<ServiceAccount> = Api::namespaced(shared.client.clone(), namespace);
    for (audience, expiration) in referenced.token_audiences {
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(if audience.is_empty() {
                    vec![]
                } else {
                    vec![audience.clone()]
                }),
                expiration_seconds: Some(expiration),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".to_owned()),
                    kind: Some("Pod".to_owned()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                }),
            }),
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(&account, &PostParams::default(), &request)
            .await
            .map_err(|source| PrepareError::Api {
                what: format!("a token of serviceaccount {namespace}/{account}"),
                source,
            })?;
        sources.tokens.insert(
            audience,
            token.status.and_then(|s| s.token).unwrap_or_default(),
        );
    }
    // Claims: the host directory of the PersistentVolume each is bound to.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(shared.client.clone(), namespace);
    let volumes: Api<PersistentVolume> = Api::all(shared.client.clone());
    for name in referenced.claims {
        let claim = claims
            .get_opt(&name)
            .await
            .map_err(|source| PrepareError::Api {
                what: format!("persistentvolumeclaim {namespace}/{name}"),
                source,
            })?;
        let bound = claim
            .as_ref()
            .and_then(|c| c.spec.as_ref()?.volume_name.clone())
            .filter(|_| {
                claim
                    .as_ref()
                    .and_then(|c| c.status.as_ref()?.phase.as_deref())
                    == Some("Bound")
            });
        let resolved = match (claim, bound) {
            (None, _) => Err(format!("persistentvolumeclaim {name:?} not found")),
            (Some(_), None) => Err(format!("persistentvolumeclaim {name:?} is not bound yet")),
            (Some(_), Some(volume)) => {
                let pv = volumes
                    .get_opt(&volume)
                    .await
                    .map_err(|source| PrepareError::Api {
                        what: format!("persistentvolume {volume}"),
                        source,
                    })?;
                let spec = pv.and_then(|pv| pv.spec);
                match spec.as_ref().and_then(|s| {
                    s.host_path
                        .as_ref()
                        .map(|h| h.path.clone())
                        .or_else(|| s.local.as_ref().map(|l| l.path.clone()))
                }) {
                    Some(path) => Ok(PathBuf::from(path)),
                    None => Err(format!(
                        "persistentvolume {volume} is not a hostPath or local volume"
                    )),
                }
            }
        };
        sources.claims.insert(name, resolved);
    }
    let services = Api::<Service>::all(shared.client.clone())
        .list_metadata(&ListParams::default())
        .await
        .map_err(|source| PrepareError::Api {
            what: "services".to_owned(),
            source,
        })?
        .items
        .into_iter()
        .map(|s| {
            (
                s.metadata.namespace.unwrap_or_default(),
                s.metadata.name.unwrap_or_default(),
            )
        })
        .collect::<Vec<_>>();

    let plan = |c| {
        spec::plan_container(
            pod,
            c,
            &shared.node_name,
            &shared.images,
            &sources,
            &shared.extra_env,
        )
    };
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(plan)
        .collect::<Result<Vec<_>, _>>()?;
    let main = plan(
        spec.containers
            .first()
            .ok_or(ConfigError::NoImage(String::new()))?,
    )?;
    let mut volumes: Vec<(String, VolumeContent)> = Vec::new();
    for (name, content) in init.iter().chain([&main]).flat_map(|p| &p.volumes) {
        if !volumes.iter().any(|(n, _)| n == name) {
            volumes.push((name.clone(), content.clone()));
        }
    }
    let ids: Vec<(u32, u32)> = init
        .iter()
        .chain([&main])
        .map(|p| (p.identity.uid, p.identity.gid))
        .collect();
    let passwd = spec::passwd_file(&fs::read_to_string("/etc/passwd").unwrap_or_default(), &ids);
    Ok(Prepared {
        init,
        main,
        volumes,
        hosts: spec::hosts_file(pod, &services),
        passwd,
    })
}

/// Writes the volumes under `dir/volumes/<name>` (replacing a previous attempt's).
fn materialise(
    dir: &Path,
    volumes: &[(String, VolumeContent)],
) -> std::io::Result<BTreeMap<String, PathBuf>> {
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
                    let mode = if group.is_some() {
                        file.mode | 0o040
                    } else {
                        file.mode
                    };
                    fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
                    chown(&target, Some(0), *group)?;
                }
            }
            VolumeContent::EmptyDir { uid, gid } => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o777))?;
                chown(&path, Some(*uid), Some(*gid))?;
            }
            VolumeContent::HostDir { path: host, group } => {
                fs::remove_dir(&path)?;
                fs::create_dir_all(host)?;
                if let Some(gid) = group {
                    chown(host, None, Some(*gid))?;
                    let mode = fs::metadata(host)?.permissions().mode() & 0o7777;
                    fs::set_permissions(host, fs::Permissions::from_mode(mode | 0o2070))?;
                }
                paths.insert(name.clone(), host.clone());
                continue;
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
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            })
        })
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
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => tracing::debug!(pod = %name, "deletion confirmed"),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(err) => tracing::warn!(pod = %name, error = %err, "cannot confirm the pod's deletion"),
    }
}

async fn lifecycle(
    shared: &Shared,
    pod: &Pod,
    api: &Api<Pod>,
    signal: &mut watch::Receiver<Signal>,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = Timestamp::now();
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(now, |t| t.0);
    let deadline = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .map(|secs| {
            let at = start_time
                .checked_add(jiff::SignedDuration::from_secs(secs))
                .unwrap_or(start_time);
            Instant::now()
                + Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
        });
    let spec = pod.spec.as_ref();
    let init_containers: Vec<&k8s_openapi::api::core::v1::Container> = spec
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let mut reporter = Reporter {
        api: api.clone(),
        pod: pod.clone(),
        name: name.clone(),
        start_time,
        image_id: None,
        conditions: pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default(),
        init: init_containers
            .iter()
            .map(|c| InitState {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: None,
                state: Container::Waiting {
                    reason: "PodInitializing".to_owned(),
                    message: None,
                },
            })
            .collect(),
        main: Container::Waiting {
            reason: "ContainerCreating".to_owned(),
            message: None,
        },
        last: None,
    };

    let containers = spec.map_or(0, |s| s.containers.len());
    if containers != 1 {
        let message = "the gitview e2e node agent runs single-container pods";
        reporter
            .write(status::unsupported(
                pod,
                start_time,
                message,
                Timestamp::now(),
            ))
            .await;
        return;
    }
    if started_elsewhere(pod) {
        reporter.never_ran(None).await;
        return;
    }
    let main_waiting = |reason: &str, message: Option<String>| Container::Waiting {
        reason: reason.to_owned(),
        message,
    };
    let first_waiting = if init_containers.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };

    // Prepare, retrying like the kubelet until it works, the pod goes or the deadline passes.
    reporter
        .report(main_waiting(first_waiting, None), None)
        .await;
    let dir = shared.work_dir.join(&uid);
    let mut attempt = 0u32;
    let (prepared, volume_paths, hosts_file) = loop {
        let failed = match prepare(shared, pod).await {
            Ok(prepared) => match materialise(&dir, &prepared.volumes).and_then(|paths| {
                for (file, text) in [("hosts", &prepared.hosts), ("passwd", &prepared.passwd)] {
                    fs::write(dir.join(file), text)?;
                    fs::set_permissions(dir.join(file), fs::Permissions::from_mode(0o644))?;
                }
                Ok((paths, dir.join("hosts")))
            }) {
                Ok((paths, hosts)) => break (prepared, paths, hosts),
                Err(err) => PrepareError::Io(err),
            },
            Err(err) => err,
        };
        let (reason, message) = failed.waiting(attempt);
        tracing::debug!(pod = %name, reason, %message, "container cannot start yet");
        reporter
            .report(main_waiting(reason, Some(message)), None)
            .await;
        attempt += 1;
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            interrupt = deletion(signal) => {
                if !matches!(interrupt, Interrupt::Gone) {
                    reporter.never_ran(None).await;
                }
                return;
            }
            () = until(deadline) => {
                reporter.never_ran(Some(DEADLINE)).await;
                return;
            }
        }
    };

    // Init containers, in order, each to completion; then the main container.
    let runs = prepared
        .init
        .iter()
        .enumerate()
        .map(|(i, plan)| (Slot::Init(i), plan))
        .chain([(Slot::Main, &prepared.main)]);
    for (slot, plan) in runs {
        if !matches!(
            *signal.borrow(),
            Signal {
                deleting: None,
                gone: false
            }
        ) {
            if !signal.borrow().gone {
                reporter.never_ran(None).await;
            }
            return;
        }
        if deadline.is_some_and(|at| at <= Instant::now()) {
            // The kubelet does not start a container of a pod past its deadline.
            reporter.never_ran(Some(DEADLINE)).await;
            return;
        }
        let (image_key, binary) = &shared.images[plan.image];
        let image_id = format!("local://{image_key}@{}", binary.display());
        let files = match slot {
            Slot::Init(i) => {
                reporter.init[i].image_id = Some(image_id);
                dir.join(format!("init-{i}"))
            }
            Slot::Main => {
                reporter.image_id = Some(image_id);
                dir.clone()
            }
        };
        let paths = HostPaths {
            root: shared.work_dir.clone(),
            volumes: volume_paths.clone(),
            termination_file: files.join("termination-log"),
            binary: binary.clone(),
            hosts_file: Some(hosts_file.clone()),
            passwd_file: Some(dir.join("passwd")),
        };
        let outcome = execute(
            shared,
            &uid,
            &name,
            plan,
            &paths,
            &files.join("log"),
            slot,
            &mut reporter,
            signal,
            deadline,
        )
        .await;
        match outcome {
            Outcome::Finished(terminated, failure) => {
                let succeeded = terminated.exit_code == 0 && failure.is_none();
                if slot == Slot::Main || !succeeded {
                    reporter
                        .set(slot, Container::Terminated(terminated), failure)
                        .await;
                    if slot != Slot::Main {
                        // The agent restarts nothing: a failed init container fails the pod.
                        reporter.never_ran(failure).await;
                    }
                    return;
                }
                reporter
                    .set(slot, Container::Terminated(terminated), None)
                    .await;
            }
            Outcome::Silent => return,
        }
    }
}

/// How one container ended.
enum Outcome {
    /// It ran (or could not start) and ended: its terminated state, and the pod-level failure.
    Finished(Terminated, Option<PodFailure<'static>>),
    /// The pod is gone: nothing is reported.
    Silent,
}

/// Starts one container and supervises it against exit, the pod's deadline and deletion.
#[expect(
    clippy::too_many_arguments,
    reason = "one container's run: the pod, its volumes, its streams and the agent's clock"
)]
async fn execute(
    shared: &Shared,
    uid: &str,
    name: &str,
    plan: &Plan,
    paths: &HostPaths,
    log_path: &Path,
    slot: Slot,
    reporter: &mut Reporter,
    signal: &mut watch::Receiver<Signal>,
    deadline: Option<Instant>,
) -> Outcome {
    let spawned = (|| {
        if let Some(dir) = paths.termination_file.parent() {
            fs::create_dir_all(dir)?;
        }
        File::create(&paths.termination_file)?;
        fs::set_permissions(&paths.termination_file, fs::Permissions::from_mode(0o666))?;
        let log = File::create(log_path)?;
        let mut command = tokio::process::Command::new(&shared.tools.unshare);
        command
            .args(spec::launch_args(plan, paths, &shared.tools))
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true);
        // The container's parent-death signal fires when the forking thread exits: fork on the
        // thread that lives as long as the agent's process.
        crate::spawner::on_spawner_thread(move || command.spawn())
    })();
    let started_at = Timestamp::now();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let t = Terminated {
                reason: "StartError".to_owned(),
                message: Some(err.to_string()),
                ..Terminated::never_ran(started_at)
            };
            return Outcome::Finished(
                Terminated {
                    exit_code: 128,
                    ..t
                },
                None,
            );
        }
    };
    let Some(pgid) = child.id() else {
        return Outcome::Silent;
    };
    let container_id = format!("local://{uid}/{pgid}");
    shared.set_process(uid, Some(pgid));
    tracing::info!(pod = %name, ?slot, pid = pgid, "container started");
    reporter
        .set(
            slot,
            Container::Running {
                started_at,
                container_id: container_id.clone(),
            },
            None,
        )
        .await;

    // Supervise.
    let kill = shared.tools.kill.clone();
    let interrupted = tokio::select! {
        status = child.wait() => Ok(status),
        () = until(deadline) => Err(Interrupt::Deadline),
        interrupt = deletion(signal) => Err(interrupt),
    };
    let (waited, failure, report) = match interrupted {
        Ok(status) => (status, None, true),
        Err(Interrupt::Deadline) => (
            terminate(&mut child, &kill, pgid, DEADLINE_GRACE).await,
            Some(DEADLINE),
            true,
        ),
        Err(Interrupt::Deleted(grace)) => (
            terminate(&mut child, &kill, pgid, grace.min(MAX_DELETE_GRACE)).await,
            None,
            true,
        ),
        Err(Interrupt::Gone) => (
            terminate(&mut child, &kill, pgid, Duration::ZERO).await,
            None,
            false,
        ),
    };
    // Whatever the container left behind in its process group goes with it.
    signal_group(&kill, pgid, "KILL").await;
    shared.set_process(uid, None);
    let finished_at = Timestamp::now();
    let (code, sig) = waited.map_or((255, None), exit_code);
    tracing::info!(pod = %name, ?slot, exit_code = code, "container finished");
    if !report {
        return Outcome::Silent;
    }
    let message = status::termination_message(
        &read_head(
            &paths.termination_file,
            status::MAX_TERMINATION_MESSAGE as u64,
        ),
        &read_tail(log_path, LOG_TAIL_BYTES),
        plan.fallback_to_logs,
        code,
    );
    Outcome::Finished(
        Terminated::exited(code, sig, message, started_at, finished_at, container_id),
        failure,
    )
}
