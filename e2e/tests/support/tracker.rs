//! RepositoryTrackers on the real control plane: a repository served by git-daemon, a tracker
//! declared as a GitOps tool would, pushes during the test, and the incremental Analyses that
//! follow, each covering exactly the new commits.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;

use super::{Env, image};

const RUN: Duration = Duration::from_secs(90);

/// Waits until the tracker owns an Analysis for `head` and it succeeded; returns it.
pub async fn analysis_for(env: &Env, ns: &str, head: &str) -> anyhow::Result<Analysis> {
    let api: Api<Analysis> = Api::namespaced(env.client.clone(), ns);
    let find = {
        let (api, head) = (api.clone(), head.to_owned());
        move || {
            let (api, head) = (api.clone(), head.clone());
            async move {
                api.list(&ListParams::default().labels(labels::TRACKER))
                    .await
                    .ok()?
                    .items
                    .into_iter()
                    .find(|a| a.annotations().get(labels::HEAD_COMMIT) == Some(&head))
            }
        }
    };
    let probe = find.clone();
    super::wait_until(RUN, move || {
        let probe = probe.clone();
        async move { probe().await.is_some() }
    })
    .await
    .with_context(|| format!("no Analysis for head {head}"))?;
    let name = find().await.context("the analysis vanished")?.name_any();
    let done = |a: Option<&Analysis>| {
        a.and_then(|a| a.status.as_ref()?.phase)
            .is_some_and(AnalysisPhase::is_finished)
    };
    let an = tokio::time::timeout(RUN, await_condition(api, &name, done))
        .await
        .with_context(|| format!("{name} never finished"))??
        .context("the analysis vanished")?;
    let phase = an.status.as_ref().and_then(|s| s.phase);
    ensure!(
        phase == Some(AnalysisPhase::Succeeded),
        "{name} ended {phase:?}: {:?}",
        an.status
    );
    Ok(an)
}

fn commits(an: &Analysis) -> (i64, Option<String>, Option<String>) {
    let result = an
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .unwrap_or_default();
    (
        result.commits_analyzed,
        result.from_commit,
        result.to_commit,
    )
}

pub async fn a_tracker_keeps_a_pushed_branch_analyzed(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let repo = env.git.create(&ns, 5)?;
    let url = env.git.url(&ns);
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-real}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::RUNNER
    ))?;
    let tracker = format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\"}}\n  branches: [main]\n  poll: {{minIntervalSeconds: 10, maxIntervalSeconds: 20}}\n  \
         template:\n    metadata: {{labels: {{team: a}}}}\n    spec: {{profile: {ns}-real}}\n"
    );
    // As a GitOps tool applies it: server-side.
    let out = env.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        Some(&tracker),
    )?;
    ensure!(
        out.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The first poll: one Analysis for the head, covering the whole history.
    let head1 = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    let first = analysis_for(&env, &ns, &head1).await?;
    ensure!(
        commits(&first).0 == 5 && commits(&first).2.as_deref() == Some(head1.as_str()),
        "first run: {:?}",
        commits(&first)
    );
    ensure!(
        first.labels().get("team").map(String::as_str) == Some("a"),
        "template labels: {:?}",
        first.labels()
    );
    ensure!(
        first
            .owner_references()
            .iter()
            .any(|o| o.kind == "RepositoryTracker" && o.controller == Some(true))
    );

    // A push: the next poll on the interval (10–20 s) starts a run of exactly the new commits.
    let head2 = env.git.commit(&repo, 2)?;
    let second = analysis_for(&env, &ns, &head2).await?;
    ensure!(
        commits(&second) == (2, Some(head1.clone()), Some(head2.clone())),
        "second run: {:?}",
        commits(&second)
    );

    // Another push, and a poll asked for now (the requested-at annotation, like `flux reconcile`).
    let head3 = env.git.commit(&repo, 1)?;
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos()
        .to_string();
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        &format!("{}={asked}", labels::REQUESTED_AT),
    ])?;
    let third = analysis_for(&env, &ns, &head3).await?;
    ensure!(
        commits(&third) == (1, Some(head2.clone()), Some(head3.clone())),
        "third run: {:?}",
        commits(&third)
    );

    // The status says where each branch stands, and the tracker is Ready.
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    let want = head3.clone();
    let settled = move |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
            s.branches.iter().any(|b| {
                b.name == "main" && b.last_analyzed_commit.as_deref() == Some(want.as_str())
            })
        })
    };
    let t = tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(trackers, "repo", settled),
    )
    .await
    .context("the tracker status never showed the last analyzed commit")??
    .context("tracker gone")?;
    let status = t.status.context("status")?;
    ensure!(
        status.last_handled_requested_at.as_deref() == Some(asked.as_str()),
        "{status:?}"
    );
    ensure!(
        status.next_poll_time.is_some()
            && status
                .poll_interval_seconds
                .is_some_and(|s| (10..=20).contains(&s)),
        "{status:?}"
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .context("Ready")?;
    ensure!(ready.status == "True", "{ready:?}");
    let branch = status
        .branches
        .iter()
        .find(|b| b.name == "main")
        .context("main")?;
    ensure!(
        branch.head_commit.as_deref() == Some(head3.as_str())
            && branch.last_analysis.as_deref() == Some(third.name_any().as_str()),
        "{branch:?}"
    );

    // A push analyzed by hand, by an Analysis the tracker does not own: the gateway knows it
    // was analyzed, so the tracker's next poll runs nothing for it.
    let head4 = env.git.commit(&repo, 1)?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: by-hand, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", ref: main}}\n  profile: {ns}-real\n  mode: {{type: Incremental}}\n"
    ))?;
    let by_hand = super::await_analysis(
        &env.client,
        &ns,
        "by-hand",
        RUN,
        "Succeeded",
        |a: &Analysis| a.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Succeeded),
    )
    .await?;
    ensure!(
        commits(&by_hand) == (1, Some(head3.clone()), Some(head4.clone())),
        "by hand: {:?}",
        commits(&by_hand)
    );
    let asked_again = format!("{asked}-2");
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        &format!("{}={asked_again}", labels::REQUESTED_AT),
    ])?;
    let (want_request, want_head) = (asked_again.clone(), head4.clone());
    let polled = move |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
            s.last_handled_requested_at.as_deref() == Some(want_request.as_str())
                && s.branches.iter().any(|b| {
                    b.name == "main" && b.head_commit.as_deref() == Some(want_head.as_str())
                })
        })
    };
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    let t = tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(trackers, "repo", polled),
    )
    .await
    .context("the requested poll never showed the new head")??
    .context("tracker gone")?;
    let branch = t
        .status
        .as_ref()
        .and_then(|s| s.branches.iter().find(|b| b.name == "main").cloned())
        .context("main")?;
    ensure!(
        branch.last_analyzed_commit.as_deref() == Some(head4.as_str()),
        "the tracker did not learn from the gateway: {branch:?}"
    );
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), &ns);
    let owned = analyses
        .list(&ListParams::default().labels(labels::TRACKER))
        .await?
        .items;
    ensure!(
        !owned
            .iter()
            .any(|a| a.annotations().get(labels::HEAD_COMMIT) == Some(&head4)),
        "the tracker ran a head analyzed by hand"
    );

    // Suspended, it polls for nothing: a push and a requested poll are acknowledged, no run
    // starts; resumed, it polls at once and runs the push.
    env.kubectl_ok(&[
        "patch",
        "-n",
        &ns,
        "repositorytracker/repo",
        "--type=merge",
        "-p",
        "{\"spec\":{\"suspend\":true}}",
    ])?;
    let head5 = env.git.commit(&repo, 1)?;
    let asked_suspended = format!("{asked}-3");
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        &ns,
        "repositorytracker/repo",
        &format!("{}={asked_suspended}", labels::REQUESTED_AT),
    ])?;
    let want = asked_suspended.clone();
    let acknowledged = move |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
            s.last_handled_requested_at.as_deref() == Some(want.as_str())
                && s.next_poll_time.is_none()
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.reason == "Suspended")
        })
    };
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(trackers, "repo", acknowledged),
    )
    .await
    .context("the suspended tracker never acknowledged the request")??;
    let owned = analyses
        .list(&ListParams::default().labels(labels::TRACKER))
        .await?
        .items;
    ensure!(
        !owned
            .iter()
            .any(|a| a.annotations().get(labels::HEAD_COMMIT) == Some(&head5)),
        "a suspended tracker started a run"
    );
    env.kubectl_ok(&[
        "patch",
        "-n",
        &ns,
        "repositorytracker/repo",
        "--type=merge",
        "-p",
        "{\"spec\":{\"suspend\":false}}",
    ])?;
    let resumed = analysis_for(&env, &ns, &head5).await?;
    ensure!(
        commits(&resumed) == (1, Some(head4.clone()), Some(head5.clone())),
        "resumed run: {:?}",
        commits(&resumed)
    );

    // History limits: successfulHistoryLimit defaults to 3, so all three stay; then 1 keeps
    // only the newest.
    env.kubectl_ok(&[
        "patch",
        "-n",
        &ns,
        "repositorytracker/repo",
        "--type=merge",
        "-p",
        "{\"spec\":{\"successfulHistoryLimit\":1}}",
    ])?;
    super::wait_until(Duration::from_secs(30), || {
        let analyses = analyses.clone();
        async move {
            analyses
                .list(&ListParams::default().labels(labels::TRACKER))
                .await
                .is_ok_and(|l| l.items.len() == 1)
        }
    })
    .await
    .context("the history limit never pruned the older runs")?;

    // The tracker, applied again as it is in git, shows no drift: the operator never writes
    // its spec.
    let mut reapply = tracker.clone();
    reapply.push_str("  successfulHistoryLimit: 1\n");
    let out = env.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        Some(&reapply),
    )?;
    ensure!(
        out.status.success(),
        "re-apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = env.kubectl(
        &["diff", "--server-side", "--field-manager=gitops", "-f", "-"],
        Some(&reapply),
    )?;
    ensure!(
        diff.status.code() == Some(0),
        "kubectl diff shows drift:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    Ok(())
}

/// A raw HTTP/1.1 POST to a loopback port with extra headers: (status, body).
fn post(
    port: u16,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: hooks.example.com\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("an HTTP status line")?;
    Ok((
        code,
        response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

/// `sha256=HEX` of HMAC-SHA256(secret, body), as GitHub signs deliveries.
fn github_signature(secret: &str, body: &str) -> String {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

pub async fn webhook_deliveries_trigger_a_poll_and_forged_ones_nothing(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let repo = env.git.create(&ns, 3)?;
    let url = env.git.url(&ns);
    let secret = "e2e-webhook-secret";
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-real}}\nspec:\n  runner: {{image: \"{}\"}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: hook, namespace: {ns}}}\nstringData: {{secret: {secret}}}\n---\n\
         apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\"}}\n  branches: [main]\n  webhookSecret: {{name: hook}}\n  \
         poll: {{minIntervalSeconds: 3600, maxIntervalSeconds: 3600}}\n  template:\n    spec: {{profile: {ns}-real}}\n",
        image::RUNNER
    ))?;
    // The first poll (on creation) analyzes the history; the next one is an hour away.
    let head1 = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    analysis_for(&env, &ns, &head1).await?;
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    let with_path = |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()?.webhook_path.as_ref())
            .is_some()
    };
    let tracker = tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(trackers.clone(), "repo", with_path),
    )
    .await
    .context("no status.webhookPath")??
    .context("tracker gone")?;
    let path = tracker
        .status
        .as_ref()
        .and_then(|s| s.webhook_path.clone())
        .context("path")?;
    ensure!(path.starts_with(&format!("/hooks/{ns}/repo/")), "{path}");
    let polled = tracker
        .status
        .as_ref()
        .and_then(|s| s.last_poll_time.clone())
        .context("last poll")?;
    let port = env
        .operators
        .lock()
        .await
        .first()
        .context("an operator")?
        .webhook_port;

    // A push, then deliveries that must trigger nothing.
    let head2 = env.git.commit(&repo, 2)?;
    let body = format!("{{\"ref\":\"refs/heads/main\",\"after\":\"{head2}\"}}");
    let (code, _) = post(
        port,
        &path,
        &[("X-GitHub-Delivery", "d-0".to_owned())],
        &body,
    )?;
    ensure!(code == 401, "an unsigned delivery got {code}");
    let forged = [
        ("X-Hub-Signature-256", github_signature("wrong", &body)),
        ("X-GitHub-Delivery", "d-0".to_owned()),
    ];
    let (code, answer) = post(port, &path, &forged, &body)?;
    ensure!(
        code == 401 && answer.contains("does not match"),
        "a mis-signed delivery got {code} {answer}"
    );
    let (code, _) = post(
        port,
        &path,
        &[("X-Gitlab-Token", "wrong".to_owned())],
        &body,
    )?;
    ensure!(code == 401, "a wrong GitLab token got {code}");
    let signed = [
        ("X-Hub-Signature-256", github_signature(secret, &body)),
        ("X-GitHub-Delivery", "d-1".to_owned()),
    ];
    let (code, _) = post(
        port,
        &format!("/hooks/{ns}/repo/00000000000000000000000000000000"),
        &signed,
        &body,
    )?;
    ensure!(code == 404, "a wrong path token got {code}");
    let now = trackers.get("repo").await?.status.context("status")?;
    ensure!(
        now.last_webhook.is_none() && now.last_poll_time == Some(polled.clone()),
        "a refused delivery left a trace: {now:?}"
    );

    // A signed GitHub delivery: the tracker polls now and runs exactly the new commits.
    let (code, answer) = post(port, &path, &signed, &body)?;
    ensure!(code == 202, "a signed delivery got {code} {answer}");
    let second = analysis_for(&env, &ns, &head2).await?;
    ensure!(
        commits(&second) == (2, Some(head1.clone()), Some(head2.clone())),
        "webhook run: {:?}",
        commits(&second)
    );

    // The same delivery again is a replay: refused, and no poll.
    let (code, answer) = post(port, &path, &signed, &body)?;
    ensure!(
        code == 409 && answer.contains("d-1"),
        "a replayed delivery got {code} {answer}"
    );

    // GitLab's token works too.
    let head3 = env.git.commit(&repo, 1)?;
    let gitlab = [
        ("X-Gitlab-Token", secret.to_owned()),
        ("X-Gitlab-Event-UUID", "u-1".to_owned()),
    ];
    let (code, answer) = post(port, &path, &gitlab, "{}")?;
    ensure!(code == 202, "a GitLab delivery got {code} {answer}");
    let third = analysis_for(&env, &ns, &head3).await?;
    ensure!(
        commits(&third) == (1, Some(head2.clone()), Some(head3.clone())),
        "gitlab run: {:?}",
        commits(&third)
    );
    let status = trackers.get("repo").await?.status.context("status")?;
    ensure!(
        status.recent_webhook_deliveries == ["d-1", "u-1"],
        "{:?}",
        status.recent_webhook_deliveries
    );
    Ok(())
}
