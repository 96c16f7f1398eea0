//! The commands and how each runs.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand};
use gitview_core::results::LogPage;
use gitview_crds::v1alpha1::AnalysisPhase;
use kube::ResourceExt as _;

use crate::config::{self, GatewayAccess, GatewayService, KubeTarget};
use crate::gateway::{Gateway, NotFound};
use crate::{cluster, follow, open, render};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl gitview",
    bin_name = "kubectl gitview",
    version,
    about = "Create and follow gitview Analyses and RepositoryTrackers; read stories and run logs; open the web UI."
)]
pub struct Cli {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig to use, as kubectl's --kubeconfig (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use, as kubectl's --context (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The gateway's URL (`story`, `logs`, `open`).
    #[arg(long, env = "GITVIEW_GATEWAY_URL", global = true)]
    pub gateway_url: Option<String>,
    /// The gateway Service's namespace, to forward it from outside the cluster.
    #[arg(long, env = "GITVIEW_GATEWAY_NAMESPACE", global = true, default_value = config::DEFAULT_GATEWAY_NAMESPACE)]
    pub gateway_namespace: String,
    /// The gateway Service's name (`<release>-gateway`, or the release's name when it holds "gitview").
    #[arg(long, env = "GITVIEW_GATEWAY_SERVICE", global = true, default_value = config::DEFAULT_GATEWAY_SERVICE)]
    pub gateway_service: String,
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
    /// Print the web UI's URL: an Analysis' page, or the start page without NAME.
    ///
    /// Without NAME and without --port-forward it needs no cluster, only the gateway's URL
    /// (--gateway-url, GITVIEW_GATEWAY_URL or the config file). The UI asks you to sign in.
    Open {
        /// An Analysis' name (its page needs the cluster, to find the Analysis' uid).
        name: Option<String>,
        /// Also open it in the desktop's browser (`xdg-open`; `open` on macOS).
        #[arg(long)]
        browser: bool,
        /// Run `kubectl port-forward` to the gateway's Service, print the local URL and stay
        /// until Ctrl-C (or until kubectl ends); no gateway URL needed.
        #[arg(long)]
        port_forward: bool,
        /// With --port-forward: the local port (0: kubectl picks one).
        #[arg(long, default_value_t = config::GATEWAY_SERVICE_PORT)]
        local_port: u16,
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
    let kube = KubeTarget {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
    };
    let service = GatewayService {
        namespace: cli.gateway_namespace.clone(),
        name: cli.gateway_service.clone(),
        kube: kube.clone(),
    };
    let config_file = || -> anyhow::Result<(config::ConfigFile, Option<std::path::PathBuf>)> {
        let path = config::config_path(
            std::env::var("GITVIEW_CONFIG").ok().as_deref(),
            std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        );
        let file = match &path {
            Some(path) => config::read_config(path)?,
            None => config::ConfigFile::default(),
        };
        Ok((file, path))
    };
    let gateway = || -> anyhow::Result<Gateway> {
        let (file, path) = config_file()?;
        let access: GatewayAccess = config::resolve(
            cli.gateway_url.clone(),
            cli.api_key.clone(),
            file,
            path.as_deref(),
            &service,
        )?;
        Gateway::new(access, &service)
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
            let (client, ns) = cluster::connect(namespace, &kube).await?;
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
            let (client, ns) = cluster::connect(namespace, &kube).await?;
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
            let (client, ns) = cluster::connect(namespace, &kube).await?;
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
                let id = runtime.block_on(analysis_id(namespace, &kube, target))?;
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
            let (client, ns) = runtime.block_on(cluster::connect(namespace, &kube))?;
            let an = runtime.block_on(cluster::analysis(&client, &ns, name))?;
            let id = an
                .uid()
                .ok_or_else(|| anyhow!("the Analysis {name:?} has no uid"))?;
            let mut source = RunLog {
                runtime: &runtime,
                gateway: &gateway()?,
                id: &id,
                client,
                namespace: &ns,
                name,
            };
            follow::print_log(&mut source, *follow, |record| {
                println!("{}", log_line(record));
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Open {
            name,
            browser,
            port_forward,
            local_port,
        } => {
            let id = match name {
                Some(name) => Some(runtime.block_on(analysis_id(namespace, &kube, name))?),
                None => None,
            };
            if *port_forward {
                let forward = open::start_forward(&service, *local_port)?;
                let url = open::ui_url(&forward.base, id.as_deref());
                println!("{url}");
                let _ = std::io::stdout().flush();
                eprintln!(
                    "Forwarding {}/{} to {} until Ctrl-C.",
                    service.namespace, service.name, forward.base
                );
                if *browser {
                    open::open_in_browser(&url);
                }
                let status = forward.wait()?;
                if status.success() {
                    eprintln!("kubectl port-forward ended.");
                    return Ok(ExitCode::SUCCESS);
                }
                bail!("kubectl port-forward ended ({status}): its error is above");
            }
            let (file, path) = config_file()?;
            let base =
                config::resolve_url(cli.gateway_url.clone(), &file, path.as_deref(), &service)?;
            let url = open::ui_url(&base, id.as_deref());
            println!("{url}");
            let _ = std::io::stdout().flush();
            Ok(if !*browser || open::open_in_browser(&url) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Reconcile {
            what: Reconcile::Tracker { name, timeout },
        } => runtime.block_on(async {
            let (client, ns) = cluster::connect(namespace, &kube).await?;
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

/// An Analysis' run log: its lines from the gateway, whether it has finished from the cluster.
struct RunLog<'a> {
    runtime: &'a tokio::runtime::Runtime,
    gateway: &'a Gateway,
    id: &'a str,
    client: kube::Client,
    namespace: &'a str,
    name: &'a str,
}

impl follow::LogSource for RunLog<'_> {
    fn page(&mut self, cursor: Option<&str>) -> anyhow::Result<LogPage> {
        match self.gateway.logs(self.id, cursor) {
            // The gateway learns of an analysis when its run starts: no lines yet.
            Err(err) if err.downcast_ref::<NotFound>().is_some() => Ok(LogPage {
                items: Vec::new(),
                next_cursor: None,
                resume_cursor: None,
            }),
            other => other,
        }
    }

    fn finished(&mut self) -> anyhow::Result<bool> {
        let an =
            self.runtime
                .block_on(cluster::analysis(&self.client, self.namespace, self.name))?;
        Ok(cluster::finished(&an))
    }

    fn wait(&mut self) {
        std::thread::sleep(LOG_POLL_INTERVAL);
    }
}

/// How often `logs -f` asks for new lines.
const LOG_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The gateway's id of an Analysis: its uid.
async fn analysis_id(
    namespace: Option<&str>,
    kube: &KubeTarget,
    name: &str,
) -> anyhow::Result<String> {
    let (client, ns) = cluster::connect(namespace, kube).await?;
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
        let cli = Cli::try_parse_from([
            "kubectl-gitview",
            "open",
            "my-analysis",
            "--browser",
            "--port-forward",
            "--gateway-namespace",
            "tools",
        ])
        .unwrap();
        assert_eq!(cli.gateway_namespace, "tools");
        assert_eq!(cli.gateway_service, config::DEFAULT_GATEWAY_SERVICE);
        let Command::Open {
            name,
            browser,
            port_forward,
            local_port,
        } = cli.command
        else {
            panic!("open")
        };
        assert_eq!(name.as_deref(), Some("my-analysis"));
        assert!(browser && port_forward);
        assert_eq!(local_port, 8080);
        let err = Cli::try_parse_from(["kubectl-gitview", "analyze", "u", "--timeout", "soon"])
            .unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
