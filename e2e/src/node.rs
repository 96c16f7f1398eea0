//! A real node: kubelet and kube-proxy built from `k8s.io/kubernetes` (by
//! `e2e/controlplane/build.sh`), Debian's containerd and runc, a bridge pod network from the
//! CNI reference plugins, CoreDNS for Service names and kube-router's firewall enforcing
//! NetworkPolicies, joined to a control plane started with [`ControlPlane::start_for_node`].
//!
//! What it took on these machines (cgroups v1, no `CAP_SYS_RESOURCE`, no dummy interfaces):
//!
//! - **Network**: the node's address ([`NODE_ADDRESS`]) is on loopback of the suite's own
//!   network namespace; pods reach it (and the API server there) through their bridge,
//!   whose gateway is that namespace. kube-proxy in iptables mode routes ClusterIPs
//!   ([`crate::launcher::SERVICE_CIDR`]); `bridge-nf-call-iptables` makes replies between
//!   pods on one bridge pass its rules.
//! - **containerd** (Debian's 1.6) with its own config, root, state and socket in the node's
//!   directory; CRI `restrict_oom_score_adj = true` (runc cannot give the sandbox its −998
//!   OOM score without `CAP_SYS_RESOURCE` and fails with "can't get final child's PID from
//!   pipe"); the sandbox image is [`PAUSE_IMAGE`]. The kubelet logs that containerd 1.6
//!   lacks `RuntimeConfig` and goes on.
//! - **kubelet**: `failCgroupV1: false`, `cgroupDriver: cgroupfs`, pods under a cgroup root
//!   of their own ([`RealNode`] removes it), webhook authentication and authorization (the
//!   API server's client certificate is `system:masters`), a kubeconfig of the Node
//!   authorizer's user, pod logs in the node's directory.
//! - **NetworkPolicies**: kube-router (`--run-firewall` only: no routing, no service proxy)
//!   as a host process beside kube-proxy, with Debian's `ipset` and `iptables`. It filters
//!   the pods' traffic in the `FORWARD`, `INPUT` and `OUTPUT` chains after kube-proxy's DNAT,
//!   so a policy's ports are the pods' (target) ports, and refuses what no policy allows
//!   with `REJECT` (the client sees "connection refused"). Its user
//!   ([`crate::launcher::FIREWALL_USER`]) may only get Nodes and list and watch pods,
//!   namespaces and NetworkPolicies.
//! - **Images** are OCI archives assembled here ([`oci_archive`], with `umoci`) and imported
//!   into containerd's `k8s.io` namespace; pods use `imagePullPolicy: Never` or
//!   `IfNotPresent`, nothing is pulled.
//!
//! Dropping a [`RealNode`] stops the firewall, kube-proxy and the kubelet, kills every container process
//! left in its cgroup root and every shim of its containerd, stops containerd, unmounts what
//! the kubelet and containerd mounted under its directory and removes it (kept, with its
//! path printed, after [`RealNode::keep_logs`] or a panic).

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::wait::await_condition;

use crate::launcher::{ControlPlane, FIREWALL_USER, NodeAccess, SERVICE_CIDR};

/// The node's address: on the suite namespace's loopback, advertised by the API server too.
pub const NODE_ADDRESS: Ipv4Addr = Ipv4Addr::new(172, 31, 255, 1);
/// The Node's name.
pub const NODE_NAME: &str = "gitview-e2e-node";
/// The pod network on the node's bridge.
pub const POD_CIDR: &str = "10.244.0.0/24";
/// The cluster DNS Service's ClusterIP.
pub const CLUSTER_DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
/// The pod sandbox image (the probe's `pause`).
pub const PAUSE_IMAGE: &str = "gitview.test/pause:1";
/// The node scenarios' image: `/probe` (see `e2e/controlplane/probe/main.go`) as entrypoint,
/// user 65532.
pub const PROBE_IMAGE: &str = "gitview.test/probe:1";
/// CoreDNS, user 65532.
pub const COREDNS_IMAGE: &str = "gitview.test/coredns:1";

/// How the node reaches the control plane, with this module's address and name.
pub fn access() -> NodeAccess {
    NodeAccess {
        address: NODE_ADDRESS,
        name: NODE_NAME.to_owned(),
    }
}

/// The programs a node needs from the machine, and the Debian packages that carry them.
const PROGRAMS: [(&str, &str); 8] = [
    ("containerd", "containerd"),
    ("containerd-shim-runc-v2", "containerd"),
    ("ctr", "containerd"),
    ("runc", "runc"),
    ("iptables", "iptables"),
    ("ipset", "ipset"),
    ("umoci", "umoci"),
    ("ip", "iproute2"),
];

/// Why a real node cannot start on this machine, if it cannot: missing programs (with their
/// Debian packages), not root, or no cgroup v1 memory controller.
pub fn unavailable() -> Option<String> {
    let missing: Vec<String> = PROGRAMS
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(program, package)| format!("{program} (Debian package {package})"))
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing programs: {}", missing.join(", ")));
    }
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some(format!(
            "a node needs root (mounts, cgroups, network namespaces); running as uid {uid}"
        ));
    }
    if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        && !Path::new("/sys/fs/cgroup/memory.max").exists()
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        return Some("no memory cgroup controller under /sys/fs/cgroup".to_owned());
    }
    None
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Puts the node's address on loopback and turns on what routing pods and Services needs.
/// Run once in the network namespace the node, the control plane and the pods' bridge share
/// (the suite's own).
pub fn prepare_network() -> anyhow::Result<()> {
    let addresses = output(Command::new("ip").args(["-4", "-o", "addr", "show", "dev", "lo"]))?;
    if !addresses.contains(&format!("{NODE_ADDRESS}/32")) {
        run(Command::new("ip").args(["addr", "add", &format!("{NODE_ADDRESS}/32"), "dev", "lo"]))?;
    }
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("turn on IPv4 forwarding")?;
    // Without it, a pod's reply to another pod on the bridge skips kube-proxy's rules and
    // the Service's DNAT is never undone.
    let bridge = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if bridge.exists() {
        fs::write(bridge, "1").context("turn on bridge-nf-call-iptables")?;
    }
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    output(command).map(drop)
}

fn output(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    ensure!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes an OCI image archive (an image layout in a tar, as `ctr images import` and
/// `skopeo` read it) of one layer holding `files` (source on this machine, path in the
/// image, mode 0755), an `/etc/passwd` and `/etc/group` with user 65532, and `/tmp`; its
/// config runs `entrypoint` as `user`. The archive's single manifest is tagged `tag`.
pub fn oci_archive(
    out: &Path,
    tag: &str,
    files: &[(&Path, &str)],
    entrypoint: &[&str],
    user: &str,
) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("gitview-e2e-image-")
        .tempdir()?;
    let root = scratch.path().join("root");
    for dir in ["etc", "tmp", "dev", "proc", "sys"] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n")?;
    for (source, target) in files {
        let target = root.join(target.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(source, &target)
            .with_context(|| format!("copy {} into the image", source.display()))?;
        run(Command::new("chmod").arg("0755").arg(&target))?;
    }
    run(Command::new("chmod").arg("1777").arg(root.join("tmp")))?;
    let layer = scratch.path().join("layer.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-cf",
        ])
        .arg(&layer)
        .arg("."))?;
    let layout = scratch.path().join("layout");
    let image = format!("{}:{tag}", layout.display());
    run(Command::new("umoci")
        .arg("init")
        .arg("--layout")
        .arg(&layout))?;
    run(Command::new("umoci").args(["new", "--image", &image]))?;
    run(Command::new("umoci")
        .args(["raw", "add-layer", "--image", &image])
        .arg(&layer))?;
    let mut config = Command::new("umoci");
    config.args([
        "config",
        "--image",
        &image,
        "--config.env",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "--config.user",
        user,
    ]);
    for (i, arg) in entrypoint.iter().enumerate() {
        // The first replaces the default entrypoint, the others append to it.
        config.arg("--config.entrypoint").arg(arg);
        if i == 0 {
            config.arg("--clear=config.entrypoint");
        }
    }
    run(&mut config)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .args(["--sort=name", "-cf"])
        .arg(out)
        .arg("."))?;
    Ok(())
}

/// A running node (see the module's documentation).
#[derive(Debug)]
pub struct RealNode {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    processes: Vec<(&'static str, Child)>,
    socket: PathBuf,
    cgroup_root: String,
    keep: bool,
}

impl RealNode {
    /// Starts containerd, imports the node's own images and `images` (OCI archives, each
    /// imported under the name given with it: `name` + the archive's tag), starts the
    /// kubelet and waits for its Node to be Ready, starts kube-proxy and the NetworkPolicy
    /// firewall, and deploys CoreDNS and waits until it is available and the firewall's
    /// chains are in place. `bin` is `build.sh`'s directory. Call
    /// [`prepare_network`] first, then [`ControlPlane::start_for_node`] with [`access`].
    pub async fn start(
        plane: &ControlPlane,
        bin: &Path,
        images: &[(&str, &Path)],
    ) -> anyhow::Result<Self> {
        if let Some(why) = unavailable() {
            bail!("a real node cannot run here: {why}");
        }
        let credentials = plane
            .node
            .clone()
            .context("the control plane was not started for a node (start_for_node)")?;
        let dir = tempfile::Builder::new()
            .prefix("gitview-e2e-node-")
            .tempdir()?;
        let path = dir.path().to_owned();
        let cgroup_root = format!("/gitview-e2e-{}", std::process::id());
        let mut node = Self {
            dir: Some(dir),
            socket: path.join("containerd.sock"),
            path: path.clone(),
            processes: vec![],
            cgroup_root: cgroup_root.clone(),
            keep: false,
        };
        let p = |name: &str| path.join(name).display().to_string();
        for sub in ["containerd", "cni", "images", "logs", "kubelet"] {
            fs::create_dir_all(path.join(sub))?;
        }
        // The kubelet wants its cgroup root in every hierarchy.
        for hierarchy in fs::read_dir("/sys/fs/cgroup")?.flatten() {
            if hierarchy.path().join("cgroup.procs").exists() {
                fs::create_dir_all(hierarchy.path().join(cgroup_root.trim_start_matches('/')))?;
            }
        }

        fs::write(
            path.join("containerd/config.toml"),
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
"#,
                root = p("containerd/root"),
                state = p("containerd/state"),
                socket = node.socket.display(),
                cni_bin = bin.join("cni").display(),
                cni_conf = p("cni"),
            ),
        )?;
        fs::write(
            path.join("cni/10-gitview-e2e.conflist"),
            format!(
                r#"{{
  "cniVersion": "1.0.0",
  "name": "gitview-e2e",
  "plugins": [
    {{"type": "bridge", "bridge": "gve2e0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{POD_CIDR}"}}]], "routes": [{{"dst": "0.0.0.0/0"}}], "dataDir": "{ipam}"}}}},
    {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
  ]
}}
"#,
                ipam = p("cni-ipam"),
            ),
        )?;
        node.spawn(
            "containerd",
            Command::new("containerd").args(["--config", &p("containerd/config.toml")]),
        )?;
        node.poll("containerd's socket", Duration::from_secs(30), |node| {
            node.ctr()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        })?;

        // The node's own images, then the caller's.
        let probe = bin.join("probe");
        let coredns = bin.join("coredns");
        struct Own<'a> {
            file: &'a str,
            reference: &'a str,
            binary: &'a Path,
            entrypoint: &'a [&'a str],
            user: &'a str,
        }
        let own = [
            Own {
                file: "pause",
                reference: PAUSE_IMAGE,
                binary: &probe,
                entrypoint: &["/probe", "pause"],
                user: "65535:65535",
            },
            Own {
                file: "probe",
                reference: PROBE_IMAGE,
                binary: &probe,
                entrypoint: &["/probe"],
                user: "65532:65532",
            },
            Own {
                file: "coredns",
                reference: COREDNS_IMAGE,
                binary: &coredns,
                entrypoint: &["/coredns"],
                user: "65532:65532",
            },
        ];
        for image in own {
            let (name, tag) = image
                .reference
                .rsplit_once(':')
                .context("a tagged reference")?;
            let archive = path.join("images").join(format!("{}.tar", image.file));
            oci_archive(
                &archive,
                tag,
                &[(image.binary, image.entrypoint[0])],
                image.entrypoint,
                image.user,
            )
            .with_context(|| format!("build the {} image", image.reference))?;
            node.import(name, &archive)?;
        }
        for (name, archive) in images {
            node.import(name, archive)?;
        }

        let resolv = path.join("resolv.conf");
        fs::write(&resolv, "nameserver 127.0.0.1\n")?;
        fs::write(
            path.join("kubelet.yaml"),
            format!(
                r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: {cgroup_root}
containerRuntimeEndpoint: unix://{socket}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
address: {NODE_ADDRESS}
port: 10250
readOnlyPort: 0
healthzPort: 0
clusterDNS: [{CLUSTER_DNS}]
clusterDomain: cluster.local
resolvConf: {resolv}
failSwapOn: false
podLogsDir: {logs}
syncFrequency: 5s
fileCheckFrequency: 5s
evictionHard: {{memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
"#,
                socket = node.socket.display(),
                ca = credentials.ca.display(),
                resolv = resolv.display(),
                logs = p("logs"),
            ),
        )?;
        node.spawn(
            "kubelet",
            Command::new(bin.join("kubelet")).args([
                format!("--config={}", p("kubelet.yaml")),
                format!("--kubeconfig={}", credentials.kubelet.display()),
                format!("--hostname-override={NODE_NAME}"),
                format!("--node-ip={NODE_ADDRESS}"),
                format!("--root-dir={}", p("kubelet")),
            ]),
        )?;
        let client = plane.client().await?;
        let nodes: Api<Node> = Api::all(client.clone());
        node.wait(
            "the Node to be Ready",
            await_condition(nodes, NODE_NAME, |n: Option<&Node>| {
                n.and_then(|n| n.status.as_ref())
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            }),
        )
        .await?;

        fs::write(
            path.join("proxy.yaml"),
            format!(
                r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {kubeconfig}}}
hostnameOverride: {NODE_NAME}
mode: iptables
clusterCIDR: {POD_CIDR}
nodePortAddresses: [primary]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {{maxPerCore: 0}}
"#,
                kubeconfig = credentials.proxy.display(),
            ),
        )?;
        node.spawn(
            "kube-proxy",
            Command::new(bin.join("kube-proxy")).arg(format!("--config={}", p("proxy.yaml"))),
        )?;

        apply(
            plane,
            &format!("{}---\n{}", firewall_rbac(), coredns_manifests()),
        )
        .context("the firewall's RBAC and CoreDNS")?;

        // kube-router exits when it cannot read its Node: wait until its RBAC is in force.
        node.poll("the firewall's RBAC", Duration::from_secs(30), |_| {
            Command::new("kubectl")
                .env("KUBECONFIG", &credentials.firewall)
                .args([
                    "auth",
                    "can-i",
                    "watch",
                    "networkpolicies.networking.k8s.io",
                    "--all-namespaces",
                ])
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
        node.spawn(
            "kube-router",
            Command::new(bin.join("kube-router")).args([
                format!("--kubeconfig={}", credentials.firewall.display()),
                format!("--hostname-override={NODE_NAME}"),
                "--run-firewall=true".to_owned(),
                "--run-router=false".to_owned(),
                "--run-service-proxy=false".to_owned(),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                // Its health server listens on every address; nothing here asks it.
                "--health-port=0".to_owned(),
            ]),
        )?;
        let deployments: Api<Deployment> = Api::namespaced(client, "kube-system");
        node.wait(
            "CoreDNS to be available",
            await_condition(deployments, "coredns", |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref())
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "Available" && c.status == "True")
                    })
            }),
        )
        .await?;
        node.poll(
            "the firewall's chains (kube-router)",
            Duration::from_secs(60),
            |_| {
                Command::new("iptables-save")
                    .args(["-t", "filter"])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout).contains("-j KUBE-ROUTER-FORWARD")
                    })
            },
        )?;
        Ok(node)
    }

    /// `ctr` against this node's containerd, in the CRI's `k8s.io` namespace.
    pub fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io"]);
        command
    }

    /// Imports an OCI archive into containerd as `name:<the archive's tag>`.
    pub fn import(&self, name: &str, archive: &Path) -> anyhow::Result<()> {
        run(self
            .ctr()
            .args(["images", "import", "--base-name", name])
            .arg(archive))
        .with_context(|| format!("import {} as {name}", archive.display()))
    }

    /// Makes a server of the test that listens on loopback only (a throwaway PostgreSQL, say)
    /// reachable at the node's address: a forwarder thread accepts there and relays each
    /// connection to `127.0.0.1:port`. Returns the node-side port, for [`RealNode::expose`].
    /// The server sees connections from loopback. The forwarder lives as long as the process.
    pub fn forward(port: u16) -> anyhow::Result<u16> {
        let listener = std::net::TcpListener::bind((NODE_ADDRESS, 0))?;
        let node_port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let Ok(outbound) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (Ok(outbound), Ok(inbound)),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Ok(node_port)
    }

    /// The full reference of the image containerd knows under `name` (any tag), if any.
    pub fn image_named(&self, name: &str) -> anyhow::Result<Option<String>> {
        let listed = output(self.ctr().args(["images", "ls", "-q"]))?;
        Ok(listed
            .lines()
            .find(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            .map(str::to_owned))
    }

    /// A Service named `name` in `namespace` whose port `port` leads to a process of the
    /// test listening on [`NODE_ADDRESS`]`:target` (a Service without a selector and its
    /// EndpointSlice, as for any endpoint outside the cluster): how pods reach the test's
    /// own servers by name. Returns once kube-proxy routes the Service.
    pub fn expose(
        plane: &ControlPlane,
        namespace: &str,
        name: &str,
        port: u16,
        target: u16,
    ) -> anyhow::Result<()> {
        let manifest = format!(
            r#"apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  ports: [{{name: main, port: {port}, targetPort: {target}, protocol: TCP}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-host
  namespace: {namespace}
  labels: {{kubernetes.io/service-name: {name}, endpointslice.kubernetes.io/managed-by: gitview-e2e}}
addressType: IPv4
ports: [{{name: main, port: {target}, protocol: TCP}}]
endpoints: [{{addresses: ["{NODE_ADDRESS}"], conditions: {{ready: true}}}}]
"#
        );
        apply(plane, &manifest).with_context(|| format!("Service {namespace}/{name}"))?;
        // Ready once kube-proxy routes it: its rules hold for the node's own processes too
        // (until then a connection is refused, as for a Service without endpoints).
        let service = plane
            .kubectl()
            .args(["get", "service", name, "-n", namespace])
            .args(["-o", "jsonpath={.spec.clusterIP}"])
            .output()?;
        let ip: Ipv4Addr = String::from_utf8_lossy(&service.stdout)
            .trim()
            .parse()
            .with_context(|| format!("the ClusterIP of Service {namespace}/{name}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(1))
            .is_err()
        {
            ensure!(
                Instant::now() < deadline,
                "Service {namespace}/{name} ({ip}:{port}) was not routed within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The log of a pod's container, as the kubelet wrote it (`<podLogsDir>`), or `None`.
    pub fn container_log(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let prefix = format!("{namespace}_{pod}_");
        let dir = fs::read_dir(self.path.join("logs"))
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))?;
        fs::read_to_string(dir.path().join(container).join("0.log")).ok()
    }

    /// The node's directory (configs, component logs, pod logs).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Keep the node's directory after it stops.
    pub fn keep_logs(&mut self) {
        self.keep = true;
    }

    fn spawn(&mut self, name: &'static str, command: &mut Command) -> anyhow::Result<()> {
        let log = fs::File::create(self.path.join(format!("{name}.log")))?;
        let program = command.get_program().to_owned();
        let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.to_string_lossy()))?;
        self.processes.push((name, child));
        Ok(())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.processes {
            if let Some(status) = child.try_wait()? {
                self.keep = true;
                bail!(
                    "{name} exited with {status}; its log is {}",
                    self.path.join(format!("{name}.log")).display()
                );
            }
        }
        Ok(())
    }

    /// Polls a condition nothing announces (a socket answering), failing fast when a
    /// component died.
    fn poll(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if probe(self) {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                self.keep = true;
                bail!(
                    "{what}: not after {timeout:?}; logs in {}",
                    self.path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Awaits a watch condition, checking every second that the node's components live.
    async fn wait<T>(
        &mut self,
        what: &str,
        condition: impl Future<Output = Result<T, kube::runtime::wait::Error>>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        tokio::pin!(condition);
        loop {
            tokio::select! {
                done = &mut condition => {
                    done.with_context(|| format!("waiting for {what}"))?;
                    return Ok(());
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    self.check_alive()?;
                    if Instant::now() > deadline {
                        self.keep = true;
                        bail!("waiting for {what}: not after 120 s; logs in {}", self.path.display());
                    }
                }
            }
        }
    }

    /// Kills every process left in the node's cgroups, then removes them, deepest first.
    fn remove_cgroups(&self) {
        let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for hierarchy in hierarchies.flatten() {
            let root = hierarchy
                .path()
                .join(self.cgroup_root.trim_start_matches('/'));
            if !root.is_dir() {
                continue;
            }
            let mut dirs = vec![];
            collect_dirs(&root, &mut dirs);
            for dir in &dirs {
                if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in procs.split_whitespace() {
                        let _ = Command::new("kill").args(["-KILL", pid]).status();
                    }
                }
            }
            for dir in dirs.iter().rev() {
                for _ in 0..50 {
                    if fs::remove_dir(dir).is_ok() || !dir.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// The shims of this node's containerd (their command lines name its socket).
    fn shims(&self) -> Vec<String> {
        let socket = self.socket.display().to_string();
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_string_lossy().into_owned();
                let cmdline = fs::read(e.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                (cmdline.contains("containerd-shim") && cmdline.contains(&socket)).then_some(pid)
            })
            .collect()
    }

    /// Unmounts everything mounted under the node's directory, deepest first.
    fn unmount_all(&self) {
        let prefix = self.path.display().to_string();
        let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_unstable_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
    }
}

/// `kubectl apply` of `manifest` as the admin; fails with kubectl's message.
fn apply(plane: &ControlPlane, manifest: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut child = plane
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run kubectl")?;
    child
        .stdin
        .take()
        .context("kubectl's stdin")?
        .write_all(manifest.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Every directory under `dir`, `dir` first, parents before children.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_owned());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        let stop = |child: &mut Child| {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        };
        // kube-proxy and the kubelet first, so nothing restarts what is killed next.
        let mut containerd = None;
        while let Some((name, mut child)) = self.processes.pop() {
            if name == "containerd" {
                containerd = Some(child);
            } else {
                stop(&mut child);
            }
        }
        self.remove_cgroups();
        for pid in self.shims() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        if let Some(mut child) = containerd {
            stop(&mut child);
        }
        self.unmount_all();
        if let Some(dir) = self.dir.take() {
            if self.keep || std::thread::panicking() {
                eprintln!("node logs kept in {}", dir.keep().display());
            } else if let Err(err) = dir.close() {
                eprintln!("the node's directory was not removed: {err}");
            }
        }
    }
}

/// Read access for the NetworkPolicy firewall's user: its Node (for the node's address), and
/// the pods, namespaces and policies it turns into rules. (Upstream's `cmd/kube-router` also
/// waits for Service, Endpoints and EndpointSlice informers; the build's firewall-only
/// `main.go` does not.)
fn firewall_rbac() -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{FIREWALL_USER}"}}
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, namespaces]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "{FIREWALL_USER}"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "{FIREWALL_USER}"}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{FIREWALL_USER}"}}]
"#
    )
}

/// CoreDNS as the cluster's DNS: its ServiceAccount and read access to Services,
/// EndpointSlices, pods and namespaces, its Corefile, a Deployment of [`COREDNS_IMAGE`]
/// (restricted, on port 53) and the `kube-dns` Service at [`CLUSTER_DNS`].
///
/// Port 53 in the pod, as the DNS pods of kubeadm, k3s and the managed clusters listen: a
/// NetworkPolicy's ports are the pod's, so a policy allowing DNS on 53 (the chart's runner
/// policy) blocks a DNS pod listening elsewhere. User 65532 binds it through the pod's
/// `net.ipv4.ip_unprivileged_port_start` (a safe sysctl), not a capability.
fn coredns_manifests() -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: coredns, namespace: kube-system}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "gitview-e2e:coredns"}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "gitview-e2e:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "gitview-e2e:coredns"}}
subjects: [{{kind: ServiceAccount, name: coredns, namespace: kube-system}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: coredns, namespace: kube-system}}
data:
  Corefile: |
    .:53 {{
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        cache 30
        loop
        loadbalance
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: coredns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata: {{labels: {{k8s-app: kube-dns}}}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {{type: RuntimeDefault}}
        sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: "53"}}]
      containers:
      - name: coredns
        image: {COREDNS_IMAGE}
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports: [{{containerPort: 53, protocol: UDP, name: dns}}, {{containerPort: 53, protocol: TCP, name: dns-tcp}}]
        readinessProbe: {{httpGet: {{path: /ready, port: 8181}}, periodSeconds: 1}}
        securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
        resources: {{limits: {{memory: 128Mi}}}}
        volumeMounts: [{{name: config, mountPath: /etc/coredns, readOnly: true}}]
      volumes: [{{name: config, configMap: {{name: coredns}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: kube-dns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  clusterIP: {CLUSTER_DNS}
  selector: {{k8s-app: kube-dns}}
  ports:
  - {{name: dns, port: 53, targetPort: 53, protocol: UDP}}
  - {{name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}}
"#
    )
}
