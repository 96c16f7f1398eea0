//! Unit tests of the pure parts: image matching, environment, plan, launch script, statuses
//! and the watcher's decisions. No cluster, no mounts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::watch;

use super::spec::{self, ConfigError, HostPaths, Sources, Tools, VolumeContent};
use super::status::{self, Container, DEADLINE, InitState, Terminated};
use super::{Action, Entry, Signal, decide};

/// The operator's runner pod, as `operator/src/analysis/build.rs` builds it.
fn runner_pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "an-1234abcd-a1", "namespace": "team", "uid": "uid-1", "generation": 1,
                     "labels": {"app": "runner"}, "finalizers": ["gitview.dev/record-outcome"]},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 600,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
            "containers": [{
                "name": "runner",
                "image": "ghcr.io/gitview/gitview-runner:v0.1.0",
                "args": ["run"],
                "env": [
                    {"name": "GITVIEW_RUN_DIR", "value": "/var/run/secrets/gitview"},
                    {"name": "GITVIEW_SCRATCH", "value": "/scratch"},
                    {"name": "TMPDIR", "value": "/scratch/tmp"},
                    {"name": "HOME", "value": "/scratch/home"}
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "runAsNonRoot": true},
                "volumeMounts": [
                    {"name": "scratch", "mountPath": "/scratch"},
                    {"name": "run", "mountPath": "/var/run/secrets/gitview", "readOnly": true}
                ]
            }],
            "volumes": [
                {"name": "run", "secret": {"secretName": "an-1234abcd-a1", "defaultMode": 0o440, "optional": false}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}
            ]
        }
    }))
    .unwrap()
}

fn with_container(patch: serde_json::Value) -> Pod {
    let mut value = serde_json::to_value(runner_pod()).unwrap();
    let container = &mut value["spec"]["containers"][0];
    for (k, v) in patch.as_object().unwrap() {
        container[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn images() -> Vec<(String, PathBuf)> {
    vec![
        ("gitview-runner".to_owned(), "/bin/runner".into()),
        ("ok".to_owned(), "/bin/ok".into()),
        ("e2e-ok".to_owned(), "/bin/e2e-ok".into()),
    ]
}

fn sources() -> Sources {
    let mut sources = Sources::default();
    sources.secrets.insert(
        "an-1234abcd-a1".to_owned(),
        BTreeMap::from([
            ("run.json".to_owned(), b"{}".to_vec()),
            ("token".to_owned(), b"t0k".to_vec()),
        ]),
    );
    sources
}

#[test]
fn image_repository_strips_tag_and_digest_but_not_a_registry_port() {
    assert_eq!(
        spec::image_repository("ghcr.io/gitview/gitview-runner:v0.1.0"),
        "ghcr.io/gitview/gitview-runner"
    );
    assert_eq!(
        spec::image_repository("localhost:5000/runner"),
        "localhost:5000/runner"
    );
    assert_eq!(
        spec::image_repository("localhost:5000/runner:1@sha256:abc"),
        "localhost:5000/runner"
    );
    assert_eq!(spec::image_repository("runner@sha256:abc"), "runner");
    assert_eq!(spec::image_repository("runner"), "runner");
}

#[test]
fn images_resolve_by_the_longest_matching_suffix() {
    let images = images();
    assert_eq!(
        spec::resolve_image(&images, "ghcr.io/gitview/gitview-runner:v0.1.0"),
        Some(0)
    );
    assert_eq!(spec::resolve_image(&images, "e2e.local/e2e-ok:1"), Some(2));
    assert_eq!(spec::resolve_image(&images, "e2e.local/ok"), Some(1));
    assert_eq!(spec::resolve_image(&images, "e2e.local/e2e-ok-not:1"), None);
    // The tag is not part of the repository.
    assert_eq!(spec::resolve_image(&images, "e2e.local/other:ok"), None);
}

#[test]
fn expansion_follows_kubernetes() {
    let lookup = |name: &str| (name == "A").then(|| "x".to_owned());
    assert_eq!(spec::expand("$(A)/$(B)", lookup), "x/$(B)");
    assert_eq!(spec::expand("$$(A) $$ $", lookup), "$(A) $ $");
    assert_eq!(spec::expand("$(A", lookup), "$(A");
    assert_eq!(spec::expand("pre$(A)post", lookup), "prexpost");
}

#[test]
fn the_runner_pod_plans_like_a_kubelet_would_run_it() {
    let plan = spec::plan(
        &runner_pod(),
        "node-1",
        &images(),
        &sources(),
        &[("HOOK".to_owned(), "1".to_owned())],
    )
    .unwrap();
    assert_eq!(plan.image, 0);
    assert_eq!(
        (plan.command.as_ref(), plan.args.as_slice()),
        (None, ["run".to_owned()].as_slice())
    );
    assert_eq!(
        plan.identity,
        spec::Identity {
            uid: 65532,
            gid: 65532,
            groups: vec![65532],
            fs_group: Some(65532),
            no_new_privs: true
        }
    );
    assert!(plan.read_only_root && plan.fallback_to_logs);
    assert_eq!(plan.termination_path, "/dev/termination-log");
    // Parents before children; order of declaration otherwise.
    let targets: Vec<&str> = plan.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, ["/scratch", "/var/run/secrets/gitview"]);
    assert!(plan.mounts[1].read_only && !plan.mounts[0].read_only);
    let run = &plan.volumes.iter().find(|(n, _)| n == "run").unwrap().1;
    let VolumeContent::Files { files, group } = run else {
        panic!("{run:?}")
    };
    assert_eq!(*group, Some(65532));
    assert_eq!(
        files
            .iter()
            .map(|f| (f.path.as_str(), f.mode))
            .collect::<Vec<_>>(),
        [("run.json", 0o440), ("token", 0o440)]
    );
    assert_eq!(
        plan.volumes.iter().find(|(n, _)| n == "scratch").unwrap().1,
        VolumeContent::EmptyDir {
            uid: 65532,
            gid: 65532
        }
    );
    let env: BTreeMap<_, _> = plan.env.iter().cloned().collect();
    assert_eq!(env["GITVIEW_RUN_DIR"], "/var/run/secrets/gitview");
    assert_eq!(env["HOOK"], "1");
    assert_eq!(env["HOSTNAME"], "an-1234abcd-a1");
    assert!(env["PATH"].contains("/usr/bin"));
}

#[test]
fn a_missing_secret_waits_in_container_creating() {
    let err = spec::plan(&runner_pod(), "n", &images(), &Sources::default(), &[]).unwrap_err();
    assert_eq!(err.waiting_reason(3), "ContainerCreating");
    assert_eq!(
        err.to_string(),
        r#"MountVolume.SetUp failed for volume "run" : secret "an-1234abcd-a1" not found"#
    );
}

#[test]
fn an_unknown_image_is_err_image_pull_then_back_off() {
    let pod = with_container(json!({"image": "docker.io/library/nginx:1"}));
    let err = spec::plan(&pod, "n", &images(), &sources(), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownImage(_)));
    assert_eq!(
        (err.waiting_reason(0), err.waiting_reason(1)),
        ("ErrImagePull", "ImagePullBackOff")
    );
}

#[test]
fn run_as_non_root_refuses_uid_0() {
    let mut value = serde_json::to_value(runner_pod()).unwrap();
    value["spec"]["securityContext"]["runAsUser"] = json!(0);
    let pod: Pod = serde_json::from_value(value).unwrap();
    let err = spec::plan(&pod, "n", &images(), &sources(), &[]).unwrap_err();
    assert_eq!(
        (err, err_reason(&pod)),
        (ConfigError::RunAsRoot, "CreateContainerConfigError")
    );
}

fn err_reason(pod: &Pod) -> &'static str {
    spec::plan(pod, "n", &images(), &sources(), &[])
        .unwrap_err()
        .waiting_reason(0)
}

#[test]
fn env_sources_secret_key_ref_field_ref_env_from_and_order() {
    let pod = with_container(json!({
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "an-1234abcd-a1", "key": "token"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}},
            {"name": "FROM_CM", "value": "$(C_one)-$(NAME)"},
            {"name": "TOKEN", "value": "overridden"}
        ],
        "envFrom": [{"prefix": "C_", "configMapRef": {"name": "cm"}}]
    }));
    let mut sources = sources();
    sources.config_maps.insert(
        "cm".to_owned(),
        BTreeMap::from([("one".to_owned(), b"1".to_vec())]),
    );
    let plan = spec::plan(
        &pod,
        "node-1",
        &images(),
        &sources,
        &[("NODE".to_owned(), "extra wins".to_owned())],
    )
    .unwrap();
    let names: Vec<&str> = plan.env.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "C_one", "TOKEN", "NAME", "NS", "UID", "NODE", "IP", "APP", "FROM_CM", "PATH",
            "HOSTNAME"
        ]
    );
    let env: BTreeMap<_, _> = plan.env.iter().cloned().collect();
    assert_eq!(env["TOKEN"], "overridden");
    assert_eq!(
        (
            env["NAME"].as_str(),
            env["NS"].as_str(),
            env["UID"].as_str()
        ),
        ("an-1234abcd-a1", "team", "uid-1")
    );
    assert_eq!(
        (
            env["NODE"].as_str(),
            env["IP"].as_str(),
            env["APP"].as_str()
        ),
        ("extra wins", "127.0.0.1", "runner")
    );
    assert_eq!(env["FROM_CM"], "1-an-1234abcd-a1");
}

#[test]
fn a_missing_secret_key_is_a_config_error() {
    let pod = with_container(
        json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "an-1234abcd-a1", "key": "nope"}}}]}),
    );
    let err = spec::plan(&pod, "n", &images(), &sources(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "couldn't find key nope in Secret team/an-1234abcd-a1"
    );
    assert_eq!(err.waiting_reason(0), "CreateContainerConfigError");
}

#[test]
fn secret_items_pick_keys_with_their_modes() {
    let mut value = serde_json::to_value(runner_pod()).unwrap();
    value["spec"]["volumes"][0]["secret"]["items"] = json!([{"key": "token", "path": "sub/tok", "mode": 0o400}, {"key": "run.json", "path": "run.json"}]);
    let pod: Pod = serde_json::from_value(value).unwrap();
    let plan = spec::plan(&pod, "n", &images(), &sources(), &[]).unwrap();
    let VolumeContent::Files { files, .. } =
        &plan.volumes.iter().find(|(n, _)| n == "run").unwrap().1
    else {
        panic!()
    };
    assert_eq!(
        files
            .iter()
            .map(|f| (f.path.as_str(), f.mode, f.data.as_slice()))
            .collect::<Vec<_>>(),
        [
            ("sub/tok", 0o400, b"t0k".as_slice()),
            ("run.json", 0o440, b"{}".as_slice())
        ]
    );
}

#[test]
fn command_replaces_the_binary_and_args_expand() {
    let pod = with_container(json!({"command": ["/bin/sh", "-c"], "args": ["echo $(HOME) '$x'"]}));
    let plan = spec::plan(&pod, "n", &images(), &sources(), &[]).unwrap();
    assert_eq!(
        plan.command.as_deref(),
        Some(["/bin/sh".to_owned(), "-c".to_owned()].as_slice())
    );
    assert_eq!(plan.args, ["echo /scratch/home '$x'"]);
}

#[test]
fn shell_quoting_round_trips_through_sh() {
    for word in [
        "plain",
        "it's",
        "a b",
        "$(rm -rf /)",
        "`x`",
        "\"q\"",
        "",
        "\\n",
        "'",
    ] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", spec::sh_quote(word)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
    }
}

fn tools() -> Tools {
    Tools {
        unshare: "/usr/bin/unshare".into(),
        sh: "/bin/sh".into(),
        mount: "/bin/mount".into(),
        mkdir: "/bin/mkdir".into(),
        setpriv: "/usr/bin/setpriv".into(),
        kill: "/bin/kill".into(),
    }
}

#[test]
fn the_launch_script_binds_volumes_then_drops_privileges() {
    let plan = spec::plan(&runner_pod(), "n", &images(), &sources(), &[]).unwrap();
    let paths = HostPaths {
        root: "/w".into(),
        volumes: BTreeMap::from([
            ("run".to_owned(), "/w/uid 1/volumes/run".into()),
            ("scratch".to_owned(), "/w/uid 1/volumes/scratch".into()),
        ]),
        termination_file: "/w/uid 1/termination-log".into(),
        binary: "/w/bin/0-gitview-runner".into(),
        hosts_file: Some("/w/uid 1/hosts".into()),
        passwd_file: None,
    };
    let args = spec::launch_args(&plan, &paths, &tools());
    assert_eq!(
        &args[..6],
        ["-m", "--propagation", "private", "--", "/bin/sh", "-c"]
    );
    assert_eq!(
        &args[7..],
        ["sh", "/.gitview-node/bin/0-gitview-runner", "run"]
    );
    let script = &args[6];
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines,
        [
            "set -e",
            "'/bin/mkdir' -p /.gitview-node",
            "'/bin/mount' --bind '/w' /.gitview-node",
            "'/bin/mkdir' -p '/scratch'",
            "'/bin/mount' --bind '/.gitview-node/uid 1/volumes/scratch' '/scratch'",
            "'/bin/mkdir' -p '/var/run/secrets/gitview'",
            "'/bin/mount' --bind '/.gitview-node/uid 1/volumes/run' '/var/run/secrets/gitview'",
            "'/bin/mount' -o remount,bind,ro '/var/run/secrets/gitview'",
            "'/bin/mkdir' -p '/dev'",
            "[ -e '/dev/termination-log' ] || : > '/dev/termination-log'",
            "'/bin/mount' --bind '/.gitview-node/uid 1/termination-log' '/dev/termination-log'",
            "'/bin/mount' --bind '/.gitview-node/uid 1/hosts' /etc/hosts",
            "'/bin/mount' -o remount,bind,ro /etc/hosts",
            "'/bin/mount' -o remount,bind,ro /",
            "cd /",
            "exec '/usr/bin/setpriv' --reuid 65532 --regid 65532 --groups 65532 --inh-caps -all --bounding-set -all --pdeathsig KILL --no-new-privs -- \"$@\"",
        ]
    );
    let syntax = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .status()
        .unwrap();
    assert!(syntax.success());
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn cond<'a>(
    status: &'a k8s_openapi::api::core::v1::PodStatus,
    type_: &str,
) -> &'a k8s_openapi::api::core::v1::PodCondition {
    status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap()
}

#[test]
fn statuses_go_pending_running_succeeded() {
    let pod = runner_pod();
    let waiting = Container::Waiting {
        reason: "ContainerCreating".to_owned(),
        message: None,
    };
    let pending = status::pod_status(&pod, at(0), None, &waiting, None, &[], at(0));
    assert_eq!(pending.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&pending, "Ready").status, "False");
    assert_eq!(
        cond(&pending, "Ready").message.as_deref(),
        Some("containers with unready status: [runner]")
    );
    assert_eq!(pending.start_time.as_ref().map(|t| t.0), Some(at(0)));

    let running = Container::Running {
        started_at: at(2),
        container_id: "local://uid-1/7".to_owned(),
    };
    let run = status::pod_status(
        &pod,
        at(0),
        Some("local://img"),
        &running,
        None,
        pending.conditions.as_ref().unwrap(),
        at(2),
    );
    assert_eq!(run.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&run, "Ready").status, "True");
    assert_eq!(
        cond(&run, "Ready")
            .last_transition_time
            .as_ref()
            .map(|t| t.0),
        Some(at(2))
    );
    // Unchanged conditions keep their transition time.
    assert_eq!(
        cond(&run, "PodScheduled")
            .last_transition_time
            .as_ref()
            .map(|t| t.0),
        Some(at(0))
    );
    let cs = &run.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        (cs.name.as_str(), cs.ready, cs.started, cs.image.as_str()),
        (
            "runner",
            true,
            Some(true),
            "ghcr.io/gitview/gitview-runner:v0.1.0"
        )
    );
    assert_eq!(
        (run.pod_ip.as_deref(), run.host_ip.as_deref()),
        (Some("127.0.0.1"), Some("127.0.0.1"))
    );

    let done = Terminated::exited(
        0,
        None,
        Some("ok".to_owned()),
        at(2),
        at(5),
        "local://uid-1/7".to_owned(),
    );
    let finished = status::pod_status(
        &pod,
        at(0),
        None,
        &Container::Terminated(done),
        None,
        run.conditions.as_ref().unwrap(),
        at(5),
    );
    assert_eq!(finished.phase.as_deref(), Some("Succeeded"));
    assert_eq!(
        cond(&finished, "Ready").reason.as_deref(),
        Some("PodCompleted")
    );
    let t = finished.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref(), t.message.as_deref()),
        (0, Some("Completed"), Some("ok"))
    );
    assert_eq!(
        (t.started_at.map(|t| t.0), t.finished_at.map(|t| t.0)),
        (Some(at(2)), Some(at(5)))
    );
    assert!(finished.reason.is_none());
}

#[test]
fn a_non_zero_exit_fails_and_the_deadline_says_why() {
    let pod = runner_pod();
    let error = Container::Terminated(Terminated::exited(
        3,
        None,
        None,
        at(1),
        at(2),
        "c".to_owned(),
    ));
    let failed = status::pod_status(&pod, at(0), None, &error, None, &[], at(2));
    assert_eq!(failed.phase.as_deref(), Some("Failed"));
    let t = failed.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.reason.as_deref(), Some("Error"));

    let killed = Container::Terminated(Terminated::exited(
        143,
        Some(15),
        None,
        at(1),
        at(9),
        "c".to_owned(),
    ));
    let deadline = status::pod_status(&pod, at(0), None, &killed, Some(DEADLINE), &[], at(9));
    assert_eq!(deadline.phase.as_deref(), Some("Failed"));
    assert_eq!(deadline.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        deadline.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    // Even an exit 0 after the deadline is a failure.
    let zero = Container::Terminated(Terminated::exited(
        0,
        None,
        None,
        at(1),
        at(9),
        "c".to_owned(),
    ));
    assert_eq!(status::phase(&zero, Some(DEADLINE)), "Failed");
}

#[test]
fn termination_messages_prefer_the_file_then_fall_back_to_the_log_tail() {
    assert_eq!(
        status::termination_message(b"  done\n", b"log", true, 3).as_deref(),
        Some("done")
    );
    assert_eq!(
        status::termination_message(b"", b"a\nlast\n", true, 3).as_deref(),
        Some("a\nlast")
    );
    assert_eq!(
        status::termination_message(b"", b"a\nlast\n", true, 0),
        None
    );
    assert_eq!(
        status::termination_message(b"", b"a\nlast\n", false, 3),
        None
    );
    let long = vec![b'x'; 10_000];
    assert_eq!(
        status::termination_message(&long, b"", true, 1)
            .unwrap()
            .len(),
        4096
    );

    let many: String = (0..200).map(|i| format!("line {i}\n")).collect();
    let tail = status::log_tail(many.as_bytes());
    assert_eq!(tail.lines().count(), 80);
    assert!(tail.starts_with("line 120\n") && tail.ends_with("line 199"));
    let wide: String = (0..50).map(|i| format!("{i:>100}\n")).collect();
    assert!(status::log_tail(wide.as_bytes()).len() <= 2048);
    // A cut through a multi-byte character does not produce garbage at the front.
    let utf8 = "é".repeat(2000);
    let tail = status::log_tail(utf8.as_bytes());
    assert!(tail.chars().all(|c| c == 'é') && tail.len() <= 2048);
}

fn pod_on(node: Option<&str>, phase: Option<&str>, deletion_grace: Option<i64>) -> Pod {
    let mut pod = runner_pod();
    pod.spec.as_mut().unwrap().node_name = node.map(str::to_owned);
    if let Some(phase) = phase {
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some(phase.to_owned()),
            ..Default::default()
        });
    }
    if let Some(grace) = deletion_grace {
        pod.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(0)));
        pod.metadata.deletion_grace_period_seconds = Some(grace);
    }
    pod
}

#[test]
fn the_watcher_binds_starts_once_forwards_deletion_and_confirms_once() {
    let mut pods = HashMap::new();
    assert_eq!(
        decide(&mut pods, "me", &pod_on(None, None, None)),
        Action::Bind
    );
    // An unbound pod being deleted is the API server's business (grace 0 already).
    assert_eq!(
        decide(&mut pods, "me", &pod_on(None, None, Some(0))),
        Action::None
    );
    assert_eq!(
        decide(&mut pods, "me", &pod_on(Some("other"), None, None)),
        Action::None
    );
    assert_eq!(
        decide(&mut pods, "me", &pod_on(Some("me"), Some("Pending"), None)),
        Action::Start
    );

    let (sender, receiver) = watch::channel(Signal::default());
    pods.insert(
        "uid-1".to_owned(),
        Entry::Active {
            key: "team/x".to_owned(),
            signal: sender,
            pid: Some(7),
        },
    );
    assert_eq!(
        decide(&mut pods, "me", &pod_on(Some("me"), Some("Running"), None)),
        Action::Forwarded
    );
    assert!(!receiver.has_changed().unwrap());
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Running"), Some(30))
        ),
        Action::Forwarded
    );
    assert_eq!(
        *receiver.borrow(),
        Signal {
            deleting: Some(Duration::from_secs(30)),
            gone: false
        }
    );

    // Finished: a later deletion is confirmed once; grace 0 needs nothing.
    pods.insert(
        "uid-1".to_owned(),
        Entry::Finished {
            deletion_confirmed: false,
        },
    );
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Succeeded"), Some(0))
        ),
        Action::None
    );
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Running"), Some(30))
        ),
        Action::ConfirmDeletion
    );
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Running"), Some(30))
        ),
        Action::None
    );
}

#[test]
fn pods_seen_first_terminal_or_deleted_are_never_started() {
    let mut pods = HashMap::new();
    assert_eq!(
        decide(&mut pods, "me", &pod_on(Some("me"), Some("Failed"), None)),
        Action::None
    );
    assert_eq!(
        decide(&mut pods, "me", &pod_on(Some("me"), Some("Failed"), None)),
        Action::None
    );
    let mut pods = HashMap::new();
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Pending"), Some(30))
        ),
        Action::ConfirmDeletion
    );
    assert_eq!(
        decide(
            &mut pods,
            "me",
            &pod_on(Some("me"), Some("Pending"), Some(30))
        ),
        Action::None
    );
}

#[test]
fn node_and_lease_objects() {
    let node = super::node::node_status("n1", at(0), at(10));
    let status = node.status.unwrap();
    let ready = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (
            ready.status.as_str(),
            ready.last_transition_time.as_ref().map(|t| t.0)
        ),
        ("True", Some(at(0)))
    );
    let capacity = status.capacity.unwrap();
    assert_eq!(
        (
            capacity["cpu"].0.as_str(),
            capacity["memory"].0.as_str(),
            capacity["pods"].0.as_str()
        ),
        ("2", "8Gi", "1000")
    );
    let lease = super::node::lease("n1", "node-uid", at(10));
    assert_eq!(lease.metadata.namespace.as_deref(), Some("kube-node-lease"));
    assert_eq!(lease.spec.unwrap().renew_time.map(|t| t.0), Some(at(10)));
}

/// The chart's operator pod as the API server stores it: the ServiceAccount admission plugin
/// injected the `kube-api-access-*` projected volume.
fn in_cluster_pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "gv-operator-1", "namespace": "gitview", "uid": "uid-2"},
        "spec": {
            "serviceAccountName": "gv-operator",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
            "hostAliases": [{"ip": "192.0.2.1", "hostnames": ["git.internal"]}],
            "initContainers": [{
                "name": "migrate", "image": "e2e.local/gitview-runner:1", "args": ["migrate"],
                "env": [{"name": "FROM_INIT", "valueFrom": {"secretKeyRef": {"name": "init-only", "key": "k"}}}]
            }],
            "containers": [{
                "name": "operator", "image": "e2e.local/gitview-runner:1",
                "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
            }],
            "volumes": [{"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]}}]
        }
    }))
    .unwrap()
}

#[test]
fn projected_service_account_volumes_are_referenced_and_written() {
    let pod = in_cluster_pod();
    let referenced = spec::referenced_sources(pod.spec.as_ref().unwrap());
    assert!(referenced.config_maps.contains("kube-root-ca.crt"));
    // Init containers' references count too.
    assert!(referenced.secrets.contains("init-only"));
    assert_eq!(
        referenced.token_audiences,
        BTreeMap::from([(String::new(), 3607)])
    );

    let mut sources = Sources::default();
    sources.config_maps.insert(
        "kube-root-ca.crt".to_owned(),
        BTreeMap::from([("ca.crt".to_owned(), b"PEM".to_vec())]),
    );
    sources.tokens.insert(String::new(), "jwt".to_owned());
    let container = &pod.spec.as_ref().unwrap().containers[0];
    let plan = spec::plan_container(&pod, container, "n", &images(), &sources, &[]).unwrap();
    let VolumeContent::Files { files, group } = &plan.volumes[0].1 else {
        panic!("{:?}", plan.volumes)
    };
    assert_eq!(*group, Some(65532));
    let by_path: BTreeMap<&str, (&[u8], u32)> = files
        .iter()
        .map(|f| (f.path.as_str(), (f.data.as_slice(), f.mode)))
        .collect();
    assert_eq!(by_path["token"], (&b"jwt"[..], 0o644));
    assert_eq!(by_path["ca.crt"], (&b"PEM"[..], 0o644));
    assert_eq!(by_path["namespace"], (&b"gitview"[..], 0o644));

    // Without its token (or the CA ConfigMap) the volume cannot be set up yet.
    let err = spec::plan_container(&pod, container, "n", &images(), &Sources::default(), &[])
        .unwrap_err();
    assert_eq!(err.waiting_reason(0), "ContainerCreating", "{err}");
}

#[test]
fn the_hosts_file_names_the_pod_its_aliases_and_every_service() {
    let hosts = spec::hosts_file(
        &in_cluster_pod(),
        &[
            ("gitview".to_owned(), "gv-gateway".to_owned()),
            ("other".to_owned(), "db".to_owned()),
        ],
    );
    let lines: Vec<&str> = hosts.lines().collect();
    assert!(lines.contains(&"127.0.0.1\tlocalhost"), "{hosts}");
    assert!(lines.contains(&"127.0.0.1\tgv-operator-1"), "{hosts}");
    assert!(lines.contains(&"192.0.2.1\tgit.internal"), "{hosts}");
    // The short name only resolves in the pod's own namespace, as with cluster DNS.
    assert!(lines.contains(&"127.0.0.1\tgv-gateway.gitview.svc.cluster.local gv-gateway.gitview.svc gv-gateway.gitview gv-gateway"), "{hosts}");
    assert!(
        lines.contains(&"127.0.0.1\tdb.other.svc.cluster.local db.other.svc db.other"),
        "{hosts}"
    );
}

#[test]
fn init_containers_hold_the_pod_in_pending_then_a_failure_fails_it() {
    let pod = in_cluster_pod();
    let init = |state: Container| {
        vec![InitState {
            name: "migrate".to_owned(),
            image: "img".to_owned(),
            image_id: None,
            state,
        }]
    };
    let waiting = Container::Waiting {
        reason: "PodInitializing".to_owned(),
        message: None,
    };
    let running = Container::Running {
        started_at: at(1),
        container_id: "c".to_owned(),
    };

    let initializing = status::pod_status_with_init(
        &pod,
        at(0),
        None,
        &waiting,
        None,
        &[],
        at(1),
        &init(running),
    );
    assert_eq!(initializing.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&initializing, "Initialized").status, "False");
    assert_eq!(
        cond(&initializing, "Initialized").message.as_deref(),
        Some("containers with incomplete status: [migrate]")
    );
    let is = &initializing.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        (is.name.as_str(), is.ready, is.started),
        ("migrate", false, Some(true))
    );

    let done = Container::Terminated(Terminated::exited(
        0,
        None,
        None,
        at(1),
        at(2),
        "c".to_owned(),
    ));
    let main = Container::Running {
        started_at: at(3),
        container_id: "m".to_owned(),
    };
    let running = status::pod_status_with_init(
        &pod,
        at(0),
        None,
        &main,
        None,
        initializing.conditions.as_ref().unwrap(),
        at(3),
        &init(done),
    );
    assert_eq!(running.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&running, "Initialized").status, "True");
    assert!(running.init_container_statuses.as_ref().unwrap()[0].ready);

    let failed = Container::Terminated(Terminated::exited(
        1,
        None,
        None,
        at(1),
        at(2),
        "c".to_owned(),
    ));
    let status =
        status::pod_status_with_init(&pod, at(0), None, &waiting, None, &[], at(2), &init(failed));
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(
        cond(&status, "Initialized").reason.as_deref(),
        Some("ContainersNotInitialized")
    );
}

#[test]
fn the_passwd_file_adds_the_container_users_the_host_lacks() {
    let host = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash";
    let passwd = spec::passwd_file(host, &[(0, 0), (999, 999), (999, 999), (101, 104)]);
    assert_eq!(
        passwd,
        format!("{host}\ngitview-uid-999:x:999:999::/tmp:/usr/sbin/nologin\n")
    );
}
