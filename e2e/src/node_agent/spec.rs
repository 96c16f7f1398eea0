//! What to run for a pod: a pure function of the Pod, the Secrets and ConfigMaps it refers to
//! and the agent's configuration. No I/O here: [`plan`] decides, `pod.rs` acts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, EnvVar, KeyToPath, Pod, PodSpec, Secret,
};

/// Where a container's termination message goes unless the pod says otherwise.
pub(super) const DEFAULT_TERMINATION_PATH: &str = "/dev/termination-log";
/// `PATH` for a container whose pod sets none (the container runtimes' default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a container cannot start (yet). The kubelet retries all of these, and so does the agent:
/// a Secret may be created after its pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ConfigError {
    #[error("image {0:?} is not mapped to a local binary by the e2e node agent")]
    UnknownImage(String),
    #[error("container {0:?} has no image")]
    NoImage(String),
    #[error("MountVolume.SetUp failed for volume {volume:?} : {reason}")]
    Volume { volume: String, reason: String },
    #[error("secret {0:?} not found")]
    SecretNotFound(String),
    #[error("configmap {0:?} not found")]
    ConfigMapNotFound(String),
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    KeyNotFound {
        kind: &'static str,
        namespace: String,
        name: String,
        key: String,
    },
    #[error("environment variable {var}: {what} is not supported by the e2e node agent")]
    UnsupportedEnv { var: String, what: String },
    #[error("container has runAsNonRoot and image will run as root")]
    RunAsRoot,
    #[error("{0} is out of range for a Linux uid/gid")]
    IdOutOfRange(i64),
    #[error("volume mount {0:?}: {1} is not supported by the e2e node agent")]
    UnsupportedMount(String, &'static str),
}

impl ConfigError {
    /// The container's waiting reason while this error holds, as the kubelet reports it.
    pub(super) fn waiting_reason(&self, attempt: u32) -> &'static str {
        match self {
            Self::UnknownImage(_) | Self::NoImage(_) if attempt == 0 => "ErrImagePull",
            Self::UnknownImage(_) | Self::NoImage(_) => "ImagePullBackOff",
            Self::Volume { .. } | Self::UnsupportedMount(..) => "ContainerCreating",
            _ => "CreateContainerConfigError",
        }
    }
}

/// The repository part of an image reference: without `@digest` and without `:tag` (a colon
/// before the last `/` belongs to a registry port).
pub(super) fn image_repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(repo, _digest)| repo);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].find(':') {
        Some(colon) => &image[..last_slash + colon],
        None => image,
    }
}

/// Index of the `images` entry an image resolves to: the longest key the repository ends with
/// (so "e2e-ok" and "ok" do not depend on their order).
pub(super) fn resolve_image(images: &[(String, PathBuf)], image: &str) -> Option<usize> {
    let repo = image_repository(image);
    images
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| !key.is_empty() && repo.ends_with(key.as_str()))
        .max_by_key(|(_, (key, _))| key.len())
        .map(|(i, _)| i)
}

/// The Secrets and ConfigMaps a pod refers to, as read from the API server (a missing name is
/// not found), and the service-account tokens its projected volumes ask for. Values are raw
/// bytes.
#[derive(Debug, Default, Clone)]
pub(super) struct Sources {
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Bound service-account tokens by audience ("" = the API server's own).
    pub tokens: BTreeMap<String, String>,
    /// PersistentVolumeClaims by name: the host directory of the bound PersistentVolume
    /// (`hostPath` or `local`), or why there is none yet.
    pub claims: BTreeMap<String, Result<PathBuf, String>>,
}

impl Sources {
    pub(super) fn add_secret(&mut self, name: &str, secret: &Secret) {
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        // stringData is write-only on the server, but a fixture may carry it.
        data.extend(
            secret
                .string_data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
        );
        self.secrets.insert(name.to_owned(), data);
    }

    pub(super) fn add_config_map(&mut self, name: &str, config_map: &ConfigMap) {
        let mut data: BTreeMap<String, Vec<u8>> = config_map
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        data.extend(
            config_map
                .binary_data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone())),
        );
        self.config_maps.insert(name.to_owned(), data);
    }
}

/// What a pod refers to: Secrets and ConfigMaps (volumes, projected volumes, and the
/// environment of every container, init containers included) and the audiences of its
/// projected service-account tokens with their lifetimes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Referenced {
    pub secrets: BTreeSet<String>,
    pub config_maps: BTreeSet<String>,
    /// Audience ("" = the API server's) → expirationSeconds.
    pub token_audiences: BTreeMap<String, i64>,
    pub claims: BTreeSet<String>,
}

pub(super) fn referenced_sources(spec: &PodSpec) -> Referenced {
    let mut r = Referenced::default();
    for volume in spec.volumes.iter().flatten() {
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            r.secrets.insert(name);
        }
        if let Some(cm) = &volume.config_map {
            r.config_maps.insert(cm.name.clone());
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            r.claims.insert(claim.claim_name.clone());
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
        {
            if let Some(s) = &source.secret {
                r.secrets.insert(s.name.clone());
            }
            if let Some(c) = &source.config_map {
                r.config_maps.insert(c.name.clone());
            }
            if let Some(t) = &source.service_account_token {
                r.token_audiences.insert(
                    t.audience.clone().unwrap_or_default(),
                    t.expiration_seconds.unwrap_or(3600),
                );
            }
        }
    }
    for container in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        for from in container.env_from.iter().flatten() {
            if let Some(s) = &from.secret_ref {
                r.secrets.insert(s.name.clone());
            }
            if let Some(c) = &from.config_map_ref {
                r.config_maps.insert(c.name.clone());
            }
        }
        for var in container.env.iter().flatten() {
            let source = var.value_from.as_ref();
            if let Some(s) = source.and_then(|s| s.secret_key_ref.as_ref()) {
                r.secrets.insert(s.name.clone());
            }
            if let Some(c) = source.and_then(|s| s.config_map_key_ref.as_ref()) {
                r.config_maps.insert(c.name.clone());
            }
        }
    }
    r
}

/// The uid, gid and groups the container runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: fsGroup and supplementalGroups, as the kubelet adds them.
    pub groups: Vec<u32>,
    /// Group owning volume files (fsGroup).
    pub fs_group: Option<u32>,
    pub no_new_privs: bool,
}

fn linux_id(id: i64) -> Result<u32, ConfigError> {
    u32::try_from(id).map_err(|_| ConfigError::IdOutOfRange(id))
}

/// Container securityContext over pod securityContext; a container with no user runs as root
/// (a local binary has no image user).
pub(super) fn identity(spec: &PodSpec, container: &Container) -> Result<Identity, ConfigError> {
    let pod_sc = spec.security_context.as_ref();
    let sc = container.security_context.as_ref();
    let uid = sc
        .and_then(|s| s.run_as_user)
        .or_else(|| pod_sc.and_then(|s| s.run_as_user))
        .unwrap_or(0);
    let gid = sc
        .and_then(|s| s.run_as_group)
        .or_else(|| pod_sc.and_then(|s| s.run_as_group))
        .unwrap_or(0);
    let non_root = sc
        .and_then(|s| s.run_as_non_root)
        .or_else(|| pod_sc.and_then(|s| s.run_as_non_root))
        .unwrap_or(false);
    if non_root && uid == 0 {
        return Err(ConfigError::RunAsRoot);
    }
    let fs_group = pod_sc.and_then(|s| s.fs_group).map(linux_id).transpose()?;
    let mut groups: Vec<u32> = fs_group.into_iter().collect();
    for g in pod_sc
        .and_then(|s| s.supplemental_groups.as_ref())
        .into_iter()
        .flatten()
    {
        let g = linux_id(*g)?;
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    Ok(Identity {
        uid: linux_id(uid)?,
        gid: linux_id(gid)?,
        groups,
        fs_group,
        no_new_privs: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
    })
}

/// Expands `$(VAR)` references as Kubernetes does in env values, command and args: a defined
/// variable is replaced, an undefined one is kept verbatim, `$$` is a literal `$`.
pub(super) fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Pod facts `fieldRef` can read.
#[derive(Debug, Clone)]
pub(super) struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub node_name: &'a str,
}

fn field_ref(facts: &PodFacts<'_>, path: &str) -> Option<String> {
    let meta = &facts.pod.metadata;
    let label = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => Some(facts.node_name.to_owned()),
        "spec.serviceAccountName" => facts
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone()),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => {
            Some(super::status::LOOPBACK.to_owned())
        }
        _ => label(&meta.labels, "metadata.labels['")
            .or_else(|| label(&meta.annotations, "metadata.annotations['")),
    }
}

fn set_var(env: &mut Vec<(String, String)>, name: &str, value: String) {
    match env.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name.to_owned(), value)),
    }
}

fn lookup_key(
    store: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    key: &str,
    optional: bool,
) -> Result<Option<String>, ConfigError> {
    let Some(data) = store.get(name) else {
        return match (optional, kind) {
            (true, _) => Ok(None),
            (false, "Secret") => Err(ConfigError::SecretNotFound(name.to_owned())),
            (false, _) => Err(ConfigError::ConfigMapNotFound(name.to_owned())),
        };
    };
    match data.get(key) {
        Some(value) => Ok(Some(String::from_utf8_lossy(value).into_owned())),
        None if optional => Ok(None),
        None => Err(ConfigError::KeyNotFound {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        }),
    }
}

fn env_var(
    var: &EnvVar,
    env: &[(String, String)],
    facts: &PodFacts<'_>,
    sources: &Sources,
) -> Result<Option<String>, ConfigError> {
    let namespace = facts.pod.metadata.namespace.as_deref().unwrap_or_default();
    let Some(from) = &var.value_from else {
        let value = var.value.as_deref().unwrap_or_default();
        return Ok(Some(expand(value, |name| {
            env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })));
    };
    if let Some(s) = &from.secret_key_ref {
        return lookup_key(
            &sources.secrets,
            "Secret",
            namespace,
            &s.name,
            &s.key,
            s.optional == Some(true),
        );
    }
    if let Some(c) = &from.config_map_key_ref {
        return lookup_key(
            &sources.config_maps,
            "ConfigMap",
            namespace,
            &c.name,
            &c.key,
            c.optional == Some(true),
        );
    }
    if let Some(f) = &from.field_ref {
        return field_ref(facts, &f.field_path).map(Some).ok_or_else(|| {
            ConfigError::UnsupportedEnv {
                var: var.name.clone(),
                what: format!("fieldRef {}", f.field_path),
            }
        });
    }
    let what = if from.resource_field_ref.is_some() {
        "resourceFieldRef"
    } else {
        "this valueFrom source"
    };
    Err(ConfigError::UnsupportedEnv {
        var: var.name.clone(),
        what: what.to_owned(),
    })
}

/// The container's environment, in the kubelet's order: `envFrom`, then `env` (expanding
/// `$(VAR)` against what precedes), then `PATH`/`HOSTNAME` defaults, then the agent's extra
/// variables. A later definition of a name replaces an earlier one in place.
pub(super) fn build_env(
    container: &Container,
    facts: &PodFacts<'_>,
    sources: &Sources,
    extra_env: &[(String, String)],
) -> Result<Vec<(String, String)>, ConfigError> {
    let namespace = facts.pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut env: Vec<(String, String)> = Vec::new();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let (store, name, optional, kind) = match (&from.secret_ref, &from.config_map_ref) {
            (Some(s), _) => (
                &sources.secrets,
                &s.name,
                s.optional == Some(true),
                "Secret",
            ),
            (None, Some(c)) => (
                &sources.config_maps,
                &c.name,
                c.optional == Some(true),
                "ConfigMap",
            ),
            (None, None) => continue,
        };
        match store.get(name) {
            Some(data) => {
                for (key, value) in data {
                    set_var(
                        &mut env,
                        &format!("{prefix}{key}"),
                        String::from_utf8_lossy(value).into_owned(),
                    );
                }
            }
            None if optional => {}
            None => {
                lookup_key(store, kind, namespace, name, "", false)?;
            }
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = env_var(var, &env, facts, sources)? {
            set_var(&mut env, &var.name, value);
        }
    }
    if !env.iter().any(|(n, _)| n == "PATH") {
        env.push(("PATH".to_owned(), DEFAULT_PATH.to_owned()));
    }
    if !env.iter().any(|(n, _)| n == "HOSTNAME") {
        env.push((
            "HOSTNAME".to_owned(),
            facts.pod.metadata.name.clone().unwrap_or_default(),
        ));
    }
    for (name, value) in extra_env {
        set_var(&mut env, name, value.clone());
    }
    Ok(env)
}

/// One file of a Secret or ConfigMap volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VolumeFile {
    /// Relative path inside the volume (validated by the API server: no `..`, not absolute).
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What to create on the host for a volume, under the pod's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum VolumeContent {
    /// Secret or ConfigMap: files owned by root, group `group` (fsGroup) when set.
    Files {
        files: Vec<VolumeFile>,
        group: Option<u32>,
    },
    /// A world-writable directory owned by `uid:gid`, as the kubelet's emptyDir (0777).
    EmptyDir { uid: u32, gid: u32 },
    /// A PersistentVolume's host directory, kept across pods; with fsGroup it is made
    /// group-owned and group-writable (setgid), as the kubelet's volume ownership management.
    HostDir { path: PathBuf, group: Option<u32> },
}

/// A bind mount into the container's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub volume: String,
    pub target: String,
    pub read_only: bool,
}

/// Everything needed to start the container.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Index into the agent's images.
    pub image: usize,
    /// `command` if the container sets it (run as given); otherwise the image's binary runs.
    pub command: Option<Vec<String>>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub identity: Identity,
    pub volumes: Vec<(String, VolumeContent)>,
    /// Sorted so that a parent path is mounted before a path inside it.
    pub mounts: Vec<Mount>,
    pub termination_path: String,
    pub fallback_to_logs: bool,
    pub read_only_root: bool,
    pub working_dir: Option<String>,
}

fn key_files(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    describe: impl Fn(&str) -> String,
) -> Result<Vec<VolumeFile>, String> {
    // The kubelet's default mode for projected keys is 0644; group read is added for fsGroup.
    let default = default_mode.map_or(0o644, |m| m as u32 & 0o7777);
    match items {
        None => Ok(data
            .iter()
            .map(|(k, v)| VolumeFile {
                path: k.clone(),
                data: v.clone(),
                mode: default,
            })
            .collect()),
        Some(items) => items
            .iter()
            .filter_map(|item| match data.get(&item.key) {
                Some(v) => Some(Ok(VolumeFile {
                    path: item.path.clone(),
                    data: v.clone(),
                    mode: item.mode.map_or(default, |m| m as u32 & 0o7777),
                })),
                None if optional => None,
                None => Some(Err(describe(&item.key))),
            })
            .collect(),
    }
}

/// Files of a downwardAPI volume or projection: `fieldRef`s only.
fn downward_files(
    facts: &PodFacts<'_>,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Vec<VolumeFile>, String> {
    let default = default_mode.map_or(0o644, |m| m as u32 & 0o7777);
    items
        .iter()
        .map(|item| {
            let path = item
                .field_ref
                .as_ref()
                .map(|f| f.field_path.as_str())
                .ok_or_else(|| format!("{}: only fieldRef is supported", item.path))?;
            let value = field_ref(facts, path)
                .ok_or_else(|| format!("{}: fieldRef {path} is not supported", item.path))?;
            Ok(VolumeFile {
                path: item.path.clone(),
                data: value.into_bytes(),
                mode: item.mode.map_or(default, |m| m as u32 & 0o7777),
            })
        })
        .collect()
}

fn volume_content(
    facts: &PodFacts<'_>,
    name: &str,
    identity: &Identity,
    sources: &Sources,
) -> Result<VolumeContent, ConfigError> {
    let spec = facts
        .pod
        .spec
        .as_ref()
        .ok_or_else(|| ConfigError::NoImage(String::new()))?;
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .ok_or_else(|| ConfigError::Volume {
            volume: name.to_owned(),
            reason: "no such volume in the pod".to_owned(),
        })?;
    let err = |reason: String| ConfigError::Volume {
        volume: name.to_owned(),
        reason,
    };
    if let Some(secret) = &volume.secret {
        let secret_name = secret.secret_name.clone().unwrap_or_default();
        let optional = secret.optional == Some(true);
        let files = match sources.secrets.get(&secret_name) {
            Some(data) => key_files(
                data,
                secret.items.as_ref(),
                secret.default_mode,
                optional,
                |key| format!("references non-existent secret key: {key}"),
            )
            .map_err(err)?,
            None if optional => vec![],
            None => return Err(err(format!("secret {secret_name:?} not found"))),
        };
        return Ok(VolumeContent::Files {
            files,
            group: identity.fs_group,
        });
    }
    if let Some(cm) = &volume.config_map {
        let optional = cm.optional == Some(true);
        let files = match sources.config_maps.get(&cm.name) {
            Some(data) => key_files(data, cm.items.as_ref(), cm.default_mode, optional, |key| {
                format!("configmap references non-existent config key: {key}")
            })
            .map_err(err)?,
            None if optional => vec![],
            None => return Err(err(format!("configmap {:?} not found", cm.name))),
        };
        return Ok(VolumeContent::Files {
            files,
            group: identity.fs_group,
        });
    }
    if let Some(downward) = &volume.downward_api {
        let files = downward_files(
            facts,
            downward.items.as_deref().unwrap_or_default(),
            downward.default_mode,
        )
        .map_err(err)?;
        return Ok(VolumeContent::Files {
            files,
            group: identity.fs_group,
        });
    }
    if let Some(projected) = &volume.projected {
        let default_mode = projected.default_mode;
        let mut files = Vec::new();
        for source in projected.sources.iter().flatten() {
            if let Some(s) = &source.secret {
                let optional = s.optional == Some(true);
                match sources.secrets.get(&s.name) {
                    Some(data) => files.extend(
                        key_files(data, s.items.as_ref(), default_mode, optional, |key| {
                            format!("references non-existent secret key: {key}")
                        })
                        .map_err(err)?,
                    ),
                    None if optional => {}
                    None => return Err(err(format!("secret {:?} not found", s.name))),
                }
            } else if let Some(c) = &source.config_map {
                let optional = c.optional == Some(true);
                match sources.config_maps.get(&c.name) {
                    Some(data) => files.extend(
                        key_files(data, c.items.as_ref(), default_mode, optional, |key| {
                            format!("configmap references non-existent config key: {key}")
                        })
                        .map_err(err)?,
                    ),
                    None if optional => {}
                    None => return Err(err(format!("configmap {:?} not found", c.name))),
                }
            } else if let Some(d) = &source.downward_api {
                files.extend(
                    downward_files(facts, d.items.as_deref().unwrap_or_default(), default_mode)
                        .map_err(err)?,
                );
            } else if let Some(t) = &source.service_account_token {
                let token = sources
                    .tokens
                    .get(t.audience.as_deref().unwrap_or_default())
                    .ok_or_else(|| err("no service-account token".to_owned()))?;
                let mode = default_mode.map_or(0o644, |m| m as u32 & 0o7777);
                files.push(VolumeFile {
                    path: t.path.clone(),
                    data: token.clone().into_bytes(),
                    mode,
                });
            } else {
                return Err(err("only secret, configMap, downwardAPI and serviceAccountToken projections are supported by the e2e node agent".to_owned()));
            }
        }
        return Ok(VolumeContent::Files {
            files,
            group: identity.fs_group,
        });
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        return match sources.claims.get(&claim.claim_name) {
            Some(Ok(path)) => Ok(VolumeContent::HostDir {
                path: path.clone(),
                group: identity.fs_group,
            }),
            Some(Err(why)) => Err(err(why.clone())),
            None => Err(err(format!(
                "persistentvolumeclaim {:?} not found",
                claim.claim_name
            ))),
        };
    }
    if volume.empty_dir.is_some() {
        return Ok(VolumeContent::EmptyDir {
            uid: identity.uid,
            gid: identity.fs_group.unwrap_or(identity.gid),
        });
    }
    Err(err("only secret, configMap, projected, downwardAPI, persistentVolumeClaim (hostPath or local volumes) and emptyDir volumes are supported by the e2e node agent".to_owned()))
}

/// Decides how to run the pod's first container. Pure: everything it reads is an argument.
#[cfg(test)]
pub(super) fn plan(
    pod: &Pod,
    node_name: &str,
    images: &[(String, PathBuf)],
    sources: &Sources,
    extra_env: &[(String, String)],
) -> Result<Plan, ConfigError> {
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| ConfigError::NoImage(String::new()))?;
    let container = spec
        .containers
        .first()
        .ok_or_else(|| ConfigError::NoImage(String::new()))?;
    plan_container(pod, container, node_name, images, sources, extra_env)
}

/// Decides how to run one container of the pod (an init container or the main one).
pub(super) fn plan_container(
    pod: &Pod,
    container: &Container,
    node_name: &str,
    images: &[(String, PathBuf)],
    sources: &Sources,
    extra_env: &[(String, String)],
) -> Result<Plan, ConfigError> {
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| ConfigError::NoImage(String::new()))?;
    let facts = PodFacts { pod, node_name };
    let image_ref = container
        .image
        .as_deref()
        .ok_or_else(|| ConfigError::NoImage(container.name.clone()))?;
    let image = resolve_image(images, image_ref)
        .ok_or_else(|| ConfigError::UnknownImage(image_ref.to_owned()))?;
    let identity = identity(spec, container)?;
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        if mount.sub_path.as_deref().is_some_and(|s| !s.is_empty()) || mount.sub_path_expr.is_some()
        {
            return Err(ConfigError::UnsupportedMount(
                mount.mount_path.clone(),
                "subPath",
            ));
        }
        if !volumes.iter().any(|(n, _)| n == &mount.name) {
            volumes.push((
                mount.name.clone(),
                volume_content(&facts, &mount.name, &identity, sources)?,
            ));
        }
        mounts.push(Mount {
            volume: mount.name.clone(),
            target: mount.mount_path.clone(),
            read_only: mount.read_only == Some(true),
        });
    }
    mounts.sort_by_key(|m| Path::new(&m.target).components().count());

    let env = build_env(container, &facts, sources, extra_env)?;
    let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let command = container
        .command
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c.iter().map(|s| expand(s, lookup)).collect());
    let args = container
        .args
        .iter()
        .flatten()
        .map(|s| expand(s, lookup))
        .collect();
    Ok(Plan {
        image,
        command,
        args,
        identity,
        volumes,
        mounts,
        termination_path: container
            .termination_message_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_TERMINATION_PATH.to_owned()),
        fallback_to_logs: container.termination_message_policy.as_deref()
            == Some("FallbackToLogsOnError"),
        read_only_root: container
            .security_context
            .as_ref()
            .and_then(|s| s.read_only_root_filesystem)
            == Some(true),
        working_dir: container.working_dir.clone().filter(|w| !w.is_empty()),
        env,
    })
}

/// Quotes a string for a POSIX shell.
pub(super) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Host paths of the helper programs (resolved once, so a pod's `PATH` cannot change them).
#[derive(Debug, Clone)]
pub(super) struct Tools {
    pub unshare: PathBuf,
    pub sh: PathBuf,
    pub mount: PathBuf,
    pub mkdir: PathBuf,
    pub setpriv: PathBuf,
    pub kill: PathBuf,
}

/// Where the agent's work directory is bind-mounted inside every container before anything
/// else: the volumes' sources, the termination file, the hosts file and the image's binary are
/// reached through it, so a container mount over an ancestor of the work directory (an
/// emptyDir at `/tmp` while the work directory is under `/tmp`) cannot hide them.
pub(super) const STAGE: &str = "/.gitview-node";

/// Host paths of one pod's state, all under `root` (the agent's work directory).
#[derive(Debug, Clone)]
pub(super) struct HostPaths {
    /// The agent's work directory.
    pub root: PathBuf,
    /// Directory of each volume, by name.
    pub volumes: BTreeMap<String, PathBuf>,
    pub termination_file: PathBuf,
    /// The image's binary (a world-readable copy).
    pub binary: PathBuf,
    /// The pod's `/etc/hosts` (its own name, `hostAliases`, the cluster's Services), mounted
    /// read-only over the host's.
    pub hosts_file: Option<PathBuf>,
    /// The pod's `/etc/passwd`: the host's, plus an entry for each container uid it lacks (as
    /// an image would carry its users), mounted read-only over the host's.
    pub passwd_file: Option<PathBuf>,
}

/// Arguments of `unshare` that run the container: a private mount namespace in which the
/// volumes and the termination file are bind-mounted at their container paths, the root
/// remounted read-only when the container asks for it, then `setpriv` drops to the container's
/// user and all capabilities and execs the program. The program and its arguments are passed
/// as `"$@"`, never spliced into the script.
pub(super) fn launch_args(plan: &Plan, paths: &HostPaths, tools: &Tools) -> Vec<String> {
    // A path under the work directory, as seen through the stage.
    let staged = |p: &Path| {
        p.strip_prefix(&paths.root)
            .map_or_else(|_| p.to_owned(), |rel| Path::new(STAGE).join(rel))
    };
    let q = |p: &Path| sh_quote(&staged(p).to_string_lossy());
    let (mkdir, mount) = (
        sh_quote(&tools.mkdir.to_string_lossy()),
        sh_quote(&tools.mount.to_string_lossy()),
    );
    let mut script = vec![
        "set -e".to_owned(),
        format!("{mkdir} -p {STAGE}"),
        format!(
            "{mount} --bind {} {STAGE}",
            sh_quote(&paths.root.to_string_lossy())
        ),
    ];
    for m in &plan.mounts {
        let source = paths
            .volumes
            .get(&m.volume)
            .map(|p| q(p))
            .unwrap_or_default();
        let target = sh_quote(&m.target);
        script.push(format!("{mkdir} -p {target}"));
        script.push(format!("{mount} --bind {source} {target}"));
        if m.read_only {
            script.push(format!("{mount} -o remount,bind,ro {target}"));
        }
    }
    let term = sh_quote(&plan.termination_path);
    let term_dir = Path::new(&plan.termination_path)
        .parent()
        .map_or_else(|| "/".to_owned(), |d| sh_quote(&d.to_string_lossy()));
    script.push(format!("{mkdir} -p {term_dir}"));
    script.push(format!("[ -e {term} ] || : > {term}"));
    script.push(format!(
        "{mount} --bind {} {term}",
        q(&paths.termination_file)
    ));
    if let Some(dir) = &plan.working_dir {
        script.push(format!("{mkdir} -p {}", sh_quote(dir)));
    }
    if let Some(hosts) = &paths.hosts_file {
        script.push(format!("{mount} --bind {} /etc/hosts", q(hosts)));
        script.push(format!("{mount} -o remount,bind,ro /etc/hosts"));
    }
    if let Some(passwd) = &paths.passwd_file {
        script.push(format!("{mount} --bind {} /etc/passwd", q(passwd)));
        script.push(format!("{mount} -o remount,bind,ro /etc/passwd"));
    }
    if plan.read_only_root {
        script.push(format!("{mount} -o remount,bind,ro /"));
    }
    script.push(format!(
        "cd {}",
        plan.working_dir
            .as_deref()
            .map_or_else(|| "/".to_owned(), sh_quote)
    ));
    let id = &plan.identity;
    let groups = if id.groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        format!(
            "--groups {}",
            id.groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let no_new_privs = if id.no_new_privs {
        " --no-new-privs"
    } else {
        ""
    };
    script.push(format!(
        "exec {} --reuid {} --regid {} {groups} --inh-caps -all --bounding-set -all --pdeathsig KILL{no_new_privs} -- \"$@\"",
        q(&tools.setpriv),
        id.uid,
        id.gid
    ));

    let mut args: Vec<String> = ["-m", "--propagation", "private", "--"]
        .map(str::to_owned)
        .to_vec();
    args.push(tools.sh.to_string_lossy().into_owned());
    args.push("-c".to_owned());
    args.push(script.join("\n"));
    args.push("sh".to_owned());
    match &plan.command {
        Some(command) => args.extend(command.iter().cloned()),
        None => args.push(staged(&paths.binary).to_string_lossy().into_owned()),
    }
    args.extend(plan.args.iter().cloned());
    args
}

/// The pod's `/etc/hosts`, as the kubelet writes it (localhost, the pod's own name,
/// `hostAliases`) plus one line per Service, all on loopback: the agent has no Service network,
/// every process shares the host's, so `NAME.NAMESPACE.svc` reaches a pod of that Service when
/// the Service's port is the port the pod listens on. `services` are (namespace, name).
pub(super) fn hosts_file(pod: &Pod, services: &[(String, String)]) -> String {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let mut out = String::from(
        "# Kubernetes-managed hosts file (gitview e2e node agent).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    out.push_str(&format!("{}\t{name}\n", super::status::LOOPBACK));
    for alias in pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        let names = alias
            .hostnames
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if !names.is_empty() {
            out.push_str(&format!(
                "\n# Entries added by HostAliases.\n{}\t{names}\n",
                alias.ip
            ));
        }
    }
    out.push_str("\n# Services (on loopback: the node agent has no Service network).\n");
    for (ns, svc) in services {
        let mut names = vec![
            format!("{svc}.{ns}.svc.cluster.local"),
            format!("{svc}.{ns}.svc"),
            format!("{svc}.{ns}"),
        ];
        if ns == namespace {
            names.push(svc.clone());
        }
        out.push_str(&format!(
            "{}\t{}\n",
            super::status::LOOPBACK,
            names.join(" ")
        ));
    }
    out
}

/// The pod's `/etc/passwd`: `host` plus a `gitview-uid-N` entry (home `/tmp`, no shell) for each
/// uid in `ids` (uid, gid) the host does not know. Programs such as `initdb` refuse to run as
/// a uid with no entry; an image would have one.
pub(super) fn passwd_file(host: &str, ids: &[(u32, u32)]) -> String {
    let known: BTreeSet<u32> = host
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect();
    let mut out = host.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let mut added = BTreeSet::new();
    for (uid, gid) in ids {
        if !known.contains(uid) && added.insert(*uid) {
            out.push_str(&format!(
                "gitview-uid-{uid}:x:{uid}:{gid}::/tmp:/usr/sbin/nologin\n"
            ));
        }
    }
    out
}
