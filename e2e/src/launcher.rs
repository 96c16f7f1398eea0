//! Starts a real control plane on loopback: etcd, kube-apiserver and kube-controller-manager
//! (garbage collector, namespace, service-account, ClusterRole aggregation, Deployment,
//! ReplicaSet, StatefulSet, volume binder and root-CA publisher controllers: enough for a
//! Helm-installed add-on and its database to run),
//! from the binaries that `e2e/controlplane/build.sh` builds and caches.
//!
//! For a real node ([`ControlPlane::start_for_node`]) the API server also listens on an
//! address pods reach, authorizes the kubelet as a node (`Node,RBAC`, `NodeRestriction`),
//! reaches kubelets by their InternalIP with a client certificate, and kube-scheduler and
//! the EndpointSlice controller run too; the kubelet, kube-proxy, the NetworkPolicy firewall
//! and the scheduler each get a kubeconfig of their own user ([`NodeCredentials`]).
//!
//! Every component runs under `setpriv --pdeathsig KILL`, so it dies with the thread that
//! started it even if the test process is killed; [`ControlPlane`]'s `Drop` stops them in
//! order (controller manager, API server, etcd) on a normal exit or a panic. Component logs
//! live in the control plane's directory, which is kept (and its path printed) when
//! [`ControlPlane::keep_logs`] was called or the drop happens during a panic.

use std::fs;
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Static-token users of the control plane.
pub const ADMIN_USER: &str = "e2e-admin";
/// The operator's user: no group, only the RBAC that `config/rbac/operator.yaml` grants.
pub const OPERATOR_USER: &str = "gitview-operator";
/// The node's NetworkPolicy firewall (kube-router): no group, only the RBAC the node grants it.
pub const FIREWALL_USER: &str = "gitview-e2e:kube-router";

/// Where a real node reaches the control plane: the address the API server advertises (on the
/// node's loopback, reachable from pods through their bridge) and the node's name.
#[derive(Clone, Debug)]
pub struct NodeAccess {
    /// The API server's advertised address, also the node's InternalIP.
    pub address: std::net::Ipv4Addr,
    /// The Node's name (the kubelet's user is `system:node:<name>`).
    pub name: String,
}

/// Kubeconfigs of the node components' users (files in the control plane's directory).
#[derive(Clone, Debug)]
pub struct NodeCredentials {
    /// `system:node:<name>` in `system:nodes`: what the Node authorizer allows a kubelet.
    pub kubelet: PathBuf,
    /// `system:kube-proxy` (the bootstrap `system:node-proxier` role).
    pub proxy: PathBuf,
    /// [`FIREWALL_USER`], kube-router's NetworkPolicy firewall: no group, only the read access
    /// the node grants it (`gitview_e2e::node`).
    pub firewall: PathBuf,
    /// The CA that signed the API server's certificate and the kubelet client certificate.
    pub ca: PathBuf,
    /// `https://<address>:<port>`, as pods and node components reach the API server.
    pub server: String,
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    processes: Vec<(&'static str, Child)>,
    bin: PathBuf,
    /// Admin kubeconfig (system:masters).
    pub kubeconfig: PathBuf,
    /// Kubeconfig of the operator's user (least privilege).
    pub operator_kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The node components' kubeconfigs, for a control plane started for a real node.
    pub node: Option<NodeCredentials>,
    keep: bool,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_token() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// PEM files of the control plane's PKI.
struct Pki {
    ca_cert: String,
    serving_cert: String,
    serving_key: String,
    sa_key: String,
    sa_public: String,
    /// The API server's client certificate towards kubelets (`system:masters`).
    kubelet_client_cert: String,
    kubelet_client_key: String,
}

fn pki(node: Option<&NodeAccess>) -> anyhow::Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "gitview-e2e-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ])?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    if let Some(node) = node {
        // Pods reach the API server as the `kubernetes` Service (its first ClusterIP) and
        // node components at the advertised address.
        serving.subject_alt_names.extend([
            SanType::IpAddress(node.address.into()),
            SanType::IpAddress(std::net::IpAddr::from(KUBERNETES_SERVICE_IP)),
            SanType::DnsName("kubernetes".try_into()?),
            SanType::DnsName("kubernetes.default".try_into()?),
            SanType::DnsName("kubernetes.default.svc.cluster.local".try_into()?),
        ]);
    }
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &issuer)?;

    let kubelet_client_key = KeyPair::generate()?;
    let mut kubelet_client = CertificateParams::new(Vec::<String>::new())?;
    kubelet_client
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver-kubelet-client");
    kubelet_client
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    kubelet_client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let kubelet_client_cert = kubelet_client.signed_by(&kubelet_client_key, &issuer)?;

    // The service-account signing key (ES256).
    let sa_key = KeyPair::generate()?;
    Ok(Pki {
        ca_cert: ca_cert.pem(),
        serving_cert: serving_cert.pem(),
        serving_key: serving_key.serialize_pem(),
        sa_key: sa_key.serialize_pem(),
        sa_public: sa_key.public_key_pem(),
        kubelet_client_cert: kubelet_client_cert.pem(),
        kubelet_client_key: kubelet_client_key.serialize_pem(),
    })
}

/// The Service network's first address: the `kubernetes` Service's ClusterIP.
pub const KUBERNETES_SERVICE_IP: [u8; 4] = [10, 0, 0, 1];
/// The Service network (`--service-cluster-ip-range`).
pub const SERVICE_CIDR: &str = "10.0.0.0/24";

fn kubeconfig(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: {user}\n\
         current-context: e2e\n"
    )
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager from `bin`, waits until the API
    /// server is ready and the service-account controller has created the `default`
    /// ServiceAccount (so pods can be created).
    pub async fn start(bin: &Path) -> anyhow::Result<Self> {
        Self::start_with(bin, None).await
    }

    /// Starts a control plane a real node joins (see the module's documentation): as
    /// [`ControlPlane::start`], plus kube-scheduler and the EndpointSlice controller, the
    /// API server listening on `node.address` too, and the node components' credentials in
    /// [`ControlPlane::node`]. The address must already be on one of this network
    /// namespace's interfaces.
    pub async fn start_for_node(bin: &Path, node: &NodeAccess) -> anyhow::Result<Self> {
        Self::start_with(bin, Some(node)).await
    }

    async fn start_with(bin: &Path, node: Option<&NodeAccess>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("gitview-e2e-").tempdir()?;
        let path = dir.path().to_owned();
        let pki = pki(node)?;
        for (name, pem) in [
            ("ca.crt", &pki.ca_cert),
            ("serving.crt", &pki.serving_cert),
            ("serving.key", &pki.serving_key),
            ("sa.key", &pki.sa_key),
            ("sa.pub", &pki.sa_public),
            ("kubelet-client.crt", &pki.kubelet_client_cert),
            ("kubelet-client.key", &pki.kubelet_client_key),
        ] {
            fs::write(path.join(name), pem)?;
        }
        let (admin_token, operator_token) = (random_token()?, random_token()?);
        let mut tokens = format!(
            "{admin_token},{ADMIN_USER},e2e-admin-uid,system:masters\n{operator_token},{OPERATOR_USER},gitview-operator-uid\n"
        );
        let (etcd_client, etcd_peer, api_port) = (free_port()?, free_port()?, free_port()?);
        let server = format!("https://127.0.0.1:{api_port}");
        let mut node_credentials = None;
        if let Some(node) = node {
            let node_server = format!("https://{}:{api_port}", node.address);
            let mut write = |file: &str, user: &str, uid: &str, groups: &str| {
                let token = random_token()?;
                tokens.push_str(&if groups.is_empty() {
                    format!("{token},{user},{uid}\n")
                } else {
                    format!("{token},{user},{uid},{groups}\n")
                });
                let file = path.join(file);
                fs::write(&file, kubeconfig(&node_server, &pki.ca_cert, user, &token))?;
                anyhow::Ok(file)
            };
            let kubelet = write(
                "kubelet.kubeconfig",
                &format!("system:node:{}", node.name),
                "e2e-node-uid",
                "system:nodes",
            )?;
            let proxy = write("proxy.kubeconfig", "system:kube-proxy", "e2e-proxy-uid", "")?;
            let firewall = write("firewall.kubeconfig", FIREWALL_USER, "e2e-firewall-uid", "")?;
            write(
                "scheduler.kubeconfig",
                "system:kube-scheduler",
                "e2e-scheduler-uid",
                "",
            )?;
            node_credentials = Some(NodeCredentials {
                kubelet,
                proxy,
                firewall,
                ca: path.join("ca.crt"),
                server: node_server,
            });
        }
        fs::write(path.join("tokens.csv"), tokens)?;
        let kubeconfig_path = path.join("kubeconfig");
        fs::write(
            &kubeconfig_path,
            kubeconfig(&server, &pki.ca_cert, ADMIN_USER, &admin_token),
        )?;
        let operator_kubeconfig = path.join("operator.kubeconfig");
        fs::write(
            &operator_kubeconfig,
            kubeconfig(&server, &pki.ca_cert, OPERATOR_USER, &operator_token),
        )?;

        let mut plane = Self {
            dir: Some(dir),
            path: path.clone(),
            processes: vec![],
            bin: bin.to_owned(),
            kubeconfig: kubeconfig_path.clone(),
            operator_kubeconfig,
            server: server.clone(),
            node: node_credentials,
            keep: false,
        };
        let p = |name: &str| path.join(name).display().to_string();

        plane.spawn(
            "etcd",
            &[
                "--name=e2e".into(),
                format!("--data-dir={}", p("etcd")),
                "--log-level=warn".into(),
                "--unsafe-no-fsync".into(),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-cluster=e2e=http://127.0.0.1:{etcd_peer}"),
            ],
        )?;
        plane.wait_for_port("etcd", etcd_client).await?;

        let mut apiserver = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            format!("--secure-port={api_port}"),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            format!("--token-auth-file={}", p("tokens.csv")),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            format!("--cert-dir={}", p("certs")),
            "--enable-priority-and-fairness=false".into(),
        ];
        match node {
            None => apiserver.extend([
                "--bind-address=127.0.0.1".into(),
                "--authorization-mode=RBAC".into(),
            ]),
            Some(node) => apiserver.extend([
                "--bind-address=0.0.0.0".into(),
                format!("--advertise-address={}", node.address),
                "--authorization-mode=Node,RBAC".into(),
                "--enable-admission-plugins=NodeRestriction".into(),
                "--kubelet-preferred-address-types=InternalIP".into(),
                format!("--kubelet-client-certificate={}", p("kubelet-client.crt")),
                format!("--kubelet-client-key={}", p("kubelet-client.key")),
            ]),
        }
        plane.spawn("kube-apiserver", &apiserver)?;
        let client = plane.client().await?;
        plane.wait_ready(&client).await?;

        let mut controllers = "garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller,deployment-controller,replicaset-controller,statefulset-controller,persistentvolume-binder-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,root-ca-certificate-publisher-controller".to_owned();
        if node.is_some() {
            // kube-proxy and CoreDNS route Services by their EndpointSlices; the kubelet
            // registers its Node tainted not-ready until the lifecycle controller sees Ready.
            controllers.push_str(",endpointslice-controller,node-lifecycle-controller");
        }
        plane.spawn(
            "kube-controller-manager",
            &[
                format!("--kubeconfig={}", kubeconfig_path.display()),
                "--bind-address=127.0.0.1".into(),
                "--secure-port=0".into(),
                "--leader-elect=false".into(),
                format!("--controllers={controllers}"),
                format!("--service-account-private-key-file={}", p("sa.key")),
                format!("--root-ca-file={}", p("ca.crt")),
                "--use-service-account-credentials=false".into(),
                "--concurrent-gc-syncs=5".into(),
            ],
        )?;
        if node.is_some() {
            plane.spawn(
                "kube-scheduler",
                &[
                    format!("--kubeconfig={}", p("scheduler.kubeconfig")),
                    "--bind-address=127.0.0.1".into(),
                    "--secure-port=0".into(),
                    "--leader-elect=false".into(),
                ],
            )?;
        }
        plane.wait_for_default_service_account(&client).await?;
        Ok(plane)
    }

    fn spawn(&mut self, name: &'static str, args: &[String]) -> anyhow::Result<()> {
        let log = fs::File::create(self.path.join(format!("{name}.log")))?;
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(self.bin.join(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name} from {}", self.bin.display()))?;
        self.processes.push((name, child));
        Ok(())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.processes {
            if let Some(status) = child.try_wait()? {
                self.keep = true;
                bail!(
                    "{name} exited with {status}; its log is in {}",
                    self.path.join(format!("{name}.log")).display()
                );
            }
        }
        Ok(())
    }

    /// Polls a condition no event announces (a port opening, a health endpoint), failing fast
    /// when a component died.
    async fn poll<F, Fut>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if probe().await {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                self.keep = true;
                bail!(
                    "{what} not ready after {timeout:?}; logs in {}",
                    self.path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for_port(&mut self, what: &str, port: u16) -> anyhow::Result<()> {
        self.poll(what, Duration::from_secs(30), || async move {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await
    }

    async fn wait_ready(&mut self, client: &Client) -> anyhow::Result<()> {
        let client = client.clone();
        self.poll(
            "kube-apiserver /readyz",
            Duration::from_secs(90),
            move || {
                let client = client.clone();
                async move {
                    let request = http::Request::get("/readyz")
                        .body(Vec::new())
                        .expect("a valid request");
                    client
                        .request_text(request)
                        .await
                        .is_ok_and(|body| body.trim() == "ok")
                }
            },
        )
        .await
    }

    async fn wait_for_default_service_account(&mut self, client: &Client) -> anyhow::Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        self.poll(
            "the default ServiceAccount (kube-controller-manager)",
            Duration::from_secs(60),
            move || {
                let accounts = accounts.clone();
                async move { accounts.get_opt("default").await.ok().flatten().is_some() }
            },
        )
        .await
    }

    /// A client with the admin's credentials.
    pub async fn client(&self) -> anyhow::Result<Client> {
        client_for(&self.kubeconfig).await
    }

    /// The control plane's directory (logs, PKI, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Where the control-plane binaries (and helm) are.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// `kubectl` as a user runs it, against this control plane.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new("kubectl");
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    /// Keep the directory (and its logs) after the control plane stops.
    pub fn keep_logs(&mut self) {
        self.keep = true;
    }
}

/// A kube client for a kubeconfig file.
pub async fn client_for(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Controller manager first, etcd last: the API server hangs on exit without etcd.
        while let Some((_, mut child)) = self.processes.pop() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self
            .dir
            .take()
            .filter(|_| self.keep || std::thread::panicking())
        {
            let kept = dir.keep();
            eprintln!("control plane logs kept in {}", kept.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    /// Starts a control plane from `GITVIEW_CONTROLPLANE_BIN` and checks that it serves, that
    /// the controller manager runs, and that it stops cleanly. Run by `./test.sh`; skipped
    /// (with a message) when the variable is unset.
    #[tokio::test]
    async fn starts_serves_and_stops() {
        let Ok(bin) = std::env::var("GITVIEW_CONTROLPLANE_BIN") else {
            eprintln!("GITVIEW_CONTROLPLANE_BIN unset: not starting a control plane");
            return;
        };
        let plane = ControlPlane::start(Path::new(&bin))
            .await
            .expect("control plane starts");
        let client = plane.client().await.expect("client");
        let namespaces: Api<Namespace> = Api::all(client);
        let names: Vec<String> = namespaces
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(names.contains(&"kube-system".to_owned()), "{names:?}");
        let version = plane
            .kubectl()
            .args(["version", "-o", "json"])
            .output()
            .expect("kubectl runs");
        assert!(
            String::from_utf8_lossy(&version.stdout).contains("v1.36.3"),
            "{}",
            String::from_utf8_lossy(&version.stdout)
        );
        let dir = plane.dir().to_owned();
        drop(plane);
        assert!(!dir.exists(), "the directory is removed after a clean stop");
    }
}
