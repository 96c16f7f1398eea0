//! The Node object and its heartbeat: a Ready node with fixed capacity, a node Lease renewed
//! every [`LEASE_RENEW`], and the Ready condition's heartbeat refreshed every
//! [`STATUS_REFRESH`]. Everything is written with server-side apply under [`FIELD_MANAGER`].

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

/// Field manager of everything the agent writes.
pub(super) const FIELD_MANAGER: &str = "gitview-e2e-node-agent";
/// Namespace of node leases.
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The kubelet's default lease duration; renewed at a quarter of it.
const LEASE_SECONDS: i32 = 40;
pub(super) const LEASE_RENEW: Duration = Duration::from_secs(10);
pub(super) const STATUS_REFRESH: Duration = Duration::from_secs(60);
/// What `nodeInfo.kubeletVersion` says, so nobody mistakes the node for a real kubelet.
const AGENT_VERSION: &str = "v0.0.0-gitview-e2e-node-agent";

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The Node's metadata (labels as the kubelet sets them).
pub(super) fn node(name: &str) -> Node {
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_owned(), name.to_owned()),
        ("kubernetes.io/os".to_owned(), "linux".to_owned()),
        ("kubernetes.io/arch".to_owned(), architecture().to_owned()),
        (
            "node.kubernetes.io/instance-type".to_owned(),
            "gitview-e2e-node-agent".to_owned(),
        ),
    ]);
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

/// The Node's status: Ready since `since`, heartbeat `now`, no pressure, fixed capacity.
pub(super) fn node_status(name: &str, since: Timestamp, now: Timestamp) -> Node {
    let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity("2".to_owned())),
        ("memory".to_owned(), Quantity("8Gi".to_owned())),
        ("pods".to_owned(), Quantity("1000".to_owned())),
        ("ephemeral-storage".to_owned(), Quantity("100Gi".to_owned())),
    ]);
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            conditions: Some(vec![
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                condition(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "gitview e2e node agent is posting ready status",
                ),
            ]),
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: super::status::LOOPBACK.to_owned(),
                },
                NodeAddress {
                    type_: "Hostname".to_owned(),
                    address: name.to_owned(),
                },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: architecture().to_owned(),
                operating_system: "linux".to_owned(),
                kubelet_version: AGENT_VERSION.to_owned(),
                kube_proxy_version: String::new(),
                container_runtime_version: "local-process://0".to_owned(),
                os_image: "gitview e2e node agent (local processes)".to_owned(),
                kernel_version: String::new(),
                boot_id: String::new(),
                machine_id: String::new(),
                system_uuid: String::new(),
                swap: None,
            }),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

/// The node Lease, owned by the Node (so the garbage collector removes it with the Node).
pub(super) fn lease(name: &str, node_uid: &str, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Node".to_owned(),
                name: name.to_owned(),
                uid: node_uid.to_owned(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.to_owned()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

fn apply() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Creates or updates the Node and its status; returns its UID.
pub(super) async fn register(
    client: &Client,
    name: &str,
    since: Timestamp,
) -> Result<String, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let applied = nodes
        .patch(name, &apply(), &Patch::Apply(node(name)))
        .await?;
    nodes
        .patch_status(
            name,
            &apply(),
            &Patch::Apply(node_status(name, since, Timestamp::now())),
        )
        .await?;
    Ok(applied.metadata.uid.unwrap_or_default())
}

/// Renews the Lease forever (until the task is aborted); refreshes the Ready heartbeat less
/// often. Errors are logged and retried at the next tick.
pub(super) async fn heartbeat(client: Client, name: String, node_uid: String, since: Timestamp) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let nodes: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(LEASE_RENEW);
    let per_refresh = (STATUS_REFRESH.as_secs() / LEASE_RENEW.as_secs()).max(1);
    for n in 0u64.. {
        tick.tick().await;
        let now = Timestamp::now();
        if let Err(err) = leases
            .patch(&name, &apply(), &Patch::Apply(lease(&name, &node_uid, now)))
            .await
        {
            tracing::warn!(node = %name, error = %err, "cannot renew the node lease");
        }
        if n > 0
            && n % per_refresh == 0
            && let Err(err) = nodes
                .patch_status(
                    &name,
                    &apply(),
                    &Patch::Apply(node_status(&name, since, now)),
                )
                .await
        {
            tracing::warn!(node = %name, error = %err, "cannot refresh the node status");
        }
    }
}
