//! The commands and how each runs.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::{Parser, Subcommand};
use gitview_crds::v1alpha1::AnalysisPhase;
use kube::ResourceExt as _;

use crate::config::{self, GatewayAccess};
use crate::gateway::{Gateway, NotFound};
use crate::{cluster, render};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl gitview",
    bin_name = "kubectl gitview",
    version,
    about = "Create and follow gitview Analyses and RepositoryTrackers; read stories and run logs."
)]
pub struct Cli {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The gateway's URL (`story`, `logs`).
    #[arg(long, env = "GITVIEW_GATEWAY_URL", global = true)]
    pub gateway_url: Option<String>,
    /// An API key of the namespace's account with the read scope (`story`, `logs`).
    #[arg(long, env = "GITVIEW_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze a repository's whole history: create an Analysis.
    Analyze {
        /// The remote (https, ssh or git URL).
        url: String,
        /// The branch, tag or commit (default: the remote's HEAD).
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// The AnalysisProfile (default: the catalog's default).
        #[arg(long)]
        profile: Option<String>,
        /// The Analysis' name (default: generated from the remote's name).
        #[arg(long)]
        name: Option<String>,
        /// Follow it until it finishes, with a progress bar; exit 1 if it fails.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits (`30m`, `1h`).
        #[arg(long, default_value = "30m", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Keep a repository's branches analyzed: create a RepositoryTracker.
    Track {
        url: String,
        /// Branches or patterns (`main,release/*`).
        #[arg(long, value_delimiter = ',', default_value = "main")]
        branches: Vec<String>,
        #[arg(long)]
        profile: Option<String>,
        /// Keep the clone between runs on a claim of this size (`2Gi`).
        #[arg(long)]
        clone_cache: Option<String>,
        /// The tracker's name (default: the remote's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List Analyses with their progress, or show one.
    Get { name: Option<String> },
    /// Print a repository's current story: of an Analysis (by name) or a remote (by URL).
    Story {
        /// An Analysis' name, or a remote's URL.
        target: String,
        /// With a URL: the branch (default: the newest analyzed).
        #[arg(long = "ref")]
        git_ref: Option<String>,
    },
    /// Print an Analysis' run log; `-f` follows it until the run ends.
    Logs {
        name: String,
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Ask a gitview object to act now.
    Reconcile {
        #[command(subcommand)]
        what: Reconcile,
    },
}

#[derive(Debug, Subcommand)]
pub enum Reconcile {
    /// Poll a RepositoryTracker's remote now, like `flux reconcile source git`.
    Tracker {
        name: String,
        #[arg(long, default_value = "2m", value_parser = parse_duration)]
        timeout: Duration,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .parse()
        .map_err(|err| format!("{text:?} is not a duration like 90s, 30m or 1h: {err}"))?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let namespace = cli.namespace.as_deref();
    let gateway = || -> anyhow::Result<Gateway> {
        let path = config::config_path(
            std::env::var("GITVIEW_CONFIG").ok().as_deref(),
            std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        );
        let file = match &path {
            Some(path) => config::read_config(path)?,
            None => config::ConfigFile::default(),
        };
        let access: GatewayAccess = config::resolve(
            cli.gateway_url.clone(),
            cli.api_key.clone(),
            file,
            path.as_deref(),
        )?;
        Gateway::new(access)
    };
    match &cli.command {
        Command::Analyze {
            url,
            git_ref,
            profile,
            name,
            wait,
            timeout,
        } => runtime.block_on(async {
            let (client, ns) = cluster::connect(namespace).await?;
            let an = cluster::create_analysis(
                &client,
                &ns,
                url,
                git_ref.as_deref(),
                profile.as_deref(),
                name.as_deref(),
            )
            .await?;
            let name = an.name_any();
            println!("analysis.gitview.dev/{name} created");
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            let tty = std::io::stderr().is_terminal();
            let mut last = String::new();
            let done = cluster::follow(&client, &ns, &name, *timeout, |an| {
                let line = render::progress_line(an);
                if line != last {
                    if tty {
                        eprint!("\r\x1b[2K{line}");
                    } else {
                        eprintln!("{line}");
                    }
                    let _ = std::io::stderr().flush();
                    last = line;
                }
            })
            .await?;
            if tty {
                eprintln!();
            }
            println!("{}", render::outcome(&done));
            let succeeded =
                done.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Succeeded);
            Ok(if succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Command::Track {
            url,
            branches,
            profile,
            clone_cache,
            name,
        } => runtime.block_on(async {
            let (client, ns) = cluster::connect(namespace).await?;
            let tracker = cluster::create_tracker(
                &client,
                &ns,
                url,
                branches,
                profile.as_deref(),
                clone_cache.as_deref(),
                name.as_deref(),
            )
            .await?;
            println!(
                "repositorytracker.gitview.dev/{} created",
                tracker.name_any()
            );
            Ok(ExitCode::SUCCESS)
        }),
        Command::Get { name } => runtime.block_on(async {
            let (client, ns) = cluster::connect(namespace).await?;
            let list = match name {
                Some(name) => vec![cluster::analysis(&client, &ns, name).await?],
                None => cluster::analyses(&client, &ns).await?,
            };
            if list.is_empty() {
                eprintln!("No Analyses in namespace {ns:?}.");
            } else {
                print!("{}", render::table(&list, jiff::Timestamp::now()));
            }
            Ok(ExitCode::SUCCESS)
        }),
        Command::Story { target, git_ref } => {
            let fingerprint = if target.contains("://") || target.contains('@') {
                let gateway = gateway()?;
                let page = gateway.succeeded_analyses_of(target)?;
                page.items
                    .iter()
                    .find(|a| git_ref.as_ref().is_none_or(|r| &a.repository.branch == r))
                    .map(|a| a.repository.fingerprint.clone())
                    .ok_or_else(|| {
                        anyhow!(
                            "no succeeded analysis of {target}{} in this account yet: kubectl gitview analyze {target} --wait",
                            git_ref.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                        )
                    })?
            } else {
                let id = runtime.block_on(analysis_id(namespace, target))?;
                gateway()?.analysis(&id).map_err(|err| match err.downcast_ref::<NotFound>() {
                    Some(_) => anyhow!("the gateway has no record of the Analysis {target:?} yet: has its run started? (kubectl gitview get {target})"),
                    None => err,
                })?.summary.repository.fingerprint
            };
            let story = gateway()?.story(&fingerprint).map_err(|err| {
                match err.downcast_ref::<NotFound>() {
                    Some(_) => anyhow!("the repository has no story of its whole history yet: wait for an analysis to succeed (kubectl gitview get)"),
                    None => err,
                }
            })?;
            print!("{}", story.markdown);
            if !story.markdown.ends_with('\n') {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { name, follow } => {
            let id = runtime.block_on(analysis_id(namespace, name))?;
            let gateway = gateway()?;
            let mut printed = std::collections::HashSet::new();
            loop {
                // Re-read from the start: a page's cursor is given only while more lines
                // follow, so the position after the last line cannot be asked for.
                let mut cursor: Option<String> = None;
                loop {
                    let page = match gateway.logs(&id, cursor.as_deref()) {
                        Err(err) if err.downcast_ref::<NotFound>().is_some() => {
                            gitview_core::results::LogPage {
                                items: Vec::new(),
                                next_cursor: None,
                                resume_cursor: None,
                            }
                        }
                        other => other?,
                    };
                    for record in page.items {
                        if printed.insert((record.attempt, record.line.seq)) {
                            println!("{}", log_line(&record));
                        }
                    }
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                if !follow {
                    return Ok(ExitCode::SUCCESS);
                }
                let an = runtime.block_on(async {
                    let (client, ns) = cluster::connect(namespace).await?;
                    cluster::analysis(&client, &ns, name).await
                })?;
                if cluster::finished(&an) {
                    return Ok(ExitCode::SUCCESS);
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        Command::Reconcile {
            what: Reconcile::Tracker { name, timeout },
        } => runtime.block_on(async {
            let (client, ns) = cluster::connect(namespace).await?;
            let tracker = cluster::reconcile_tracker(&client, &ns, name, *timeout).await?;
            let next = tracker
                .status
                .as_ref()
                .and_then(|s| s.next_poll_time.as_ref())
                .map(|t| format!("; next poll {}", t.0))
                .unwrap_or_default();
            println!("repositorytracker.gitview.dev/{name} polled{next}");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// The gateway's id of an Analysis: its uid.
async fn analysis_id(namespace: Option<&str>, name: &str) -> anyhow::Result<String> {
    let (client, ns) = cluster::connect(namespace).await?;
    let an = cluster::analysis(&client, &ns, name).await?;
    an.uid()
        .ok_or_else(|| anyhow!("the Analysis {name:?} has no uid"))
}

/// One run-log line as `kubectl logs` readers expect: time, level, message, fields.
fn log_line(record: &gitview_core::results::LogRecord) -> String {
    let line = &record.line;
    let mut out = format!(
        "{} {:<5} {}",
        line.at,
        line.level.as_str().to_uppercase(),
        line.message
    );
    if let Some(fields) = line.fields.as_object() {
        for (key, value) in fields {
            match value {
                serde_json::Value::String(text) => out.push_str(&format!(" {key}={text}")),
                other => out.push_str(&format!(" {key}={other}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "kubectl-gitview",
            "-n",
            "team-a",
            "analyze",
            "https://x/r.git",
            "--ref",
            "main",
            "--wait",
            "--timeout",
            "5m",
        ])
        .unwrap();
        assert_eq!(cli.namespace.as_deref(), Some("team-a"));
        let Command::Analyze {
            wait,
            timeout,
            git_ref,
            ..
        } = cli.command
        else {
            panic!("analyze");
        };
        assert!(wait);
        assert_eq!(timeout, Duration::from_secs(300));
        assert_eq!(git_ref.as_deref(), Some("main"));
        let cli = Cli::try_parse_from([
            "kubectl-gitview",
            "track",
            "u",
            "--branches",
            "main,release/*",
        ])
        .unwrap();
        let Command::Track { branches, .. } = cli.command else {
            panic!("track")
        };
        assert_eq!(branches, ["main", "release/*"]);
        let cli = Cli::try_parse_from(["kubectl-gitview", "reconcile", "tracker", "repo"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Reconcile {
                what: Reconcile::Tracker { .. }
            }
        ));
        let err = Cli::try_parse_from(["kubectl-gitview", "analyze", "u", "--timeout", "soon"])
            .unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
