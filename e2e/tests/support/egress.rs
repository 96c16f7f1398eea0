//! Outbound connections on a tenant's behalf, on the real control plane. The suite runs in
//! network and mount namespaces of its own (`gitview_egress::testing`, entered by
//! [`enter`] before anything starts): everything it starts listens on loopback as before, and
//! loopback also carries 169.254.169.254 and fd00:ec2::254, where listeners record every
//! connection that arrives, and `/etc/hosts` names them `evil.test` and `evil6.test`. The
//! scenarios here point trackers and Analyses at them, spelt every way, and check that the
//! refusal shows where a user looks (conditions, Events) with the address named — and that
//! no connection ever arrived.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker};
use gitview_egress::testing::{self, REFUSED_V4, REFUSED_V6, Recorder};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;

use super::{Env, await_analysis, image};

/// The listeners on the refused addresses, set once inside the namespaces.
static REFUSED: OnceLock<Recorder> = OnceLock::new();
/// The namespaces' scratch directory (the hosts file lives there).
static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();

const WAIT: Duration = Duration::from_secs(90);

/// Runs the suite inside namespaces of its own: in the parent, runs the suite there and
/// returns its exit code; inside, sets the network up and returns `None`.
pub fn enter() -> anyhow::Result<Option<ExitCode>> {
    if !testing::is_inside() {
        if let Some(why) = testing::unavailable() {
            bail!("the suite needs network namespaces: {why}");
        }
        let args: Vec<String> = std::env::args().skip(1).collect();
        let status = testing::inside_command(&args)?
            .status()
            .context("run the suite in its own namespaces")?;
        return Ok(Some(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }));
    }
    let scratch = tempfile::Builder::new()
        .prefix("gitview-e2e-net-")
        .tempdir()?;
    testing::set_up(
        scratch.path(),
        &[
            ("evil.test", IpAddr::V4(REFUSED_V4)),
            ("evil6.test", IpAddr::V6(REFUSED_V6)),
        ],
        true,
    )
    .context("set up the suite's network")?;
    let recorder =
        Recorder::listen(&[80, 443, 9418, 22]).context("listen on the refused addresses")?;
    let _ = REFUSED.set(recorder);
    let _ = SCRATCH.set(scratch);
    Ok(None)
}

/// Fails if any connection reached a refused address.
fn none_arrived(what: &str) -> anyhow::Result<()> {
    let hits = REFUSED
        .get()
        .context("the suite is not in its own network")?
        .hits();
    ensure!(
        hits.is_empty(),
        "{what}: connections reached refused addresses: {hits:?}"
    );
    Ok(())
}

fn stalled_message(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == "Stalled" && c.status == "True")
        .map(|c| c.message.as_str())
}

/// A tenant's trackers pointed at metadata addresses — literal, spelt as a number, as a name
/// that resolves there, over http, git and ssh, and behind a redirect from an allowed host —
/// stall with the address named and a Warning Event, and the operator, which reads Secrets
/// cluster-wide, never connects.
pub async fn a_tracker_never_polls_a_refused_address(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let redirect = testing::redirector("http://169.254.169.254")?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-real}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::RUNNER
    ))?;
    let trackers: Vec<(&str, String, &str)> = vec![
        (
            "literal",
            "http://169.254.169.254/latest/meta-data".into(),
            "169.254.169.254",
        ),
        (
            "hex",
            "http://0xa9fea9fe/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "decimal",
            "http://2852039166/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "octal",
            "http://0251.0376.0251.0376/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "mapped",
            "http://[::ffff:169.254.169.254]/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "aws-v6",
            "http://[fd00:ec2::254]/org/repo".into(),
            "fd00:ec2::254",
        ),
        (
            "gcp-name",
            "http://metadata.google.internal/computeMetadata/v1".into(),
            "metadata.google.internal",
        ),
        (
            "name-git",
            "git://evil.test/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "name-ssh",
            "ssh://git@evil6.test/org/repo".into(),
            "fd00:ec2::254",
        ),
        (
            "name-https",
            "https://evil.test/org/repo".into(),
            "169.254.169.254",
        ),
        (
            "redirect",
            format!("http://127.0.0.1:{redirect}/org/repo"),
            "169.254.169.254",
        ),
    ];
    for (name, url, _) in &trackers {
        env.apply(&format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  \
             repository: {{url: \"{url}\"}}\n  branches: [main]\n  poll: {{minIntervalSeconds: 10, maxIntervalSeconds: 20}}\n  \
             template:\n    spec: {{profile: {ns}-real}}\n"
        ))?;
    }
    let api: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    for (name, url, address) in &trackers {
        let needle = "refused: it".to_owned();
        let stalled = {
            let (address, needle) = (address.to_string(), needle.clone());
            move |t: Option<&RepositoryTracker>| {
                t.and_then(|t| t.status.as_ref())
                    .and_then(|s| stalled_message(&s.conditions))
                    .is_some_and(|m| m.contains(&needle) && m.contains(&address))
            }
        };
        let found = tokio::time::timeout(WAIT, await_condition(api.clone(), name, stalled)).await;
        if !matches!(found, Ok(Ok(Some(_)))) {
            let status = api.get_opt(name).await?.and_then(|t| t.status);
            bail!(
                "tracker {name} ({url}) never stalled naming {address}; status: {}",
                serde_json::to_string(&status)?
            );
        }
        env.await_warning(&ns, "RepositoryTracker", name, "naming the address", |e| {
            e.note.as_deref().is_some_and(|n| n.contains(address))
        })
        .await
        .with_context(|| format!("tracker {name} ({url})"))?;
    }
    // A request for a poll (what a webhook delivery does) is refused the same way.
    env.kubectl_ok(&[
        "annotate",
        "-n",
        &ns,
        "repositorytracker/name-git",
        "gitview.dev/requested-at=now-1",
        "--overwrite",
    ])?;
    let handled = await_condition(api.clone(), "name-git", |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref())
            .and_then(|s| s.last_handled_requested_at.as_deref())
            == Some("now-1")
    });
    tokio::time::timeout(WAIT, handled)
        .await
        .context("the requested poll was never handled")??;
    none_arrived("tracker polls")
}

/// An Analysis of a refused address: spelt as a number, the operator refuses it before any
/// pod exists; behind a redirect from an allowed host, the runner in its pod refuses the hop
/// at connect time, and the Analysis fails with the address named, not retried.
pub async fn an_analysis_never_fetches_from_a_refused_address(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let redirect = testing::redirector("http://169.254.169.254")?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-real}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::RUNNER
    ))?;
    let spec = |name: &str, url: &str| {
        format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  \
             repository: {{url: \"{url}\", ref: main}}\n  profile: {ns}-real\n"
        )
    };
    let stalled_naming = |address: &'static str| {
        move |an: &Analysis| {
            an.status
                .as_ref()
                .and_then(|s| stalled_message(&s.conditions))
                .is_some_and(|m| m.contains(address))
        }
    };

    for (name, url) in [
        ("hex", "http://0xa9fea9fe/org/repo"),
        ("octal", "git://0251.0376.0251.0376/org/repo"),
    ] {
        env.apply(&spec(name, url))?;
        let an = await_analysis(
            &env.client,
            &ns,
            name,
            WAIT,
            "stalled naming 169.254.169.254",
            stalled_naming("169.254.169.254"),
        )
        .await?;
        let reason = an
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Stalled"))
            .map(|c| c.reason.clone());
        ensure!(
            reason.as_deref() == Some("RepositoryNotAllowed"),
            "{name}: {reason:?}"
        );
        let uid = an.metadata.uid.clone().context("uid")?;
        let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
        let made = pods
            .list(
                &ListParams::default()
                    .labels(&format!("{}={uid}", gitview_crds::labels::ANALYSIS_UID)),
            )
            .await?
            .items;
        ensure!(
            made.is_empty(),
            "{name}: a runner pod was created for a refused address"
        );
        env.await_warning(&ns, "Analysis", name, "naming the address", |e| {
            e.note
                .as_deref()
                .is_some_and(|n| n.contains("169.254.169.254"))
        })
        .await
        .with_context(|| format!("analysis {name}"))?;
    }

    env.apply(&spec(
        "redirected",
        &format!("http://127.0.0.1:{redirect}/org/repo"),
    ))?;
    let failed =
        |an: &Analysis| an.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Failed);
    let an = await_analysis(&env.client, &ns, "redirected", WAIT, "failed", failed).await?;
    let status = an.status.clone().unwrap_or_default();
    let message = stalled_message(&status.conditions).unwrap_or_default();
    ensure!(
        message.contains("169.254.169.254") && message.contains("refused"),
        "the failure names the refused hop: {message:?}"
    );
    ensure!(
        status.attempts.len() == 1,
        "a refusal is not retried: {} attempts",
        status.attempts.len()
    );
    env.await_warning(&ns, "Analysis", "redirected", "naming the address", |e| {
        e.note
            .as_deref()
            .is_some_and(|n| n.contains("169.254.169.254"))
    })
    .await
    .context("analysis redirected")?;
    none_arrived("analyses")
}
