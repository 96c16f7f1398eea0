//! Builders of the objects one attempt needs: its Secret and its runner Pod. Pure functions of
//! the Analysis, the resolved profile and the settings.

use std::collections::BTreeMap;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisProfileSpec, PullPolicy, ResolvedProfile};
use gitview_crds::wire::{
    self, AnalysisIdentity, CLONE_CACHE_ENV, CLONE_CACHE_MOUNT_PATH, RUN_CONFIG_VERSION,
    RUN_SECRET_MOUNT_PATH, RunConfig, RunEgress, RunProfile, RunRepository, SCRATCH_MOUNT_PATH,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, ResourceRequirements, SeccompProfile, Secret, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use sha2::{Digest, Sha256};

use super::classify::RUNNER_CONTAINER;
use crate::error::Error;
use crate::settings::Settings;

/// Everything one attempt's objects are built from.
#[derive(Clone, Debug)]
pub struct AttemptInputs<'a> {
    pub analysis: &'a Analysis,
    pub attempt: i32,
    pub resolved: &'a ResolvedProfile,
    pub profile: &'a AnalysisProfileSpec,
    pub deadline_seconds: i64,
    pub resources: Option<ResourceRequirements>,
    pub settings: &'a Settings,
    /// The tracker's clone cache the attempt's pod mounts, if it mounts one.
    pub clone_cache: Option<&'a crate::clone_cache::Claimed>,
}

/// Name of an attempt's pod and secret: `<analysis>-<uid prefix>-a<attempt>`, unique per
/// Analysis incarnation and deterministic, so a repeated create is a harmless conflict.
pub fn attempt_name(analysis_name: &str, uid: &str, attempt: i32) -> String {
    let suffix = format!(
        "-{}-a{attempt}",
        &uid.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
    );
    let keep = 63usize.saturating_sub(suffix.len());
    let mut base: String = analysis_name.chars().take(keep).collect();
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}{suffix}")
}

/// The bucket (0..100) an Analysis falls in for canary selection: stable across attempts
/// and operator restarts.
pub fn canary_bucket(uid: &str) -> i32 {
    let digest = Sha256::digest(uid.as_bytes());
    let head = u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a sha256 digest has 32 bytes"),
    );
    i32::try_from(head % 100).expect("a value below 100 fits in i32")
}

fn uid(analysis: &Analysis) -> Result<&str, Error> {
    analysis
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingField("metadata.uid"))
}

fn name(analysis: &Analysis) -> Result<&str, Error> {
    analysis
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingField("metadata.name"))
}

/// Labels of an attempt's pod and secret.
pub fn attempt_labels(
    analysis: &Analysis,
    attempt: i32,
) -> Result<BTreeMap<String, String>, Error> {
    let truncated: String = name(analysis)?.chars().take(63).collect();
    Ok(BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            labels::RUNNER_NAME.to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            labels::MANAGED_BY.to_owned(),
        ),
        (
            "app.kubernetes.io/component".to_owned(),
            "runner".to_owned(),
        ),
        (
            labels::ANALYSIS.to_owned(),
            truncated.trim_end_matches(['-', '.', '_']).to_owned(),
        ),
        (labels::ANALYSIS_UID.to_owned(), uid(analysis)?.to_owned()),
        (labels::ATTEMPT.to_owned(), attempt.to_string()),
    ]))
}

fn owner(analysis: &Analysis) -> Result<OwnerReference, Error> {
    analysis
        .controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.name or metadata.uid"))
}

/// The run config of an attempt.
pub fn run_config(
    inputs: &AttemptInputs<'_>,
    account: &str,
    scrub_pii: bool,
    deadline: jiff::Timestamp,
) -> Result<RunConfig, Error> {
    let an = inputs.analysis;
    let llm = an.spec.run.llm.as_ref();
    Ok(RunConfig {
        version: RUN_CONFIG_VERSION,
        analysis: AnalysisIdentity {
            namespace: an
                .metadata
                .namespace
                .clone()
                .ok_or(Error::MissingField("metadata.namespace"))?,
            name: name(an)?.to_owned(),
            uid: uid(an)?.to_owned(),
            tracker: an
                .metadata
                .labels
                .as_ref()
                .and_then(|set| set.get(labels::TRACKER))
                .cloned(),
        },
        attempt: inputs.attempt,
        account: account.to_owned(),
        repository: RunRepository {
            url: an.spec.repository.source.url.clone(),
            git_ref: an.spec.repository.git_ref.clone(),
        },
        mode: an.spec.mode.clone(),
        profile: RunProfile {
            name: inputs.resolved.profile.clone(),
            runner_image: inputs.resolved.runner_image.clone(),
            canary: inputs.resolved.canary,
            stages: inputs.profile.stages.clone(),
            summarizer: inputs.profile.stages.summarize.summarizer,
            model: inputs.resolved.model.clone(),
            llm_base_url: llm
                .and_then(|l| l.base_url.clone())
                .or_else(|| inputs.profile.stages.summarize.base_url.clone()),
        },
        gateway_url: inputs.settings.gateway_url.clone(),
        scrub_pii,
        deadline: deadline.to_string(),
        egress: RunEgress {
            allow_link_local: inputs.profile.repository_policy.allow_link_local,
        },
    })
}

/// The attempt's Secret: run config, token and copied credentials. Owned by the Analysis and
/// annotated with its expiry so the janitor can purge it if the operator misses the pod's end.
pub fn run_secret(
    inputs: &AttemptInputs<'_>,
    config: &RunConfig,
    token: &str,
    credentials: BTreeMap<String, ByteString>,
    expires_at: jiff::Timestamp,
) -> Result<Secret, Error> {
    let an = inputs.analysis;
    let mut data = credentials;
    let config_json = serde_json::to_vec(config).map_err(|source| Error::Serialize {
        what: "run config",
        source,
    })?;
    data.insert(wire::keys::RUN_CONFIG.to_owned(), ByteString(config_json));
    data.insert(
        wire::keys::TOKEN.to_owned(),
        ByteString(token.as_bytes().to_vec()),
    );
    let mut labels = attempt_labels(an, inputs.attempt)?;
    labels.insert(
        labels::SECRET_ROLE.to_owned(),
        labels::SECRET_ROLE_RUN.to_owned(),
    );
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(attempt_name(name(an)?, uid(an)?, inputs.attempt)),
            namespace: an.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                labels::EXPIRES_AT.to_owned(),
                expires_at.to_string(),
            )])),
            owner_references: Some(vec![owner(an)?]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        immutable: Some(true),
        data: Some(data),
        ..Secret::default()
    })
}

/// The runner Pod of an attempt: Pod Security Standards *restricted*, read-only root
/// filesystem, no service-account token, the Secret read-only at one path, a size-limited
/// scratch volume, the deadline, and the operator's finalizer.
pub fn runner_pod(inputs: &AttemptInputs<'_>) -> Result<Pod, Error> {
    let an = inputs.analysis;
    let pod_name = attempt_name(name(an)?, uid(an)?, inputs.attempt);
    let scratch = inputs
        .profile
        .runner
        .scratch_size
        .clone()
        .unwrap_or_else(|| Quantity(inputs.settings.default_scratch_size.clone()));
    let mut env = vec![
        env("GITVIEW_RUN_DIR", RUN_SECRET_MOUNT_PATH),
        env("GITVIEW_SCRATCH", SCRATCH_MOUNT_PATH),
        env("TMPDIR", &format!("{SCRATCH_MOUNT_PATH}/tmp")),
        env("HOME", &format!("{SCRATCH_MOUNT_PATH}/home")),
    ];
    let mut labels = attempt_labels(an, inputs.attempt)?;
    let mut volume_mounts = vec![
        VolumeMount {
            name: "run".to_owned(),
            mount_path: RUN_SECRET_MOUNT_PATH.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "scratch".to_owned(),
            mount_path: SCRATCH_MOUNT_PATH.to_owned(),
            ..VolumeMount::default()
        },
    ];
    let mut volumes = vec![
        Volume {
            name: "run".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(pod_name.clone()),
                default_mode: Some(0o440),
                optional: Some(false),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "scratch".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(scratch),
                medium: None,
            }),
            ..Volume::default()
        },
    ];
    // A tracker's clone cache: its claim, labelled so one pod at a time mounts it.
    if let Some(cache) = inputs.clone_cache {
        env.push(self::env(CLONE_CACHE_ENV, CLONE_CACHE_MOUNT_PATH));
        labels.insert(labels::CLONE_CACHE.to_owned(), cache.label.clone());
        volume_mounts.push(VolumeMount {
            name: "clone-cache".to_owned(),
            mount_path: CLONE_CACHE_MOUNT_PATH.to_owned(),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: "clone-cache".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: cache.name.clone(),
                read_only: Some(false),
            }),
            ..Volume::default()
        });
    }
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(pod_name.clone()),
            namespace: an.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner(an)?]),
            finalizers: Some(vec![labels::POD_FINALIZER.to_owned()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".to_owned()),
            active_deadline_seconds: Some(inputs.deadline_seconds),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(inputs.settings.runner_uid),
                run_as_group: Some(inputs.settings.runner_uid),
                fs_group: Some(inputs.settings.runner_uid),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: RUNNER_CONTAINER.to_owned(),
                image: Some(inputs.resolved.runner_image.clone()),
                image_pull_policy: inputs.profile.runner.image_pull_policy.map(|p| {
                    match p {
                        PullPolicy::Always => "Always",
                        PullPolicy::IfNotPresent => "IfNotPresent",
                        PullPolicy::Never => "Never",
                    }
                    .to_owned()
                }),
                args: Some(vec!["run".to_owned()]),
                env: Some(env),
                resources: inputs.resources.clone(),
                termination_message_path: Some("/dev/termination-log".to_owned()),
                termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    privileged: Some(false),
                    read_only_root_filesystem: Some(true),
                    run_as_non_root: Some(true),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".to_owned()]),
                        add: None,
                    }),
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".to_owned(),
                        ..SeccompProfile::default()
                    }),
                    ..SecurityContext::default()
                }),
                volume_mounts: Some(volume_mounts),
                ..Container::default()
            }],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        status: None,
    })
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::token::TokenSigner;
    use gitview_core::token::TokenClaims;

    #[test]
    fn the_runner_pod_meets_the_restricted_profile_field_by_field() {
        let an = analysis("demo");
        let pod = crate::fixtures::runner_pod(&an, 1);
        let spec = pod.spec.as_ref().unwrap();
        let psc = spec.security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert!(psc.run_as_user.is_some_and(|u| u > 0), "non-zero UID");
        assert!(psc.run_as_group.is_some_and(|g| g > 0));
        assert_eq!(
            psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
            Some("RuntimeDefault")
        );
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(3600));
        assert!(spec.host_network.is_none() && spec.host_pid.is_none() && spec.host_ipc.is_none());
        assert_eq!(spec.containers.len(), 1);
        assert!(spec.init_containers.is_none() && spec.ephemeral_containers.is_none());
        let c = &spec.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert!(caps.add.is_none());
        assert!(c.ports.is_none(), "no host ports");

        // Volumes: only the Secret (read-only) and a size-limited emptyDir.
        let volumes = spec.volumes.as_ref().unwrap();
        assert_eq!(volumes.len(), 2);
        for v in volumes {
            assert!(v.host_path.is_none());
            assert!(v.secret.is_some() || v.empty_dir.is_some(), "{v:?}");
        }
        let secret_volume = volumes.iter().find_map(|v| v.secret.as_ref()).unwrap();
        assert_eq!(
            secret_volume.secret_name.as_deref(),
            pod.metadata.name.as_deref()
        );
        let scratch = volumes.iter().find_map(|v| v.empty_dir.as_ref()).unwrap();
        assert_eq!(
            scratch.size_limit.as_ref().map(|q| q.0.as_str()),
            Some("2Gi")
        );
        let mounts = c.volume_mounts.as_ref().unwrap();
        let run_mount = mounts.iter().find(|m| m.name == "run").unwrap();
        assert_eq!(
            (run_mount.mount_path.as_str(), run_mount.read_only),
            (RUN_SECRET_MOUNT_PATH, Some(true))
        );

        // Ownership, finalizer and labels.
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller, owner.uid.as_str()),
            ("Analysis", Some(true), "0000demo-uid")
        );
        assert_eq!(
            pod.metadata.finalizers.as_deref(),
            Some(&[labels::POD_FINALIZER.to_owned()][..])
        );
        let pod_labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(
            pod_labels.get(labels::ANALYSIS_UID).map(String::as_str),
            Some("0000demo-uid")
        );
        assert_eq!(
            pod_labels.get(labels::ATTEMPT).map(String::as_str),
            Some("1")
        );
        assert_eq!(
            pod_labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some(labels::MANAGED_BY)
        );
    }

    #[test]
    fn a_trackers_clone_cache_is_mounted_and_labelled_when_claimed() {
        let an = analysis("demo");
        let settings = Settings::default();
        let (profile, resolved) = (profile(), resolved());
        let claimed = crate::clone_cache::Claimed::for_test("repo-clone-cache", "tracker-uid");
        use super::runner_pod as build_pod;
        let pod = build_pod(&AttemptInputs {
            analysis: &an,
            attempt: 1,
            resolved: &resolved,
            profile: &profile.spec,
            deadline_seconds: 60,
            resources: None,
            settings: &settings,
            clone_cache: Some(&claimed),
        })
        .unwrap();
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()[labels::CLONE_CACHE],
            "tracker-uid"
        );
        let spec = pod.spec.unwrap();
        let claim = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find_map(|v| v.persistent_volume_claim.as_ref())
            .unwrap();
        assert_eq!(claim.claim_name, "repo-clone-cache");
        let c = &spec.containers[0];
        assert!(
            c.volume_mounts
                .as_ref()
                .unwrap()
                .iter()
                .any(|m| m.name == "clone-cache"
                    && m.mount_path == CLONE_CACHE_MOUNT_PATH
                    && m.read_only.is_none())
        );
        assert!(c.env.as_ref().unwrap().iter().any(
            |e| e.name == CLONE_CACHE_ENV && e.value.as_deref() == Some(CLONE_CACHE_MOUNT_PATH)
        ));
        // Everything else is as restricted as without it.
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(spec.automount_service_account_token, Some(false));
    }

    #[test]
    fn the_secret_holds_the_run_config_the_token_and_copied_credentials() {
        let an = analysis("demo")
            .with_spec(serde_json::json!({"mode": {"type": "Range", "since": "v1"}}));
        let settings = Settings {
            gateway_url: "https://gw.example".into(),
            ..Settings::default()
        };
        let profile = profile();
        let resolved = resolved();
        let inputs = AttemptInputs {
            analysis: &an,
            attempt: 3,
            resolved: &resolved,
            profile: &profile.spec,
            deadline_seconds: 600,
            resources: None,
            settings: &settings,
            clone_cache: None,
        };
        let deadline = at(600);
        let config = run_config(&inputs, "acct-1", true, deadline).unwrap();
        assert_eq!(config.account, "acct-1");
        assert_eq!(config.attempt, 3);
        assert_eq!(config.analysis.uid, "0000demo-uid");
        assert_eq!(config.repository.git_ref.as_deref(), Some("main"));
        assert_eq!(config.mode.since.as_deref(), Some("v1"));
        assert_eq!(config.gateway_url, "https://gw.example");
        assert!(config.scrub_pii);
        assert_eq!(config.deadline, deadline.to_string());

        let (private, _) = crate::token::tests::test_key_pair();
        let signer = TokenSigner::from_pem(private.as_bytes(), None).unwrap();
        let token = signer
            .sign(&TokenClaims::runner(
                "acct-1",
                "0000demo-uid",
                3,
                at(0),
                at(720),
            ))
            .unwrap();
        let creds = BTreeMap::from([(
            wire::keys::GIT_TOKEN.to_owned(),
            ByteString(b"s3cret".to_vec()),
        )]);
        let secret = run_secret(&inputs, &config, &token, creds, at(720)).unwrap();
        let data = secret.data.as_ref().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                wire::keys::GIT_TOKEN,
                wire::keys::RUN_CONFIG,
                wire::keys::TOKEN
            ]
        );
        let back: RunConfig = serde_json::from_slice(&data[wire::keys::RUN_CONFIG].0).unwrap();
        assert_eq!(back, config);
        assert_eq!(secret.immutable, Some(true));
        assert_eq!(
            secret.metadata.annotations.as_ref().unwrap()[labels::EXPIRES_AT],
            at(720).to_string()
        );
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap()[labels::SECRET_ROLE],
            labels::SECRET_ROLE_RUN
        );
        assert_eq!(
            secret.metadata.owner_references.as_ref().unwrap()[0].uid,
            "0000demo-uid"
        );
        assert_eq!(
            secret.metadata.name,
            Some(attempt_name("demo", "0000demo-uid", 3))
        );
    }

    #[test]
    fn the_run_config_carries_the_model_budget_prices_and_critical_mode() {
        use gitview_crds::v1alpha1::{CriticalSettings, ModelBudget, ModelPrice, SummarizerKind};
        let an = analysis("demo");
        let settings = Settings::default();
        let mut profile = profile();
        let summarize = &mut profile.spec.stages.summarize;
        summarize.summarizer = SummarizerKind::AnthropicMessages;
        summarize.model = Some("claude-sonnet-4-5".into());
        summarize.budget = Some(ModelBudget::Minimal);
        summarize.prices = vec![ModelPrice {
            model: "claude-sonnet-4-5".into(),
            input_per_million_tokens: "3".into(),
            output_per_million_tokens: "15".into(),
            currency: "USD".into(),
        }];
        summarize.critical = Some(CriticalSettings {
            goals: vec!["Monthly releases".into()],
            directives: Some("Be blunt.".into()),
        });
        let resolved = resolved();
        let inputs = AttemptInputs {
            analysis: &an,
            attempt: 1,
            resolved: &resolved,
            profile: &profile.spec,
            deadline_seconds: 600,
            resources: None,
            settings: &settings,
            clone_cache: None,
        };
        let config = run_config(&inputs, "acct-1", false, at(600)).unwrap();
        let carried = &config.profile.stages.summarize;
        assert_eq!(carried.budget, Some(ModelBudget::Minimal));
        assert_eq!(carried.prices, profile.spec.stages.summarize.prices);
        assert_eq!(carried.critical, profile.spec.stages.summarize.critical);
        // As the runner reads it from the Secret.
        let json = serde_json::to_value(&config).unwrap();
        let stage = &json["profile"]["stages"]["summarize"];
        assert_eq!(stage["budget"], "Minimal");
        assert_eq!(stage["prices"][0]["inputPerMillionTokens"], "3");
        assert_eq!(stage["critical"]["goals"][0], "Monthly releases");
        // An Analysis no tracker made says so by leaving the field out.
        assert_eq!(config.analysis.tracker, None);
        assert!(json["analysis"].get("tracker").is_none(), "{json}");
    }

    #[test]
    fn the_run_config_names_the_tracker_that_made_the_analysis() {
        let mut an = analysis("demo");
        an.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(labels::TRACKER.to_owned(), "kube-main".to_owned());
        let (settings, profile, resolved) = (Settings::default(), profile(), resolved());
        let inputs = AttemptInputs {
            analysis: &an,
            attempt: 1,
            resolved: &resolved,
            profile: &profile.spec,
            deadline_seconds: 600,
            resources: None,
            settings: &settings,
            clone_cache: None,
        };
        let config = run_config(&inputs, "acct-1", false, at(600)).unwrap();
        assert_eq!(config.analysis.tracker.as_deref(), Some("kube-main"));
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["analysis"]["tracker"], "kube-main");
    }
}
