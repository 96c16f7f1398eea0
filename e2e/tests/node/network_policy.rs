//! NetworkPolicies on the real node, enforced by kube-router's firewall: each check is made
//! first without the policy by the same probe (it connects), then with it. A new pod is
//! unprotected until the firewall's next sync, so the first `blocked` step of a pod retries
//! until the block is in place and the later checks get one try.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, ensure};
use gitview_e2e::launcher::ControlPlane;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::wait::await_condition;

use super::{Env, WAIT, create_namespace, ended, kubectl, probe_pod};

/// Waits until `pod` runs with an address and returns the address.
async fn running_ip(plane: &ControlPlane, namespace: &str, pod: &str) -> anyhow::Result<String> {
    let pods: Api<Pod> = Api::namespaced(plane.client().await?, namespace);
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
    };
    tokio::time::timeout(WAIT, await_condition(pods.clone(), pod, running))
        .await
        .with_context(|| format!("pod {pod} did not run within {WAIT:?}"))??;
    pods.get(pod)
        .await?
        .status
        .and_then(|s| s.pod_ip)
        .context("a running pod's address")
}

/// Starts `probe serve` pods: (name, labels, port), and returns their addresses in order.
async fn servers(
    plane: &ControlPlane,
    namespace: &str,
    pods: &[(&str, &str, u16)],
) -> anyhow::Result<Vec<String>> {
    for (name, labels, port) in pods {
        let listen = format!(":{port}");
        kubectl(
            plane,
            &["apply", "-f", "-"],
            Some(&probe_pod(
                name,
                namespace,
                labels,
                &["serve", &listen, name],
                "",
            )),
        )?;
    }
    let mut addresses = vec![];
    for (name, _, _) in pods {
        addresses.push(running_ip(plane, namespace, name).await?);
    }
    Ok(addresses)
}

/// Runs a probe pod through `steps` (each a step and its arguments, split at spaces) and
/// returns its log; fails with the log unless every step succeeded.
async fn probe_run(
    plane: &ControlPlane,
    namespace: &str,
    name: &str,
    labels: &str,
    steps: &[String],
) -> anyhow::Result<String> {
    let args: Vec<&str> = steps
        .iter()
        .enumerate()
        .flat_map(|(i, step)| (i > 0).then_some(";").into_iter().chain(step.split(' ')))
        .collect();
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&probe_pod(name, namespace, labels, &args, "")),
    )?;
    let pod = ended(plane, namespace, name).await?;
    let logs = kubectl(plane, &["logs", "-n", namespace, name], None)?;
    ensure!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"),
        "{name} failed:\n{logs}"
    );
    Ok(logs)
}

/// A NetworkPolicy that selects every pod of the namespace for egress and allows none: what
/// a pod reached before, it cannot reach after (the same probe, the same address).
pub async fn a_default_deny_egress_policy_blocks_a_service(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let plane = &env.plane;
    servers(plane, &ns, &[("web", "app: web", 8080)]).await?;
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        )),
    )?;
    let ip = kubectl(
        plane,
        &[
            "get",
            "service",
            "web",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        None,
    )?;
    let service = format!("{}:80", ip.trim());
    probe_run(
        plane,
        &ns,
        "before",
        "app: client",
        &[
            format!("connect {service} 60"),
            format!("get http://{service}/ 5"),
        ],
    )
    .await
    .context("without a policy")?;

    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-egress, namespace: {ns}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n"
        )),
    )?;
    let logs = probe_run(
        plane,
        &ns,
        "after",
        "app: client",
        &[format!("blocked {service} 30")],
    )
    .await
    .context("with the default-deny policy")?;
    ensure!(
        logs.contains(&format!("{service} blocked: ")),
        "the policy did not block the Service: {logs}"
    );
    Ok(())
}

/// Default deny plus one egress rule (pods `app: web`, TCP 8080): the client reaches that pod
/// on that port, and neither another pod on the same port nor a web pod on another port,
/// all of which it reached before the policies.
pub async fn an_egress_rule_lets_exactly_its_pods_and_port_through(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let plane = &env.plane;
    let ips = servers(
        plane,
        &ns,
        &[
            ("web", "app: web", 8080),
            ("web-admin", "app: web", 9090),
            ("other", "app: other", 8080),
        ],
    )
    .await?;
    let (web, admin, other) = (
        format!("{}:8080", ips[0]),
        format!("{}:9090", ips[1]),
        format!("{}:8080", ips[2]),
    );
    probe_run(
        plane,
        &ns,
        "before",
        "app: client",
        &[
            format!("connect {web} 60"),
            format!("connect {admin} 60"),
            format!("connect {other} 60"),
        ],
    )
    .await
    .context("without a policy")?;

    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-egress, namespace: {ns}}}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: client-to-web, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: client}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
    ports: [{{protocol: TCP, port: 8080}}]
"#
        )),
    )?;
    // The first step waits for the firewall to take the new pod in; after it, each check has
    // one try.
    let logs = probe_run(
        plane,
        &ns,
        "after",
        "app: client",
        &[
            format!("blocked {other} 30"),
            format!("connect {web} 1"),
            format!("blocked {admin} 1"),
        ],
    )
    .await
    .context("with the policies")?;
    for expected in [
        format!("{other} blocked: "),
        format!("{web} connected"),
        format!("{admin} blocked: "),
    ] {
        ensure!(logs.contains(&expected), "missing {expected:?} in: {logs}");
    }
    Ok(())
}

/// The chart's runner NetworkPolicy (`helm template`, `runner.networkPolicy`) in the
/// namespace where Analyses run, the release (a gateway stand-in with the gateway's labels
/// and port, and an operator stand-in) in another, a git host's address allowed on one port.
/// A runner pod resolves names through the cluster DNS, reaches the gateway's Service and the
/// git host; it does not reach the operator, the gateway pods on another port, or the
/// Kubernetes API. A runner pod before the policy reached all of them.
pub async fn the_charts_runner_policy_allows_dns_the_gateway_and_git_hosts_only(
    env: &Env,
    ns: String,
) -> anyhow::Result<()> {
    let plane = &env.plane;
    let release = format!("{ns}-rel");
    create_namespace(plane, &release)?;
    let gateway_labels =
        "app.kubernetes.io/name: gitview-gateway, app.kubernetes.io/instance: gitview";
    // Two pods with the gateway's labels, on the gateway's port and on another; the Service
    // selects only the first (in a release, every gateway pod serves the gateway's port).
    let ips = servers(
        plane,
        &release,
        &[
            (
                "gateway",
                &format!("{gateway_labels}, serves: gateway"),
                8080,
            ),
            ("gateway-other-port", gateway_labels, 9090),
            (
                "operator",
                "app.kubernetes.io/name: gitview-operator, app.kubernetes.io/instance: gitview",
                8080,
            ),
            ("git", "app: git", 8080),
        ],
    )
    .await?;
    kubectl(
        plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: gitview-gateway, namespace: {release}}}\nspec:\n  selector: {{serves: gateway}}\n  ports: [{{port: 8080}}]\n"
        )),
    )?;
    let gateway = format!("gitview-gateway.{release}.svc.cluster.local");
    let (other_port, operator, git) = (
        format!("{}:9090", ips[1]),
        format!("{}:8080", ips[2]),
        format!("{}:8080", ips[3]),
    );
    let api = "kubernetes.default.svc.cluster.local:443";
    let runner_labels =
        "app.kubernetes.io/name: gitview-runner, app.kubernetes.io/managed-by: gitview-operator";

    probe_run(
        plane,
        &ns,
        "before",
        runner_labels,
        &[
            format!("resolve {gateway}"),
            format!("connect {gateway}:8080 60"),
            format!("connect {git} 60"),
            format!("connect {other_port} 60"),
            format!("connect {operator} 60"),
            format!("connect {api} 60"),
        ],
    )
    .await
    .context("a runner pod without the policy")?;

    let policy = runner_policy(env, &release, &ns, &format!("{}/32", ips[3]))?;
    ensure!(
        policy.contains("kind: NetworkPolicy") && policy.contains(&format!("namespace: {ns}")),
        "the chart rendered no runner policy for {ns}:\n{policy}"
    );
    kubectl(plane, &["apply", "-f", "-"], Some(&policy))?;
    let logs = probe_run(
        plane,
        &ns,
        "runner",
        runner_labels,
        &[
            format!("blocked {operator} 30"),
            format!("resolve {gateway}"),
            format!("get http://{gateway}:8080/ 1"),
            format!("connect {git} 1"),
            format!("blocked {other_port} 1"),
            format!("blocked {api} 1"),
        ],
    )
    .await
    .with_context(|| format!("a runner pod with the chart's policy:\n{policy}"))?;
    for expected in [
        format!("{operator} blocked: "),
        "gateway from gateway".to_owned(),
        format!("{git} connected"),
        format!("{other_port} blocked: "),
        format!("{api} blocked: "),
    ] {
        ensure!(logs.contains(&expected), "missing {expected:?} in: {logs}");
    }
    Ok(())
}

/// The chart's runner NetworkPolicy for `runner_namespace`, release `gitview` in `release`,
/// with one git host (`cidr`, TCP 8080).
fn runner_policy(
    env: &Env,
    release: &str,
    runner_namespace: &str,
    cidr: &str,
) -> anyhow::Result<String> {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/gitview");
    let home = tempfile::Builder::new()
        .prefix("gitview-node-helm-")
        .tempdir()?;
    let out = Command::new(env.plane.bin().join("helm"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .arg("template")
        .arg("gitview")
        .arg(&chart)
        .args(["--namespace", release])
        .args(["--show-only", "templates/networkpolicy.yaml"])
        .args(["--set", "runner.networkPolicy.enabled=true"])
        .args([
            "--set",
            &format!("runner.networkPolicy.namespaces={{{runner_namespace}}}"),
        ])
        .args([
            "--set",
            &format!("runner.networkPolicy.gitHosts[0].cidr={cidr}"),
        ])
        .args(["--set", "runner.networkPolicy.gitHosts[0].ports={8080}"])
        .output()
        .context("helm template")?;
    ensure!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
