//! The Helm chart on the real API server: rendered with several values sets and accepted by a
//! server-side dry run; `database.tls` mounting the database's CA into the gateway pod and
//! passing it and the sslmode; the namespace-limited RBAC applied and checked with `kubectl auth
//! can-i`; bad values refused by the chart's schema with a readable message; the files
//! generated from the chart (`config/rbac`, `config/catalog`) in sync with it.

use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};

use super::Env;

/// Renders the chart as release `gitview` into `namespace` with `--set` values.
fn render(env: &Env, namespace: &str, sets: &[&str]) -> anyhow::Result<std::process::Output> {
    render_release(env, "gitview", namespace, sets, &[])
}

/// Renders the chart as `release` into `namespace` with `--set` values and more `helm
/// template` arguments.
fn render_release(
    env: &Env,
    release: &str,
    namespace: &str,
    sets: &[&str],
    more: &[&str],
) -> anyhow::Result<std::process::Output> {
    let chart = env.root.join("charts/gitview").display().to_string();
    let mut args = vec![
        "template",
        release,
        chart.as_str(),
        "--namespace",
        namespace,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    args.extend(more);
    env.helm(&args)
}

pub async fn the_chart_renders_and_the_api_server_accepts_it(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let chart = env.root.join("charts/gitview").display().to_string();
    let lint = env.helm(&["lint", "--strict", &chart])?;
    ensure!(
        lint.status.success(),
        "helm lint failed:\n{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let network_namespaces = format!("runner.networkPolicy.namespaces={{{ns}}}");
    let runner_policy_here = format!("name: gitview-runner\n  namespace: {ns}");
    let watch_namespaces = format!("operator.watchNamespaces={{{ns}}}");
    let namespaced_role =
        format!("kind: Role\nmetadata:\n  name: gitview-operator\n  namespace: {ns}\n");
    let values_sets: Vec<(&str, Vec<&str>, &str)> = vec![
        ("defaults", vec![], "kind: StatefulSet"),
        (
            "defaults: the gateway on its ReadWriteOnce artifacts claim is replaced old pod first",
            vec![],
            "rollingUpdate: {maxSurge: 0, maxUnavailable: 1}",
        ),
        (
            "two operator replicas, runner network policy",
            vec![
                "operator.replicas=2",
                "runner.networkPolicy.enabled=true",
                &network_namespaces,
                "runner.networkPolicy.gitHosts[0].cidr=192.0.2.0/24",
                "runner.networkPolicy.gitHosts[0].ports={443,22}",
            ],
            "kind: NetworkPolicy",
        ),
        (
            "an existing database",
            vec![
                "postgresql.bundled=false",
                "database.existingSecret=my-db",
                "gateway.replicas=2",
                "gateway.objectStore.url=s3://gitview-artifacts/results",
                "gateway.objectStore.existingSecret=my-s3",
            ],
            "secretName: my-db",
        ),
        (
            "artifacts on a shared volume of two gateways",
            vec![
                "gateway.replicas=2",
                "gateway.objectStore.volume.accessModes={ReadWriteMany}",
            ],
            "claimName: gitview-gateway-artifacts",
        ),
        (
            "the web UI behind an Ingress, sessions of 8 hours",
            vec![
                "gateway.ingress.enabled=true",
                "gateway.ingress.host=gitview.example.com",
                "gateway.ingress.tlsSecretName=gitview-tls",
                "gateway.ui.sessionTTL=8h",
            ],
            "host: \"gitview.example.com\"",
        ),
        (
            "the web UI behind an auth proxy",
            vec![
                "gateway.ui.authProxy.enabled=true",
                "gateway.ui.authProxy.from={10.0.0.0/8}",
                "gateway.ui.authProxy.groups.platform=team-a",
            ],
            "--ui-auth-proxy-from=10.0.0.0/8",
        ),
        (
            "artifacts on an emptyDir",
            vec!["gateway.objectStore.volume.ephemeral=true"],
            "--object-store=file:///var/lib/gitview/artifacts",
        ),
        (
            "three gateways share each key's rate limit",
            vec![
                "gateway.replicas=3",
                "gateway.objectStore.url=none",
                "gateway.rateLimit.perSecond=50",
            ],
            "--rate-limit-per-key=17",
        ),
        (
            "no gateway in this release",
            vec![
                "gateway.enabled=false",
                "gateway.url=https://gitview-gateway.example.com",
                "postgresql.bundled=false",
            ],
            "https://gitview-gateway.example.com",
        ),
        (
            "no catalog",
            vec![
                "catalog.install=false",
                "operator.signingKey.existingSecret=my-key",
            ],
            "secretName: my-key",
        ),
        (
            "runner egress policies in the namespaces the operator serves",
            vec!["runner.networkPolicy.enabled=true", &watch_namespaces],
            runner_policy_here.as_str(),
        ),
        (
            "the operator limited to one namespace",
            vec![&watch_namespaces],
            &namespaced_role,
        ),
    ];
    for (what, sets, expected) in values_sets {
        let rendered = render(&env, &ns, &sets)?;
        ensure!(
            rendered.status.success(),
            "{what}: helm template failed: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let manifest = String::from_utf8(rendered.stdout).context("helm prints UTF-8")?;
        ensure!(
            manifest.contains(expected),
            "{what}: the rendering lacks {expected:?}"
        );
        let dry_run = env.kubectl(
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            Some(&manifest),
        )?;
        ensure!(
            dry_run.status.success(),
            "{what}: the API server refused the rendering:\n{}",
            String::from_utf8_lossy(&dry_run.stderr)
        );
        let accepted = String::from_utf8_lossy(&dry_run.stdout);
        ensure!(
            accepted.contains("deployment.apps/gitview-operator created (server dry run)"),
            "{what}: {accepted}"
        );
    }

    // The runner egress policy as the API server sees it: it selects the operator's runner
    // pods, denies all ingress, and allows egress only to DNS, the gateway and the listed
    // peers.
    let sets = [
        "runner.networkPolicy.enabled=true".to_owned(),
        format!("runner.networkPolicy.namespaces={{{ns}}}"),
        "runner.networkPolicy.gitHosts[0].cidr=192.0.2.0/24".to_owned(),
        "runner.networkPolicy.gitHosts[0].ports={443,22}".to_owned(),
        "runner.networkPolicy.modelEndpoints[0].cidr=198.51.100.7/32".to_owned(),
        "runner.networkPolicy.modelEndpoints[0].ports={443}".to_owned(),
        "gateway.port=8181".to_owned(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let rendered = render(&env, &ns, &sets)?;
    ensure!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let manifest = String::from_utf8(rendered.stdout)?;
    let out = env.kubectl(
        &[
            "apply",
            "--dry-run=server",
            "-n",
            &ns,
            "-f",
            "-",
            "-o",
            "json",
        ],
        Some(&manifest),
    )?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let policy = applied["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["kind"] == "NetworkPolicy"))
        .context("no NetworkPolicy in the rendering")?;
    let spec = &policy["spec"];
    ensure!(
        spec["podSelector"]["matchLabels"]
            == serde_json::json!({"app.kubernetes.io/name": gitview_crds::labels::RUNNER_NAME, "app.kubernetes.io/managed-by": gitview_crds::labels::MANAGED_BY}),
        "the policy does not select the operator's runner pods: {}",
        spec["podSelector"]
    );
    ensure!(
        spec["policyTypes"] == serde_json::json!(["Ingress", "Egress"]),
        "policyTypes: {}",
        spec["policyTypes"]
    );
    ensure!(
        spec["ingress"].as_array().is_none_or(Vec::is_empty),
        "ingress allowed: {}",
        spec["ingress"]
    );
    let egress = spec["egress"].as_array().context("egress rules")?;
    let ports = |rule: &serde_json::Value| -> Vec<String> {
        rule["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{}/{}", p["protocol"].as_str().unwrap_or("?"), p["port"]))
            .collect()
    };
    ensure!(egress.len() == 4, "egress rules: {egress:?}");
    ensure!(
        egress[0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            == "kube-system"
            && ports(&egress[0]) == ["UDP/53", "TCP/53"],
        "DNS: {}",
        egress[0]
    );
    ensure!(
        egress[1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            == "gitview-gateway"
            && ports(&egress[1]) == ["TCP/8181"],
        "gateway: {}",
        egress[1]
    );
    ensure!(
        egress[2]["to"][0]["ipBlock"]["cidr"] == "192.0.2.0/24"
            && ports(&egress[2]) == ["TCP/443", "TCP/22"],
        "git host: {}",
        egress[2]
    );
    ensure!(
        egress[3]["to"][0]["ipBlock"]["cidr"] == "198.51.100.7/32"
            && ports(&egress[3]) == ["TCP/443"],
        "model endpoint: {}",
        egress[3]
    );

    database_tls_mounts_the_ca_and_sets_the_mode(&env, &ns)?;

    // Nothing of the dry runs was created.
    let left = env.kubectl_ok(&["get", "deploy,statefulset,secret", "-n", &ns, "-o", "name"])?;
    ensure!(
        !left.contains("gitview-operator"),
        "a dry run left objects behind: {left}"
    );

    namespace_limited_rbac_grants_only_the_listed_namespace(&env, &ns).await
}

/// `database.tls`, as the API server sees the gateway's Deployment: the CA Secret's key mounted
/// read-only into both the migrations' init container and the gateway, and both given the
/// sslmode and that CA as flags; without the values, neither flags nor volume.
fn database_tls_mounts_the_ca_and_sets_the_mode(env: &Env, ns: &str) -> anyhow::Result<()> {
    let gateway = |sets: &[&str]| -> anyhow::Result<serde_json::Value> {
        let rendered = render_release(
            env,
            "gitview",
            ns,
            sets,
            &["--show-only", "templates/gateway.yaml"],
        )?;
        ensure!(
            rendered.status.success(),
            "helm template failed: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let manifest = String::from_utf8(rendered.stdout).context("helm prints UTF-8")?;
        let out = env.kubectl(
            &[
                "apply",
                "--dry-run=server",
                "-n",
                ns,
                "-f",
                "-",
                "-o",
                "json",
            ],
            Some(&manifest),
        )?;
        ensure!(
            out.status.success(),
            "the API server refused the rendering:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let applied: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        applied["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["kind"] == "Deployment"))
            .map(|deployment| deployment["spec"]["template"]["spec"].clone())
            .context("no Deployment in the gateway's rendering")
    };
    let pod = gateway(&[
        "database.tls.mode=verify-full",
        "database.tls.caSecret.name=db-ca",
        "database.tls.caSecret.key=bundle.pem",
    ])?;
    let volume = pod["volumes"]
        .as_array()
        .and_then(|volumes| volumes.iter().find(|v| v["name"] == "database-ca"))
        .context("no database-ca volume")?;
    ensure!(
        volume["secret"]["secretName"] == "db-ca"
            && volume["secret"]["items"]
                == serde_json::json!([{"key": "bundle.pem", "path": "ca.crt"}]),
        "the CA volume: {volume}"
    );
    for container in [&pod["initContainers"][0], &pod["containers"][0]] {
        let name = &container["name"];
        let args = container["args"].as_array().context("args")?;
        for flag in [
            "--database-sslmode=verify-full",
            "--database-sslrootcert=/etc/gitview/database-ca/ca.crt",
        ] {
            ensure!(
                args.iter().any(|a| a == flag),
                "{name}: no {flag} in {args:?}"
            );
        }
        let mounted = container["volumeMounts"].as_array().is_some_and(|mounts| {
            mounts.iter().any(|m| {
                m["name"] == "database-ca"
                    && m["mountPath"] == "/etc/gitview/database-ca"
                    && m["readOnly"] == true
            })
        });
        ensure!(
            mounted,
            "{name}: the CA is not mounted read-only: {}",
            container["volumeMounts"]
        );
    }

    let pod = gateway(&[])?;
    let text = pod.to_string();
    ensure!(
        !text.contains("database-ca") && !text.contains("--database-ssl"),
        "TLS settings without database.tls: {text}"
    );
    Ok(())
}

/// The RBAC of a release limited to `ns`, applied for real (as another release, so the suite's
/// own operator RBAC stays as it is): its service account may run analyses in `ns` and read
/// the cluster-scoped catalog, and nothing in any other namespace. Deleted afterwards.
async fn namespace_limited_rbac_grants_only_the_listed_namespace(
    env: &Env,
    ns: &str,
) -> anyhow::Result<()> {
    let watch_namespaces = format!("operator.watchNamespaces={{{ns}}}");
    let only_rbac = ["--show-only", "templates/rbac.yaml"];
    let rendered = render_release(env, "nslimit", ns, &[&watch_namespaces], &only_rbac)?;
    ensure!(
        rendered.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let manifest = String::from_utf8(rendered.stdout).context("helm prints UTF-8")?;
    let cluster_role = manifest
        .split("\n---")
        .find(|doc| {
            doc.contains("\nkind: ClusterRole\n")
                && doc.contains("name: nslimit-gitview-operator\n")
        })
        .context("the rendering has the operator's ClusterRole")?;
    ensure!(
        !cluster_role.contains("pods") && !cluster_role.contains("secrets"),
        "the ClusterRole still grants namespaced access:\n{cluster_role}"
    );

    let applied = env.kubectl(&["apply", "-f", "-"], Some(&manifest))?;
    ensure!(
        applied.status.success(),
        "the namespace-limited RBAC does not apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let checked = async {
        let account = format!("system:serviceaccount:{ns}:nslimit-gitview-operator");
        let can = |verb: &str, resource: &str, namespace: Option<&str>| -> anyhow::Result<bool> {
            let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            let mut args = vec!["auth", "can-i", verb, resource, "--as", &account];
            match namespace {
                Some(namespace) => args.extend(["-n", namespace]),
                None => args.push("--all-namespaces"),
            }
            if !subresource.is_empty() {
                args.extend(["--subresource", subresource]);
            }
            let out = env.kubectl(&args, None)?;
            Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
        };
        super::wait_until(std::time::Duration::from_secs(30), || async {
            can("create", "pods", Some(ns)).unwrap_or(false)
        })
        .await
        .context("the operator's account never got pods create in its namespace")?;
        let in_its_namespace = [
            ("watch", "analyses.gitview.dev"),
            ("patch", "analyses.gitview.dev/status"),
            ("create", "secrets"),
            ("create", "events.events.k8s.io"),
        ];
        for (verb, resource) in in_its_namespace {
            ensure!(
                can(verb, resource, Some(ns))?,
                "the operator may not {verb} {resource} in {ns}"
            );
        }
        ensure!(
            can("list", "analysisprofiles.gitview.dev", None)?,
            "the operator may not list the catalog"
        );
        ensure!(
            can("patch", "analysisprofiles.gitview.dev/status", None)?,
            "the operator may not write the catalog's status"
        );
        ensure!(
            !can("patch", "analysisprofiles.gitview.dev", None)?,
            "the operator may change the catalog"
        );
        ensure!(
            can("get", "namespaces", None)?,
            "the operator may not get namespaces"
        );
        for (verb, resource) in [
            ("create", "pods"),
            ("get", "secrets"),
            ("list", "analyses.gitview.dev"),
        ] {
            ensure!(
                !can(verb, resource, Some("default"))?,
                "the operator may {verb} {resource} in another namespace"
            );
            ensure!(
                !can(verb, resource, None)?,
                "the operator may {verb} {resource} in every namespace"
            );
        }
        anyhow::Ok(())
    }
    .await;
    let deleted = env.kubectl(
        &["delete", "--ignore-not-found", "-f", "-"],
        Some(&manifest),
    )?;
    checked?;
    ensure!(
        deleted.status.success(),
        "cannot delete the namespace-limited RBAC: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    Ok(())
}

pub async fn bad_chart_values_are_refused_with_a_readable_message(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let cases: [(&[&str], &str); 16] = [
        (
            &["gateway.objectStore.url=gs://bucket"],
            "/gateway/objectStore/url",
        ),
        (
            &["gateway.replicas=2"],
            "gateway.replicas > 1 share the artifacts volume",
        ),
        (
            &["gateway.objectStore.existingSecret=s3"],
            "set gateway.objectStore.url to s3://",
        ),
        (&["operator.replicas=0"], "/operator/replicas"),
        (
            &["operator.replica=2"],
            "additional properties 'replica' not allowed",
        ),
        (
            &["postgresql.storage.size=lots"],
            "/postgresql/storage/size",
        ),
        (&["gateway.url=ftp://x"], "/gateway/url"),
        (&["gateway.ingress.enabled=true"], "/gateway/ingress/host"),
        (&["gateway.ui.sessionTTL=forever"], "/gateway/ui/sessionTTL"),
        (
            &["gateway.ui.authProxy.enabled=true"],
            "/gateway/ui/authProxy/from",
        ),
        (
            &[
                "runner.networkPolicy.gitHosts[0].cidr=github.com",
                "runner.networkPolicy.gitHosts[0].ports={443}",
            ],
            "cidr",
        ),
        (
            &["postgresql.bundled=false"],
            "the gateway needs a database",
        ),
        (
            &["runner.networkPolicy.enabled=true"],
            "runner.networkPolicy.enabled needs the namespaces where Analyses run",
        ),
        (
            &["operator.watchNamespaces={team-a,Team_B}"],
            "/operator/watchNamespaces/1",
        ),
        (&["operator.watchNamespaces={team-a,team-a}"], "are equal"),
        (
            &["operator.progressRefreshSeconds=0"],
            "/operator/progressRefreshSeconds",
        ),
    ];
    for (sets, expected) in cases {
        let rendered = render(&env, &ns, sets)?;
        let stderr = String::from_utf8_lossy(&rendered.stderr);
        if rendered.status.success() {
            bail!("{sets:?} was accepted");
        }
        ensure!(
            stderr.contains(expected),
            "{sets:?}: the message does not name {expected:?}:\n{stderr}"
        );
    }
    Ok(())
}

pub async fn files_generated_from_the_chart_are_in_sync(
    env: Arc<Env>,
    _ns: String,
) -> anyhow::Result<()> {
    let output = std::process::Command::new("bash")
        .arg(env.root.join("charts/gitview/sync.sh"))
        .arg("--check")
        .env("HELM", env.bin.join("helm"))
        .output()?;
    ensure!(
        output.status.success(),
        "charts/gitview/sync.sh --check failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

pub async fn config_manifests_apply_as_they_are(env: Arc<Env>, _ns: String) -> anyhow::Result<()> {
    // The samples and the catalog, as a user would apply them (server-side dry run: the
    // samples' Secrets are the user's to create).
    for file in [
        "config/catalog/profiles.yaml",
        "config/samples/analysisprofile-default.yaml",
    ] {
        let path = env.root.join(file).display().to_string();
        let out = env.kubectl(&["apply", "--dry-run=server", "-f", &path], None)?;
        ensure!(
            out.status.success(),
            "{file} does not apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for file in [
        "config/samples/analysis.yaml",
        "config/samples/repositorytracker.yaml",
    ] {
        let path = env.root.join(file).display().to_string();
        let out = env.kubectl(
            &["apply", "--dry-run=server", "-n", "default", "-f", &path],
            None,
        )?;
        ensure!(
            out.status.success(),
            "{file} does not apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The tenant example for real: its groups get exactly the access it promises, through the
    // roles the chart aggregates into `edit` and `view` (config/rbac/operator.yaml, applied at
    // start, carries them; the controller manager aggregates them).
    env.kubectl_ok(&[
        "apply",
        "-f",
        &env.root
            .join("config/tenants/team-a.yaml")
            .display()
            .to_string(),
    ])?;
    let can = |group: &str, verb: &str, resource: &str| -> anyhow::Result<bool> {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let mut args = vec![
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            "team-a",
            "--as",
            "someone",
            "--as-group",
            group,
        ];
        if !subresource.is_empty() {
            args.extend(["--subresource", subresource]);
        }
        let out = env.kubectl(&args, None)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
    };
    super::wait_until(std::time::Duration::from_secs(30), || async {
        can("team-a-engineers", "create", "analyses.gitview.dev").unwrap_or(false)
            && can("team-a-readers", "get", "analyses.gitview.dev").unwrap_or(false)
    })
    .await
    .context("the tenant groups never got their gitview access")?;
    ensure!(
        !can("team-a-readers", "create", "analyses.gitview.dev")?,
        "readers may create analyses"
    );
    ensure!(
        !can("team-a-engineers", "create", "analysisprofiles.gitview.dev")?,
        "engineers may change the catalog"
    );
    ensure!(
        !can("team-a-engineers", "patch", "analyses.gitview.dev/status")?,
        "engineers may write status"
    );
    Ok(())
}
