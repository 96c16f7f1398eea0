//! A test-only stand-in for a kubelet: no container runtime exists on this machine, so the
//! node agent runs each pod's container as a local process.
//!
//! What it does, like a kubelet: registers a Ready `Node`; binds every unscheduled pod to it
//! (there is no kube-scheduler); for each pod bound to it, materialises `secret` volumes (files
//! with the volume's mode, group-owned by `fsGroup`) and `emptyDir` volumes (owned by the
//! container's user), resolves the image to a local binary, and runs `command`/`args` with the
//! pod's `env` (plain values, `secretKeyRef`, `fieldRef`) in a **private mount namespace**
//! where the volumes and the termination-message file are bind-mounted at the paths the pod
//! declares, as the pod's `runAsUser`/`runAsGroup` with no capabilities (`setpriv`). It
//! enforces `activeDeadlineSeconds`, writes status back as a kubelet does (phase, container
//! state, exit code, termination message — or, with `FallbackToLogsOnError`, the log tail —,
//! conditions), stops containers when their pod is deleted and then confirms the deletion
//! with grace period 0 (the API server keeps the pod until its finalizers are gone).
//!
//! What it does **not** emulate: networking and NetworkPolicy (processes share the host's
//! loopback), image pulls (images map to local binaries by repository suffix), resource
//! requests and limits and the emptyDir `sizeLimit`, a read-only root filesystem, seccomp
//! profiles, probes, init and sidecar containers (only `containers[0]` runs), restarts
//! (`restartPolicy` is taken as `Never`), and node heartbeats (no node-lifecycle controller
//! runs in the e2e control plane).

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tokio::sync::watch;
use tracing::{info, warn};

/// How the agent is set up.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    /// Image reference → local binary. An image matches an entry when its repository (the
    /// reference without `:tag` or `@digest`) ends with the key.
    pub images: Vec<(String, PathBuf)>,
    /// Directory for per-pod state (volumes, logs, termination files).
    pub work_dir: PathBuf,
    /// Extra environment for every container, after the pod's own.
    pub extra_env: Vec<(String, String)>,
}

/// The running agent.
#[derive(Debug)]
pub struct NodeAgent {
    shared: Arc<Shared>,
    watch_task: tokio::task::JoinHandle<()>,
}

struct Shared {
    client: Client,
    config: AgentConfig,
    /// Pods started, by uid: a sender that asks the pod's task to stop its container.
    pods: Mutex<HashMap<String, (String, watch::Sender<bool>)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The repository part of an image reference: without `@digest` and `:tag`.
pub fn image_repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// The binary an image resolves to.
pub fn resolve_image<'a>(images: &'a [(String, PathBuf)], image: &str) -> Option<&'a Path> {
    let repository = image_repository(image);
    images.iter().find(|(key, _)| repository.ends_with(key.as_str())).map(|(_, path)| path.as_path())
}

/// Quotes a word for `sh`.
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl NodeAgent {
    /// Registers the Node, then binds unscheduled pods to it and runs the pods bound to it.
    pub async fn start(client: Client, config: AgentConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(config.work_dir.join("bin"))?;
        for dir in [&config.work_dir, &config.work_dir.join("bin")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        // The bind-mount target of every pod's termination-message file.
        if !Path::new("/dev/termination-log").exists() {
            std::fs::write("/dev/termination-log", b"").context("cannot create /dev/termination-log (needs root)")?;
        }
        register_node(&client, &config.node_name).await?;
        let shared = Arc::new(Shared { client: client.clone(), config, pods: Mutex::default() });
        let watcher_shared = shared.clone();
        let watch_task = tokio::spawn(async move {
            let pods: Api<Pod> = Api::all(watcher_shared.client.clone());
            let mut stream = watcher(pods, watcher::Config::default()).default_backoff().applied_objects().boxed();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(pod) => {
                        if let Err(err) = handle(&watcher_shared, pod).await {
                            warn!(error = %format!("{err:#}"), "node agent: pod handling failed");
                        }
                    }
                    Err(err) => warn!(error = %err, "node agent: watch error"),
                }
            }
        });
        Ok(Self { shared, watch_task })
    }

    /// Pods currently running as processes (`namespace/name`).
    pub fn running(&self) -> Vec<String> {
        self.shared.pods.lock().map(|p| p.values().map(|(n, _)| n.clone()).collect()).unwrap_or_default()
    }

    /// Kills every running container and stops the agent.
    pub async fn shutdown(self) {
        self.watch_task.abort();
        let senders: Vec<watch::Sender<bool>> =
            self.shared.pods.lock().map(|p| p.values().map(|(_, s)| s.clone()).collect()).unwrap_or_default();
        for sender in senders {
            let _ = sender.send(true);
        }
        // Give the pod tasks a moment to reap their process groups.
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.running_processes_gone() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn running_processes_gone(&self) -> bool {
        self.shared.pods.lock().map(|p| p.values().all(|(_, s)| s.receiver_count() == 0)).unwrap_or(true)
    }
}

async fn register_node(client: &Client, name: &str) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(err) => return Err(err.into()),
    }
    let now = Timestamp::now().to_string();
    let status = json!({"status": {
        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "1000"},
        "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "1000"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "gitview e2e node agent",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "nodeInfo": {"kubeletVersion": "v1.36.3-gitview-e2e", "containerRuntimeVersion": "local-process://0",
                     "architecture": "amd64", "operatingSystem": "linux", "machineID": "", "systemUUID": "", "bootID": "",
                     "kernelVersion": "", "osImage": "", "kubeProxyVersion": ""}
    }});
    nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

async fn handle(shared: &Arc<Shared>, pod: Pod) -> anyhow::Result<()> {
    let node = shared.config.node_name.as_str();
    let uid = pod.uid().context("pod without uid")?;
    let (namespace, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let bound = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let pods: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    match bound {
        None if !deleting => {
            let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                 "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
            match pods.create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding).await {
                Ok(_) | Err(kube::Error::Api(_)) => {} // already bound, or gone
                Err(err) => return Err(err.into()),
            }
        }
        Some(n) if n == node => {
            let started = shared.pods.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.get(&uid).map(|(_, s)| s.clone());
            match (started, deleting) {
                (Some(stop), true) => {
                    if stop.receiver_count() == 0 {
                        // Its container already ended: confirm the deletion, as a kubelet does.
                        let _ = pods.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await;
                    } else {
                        let _ = stop.send(true);
                    }
                }
                (Some(_), false) => {}
                (None, true) => {
                    // Deleted before it ran (or after it finished): confirm, as a kubelet does.
                    let _ = pods.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await;
                }
                (None, false) => {
                    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                    if !matches!(phase, Some("Succeeded" | "Failed")) {
                        let (stop, stopped) = watch::channel(false);
                        shared.pods.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(uid.clone(), (format!("{namespace}/{name}"), stop));
                        let task_shared = shared.clone();
                        tokio::spawn(async move {
                            if let Err(err) = run_pod(&task_shared, &pod, stopped).await {
                                warn!(pod = %format!("{namespace}/{name}"), error = %format!("{err:#}"), "node agent: pod failed to run");
                                let status = json!({"status": {"phase": "Failed", "reason": "NodeAgentError", "message": format!("{err:#}")}});
                                let _ = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await;
                            }
                        });
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn chown(path: &Path, uid: Option<i64>, gid: Option<i64>) -> anyhow::Result<()> {
    let spec = match (uid, gid) {
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
        (None, Some(g)) => format!(":{g}"),
        (None, None) => return Ok(()),
    };
    let status = std::process::Command::new("chown").args(["-R", &spec]).arg(path).status()?;
    if !status.success() {
        bail!("chown {spec} {} failed", path.display());
    }
    Ok(())
}

/// Runs one pod to its end.
async fn run_pod(shared: &Arc<Shared>, pod: &Pod, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let uid = pod.uid().unwrap_or_default();
    let spec = pod.spec.as_ref().context("pod without spec")?;
    let container = spec.containers.first().context("pod without containers")?;
    let pods: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(shared.client.clone(), &namespace);
    let dir = shared.config.work_dir.join(&uid);
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;

    let psc = spec.security_context.clone().unwrap_or_default();
    let csc = container.security_context.clone().unwrap_or_default();
    let run_uid = csc.run_as_user.or(psc.run_as_user).unwrap_or(0);
    let run_gid = csc.run_as_group.or(psc.run_as_group).unwrap_or(run_uid);

    // Volumes.
    let mut sources: BTreeMap<String, PathBuf> = BTreeMap::new();
    for volume in spec.volumes.iter().flatten() {
        let path = dir.join("volumes").join(&volume.name);
        std::fs::create_dir_all(&path)?;
        if let Some(secret) = &volume.secret {
            let secret_name = secret.secret_name.clone().unwrap_or_default();
            let data = match secrets.get_opt(&secret_name).await? {
                Some(s) => s.data.unwrap_or_default(),
                None if secret.optional == Some(true) => BTreeMap::new(),
                None => {
                    return wait_status(&pods, &name, container.name.as_str(), "CreateContainerConfigError", &format!("secret {secret_name:?} not found")).await;
                }
            };
            let mode = u32::try_from(secret.default_mode.unwrap_or(0o644)).unwrap_or(0o644);
            for (key, value) in &data {
                let target = secret
                    .items
                    .as_ref()
                    .and_then(|items| items.iter().find(|i| &i.key == key))
                    .map_or(key.clone(), |i| i.path.clone());
                if secret.items.as_ref().is_some_and(|items| !items.iter().any(|i| &i.key == key)) {
                    continue;
                }
                let file = path.join(&target);
                std::fs::write(&file, &value.0)?;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))?;
            }
            chown(&path, None, psc.fs_group)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        } else if volume.empty_dir.is_some() {
            chown(&path, Some(run_uid), Some(psc.fs_group.unwrap_or(run_gid)))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o2775))?;
        }
        sources.insert(volume.name.clone(), path);
    }
    let termination = dir.join("termination-log");
    std::fs::write(&termination, b"")?;
    chown(&termination, Some(run_uid), Some(run_gid))?;

    // The image.
    let image = container.image.clone().unwrap_or_default();
    let Some(binary) = resolve_image(&shared.config.images, &image) else {
        return wait_status(&pods, &name, &container.name, "ErrImagePull", &format!("image {image:?} maps to no local binary")).await;
    };
    let installed = shared.config.work_dir.join("bin").join(binary.file_name().context("binary has a name")?);
    if !installed.exists() {
        let partial = installed.with_extension(format!("partial-{uid}"));
        std::fs::copy(binary, &partial)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&partial, &installed)?;
    }

    // Environment.
    let mut env: Vec<(String, String)> = vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into())];
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            value.clone()
        } else if let Some(from) = &var.value_from {
            if let Some(key_ref) = &from.secret_key_ref {
                let secret = secrets.get_opt(&key_ref.name).await?;
                secret.and_then(|s| s.data?.get(&key_ref.key).map(|v| String::from_utf8_lossy(&v.0).into_owned())).unwrap_or_default()
            } else if let Some(field) = &from.field_ref {
                match field.field_path.as_str() {
                    "metadata.name" => name.clone(),
                    "metadata.namespace" => namespace.clone(),
                    "metadata.uid" => uid.clone(),
                    "spec.nodeName" => shared.config.node_name.clone(),
                    "status.podIP" | "status.hostIP" => "127.0.0.1".into(),
                    _ => String::new(),
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.push((var.name.clone(), value));
    }
    env.extend(shared.config.extra_env.iter().cloned());

    // The mount namespace: volumes and the termination file at the pod's paths.
    let mut script = String::from("set -e\n");
    for mount in container.volume_mounts.iter().flatten() {
        let source = sources.get(&mount.name).with_context(|| format!("no volume {:?}", mount.name))?;
        let target = sh_quote(&mount.mount_path);
        script.push_str(&format!("mkdir -p {target}\nmount --bind {} {target}\n", sh_quote(&source.display().to_string())));
        if mount.read_only == Some(true) {
            script.push_str(&format!("mount -o remount,bind,ro {target}\n"));
        }
    }
    let termination_path = container.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into());
    script.push_str(&format!("mount --bind {} {}\n", sh_quote(&termination.display().to_string()), sh_quote(&termination_path)));
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    let program = if argv.is_empty() { installed.display().to_string() } else { argv.remove(0) };
    let program = if program.starts_with('/') && !Path::new(&program).exists() { installed.display().to_string() } else { program };
    argv.extend(container.args.clone().unwrap_or_default());
    script.push_str(&format!(
        "exec setpriv --reuid={run_uid} --regid={run_gid} --clear-groups --inh-caps=-all --bounding-set=-all -- {} \"$@\"\n",
        sh_quote(&program)
    ));

    let log_path = dir.join("log");
    let log = std::fs::File::create(&log_path)?;
    let mut command = tokio::process::Command::new("unshare");
    command
        .args(["-m", "--propagation", "private", "--", "sh", "-c", &script, "sh"])
        .args(&argv)
        .env_clear()
        .envs(env)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().context("cannot start the container process")?;
    let pgid = child.id().context("child has a pid")?;
    let started = Timestamp::now();
    info!(pod = %format!("{namespace}/{name}"), pid = pgid, "node agent: container started");
    let running = json!({"status": {
        "phase": "Running", "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": started.to_string(),
        "conditions": conditions(true),
        "containerStatuses": [{"name": container.name, "image": image, "imageID": "", "ready": true, "restartCount": 0, "started": true,
                               "state": {"running": {"startedAt": started.to_string()}}}]
    }});
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&running)).await?;

    let deadline = spec.active_deadline_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs);
    let sleep_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    enum End {
        Exited(Option<i32>),
        Deadline,
        Deleted,
    }
    let end = tokio::select! {
        status = child.wait() => End::Exited(status?.code()),
        () = sleep_deadline => End::Deadline,
        _ = stop.wait_for(|s| *s) => End::Deleted,
    };
    let code = match end {
        End::Exited(code) => code,
        End::Deadline | End::Deleted => {
            let grace = spec.termination_grace_period_seconds.unwrap_or(30).clamp(0, 5);
            stop_group(pgid, &mut child, Duration::from_secs(u64::try_from(grace).unwrap_or(5))).await
        }
    };
    let finished = Timestamp::now();
    let exit_code = code.unwrap_or(137);
    let mut message = std::fs::read_to_string(&termination).unwrap_or_default().trim().chars().take(4096).collect::<String>();
    let policy = container.termination_message_policy.as_deref().unwrap_or("File");
    if message.is_empty() && exit_code != 0 && policy == "FallbackToLogsOnError" {
        message = log_tail(&log_path);
    }
    let (phase, reason, pod_reason) = match end {
        End::Deadline => ("Failed", "Error", Some(("DeadlineExceeded", "Pod was active on the node longer than the specified deadline"))),
        _ if exit_code == 0 => ("Succeeded", "Completed", None),
        _ => ("Failed", "Error", None),
    };
    let mut status = json!({"status": {
        "phase": phase,
        "conditions": conditions(false),
        "containerStatuses": [{"name": container.name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": exit_code, "reason": reason, "message": message,
                                      "startedAt": started.to_string(), "finishedAt": finished.to_string()}}}]
    }});
    if let Some((reason, text)) = pod_reason {
        status["status"]["reason"] = json!(reason);
        status["status"]["message"] = json!(text);
    }
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    info!(pod = %format!("{namespace}/{name}"), exit_code, phase, "node agent: container ended");
    if matches!(end, End::Deleted) {
        let _ = pods.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await;
    }
    if let Ok(mut map) = shared.pods.lock()
        && let Some((label, _)) = map.get(&uid).cloned()
    {
        // Keep the entry, so the pod never starts again, with a sender nobody listens to: a
        // later deletion of the pod is then confirmed at once.
        let (sender, _) = watch::channel(true);
        map.insert(uid.clone(), (label, sender));
    }
    Ok(())
}

/// SIGTERM to the process group, SIGKILL after `grace`; returns the exit code.
async fn stop_group(pgid: u32, child: &mut tokio::process::Child, grace: Duration) -> Option<i32> {
    let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{pgid}")]).status();
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => status.code().or(Some(143)),
        _ => {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
            let _ = child.wait().await;
            Some(137)
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(80)..].join("\n");
    let start = tail.len().saturating_sub(2048);
    let start = (start..=tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
    tail[start..].to_owned()
}

fn conditions(ready: bool) -> serde_json::Value {
    let now = Time(Timestamp::now());
    let ready = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
        {"type": "Ready", "status": ready, "lastTransitionTime": now},
    ])
}

async fn wait_status(pods: &Api<Pod>, name: &str, container: &str, reason: &str, message: &str) -> anyhow::Result<()> {
    let status = json!({"status": {"phase": "Pending", "containerStatuses": [{"name": container, "image": "", "imageID": "", "ready": false,
        "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_resolve_by_repository_suffix() {
        let images = vec![("gitview-runner".to_owned(), PathBuf::from("/bin/runner")), ("e2e-ok".to_owned(), PathBuf::from("/bin/ok"))];
        assert_eq!(resolve_image(&images, "ghcr.io/gitview/gitview-runner:v0.1.0"), Some(Path::new("/bin/runner")));
        assert_eq!(resolve_image(&images, "localhost:5000/e2e-ok@sha256:abc"), Some(Path::new("/bin/ok")));
        assert_eq!(resolve_image(&images, "registry:5000/e2e-ok"), Some(Path::new("/bin/ok")));
        assert_eq!(resolve_image(&images, "nginx:1.27"), None);
        assert_eq!(image_repository("registry:5000/a/b:tag"), "registry:5000/a/b");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        let out = std::process::Command::new("sh").args(["-c", &format!("printf %s {}", sh_quote("a 'b' $c"))]).output().expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a 'b' $c");
    }
}
