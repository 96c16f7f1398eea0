//! The end-to-end suite: a real control plane, the node agent, the operator as a process with
//! its least-privilege RBAC, and manifests applied with `kubectl` as a user would.
//!
//! One control plane serves every scenario; each scenario runs in its own namespace and waits
//! on conditions (watches), never on sleeps. The suite prints `test NAME ... ok|FAILED` per
//! scenario and a closing `N passed, M failed` line; failed scenarios keep the control-plane
//! and operator logs and print where.
//!
//! Needs: the control-plane binaries (`GITVIEW_CONTROLPLANE_BIN`, else
//! `e2e/controlplane/build.sh` is run), and `gitview-operator` / `gitview-runner` built into
//! the same target directory as this test (`cargo build --workspace --bins`; `./test.sh`
//! does it).
#![expect(
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use support::Env;

type Scenario =
    fn(std::sync::Arc<Env>, String) -> futures::future::BoxFuture<'static, anyhow::Result<()>>;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|env, ns| Box::pin(support::scenarios::$name(env, ns))) as Scenario)),*]
    };
}

fn main() -> ExitCode {
    // The suite runs in network and mount namespaces of its own (see support::egress).
    match support::egress::enter() {
        Ok(Some(code)) => return code,
        Ok(None) => {}
        Err(err) => {
            eprintln!("e2e: {err:#}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let all = scenarios![
        invalid_manifests_are_rejected_by_the_api_server,
        sample_analysis_runs_in_a_restricted_pod_and_succeeds,
        a_failing_runner_is_retried_with_backoff_then_fails,
        invalid_input_is_not_retried,
        a_pod_deleted_by_hand_is_recorded,
        ttl_cleans_resources_or_deletes_the_analysis,
        operator_killed_mid_run_resumes_without_duplicates,
        only_the_lease_holder_acts_and_a_standby_takes_over,
        the_chart_renders_and_the_api_server_accepts_it,
        bad_chart_values_are_refused_with_a_readable_message,
        files_generated_from_the_chart_are_in_sync,
        config_manifests_apply_as_they_are,
        an_analysis_of_a_served_repository_lands_in_postgres,
        a_running_analysis_shows_its_runners_progress,
        the_installed_chart_runs_an_analysis_through_an_upgrade_and_uninstalls,
        the_chart_with_its_bundled_database_runs_an_analysis,
        a_tracker_keeps_a_pushed_branch_analyzed,
        a_tracker_keeps_one_story_of_the_whole_history,
        the_kubectl_plugin_analyzes_and_prints_the_story,
        webhook_deliveries_trigger_a_poll_and_forged_ones_nothing,
        a_tracker_under_forbid_covers_a_burst_with_the_running_analysis,
        a_tracker_under_replace_supersedes_the_running_analysis,
        a_tracker_under_allow_starts_a_run_per_head,
        a_tracker_never_polls_a_refused_address,
        an_analysis_never_fetches_from_a_refused_address,
        a_runner_pod_the_api_server_refuses_stalls_the_analysis,
        a_tracker_whose_analysis_the_api_server_refuses_stalls_until_its_template_changes,
        a_tracker_whose_remote_does_not_exist_keeps_its_poll_failure,
        a_tracker_polls_a_private_repository_with_the_token_under_its_key,
        a_profile_shows_which_runner_and_canary_new_runs_get,
        the_account_policy_decides_what_the_runner_stores,
    ];
    // The filter: substrings of scenario names, comma-separated (`ttl,tracker`).
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
    let env = match runtime.block_on(Env::start()) {
        Ok(env) => std::sync::Arc::new(env),
        Err(err) => {
            eprintln!("e2e: cannot start the environment: {err:#}");
            println!("0 passed, {} failed", selected.len());
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "e2e: environment ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in selected {
        let namespace = format!(
            "e2e-{}",
            name.replace('_', "-")
                .chars()
                .take(40)
                .collect::<String>()
                .trim_end_matches('-')
        );
        let t = Instant::now();
        let env2 = env.clone();
        let result = runtime.block_on(async move {
            env2.create_namespace(&namespace).await?;
            let run = tokio::spawn(scenario(env2.clone(), namespace.clone()));
            match tokio::time::timeout(Duration::from_secs(240), run).await {
                Ok(Ok(result)) => result,
                Ok(Err(join)) => Err(anyhow::anyhow!("scenario panicked: {join}")),
                Err(_) => Err(anyhow::anyhow!("scenario timed out after 240 s")),
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
                env.keep_logs();
            }
        }
    }
    let env = std::sync::Arc::try_unwrap(env).ok();
    runtime.block_on(async move {
        if let Some(env) = env {
            env.stop().await;
        }
    });
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
