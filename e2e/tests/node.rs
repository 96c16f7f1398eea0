//! The real node: a kubelet, kube-proxy and CoreDNS built from upstream sources, Debian's
//! containerd and runc, joined to the e2e control plane (see `gitview_e2e::node`). What the
//! suite's node agent only imitates is checked here on the real thing: the Node authorizer,
//! scheduling, a pod network reaching Services by name, Pod Security admission at
//! `restricted`, the restricted security context as the kernel applies it, memory limits,
//! `activeDeadlineSeconds`, termination messages, and NetworkPolicies enforced (kube-router's
//! firewall) — the chart's runner egress policy among them.
//!
//! Runs in network and mount namespaces of its own, like the suite, and prints
//! `test NAME ... ok|FAILED` per scenario and `N passed, M failed`. Needs root, the binaries
//! `e2e/controlplane/build.sh` builds (`GITVIEW_CONTROLPLANE_BIN`, else the script is run)
//! and Debian's containerd, runc, iptables, ipset and umoci (`gitview_e2e::node::unavailable` names
//! what is missing).
#![expect(
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::future::BoxFuture;
use gitview_e2e::launcher::{ControlPlane, SERVICE_CIDR};
use gitview_e2e::node::{self, NODE_NAME, POD_CIDR, PROBE_IMAGE, RealNode};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Node, Pod};
use kube::api::Api;
use kube::runtime::wait::await_condition;

#[path = "node/network_policy.rs"]
mod network_policy;

const WAIT: Duration = Duration::from_secs(120);

struct Env {
    plane: ControlPlane,
    node: RealNode,
    /// The runner's image as `images/build.sh` built it, imported into the node.
    runner_image: String,
}

/// Where the parent process put the images `images/build.sh` built (set for the child it runs
/// inside the namespaces).
const IMAGES: &str = "GITVIEW_NODE_IMAGES";

/// The gitview images' names, as the chart refers to them (`image.registry`).
const REGISTRY: &str = "ghcr.io/gitview";

type Scenario = fn(&Env, String) -> BoxFuture<'_, anyhow::Result<()>>;

fn main() -> ExitCode {
    if !gitview_egress::testing::is_inside() {
        if let Some(why) = gitview_egress::testing::unavailable() {
            eprintln!("node: needs network namespaces: {why}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        // The images are built out here: mmdebstrap fetches Debian's packages, and the
        // namespaces have no way out.
        let images = match build_images() {
            Ok(images) => images,
            Err(err) => {
                eprintln!("node: cannot build the images: {err:#}");
                println!("0 passed, 1 failed");
                return ExitCode::FAILURE;
            }
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        return match gitview_egress::testing::inside_command(&args)
            .map(|mut c| {
                c.env(IMAGES, images.path());
                c
            })
            .and_then(|mut c| c.status())
        {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(err) => {
                eprintln!("node: cannot run inside namespaces: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let all: Vec<(&str, Scenario)> = vec![
        ("the_node_registers_as_itself_and_is_ready", |e, n| {
            Box::pin(the_node_registers_as_itself_and_is_ready(e, n))
        }),
        ("pods_reach_a_service_by_name", |e, n| {
            Box::pin(pods_reach_a_service_by_name(e, n))
        }),
        (
            "restricted_admission_refuses_a_pod_and_the_kernel_holds_the_rest",
            |e, n| Box::pin(restricted_admission_refuses_a_pod_and_the_kernel_holds_the_rest(e, n)),
        ),
        ("a_container_over_its_memory_limit_is_oom_killed", |e, n| {
            Box::pin(a_container_over_its_memory_limit_is_oom_killed(e, n))
        }),
        ("the_kubelet_enforces_the_active_deadline", |e, n| {
            Box::pin(the_kubelet_enforces_the_active_deadline(e, n))
        }),
        (
            "the_runner_image_analyzes_a_repository_served_by_name",
            |e, n| Box::pin(the_runner_image_analyzes_a_repository_served_by_name(e, n)),
        ),
        ("a_default_deny_egress_policy_blocks_a_service", |e, n| {
            Box::pin(network_policy::a_default_deny_egress_policy_blocks_a_service(e, n))
        }),
        (
            "an_egress_rule_lets_exactly_its_pods_and_port_through",
            |e, n| {
                Box::pin(
                    network_policy::an_egress_rule_lets_exactly_its_pods_and_port_through(e, n),
                )
            },
        ),
        (
            "the_charts_runner_policy_allows_dns_the_gateway_and_git_hosts_only",
            |e, n| {
                Box::pin(network_policy::the_charts_runner_policy_allows_dns_the_gateway_and_git_hosts_only(e, n))
            },
        ),
        (
            "the_chart_runs_an_analysis_from_the_built_images",
            |e, n| Box::pin(the_chart_runs_an_analysis_from_the_built_images(e, n)),
        ),
    ];
    let selected: Vec<_> = all
        .into_iter()
        .filter(|(name, _)| {
            filter
                .as_deref()
                .is_none_or(|f| f.split(',').any(|f| name.contains(f)))
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    let env = match runtime.block_on(start()) {
        Ok(env) => env,
        Err(err) => {
            eprintln!("node: cannot start the control plane and node: {err:#}");
            println!("0 passed, {} failed", selected.len());
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "node: control plane and node ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in selected {
        let namespace = format!(
            "node-{}",
            name.replace('_', "-").chars().take(40).collect::<String>()
        )
        .trim_end_matches('-')
        .to_owned();
        let t = Instant::now();
        let result = runtime.block_on(async {
            create_namespace(&env.plane, &namespace)?;
            match tokio::time::timeout(Duration::from_secs(180), scenario(&env, namespace.clone()))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("scenario timed out after 180 s")),
            }
        });
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.1}s)", t.elapsed().as_secs_f64());
            }
            Err(err) => {
                failed += 1;
                println!(
                    "test {name} ... FAILED ({:.1}s)\n  {err:#}",
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    let Env {
        mut plane,
        mut node,
        ..
    } = env;
    if failed > 0 {
        plane.keep_logs();
        node.keep_logs();
    }
    // The node before the control plane: its kubelet stops cleanly while the API answers.
    drop(node);
    drop(plane);
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn controlplane_bin() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("GITVIEW_CONTROLPLANE_BIN") {
        return Ok(bin.into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("controlplane/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .context("run e2e/controlplane/build.sh")?;
    ensure!(out.status.success(), "e2e/controlplane/build.sh failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout.lines().last().unwrap_or_default().trim().into())
}

async fn start() -> anyhow::Result<Env> {
    if let Some(why) = node::unavailable() {
        bail!("{why}");
    }
    let bin = controlplane_bin()?;
    let scratch = tempfile::Builder::new()
        .prefix("gitview-node-net-")
        .tempdir()?;
    gitview_egress::testing::set_up(scratch.path(), &[], true)
        .context("the namespace's network")?;
    node::prepare_network()?;
    let images =
        PathBuf::from(std::env::var_os(IMAGES).with_context(|| format!("{IMAGES} is not set"))?);
    // The three images under the names the chart gives them (`image.registry`).
    let archives: Vec<(String, PathBuf)> = ["operator", "gateway", "runner"]
        .iter()
        .map(|name| {
            (
                format!("{REGISTRY}/gitview-{name}"),
                images.join(format!("{name}.oci.tar")),
            )
        })
        .collect();
    let imports: Vec<(&str, &Path)> = archives
        .iter()
        .map(|(name, archive)| (name.as_str(), archive.as_path()))
        .collect();
    let runner_name = format!("{REGISTRY}/gitview-runner");
    let mut plane = ControlPlane::start_for_node(&bin, &node::access()).await?;
    let node = match RealNode::start(&plane, &bin, &imports).await {
        Ok(node) => node,
        Err(err) => {
            plane.keep_logs();
            return Err(err);
        }
    };
    // The hosts file stays bind-mounted from the scratch directory while the test runs.
    std::mem::forget(scratch);
    let runner_image = node
        .image_named(&runner_name)?
        .with_context(|| format!("{runner_name} was not imported"))?;
    Ok(Env {
        plane,
        node,
        runner_image,
    })
}

/// Builds the operator, gateway and runner images with `images/build.sh` from the binaries
/// `cargo build --workspace --bins` put beside this test, as users get them from a release
/// (but for the binaries' profile).
fn build_images() -> anyhow::Result<tempfile::TempDir> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the e2e crate has a parent")?;
    let target_dir = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .context("test binary under target/<profile>/deps")?
        .to_owned();
    for binary in ["gitview-operator", "gitview-runner", "gitview-gateway"] {
        ensure!(
            target_dir.join(binary).exists(),
            "{} is missing: run `cargo build --workspace --bins` first (./test.sh does)",
            target_dir.join(binary).display()
        );
    }
    let out = tempfile::Builder::new()
        .prefix("gitview-node-images-")
        .tempdir()?;
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(root.join("images/build.sh"))
        .arg("--bin-dir")
        .arg(&target_dir)
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .context("run images/build.sh")?;
    ensure!(status.success(), "images/build.sh failed ({status})");
    eprintln!(
        "node: images built by images/build.sh in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn create_namespace(plane: &ControlPlane, name: &str) -> anyhow::Result<()> {
    kubectl(plane, &["create", "namespace", name], None).map(drop)
}

/// Runs kubectl as the admin; fails with its message.
fn kubectl(plane: &ControlPlane, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let out = kubectl_output(plane, args, stdin)?;
    ensure!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn kubectl_output(
    plane: &ControlPlane,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<std::process::Output> {
    use std::io::Write as _;
    let mut child = plane
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().expect("piped");
    input.write_all(stdin.unwrap_or_default().as_bytes())?;
    drop(input);
    Ok(child.wait_with_output()?)
}

/// A pod of [`PROBE_IMAGE`] running `args`, with the restricted profile's security context
/// (as the runner's pods have it) and `extra` spliced into its spec.
fn probe_pod(name: &str, namespace: &str, labels: &str, args: &[&str], extra: &str) -> String {
    let args = serde_json::to_string(args).expect("strings serialize");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{{labels}}}}}
spec:
  restartPolicy: Never
  securityContext: {{runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {{type: RuntimeDefault}}}}
{extra}
  containers:
  - name: probe
    image: {PROBE_IMAGE}
    imagePullPolicy: Never
    args: {args}
    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
"#
    )
}

/// Waits until `pod` ended and returns it (phase Succeeded or Failed).
async fn ended(plane: &ControlPlane, namespace: &str, pod: &str) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(plane.client().await?, namespace);
    let done = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
    };
    tokio::time::timeout(WAIT, await_condition(pods.clone(), pod, done))
        .await
        .with_context(|| format!("pod {pod} did not end within {WAIT:?}"))??;
    Ok(pods.get(pod).await?)
}

fn terminated(pod: &Pod) -> anyhow::Result<ContainerStateTerminated> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.clone())
        .with_context(|| format!("no terminated state in {:?}", pod.status))
}

async fn the_node_registers_as_itself_and_is_ready(env: &Env, _ns: String) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(env.plane.client().await?);
    let node = nodes.get(NODE_NAME).await?;
    let status = node.status.context("the Node has a status")?;
    let info = status.node_info.context("node info")?;
    ensure!(
        info.kubelet_version == "v1.36.3",
        "kubelet version {}",
        info.kubelet_version
    );
    ensure!(
        info.container_runtime_version.starts_with("containerd://"),
        "runtime {}",
        info.container_runtime_version
    );
    // The kubelet's own credentials are a node's: the Node authorizer lets it read its own
    // Node, never Secrets across namespaces.
    let kubelet = env.plane.node.as_ref().context("node credentials")?;
    let can = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &kubelet.kubelet)
            .args(["auth", "can-i"])
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    ensure!(
        can(&["get", &format!("nodes/{NODE_NAME}")])? == "yes",
        "the kubelet cannot read its Node"
    );
    let secrets = can(&["list", "secrets", "--all-namespaces"])?;
    ensure!(
        secrets == "no" || secrets.starts_with("no - "),
        "the kubelet's user may list every Secret: can-i said {secrets:?}"
    );
    // The firewall's user reads what it turns into rules, and nothing else.
    let firewall = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &kubelet.firewall)
            .args(["auth", "can-i"])
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    ensure!(
        firewall(&[
            "watch",
            "networkpolicies.networking.k8s.io",
            "--all-namespaces"
        ])? == "yes",
        "the firewall cannot watch NetworkPolicies"
    );
    for denied in [
        &["list", "secrets", "--all-namespaces"][..],
        &["list", "services", "--all-namespaces"],
        &[
            "create",
            "networkpolicies.networking.k8s.io",
            "-n",
            "default",
        ],
    ] {
        let answer = firewall(denied)?;
        ensure!(
            answer.starts_with("no"),
            "the firewall's user may {denied:?}: can-i said {answer:?}"
        );
    }
    Ok(())
}

async fn pods_reach_a_service_by_name(env: &Env, ns: String) -> anyhow::Result<()> {
    let plane = &env.plane;
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n",
            probe_pod("web", &ns, "app: web", &["serve", ":8080", "hello"], "")
        )),
    )?;
    // Short and qualified names resolve through CoreDNS; the Service's port maps to the
    // pod's through kube-proxy.
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&probe_pod(
            "client",
            &ns,
            "app: client",
            &[
                "resolve",
                &format!("web.{ns}.svc.cluster.local"),
                ";",
                "get",
                "http://web/",
                "60",
            ],
            "",
        )),
    )?;
    let pod = ended(plane, &ns, "client").await?;
    let logs = kubectl(plane, &["logs", "-n", &ns, "client"], None)
        .context("kubectl logs (the API server reaching the kubelet)")?;
    ensure!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"),
        "the client failed: {logs}"
    );
    ensure!(logs.contains("hello from web"), "the client's log: {logs}");
    let service_prefix = SERVICE_CIDR.trim_end_matches(".0/24");
    ensure!(
        logs.contains(&format!("resolves to [{service_prefix}.")),
        "the Service's name did not resolve to a ClusterIP: {logs}"
    );
    let ip = pod
        .status
        .and_then(|s| s.pod_ip)
        .context("the client has a pod IP")?;
    ensure!(
        ip.starts_with(POD_CIDR.trim_end_matches(".0/24")),
        "pod IP {ip} outside {POD_CIDR}"
    );
    Ok(())
}

async fn restricted_admission_refuses_a_pod_and_the_kernel_holds_the_rest(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let plane = &env.plane;
    kubectl(
        plane,
        &[
            "label",
            "namespace",
            &ns,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        None,
    )?;
    let refused = kubectl_output(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: loose, namespace: {ns}}}\nspec:\n  containers:\n  - {{name: c, image: {PROBE_IMAGE}, args: [self]}}\n"
        )),
    )?;
    let message = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        !refused.status.success() && message.contains("violates PodSecurity \"restricted:latest\""),
        "a pod without the restricted context was not refused: {message}"
    );
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&probe_pod(
            "tight",
            &ns,
            "app: tight",
            &["self", ";", "write", "/probe-was-here", ";", "write", "/tmp/scratch", ";", "message", "probe done"],
            "  volumes: [{name: tmp, emptyDir: {}}]",
        )
        .replace(
            "    securityContext: {allowPrivilegeEscalation",
            "    volumeMounts: [{name: tmp, mountPath: /tmp}]\n    securityContext: {allowPrivilegeEscalation",
        )),
    )?;
    let pod = ended(plane, &ns, "tight").await?;
    let logs = env
        .node
        .container_log(&ns, "tight", "probe")
        .unwrap_or_default();
    let state = terminated(&pod)?;
    ensure!(state.exit_code == 0, "exit {}: {logs}", state.exit_code);
    for expected in [
        "uid=65532 gid=65532 CapEff=0000000000000000 NoNewPrivs=1 Seccomp=2",
        "cannot write /probe-was-here: open /probe-was-here: read-only file system",
        "wrote /tmp/scratch",
    ] {
        ensure!(
            logs.contains(expected),
            "missing {expected:?} in the log: {logs}"
        );
    }
    ensure!(
        state.message.as_deref() == Some("probe done"),
        "termination message {:?}",
        state.message
    );
    Ok(())
}

async fn a_container_over_its_memory_limit_is_oom_killed(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let plane = &env.plane;
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(
            &probe_pod("hungry", &ns, "app: hungry", &["alloc"], "").replace(
                "    securityContext: {allowPrivilegeEscalation",
                "    resources: {limits: {memory: 48Mi}}\n    securityContext: {allowPrivilegeEscalation",
            ),
        ),
    )?;
    let pod = ended(plane, &ns, "hungry").await?;
    let state = terminated(&pod)?;
    ensure!(
        state.reason.as_deref() == Some("OOMKilled") && state.exit_code == 137,
        "expected OOMKilled with 137, got {:?} {}",
        state.reason,
        state.exit_code
    );
    let logs = env
        .node
        .container_log(&ns, "hungry", "probe")
        .unwrap_or_default();
    ensure!(
        logs.contains("holding 16 MiB"),
        "the probe never allocated: {logs}"
    );
    ensure!(
        !logs.contains("holding 64 MiB"),
        "the limit did not hold: {logs}"
    );
    Ok(())
}

async fn the_kubelet_enforces_the_active_deadline(env: &Env, ns: String) -> anyhow::Result<()> {
    let plane = &env.plane;
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&probe_pod(
            "slow",
            &ns,
            "app: slow",
            &["sleep", "600"],
            "  activeDeadlineSeconds: 3",
        )),
    )?;
    let started = Instant::now();
    let pod = ended(plane, &ns, "slow").await?;
    let status = pod.status.context("a status")?;
    if status.reason.as_deref() != Some("DeadlineExceeded")
        || status.phase.as_deref() != Some("Failed")
    {
        bail!(
            "expected Failed/DeadlineExceeded, got {:?}/{:?}",
            status.phase,
            status.reason
        );
    }
    eprintln!(
        "  the deadline (3 s) ended the pod {:.1} s after it was created",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A git daemon of the test on the node's address, serving `base` (killed when dropped).
struct GitDaemon(std::process::Child);

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.test")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.test")
        .output()?;
    ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A repository of three commits (`repo.git`) served by a git daemon of the test on the node's
/// address, behind the Service `git` of `ns`; both go when the result is dropped.
async fn serve_repository(env: &Env, ns: &str) -> anyhow::Result<(GitDaemon, tempfile::TempDir)> {
    let base = tempfile::Builder::new()
        .prefix("gitview-node-git-")
        .tempdir()?;
    let work = base.path().join("work");
    std::fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    for (i, file) in ["README.md", "src/lib.rs", "src/main.rs"]
        .iter()
        .enumerate()
    {
        let path = work.join(file);
        std::fs::create_dir_all(path.parent().context("a parent")?)?;
        std::fs::write(&path, format!("line {i}\n"))?;
        git(&work, &["add", "."])?;
        git(&work, &["commit", "-q", "-m", &format!("Add {file}")])?;
    }
    git(base.path(), &["clone", "-q", "--bare", "work", "repo.git"])?;
    let port = std::net::TcpListener::bind((node::NODE_ADDRESS, 0))?
        .local_addr()?
        .port();
    let daemon = GitDaemon(
        Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                &format!("--listen={}", node::NODE_ADDRESS),
                &format!("--port={port}"),
                &format!("--base-path={}", base.path().display()),
            ])
            .arg(base.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start git daemon")?,
    );
    // The daemon listens once it accepts a connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((node::NODE_ADDRESS, port)).is_err() {
        ensure!(
            Instant::now() < deadline,
            "git daemon is not listening on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    RealNode::expose(&env.plane, ns, "git", 9418, port)?;
    Ok((daemon, base))
}

/// The runner's own image, as `images/build.sh` builds it, runs `analyze` in a restricted pod
/// on the real node and fetches a repository from a git daemon by its Service's name.
async fn the_runner_image_analyzes_a_repository_served_by_name(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let _served = serve_repository(env, &ns).await?;
    let pod = probe_pod(
        "runner",
        &ns,
        "app: runner",
        &["analyze", "git://git/repo.git", "--out", "/tmp/out"],
        "  volumes: [{name: tmp, emptyDir: {}}]",
    )
    .replace(PROBE_IMAGE, &env.runner_image)
    .replace(
        "    securityContext: {allowPrivilegeEscalation",
        "    env: [{name: HOME, value: /tmp}]\n    resources: {limits: {memory: 512Mi}}\n    volumeMounts: [{name: tmp, mountPath: /tmp}]\n    securityContext: {allowPrivilegeEscalation",
    );
    kubectl(&env.plane, &["apply", "-f", "-"], Some(&pod))?;
    let pod = ended(&env.plane, &ns, "runner").await?;
    let logs = env
        .node
        .container_log(&ns, "runner", "probe")
        .unwrap_or_default();
    let state = terminated(&pod)?;
    if state.exit_code != 0 {
        let rules = Command::new("iptables-save").args(["-t", "nat"]).output()?;
        bail!(
            "the runner exited {} ({:?}): {logs}\nkube-proxy's rules:\n{}",
            state.exit_code,
            state.reason,
            String::from_utf8_lossy(&rules.stdout)
        );
    }
    ensure!(
        logs.contains("analysis written commits=3"),
        "the runner's log does not say it analyzed 3 commits: {logs}"
    );
    Ok(())
}

/// The chart, installed with `helm` from the images `images/build.sh` built (their default
/// references, `ghcr.io/gitview/gitview-*:v<appVersion>`, already on the node), runs the
/// operator and the gateway as pods; an Analysis of a repository served by name runs in a
/// runner pod the operator creates, and its commits land in PostgreSQL through the gateway.
/// `helm uninstall` then removes the release.
async fn the_chart_runs_an_analysis_from_the_built_images(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    use gitview_crds::v1alpha1::{Analysis, AnalysisPhase};
    use sqlx::Connection as _;
    let plane = &env.plane;
    let _served = serve_repository(env, &ns).await?;

    // The results database: a throwaway PostgreSQL on the test's loopback, reached by the
    // gateway through a forwarder on the node's address and the Service `db`.
    let postgres = gitview_gateway::testing::TestPostgres::start().await?;
    postgres.create_database("gitview").await?;
    postgres
        .exec(
            "gitview",
            "CREATE ROLE gitview_app NOLOGIN; CREATE ROLE gateway LOGIN IN ROLE gitview_app",
        )
        .await?;
    let port = postgres
        .admin_url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse::<u16>().ok())
        .context("the database's port")?;
    let node_port = RealNode::forward(port)?;
    RealNode::expose(plane, &ns, "db", 5432, node_port)?;
    let db = format!("db.{ns}.svc.cluster.local:5432");
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: gv-database, namespace: {ns}}}\nstringData:\n  url: \"postgres://gateway@{db}/gitview\"\n  owner-url: \"postgres://postgres@{db}/gitview\"\n"
        )),
    )?;

    let chart = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the e2e crate has a parent")?
        .join("charts/gitview")
        .display()
        .to_string();
    let helm = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new(plane.bin().join("helm"))
            .env("KUBECONFIG", &plane.kubeconfig)
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "helm {}: {}{}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let state = || {
        kubectl(
            plane,
            &["get", "pods,events", "-n", &ns, "-o", "wide"],
            None,
        )
        .unwrap_or_default()
    };
    let watch = format!("operator.watchNamespaces={{{ns}}}");
    if let Err(err) = helm(&[
        "install",
        "gv",
        &chart,
        "-n",
        &ns,
        "--wait",
        "--timeout",
        "180s",
        "--set",
        "postgresql.bundled=false",
        "--set",
        "database.existingSecret=gv-database",
        "--set",
        "gateway.objectStore.volume.ephemeral=true",
        "--set",
        &watch,
    ]) {
        bail!("{err:#}\n{}", state());
    }

    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: history, namespace: {ns}}}\nspec:\n  \
             repository: {{url: \"git://git.{ns}.svc.cluster.local/repo.git\", ref: main}}\n  mode: {{type: Full}}\n"
        )),
    )?;
    let analyses: Api<Analysis> = Api::namespaced(plane.client().await?, &ns);
    let ended = |a: Option<&Analysis>| {
        a.and_then(|a| a.status.as_ref())
            .and_then(|s| s.phase)
            .is_some_and(|p| matches!(p, AnalysisPhase::Succeeded | AnalysisPhase::Failed))
    };
    let done =
        tokio::time::timeout(WAIT, await_condition(analyses.clone(), "history", ended)).await;
    let analysis = analyses.get("history").await?;
    let phase = analysis.status.as_ref().and_then(|s| s.phase);
    if done.is_err() || phase != Some(AnalysisPhase::Succeeded) {
        bail!(
            "the Analysis ended {phase:?} (or not within {WAIT:?}): {:?}\n{}",
            analysis.status,
            state()
        );
    }
    let mut db = sqlx::PgConnection::connect(&postgres.url("postgres", "gitview")).await?;
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM commits")
        .fetch_one(&mut db)
        .await?;
    ensure!(stored == 3, "{stored} commits stored, expected 3");

    helm(&["uninstall", "gv", "-n", &ns, "--wait", "--timeout", "120s"])?;
    Ok(())
}
