//! A tracker's concurrency policies under a burst of pushes (issue 7). The first run is held
//! at the gate (its runner fetches nothing until the gate opens, so it then analyzes up to the
//! branch tip of that moment); the burst lands while it waits, each push followed by a poll
//! asked for at once. What each policy does is read from the API server after the poll that
//! saw the push has written the tracker's status: the tracker creates and deletes runs before
//! it writes the status, so by then the decision is visible.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker, RepositoryTrackerStatus};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::wait::{await_condition, conditions};

use super::{Env, await_analysis, image, wait_until};

const RUN: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_secs(60);
/// Commits the repository starts with, and pushes in the burst (one commit each).
const INITIAL: usize = 3;
const BURST: usize = 3;

/// A served repository and a tracker of its `main` under `policy`, with runs held at the gate.
struct Tracked {
    env: Arc<Env>,
    ns: String,
    repo: PathBuf,
}

impl Tracked {
    /// Creates the repository, the held profile and the tracker. Polls on the interval are ten
    /// minutes apart, longer than any wait here: what the tracker does, it does on the poll
    /// the scenario asks for or on a change of its Analyses, never because the clock came round.
    async fn start(env: Arc<Env>, ns: String, policy: &str) -> anyhow::Result<Self> {
        let repo = env.git.create(&ns, INITIAL)?;
        let url = env.git.url(&ns);
        env.apply(&format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-held}}\nspec:\n  runner: {{image: \"{}\"}}\n",
            image::HELD
        ))?;
        env.apply(&format!(
            "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
             repository: {{url: \"{url}\"}}\n  branches: [main]\n  concurrencyPolicy: {policy}\n  \
             poll: {{minIntervalSeconds: 600, maxIntervalSeconds: 600}}\n  successfulHistoryLimit: 10\n  \
             template:\n    spec: {{profile: {ns}-held}}\n"
        ))?;
        // (Every run stays to be checked: history limits are another scenario's subject. With
        // the default of 3, Allow's four successful runs lose the oldest while it is checked.)
        Ok(Self { env, ns, repo })
    }

    fn analyses(&self) -> Api<Analysis> {
        Api::namespaced(self.env.client.clone(), &self.ns)
    }

    /// The tracker's Analyses, oldest first (as the API server has them now).
    async fn runs(&self) -> anyhow::Result<Vec<Analysis>> {
        let mut runs = self
            .analyses()
            .list(&ListParams::default().labels(labels::TRACKER))
            .await?
            .items;
        runs.sort_by_key(|a| (a.creation_timestamp().map(|t| t.0), a.name_any()));
        Ok(runs)
    }

    /// The tracker's Analysis for `head`, as the API server has it now.
    async fn run_for(&self, head: &str) -> anyhow::Result<Option<Analysis>> {
        Ok(self
            .runs()
            .await?
            .into_iter()
            .find(|a| head_of(a) == Some(head)))
    }

    /// The first run: waits until the tracker created it for the initial head and its runner
    /// is running (held at the gate).
    async fn first_run(&self) -> anyhow::Result<(String, Analysis)> {
        let head = self.env.git.git(&self.repo, &["rev-parse", "HEAD"])?;
        wait_until(POLL, || async {
            self.run_for(&head).await.is_ok_and(|a| a.is_some())
        })
        .await
        .with_context(|| format!("no Analysis for the initial head {head}"))?;
        let first = self
            .run_for(&head)
            .await?
            .context("the first run vanished")?;
        let first = self.await_running(&first).await?;
        Ok((head, first))
    }

    async fn await_running(&self, an: &Analysis) -> anyhow::Result<Analysis> {
        await_analysis(
            &self.env.client,
            &self.ns,
            &an.name_any(),
            RUN,
            "Running (held at the gate)",
            |a| phase(a) == Some(AnalysisPhase::Running),
        )
        .await
    }

    async fn await_finished(&self, an: &Analysis) -> anyhow::Result<Analysis> {
        await_analysis(
            &self.env.client,
            &self.ns,
            &an.name_any(),
            RUN,
            "finished",
            |a| phase(a).is_some_and(AnalysisPhase::is_finished),
        )
        .await
    }

    /// Waits until the tracker's status satisfies `cond`.
    async fn await_status(
        &self,
        what: &str,
        cond: impl Fn(&RepositoryTrackerStatus) -> bool + Send + 'static,
    ) -> anyhow::Result<RepositoryTrackerStatus> {
        let trackers: Api<RepositoryTracker> = Api::namespaced(self.env.client.clone(), &self.ns);
        let watched = await_condition(
            trackers.clone(),
            "repo",
            move |t: Option<&RepositoryTracker>| {
                t.and_then(|t| t.status.as_ref()).is_some_and(&cond)
            },
        );
        match tokio::time::timeout(POLL, watched).await {
            Ok(found) => found?
                .and_then(|t| t.status)
                .context("the tracker vanished"),
            Err(_) => {
                let now = trackers.get_opt("repo").await?.and_then(|t| t.status);
                bail!(
                    "the tracker's status never showed {what} within {POLL:?}: {}",
                    serde_json::to_string(&now)?
                )
            }
        }
    }

    /// Asks for a poll now and waits until the tracker handled it.
    async fn poll_now(&self) -> anyhow::Result<RepositoryTrackerStatus> {
        let asked = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
            .to_string();
        self.env.kubectl_ok(&[
            "annotate",
            "--overwrite",
            "-n",
            &self.ns,
            "repositorytracker/repo",
            &format!("{}={asked}", labels::REQUESTED_AT),
        ])?;
        self.await_status(&format!("the poll requested at {asked}"), move |s| {
            s.last_handled_requested_at.as_deref() == Some(asked.as_str())
        })
        .await
    }

    /// Pushes one commit, asks for a poll and waits until the status shows the new head (the
    /// tracker has acted on it by then); returns the head.
    async fn push(&self) -> anyhow::Result<String> {
        let head = self.env.git.commit(&self.repo, 1)?;
        let status = self.poll_now().await?;
        if main_head(&status) != Some(head.as_str()) {
            // The requested poll may have raced an earlier one; the head shows at the next.
            let want = head.clone();
            self.await_status(&format!("head {head}"), move |s| {
                main_head(s) == Some(want.as_str())
            })
            .await?;
        }
        Ok(head)
    }

    /// Opens the gate of the namespace's held runs.
    fn open_gate(&self) -> anyhow::Result<()> {
        self.env.open_gate(&self.ns)
    }

    /// The tracker's Events with `reason`, as (note).
    async fn events(&self, reason: &str) -> anyhow::Result<Vec<String>> {
        let events: Api<Event> = Api::namespaced(self.env.client.clone(), &self.ns);
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("RepositoryTracker")
                        && r.name.as_deref() == Some("repo")
                })
            })
            .map(|e| e.note.unwrap_or_default())
            .collect())
    }
}

fn phase(an: &Analysis) -> Option<AnalysisPhase> {
    an.status.as_ref().and_then(|s| s.phase)
}

fn head_of(an: &Analysis) -> Option<&str> {
    an.annotations()
        .get(labels::HEAD_COMMIT)
        .map(String::as_str)
}

fn main_head(status: &RepositoryTrackerStatus) -> Option<&str> {
    status
        .branches
        .iter()
        .find(|b| b.name == "main")
        .and_then(|b| b.head_commit.as_deref())
}

/// (commits analyzed, from, to) of a finished run.
fn covered(an: &Analysis) -> (i64, Option<String>, Option<String>) {
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

fn describe(runs: &[Analysis]) -> Vec<(String, Option<&str>, Option<AnalysisPhase>)> {
    runs.iter()
        .map(|a| (a.name_any(), head_of(a), phase(a)))
        .collect()
}

/// `Forbid`: the burst waits for the held run; once the gate opens that one run covers every
/// pushed commit, and no run follows for heads it covered.
pub async fn a_tracker_under_forbid_covers_a_burst_with_the_running_analysis(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let t = Tracked::start(env, ns, "Forbid").await?;
    let (_, first) = t.first_run().await?;

    let mut last = String::new();
    for _ in 0..BURST {
        last = t.push().await?;
        let runs = t.runs().await?;
        ensure!(
            runs.len() == 1
                && runs[0].uid() == first.uid()
                && !phase(&runs[0]).is_some_and(AnalysisPhase::is_finished),
            "while {} runs, the tracker must wait (Forbid): {:?}",
            first.name_any(),
            describe(&runs)
        );
    }

    t.open_gate()?;
    let done = t.await_finished(&first).await?;
    ensure!(
        phase(&done) == Some(AnalysisPhase::Succeeded),
        "{} ended {:?}",
        done.name_any(),
        done.status
    );
    let total = i64::try_from(INITIAL + BURST)?;
    ensure!(
        covered(&done) == (total, None, Some(last.clone())),
        "the held run must cover the whole burst: {:?}",
        covered(&done)
    );

    // The tracker acts on the run finishing, not on its next poll (ten minutes away): it knows
    // at once that the last head was analyzed, and creates no run for it. A fresh poll of the
    // same head creates nothing either.
    let want = last.clone();
    t.await_status(&format!("lastAnalyzedCommit {last}"), move |s| {
        s.branches
            .iter()
            .any(|b| b.name == "main" && b.last_analyzed_commit.as_deref() == Some(want.as_str()))
    })
    .await?;
    let status = t.poll_now().await?;
    ensure!(main_head(&status) == Some(last.as_str()), "{status:?}");
    let runs = t.runs().await?;
    ensure!(
        runs.len() == 1,
        "no run may follow for heads the held run covered: {:?}",
        describe(&runs)
    );
    Ok(())
}

/// `Replace`: each push deletes the running run (a `Superseded` Event says so) and starts one
/// for the new head; the last one covers every commit, since nothing was analyzed before.
pub async fn a_tracker_under_replace_supersedes_the_running_analysis(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let t = Tracked::start(env, ns, "Replace").await?;
    let (_, mut running) = t.first_run().await?;

    for _ in 0..BURST {
        let victim = running.name_any();
        let uid = running.uid().context("uid")?;
        let head = t.push().await?;
        tokio::time::timeout(
            POLL,
            await_condition(t.analyses(), &victim, conditions::is_deleted(&uid)),
        )
        .await
        .with_context(|| {
            format!("{victim} was not deleted when the branch moved to {head} (Replace)")
        })??;
        let runs = t.runs().await?;
        let replacement = runs
            .iter()
            .find(|a| head_of(a) == Some(head.as_str()))
            .cloned();
        let replacement = replacement.with_context(|| {
            format!("no Analysis for the new head {head}: {:?}", describe(&runs))
        })?;
        ensure!(
            runs.len() == 1,
            "only the run for the newest head may be left: {:?}",
            describe(&runs)
        );
        wait_until(POLL, || async {
            t.events("Superseded")
                .await
                .is_ok_and(|notes| notes.iter().any(|n| n.contains(&victim)))
        })
        .await
        .with_context(|| format!("no Superseded Event for {victim}"))?;
        running = t.await_running(&replacement).await?;
    }
    let last = head_of(&running).context("head annotation")?.to_owned();

    t.open_gate()?;
    let done = t.await_finished(&running).await?;
    ensure!(
        phase(&done) == Some(AnalysisPhase::Succeeded),
        "{} ended {:?}",
        done.name_any(),
        done.status
    );
    let total = i64::try_from(INITIAL + BURST)?;
    ensure!(
        covered(&done) == (total, None, Some(last.clone())),
        "the last run must cover every commit: {:?}",
        covered(&done)
    );
    ensure!(
        t.events("Superseded").await?.len() == BURST,
        "one Superseded Event per push: {:?}",
        t.events("Superseded").await?
    );
    Ok(())
}

/// `Allow`: a run per head the tracker saw, each started while the earlier ones still run;
/// once the gate opens they all succeed.
pub async fn a_tracker_under_allow_starts_a_run_per_head(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let t = Tracked::start(env, ns, "Allow").await?;
    let (first_head, _) = t.first_run().await?;

    let mut heads = vec![first_head];
    for _ in 0..BURST {
        let head = t.push().await?;
        heads.push(head.clone());
        let runs = t.runs().await?;
        let mut seen: Vec<&str> = runs.iter().filter_map(head_of).collect();
        seen.sort_unstable();
        let mut want: Vec<&str> = heads.iter().map(String::as_str).collect();
        want.sort_unstable();
        ensure!(
            seen == want,
            "one run per head seen ({heads:?}): {:?}",
            describe(&runs)
        );
        ensure!(
            runs.iter()
                .all(|a| !phase(a).is_some_and(AnalysisPhase::is_finished)),
            "the earlier runs still run: {:?}",
            describe(&runs)
        );
        let newest = runs
            .iter()
            .find(|a| head_of(a) == Some(head.as_str()))
            .context("the new run")?;
        t.await_running(newest).await?;
    }

    // The runs start together, each from nothing analyzed, and each analyzes up to the tip of
    // the moment the gate opens. They race to advance the repository's last analyzed commit;
    // all end at the same tip, so the losers of the gateway's compare-and-set succeed too, on
    // their first attempt.
    t.open_gate()?;
    let last = heads.last().context("a head")?.clone();
    for an in t.runs().await? {
        let done = t.await_finished(&an).await?;
        ensure!(
            phase(&done) == Some(AnalysisPhase::Succeeded),
            "{} ended {:?}",
            done.name_any(),
            done.status
        );
        // Held until the gate opened, every run analyzes up to the tip of that moment.
        ensure!(
            covered(&done) == (i64::try_from(INITIAL + BURST)?, None, Some(last.clone())),
            "{}: {:?}",
            done.name_any(),
            covered(&done)
        );
        let attempts = done.status.as_ref().map_or(0, |s| s.attempts.len());
        ensure!(
            attempts == 1,
            "{} needed {attempts} attempts",
            done.name_any()
        );
    }
    Ok(())
}
