//! What the gateway's integration tests share: a throwaway PostgreSQL, the migrated database,
//! the gateway serving it over HTTP on 127.0.0.1, runner tokens and API keys.
#![allow(dead_code, reason = "shared by every test crate; each uses part of it")]

use std::net::SocketAddr;

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::{ApiKeyCreated, CommitBatch, CommitUpload, RunStarted, StartRun};
use gitview_core::token::TokenClaims;
use gitview_gateway::kit::keys;
use gitview_gateway::testing::TestPostgres;
use gitview_gateway::{api, auth, db};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

/// The admin token of [`Gateway::start`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// A cluster, a migrated database, and the gateway serving it.
pub struct Gateway {
    pub pg: TestPostgres,
    pub addr: SocketAddr,
    pub signing: EncodingKey,
    pub http: reqwest::Client,
}

pub fn key_pair(seed: u8) -> (EncodingKey, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (
        EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
        public,
    )
}

/// A throwaway cluster with database `gitview` and its owner `gitview_owner`, migrated by the
/// owner up to migration `version` (all of them with `None`); returns it and the owner's pool
/// (migration tests fill the database, then run the rest with it).
pub async fn postgres_migrated_to(version: Option<i64>) -> (TestPostgres, sqlx::PgPool) {
    let pg = TestPostgres::start().await.expect("postgres starts");
    pg.create_database("gitview").await.unwrap();
    pg.exec("gitview", "CREATE ROLE gitview_owner LOGIN; CREATE ROLE gitview_app NOLOGIN; ALTER DATABASE gitview OWNER TO gitview_owner; ALTER SCHEMA public OWNER TO gitview_owner;")
        .await
        .unwrap();
    let owner = db::connect(&pg.url("gitview_owner", "gitview"), 2)
        .await
        .unwrap();
    match version {
        Some(version) => db::MIGRATOR
            .run_to(version, &owner)
            .await
            .unwrap_or_else(|err| panic!("migrations up to {version} apply: {err}")),
        None => db::migrate(&owner).await.expect("migrations apply"),
    }
    (pg, owner)
}

/// A throwaway cluster with database `gitview` migrated by its owner `gitview_owner`, and
/// the login role `gateway`, a member of `gitview_app` (bound by row-level security).
pub async fn migrated_postgres() -> TestPostgres {
    let (pg, owner) = postgres_migrated_to(None).await;
    owner.close().await;
    pg.exec("gitview", "CREATE ROLE gateway LOGIN IN ROLE gitview_app")
        .await
        .unwrap();
    pg
}

impl Gateway {
    /// With the admin routes enabled by [`ADMIN_TOKEN`].
    pub async fn start() -> Self {
        Self::start_with(Some(ADMIN_TOKEN)).await
    }

    pub async fn start_with(admin_token: Option<&str>) -> Self {
        Self::start_configured(admin_token, |state| state).await
    }

    /// With the admin token, and the state as `configure` leaves it (rate limits, …).
    pub async fn start_configured(
        admin_token: Option<&str>,
        configure: impl FnOnce(api::AppState) -> api::AppState,
    ) -> Self {
        gitview_gateway::install_crypto_provider();
        let pg = migrated_postgres().await;
        let pool = db::connect(&pg.url("gateway", "gitview"), 8).await.unwrap();
        let (signing, public) = key_pair(7);
        let verifier = auth::Verifier::from_pem(public.as_bytes()).unwrap();
        let mut state = api::AppState::new(pool, verifier);
        if let Some(token) = admin_token {
            state = state.with_admin_token(keys::AdminToken::new(token).unwrap());
        }
        let app = api::router(configure(state), 64 * 1024);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            pg,
            addr,
            signing,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token(&self, account: &str, analysis: &str) -> String {
        sign(&self.signing, &claims(account, analysis))
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn start_run(&self, account: &str, analysis: &str, url: &str) -> RunStarted {
        let (status, body) = self
            .post(
                &self.token(account, analysis),
                &format!("/v1/runs/{analysis}/start"),
                &start_body(url),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// A superuser connection to the database (bypasses RLS: the test's view of the truth).
    pub async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.pg.url("postgres", "gitview"))
            .await
            .unwrap()
    }
}

pub fn claims(account: &str, analysis: &str) -> TokenClaims {
    let now = jiff::Timestamp::now();
    TokenClaims::runner(
        account,
        analysis,
        1,
        now,
        now + jiff::SignedDuration::from_secs(600),
    )
}

pub fn sign(key: &EncodingKey, claims: &TokenClaims) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, key).unwrap()
}

pub fn start_body(url: &str) -> Value {
    serde_json::to_value(StartRun {
        namespace: "team".into(),
        name: "an".into(),
        attempt: 1,
        repository_url: url.into(),
        branch: "main".into(),
        mode: "Full".into(),
        config: json!({"profile": "default"}),
    })
    .unwrap()
}

pub fn commit(n: u8, parents: &[String]) -> CommitRecord {
    let person = |name: &str| Person {
        name: name.into(),
        email: format!("{name}@example.com"),
        time: format!("2024-01-{:02}T10:00:00+02:00", n % 28 + 1),
        canonical: None,
    };
    CommitRecord {
        id: format!("{n:02x}").repeat(20),
        parents: parents.to_vec(),
        author: person("ada"),
        committer: person("carl"),
        message: format!("change {n}\n"),
        files: vec![
            FileStat {
                path: format!("src/{n}.rs"),
                added: Some(u64::from(n) + 1),
                deleted: Some(1),
                status: FileStatus::Modified,
            },
            FileStat {
                path: "logo.png".into(),
                added: None,
                deleted: None,
                status: FileStatus::Added,
            },
        ],
        renames: vec![],
    }
}

pub fn batch(batch: u64, commits: &[CommitRecord]) -> Value {
    serde_json::to_value(CommitBatch {
        batch,
        commits: commits
            .iter()
            .map(|c| CommitUpload {
                record: c.clone(),
                enrichment: json!({"class": "feature"}),
            })
            .collect(),
    })
    .unwrap()
}

pub async fn count(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
        .unwrap()
}

impl Gateway {
    /// Creates an API key for `account` on the admin path.
    pub async fn create_key(&self, account: &str, name: &str) -> ApiKeyCreated {
        let response = self
            .http
            .post(self.url(&format!("/v1/admin/accounts/{account}/keys")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// GETs `path` with `credential` as the bearer; the status and the JSON body.
    pub async fn get(&self, credential: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Gateway {
    /// Sets `account`'s data policy on the admin path; the status and the JSON body.
    pub async fn set_policy(&self, account: &str, policy: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .put(self.url(&format!("/v1/admin/accounts/{account}/policy")))
            .bearer_auth(ADMIN_TOKEN)
            .json(policy)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The cache folder for tools the tests build or install: `$GITVIEW_CACHE`, else
/// `~/.cache/gitview` (as `test.sh` uses it).
pub fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("GITVIEW_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache/gitview"))
        })
        .expect("GITVIEW_CACHE or HOME is set")
}

impl Gateway {
    /// The `/metrics` text exposition.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Gateway {
    /// Stores `commits`, each with its enrichment, as batch `batch` of the started run `uid` of
    /// `account`, as its runner would; they must be taken.
    pub async fn store_commits(
        &self,
        account: &str,
        uid: &str,
        batch: u64,
        commits: &[(CommitRecord, Value)],
    ) {
        let body = serde_json::to_value(CommitBatch {
            batch,
            commits: commits
                .iter()
                .map(|(record, enrichment)| CommitUpload {
                    record: record.clone(),
                    enrichment: enrichment.clone(),
                })
                .collect(),
        })
        .unwrap();
        let (status, body) = self
            .post(
                &self.token(account, uid),
                &format!("/v1/runs/{uid}/commits"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// PUTs an artifact of `uid` with the runner token, as its runner would; it must be taken.
    pub async fn put_artifact(
        &self,
        account: &str,
        uid: &str,
        name: &str,
        media_type: &str,
        body: Vec<u8>,
    ) {
        let response = self
            .http
            .put(self.url(&format!("/v1/runs/{uid}/artifacts/{name}")))
            .bearer_auth(self.token(account, uid))
            .header("content-type", media_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{name}");
    }

    /// Ends a started run of `account` as succeeded after storing `artifacts` (name, media
    /// type, bytes) as its runner would: the fingerprint of `url` on `main`.
    pub async fn succeeded_with(
        &self,
        account: &str,
        uid: &str,
        url: &str,
        artifacts: Vec<(&str, &str, Vec<u8>)>,
    ) -> String {
        for (name, media_type, body) in artifacts {
            self.put_artifact(account, uid, name, media_type, body)
                .await;
        }
        let (code, body) = self
            .post(
                &self.token(account, uid),
                &format!("/v1/runs/{uid}/finish"),
                &json!({"status": "succeeded", "commitsAnalyzed": 1, "metrics": {}}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        gitview_core::remote::fingerprint(url, "main").unwrap()
    }
}
