//! The scenarios. Each gets the shared environment and a fresh namespace.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, AnalysisProfile, AttemptFailure};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;

use super::{Env, GATEWAY_ADMIN_TOKEN, await_analysis, http_get, image, wait_until};

pub use super::careless::{
    a_runner_pod_the_api_server_refuses_stalls_the_analysis,
    a_tracker_whose_analysis_the_api_server_refuses_stalls_until_its_template_changes,
    a_tracker_whose_remote_does_not_exist_keeps_its_poll_failure,
};
pub use super::chart::{
    bad_chart_values_are_refused_with_a_readable_message, config_manifests_apply_as_they_are,
    files_generated_from_the_chart_are_in_sync, the_chart_renders_and_the_api_server_accepts_it,
};
pub use super::credentials::a_tracker_polls_a_private_repository_with_the_token_under_its_key;
pub use super::data_policy::the_account_policy_decides_what_the_runner_stores;
pub use super::egress::{
    a_tracker_never_polls_a_refused_address, an_analysis_never_fetches_from_a_refused_address,
};
pub use super::install::{
    the_chart_with_its_bundled_database_runs_an_analysis,
    the_installed_chart_runs_an_analysis_through_an_upgrade_and_uninstalls,
};
pub use super::living::a_tracker_keeps_one_story_of_the_whole_history;
pub use super::plugin::the_kubectl_plugin_analyzes_and_prints_the_story;
pub use super::tracker::{
    a_tracker_keeps_a_pushed_branch_analyzed,
    webhook_deliveries_trigger_a_poll_and_forged_ones_nothing,
};
pub use super::tracker_policies::{
    a_tracker_under_allow_starts_a_run_per_head,
    a_tracker_under_forbid_covers_a_burst_with_the_running_analysis,
    a_tracker_under_replace_supersedes_the_running_analysis,
};

const RUN: Duration = Duration::from_secs(90);

fn phase(an: &Analysis) -> Option<AnalysisPhase> {
    an.status.as_ref().and_then(|s| s.phase)
}

fn is(p: AnalysisPhase) -> impl Fn(&Analysis) -> bool + Send + 'static {
    move |an| phase(an) == Some(p)
}

fn condition<'a>(
    an: &'a Analysis,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    an.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

fn profile(name: &str, image: &str) -> String {
    format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {name}}}\nspec:\n  runner: {{image: \"{image}\"}}\n"
    )
}

fn analysis(namespace: &str, name: &str, profile: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  \
         repository: {{url: \"https://git.example.com/org/repo.git\", ref: main}}\n  profile: {profile}\n{extra_spec}"
    )
}

async fn pods_of(env: &Env, an: &Analysis) -> anyhow::Result<Vec<Pod>> {
    let uid = an.metadata.uid.as_deref().context("uid")?;
    let pods: Api<Pod> = Api::namespaced(
        env.client.clone(),
        an.metadata.namespace.as_deref().context("namespace")?,
    );
    Ok(pods
        .list(&ListParams::default().labels(&format!("{}={uid}", labels::ANALYSIS_UID)))
        .await?
        .items)
}

/// Waits until no run Secret of the Analysis is left.
async fn await_no_run_secrets(env: &Env, an: &Analysis, timeout: Duration) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(
        env.client.clone(),
        an.metadata.namespace.as_deref().context("namespace")?,
    );
    for attempt in &an.status.as_ref().context("status")?.attempts {
        let gone = await_condition(secrets.clone(), &attempt.pod, |s: Option<&Secret>| {
            s.is_none()
        });
        tokio::time::timeout(timeout, gone)
            .await
            .with_context(|| {
                format!("run secret {} still there after {timeout:?}", attempt.pod)
            })??;
    }
    Ok(())
}

pub async fn invalid_manifests_are_rejected_by_the_api_server(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let cases = [
        (
            "  mode: {type: Full}\n",
            "",
            "file:///etc/passwd",
            "schemes https, http, ssh or git",
        ),
        (
            "",
            "",
            "https://user:hunter2@git.example.com/r.git",
            "must not embed a password",
        ),
        ("", "", "https:///no-host", "non-empty host"),
        (
            "  ttlSecondsAfterFinished: -1\n",
            "",
            "",
            "should be greater than or equal to 0",
        ),
        (
            "  mode: {type: Sometimes}\n",
            "",
            "",
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "  retryPolicy: {limit: 99}\n",
            "",
            "",
            "should be less than or equal to 20",
        ),
        (
            "  activeDeadlineSeconds: 5\n",
            "",
            "",
            "should be greater than or equal to 30",
        ),
        ("  mode: {type: Range}\n", "", "", "mode.since is required"),
        (
            "  ttlPolicy: Sometimes\n",
            "",
            "",
            "Unsupported value: \"Sometimes\"",
        ),
        // What the API server would otherwise accept and fail on later (issue 9, finding 4):
        // each refusal names the field.
        (
            "",
            "spec.repository.url: ",
            "https://ghp_0123456789abcdef0123456789abcdef0123@github.com/org/repo.git",
            "url must not carry a user name or token",
        ),
        (
            "",
            "spec.repository.url: ",
            "https://git.example.com:99999/org/repo.git",
            "url's port must be a number from 1 to 65535",
        ),
        (
            "  mode: {type: Range, since: v1.0..v2.0}\n",
            "spec.mode.since: ",
            "",
            "mode.since must be one revision",
        ),
        (
            "  resources: {limits: {memory: 2GB}}\n",
            "spec.resources.limits[memory]: ",
            "",
            "\"2GB\" is not a Kubernetes quantity",
        ),
    ];
    // (`field`, where set: the field the API server's message names.)
    for (i, (extra, field, url, expected)) in cases.iter().enumerate() {
        let mut yaml = analysis(&ns, &format!("bad-{i}"), "default", extra);
        if !url.is_empty() {
            yaml = yaml.replace("https://git.example.com/org/repo.git", url);
        }
        let out = env.kubectl(&["apply", "-f", "-"], Some(&yaml))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "case {i} was accepted:\n{yaml}");
        ensure!(
            stderr.contains(expected) && stderr.contains(field),
            "case {i}: expected {field:?} and {expected:?} in:\n{stderr}"
        );
    }
    // The same of the other kinds: a profile's scratch size, a tracker's template labels.
    let others = [
        (
            format!(
                "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-bad-scratch}}\nspec:\n  runner: {{image: x, scratchSize: 10GB}}\n"
            ),
            "spec.runner.scratchSize: ",
            "\"10GB\" is not a Kubernetes quantity",
        ),
        (
            format!(
                "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: bad-labels, namespace: {ns}}}\nspec:\n  \
                 repository: {{url: \"https://git.example.com/org/repo.git\"}}\n  branches: [main]\n  \
                 template:\n    metadata: {{labels: {{\"bad key\": x}}}}\n"
            ),
            "spec.template.metadata.labels: ",
            "\"bad key\" is not a valid key",
        ),
        (
            format!(
                "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: bad-label-value, namespace: {ns}}}\nspec:\n  \
                 repository: {{url: \"https://git.example.com/org/repo.git\"}}\n  branches: [main]\n  \
                 template:\n    metadata: {{labels: {{team: \"a b\"}}}}\n"
            ),
            "spec.template.metadata.labels.team: ",
            "should match",
        ),
    ];
    for (yaml, field, expected) in &others {
        let out = env.kubectl(&["apply", "-f", "-"], Some(yaml))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "accepted:\n{yaml}");
        ensure!(
            stderr.contains(field) && stderr.contains(expected),
            "expected {field} and {expected:?} in:\n{stderr}"
        );
    }
    // Immutability of what defines a run.
    env.apply(&analysis(&ns, "fixed", "no-such-profile", ""))?;
    for (change, expected) in [
        (
            analysis(&ns, "fixed", "no-such-profile", "").replace("ref: main", "ref: dev"),
            "spec.repository is immutable",
        ),
        (
            analysis(
                &ns,
                "fixed",
                "no-such-profile",
                "  mode: {type: Incremental}\n",
            ),
            "spec.mode is immutable",
        ),
    ] {
        let out = env.kubectl(&["apply", "-f", "-"], Some(&change))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success() && stderr.contains(expected),
            "expected {expected:?}, got: {stderr}"
        );
    }
    // ...while how it runs may change.
    env.apply(&analysis(
        &ns,
        "fixed",
        "no-such-profile",
        "  retryPolicy: {limit: 5}\n",
    ))?;
    // A missing profile stalls it with a clear reason (and no hot loop).
    let an = await_analysis(
        &env.client,
        &ns,
        "fixed",
        RUN,
        "stalled on its profile",
        |an| {
            condition(an, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "ProfileNotFound")
        },
    )
    .await?;
    ensure!(
        pods_of(&env, &an).await?.is_empty(),
        "a pod was created without a profile"
    );
    Ok(())
}

pub async fn sample_analysis_runs_in_a_restricted_pod_and_succeeds(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // The sample profile as shipped, pointed at the e2e runner image (the published image does
    // not exist here), and the sample Analysis unchanged.
    let sample =
        std::fs::read_to_string(env.root.join("config/samples/analysisprofile-default.yaml"))?;
    let image_line = sample
        .lines()
        .find(|l| l.trim_start().starts_with("image:"))
        .context("sample has an image")?;
    env.apply(&sample.replace(image_line, &format!("    image: {}", image::OK)))?;
    let sample_an = env
        .root
        .join("config/samples/analysis.yaml")
        .display()
        .to_string();
    env.kubectl_ok(&["apply", "-n", &ns, "-f", &sample_an])?;

    let an = await_analysis(
        &env.client,
        &ns,
        "kube-rs-history",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let status = an.status.as_ref().context("status")?;
    ensure!(
        status.attempts.len() == 1,
        "attempts: {:?}",
        status.attempts
    );
    ensure!(
        status.attempts[0].exit_code == Some(0),
        "attempt: {:?}",
        status.attempts[0]
    );
    ensure!(
        condition(&an, "Ready").is_some_and(|c| c.status == "True"),
        "Ready: {:?}",
        condition(&an, "Ready")
    );
    ensure!(status.observed_generation == an.metadata.generation);
    ensure!(status.completion_time.is_some() && status.start_time.is_some());

    // The pod as the API server stored it: restricted, no token, the Secret read-only.
    let pods = pods_of(&env, &an).await?;
    ensure!(pods.len() == 1, "{} pods", pods.len());
    let spec = pods[0].spec.as_ref().context("pod spec")?;
    let psc = spec
        .security_context
        .as_ref()
        .context("pod securityContext")?;
    ensure!(psc.run_as_non_root == Some(true) && psc.run_as_user.is_some_and(|u| u > 0));
    ensure!(
        psc.seccomp_profile
            .as_ref()
            .is_some_and(|s| s.type_ == "RuntimeDefault")
    );
    ensure!(spec.automount_service_account_token == Some(false));
    let sc = spec.containers[0]
        .security_context
        .as_ref()
        .context("container securityContext")?;
    ensure!(
        sc.allow_privilege_escalation == Some(false) && sc.read_only_root_filesystem == Some(true)
    );
    ensure!(sc.capabilities.as_ref().and_then(|c| c.drop.clone()) == Some(vec!["ALL".to_owned()]));
    let mount = spec.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/var/run/secrets/gitview");
    ensure!(
        mount.is_some_and(|m| m.read_only == Some(true)),
        "secret mount: {mount:?}"
    );
    // Its finalizer is released right after the outcome is recorded.
    let pod_api: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    let released = |p: Option<&Pod>| {
        p.is_some_and(|p| p.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty()))
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(
            pod_api,
            &pods[0].metadata.name.clone().unwrap_or_default(),
            released,
        ),
    )
    .await
    .context("the pod's finalizer was never released")??;

    // The attempt's Secret goes as soon as the pod finished.
    await_no_run_secrets(&env, &an, Duration::from_secs(10)).await?;

    // `kubectl get an` is useful on its own.
    let table = env.kubectl_ok(&["get", "an", "-n", &ns])?;
    for column in [
        "PHASE",
        "REPOSITORY",
        "REF",
        "PROGRESS",
        "COMMITS",
        "AGE",
        "Succeeded",
        "main",
    ] {
        ensure!(table.contains(column), "{column} missing from:\n{table}");
    }
    Ok(())
}

pub async fn a_failing_runner_is_retried_with_backoff_then_fails(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // The real runner: it starts the run in the gateway, cannot reach the repository's host
    // (there is no network beyond loopback), and exits 1.
    env.apply(&profile(&format!("{ns}-real"), image::RUNNER))?;
    let spec =
        "  retryPolicy: {limit: 2, backoff: {initialSeconds: 1, factor: 2, maxSeconds: 5}}\n";
    env.apply(&analysis(&ns, "flaky", &format!("{ns}-real"), spec))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "flaky",
        Duration::from_secs(150),
        "Failed",
        is(AnalysisPhase::Failed),
    )
    .await?;
    let attempts = &an.status.as_ref().context("status")?.attempts;
    ensure!(
        attempts.len() == 3,
        "expected 3 attempts, got {attempts:#?}"
    );
    for a in attempts {
        ensure!(
            a.exit_code == Some(1) && a.failure_class == Some(AttemptFailure::RunnerError),
            "{a:?}"
        );
        ensure!(
            a.message
                .as_deref()
                .is_some_and(|m| m.contains("git.example.com")),
            "{a:?}"
        );
    }
    // Each retry waited at least its backoff.
    for (i, pair) in attempts.windows(2).enumerate() {
        let ended = pair[0].completion_time.as_ref().context("end")?.0;
        let next = pair[1].start_time.as_ref().context("start")?.0;
        let backoff = [1, 2][i];
        ensure!(
            next.as_second() - ended.as_second() >= backoff,
            "attempt {} started {}s after the previous ended",
            i + 2,
            next.as_second() - ended.as_second()
        );
    }
    ensure!(condition(&an, "Stalled").is_some_and(|c| c.reason == "RetriesExhausted"));
    await_no_run_secrets(&env, &an, Duration::from_secs(10)).await?;
    Ok(())
}

pub async fn invalid_input_is_not_retried(env: Arc<Env>, ns: String) -> anyhow::Result<()> {
    env.apply(&profile(&format!("{ns}-invalid"), image::INVALID))?;
    env.apply(&analysis(
        &ns,
        "bad-input",
        &format!("{ns}-invalid"),
        "  retryPolicy: {limit: 3, backoff: {initialSeconds: 1}}\n",
    ))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "bad-input",
        RUN,
        "Failed",
        is(AnalysisPhase::Failed),
    )
    .await?;
    let attempts = &an.status.as_ref().context("status")?.attempts;
    ensure!(
        attempts.len() == 1,
        "invalid input was retried: {attempts:#?}"
    );
    ensure!(
        attempts[0].exit_code == Some(2)
            && attempts[0].failure_class == Some(AttemptFailure::InvalidInput)
    );
    ensure!(condition(&an, "Stalled").is_some_and(|c| c.reason == "InvalidInput"));
    Ok(())
}

pub async fn a_pod_deleted_by_hand_is_recorded(env: Arc<Env>, ns: String) -> anyhow::Result<()> {
    env.apply(&profile(&format!("{ns}-gated"), image::GATED))?;
    env.apply(&analysis(
        &ns,
        "victim",
        &format!("{ns}-gated"),
        "  retryPolicy: {limit: 0}\n",
    ))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "victim",
        RUN,
        "Running",
        is(AnalysisPhase::Running),
    )
    .await?;
    let pod = an.status.as_ref().context("status")?.attempts[0]
        .pod
        .clone();
    env.kubectl_ok(&["delete", "pod", &pod, "-n", &ns, "--wait=false"])?;
    let an = await_analysis(
        &env.client,
        &ns,
        "victim",
        RUN,
        "Failed",
        is(AnalysisPhase::Failed),
    )
    .await?;
    let attempt = &an.status.as_ref().context("status")?.attempts[0];
    ensure!(
        attempt.reason.as_deref() == Some("PodDeleted")
            && attempt.failure_class == Some(AttemptFailure::Infrastructure),
        "{attempt:?}"
    );
    // With its outcome recorded, the finalizer is released and the deletion completes.
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(pods, &pod, |p: Option<&Pod>| p.is_none()),
    )
    .await
    .context("the deleted pod never went away")??;
    Ok(())
}

pub async fn ttl_cleans_resources_or_deletes_the_analysis(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    env.apply(&profile(&format!("{ns}-ok"), image::OK))?;
    env.apply(&analysis(
        &ns,
        "keep-me",
        &format!("{ns}-ok"),
        "  ttlSecondsAfterFinished: 2\n  ttlPolicy: CleanupResources\n",
    ))?;
    env.apply(&analysis(
        &ns,
        "delete-me",
        &format!("{ns}-ok"),
        "  ttlSecondsAfterFinished: 2\n  ttlPolicy: DeleteAnalysis\n",
    ))?;
    let kept = await_analysis(
        &env.client,
        &ns,
        "keep-me",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), &ns);
    tokio::time::timeout(
        RUN,
        await_condition(analyses.clone(), "delete-me", |a: Option<&Analysis>| {
            a.is_none()
        }),
    )
    .await
    .context("DeleteAnalysis: the Analysis is still there")??;
    let pod = kept.status.as_ref().context("status")?.attempts[0]
        .pod
        .clone();
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    tokio::time::timeout(
        RUN,
        await_condition(pods, &pod, |p: Option<&Pod>| p.is_none()),
    )
    .await
    .context("CleanupResources: the pod is still there")??;
    let still = analyses.get("keep-me").await?;
    ensure!(
        phase(&still) == Some(AnalysisPhase::Succeeded),
        "CleanupResources must keep the Analysis and its status"
    );
    Ok(())
}

pub async fn operator_killed_mid_run_resumes_without_duplicates(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    env.apply(&profile(&format!("{ns}-gated"), image::GATED))?;
    env.apply(&analysis(
        &ns,
        "survivor",
        &format!("{ns}-gated"),
        "  retryPolicy: {limit: 0}\n",
    ))?;
    await_analysis(
        &env.client,
        &ns,
        "survivor",
        RUN,
        "Running",
        is(AnalysisPhase::Running),
    )
    .await?;

    let leader = env.leader().await?.context("no leader")?;
    let mut operators = env.operators.lock().await;
    let index = operators
        .iter()
        .position(|o| o.identity == leader)
        .context("leader is not ours")?;
    operators.remove(index).kill();
    drop(operators);
    let replacement = env.start_operator().await?;
    env.await_leader(&replacement, Duration::from_secs(60))
        .await?;

    env.open_gate(&ns)?;
    let an = await_analysis(
        &env.client,
        &ns,
        "survivor",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let attempts = &an.status.as_ref().context("status")?.attempts;
    ensure!(
        attempts.len() == 1,
        "the restart started another attempt: {attempts:#?}"
    );
    let pods = pods_of(&env, &an).await?;
    ensure!(
        pods.len() == 1,
        "{} runner pods for one attempt",
        pods.len()
    );
    Ok(())
}

pub async fn only_the_lease_holder_acts_and_a_standby_takes_over(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let leader = env.leader().await?.context("no leader")?;
    let standby = env.start_operator().await?;
    let ports: Vec<(String, u16)> = env
        .operators
        .lock()
        .await
        .iter()
        .map(|o| (o.identity.clone(), o.metrics_port))
        .collect();
    let port_of = |id: &str| {
        ports
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, p)| *p)
            .context("operator port")
    };
    let (leader_port, standby_port) = (port_of(&leader)?, port_of(&standby)?);

    env.apply(&profile(&format!("{ns}-ok"), image::OK))?;
    env.apply(&analysis(&ns, "first", &format!("{ns}-ok"), ""))?;
    await_analysis(
        &env.client,
        &ns,
        "first",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    ensure!(
        env.leader().await?.as_deref() == Some(leader.as_str()),
        "leadership moved without cause"
    );
    let metrics = |port: u16| {
        http_get(port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    ensure!(
        metrics(leader_port).contains("gitview_operator_leader 1"),
        "leader gauge"
    );
    let standby_metrics = metrics(standby_port);
    ensure!(
        standby_metrics.contains("gitview_operator_leader 0"),
        "standby gauge:\n{standby_metrics}"
    );
    ensure!(
        !standby_metrics.contains("gitview_operator_reconciles_total{"),
        "the standby reconciled:\n{standby_metrics}"
    );

    let mut operators = env.operators.lock().await;
    let index = operators
        .iter()
        .position(|o| o.identity == leader)
        .context("leader")?;
    operators.remove(index).kill();
    drop(operators);
    env.await_leader(&standby, Duration::from_secs(60)).await?;
    env.apply(&analysis(&ns, "second", &format!("{ns}-ok"), ""))?;
    await_analysis(
        &env.client,
        &ns,
        "second",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    wait_until(Duration::from_secs(10), || async move {
        metrics(standby_port).contains("gitview_operator_leader 1")
    })
    .await?;
    if env.operators.lock().await.len() != 1 {
        bail!("expected exactly one operator left");
    }
    Ok(())
}

pub async fn an_analysis_of_a_served_repository_lands_in_postgres(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // A repository served by git-daemon on loopback, the real runner in a restricted pod, the
    // real gateway, PostgreSQL: kubectl apply to rows.
    let repo = env.git.create(&ns, 12)?;
    let url = env.git.url(&ns);
    env.apply(&profile(&format!("{ns}-real"), image::RUNNER))?;
    let spec = |name: &str, mode: &str| {
        format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  \
             repository: {{url: \"{url}\", ref: main}}\n  profile: {ns}-real\n  mode: {{type: {mode}}}\n"
        )
    };
    env.apply(&spec("full", "Full"))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "full",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let uid = an.metadata.uid.clone().context("uid")?;
    let result = an
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .context("a result")?;
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    ensure!(
        result.commits_analyzed == 12 && result.to_commit.as_deref() == Some(head.as_str()),
        "{result:?}"
    );
    ensure!(
        result.analysis_id.as_deref() == Some(uid.as_str()),
        "{result:?}"
    );
    let stored: i64 = env
        .sql_scalar("SELECT count(*) FROM commits WHERE analysis_id = $1", &uid)
        .await?;
    ensure!(stored == 12, "{stored} commits stored");
    let account: String = env.sql_scalar("SELECT a.name FROM accounts a JOIN analyses an ON an.account_id = a.id WHERE an.id = $1", &uid).await?;
    ensure!(
        account == ns,
        "results land in the namespace's account, not {account}"
    );
    let story: i64 = env
        .sql_scalar(
            "SELECT count(*) FROM artifacts WHERE analysis_id = $1 AND name = 'story.md'",
            &uid,
        )
        .await?;
    ensure!(story == 1, "no story stored");

    // A user reads the results back through the read API with an API key of the namespace's
    // account; a key of another account sees nothing of them.
    let key = |account: &str| -> anyhow::Result<String> {
        let (code, created) = env.gateway(
            "POST",
            &format!("/v1/admin/accounts/{account}/keys"),
            GATEWAY_ADMIN_TOKEN,
            Some(&serde_json::json!({"name": "e2e"})),
        )?;
        ensure!(code == 201, "creating a key: {code} {created}");
        created["secret"]
            .as_str()
            .map(str::to_owned)
            .context("the key's secret")
    };
    let (ours, theirs) = (key(&ns)?, key(&format!("{ns}-other"))?);
    let (code, detail) = env.gateway("GET", &format!("/v1/analyses/{uid}"), &ours, None)?;
    ensure!(code == 200, "reading the analysis: {code} {detail}");
    let story = detail["story"].as_str().context("the story")?;
    ensure!(
        story.contains(&head[..12]),
        "the story names the last commit {head}: {story}"
    );
    let (code, page) = env.gateway(
        "GET",
        &format!("/v1/analyses/{uid}/commits?limit=500"),
        &ours,
        None,
    )?;
    ensure!(
        code == 200 && page["items"].as_array().map(Vec::len) == Some(12),
        "reading the commits: {code} {page}"
    );
    let (code, other) = env.gateway("GET", &format!("/v1/analyses/{uid}"), &theirs, None)?;
    ensure!(
        code == 404,
        "another account's key reads the analysis: {code} {other}"
    );

    // Three pushes later, an incremental Analysis covers exactly the new commits.
    let new_head = env.git.commit(&repo, 3)?;
    env.apply(&spec("incremental", "Incremental"))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "incremental",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let result = an
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .context("a result")?;
    ensure!(result.commits_analyzed == 3, "{result:?}");
    ensure!(
        result.from_commit.as_deref() == Some(head.as_str())
            && result.to_commit.as_deref() == Some(new_head.as_str()),
        "{result:?}"
    );
    let expected = env.git.log(&repo, &format!("{head}..{new_head}"))?;
    let uid = an.metadata.uid.clone().context("uid")?;
    let stored: i64 = env
        .sql_scalar("SELECT count(*) FROM commits WHERE analysis_id = $1", &uid)
        .await?;
    ensure!(
        stored == expected.len() as i64,
        "{stored} commits stored, git lists {}",
        expected.len()
    );
    let last: String = env.sql_scalar("SELECT r.last_analyzed_commit FROM repositories r JOIN analyses an ON an.repository_id = r.id WHERE an.id = $1", &uid).await?;
    ensure!(last == new_head, "the repository advanced to {last}");
    Ok(())
}

pub async fn a_running_analysis_shows_its_runners_progress(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // The real runner, held at its gate: the test writes through the gateway what the runner
    // writes when a stage reports progress, with the attempt's own token from its run Secret.
    env.git.create(&ns, 8)?;
    let url = env.git.url(&ns);
    env.apply(&profile(&format!("{ns}-held"), image::HELD))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: slow, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", ref: main}}\n  profile: {ns}-held\n"
    ))?;
    let an = await_analysis(
        &env.client,
        &ns,
        "slow",
        RUN,
        "Running",
        is(AnalysisPhase::Running),
    )
    .await?;
    let uid = an.metadata.uid.clone().context("uid")?;
    let attempt = an
        .status
        .as_ref()
        .and_then(|s| s.attempts.first())
        .context("an attempt")?;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = secrets.get(&attempt.pod).await?;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get(gitview_crds::wire::keys::TOKEN))
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .context("the run token")?;
    let start = serde_json::json!({"namespace": ns, "name": "slow", "attempt": 1, "repositoryUrl": url,
                                   "branch": "main", "mode": "Full", "config": {}});
    let (code, body) = env.gateway(
        "POST",
        &format!("/v1/runs/{uid}/start"),
        &token,
        Some(&start),
    )?;
    ensure!(code == 200, "start: {code} {body}");
    let event = serde_json::json!({"stage": "extract", "done": 3, "total": 8, "elapsedMs": 40});
    let (code, body) = env.gateway(
        "POST",
        &format!("/v1/runs/{uid}/progress"),
        &token,
        Some(&event),
    )?;
    ensure!(code == 204, "progress: {code} {body}");

    // The operator reads it from the gateway into the status, and kubectl shows it.
    let an = await_analysis(
        &env.client,
        &ns,
        "slow",
        Duration::from_secs(60),
        "progress extract 3/8",
        |an: &Analysis| {
            an.status
                .as_ref()
                .and_then(|s| s.progress.as_ref())
                .is_some_and(|p| p.summary == "attempt 1: extract 3/8")
        },
    )
    .await?;
    let progress = an
        .status
        .as_ref()
        .and_then(|s| s.progress.clone())
        .context("progress")?;
    ensure!(
        (progress.stage.as_str(), progress.done, progress.total) == ("extract", Some(3), Some(8)),
        "{progress:?}"
    );
    let listed = env.kubectl_ok(&["get", "analysis", "slow", "-n", &ns])?;
    ensure!(
        listed.contains("attempt 1: extract 3/8"),
        "kubectl get shows:\n{listed}"
    );

    // Released, the real runner finishes; the status says done.
    env.open_gate(&ns)?;
    let an = await_analysis(
        &env.client,
        &ns,
        "slow",
        RUN,
        "Succeeded",
        is(AnalysisPhase::Succeeded),
    )
    .await?;
    let progress = an
        .status
        .as_ref()
        .and_then(|s| s.progress.clone())
        .context("progress")?;
    ensure!(
        progress.stage == "done" && progress.done == Some(8),
        "{progress:?}"
    );
    Ok(())
}

pub async fn a_profile_shows_which_runner_and_canary_new_runs_get(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let name = format!("{ns}-canary");
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {name}}}\nspec:\n  \
         runner: {{image: \"{}\"}}\n  canary: {{image: \"{}\", weight: 20}}\n",
        image::RUNNER,
        image::OK
    ))?;
    let profiles: Api<AnalysisProfile> = Api::all(env.client.clone());
    let observed = |generation: i64| {
        move |p: Option<&AnalysisProfile>| {
            p.and_then(|p| p.status.as_ref()).is_some_and(|s| {
                s.observed_generation == Some(generation)
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        }
    };
    let p = tokio::time::timeout(RUN, await_condition(profiles.clone(), &name, observed(1)))
        .await
        .context("the operator never wrote the profile's status")??
        .context("the profile vanished")?;
    let status = p.status.context("status")?;
    ensure!(
        status.runner_image.as_deref() == Some(image::RUNNER)
            && status.canary.as_ref().and_then(|c| c.image.as_deref()) == Some(image::OK)
            && status.canary.as_ref().map(|c| c.weight) == Some(20),
        "{status:?}"
    );

    // What `kubectl get ap` prints: the READY column, and the status as written.
    let table = env.kubectl_ok(&["get", "ap", &name])?;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ready = header.iter().position(|h| *h == "READY");
    ensure!(
        ready.is_some_and(|i| row.get(i) == Some(&"True")),
        "kubectl get ap:\n{table}"
    );
    let shown = env.kubectl_ok(&[
        "get",
        "ap",
        &name,
        "-o",
        "jsonpath={.status.observedGeneration} {.status.runnerImage} {.status.canary.image} {.status.canary.weight}",
    ])?;
    ensure!(
        shown == format!("1 {} {} 20", image::RUNNER, image::OK),
        "kubectl get ap -o jsonpath: {shown:?}"
    );

    // The canary switched off: the next generation says no run takes it.
    env.kubectl_ok(&[
        "patch",
        "ap",
        &name,
        "--type=merge",
        "-p",
        r#"{"spec":{"canary":{"weight":0}}}"#,
    ])?;
    let p = tokio::time::timeout(RUN, await_condition(profiles, &name, observed(2)))
        .await
        .context("the operator never wrote the second generation's status")??
        .context("the profile vanished")?;
    ensure!(
        p.status.as_ref().is_some_and(|s| s.canary.is_none()),
        "{:?}",
        p.status
    );
    env.kubectl_ok(&["delete", "ap", &name])?;
    Ok(())
}
