//! The chart installed for real: `helm install` runs the operator and the gateway as pods (the
//! node agent runs them, with their service-account tokens, in-cluster configuration and
//! Service names), an Analysis runs end to end through them, `helm upgrade` replaces both
//! while the run is in flight without disturbing it, and `helm uninstall` leaves nothing of
//! the release behind but the CRDs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};

use super::{Env, await_analysis, gateway_at};

const RELEASE: &str = "gv";
const INSTANCE: &str = "app.kubernetes.io/instance=gv";
const RUN: Duration = Duration::from_secs(120);

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn phase_is(p: AnalysisPhase) -> impl Fn(&Analysis) -> bool + Send + 'static {
    move |an| an.status.as_ref().and_then(|s| s.phase) == Some(p)
}

/// `helm ARGS`, failing with helm's own message.
fn helm_ok(env: &Env, args: &[&str]) -> anyhow::Result<String> {
    let out = env.helm(args)?;
    ensure!(
        out.status.success(),
        "helm {} failed:\n{}{}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the release's workloads look like, for a failure message.
fn release_state(env: &Env, ns: &str) -> String {
    let get = |args: &[&str]| {
        env.kubectl(args, None)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    format!(
        "the release's workloads:\n{}\nevents:\n{}",
        get(&["get", "deploy,rs,pod", "-n", ns, "-o", "wide"]),
        get(&["get", "events", "-n", ns, "--sort-by=.lastTimestamp"])
    )
}

/// The UIDs of the running pods of one chart component.
async fn component_pods(env: &Env, ns: &str, component: &str) -> anyhow::Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let selector = format!("app.kubernetes.io/name=gitview-{component},{INSTANCE}");
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .filter_map(|p| p.metadata.uid)
        .collect())
}

pub async fn the_installed_chart_runs_an_analysis_through_an_upgrade_and_uninstalls(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // The suite's own operators would reconcile this namespace's Analysis too: they step
    // aside while the chart's operator is the only one, and come back whatever happens.
    let suspended = env.suspend_operators().await;
    let result = installed_chart(&env, &ns).await;
    if result.is_err() {
        // Whatever failed, the chart's operator must not outlive the scenario.
        let _ = env.helm(&[
            "uninstall",
            RELEASE,
            "-n",
            &ns,
            "--wait",
            "--timeout",
            "60s",
        ]);
    }
    env.resume_operators(suspended).await?;
    result
}

async fn installed_chart(env: &Env, ns: &str) -> anyhow::Result<()> {
    let repo = env.git.create(ns, 8)?;
    let url = env.git.url(ns);
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;

    // An existing database (the suite's PostgreSQL), as production installs use.
    let database = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: gv-database, namespace: {ns}}}\nstringData:\n  url: \"{}\"\n  owner-url: \"{}\"\n",
        env.postgres.url("gateway", "gitview"),
        env.postgres.url("postgres", "gitview")
    );
    env.apply(&database)?;

    // Every pod of the node agent shares the host's network: the two Deployments get ports of
    // their own and replace their pods one at a time (as with hostNetwork).
    let (operator_port, gateway_port, webhook_port) = (free_port()?, free_port()?, free_port()?);
    let chart = env.root.join("charts/gitview").display().to_string();
    let sets = [
        "image.registry=e2e.local".to_owned(),
        "postgresql.bundled=false".to_owned(),
        "database.existingSecret=gv-database".to_owned(),
        format!("operator.port={operator_port}"),
        format!("gateway.port={gateway_port}"),
        format!("operator.webhook.port={webhook_port}"),
        "operator.leaseSeconds=5".to_owned(),
        "operator.strategy.rollingUpdate.maxSurge=0".to_owned(),
        "operator.strategy.rollingUpdate.maxUnavailable=1".to_owned(),
        "gateway.strategy.rollingUpdate.maxSurge=0".to_owned(),
        "gateway.strategy.rollingUpdate.maxUnavailable=1".to_owned(),
        // Artifacts above 1 MiB on an emptyDir (the evaluation install below has the claim).
        "gateway.objectStore.volume.ephemeral=true".to_owned(),
        format!("catalog.defaultProfile={ns}-default"),
        // The catalog's runner: the real runner, held until the scenario opens the gate.
        format!("runner.image={}", super::image::HELD),
    ];
    let mut args = vec![
        "install",
        RELEASE,
        chart.as_str(),
        "-n",
        ns,
        "--wait",
        "--timeout",
        "120s",
    ];
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    helm_ok(env, &args).with_context(|| release_state(env, ns))?;
    let operators = component_pods(env, ns, "operator").await?;
    let gateways = component_pods(env, ns, "gateway").await?;
    ensure!(
        operators.len() == 1 && gateways.len() == 1,
        "running pods: operator {operators:?}, gateway {gateways:?}"
    );

    // An Analysis with the chart's catalog profile, run by the chart's operator.
    let analysis = format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: history, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", ref: main}}\n  profile: full-history\n  mode: {{type: Full}}\n"
    );
    env.apply(&analysis)?;
    let an = await_analysis(
        &env.client,
        ns,
        "history",
        RUN,
        "Running",
        phase_is(AnalysisPhase::Running),
    )
    .await?;
    let runner_pod = an
        .status
        .as_ref()
        .and_then(|s| s.attempts.first())
        .map(|a| a.pod.clone())
        .context("an attempt")?;

    // An Analysis that names no profile (the API server gives it `profile: default`) runs with
    // the chart's catalog.defaultProfile. Deleted again, its held runner pod first (foreground),
    // before it could write anything.
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: defaulted, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", ref: main}}\n"
    ))?;
    let defaulted = await_analysis(
        &env.client,
        ns,
        "defaulted",
        RUN,
        "started with a profile",
        |a: &Analysis| {
            a.status
                .as_ref()
                .and_then(|s| s.resolved.as_ref())
                .is_some()
        },
    )
    .await?;
    let resolved = defaulted
        .status
        .as_ref()
        .and_then(|s| s.resolved.as_ref())
        .map(|r| r.profile.clone());
    ensure!(
        defaulted.spec.run.profile == "default"
            && resolved.as_deref() == Some(format!("{ns}-default").as_str()),
        "named {:?}, ran with {resolved:?}",
        defaulted.spec.run.profile
    );
    env.kubectl_ok(&[
        "delete",
        "analysis/defaulted",
        "-n",
        ns,
        "--cascade=foreground",
        "--wait",
        "--timeout=60s",
    ])?;

    // An upgrade that changes both Deployments' pods while the runner is held mid-run.
    let mut upgrade = vec![
        "upgrade",
        RELEASE,
        chart.as_str(),
        "-n",
        ns,
        "--reuse-values",
        "--wait",
        "--timeout",
        "120s",
    ];
    upgrade.extend([
        "--set",
        "operator.logFormat=text",
        "--set",
        "gateway.logFormat=text",
    ]);
    helm_ok(env, &upgrade).with_context(|| release_state(env, ns))?;
    let (operators2, gateways2) = (
        component_pods(env, ns, "operator").await?,
        component_pods(env, ns, "gateway").await?,
    );
    ensure!(
        operators2.len() == 1 && !operators.contains(&operators2[0]),
        "the operator pod was not replaced: {operators:?} → {operators2:?}"
    );
    ensure!(
        gateways2.len() == 1 && !gateways.contains(&gateways2[0]),
        "the gateway pod was not replaced: {gateways:?} → {gateways2:?}"
    );

    // The run goes on, in the same pod, to success.
    env.open_gate(ns)?;
    let an = await_analysis(
        &env.client,
        ns,
        "history",
        RUN,
        "Succeeded",
        phase_is(AnalysisPhase::Succeeded),
    )
    .await?;
    let status = an.status.as_ref().context("status")?;
    ensure!(
        status.attempts.len() == 1 && status.attempts[0].pod == runner_pod,
        "the run was disturbed: {:?}",
        status.attempts
    );
    let result = status.result.clone().context("a result")?;
    ensure!(
        result.commits_analyzed == 8 && result.to_commit.as_deref() == Some(head.as_str()),
        "{result:?}"
    );
    let uid = an.metadata.uid.clone().context("uid")?;
    let stored: i64 = env
        .sql_scalar("SELECT count(*) FROM commits WHERE analysis_id = $1", &uid)
        .await?;
    ensure!(stored == 8, "{stored} commits stored");

    // The chart's gateway serves the results to a key made with the admin token it generated.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    let admin = secrets.get("gv-gitview-gateway-admin").await?;
    let token = admin
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .context("admin token")?;
    let (code, created) = gateway_at(
        gateway_port,
        "POST",
        &format!("/v1/admin/accounts/{ns}/keys"),
        &token,
        Some(&serde_json::json!({"name": "e2e"})),
    )?;
    ensure!(code == 201, "creating a key: {code} {created}");
    let key = created["secret"].as_str().context("the key's secret")?;
    let (code, page) = gateway_at(
        gateway_port,
        "GET",
        &format!("/v1/analyses/{uid}/commits?limit=100"),
        key,
        None,
    )?;
    ensure!(
        code == 200 && page["items"].as_array().map(Vec::len) == Some(8),
        "reading the commits: {code} {page}"
    );

    // A RepositoryTracker, polled by the chart's operator from its pod (read-only root, the
    // scratch repository on its /tmp volume): the pushed commits get their run.
    let head2 = env.git.commit(&repo, 2)?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\"}}\n  branches: [main]\n  template:\n    spec: {{profile: full-history}}\n"
    ))?;
    let tracked = |a: &Analysis| {
        a.metadata
            .annotations
            .as_ref()
            .and_then(|m| m.get(gitview_crds::labels::HEAD_COMMIT))
            .is_some()
    };
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), ns);
    super::wait_until(RUN, || {
        let analyses = analyses.clone();
        async move {
            analyses.list(&ListParams::default()).await.is_ok_and(|l| {
                l.items.iter().any(|a| {
                    tracked(a)
                        && a.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Succeeded)
                })
            })
        }
    })
    .await
    .context("the chart's operator never ran the tracker's Analysis")?;
    let run = analyses
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|a| tracked(a))
        .context("the tracker's run")?;
    let result = run
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .context("a result")?;
    ensure!(
        result.commits_analyzed == 2 && result.to_commit.as_deref() == Some(head2.as_str()),
        "tracker run: {result:?}"
    );
    env.kubectl_ok(&["delete", "repositorytracker/repo", "-n", ns, "--wait"])?;

    // Uninstall: nothing of the release is left but the CRDs (Helm keeps those).
    helm_ok(
        env,
        &["uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "60s"],
    )?;
    // The Deployments' pods go with them through the garbage collector.
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    super::wait_until(Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels(INSTANCE))
                .await
                .is_ok_and(|l| l.items.is_empty())
        }
    })
    .await
    .context("the release's pods were never deleted")?;
    let left = env.kubectl_ok(&[
        "get",
        "deploy,rs,pod,svc,secret,configmap,serviceaccount,role,rolebinding",
        "-n",
        ns,
        "-l",
        INSTANCE,
        "-o",
        "name",
    ])?;
    ensure!(
        left.trim().is_empty(),
        "left in the namespace after uninstall:\n{left}"
    );
    let cluster_left = env.kubectl_ok(&[
        "get",
        "clusterrole,clusterrolebinding,analysisprofiles",
        "-l",
        INSTANCE,
        "-o",
        "name",
    ])?;
    ensure!(
        cluster_left.trim().is_empty(),
        "left in the cluster after uninstall:\n{cluster_left}"
    );
    let pods = env.kubectl_ok(&["get", "pods", "-n", ns, "-o", "name"])?;
    ensure!(
        !pods.contains("gv-gitview"),
        "chart pods left after uninstall:\n{pods}"
    );
    let crds = env.kubectl_ok(&["get", "crd", "-o", "name"])?;
    ensure!(
        crds.contains("analyses.gitview.dev"),
        "the CRDs went with the release:\n{crds}"
    );
    Ok(())
}

pub async fn the_chart_with_its_bundled_database_runs_an_analysis(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let suspended = env.suspend_operators().await;
    let result = bundled_database(&env, &ns).await;
    if result.is_err() {
        let _ = env.helm(&[
            "uninstall",
            BUNDLED,
            "-n",
            &ns,
            "--wait",
            "--timeout",
            "60s",
        ]);
    }
    let _ = env.kubectl(
        &[
            "delete",
            "pv",
            &format!("{ns}-data"),
            &format!("{ns}-artifacts"),
            "--wait=false",
        ],
        None,
    );
    env.resume_operators(suspended).await?;
    result
}

const BUNDLED: &str = "gvdb";

/// The evaluation install: the chart's defaults but for images and ports, so the bundled
/// PostgreSQL StatefulSet holds the results.
async fn bundled_database(env: &Env, ns: &str) -> anyhow::Result<()> {
    let repo = env.git.create(ns, 4)?;
    let url = env.git.url(ns);
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;

    // The node has no volume provisioner: a hostPath PersistentVolume set aside for the
    // StatefulSet's claim, as an administrator would.
    // Two: the database's, and the gateway's artifacts volume.
    let claim = format!("data-{BUNDLED}-gitview-postgresql-0");
    let artifacts_claim = format!("{BUNDLED}-gitview-gateway-artifacts");
    for (pv, claim) in [("data", &claim), ("artifacts", &artifacts_claim)] {
        let dir = env.node_dir().join(format!("pv-{ns}-{pv}"));
        env.apply(&format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {ns}-{pv}}}\nspec:\n  capacity: {{storage: 8Gi}}\n  \
             accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  storageClassName: \"\"\n  \
             hostPath: {{path: \"{}\", type: DirectoryOrCreate}}\n  claimRef: {{namespace: {ns}, name: {claim}}}\n",
            dir.display()
        ))?;
    }

    let (operator_port, gateway_port, webhook_port) = (free_port()?, free_port()?, free_port()?);
    let chart = env.root.join("charts/gitview").display().to_string();
    let sets = [
        "image.registry=e2e.local".to_owned(),
        format!("operator.port={operator_port}"),
        format!("gateway.port={gateway_port}"),
        format!("operator.webhook.port={webhook_port}"),
        format!("catalog.defaultProfile={ns}-default"),
        format!("runner.image={}", super::image::RUNNER),
    ];
    let mut args = vec![
        "install",
        BUNDLED,
        chart.as_str(),
        "-n",
        ns,
        "--wait",
        "--timeout",
        "180s",
    ];
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    helm_ok(env, &args).with_context(|| release_state(env, ns))?;

    let analysis = format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: history, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", ref: main}}\n  profile: full-history\n"
    );
    env.apply(&analysis)?;
    let an = await_analysis(
        &env.client,
        ns,
        "history",
        RUN,
        "Succeeded",
        phase_is(AnalysisPhase::Succeeded),
    )
    .await
    .with_context(|| release_state(env, ns))?;
    let uid = an.metadata.uid.clone().context("uid")?;
    let result = an
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .context("a result")?;
    ensure!(
        result.commits_analyzed == 4 && result.to_commit.as_deref() == Some(head.as_str()),
        "{result:?}"
    );

    // The results are in the bundled database: read back through the release's gateway.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    let admin = secrets
        .get(&format!("{BUNDLED}-gitview-gateway-admin"))
        .await?;
    let token = admin
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .context("admin token")?;
    let (code, created) = gateway_at(
        gateway_port,
        "POST",
        &format!("/v1/admin/accounts/{ns}/keys"),
        &token,
        Some(&serde_json::json!({"name": "e2e"})),
    )?;
    ensure!(code == 201, "creating a key: {code} {created}");
    let key = created["secret"].as_str().context("the key's secret")?;
    let (code, page) = gateway_at(
        gateway_port,
        "GET",
        &format!("/v1/analyses/{uid}/commits?limit=100"),
        key,
        None,
    )?;
    ensure!(
        code == 200 && page["items"].as_array().map(Vec::len) == Some(4),
        "reading the commits: {code} {page}"
    );
    // ... and not in the suite's database.
    let elsewhere: i64 = env
        .sql_scalar("SELECT count(*) FROM analyses WHERE id::text = $1", &uid)
        .await?;
    ensure!(elsewhere == 0, "the results landed in the suite's database");

    // Uninstall: the evaluation data goes with the release (the claim too).
    helm_ok(
        env,
        &["uninstall", BUNDLED, "-n", ns, "--wait", "--timeout", "60s"],
    )?;
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(env.client.clone(), ns);
    for claim in [&claim, &artifacts_claim] {
        super::wait_until(Duration::from_secs(60), || {
            let (claims, claim) = (claims.clone(), claim.clone());
            async move { claims.get_opt(&claim).await.is_ok_and(|c| c.is_none()) }
        })
        .await
        .with_context(|| format!("the claim {claim} outlived the release"))?;
    }
    let left = env.kubectl_ok(&[
        "get",
        "deploy,sts,rs,svc,secret,configmap,serviceaccount,role,rolebinding",
        "-n",
        ns,
        "-l",
        &format!("app.kubernetes.io/instance={BUNDLED}"),
        "-o",
        "name",
    ])?;
    ensure!(left.trim().is_empty(), "left after uninstall:\n{left}");
    Ok(())
}
