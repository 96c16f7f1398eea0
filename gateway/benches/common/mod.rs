//! What the gateway's benchmarks share: a throwaway cluster with the gateway's roles, migrated
//! databases, the gateway's router serving one of them on 127.0.0.1 in this process, runner
//! tokens, a deterministic random source, and latency summaries.
#![allow(dead_code, reason = "shared by both benches; each uses part of it")]

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use gitview_core::token::TokenClaims;
use gitview_gateway::kit::keys;
use gitview_gateway::testing::TestPostgres;
use gitview_gateway::{api, auth, db};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The admin token of the benchmarks' gateways.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef0123456789";
/// The gateway's default pool size (`--max-connections`).
pub const POOL: u32 = 16;
/// The gateway's default body limit (`--max-body-bytes`).
pub const MAX_BODY: usize = 16 << 20;

/// A cluster with the roles the gateway's deployment has: `gitview_owner` owns the schema and
/// runs the migrations, `gateway` logs in as a member of `gitview_app` (no BYPASSRLS).
pub struct Cluster {
    pub pg: TestPostgres,
}

impl Cluster {
    pub async fn start() -> Self {
        gitview_gateway::install_crypto_provider();
        let pg = TestPostgres::start()
            .await
            .expect("a throwaway PostgreSQL starts (postgresql-15 installed?)");
        pg.exec(
            "postgres",
            "CREATE ROLE gitview_owner LOGIN; CREATE ROLE gitview_app NOLOGIN; \
             CREATE ROLE gateway LOGIN IN ROLE gitview_app;",
        )
        .await
        .expect("roles are created");
        Self { pg }
    }

    /// A new database owned by `gitview_owner`, migrated as it.
    pub async fn database(&self, name: &str) {
        self.pg
            .create_database(name)
            .await
            .expect("the database is created");
        self.pg
            .exec(
                name,
                &format!(
                    "ALTER DATABASE \"{name}\" OWNER TO gitview_owner; \
                     ALTER SCHEMA public OWNER TO gitview_owner;"
                ),
            )
            .await
            .expect("the owner gets the database");
        let owner = db::connect(&self.pg.url("gitview_owner", name), 2)
            .await
            .expect("the owner connects");
        db::migrate(&owner).await.expect("the migrations apply");
        owner.close().await;
    }

    /// Serves `database` with the gateway's router on a free loopback port of this process,
    /// connected as `gateway` with the default pool; returns its address and the key that
    /// signs its runner tokens.
    pub async fn serve(&self, database: &str) -> (SocketAddr, EncodingKey) {
        let pool = db::connect(&self.pg.url("gateway", database), POOL)
            .await
            .expect("the gateway connects");
        let (signing, public) = key_pair(7);
        let verifier =
            auth::Verifier::from_pem(public.as_bytes()).expect("the public key is valid PEM");
        let state = api::AppState::new(pool, verifier)
            .with_admin_token(keys::AdminToken::new(ADMIN_TOKEN).expect("a long admin token"));
        let app = api::router(state, MAX_BODY);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, signing)
    }
}

pub fn key_pair(seed: u8) -> (EncodingKey, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key encodes");
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 key encodes");
    (
        EncodingKey::from_ed_pem(private.as_bytes()).expect("our own PEM parses"),
        public,
    )
}

/// A runner token for one analysis of `account`, valid for an hour.
pub fn runner_token(key: &EncodingKey, account: &str, analysis: &str) -> String {
    let now = jiff::Timestamp::now();
    let claims = TokenClaims::runner(
        account,
        analysis,
        1,
        now,
        now + jiff::SignedDuration::from_secs(3600),
    );
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key).expect("a token signs")
}

/// SplitMix64: a deterministic random source, so every run benchmarks the same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The one-minute load average, to print next to figures taken on a shared machine.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// An environment variable parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} does not parse")),
        Err(_) => default,
    }
}

/// p50, p99 and max of `samples` (sorted in place); zeros when empty.
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return Default::default();
    }
    samples.sort_unstable();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nanoseconds `pid`'s threads have spent on a CPU and waiting in a run queue for one
/// (`/proc/<pid>/task/*/schedstat`); zeros for a process that is gone.
pub fn schedstat(pid: u32) -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    let mut total = (0, 0);
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let mut fields = text
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        total.0 += fields.next().unwrap_or(0);
        total.1 += fields.next().unwrap_or(0);
    }
    total
}
