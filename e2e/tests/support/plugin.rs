//! `kubectl gitview`, found by kubectl on `PATH` as a user installs it, against the suite's
//! cluster and gateway: analyze and wait, print the story, list, read and follow the log, print
//! an Analysis' web UI page, track and reconcile; and what it says when asked for what is not
//! there.

use std::process::{Command, Output};
use std::sync::Arc;

use anyhow::{Context as _, ensure};

use super::{Env, GATEWAY_ADMIN_TOKEN, image};

impl Env {
    /// Runs `kubectl gitview ARGS` as the admin user, with the gateway's URL and `api_key` in
    /// the environment.
    fn kubectl_gitview(&self, args: &[&str], api_key: &str) -> anyhow::Result<Output> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.target_dir.clone()];
        paths.extend(std::env::split_paths(&path));
        let output = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", std::env::join_paths(paths)?)
            .env(
                "GITVIEW_GATEWAY_URL",
                format!("http://127.0.0.1:{}", self.gateway_port),
            )
            .env("GITVIEW_API_KEY", api_key)
            .env("GITVIEW_CONFIG", "/nonexistent/gitview-config.yaml")
            .arg("gitview")
            .args(args)
            .output()
            .context("kubectl gitview")?;
        Ok(output)
    }
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub async fn the_kubectl_plugin_analyzes_and_prints_the_story(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let _repo = env.git.create(&ns, 6)?;
    let url = env.git.url(&ns);
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-plugin}}\nspec:\n  \
         runner: {{image: \"{}\"}}\n",
        image::RUNNER
    ))?;
    let (code, created) = env.gateway(
        "POST",
        &format!("/v1/admin/accounts/{ns}/keys"),
        GATEWAY_ADMIN_TOKEN,
        Some(&serde_json::json!({"name": "plugin"})),
    )?;
    ensure!(code == 201, "creating a key: {code} {created}");
    let key = created["secret"].as_str().context("the key")?.to_owned();
    let env2 = env.clone();
    let run = move |args: Vec<String>, key: String| {
        let env = env2.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                env.kubectl_gitview(&args, &key)
            })
            .await?
        }
    };
    let args = |list: &[&str]| -> Vec<String> {
        let mut all = vec!["-n".to_owned(), ns.clone()];
        all.extend(list.iter().map(|s| (*s).to_owned()));
        all
    };

    // analyze --wait follows the run to its end and says how it ended.
    let profile = format!("{ns}-plugin");
    let out = run(
        args(&[
            "analyze",
            &url,
            "--ref",
            "main",
            "--profile",
            &profile,
            "--name",
            "plugin",
            "--wait",
            "--timeout",
            "3m",
        ]),
        key.clone(),
    )
    .await?;
    let (stdout, stderr) = text(&out);
    ensure!(
        out.status.success(),
        "analyze --wait failed:\n{stdout}\n{stderr}"
    );
    ensure!(
        stdout.contains("analysis.gitview.dev/plugin created")
            && stdout.contains("analysis \"plugin\" succeeded: 6 commits analyzed"),
        "analyze --wait said:\n{stdout}"
    );
    eprintln!("e2e: kubectl gitview analyze --wait:\n{stderr}{stdout}");
    ensure!(
        stderr.lines().any(|line| line.starts_with("Running")),
        "no progress was shown while it ran:\n{stderr}"
    );

    // The story, by the Analysis' name and by the remote's URL: the same Markdown.
    let out = run(args(&["story", "plugin"]), key.clone()).await?;
    let (story, stderr) = text(&out);
    ensure!(out.status.success(), "story failed: {stderr}");
    ensure!(
        story.starts_with('#') && story.contains("6 commits"),
        "the story printed:\n{story}"
    );
    eprintln!(
        "e2e: kubectl gitview story plugin (first lines):\n{}",
        story.lines().take(8).collect::<Vec<_>>().join("\n")
    );
    let out = run(args(&["story", &url]), key.clone()).await?;
    ensure!(
        out.status.success() && text(&out).0 == story,
        "story by URL: {:?}",
        text(&out)
    );

    // get lists it with kubectl's columns; logs prints the run's log.
    let out = run(args(&["get"]), key.clone()).await?;
    let (table, _) = text(&out);
    ensure!(
        table.starts_with("NAME")
            && table
                .lines()
                .any(|l| l.starts_with("plugin") && l.contains("Succeeded")),
        "get printed:\n{table}"
    );
    let out = run(args(&["logs", "plugin"]), key.clone()).await?;
    let (log, stderr) = text(&out);
    ensure!(
        out.status.success() && log.contains("fetch finished"),
        "logs printed:\n{log}\n{stderr}"
    );
    // logs -f of a finished run: one read, the same lines once each, and it ends.
    let out = run(args(&["logs", "plugin", "-f"]), key.clone()).await?;
    let (followed, stderr) = text(&out);
    ensure!(
        out.status.success() && followed == log,
        "logs -f printed:\n{followed}\n{stderr}"
    );
    // open: the Analysis' page in the web UI, named by its uid.
    let uid = env.kubectl_ok(&[
        "-n",
        &ns,
        "get",
        "analyses.gitview.dev",
        "plugin",
        "-o",
        "jsonpath={.metadata.uid}",
    ])?;
    let out = run(args(&["open", "plugin"]), key.clone()).await?;
    ensure!(
        out.status.success()
            && text(&out).0
                == format!(
                    "http://127.0.0.1:{}/ui/analyses/{}\n",
                    env.gateway_port,
                    uid.trim()
                ),
        "open printed: {:?}",
        text(&out)
    );

    // What is not there, or not allowed, says so and what to do.
    let out = run(args(&["story", "nope"]), key.clone()).await?;
    let (_, stderr) = text(&out);
    ensure!(
        !out.status.success() && stderr.contains("there is no Analysis \"nope\""),
        "story of a missing Analysis: {stderr}"
    );
    let out = run(args(&["story", "plugin"]), "gvk_not-a-key".to_owned()).await?;
    let (_, stderr) = text(&out);
    ensure!(
        !out.status.success() && stderr.contains("refused the API key"),
        "story with a bad key: {stderr}"
    );

    // track, then reconcile: the tracker polls and says so.
    let out = run(
        args(&[
            "track",
            &url,
            "--branches",
            "main",
            "--name",
            "plugin-tracker",
            "--profile",
            &profile,
        ]),
        key.clone(),
    )
    .await?;
    ensure!(
        out.status.success()
            && text(&out)
                .0
                .contains("repositorytracker.gitview.dev/plugin-tracker created"),
        "track: {:?}",
        text(&out)
    );
    let out = run(
        args(&["reconcile", "tracker", "plugin-tracker", "--timeout", "60s"]),
        key,
    )
    .await?;
    ensure!(
        out.status.success() && text(&out).0.contains("plugin-tracker polled"),
        "reconcile: {:?}",
        text(&out)
    );
    Ok(())
}
