//! `gitview-gateway`: `serve` the results API, `migrate` the database, or run one `retention`
//! pass.
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gitview_gateway::kit::{keys, limits};
use gitview_gateway::{api, auth, db, retention, storage};

/// The gitview results service.
#[derive(Debug, Parser)]
#[command(name = "gitview-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<Serve>),
    /// Print the OpenAPI document (what `/openapi.json` serves).
    Openapi,
    /// Apply the schema migrations (as the schema's owner), then exit.
    Migrate {
        #[command(flatten)]
        database: Database,
        /// Seconds to wait for the database to accept connections (it may be starting beside
        /// this init container); refusals other than "not up yet" fail at once.
        #[arg(long, default_value_t = 60)]
        wait_for_database: u64,
    },
    /// Delete what is older than each account's retention, once, then exit (as the gateway's
    /// role; skips if another gateway's pass holds the lock).
    Retention {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        objects: Objects,
    },
}

#[derive(Debug, Args)]
struct Objects {
    /// Where artifacts above 1 MiB go: `file:///dir` (a local or mounted directory, created if
    /// missing), `s3://bucket[/prefix]` (region, endpoint and credentials from the `AWS_*`
    /// variables: AWS_REGION, AWS_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_ALLOW_HTTP, …), or `none` (such artifacts are refused with 413).
    #[arg(
        long,
        env = "GITVIEW_OBJECT_STORE",
        default_value = "file:///var/lib/gitview/artifacts"
    )]
    object_store: String,
}

impl Objects {
    fn store(&self) -> anyhow::Result<Option<storage::ArtifactStore>> {
        if self.object_store == "none" {
            return Ok(None);
        }
        let store = storage::ArtifactStore::from_url(&self.object_store)?;
        Ok(Some(store))
    }
}

#[derive(Debug, Args)]
struct Database {
    /// PostgreSQL URL.
    #[arg(
        long,
        env = "GITVIEW_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "database_url_file"
    )]
    database_url: Option<String>,
    /// A file holding the PostgreSQL URL (a mounted Secret).
    #[arg(long, env = "GITVIEW_DATABASE_URL_FILE")]
    database_url_file: Option<PathBuf>,
    /// TLS to the database, over the URL's `sslmode` and PGSSLMODE: disable, prefer (the
    /// default: TLS if offered, unverified), require (TLS, unverified unless a CA is given),
    /// verify-ca or verify-full (the certificate also names the URL's host).
    #[arg(long, env = "GITVIEW_DATABASE_SSLMODE")]
    database_sslmode: Option<db::tls::SslMode>,
    /// The CA certificate(s), PEM, that the database's certificate must chain to, over the
    /// URL's `sslrootcert` and PGSSLROOTCERT; without one, the system's trust store.
    #[arg(long, env = "GITVIEW_DATABASE_SSLROOTCERT")]
    database_sslrootcert: Option<PathBuf>,
}

impl Database {
    /// The database to connect to, with its TLS settings resolved.
    fn target(&self) -> anyhow::Result<db::tls::Target> {
        let overrides = db::tls::Overrides {
            mode: self.database_sslmode,
            root_cert: self.database_sslrootcert.clone(),
        };
        let target = db::tls::Target::parse(&self.url()?, &overrides)?;
        tracing::info!(server = %target.server(), tls = %target.tls(), "connecting to the database");
        Ok(target)
    }

    fn url(&self) -> anyhow::Result<String> {
        match (&self.database_url, &self.database_url_file) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(path)) => Ok(std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .to_owned()),
            (None, None) => {
                anyhow::bail!("a database is required: --database-url or --database-url-file")
            }
        }
    }
}

#[derive(Debug, Args)]
struct Serve {
    #[arg(long, env = "GITVIEW_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    database: Database,
    /// The operator's token public key (Ed25519, SPKI PEM).
    #[arg(
        long,
        env = "GITVIEW_TOKEN_PUBLIC_KEY_FILE",
        conflicts_with = "token_jwks_url"
    )]
    token_public_key_file: Option<PathBuf>,
    /// ... or the operator's JWKS URL (`http://<operator>:8080/.well-known/jwks.json`).
    #[arg(long, env = "GITVIEW_TOKEN_JWKS_URL")]
    token_jwks_url: Option<String>,
    /// A file holding the admin token (at least 32 characters) that guards `/v1/admin`, where
    /// accounts' API keys are created and revoked. Without it the admin routes answer 403.
    #[arg(long, env = "GITVIEW_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Larger request bodies get 413 (artifacts excepted: see --max-artifact-bytes).
    #[arg(long, env = "GITVIEW_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    max_body_bytes: usize,
    #[command(flatten)]
    objects: Objects,
    /// Larger artifacts get 413. They are streamed to the object store, never held whole.
    #[arg(long, env = "GITVIEW_MAX_ARTIFACT_BYTES", default_value_t = api::DEFAULT_MAX_ARTIFACT_BYTES)]
    max_artifact_bytes: u64,
    /// Requests per second each API key may make on the read API, on average; 0 disables
    /// the limit. Runner tokens and the admin token are not limited.
    #[arg(long, env = "GITVIEW_RATE_LIMIT_PER_KEY", default_value_t = limits::DEFAULT_PER_SECOND)]
    rate_limit_per_key: u32,
    /// How many requests an API key may make at once, above its rate.
    #[arg(long, env = "GITVIEW_RATE_LIMIT_BURST", default_value_t = limits::DEFAULT_BURST,
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_burst: u32,
    #[arg(long, env = "GITVIEW_DB_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    #[arg(long, env = "GITVIEW_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
    /// How often the retention janitor runs (`1h`, `30m`, …); `0` disables it. Replicas take
    /// turns through a database lock.
    #[arg(long, env = "GITVIEW_RETENTION_INTERVAL", default_value = "1h", value_parser = retention::parse_interval)]
    retention_interval: std::time::Duration,
    /// How long a web UI session lasts after sign-in (`12h`, `30m`).
    #[arg(long, env = "GITVIEW_UI_SESSION_TTL", default_value = "12h", value_parser = retention::parse_interval)]
    ui_session_ttl: std::time::Duration,
    /// Send the UI's session cookie without `Secure`: only for plain http on a host other than
    /// localhost (browsers take `Secure` cookies from http://localhost, as a port-forward serves).
    #[arg(long, env = "GITVIEW_UI_INSECURE_COOKIES")]
    ui_insecure_cookies: bool,
    /// Auth-proxy mode (off by default): the header in which an authenticating proxy names the
    /// user (`X-Forwarded-Email`); needs --ui-auth-proxy-from and --ui-auth-proxy-accounts.
    #[arg(long, env = "GITVIEW_UI_AUTH_PROXY_USER_HEADER")]
    ui_auth_proxy_user_header: Option<String>,
    /// The header listing the user's groups, comma-separated (`X-Forwarded-Groups`).
    #[arg(long, env = "GITVIEW_UI_AUTH_PROXY_GROUPS_HEADER")]
    ui_auth_proxy_groups_header: Option<String>,
    /// The proxy's addresses or networks (`10.0.0.0/8,fd00::/8`): its headers are trusted only
    /// from there.
    #[arg(long, env = "GITVIEW_UI_AUTH_PROXY_FROM", value_delimiter = ',')]
    ui_auth_proxy_from: Vec<gitview_gateway::kit::auth_proxy::Network>,
    /// A YAML file mapping users and groups to accounts (`users: {alice@example.com: team-a}`,
    /// `groups: {platform: team-a}`).
    #[arg(long, env = "GITVIEW_UI_AUTH_PROXY_ACCOUNTS")]
    ui_auth_proxy_accounts: Option<PathBuf>,
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal())
            .compact()
            .init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Openapi => {
            print!("{}", gitview_gateway::openapi::document_pretty());
            Ok(())
        }
        Command::Migrate {
            database,
            wait_for_database,
        } => {
            init_logs(false);
            runtime.block_on(async {
                let target = database.target()?;
                let deadline =
                    std::time::Instant::now() + std::time::Duration::from_secs(wait_for_database);
                let pool = loop {
                    match db::connect_to(&target, 2).await {
                        Ok(pool) => break pool,
                        Err(err) if err.is_not_up_yet() && std::time::Instant::now() < deadline => {
                            tracing::info!(error = %err, "waiting for the database");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                        // The error names the server and the TLS settings.
                        Err(err) => return Err(err.into()),
                    }
                };
                db::migrate(&pool).await.context("migrations failed")?;
                tracing::info!("migrations applied");
                Ok(())
            })
        }
        Command::Retention { database, objects } => {
            init_logs(false);
            runtime.block_on(async {
                let store = objects.store()?;
                let pool = db::connect_to(&database.target()?, 2).await?;
                let outcome = retention::run_once(&pool, store.as_ref())
                    .await
                    .context("the retention pass failed")?;
                retention::log(Ok(outcome));
                Ok(())
            })
        }
        Command::Serve(serve) => {
            init_logs(serve.log_format == "json");
            runtime.block_on(run(*serve))
        }
    }
}

async fn run(serve: Serve) -> anyhow::Result<()> {
    let admin_token = match &serve.admin_token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                keys::AdminToken::new(&token)
                    .with_context(|| format!("the admin token in {}", path.display()))?,
            )
        }
        None => None,
    };
    let verifier = match (&serve.token_public_key_file, &serve.token_jwks_url) {
        (Some(path), _) => auth::Verifier::from_pem(
            &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        )?,
        (None, Some(url)) => auth::Verifier::from_jwks_url(url).await?,
        (None, None) => {
            anyhow::bail!("token keys are required: --token-public-key-file or --token-jwks-url")
        }
    };
    let store = serve.objects.store()?;
    let pool = db::connect_to(&serve.database.target()?, serve.max_connections).await?;
    let auth_proxy = match (
        &serve.ui_auth_proxy_user_header,
        &serve.ui_auth_proxy_accounts,
    ) {
        (None, None) => None,
        (Some(user_header), Some(accounts)) if !serve.ui_auth_proxy_from.is_empty() => {
            let accounts = gitview_gateway::kit::auth_proxy::AuthProxy::read_accounts(accounts)
                .map_err(anyhow::Error::msg)?;
            tracing::info!(user_header, from = ?serve.ui_auth_proxy_from, "the web UI trusts an auth proxy's headers");
            Some(std::sync::Arc::new(
                gitview_gateway::kit::auth_proxy::AuthProxy {
                    user_header: user_header.clone(),
                    groups_header: serve.ui_auth_proxy_groups_header.clone(),
                    from: serve.ui_auth_proxy_from.clone(),
                    accounts,
                },
            ))
        }
        _ => anyhow::bail!(
            "the auth-proxy mode needs all of --ui-auth-proxy-user-header, --ui-auth-proxy-from and --ui-auth-proxy-accounts"
        ),
    };
    let mut state =
        api::AppState::new(pool, verifier).with_ui(gitview_gateway::kit::state::UiSettings {
            session_ttl: serve.ui_session_ttl,
            secure_cookies: !serve.ui_insecure_cookies,
            auth_proxy,
        });
    match &store {
        Some(store) => {
            tracing::info!(
                object_store = store.url(),
                "artifacts above 1 MiB go to object storage"
            );
            state = state.with_artifact_store(store.clone(), serve.max_artifact_bytes);
        }
        None => tracing::info!("--object-store none: artifacts above 1 MiB are refused"),
    }
    if let Some(token) = admin_token {
        state = state.with_admin_token(token);
    } else {
        tracing::info!("no --admin-token-file: the admin routes (API keys) are disabled");
    }
    match limits::RateLimit::new(serve.rate_limit_per_key, serve.rate_limit_burst) {
        Some(limit) => state = state.with_rate_limit(limit, limits::LimitClock::system()),
        None => tracing::info!("--rate-limit-per-key 0: API keys are not rate-limited"),
    }
    if serve.retention_interval.is_zero() {
        tracing::info!("--retention-interval 0: the retention janitor is off");
    } else {
        tokio::spawn(retention::every(
            state.pool.clone(),
            store,
            serve.retention_interval,
        ));
    }
    let app = api::router(state, serve.max_body_bytes);
    let listener = tokio::net::TcpListener::bind(serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", serve.listen))?;
    tracing::info!(listen = %serve.listen, "serving");
    // The peer's address: the web UI trusts an auth proxy's headers only from its addresses.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

/// SIGTERM (the kubelet) or SIGINT: finish the requests in flight, then stop.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
