//! What the handlers share: the database pool, the token verifier, the admin token, metrics,
//! the rate limiter, the artifact store, and the cache of account ids by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::auth::Verifier;
use crate::db;
use crate::error::ApiError;
use crate::kit::graphs::GraphCache;
use crate::kit::keys::AdminToken;
use crate::kit::limits::{LimitClock, Limiter, RateLimit};
use crate::kit::stories::WholeHistories;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<Verifier>,
    /// The admin token guarding `/v1/admin`; `None` disables the admin routes.
    pub(crate) admin: Option<Arc<AdminToken>>,
    pub metrics: Arc<Metrics>,
    /// Per-API-key rate limits on the read API; `None`: unlimited.
    pub(crate) limiter: Option<Arc<Limiter>>,
    /// Where artifacts above [`INLINE_ARTIFACT_LIMIT`] go; `None`: they are refused (413).
    pub(crate) artifacts: Option<ArtifactStore>,
    /// The largest artifact accepted (streamed, so not bound by the body limit).
    pub(crate) max_artifact_bytes: u64,
    /// How the web UI keeps its sessions.
    pub(crate) ui: UiSettings,
    /// The commit graphs the web UI's report pages read in windows.
    pub(crate) graphs: Arc<GraphCache>,
    /// Whether analyses' stories tell the whole history.
    pub(crate) whole_histories: Arc<WholeHistories>,
    /// Account ids by name (accounts are never renamed).
    accounts: Arc<Mutex<HashMap<String, i64>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("verifier", &self.verifier)
            .field("admin", &self.admin.is_some())
            .field("limiter", &self.limiter.as_ref().map(|l| l.limit()))
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(pool: PgPool, verifier: Verifier) -> Self {
        Self {
            pool,
            verifier: Arc::new(verifier),
            admin: None,
            metrics: Arc::default(),
            limiter: None,
            artifacts: None,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            ui: UiSettings::default(),
            graphs: Arc::default(),
            whole_histories: Arc::default(),
            accounts: Arc::default(),
        }
    }

    /// Stores artifacts above [`INLINE_ARTIFACT_LIMIT`] (up to `max_bytes`) in `store`.
    pub fn with_artifact_store(mut self, store: ArtifactStore, max_bytes: u64) -> Self {
        self.artifacts = Some(store);
        self.max_artifact_bytes = max_bytes;
        self
    }

    /// Limits each API key to `limit` on the read API, timed by `clock`
    /// ([`LimitClock::system`] outside tests). Without this, keys are unlimited.
    pub fn with_rate_limit(mut self, limit: RateLimit, clock: LimitClock) -> Self {
        self.limiter = Some(Arc::new(Limiter::new(limit, clock)));
        self
    }

    /// How the web UI keeps its sessions (default: 12 hours, `Secure` cookies).
    pub fn with_ui(mut self, ui: UiSettings) -> Self {
        self.ui = ui;
        self
    }

    /// Enables the admin routes (API keys) for holders of `token`.
    pub fn with_admin_token(mut self, token: AdminToken) -> Self {
        self.admin = Some(Arc::new(token));
        self
    }

    pub(crate) async fn account_id(&self, name: &str) -> Result<i64, ApiError> {
        if let Some(id) = self.accounts.lock().map_err(|_| poisoned())?.get(name) {
            return Ok(*id);
        }
        let id = db::ensure_account(&self.pool, name).await?;
        self.accounts
            .lock()
            .map_err(|_| poisoned())?
            .insert(name.to_owned(), id);
        Ok(id)
    }
}

fn poisoned() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

/// Artifacts up to this size are stored inline in PostgreSQL; larger ones in the object store.
pub const INLINE_ARTIFACT_LIMIT: usize = 1 << 20;
/// The largest artifact accepted unless configured otherwise (`--max-artifact-bytes`).
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// How the web UI (`crate::routes::ui`) keeps its sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSettings {
    /// How long a session lives after sign-in.
    pub session_ttl: Duration,
    /// `Secure` on the cookie (off only for plain http on a host other than localhost).
    pub secure_cookies: bool,
    /// Signed in by an authenticating proxy's headers too ([`crate::kit::auth_proxy`]); off by default.
    pub auth_proxy: Option<Arc<crate::kit::auth_proxy::AuthProxy>>,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
            auth_proxy: None,
        }
    }
}
