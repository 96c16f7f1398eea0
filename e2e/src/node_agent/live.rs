//! The agent against a real API server: each test starts its own control plane with
//! [`crate::launcher`] from `GITVIEW_CONTROLPLANE_BIN` (which `./test.sh` sets; without it the
//! tests say so and do nothing):
//!
//! ```sh
//! GITVIEW_CONTROLPLANE_BIN=$(e2e/controlplane/build.sh | tail -1) cargo test -p gitview-e2e --lib node_agent::live
//! ```
//!
//! It maps the image key `busybox-sh` to `/bin/sh` and runs pods shaped like the operator's
//! runner pods (uid 65532, read-only root, a Secret volume, an emptyDir, a finalizer) through
//! success, failure, log fallback, the deadline, deletion, a missing Secret and an unknown
//! image (`against_a_real_api_server`); a refused two-container pod, a force delete and a
//! namespace deletion (`edge_cases_against_a_real_api_server`); and `shutdown` killing a whole
//! process group (`shutdown_kills_running_pods`). Needs root. The real e2e suite (`e2e/tests`)
//! exercises the agent with the operator.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::json;

use super::{AgentConfig, NodeAgent};
use crate::launcher::ControlPlane;

/// A fresh control plane and an admin client, or `None` (with a message) when
/// `GITVIEW_CONTROLPLANE_BIN` is unset.
async fn control_plane() -> Option<(ControlPlane, Client)> {
    let Ok(bin) = std::env::var("GITVIEW_CONTROLPLANE_BIN") else {
        eprintln!("GITVIEW_CONTROLPLANE_BIN unset: not starting a control plane");
        return None;
    };
    let plane = ControlPlane::start(std::path::Path::new(&bin))
        .await
        .expect("the control plane starts");
    let client = plane.client().await.expect("an admin client");
    Some((plane, client))
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// A runner-like pod running `script` with /bin/sh.
fn pod(name: &str, script: &str, extra: serde_json::Value) -> Pod {
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "finalizers": ["gitview.dev/record-outcome"]},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 30,
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532, "runAsNonRoot": true},
            "containers": [{
                "name": "runner",
                "image": "example.invalid/tools/busybox-sh:1.0",
                "args": ["-c", script],
                "env": [
                    {"name": "GITVIEW_RUN_DIR", "value": "/var/run/secrets/gitview"},
                    {"name": "GITVIEW_SCRATCH", "value": "/scratch"},
                    {"name": "HOME", "value": "$(GITVIEW_SCRATCH)/home"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "run", "key": "x"}}}
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [
                    {"name": "run", "mountPath": "/var/run/secrets/gitview", "readOnly": true},
                    {"name": "scratch", "mountPath": "/scratch"}
                ]
            }],
            "volumes": [
                {"name": "run", "secret": {"secretName": "run", "defaultMode": 0o440}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}
            ]
        }
    });
    merge(&mut value, extra);
    serde_json::from_value(value).unwrap()
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

async fn wait_pod(
    api: &Api<Pod>,
    name: &str,
    what: &str,
    cond: impl Fn(&Pod) -> bool + Send + 'static,
) -> Option<Pod> {
    let found = tokio::time::timeout(
        TIMEOUT,
        await_condition(api.clone(), name, move |p: Option<&Pod>| {
            p.is_none_or(&cond)
        }),
    )
    .await;
    match found {
        Ok(result) => result.unwrap(),
        Err(_) => panic!(
            "pod {name}: not {what} within {TIMEOUT:?}: {:?}",
            api.get_opt(name).await.unwrap().and_then(|p| p.status)
        ),
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn terminated(p: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()
}

fn waiting_reason(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .as_deref()
}

async fn drop_finalizer(api: &Api<Pod>, name: &str) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_api_server() {
    let Some((_plane, client)) = control_plane().await else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("node-agent-live-")
        .tempdir()
        .unwrap();
    let agent = NodeAgent::start(
        client.clone(),
        AgentConfig {
            node_name: "live-node".to_owned(),
            images: vec![("busybox-sh".to_owned(), "/bin/sh".into())],
            work_dir: work.path().join("node"),
            extra_env: vec![("EXTRA".to_owned(), "from-agent".to_owned())],
        },
    )
    .await
    .unwrap();

    // The node is Ready and holds a lease.
    let node = Api::<Node>::all(client.clone())
        .get("live-node")
        .await
        .unwrap();
    let ready = node
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
    // On a fresh control plane `kube-node-lease` may appear only after the first heartbeat
    // tried, so the lease comes with a later one (every 10 s): wait for it.
    let leases = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
    let held = |l: Option<&Lease>| {
        l.and_then(|l| l.spec.as_ref()?.holder_identity.as_deref()) == Some("live-node")
    };
    tokio::time::timeout(TIMEOUT, await_condition(leases, "live-node", held))
        .await
        .expect("the node lease appears within the timeout")
        .unwrap();

    let ns = format!("live-{}", std::process::id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    tokio::time::timeout(
        TIMEOUT,
        await_condition(sas, "default", |s: Option<&ServiceAccount>| s.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    // A pod whose Secret does not exist yet waits in ContainerCreating, then runs.
    let late = pod(
        "late",
        "cat /var/run/secrets/gitview/x > /dev/termination-log",
        json!({"spec": {"volumes": [
            {"name": "run", "secret": {"secretName": "late", "defaultMode": 0o440}},
            {"name": "scratch", "emptyDir": {}}
        ]}}),
    );
    pods.create(&pp, &late).await.unwrap();
    let waiting_message = |p: &Pod| {
        p.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .first()?
            .state
            .as_ref()?
            .waiting
            .as_ref()?
            .message
            .clone()
    };
    let waiting = wait_pod(&pods, "late", "waiting", move |p| {
        waiting_message(p).is_some()
    })
    .await
    .unwrap();
    println!(
        "late pod waits: {:?}",
        waiting
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .state
    );
    assert_eq!(phase(&waiting), "Pending");

    secrets
        .create(
            &pp,
            &serde_json::from_value(
                json!({"metadata": {"name": "run"}, "stringData": {"x": "hello"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &serde_json::from_value(
                json!({"metadata": {"name": "late"}, "stringData": {"x": "late-secret"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();

    let script_ok = r#"set -e
echo "log: $(cat /var/run/secrets/gitview/x) $POD_NAME $FROM_SECRET $EXTRA $HOME uid=$(id -u) groups=$(id -G)"
ls -ln /var/run/secrets/gitview/
if touch /tmp/should-fail 2>/dev/null; then echo "root is writable"; exit 9; fi
if touch /var/run/secrets/gitview/y 2>/dev/null; then echo "secret volume is writable"; exit 9; fi
echo scratch > /scratch/file
grep CapEff /proc/self/status
echo "ok $(cat /scratch/file) $POD_NAME" > /dev/termination-log"#;
    let cases = [
        pod("ok", script_ok, json!({})),
        pod(
            "fail",
            "echo 'exit three' > /dev/termination-log; exit 3",
            json!({}),
        ),
        pod(
            "fallback",
            "echo line1; echo last words >&2; exit 4",
            json!({}),
        ),
        pod(
            "deadline",
            "exec sleep 60",
            json!({"spec": {"activeDeadlineSeconds": 3}}),
        ),
        pod(
            "deleted",
            "trap 'echo got TERM; exit 143' TERM; while :; do sleep 0.2; done",
            json!({}),
        ),
        pod(
            "no-image",
            "true",
            json!({"spec": {"containers": [{"name": "runner", "image": "example.invalid/unknown:1", "args": ["-c", "true"]}]}}),
        ),
    ];
    for p in &cases {
        pods.create(&pp, p).await.unwrap();
    }

    let ok = wait_pod(&pods, "ok", "Succeeded", |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    })
    .await
    .unwrap();
    let t = terminated(&ok).unwrap();
    println!(
        "ok: {t:?}\nlog:\n{}",
        std::fs::read_to_string(
            work.path()
                .join("node")
                .join(ok.metadata.uid.as_ref().unwrap())
                .join("log")
        )
        .unwrap()
    );
    assert_eq!(
        (phase(&ok), t.exit_code, t.reason.as_deref()),
        ("Succeeded", 0, Some("Completed")),
        "{t:?}"
    );
    assert_eq!(t.message.as_deref(), Some("ok scratch ok"));
    assert_eq!(
        ok.spec.as_ref().unwrap().node_name.as_deref(),
        Some("live-node")
    );
    println!(
        "ok conditions: {:?}",
        ok.status.as_ref().unwrap().conditions
    );

    let fail = wait_pod(&pods, "fail", "Failed", |p| phase(p) == "Failed")
        .await
        .unwrap();
    let t = terminated(&fail).unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref(), t.message.as_deref()),
        (3, Some("Error"), Some("exit three"))
    );

    let fallback = wait_pod(&pods, "fallback", "Failed", |p| phase(p) == "Failed")
        .await
        .unwrap();
    assert_eq!(
        terminated(&fallback).unwrap().message.as_deref(),
        Some("line1\nlast words")
    );

    let late = wait_pod(&pods, "late", "Succeeded", |p| phase(p) == "Succeeded")
        .await
        .unwrap();
    assert_eq!(
        terminated(&late).unwrap().message.as_deref(),
        Some("late-secret")
    );

    let no_image = wait_pod(&pods, "no-image", "ImagePullBackOff", |p| {
        waiting_reason(p) == Some("ImagePullBackOff")
    })
    .await
    .unwrap();
    assert_eq!(phase(&no_image), "Pending");

    // Deletion: SIGTERM, terminal status, the finalizer keeps the pod until it is removed.
    wait_pod(&pods, "deleted", "Running", |p| phase(p) == "Running").await;
    assert!(
        agent.running().contains(&format!("{ns}/deleted")),
        "{:?}",
        agent.running()
    );
    pods.delete("deleted", &DeleteParams::default())
        .await
        .unwrap();
    let deleted = wait_pod(&pods, "deleted", "terminated", |p| terminated(p).is_some())
        .await
        .unwrap();
    println!(
        "deleted: phase {} {:?} meta deletionGrace={:?}",
        phase(&deleted),
        terminated(&deleted),
        deleted.metadata.deletion_grace_period_seconds
    );
    assert_eq!(
        (phase(&deleted), terminated(&deleted).unwrap().exit_code),
        ("Failed", 143)
    );
    let deleted = wait_pod(&pods, "deleted", "grace 0", |p| {
        p.metadata.deletion_grace_period_seconds == Some(0)
    })
    .await
    .unwrap();
    assert!(deleted.metadata.deletion_timestamp.is_some());
    assert!(!agent.running().contains(&format!("{ns}/deleted")));
    drop_finalizer(&pods, "deleted").await;
    assert!(
        wait_pod(&pods, "deleted", "gone", |_| false)
            .await
            .is_none()
    );

    let deadline = wait_pod(&pods, "deadline", "Failed", |p| phase(p) == "Failed")
        .await
        .unwrap();
    let status = deadline.status.as_ref().unwrap();
    println!(
        "deadline: {:?} {:?} {:?}",
        status.reason,
        status.message,
        terminated(&deadline)
    );
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(terminated(&deadline).unwrap().exit_code, 143);

    // A terminal pod with a finalizer: deletion needs no node; dropping the finalizer removes it.
    pods.delete("ok", &DeleteParams::default()).await.unwrap();
    let ok = pods.get("ok").await.unwrap();
    println!(
        "ok after delete: grace={:?} ts={:?}",
        ok.metadata.deletion_grace_period_seconds, ok.metadata.deletion_timestamp
    );
    drop_finalizer(&pods, "ok").await;
    assert!(wait_pod(&pods, "ok", "gone", |_| false).await.is_none());

    // A pod deleted while it waits for its image: confirmed without running.
    pods.delete("no-image", &DeleteParams::default())
        .await
        .unwrap();
    let no_image = wait_pod(&pods, "no-image", "terminal", |p| {
        p.metadata.deletion_grace_period_seconds == Some(0)
    })
    .await
    .unwrap();
    println!(
        "no-image after delete: phase {} {:?}",
        phase(&no_image),
        terminated(&no_image)
    );
    drop_finalizer(&pods, "no-image").await;
    assert!(
        wait_pod(&pods, "no-image", "gone", |_| false)
            .await
            .is_none()
    );

    for name in ["fail", "fallback", "deadline", "late"] {
        drop_finalizer(&pods, name).await;
    }
    agent.shutdown().await;
    Api::<Namespace>::all(client.clone())
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_cases_against_a_real_api_server() {
    let Some((_plane, client)) = control_plane().await else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("node-agent-live-")
        .tempdir()
        .unwrap();
    let config = AgentConfig {
        node_name: "live-node-2".to_owned(),
        images: vec![("busybox-sh".to_owned(), "/bin/sh".into())],
        work_dir: work.path().join("node"),
        extra_env: vec![],
    };
    let agent = NodeAgent::start(client.clone(), config).await.unwrap();
    let ns = format!("edge-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    tokio::time::timeout(
        TIMEOUT,
        await_condition(sas, "default", |s: Option<&ServiceAccount>| s.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    secrets
        .create(
            &pp,
            &serde_json::from_value(
                json!({"metadata": {"name": "run"}, "stringData": {"x": "hello"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let no_finalizer = json!({"metadata": {"finalizers": null}});

    // Binding sets PodScheduled; two containers are refused loudly.
    let two = json!({"spec": {"containers": [
        {"name": "a", "image": "busybox-sh", "args": ["-c", "true"]},
        {"name": "b", "image": "busybox-sh", "args": ["-c", "true"]}
    ], "volumes": null}, "metadata": {"finalizers": null}});
    pods.create(&pp, &pod("two", "true", two)).await.unwrap();
    let two = wait_pod(&pods, "two", "Failed", |p| phase(p) == "Failed")
        .await
        .unwrap();
    assert_eq!(
        two.status.as_ref().unwrap().reason.as_deref(),
        Some("UnsupportedByNodeAgent")
    );

    // A force delete (grace 0, no finalizer) removes the pod at once: the process must die.
    pods.create(&pp, &pod("forced", "exec sleep 600", no_finalizer.clone()))
        .await
        .unwrap();
    wait_pod(&pods, "forced", "Running", |p| phase(p) == "Running").await;
    let forced_key = format!("{ns}/forced");
    assert!(agent.running().contains(&forced_key));
    pods.delete(
        "forced",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    tokio::time::timeout(TIMEOUT, async {
        while agent.running().contains(&forced_key) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the force-deleted pod's process stops");

    // Deleting the namespace deletes its running pods gracefully; the agent confirms them.
    for name in ["ns-a", "ns-b"] {
        pods.create(&pp, &pod(name, "exec sleep 600", no_finalizer.clone()))
            .await
            .unwrap();
        wait_pod(&pods, name, "Running", |p| phase(p) == "Running").await;
    }
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    for name in ["ns-a", "ns-b"] {
        assert!(
            wait_pod(&pods, name, "gone", |_| false).await.is_none(),
            "{name} is removed"
        );
    }
    let running = agent.running();
    assert!(running.is_empty(), "{running:?}");
    tokio::time::timeout(
        TIMEOUT,
        await_condition(namespaces.clone(), &ns, |n: Option<&Namespace>| n.is_none()),
    )
    .await
    .unwrap()
    .unwrap();
    agent.shutdown().await;
    let leftovers = std::process::Command::new("pgrep")
        .args(["-f", "sleep 600"])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_running_pods() {
    let Some((_plane, client)) = control_plane().await else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("node-agent-live-")
        .tempdir()
        .unwrap();
    let config = AgentConfig {
        node_name: "live-node-3".to_owned(),
        images: vec![("busybox-sh".to_owned(), "/bin/sh".into())],
        work_dir: work.path().join("node"),
        extra_env: vec![],
    };
    let agent = NodeAgent::start(client.clone(), config).await.unwrap();
    let ns = format!("shutdown-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    tokio::time::timeout(
        TIMEOUT,
        await_condition(sas, "default", |s: Option<&ServiceAccount>| s.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    secrets
        .create(
            &pp,
            &serde_json::from_value(
                json!({"metadata": {"name": "run"}, "stringData": {"x": "hello"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // A child process in the background too: the whole process group must go.
    pods.create(
        &pp,
        &pod(
            "long",
            "sleep 700 & exec sleep 700",
            json!({"metadata": {"finalizers": null}}),
        ),
    )
    .await
    .unwrap();
    wait_pod(&pods, "long", "Running", |p| phase(p) == "Running").await;
    assert_eq!(agent.running(), [format!("{ns}/long")]);
    agent.shutdown().await;
    let leftovers = std::process::Command::new("pgrep")
        .args(["-f", "sleep 700"])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
    // No agent: a deleted bound pod stays (nobody confirms); force it.
    pods.delete(
        "long",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}
