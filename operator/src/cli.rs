//! Command line of the operator binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use tracing::{error, info};

use crate::analysis::{self, Context};
use crate::http::{self, Health};
use crate::leader::{self, LeaseLock, Timing};
use crate::metrics::Metrics;
use crate::scope::WatchScope;
use crate::settings::Settings;
use crate::token::TokenSigner;
use crate::{janitor, telemetry};

/// Reconciles gitview Analyses into isolated, retried, cleaned-up runner pods.
/// Connects to the cluster of `KUBECONFIG` (or the in-cluster service account).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Base URL of the gateway, handed to runner pods.
    #[arg(
        long,
        env = "GITVIEW_GATEWAY_URL",
        default_value = "http://gitview-gateway.gitview-system.svc:8080"
    )]
    gateway_url: String,
    /// Ed25519 private key (PKCS#8 PEM) that signs runner tokens, as a file.
    #[arg(
        long,
        env = "GITVIEW_SIGNING_KEY_FILE",
        conflicts_with = "signing_key_secret"
    )]
    signing_key_file: Option<std::path::PathBuf>,
    /// ... or as a Secret `NAMESPACE/NAME` with the key in `ed25519.pem`.
    #[arg(long, env = "GITVIEW_SIGNING_KEY_SECRET")]
    signing_key_secret: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "GITVIEW_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Analyses reconciled at once.
    #[arg(long, env = "GITVIEW_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Elect a leader on a Lease so that only one replica acts.
    #[arg(long, env = "GITVIEW_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "gitview-system")]
    lease_namespace: String,
    #[arg(
        long,
        env = "GITVIEW_LEASE_NAME",
        default_value = "gitview-operator-leader"
    )]
    lease_name: String,
    /// This replica's identity in the election.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Lease duration in seconds (renew deadline is 2/3 of it, retry period 2/15).
    #[arg(long, env = "GITVIEW_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// Namespaces to serve, comma-separated (RFC 1123 names): Analyses, runner pods and Secrets
    /// are watched and created only there, so Roles in those namespaces suffice. Empty: every
    /// namespace (a ClusterRole is needed).
    #[arg(long, env = "GITVIEW_WATCH_NAMESPACES", default_value = "", value_parser = WatchScope::parse)]
    watch_namespaces: WatchScope,
    /// Seconds between janitor sweeps.
    #[arg(long, env = "GITVIEW_JANITOR_INTERVAL", default_value_t = 300)]
    janitor_interval: u64,
    /// Seconds between reads of a running attempt's progress from the gateway into the
    /// Analysis status (`status.progress`, the PROGRESS column), 1 to 3600.
    #[arg(long, env = "GITVIEW_PROGRESS_REFRESH", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    progress_refresh_seconds: u64,
    /// The AnalysisProfile of Analyses that name none (the API server gives them `profile:
    /// default`, which then means this one) and of trackers whose template names none.
    #[arg(long, env = "GITVIEW_DEFAULT_PROFILE", default_value = crate::settings::DEFAULT_PROFILE, value_parser = profile_name)]
    default_profile: String,
    /// UID the runner container runs as.
    #[arg(long, env = "GITVIEW_RUNNER_UID", default_value_t = 65532)]
    runner_uid: i64,
    /// Address of the RepositoryTracker webhook receiver (`POST /hooks/...`), kept apart from
    /// the metrics address so only it needs exposing to the forges. Unset: no receiver.
    #[arg(long, env = "GITVIEW_WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// Log format.
    #[arg(long, env = "GITVIEW_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
}

/// An AnalysisProfile name: a DNS subdomain (RFC 1123), as the CRDs' `profile` fields.
fn profile_name(name: &str) -> Result<String, String> {
    let label = |l: &str| {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        edge(l.chars().next())
            && edge(l.chars().last())
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if name.len() <= 253 && name.split('.').all(label) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not a profile name: lowercase letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit"
        ))
    }
}

/// Entry point of the binary.
pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(args.log_format == "json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn load_signer(args: &Args, client: &Client) -> anyhow::Result<TokenSigner> {
    let (pem, key_id) = match (&args.signing_key_file, &args.signing_key_secret) {
        (Some(path), _) => (
            std::fs::read(path)
                .with_context(|| format!("cannot read the signing key file {}", path.display()))?,
            None,
        ),
        (None, Some(reference)) => {
            let (namespace, name) = reference.split_once('/').with_context(|| {
                format!("--signing-key-secret must be NAMESPACE/NAME, got {reference:?}")
            })?;
            let secret = Api::<Secret>::namespaced(client.clone(), namespace)
                .get(name)
                .await
                .with_context(|| format!("cannot read the signing key Secret {reference}"))?;
            let pem = secret
                .data
                .and_then(|mut d| d.remove("ed25519.pem"))
                .with_context(|| format!("Secret {reference} has no key ed25519.pem"))?;
            (pem.0, None)
        }
        (None, None) => {
            anyhow::bail!("a signing key is required: --signing-key-file or --signing-key-secret")
        }
    };
    Ok(TokenSigner::from_pem(&pem, key_id)?)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("cannot connect to Kubernetes (KUBECONFIG or in-cluster)")?;
    let signer = load_signer(&args, &client).await?;
    let signer_for_trackers = signer.clone();
    let metrics = Arc::new(Metrics::default());
    let identity = args.identity.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "gitview-operator".into()),
            std::process::id()
        )
    });

    info!(scope = %args.watch_namespaces, "serving");
    let wiring = analysis::wire(
        client.clone(),
        args.concurrency,
        &args.watch_namespaces,
        &args.default_profile,
    );
    let ready = Arc::new(AtomicBool::new(false));
    let leading = Arc::new(AtomicBool::new(!args.leader_election));
    let health = Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
        leading: leading.clone(),
        analyses: Some(wiring.analyses.clone()),
        jwks: Arc::new(signer.jwks()),
    };
    let server = tokio::spawn(http::serve(args.metrics_addr, health));
    // Every replica receives webhooks: deliveries are recorded in the tracker's status, where
    // the leader's controller sees them.
    let hooks = match args.webhook_addr {
        Some(addr) => tokio::spawn(crate::tracker::webhook::serve(addr, client.clone())),
        None => tokio::spawn(std::future::pending()),
    };

    let gateway_reader = match crate::gateway::GatewayReader::new(
        &args.gateway_url,
        signer_for_trackers,
    ) {
        Ok(reader) => Some(Arc::new(reader)),
        Err(err) => {
            error!(error = %err, "cannot build the gateway client; trackers decide from their own runs, and runs show no progress");
            None
        }
    };
    let settings = Settings {
        gateway_url: args.gateway_url.clone(),
        runner_uid: args.runner_uid,
        default_profile: args.default_profile.clone(),
        progress_refresh: gateway_reader
            .is_some()
            .then_some(Duration::from_secs(args.progress_refresh_seconds)),
        ..Settings::default()
    };
    let reporter = Reporter {
        controller: "gitview-operator".into(),
        instance: Some(identity.clone()),
    };
    let accounts = Arc::new(crate::account::Accounts::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings,
        signer,
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
        stores: wiring.stores.clone(),
        clock: crate::clock::system(),
        gateway: gateway_reader.clone(),
        accounts: accounts.clone(),
    });

    let stores = wiring.stores.clone();
    let analyses = wiring.analyses.clone();
    let readiness = async move {
        let synced = analyses.wait_until_ready().await.is_ok()
            && stores.pods.wait_until_ready().await.is_ok()
            && stores.secrets.wait_until_ready().await.is_ok()
            && stores.profiles.wait_until_ready().await.is_ok();
        ready.store(synced, Ordering::Relaxed);
        if synced {
            info!("caches synced");
        }
    };
    let janitor = janitor::run(
        client.clone(),
        wiring.stores.secrets.clone(),
        wiring.stores.pods.clone(),
        wiring.analyses.clone(),
        metrics.clone(),
        Duration::from_secs(args.janitor_interval.max(10)),
    );
    let trackers = Arc::new(crate::tracker::TrackerContext {
        gateway: gateway_reader,
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "gitview-operator".into(),
                instance: Some(identity.clone()),
            },
        ),
        metrics: metrics.clone(),
        accounts,
        clock: crate::clock::system(),
        default_profile: args.default_profile.clone(),
    });
    let profiles = Arc::new(crate::profile::ProfileContext {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "gitview-operator".into(),
                instance: Some(identity.clone()),
            },
        ),
        metrics: metrics.clone(),
        clock: crate::clock::system(),
    });
    let tracker_client = client.clone();
    let concurrency = args.concurrency;
    let scope = args.watch_namespaces.clone();
    // One task: the Analysis controller, `readiness` and the janitor all wait on the same caches
    // with `Store::wait_until_ready`, which wakes only the task that polled it last (see
    // `crate::ready`); within one task, that wake polls them all. A wait moved into a task of its
    // own (a reconcile, a spawned loop) must go through `crate::ready::Ready`.
    let work = async move {
        tokio::join!(
            wiring.run(ctx),
            crate::tracker::run(tracker_client, trackers, concurrency, scope),
            crate::profile::run(profiles, concurrency),
            readiness,
            janitor
        );
    };
    // SIGTERM (the kubelet deleting the pod, a rolling update) or SIGINT: stop reconciling and
    // exit cleanly instead of being killed mid-request by the default signal disposition.
    let shutdown = async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        info!("shutting down");
    };

    let outcome = if args.leader_election {
        let lease = Duration::from_secs(args.lease_seconds.max(3));
        let timing = Timing {
            lease_duration: lease,
            renew_deadline: lease * 2 / 3,
            retry_period: lease * 2 / 15,
        };
        let lock = LeaseLock::new(
            Api::<Lease>::namespaced(client, &args.lease_namespace),
            &args.lease_name,
            identity,
            timing,
        );
        info!(identity = lock.identity(), "waiting for leadership");
        tokio::select! {
            result = leader::run_while_leader(&lock, |lead| { metrics.set_leader(lead); leading.store(lead, Ordering::Relaxed); }, work) => result.map_err(anyhow::Error::from),
            () = shutdown => Ok(()),
            served = server => served.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
            served = hooks => served.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
        }
    } else {
        metrics.set_leader(true);
        tokio::select! {
            () = work => Ok(()),
            () = shutdown => Ok(()),
            served = server => served.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
            served = hooks => served.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
        }
    };
    if let Err(err) = &outcome {
        error!(error = %err, "operator stopped");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["gitview-operator"].iter().chain(args))
    }

    #[test]
    fn watch_namespaces_default_to_every_namespace() {
        assert_eq!(parse(&[]).unwrap().watch_namespaces, WatchScope::All);
        assert_eq!(
            parse(&["--watch-namespaces", ""]).unwrap().watch_namespaces,
            WatchScope::All
        );
        assert_eq!(
            parse(&["--watch-namespaces", "team-b,team-a"])
                .unwrap()
                .watch_namespaces,
            WatchScope::Namespaces(vec!["team-a".into(), "team-b".into()])
        );
    }

    #[test]
    fn progress_is_refreshed_every_15_s_unless_told_within_an_hour() {
        assert_eq!(parse(&[]).unwrap().progress_refresh_seconds, 15);
        assert_eq!(
            parse(&["--progress-refresh-seconds", "60"])
                .unwrap()
                .progress_refresh_seconds,
            60
        );
        for bad in ["0", "3601", "soon"] {
            let message = parse(&["--progress-refresh-seconds", bad])
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("--progress-refresh-seconds") && message.contains(bad),
                "{message}"
            );
        }
    }

    #[test]
    fn the_default_profile_is_default_unless_told() {
        assert_eq!(parse(&[]).unwrap().default_profile, "default");
        assert_eq!(
            parse(&["--default-profile", "team.default-2"])
                .unwrap()
                .default_profile,
            "team.default-2"
        );
        for bad in ["", "Team", "a-", "a..b", "a_b"] {
            let message = parse(&["--default-profile", bad]).unwrap_err().to_string();
            assert!(message.contains("is not a profile name"), "{message}");
        }
    }

    #[test]
    fn a_bad_namespace_name_stops_the_operator_at_start_with_the_name() {
        let message = parse(&["--watch-namespaces", "team-a,Team_B"])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("--watch-namespaces")
                && message.contains("\"Team_B\" is not a namespace name"),
            "{message}"
        );
    }
}
