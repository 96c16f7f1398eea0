//! The environment the scenarios share, and the helpers they are written with.

pub mod careless;
pub mod chart;
pub mod credentials;
pub mod data_policy;
pub mod egress;
pub mod git;
pub mod install;
pub mod living;
pub mod plugin;
pub mod scenarios;
pub mod tracker;
pub mod tracker_policies;

use std::future::Future;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use gitview_crds::v1alpha1::Analysis;
use gitview_e2e::launcher::ControlPlane;
use gitview_e2e::node_agent::{AgentConfig, NodeAgent};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::wait::await_condition;

/// The gateway's admin token in the suite (the admin path creates API keys with it).
pub const GATEWAY_ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef0123456789abcdef";

/// The `postgres` image of the e2e node (see `Env::start`).
const POSTGRES_IMAGE: &str = r#"#!/bin/sh
set -eu
export PATH="/usr/lib/postgresql/15/bin:$PATH"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256
  rm -f "$pwfile"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE "$POSTGRES_DB""
  for f in /docker-entrypoint-initdb.d/*.sh; do
    if [ -e "$f" ]; then sh "$f"; fi
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -k /var/run/postgresql
"#;

/// Images the node agent knows, by the key their repository ends with.
pub mod image {
    /// The real runner binary (no test hook).
    pub const RUNNER: &str = "ghcr.io/gitview/gitview-runner:e2e";
    /// Checks the mount, waits for its namespace's gate file, then the real runner (no hook).
    pub const HELD: &str = "e2e.local/e2e-held:1";
    /// Checks the run Secret is mounted, then the real runner with its success test hook.
    pub const OK: &str = "e2e.local/e2e-ok:1";
    /// Checks the mount, then the real runner with its invalid-input (exit 2) test hook.
    pub const INVALID: &str = "e2e.local/e2e-invalid:1";
    /// Checks the mount, waits for its namespace's gate file, then succeeds.
    pub const GATED: &str = "e2e.local/e2e-gated:1";
}

/// A running operator process.
#[derive(Debug)]
pub struct Operator {
    pub identity: String,
    pub metrics_port: u16,
    /// Where its RepositoryTracker webhook receiver listens.
    pub webhook_port: u16,
    child: Child,
    pub log: PathBuf,
}

impl Operator {
    /// SIGKILL, as an OOM killer or a lost node would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a scenario can use.
pub struct Env {
    plane: Mutex<Option<ControlPlane>>,
    pub client: Client,
    agent: tokio::sync::Mutex<Option<NodeAgent>>,
    pub operators: tokio::sync::Mutex<Vec<Operator>>,
    pub root: PathBuf,
    /// The control plane's bin directory (etcd, the API server, the controller manager, helm).
    pub bin: PathBuf,
    target_dir: PathBuf,
    pub gates: PathBuf,
    work: tempfile::TempDir,
    operator_kubeconfig: PathBuf,
    kubeconfig: PathBuf,
    next_operator: std::sync::atomic::AtomicU32,
    /// PostgreSQL, the gateway process on `gateway_port`, and the git server runs clone from.
    pub postgres: gitview_gateway::testing::TestPostgres,
    pub gateway_port: u16,
    gateway: Mutex<Option<Child>>,
    pub git: git::GitServer,
    /// The CA of the suite's HTTPS git servers; the operators it starts trust it.
    pub ca: credentials::SuiteCa,
}

fn control_plane_bin(root: &Path) -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("GITVIEW_CONTROLPLANE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let output = Command::new("bash")
        .arg(root.join("e2e/controlplane/build.sh"))
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run e2e/controlplane/build.sh")?;
    if !output.status.success() {
        bail!("e2e/controlplane/build.sh failed ({})", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    Ok(PathBuf::from(
        stdout
            .lines()
            .last()
            .context("build.sh printed no bin dir")?
            .trim(),
    ))
}

fn script(prologue_check: bool, body: &str) -> String {
    let check = if prologue_check {
        r#"RUN=/var/run/secrets/gitview
if [ ! -r "$RUN/run.json" ] || [ ! -r "$RUN/token" ]; then
  echo '{"message":"run secret not mounted at /var/run/secrets/gitview"}' > /dev/termination-log
  exit 2
fi
echo "run config mounted at $RUN ($(wc -c < "$RUN/run.json") bytes)"
"#
    } else {
        ""
    };
    format!("#!/bin/sh\n{check}{body}\n")
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("work", &self.work.path())
            .finish_non_exhaustive()
    }
}

impl Env {
    pub async fn start() -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the e2e crate has a parent")?
            .to_owned();
        let exe = std::env::current_exe()?;
        let target_dir = exe
            .parent()
            .and_then(Path::parent)
            .context("test binary under target/<profile>/deps")?
            .to_owned();
        for binary in [
            "gitview-operator",
            "gitview-runner",
            "gitview-gateway",
            "kubectl-gitview",
        ] {
            if !target_dir.join(binary).exists() {
                bail!(
                    "{} is missing: run `cargo build --workspace --bins` first (./test.sh does)",
                    target_dir.join(binary).display()
                );
            }
        }
        let bin = control_plane_bin(&root)?;
        let plane = ControlPlane::start(&bin).await?;
        let client = plane.client().await?;

        let work = tempfile::Builder::new()
            .prefix("gitview-e2e-work-")
            .tempdir()?;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))?;
        let gates = work.path().join("gates");
        let scripts = work.path().join("images");
        std::fs::create_dir_all(&gates)?;
        std::fs::create_dir_all(&scripts)?;
        std::fs::set_permissions(&gates, std::fs::Permissions::from_mode(0o755))?;
        let runner = scripts.join("gitview-runner");
        std::fs::copy(target_dir.join("gitview-runner"), &runner)?;
        let runner = runner.display().to_string();
        let wait_for_gate = format!(
            r#"ns=$(sed -n 's/.*"namespace":"\([^"]*\)".*/\1/p' "$RUN/run.json")
while [ ! -e "{}/$ns" ]; do sleep 0.1; done"#,
            gates.display()
        );
        let gate_wait = format!("{wait_for_gate}\nGITVIEW_RUNNER_TEST_EXIT=0 exec {runner} \"$@\"");
        let held = format!("{wait_for_gate}\nexec {runner} \"$@\"");
        let images = [
            (
                "e2e-ok",
                script(
                    true,
                    &format!("GITVIEW_RUNNER_TEST_EXIT=0 exec {runner} \"$@\""),
                ),
            ),
            (
                "e2e-invalid",
                script(
                    true,
                    &format!("GITVIEW_RUNNER_TEST_EXIT=2 exec {runner} \"$@\""),
                ),
            ),
            ("e2e-gated", script(true, &gate_wait)),
            ("e2e-held", script(true, &held)),
        ];
        // The chart's images: the operator and the gateway run as pods too when it is installed.
        let mut image_map = vec![
            ("gitview-runner".to_owned(), scripts.join("gitview-runner")),
            (
                "gitview-operator".to_owned(),
                target_dir.join("gitview-operator"),
            ),
            (
                "gitview-gateway".to_owned(),
                target_dir.join("gitview-gateway"),
            ),
        ];
        for (key, text) in images {
            let path = scripts.join(key);
            std::fs::write(&path, text)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            image_map.push((key.to_owned(), path));
        }
        // The bundled PostgreSQL's image: the host's PostgreSQL 15 behind the official image's
        // entrypoint contract (POSTGRES_USER/PASSWORD/DB and PGDATA; the scripts in
        // /docker-entrypoint-initdb.d run once, on a fresh data directory).
        let postgres = scripts.join("postgres");
        std::fs::write(&postgres, POSTGRES_IMAGE)?;
        std::fs::set_permissions(&postgres, std::fs::Permissions::from_mode(0o755))?;
        image_map.push(("postgres".to_owned(), postgres));
        std::fs::set_permissions(&scripts, std::fs::Permissions::from_mode(0o755))?;

        let signing_key = work.path().join("signing.pem");
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
        let pem = ed25519_dalek::SigningKey::from_bytes(&seed).to_pkcs8_pem(LineEnding::LF)?;
        std::fs::write(&signing_key, pem.as_bytes())?;

        let api_port = plane
            .server
            .rsplit(':')
            .next()
            .context("the API server URL has a port")?;
        let agent = NodeAgent::start(
            client.clone(),
            AgentConfig {
                node_name: "e2e-node".to_owned(),
                images: image_map,
                work_dir: work.path().join("node"),
                // In-cluster configuration for pods that talk to the API server (the kubelet's
                // service variables; the agent's pods share the host's network).
                extra_env: vec![
                    ("KUBERNETES_SERVICE_HOST".to_owned(), "127.0.0.1".to_owned()),
                    ("KUBERNETES_SERVICE_PORT".to_owned(), api_port.to_owned()),
                ],
            },
        )
        .await?;

        // The results database: a throwaway PostgreSQL, migrated by the real binary as the
        // schema's owner; the gateway serves as a role with only gitview_app's rights.
        let postgres = gitview_gateway::testing::TestPostgres::start().await?;
        postgres.create_database("gitview").await?;
        postgres
            .exec(
                "gitview",
                "CREATE ROLE gitview_app NOLOGIN; CREATE ROLE gateway LOGIN IN ROLE gitview_app",
            )
            .await?;
        let migrate = Command::new(target_dir.join("gitview-gateway"))
            .args([
                "migrate",
                "--database-url",
                &postgres.url("postgres", "gitview"),
            ])
            .output()?;
        if !migrate.status.success() {
            bail!(
                "gitview-gateway migrate failed: {}",
                String::from_utf8_lossy(&migrate.stderr)
            );
        }
        let gateway_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let git = git::GitServer::start(work.path())?;
        let ca = credentials::SuiteCa::generate(work.path())?;

        let env = Self {
            postgres,
            gateway_port,
            gateway: Mutex::new(None),
            git,
            ca,
            operator_kubeconfig: plane.operator_kubeconfig.clone(),
            kubeconfig: plane.kubeconfig.clone(),
            plane: Mutex::new(Some(plane)),
            client,
            agent: tokio::sync::Mutex::new(Some(agent)),
            operators: tokio::sync::Mutex::new(vec![]),
            root,
            bin,
            target_dir,
            gates,
            work,
            next_operator: std::sync::atomic::AtomicU32::new(1),
        };
        // Install as a user would: the CRDs, the operator's namespace and least-privilege RBAC.
        env.kubectl_ok(&[
            "apply",
            "-f",
            &env.root.join("crds/yaml").display().to_string(),
        ])?;
        env.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/analyses.gitview.dev",
            "crd/analysisprofiles.gitview.dev",
            "crd/repositorytrackers.gitview.dev",
        ])?;
        env.create_namespace("gitview-system").await?;
        env.kubectl_ok(&[
            "apply",
            "-f",
            &env.root
                .join("config/rbac/operator.yaml")
                .display()
                .to_string(),
        ])?;
        env.apply(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: gitview-operator}\n\
             roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitview-operator}\n\
             subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: gitview-operator}]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: gitview-operator-leader-election, namespace: gitview-system}\n\
             roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gitview-operator-leader-election}\n\
             subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: gitview-operator}]\n",
        )?;
        env.start_operator().await?;
        env.start_gateway().await?;
        Ok(env)
    }

    /// Starts the gateway process; it verifies runner tokens with the JWKS the first operator
    /// serves (every replica serves the same key).
    async fn start_gateway(&self) -> anyhow::Result<()> {
        std::fs::write(self.admin_token_file(), GATEWAY_ADMIN_TOKEN)?;
        let jwks_port = self
            .operators
            .lock()
            .await
            .first()
            .context("an operator runs")?
            .metrics_port;
        let log = self.work.path().join("gateway.log");
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(self.target_dir.join("gitview-gateway"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.gateway_port),
            ])
            .args(["--database-url", &self.postgres.url("gateway", "gitview")])
            .args([
                "--token-jwks-url",
                &format!("http://127.0.0.1:{jwks_port}/.well-known/jwks.json"),
            ])
            .args([
                "--admin-token-file",
                &self.admin_token_file().display().to_string(),
            ])
            .args([
                "--object-store",
                &format!("file://{}", self.work.path().join("artifacts").display()),
            ])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = gitview_e2e::spawner::on_spawner_thread(move || command.spawn())?;
        *self.gateway.lock().expect("not poisoned") = Some(child);
        let port = self.gateway_port;
        // 90 s like the API server's: on a loaded 2-core machine the gateway once missed 30 s.
        // The work directory goes when the environment fails, so the log's end goes in the error.
        wait_until(Duration::from_secs(90), || async move {
            http_get(port, "/readyz").is_some_and(|(code, _)| code == 200)
        })
        .await
        .with_context(|| format!("gateway /readyz; its log ends:\n{}", log_tail(&log)))?;
        Ok(())
    }

    /// The node agent's work directory (a hostPath PersistentVolume under it is reached by
    /// pods whatever they mount over `/tmp`).
    pub fn node_dir(&self) -> PathBuf {
        self.work.path().join("node")
    }

    fn admin_token_file(&self) -> PathBuf {
        self.work.path().join("gateway-admin-token")
    }

    /// A request to the gateway with a bearer credential (an API key or the admin token) and
    /// an optional JSON body; the status and the body parsed as JSON.
    pub fn gateway(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        gateway_at(self.gateway_port, method, path, bearer, body)
    }

    /// Stops every operator replica the suite started (for a scenario whose own operator must
    /// be the only one acting); returns what [`Env::resume_operators`] needs.
    pub async fn suspend_operators(&self) -> Vec<u16> {
        let mut operators = self.operators.lock().await;
        operators
            .drain(..)
            .map(|operator| {
                let port = operator.metrics_port;
                operator.kill();
                port
            })
            .collect()
    }

    /// Starts the suspended replicas again, on their ports (the suite's gateway fetches the
    /// JWKS from the first one), and waits until one leads.
    pub async fn resume_operators(&self, ports: Vec<u16>) -> anyhow::Result<()> {
        for port in ports {
            self.start_operator_on(port).await?;
        }
        Ok(())
    }
}

/// A request to a gateway on a loopback port; see [`Env::gateway`].
pub fn gateway_at(
    port: u16,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    {
        let body = body.map(serde_json::Value::to_string).unwrap_or_default();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {bearer}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("an HTTP status line")?;
        let (head, text) = response.split_once("\r\n\r\n").context("a response body")?;
        ensure!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "a chunked answer to {method} {path}"
        );
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(text).with_context(|| format!("{method} {path}: {text}"))?
        };
        Ok((code, json))
    }
}

impl Env {
    /// A connection to the results database, as the superuser.
    async fn superuser(&self) -> anyhow::Result<sqlx::PgConnection> {
        use sqlx::Connection as _;
        Ok(sqlx::PgConnection::connect(&self.postgres.url("postgres", "gitview")).await?)
    }

    /// One value of a query against the results database, as the superuser.
    pub async fn sql_scalar<T>(&self, sql: &'static str, bind: &str) -> anyhow::Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        let mut conn = self.superuser().await?;
        Ok(sqlx::query_scalar(sql)
            .bind(bind)
            .fetch_one(&mut conn)
            .await?)
    }

    /// One column of a query against the results database, as the superuser.
    pub async fn sql_column<T>(&self, sql: &'static str, bind: &str) -> anyhow::Result<Vec<T>>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        let mut conn = self.superuser().await?;
        Ok(sqlx::query_scalar(sql)
            .bind(bind)
            .fetch_all(&mut conn)
            .await?)
    }

    /// Starts one more operator replica and waits until it serves /readyz... or, as a
    /// standby, /healthz (caches only sync once it leads).
    pub async fn start_operator(&self) -> anyhow::Result<String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        self.start_operator_on(port).await
    }

    async fn start_operator_on(&self, port: u16) -> anyhow::Result<String> {
        let n = self
            .next_operator
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let identity = format!("operator-{n}");
        let webhook_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = self.work.path().join(format!("{identity}.log"));
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(self.target_dir.join("gitview-operator"))
            .args([
                "--signing-key-file",
                &self.work.path().join("signing.pem").display().to_string(),
            ])
            .args([
                "--lease-namespace",
                "gitview-system",
                "--identity",
                &identity,
                "--lease-seconds",
                "6",
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--janitor-interval",
                "10",
            ])
            .args(["--webhook-addr", &format!("127.0.0.1:{webhook_port}")])
            .args([
                "--gateway-url",
                &format!("http://127.0.0.1:{}", self.gateway_port),
            ])
            .env("KUBECONFIG", &self.operator_kubeconfig)
            // Tracker polls of the suite's HTTPS git servers (the only TLS roots it needs: the
            // API server's CA is in the kubeconfig, the gateway is plain http).
            .env("SSL_CERT_FILE", &self.ca.ca_file)
            .env("RUST_LOG", "info,kube=warn,gitview_operator=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = gitview_e2e::spawner::on_spawner_thread(move || command.spawn())?;
        let mut operators = self.operators.lock().await;
        operators.push(Operator {
            identity: identity.clone(),
            metrics_port: port,
            webhook_port,
            child,
            log,
        });
        drop(operators);
        wait_until(Duration::from_secs(30), || async move {
            http_get(port, "/healthz").is_some_and(|(code, _)| code == 200)
        })
        .await
        .context("operator /healthz")?;
        Ok(identity)
    }

    /// The identity holding the leader lease.
    pub async fn leader(&self) -> anyhow::Result<Option<String>> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "gitview-system");
        Ok(leases
            .get_opt("gitview-operator-leader")
            .await?
            .and_then(|l| l.spec?.holder_identity))
    }

    /// Waits until `identity` holds the leader lease.
    pub async fn await_leader(&self, identity: &str, timeout: Duration) -> anyhow::Result<()> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "gitview-system");
        let want = identity.to_owned();
        let cond = move |l: Option<&Lease>| {
            l.and_then(|l| l.spec.as_ref()?.holder_identity.as_deref()) == Some(want.as_str())
        };
        tokio::time::timeout(
            timeout,
            await_condition(leases, "gitview-operator-leader", cond),
        )
        .await
        .with_context(|| format!("{identity} did not become leader within {timeout:?}"))??;
        Ok(())
    }

    pub async fn create_namespace(&self, name: &str) -> anyhow::Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Runs kubectl as the admin user.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
        blocking(|| self.kubectl_blocking(args, stdin))
    }

    fn kubectl_blocking(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("kubectl")?;
        let mut input = child.stdin.take().context("kubectl stdin")?;
        input.write_all(stdin.unwrap_or_default().as_bytes())?;
        drop(input);
        Ok(child.wait_with_output()?)
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl(args, None)?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the control plane's helm with the admin kubeconfig.
    pub fn helm(&self, args: &[&str]) -> anyhow::Result<Output> {
        blocking(|| self.helm_blocking(args))
    }

    fn helm_blocking(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(self.bin.join("helm"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.work.path().join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.work.path().join("helm/config"))
            .env("HELM_DATA_HOME", self.work.path().join("helm/data"))
            .args(args)
            .output()
            .context("helm")
    }

    /// The Warning Events about one object (`kind`/`name`) in `ns`.
    pub async fn warnings(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), ns);
        Ok(events
            .list(&kube::api::ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name)
                })
            })
            .collect())
    }

    /// Waits until a Warning Event about `kind`/`name` in `ns` satisfies `found` (Events are
    /// written after the status a scenario awaits, and no condition announces them); fails
    /// naming `what` and the notes seen.
    pub async fn await_warning(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
        what: &str,
        found: impl Fn(&k8s_openapi::api::events::v1::Event) -> bool,
    ) -> anyhow::Result<()> {
        let waited = wait_until(Duration::from_secs(60), || async {
            self.warnings(ns, kind, name)
                .await
                .is_ok_and(|events| events.iter().any(&found))
        })
        .await;
        if waited.is_err() {
            let notes: Vec<String> = self
                .warnings(ns, kind, name)
                .await?
                .into_iter()
                .filter_map(|e| e.note)
                .collect();
            bail!("no Warning Event about {kind} {name} {what}; its warnings: {notes:?}");
        }
        Ok(())
    }

    /// `kubectl apply -f -` of a manifest; fails with kubectl's message.
    pub fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self.kubectl(&["apply", "-f", "-"], Some(yaml))?;
        if !out.status.success() {
            bail!(
                "kubectl apply failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Opens the gate that `e2e-gated` runners of a namespace wait for.
    pub fn open_gate(&self, namespace: &str) -> anyhow::Result<()> {
        std::fs::write(self.gates.join(namespace), b"open")?;
        Ok(())
    }

    /// Keeps the control plane's and the operators' logs after the suite.
    pub fn keep_logs(&self) {
        if let Some(plane) = self.plane.lock().expect("not poisoned").as_mut() {
            plane.keep_logs();
            eprintln!("  control plane logs: {}", plane.dir().display());
        }
        eprintln!(
            "  operator, gateway and node logs: {} (kept)",
            self.work.path().display()
        );
        if let Ok(operators) = self.operators.try_lock() {
            for operator in operators.iter() {
                eprintln!("  {}: {}", operator.identity, operator.log.display());
            }
        }
        let _ = std::fs::write(self.work.path().join(".keep"), b"");
    }

    pub async fn stop(self) {
        for operator in self.operators.lock().await.drain(..) {
            operator.kill();
        }
        if let Some(mut gateway) = self.gateway.lock().expect("not poisoned").take() {
            let _ = gateway.kill();
            let _ = gateway.wait();
        }
        if let Some(agent) = self.agent.lock().await.take() {
            agent.shutdown().await;
        }
        drop(self.plane.lock().expect("not poisoned").take());
        if self.work.path().join(".keep").exists() {
            let _ = self.work.keep();
        }
    }
}

/// Runs a blocking call (a kubectl or helm process: `helm upgrade --wait` takes minutes) without
/// holding a runtime worker: a task parked in a blocked worker's LIFO slot (the node agent's
/// pod watch, say) could not be stolen by the other workers, and the cluster would stall.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A bare HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}

/// Polls a condition that no watch announces (a process's HTTP endpoint).
pub async fn wait_until<F, Fut>(timeout: Duration, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !probe().await {
        if tokio::time::Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits (on a watch) until an Analysis satisfies `cond`; returns it.
pub async fn await_analysis(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&Analysis) -> bool + Send + 'static,
) -> anyhow::Result<Analysis> {
    let api: Api<Analysis> = Api::namespaced(client.clone(), namespace);
    let found = tokio::time::timeout(
        timeout,
        await_condition(api.clone(), name, move |a: Option<&Analysis>| {
            a.is_some_and(&cond)
        }),
    )
    .await;
    match found {
        Ok(Ok(Some(an))) => Ok(an),
        Ok(Ok(None)) => bail!("Analysis {namespace}/{name} vanished while waiting until {what}"),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => {
            let current = api.get_opt(name).await?.and_then(|a| a.status);
            bail!(
                "Analysis {namespace}/{name}: not {what} within {timeout:?}; status: {}",
                serde_json::to_string(&current)?
            )
        }
    }
}

/// The last lines of a log file, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| format!("({} unreadable: {err})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
