//! Manifests the API server accepts but cannot carry out (issue 9, findings 4 and 5): a runner
//! pod an admission plugin refuses, a tracker whose Analyses the API server refuses, a tracker
//! whose remote does not exist. Each must end in a status that says why, with an Event, and no
//! retry loop; and a fix from outside must be picked up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::runtime::watcher;

use super::{Env, await_analysis, image};

const RUN: Duration = Duration::from_secs(90);
/// Longer than the 5 s a transient error is retried after: a retry loop shows within it.
const NO_LOOP: Duration = Duration::from_secs(8);

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn analysis_conditions(an: &Analysis) -> &[Condition] {
    an.status.as_ref().map_or(&[], |s| &s.conditions)
}

fn tracker_conditions(t: &RepositoryTracker) -> &[Condition] {
    t.status.as_ref().map_or(&[], |s| &s.conditions)
}

/// Warning Events about one object (`kind`/`name`) with `reason`: their notes, once there is
/// one (Events are published after the status is written, and nothing announces them), or
/// none after [`NO_LOOP`].
async fn warnings(
    env: &Env,
    ns: &str,
    kind: &str,
    name: &str,
    reason: &str,
) -> anyhow::Result<Vec<String>> {
    let notes = || async {
        anyhow::Ok(
            env.warnings(ns, kind, name)
                .await?
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason))
                .map(|e| e.note.unwrap_or_default())
                .collect::<Vec<_>>(),
        )
    };
    // A timeout is not the error: the caller's assertion says what is missing.
    let _ = super::wait_until(NO_LOOP, || async {
        notes().await.is_ok_and(|found| !found.is_empty())
    })
    .await;
    notes().await
}

/// Waits until a tracker satisfies `cond`; returns it.
async fn await_tracker(
    env: &Env,
    ns: &str,
    what: &str,
    cond: impl Fn(&RepositoryTracker) -> bool + Send + 'static,
) -> anyhow::Result<RepositoryTracker> {
    let api: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), ns);
    match tokio::time::timeout(
        RUN,
        await_condition(api.clone(), "repo", move |t: Option<&RepositoryTracker>| {
            t.is_some_and(&cond)
        }),
    )
    .await
    {
        Ok(found) => found?.context("the tracker vanished"),
        Err(_) => {
            let status = api.get_opt("repo").await?.and_then(|t| t.status);
            bail!(
                "tracker {ns}/repo: not {what} within {RUN:?}; status: {}",
                serde_json::to_string(&status)?
            )
        }
    }
}

/// Fails if `changed` holds for the object within [`NO_LOOP`] (a reconcile loop would show).
async fn stays<K>(
    api: Api<K>,
    name: &str,
    what: &str,
    changed: impl Fn(&K) -> bool + Send + 'static,
) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let cond = move |k: Option<&K>| k.is_none_or(&changed);
    match tokio::time::timeout(NO_LOOP, await_condition(api, name, cond)).await {
        Err(_) => Ok(()),
        Ok(found) => bail!("{name} did not stay {what}: {:?}", found?),
    }
}

/// An Analysis whose runner pod the LimitRanger admission plugin refuses (403: the memory
/// limit is above the namespace's maximum). The schema cannot know the namespace's limits, so
/// the operator meets the refusal: the Analysis is Stalled with the server's message and a
/// Warning Event, the run Secret made for the attempt is deleted (no signed token is left
/// behind), nothing is retried until the spec changes, and a spec the LimitRange allows runs.
pub async fn a_runner_pod_the_api_server_refuses_stalls_the_analysis(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-ok}}\nspec:\n  runner: {{image: \"{}\"}}\n---\n\
         apiVersion: v1\nkind: LimitRange\nmetadata: {{name: small, namespace: {ns}}}\nspec:\n  \
         limits: [{{type: Container, max: {{memory: 64Mi}}}}]\n",
        image::OK
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: too-big, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"https://git.example.com/org/repo.git\", ref: main}}\n  profile: {ns}-ok\n  \
         resources: {{limits: {{memory: 128Mi}}}}\n"
    ))?;
    let stalled = |an: &Analysis| {
        condition(analysis_conditions(an), "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "CreateRejected")
    };
    let an = await_analysis(
        &env.client,
        &ns,
        "too-big",
        RUN,
        "stalled by the API server's refusal",
        stalled,
    )
    .await?;
    let message = condition(analysis_conditions(&an), "Stalled")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(
        message.contains("maximum memory usage per Container is 64Mi"),
        "the server's message is not in the condition: {message}"
    );
    let ready = condition(analysis_conditions(&an), "Ready").context("Ready")?;
    ensure!(
        ready.status == "False" && ready.reason == "CreateRejected",
        "{ready:?}"
    );
    ensure!(
        an.status.as_ref().is_some_and(|s| s.attempts.is_empty()),
        "an attempt that never started is recorded: {:?}",
        an.status
    );
    let notes = warnings(&env, &ns, "Analysis", "too-big", "CreateRejected").await?;
    ensure!(
        notes.iter().any(|n| n.contains("64Mi")),
        "no Warning Event with the server's message: {notes:?}"
    );

    // No run Secret is left, and none is made again: a retry would create one.
    let uid = an.metadata.uid.clone().context("uid")?;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let selector = format!("{}={uid}", labels::ANALYSIS_UID);
    let left = secrets
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    ensure!(
        left.is_empty(),
        "run Secrets left behind: {:?}",
        left.iter()
            .map(|s| s.metadata.name.clone())
            .collect::<Vec<_>>()
    );
    let mut created = watcher(secrets, watcher::Config::default().labels(&selector)).boxed();
    let retried = tokio::time::timeout(NO_LOOP, async {
        while let Some(event) = created.next().await {
            if let Ok(watcher::Event::Apply(secret)) = event {
                return Some(secret.metadata.name);
            }
        }
        None
    })
    .await;
    ensure!(
        !matches!(retried, Ok(Some(_))),
        "the operator retried the refused attempt: {retried:?}"
    );
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    ensure!(
        pods.list(&ListParams::default().labels(&selector))
            .await?
            .items
            .is_empty(),
        "a runner pod exists"
    );

    // A spec the LimitRange allows: the run starts (the new generation) and succeeds.
    env.kubectl_ok(&[
        "patch",
        "-n",
        &ns,
        "analysis/too-big",
        "--type=merge",
        "-p",
        "{\"spec\":{\"resources\":{\"limits\":{\"memory\":\"32Mi\"}}}}",
    ])?;
    let done = await_analysis(&env.client, &ns, "too-big", RUN, "Succeeded", |an| {
        an.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Succeeded)
    })
    .await?;
    let status = done.status.as_ref().context("status")?;
    ensure!(
        status.attempts.len() == 1,
        "attempts: {:?}",
        status.attempts
    );
    ensure!(
        condition(&status.conditions, "Stalled").is_some_and(|c| c.status == "False"),
        "{:?}",
        status.conditions
    );
    Ok(())
}

/// A tracker whose Analyses the API server refuses (its template's annotations add up to more
/// than the 256 KiB an object may carry; the schema checks each key, not the sum): the tracker
/// is Stalled with the server's message and a Warning Event instead of retrying every 5 s
/// without a status, stays so across reconciles, and creates the Analysis once its template
/// is fixed.
pub async fn a_tracker_whose_analysis_the_api_server_refuses_stalls_until_its_template_changes(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let repo = env.git.create(&ns, 2)?;
    let url = env.git.url(&ns);
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-ok}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::OK
    ))?;
    // Created with the API (kubectl's client-side apply would copy the manifest into the
    // tracker's own annotations, which the API server would refuse first).
    let tracker: RepositoryTracker = serde_json::from_value(serde_json::json!({
        "apiVersion": "gitview.dev/v1alpha1", "kind": "RepositoryTracker",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {
            "repository": {"url": url}, "branches": ["main"],
            "poll": {"minIntervalSeconds": 600, "maxIntervalSeconds": 600},
            "template": {"metadata": {"annotations": {"e2e.gitview.dev/blob": "x".repeat(300 * 1024)}}, "spec": {"profile": format!("{ns}-ok")}},
        },
    }))?;
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    trackers.create(&PostParams::default(), &tracker).await?;

    let rejected = |t: &RepositoryTracker| {
        condition(tracker_conditions(t), "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "CreateRejected")
    };
    let t = await_tracker(&env, &ns, "stalled by the API server's refusal", rejected).await?;
    let message = condition(tracker_conditions(&t), "Stalled")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(
        message.contains("Too long") && message.contains("262144"),
        "the server's message is not in the condition: {message}"
    );
    let notes = warnings(&env, &ns, "RepositoryTracker", "repo", "CreateRejected").await?;
    ensure!(
        notes.iter().any(|n| n.contains("262144")),
        "no Warning Event with the server's message: {notes:?}"
    );
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), &ns);
    ensure!(
        analyses
            .list(&ListParams::default().labels(labels::TRACKER))
            .await?
            .items
            .is_empty(),
        "an Analysis exists"
    );

    // A reconcile that is not a poll (an annotation) keeps it.
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        "e2e.gitview.dev/touched=1",
    ])?;
    stays(trackers.clone(), "repo", "stalled", move |t| !rejected(t)).await?;

    // The template fixed: a new generation, a poll, and the Analysis.
    env.kubectl_ok(&["patch", "-n", &ns, "repositorytracker/repo", "--type=merge", "-p", "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"e2e.gitview.dev/blob\":\"small\"}}}}}"])?;
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    let tracking = |t: &RepositoryTracker| {
        condition(tracker_conditions(t), "Ready").is_some_and(|c| c.status == "True")
    };
    await_tracker(&env, &ns, "Ready after its template was fixed", tracking).await?;
    let owned = analyses
        .list(&ListParams::default().labels(labels::TRACKER))
        .await?
        .items;
    ensure!(
        owned.iter().any(|a| a
            .metadata
            .annotations
            .as_ref()
            .and_then(|m| m.get(labels::HEAD_COMMIT))
            == Some(&head)),
        "no Analysis for {head}: {:?}",
        owned
            .iter()
            .map(|a| a.metadata.name.clone())
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// A tracker whose remote does not exist: the failed poll's `PollFailed` (Stalled: only a
/// change from outside helps) stays in the status until the next poll, through the reconciles
/// in between (its own status write, an annotation), instead of turning into
/// `NoMatchingBranch` a second later.
pub async fn a_tracker_whose_remote_does_not_exist_keeps_its_poll_failure(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let url = env.git.url(&format!("{ns}-missing"));
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\"}}\n  branches: [main]\n  poll: {{minIntervalSeconds: 600, maxIntervalSeconds: 600}}\n"
    ))?;
    let failed = |t: &RepositoryTracker| {
        let conditions = tracker_conditions(t);
        condition(conditions, "Ready")
            .is_some_and(|c| c.status == "False" && c.reason == "PollFailed")
            && condition(conditions, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "PollFailed")
    };
    let t = await_tracker(&env, &ns, "Stalled with PollFailed", failed).await?;
    let polled = t
        .status
        .as_ref()
        .and_then(|s| s.last_poll_time.clone())
        .context("lastPollTime")?;
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);

    // Its own status write brought a reconcile; an annotation brings another: neither polls,
    // and neither may overwrite the poll's outcome.
    stays(trackers.clone(), "repo", "PollFailed", move |t| !failed(t)).await?;
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        "e2e.gitview.dev/touched=1",
    ])?;
    stays(trackers.clone(), "repo", "PollFailed", move |t| !failed(t)).await?;
    let now = trackers.get("repo").await?;
    ensure!(
        now.status.as_ref().and_then(|s| s.last_poll_time.clone()) == Some(polled.clone()),
        "a reconcile polled: {:?}",
        now.status
    );
    let message = condition(tracker_conditions(&now), "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(!message.is_empty(), "PollFailed without a message");

    // A poll asked for fails the same way, and says so again.
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        &format!("{}=again", labels::REQUESTED_AT),
    ])?;
    let repolled = move |t: &RepositoryTracker| {
        failed(t)
            && t.status
                .as_ref()
                .and_then(|s| s.last_handled_requested_at.as_deref())
                == Some("again")
    };
    await_tracker(&env, &ns, "PollFailed after a requested poll", repolled).await?;
    Ok(())
}
