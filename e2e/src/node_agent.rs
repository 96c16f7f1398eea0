//! A test-only stand-in for a kubelet (and a scheduler): it registers one Node, binds every
//! unscheduled pod to it, and runs each pod bound to it as a local process, writing the pod
//! status back the way a kubelet does. There is no container runtime on the test machines, so
//! an "image" is a local binary ([`AgentConfig::images`]).
//!
//! # What it does
//!
//! - **Node**: creates/updates the Node (server-side apply) with `Ready=True`, capacity and
//!   allocatable `cpu: 2`, `memory: 8Gi`, `pods: 1000`, `InternalIP 127.0.0.1`, and renews
//!   its Lease in `kube-node-lease` every 10 s (the Ready heartbeat every minute).
//! - **Scheduling**: every pod with no `spec.nodeName` and no `deletionTimestamp`, in any
//!   namespace, is bound to the node with a `Binding` (like kube-scheduler, without any
//!   filtering: node selectors, affinity, taints and resources are ignored).
//! - **Starting** (once per pod UID; never restarted, whatever the restartPolicy): reads the
//!   pod's Secrets and ConfigMaps and requests its bound service-account tokens
//!   (`TokenRequest` bound to the pod, for `projected` `serviceAccountToken` sources such as
//!   the `kube-api-access-*` volume the API server injects); writes `secret`, `configMap`,
//!   `downwardAPI` (fieldRef) and `projected` volumes as files (with
//!   `defaultMode`/`items`/`optional`, root-owned, group fsGroup) and `emptyDir` volumes as
//!   0777 directories owned by the container's user, under `work_dir/<pod uid>/volumes/`;
//!   writes the pod's `/etc/hosts` (localhost, the pod's name, `hostAliases`, and every
//!   Service existing at that moment as `NAME`, `NAME.NS`, `NAME.NS.svc[.cluster.local]` on
//!   127.0.0.1); builds the environment (`value` with `$(VAR)` expansion, `secretKeyRef`,
//!   `configMapKeyRef`, `fieldRef` for `metadata.name/namespace/uid`, labels, annotations,
//!   `spec.nodeName`, `spec.serviceAccountName`, `status.podIP`/`hostIP` = 127.0.0.1, and
//!   `envFrom`), then [`AgentConfig::extra_env`] (where the suite puts
//!   `KUBERNETES_SERVICE_HOST`/`PORT`, so in-cluster clients reach the API server); `PATH` and
//!   `HOSTNAME` get defaults. What cannot be satisfied yet (a missing Secret or key, an unknown
//!   image) is retried every second while the container reports `waiting` with the kubelet's
//!   reason (`ContainerCreating`, `CreateContainerConfigError`, `ErrImagePull` then
//!   `ImagePullBackOff`); `runAsNonRoot` with uid 0 is a `CreateContainerConfigError`.
//! - **Users**: each container gets an `/etc/passwd` with an entry for its uid when the host
//!   has none (an image would carry it; `initdb` refuses to run without one).
//! - **Init containers** run first, one at a time, each to completion, with
//!   `initContainerStatuses`, `Initialized=False` (`ContainersNotInitialized`) and the main
//!   container waiting in `PodInitializing` meanwhile. One that fails fails the pod (nothing
//!   is restarted).
//! - **Running**: `unshare -m` gives the process a private mount namespace in which the agent's
//!   work directory is first bind-mounted at `/.gitview-node` (volume sources and the binary are
//!   reached through it, so a volume mounted over an ancestor of the work directory, such as an
//!   emptyDir at `/tmp`, hides nothing), then each volume is bind-mounted at its `mountPath` (read-only mounts remounted `ro`), a per-pod
//!   file at the `terminationMessagePath`, and `/` is remounted read-only when
//!   `readOnlyRootFilesystem` is set (the volumes and `/dev` stay writable, as in a container).
//!   `setpriv` then switches to `runAsUser`/`runAsGroup` (container over pod; root when unset)
//!   with supplementary groups fsGroup + supplementalGroups, empties the inheritable and
//!   bounding capability sets (so no capability survives, even for uid 0), sets
//!   `no_new_privs` when `allowPrivilegeEscalation: false`, and a parent-death signal so a
//!   killed test process leaves no runners behind. The process leads its own process group;
//!   stdout and stderr go to `work_dir/<pod uid>/log`. `command` (if set) is run as given
//!   instead of the image's binary; `args` follow. `workingDir` is honoured (created if
//!   missing), otherwise `/`.
//! - **Status**: `Pending` with `startTime` and a waiting reason → `Running` with `startedAt`
//!   and conditions `PodScheduled`, `PodReadyToStartContainers`, `Initialized`,
//!   `ContainersReady`, `Ready` → `Succeeded` (exit 0) or `Failed`, with
//!   `state.terminated` {`exitCode` (128+signal when killed), `reason` `Completed`/`Error`,
//!   `message`, `startedAt`, `finishedAt`}. The message is the termination-message file
//!   (first 4096 bytes, trimmed) or, with `FallbackToLogsOnError`, a non-zero exit and an
//!   empty file, the log's last 80 lines (≤ 2048 bytes). Pod and host IP are 127.0.0.1.
//!   Written with JSON merge patches on `pods/status`.
//! - **`activeDeadlineSeconds`**, counted from `status.startTime` (which includes time spent
//!   waiting for Secrets): SIGTERM to the process group, SIGKILL after 2 s, phase `Failed`
//!   with `reason: DeadlineExceeded` and the kubelet's message.
//! - **Deletion** of a pod bound here (the API server only sets `deletionTimestamp` on a
//!   bound, non-terminal pod): SIGTERM, SIGKILL after min(grace period, 5 s), the terminal
//!   status (`Failed` with 143/137 unless the process exited 0), then a delete with grace
//!   period 0 and a UID precondition, after which the API server removes the pod as soon as
//!   its finalizers are empty. Finalizers are left to their owners. A pod deleted before its
//!   container started gets a terminated `ContainerStatusUnknown` (137) status and the same
//!   delete. A pod removed outright (force delete without finalizers) has its process killed.
//! - A non-terminal pod bound here whose status says its container already ran (an earlier
//!   agent) is marked `Failed`/`ContainerStatusUnknown`, not restarted.
//!
//! # What it does not emulate
//!
//! - Networking: no network namespace, no pod IP (127.0.0.1 is reported), no Service IPs or
//!   port mapping (a Service name reaches its pod only when the Service's port is the port the
//!   pod listens on), no NetworkPolicy, DNS or port isolation; processes share the host's
//!   network like `hostNetwork` pods, so two pods cannot listen on one port (a Deployment
//!   must replace its pods with `maxSurge: 0`). `/etc/hosts` is written once, at the start.
//! - Image pulls: images map to local binaries; `imagePullPolicy` and pull secrets are
//!   ignored. In `command`, paths are host paths.
//! - Resources: requests and limits (no cgroups), the emptyDir `sizeLimit` and `medium`,
//!   eviction, OOM kills, the Node's capacity (nothing is accounted).
//! - Probes, lifecycle hooks, `stopSignal`, restarts (every pod runs at most once, whatever
//!   its restartPolicy), ephemeral containers, `kubectl logs/exec/port-forward`.
//! - Multiple (non-init) containers: such pods are failed at once with
//!   `status.reason: UnsupportedByNodeAgent`. Sidecar init containers (`restartPolicy:
//!   Always`) run to completion like any other.
//! - Volumes other than `secret`, `configMap`, `downwardAPI` (fieldRef), `projected`,
//!   `emptyDir` and `persistentVolumeClaim` bound to a `hostPath` or `local` PersistentVolume
//!   (no provisioner: a test creates the PersistentVolume), `subPath`, mount propagation; volumes and tokens are written once, never
//!   refreshed (tokens live an hour).
//! - Isolation beyond mounts and credentials: no PID/IPC/UTS/user namespace, seccomp,
//!   AppArmor, SELinux, sysctls, runtime classes or `capabilities.add` (all capabilities are
//!   dropped). The host's filesystem stays visible (read-only with `readOnlyRootFilesystem`).
//! - Side effects on the host: mount points that do not exist are created on the host's root
//!   filesystem (e.g. `/scratch`, `/run/secrets/...`, an empty `/dev/termination-log`) and
//!   left there as empty directories/files; the mounts themselves never leave the namespace.
//!
//! Needs root (mount namespaces, chown) and util-linux `unshare`, `mount`, `setpriv`, `kill`.

mod node;
mod pod;
mod spec;
mod status;

#[cfg(test)]
mod live;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Configuration of a [`NodeAgent`].
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// Image reference → local binary. An image matches an entry when the image's repository
    /// (the reference without `:tag`/`@digest`) ends with the key, e.g. key "gitview-runner"
    /// matches "ghcr.io/gitview/gitview-runner:v0.1.0".
    pub images: Vec<(String, PathBuf)>,
    /// Directory for per-pod state (volumes, logs, termination files).
    pub work_dir: PathBuf,
    /// Extra environment for every container (e.g. a test hook); appended after the pod's env.
    pub extra_env: Vec<(String, String)>,
}

/// What the watcher tells a pod task about its pod's deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Signal {
    /// The pod has a deletionTimestamp; its grace period.
    deleting: Option<Duration>,
    /// The pod no longer exists.
    gone: bool,
}

#[derive(Debug)]
enum Entry {
    /// A task owns the pod; `pid` is the process (and process group) while one runs.
    Active {
        key: String,
        signal: watch::Sender<Signal>,
        pid: Option<u32>,
    },
    /// Never to be started (again).
    Finished { deletion_confirmed: bool },
}

/// State shared by the agent's tasks.
struct Shared {
    client: kube::Client,
    node_name: String,
    /// Image keys with the world-readable copies of their binaries.
    images: Vec<(String, PathBuf)>,
    work_dir: PathBuf,
    extra_env: Vec<(String, String)>,
    tools: spec::Tools,
    /// Pods this agent has seen bound to it, by UID.
    pods: Mutex<HashMap<String, Entry>>,
    tasks: Mutex<JoinSet<()>>,
    stopping: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("node_name", &self.node_name)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

/// A running node agent. Dropping it kills its processes too; [`NodeAgent::shutdown`] also
/// waits for its tasks.
#[derive(Debug)]
pub struct NodeAgent {
    shared: Arc<Shared>,
    loops: JoinSet<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking holder cannot leave these maps inconsistent (single inserts/updates).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn find_program(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("the node agent needs `{name}` (util-linux/coreutils) on PATH"))
}

/// Copies each image's binary to `work_dir/bin` (0755): the container's user must be able to
/// reach it, and the original may live under a directory like /root that it cannot traverse.
fn install_images(
    work_dir: &Path,
    images: &[(String, PathBuf)],
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let bin = work_dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    for dir in bin.ancestors() {
        let mode = std::fs::metadata(dir)
            .with_context(|| dir.display().to_string())?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            bail!(
                "{} is not traversable by other users (mode {mode:o}); choose a work_dir under /tmp",
                dir.display()
            );
        }
    }
    images
        .iter()
        .enumerate()
        .map(|(i, (key, source))| {
            let safe: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let target = bin.join(format!("{i}-{safe}"));
            std::fs::copy(source, &target)
                .with_context(|| format!("cannot copy image {key:?} from {}", source.display()))?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
            Ok((key.clone(), target))
        })
        .collect()
}

impl NodeAgent {
    /// Registers the Node (Ready, with capacity), then binds every unscheduled pod (no
    /// spec.nodeName, any namespace) to it and runs the pods bound to it.
    pub async fn start(client: kube::Client, config: AgentConfig) -> anyhow::Result<NodeAgent> {
        let tools = spec::Tools {
            unshare: find_program("unshare")?,
            sh: find_program("sh")?,
            mount: find_program("mount")?,
            mkdir: find_program("mkdir")?,
            setpriv: find_program("setpriv")?,
            kill: find_program("kill")?,
        };
        std::fs::create_dir_all(&config.work_dir)
            .with_context(|| config.work_dir.display().to_string())?;
        std::fs::set_permissions(&config.work_dir, std::fs::Permissions::from_mode(0o755))?;
        let images = install_images(&config.work_dir, &config.images)?;

        let since = jiff::Timestamp::now();
        let node_uid = node::register(&client, &config.node_name, since)
            .await
            .with_context(|| format!("cannot register Node {}", config.node_name))?;
        let shared = Arc::new(Shared {
            client: client.clone(),
            node_name: config.node_name.clone(),
            images,
            work_dir: config.work_dir,
            extra_env: config.extra_env,
            tools,
            pods: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            stopping: AtomicBool::new(false),
        });
        let mut loops = JoinSet::new();
        loops.spawn(node::heartbeat(client, config.node_name, node_uid, since));
        loops.spawn(watch_pods(shared.clone()));
        tracing::info!(node = %shared.node_name, "node agent started");
        Ok(NodeAgent { shared, loops })
    }

    /// Kills every running container and stops the agent's tasks.
    pub async fn shutdown(mut self) {
        self.loops.shutdown().await;
        let pids = self.shared.stop();
        for pid in pids {
            pod::signal_group(&self.shared.tools.kill, pid, "KILL").await;
        }
        let mut tasks = std::mem::take(&mut *lock(&self.shared.tasks));
        tasks.shutdown().await;
    }

    /// Pods currently running as processes (namespace/name), for tests.
    pub fn running(&self) -> Vec<String> {
        let mut running: Vec<String> = lock(&self.shared.pods)
            .values()
            .filter_map(|e| match e {
                Entry::Active {
                    key, pid: Some(_), ..
                } => Some(key.clone()),
                _ => None,
            })
            .collect();
        running.sort();
        running
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        // After `shutdown` this finds nothing left to do.
        self.loops.abort_all();
        for pid in self.shared.stop() {
            let _ = std::process::Command::new(&self.shared.tools.kill)
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
        lock(&self.shared.tasks).abort_all();
    }
}

impl Shared {
    /// Marks the agent as stopping and returns the running processes' ids.
    fn stop(&self) -> Vec<u32> {
        self.stopping.store(true, Ordering::SeqCst);
        lock(&self.pods)
            .values()
            .filter_map(|e| match e {
                Entry::Active { pid, .. } => *pid,
                Entry::Finished { .. } => None,
            })
            .collect()
    }

    fn set_process(&self, uid: &str, process: Option<u32>) {
        if let Some(Entry::Active { pid, .. }) = lock(&self.pods).get_mut(uid) {
            *pid = process;
        }
    }

    /// Called by a pod task when it is done: from now on the watcher handles the pod. Returns
    /// whether the task must confirm a deletion it has seen (decided under the lock, so the
    /// watcher and the task never both or neither confirm it).
    fn finish(&self, uid: &str, signal: &watch::Receiver<Signal>) -> bool {
        let mut pods = lock(&self.pods);
        let Signal { deleting, gone } = *signal.borrow();
        let confirm = deleting.is_some_and(|grace| !grace.is_zero()) && !gone;
        pods.insert(
            uid.to_owned(),
            Entry::Finished {
                deletion_confirmed: confirm || gone,
            },
        );
        confirm
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(future);
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn deletion_signal(pod: &Pod) -> Signal {
    let deleting = pod.metadata.deletion_timestamp.as_ref().map(|_| {
        Duration::from_secs(
            pod.metadata
                .deletion_grace_period_seconds
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
        )
    });
    Signal {
        deleting,
        gone: false,
    }
}

/// What the watcher does about one observed pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    Bind,
    Start,
    /// Told the pod's task (deletion progress).
    Forwarded,
    ConfirmDeletion,
}

/// The watcher's decision for one observed pod; records it in the table.
fn decide(pods: &mut HashMap<String, Entry>, node_name: &str, pod: &Pod) -> Action {
    let spec_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    let signal = deletion_signal(pod);
    let Some(uid) = pod.metadata.uid.clone() else {
        return Action::None;
    };
    match spec_node {
        None | Some("") if signal.deleting.is_none() => return Action::Bind,
        Some(node) if node == node_name => {}
        _ => return Action::None,
    }
    // With a grace period of 0 the API server needs nothing more from the node.
    let needs_confirmation = signal.deleting.is_some_and(|g| !g.is_zero());
    match pods.get_mut(&uid) {
        Some(Entry::Active { signal: sender, .. }) => {
            sender.send_if_modified(|current| {
                let changed = current.deleting != signal.deleting;
                current.deleting = signal.deleting;
                changed
            });
            Action::Forwarded
        }
        Some(Entry::Finished { deletion_confirmed }) => {
            if needs_confirmation && !*deletion_confirmed {
                *deletion_confirmed = true;
                return Action::ConfirmDeletion;
            }
            Action::None
        }
        None if is_terminal(pod) || signal.deleting.is_some() => {
            pods.insert(
                uid,
                Entry::Finished {
                    deletion_confirmed: needs_confirmation,
                },
            );
            if needs_confirmation {
                Action::ConfirmDeletion
            } else {
                Action::None
            }
        }
        None => Action::Start,
    }
}

async fn bind(shared: &Shared, pod: &Pod) {
    let (Some(namespace), Some(name)) = (
        pod.metadata.namespace.as_deref(),
        pod.metadata.name.as_deref(),
    ) else {
        return;
    };
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(shared.node_name.clone()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), namespace);
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => tracing::debug!(pod = %format!("{namespace}/{name}"), "bound"),
        // Already bound, or gone: the next event tells.
        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409) => {}
        Err(err) => {
            tracing::warn!(pod = %format!("{namespace}/{name}"), error = %err, "cannot bind the pod")
        }
    }
}

fn handle(shared: &Arc<Shared>, pod: Pod, bindings: &mut JoinSet<()>) {
    let mut pods = lock(&shared.pods);
    match decide(&mut pods, &shared.node_name, &pod) {
        Action::None | Action::Forwarded => {}
        Action::Bind => {
            drop(pods);
            let shared = shared.clone();
            bindings.spawn(async move { bind(&shared, &pod).await });
        }
        Action::ConfirmDeletion => {
            drop(pods);
            let (Some(uid), Some(namespace), Some(name)) =
                (pod.metadata.uid, pod.metadata.namespace, pod.metadata.name)
            else {
                return;
            };
            let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
            shared.spawn(async move { pod::confirm_deletion(&api, &name, &uid).await });
        }
        Action::Start => {
            let (Some(uid), Some(namespace), Some(name)) = (
                pod.metadata.uid.clone(),
                pod.metadata.namespace.as_deref(),
                pod.metadata.name.as_deref(),
            ) else {
                return;
            };
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            let (sender, receiver) = watch::channel(deletion_signal(&pod));
            pods.insert(
                uid,
                Entry::Active {
                    key: format!("{namespace}/{name}"),
                    signal: sender,
                    pid: None,
                },
            );
            drop(pods);
            shared.spawn(pod::run(shared.clone(), pod, receiver));
        }
    }
}

/// A pod removed from the API server: kill what runs, forget it.
fn vanished(shared: &Shared, uid: &str) {
    let mut pods = lock(&shared.pods);
    match pods.get(uid) {
        Some(Entry::Active { signal, .. }) => {
            signal.send_modify(|s| s.gone = true);
        }
        Some(Entry::Finished { .. }) => {
            pods.remove(uid);
        }
        None => {}
    }
}

/// Watches all pods and dispatches; the watcher re-lists with backoff after errors.
async fn watch_pods(shared: Arc<Shared>) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    let mut bindings = JoinSet::new();
    let mut listed: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        while bindings.try_join_next().is_some() {}
        match event {
            Ok(watcher::Event::Apply(pod)) => handle(&shared, pod, &mut bindings),
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    vanished(&shared, uid);
                }
            }
            Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(seen), Some(uid)) = (listed.as_mut(), pod.metadata.uid.as_ref()) {
                    seen.insert(uid.clone());
                }
                handle(&shared, pod, &mut bindings);
            }
            Ok(watcher::Event::InitDone) => {
                // Pods deleted while the watch was down produce no Delete event.
                if let Some(seen) = listed.take() {
                    let missing: Vec<String> = lock(&shared.pods)
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    for uid in missing {
                        vanished(&shared, &uid);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "pod watch failed; retrying"),
        }
    }
}
