//! The web UI (`/ui/`): people sign in with an API key of their account and see its
//! repositories and each one's story, as pages the report crate renders
//! ([`gitview_report::ui`]).
//!
//! * **Sign-in**: `POST /ui/sign-in` takes an API key with the read scope (a form field, never
//!   a URL) and answers with a session cookie: a random 32-byte token, of which only the SHA-256
//!   is stored (`ui_sessions`, migration `0013`, row-level security like every tenant table).
//!   The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/ui`, expires with the session
//!   ([`UiSettings::session_ttl`]) and is `Secure` unless configured for plain http
//!   (`--ui-insecure-cookies`; browsers accept `Secure` cookies from `http://localhost`, so a
//!   `kubectl port-forward` needs no such setting). Revoking the key ends its sessions at once
//!   (the resolver joins the key); `POST /ui/sign-out` ends one. Forms are accepted only from
//!   the gateway's own pages (`Origin` must match `Host` when sent; `SameSite=Strict` keeps
//!   the cookie off other sites' requests).
//! * **Pages** are tenant-scoped exactly as the API: every query runs in the session's account's
//!   transaction and names the account; another account's repository is a 404 like a missing
//!   one. Each page carries a strict Content-Security-Policy (nothing loads but its own hashed
//!   style; no one may frame it).
//! * **A repository's page** frames the report page (`index.html`) its newest whole-history
//!   analysis wrote — the page `analyze` writes on a laptop — served from
//!   `/ui/repositories/{fingerprint}/report` under `sandbox allow-scripts`: the stored page runs
//!   in an opaque origin, so even a page a compromised runner wrote could not act as the signed-in
//!   person, and its own hash-based policy still applies.
//!
//! * With a pod's run, the repository's page frames `report.html` instead, whose commit graph
//!   fetches its rows in windows through the page (`graph.rs`).
//!
//! These are pages, not API: they are served beside the documented routes, not in
//! `/openapi.json`.

mod analyses;
mod commits;
mod graph;
mod session;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gitview_core::results::SCOPE_READ;
use gitview_report::ui::{self, ReportSources, RepositoryRow, UiPage};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use super::read::artifacts::artifact_response;
use super::read::shared::{current_story, current_story_analysis, require_repository};
use crate::db;
use crate::error::ApiError;
use crate::kit::keys::parse;
use crate::kit::state::AppState;
pub use crate::kit::state::UiSettings;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gitview_session";
/// The report page an analysis writes.
const REPORT: &str = "index.html";

/// The UI's routes, beside the API's.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(home))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/repositories/{fingerprint}", get(repository))
        .route("/ui/repositories/{fingerprint}/report", get(report))
        .route(
            "/ui/repositories/{fingerprint}/commits/{id}",
            get(commits::commit),
        )
        .route(
            "/ui/repositories/{fingerprint}/files/{*path}",
            get(commits::file),
        )
        .route(
            "/ui/repositories/{fingerprint}/search",
            get(commits::search),
        )
        .route("/ui/analyses", get(analyses::analyses))
        .route("/ui/analyses/{id}", get(analyses::analysis))
        .route("/ui/analyses/{id}/progress", get(analyses::progress))
        .route(
            "/ui/analyses/{id}/artifacts/{name}",
            get(analyses::artifact),
        )
        .route("/ui/analyses/{id}/report", get(graph::report))
        .route("/ui/analyses/{id}/graph", get(graph::graph))
        // Pages, stored report pages and graph windows gzipped for browsers that ask: the
        // fastest level (a long history's 300 KB page becomes 95 KB in a few milliseconds).
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
}

fn page(status: StatusCode, page: UiPage) -> Response {
    let mut response = (status, page.html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&page.policy) {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    private(headers);
    response
}

/// Pages hold an account's data: never cached, never sniffed, never sent as a referrer to
/// another site. `same-origin`, not `no-referrer`: under `no-referrer` a browser's form post
/// carries `Origin: null`, and [`same_origin`] would refuse every sign-in.
fn private(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

fn redirect(to: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    private(response.headers_mut());
    response
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The session token the request's cookie holds, if any.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The address a request came from (when the server records it).
pub(crate) struct Peer(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// The signed-in account: its id and name, by the authenticating proxy's headers (when
/// configured and the request came from it) or else by the session cookie. `None`: signed out.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<Option<(i64, String)>, ApiError> {
    if let Some(proxy) = &state.ui.auth_proxy
        && let Some(name) = proxy.account(peer.0, headers)
    {
        let id: Option<i64> = sqlx::query_scalar("SELECT gitview_account_id($1)")
            .bind(&name)
            .fetch_one(&state.pool)
            .await?;
        return Ok(id.map(|id| (id, name)));
    }
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let account: Option<(i64, i64)> =
        sqlx::query_as("SELECT account_id, key_id FROM gitview_resolve_ui_session($1)")
            .bind(sha256(token.as_bytes()).as_slice())
            .fetch_optional(&state.pool)
            .await?;
    let Some((account, _key)) = account else {
        return Ok(None);
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let name: String = sqlx::query_scalar("SELECT name FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((account, name)))
}

/// A form post from another origin is refused: the browser says where it came from.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

async fn sign_in_form(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if signed_in(&state, &headers, &peer).await?.is_some() {
        return Ok(redirect("/ui/"));
    }
    Ok(page(StatusCode::OK, ui::sign_in(None)))
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, ApiError> {
    let refused = |status, why: &str| Ok(page(status, ui::sign_in(Some(why))));
    if !same_origin(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "this form only accepts posts from the gateway's own page",
        );
    }
    let Some(presented) = parse(form.key.trim()) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "that is not an API key: they look like gvk_<16 hex>_<64 hex>",
        );
    };
    let resolved: Option<(i64, i64, Vec<String>)> =
        sqlx::query_as("SELECT account_id, key_id, scopes FROM gitview_resolve_api_key($1)")
            .bind(presented.sha256.as_slice())
            .fetch_optional(&state.pool)
            .await?;
    let Some((account, key, scopes)) = resolved else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "the API key is unknown or revoked",
        );
    };
    if !scopes.iter().any(|scope| scope == SCOPE_READ) {
        return refused(StatusCode::FORBIDDEN, "the API key lacks the read scope");
    }
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|err| {
        tracing::error!(error = %err, "the operating system's random source failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    })?;
    let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
    let ttl = state.ui.session_ttl;
    let mut tx = db::tenant(&state.pool, account).await?;
    sqlx::query("DELETE FROM ui_sessions WHERE account_id = $1 AND expires_at < now()")
        .bind(account)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ui_sessions (account_id, key_id, token_sha256, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(account)
    .bind(key)
    .bind(sha256(token.as_bytes()).as_slice())
    .bind(ttl.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut response = redirect("/ui/");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/ui; Max-Age={}; HttpOnly; SameSite=Strict{}",
        ttl.as_secs(),
        if state.ui.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        })?,
    );
    Ok(response)
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Ok(page(
            StatusCode::FORBIDDEN,
            ui::sign_in(Some(
                "this form only accepts posts from the gateway's own page",
            )),
        ));
    }
    if let Some(token) = session_token(&headers) {
        sqlx::query("SELECT gitview_end_ui_session($1)")
            .bind(sha256(token.as_bytes()).as_slice())
            .execute(&state.pool)
            .await?;
    }
    let mut response = redirect("/ui/sign-in");
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "gitview_session=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict",
        ),
    );
    Ok(response)
}

async fn home(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some((account, name)) = signed_in(&state, &headers, &peer).await? else {
        return Ok(redirect("/ui/sign-in"));
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        Option<Vec<i32>>,
        Option<String>,
        Option<String>,
    );
    // Activity: the stored commits of each of the twelve months (UTC) up to the month of the
    // newest, counted on the commits' time index.
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT r.fingerprint, r.url, r.branch, r.last_analyzed_commit, a.status, ",
        "to_char(a.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ",
        "EXISTS (SELECT FROM analyses s JOIN artifacts f ON f.account_id = s.account_id AND f.analysis_id = s.id ",
        "  WHERE s.account_id = r.account_id AND s.repository_id = r.id AND s.status = 'succeeded' AND f.name = 'index.html'), ",
        "act.counts, act.last, a.tracker ",
        "FROM repositories r LEFT JOIN LATERAL (SELECT status, finished_at, created_at, ",
        "  config #>> '{analysis,tracker}' AS tracker FROM analyses x ",
        "  WHERE x.account_id = r.account_id AND x.repository_id = r.id ORDER BY x.created_at DESC LIMIT 1) a ON true ",
        "LEFT JOIN LATERAL (SELECT to_char(newest.m, 'YYYY-MM') AS last, array_agg((SELECT count(*) FROM commits c ",
        "    WHERE c.account_id = r.account_id AND c.repository_id = r.id ",
        "      AND c.committed_at >= (g.m AT TIME ZONE 'UTC') ",
        "      AND c.committed_at < ((g.m + interval '1 month') AT TIME ZONE 'UTC'))::int ORDER BY g.m) AS counts ",
        "  FROM (SELECT date_trunc('month', max(c.committed_at) AT TIME ZONE 'UTC') AS m FROM commits c ",
        "    WHERE c.account_id = r.account_id AND c.repository_id = r.id) newest ",
        "  CROSS JOIN generate_series(newest.m - interval '11 months', newest.m, interval '1 month') g(m) ",
        "  WHERE newest.m IS NOT NULL GROUP BY newest.m) act ON true ",
        "WHERE r.account_id = $1 ORDER BY a.created_at DESC NULLS LAST, r.url, r.branch LIMIT 500"
    ))
    .bind(account)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let rows: Vec<RepositoryRow> = rows
        .into_iter()
        .map(
            |(
                fingerprint,
                url,
                branch,
                last_analyzed_commit,
                last_status,
                last_finished_at,
                has_story,
                counts,
                last,
                tracker,
            )| RepositoryRow {
                fingerprint,
                url,
                branch,
                last_analyzed_commit,
                last_status,
                last_finished_at,
                has_story,
                activity: counts
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| u32::try_from(n).unwrap_or(0))
                    .collect(),
                activity_to: last.unwrap_or_default(),
                tracker,
            },
        )
        .collect();
    Ok(page(StatusCode::OK, ui::repositories(&name, &rows)))
}

async fn repository(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let Some((account, name)) = signed_in(&state, &headers, &peer).await? else {
        return Ok(redirect("/ui/sign-in"));
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let (id, repository, _) = match repository_of(&mut tx, account, &name, &fingerprint).await? {
        Ok(found) => found,
        Err(missing) => return Ok(missing),
    };
    // The current story's analysis frames its windowed page when it wrote one; otherwise
    // (or without a story yet) the repository's report route answers.
    let windowed = match current_story_analysis(&mut tx, &state, account, id).await? {
        Some(analysis) if graph::has_windows(&mut tx, account, &analysis).await? => Some(analysis),
        _ => None,
    };
    tx.commit().await?;
    let row = RepositoryRow {
        fingerprint: repository.fingerprint.clone(),
        url: repository.url,
        branch: repository.branch,
        last_analyzed_commit: repository.last_analyzed_commit,
        has_story: true,
        ..RepositoryRow::default()
    };
    let whole = format!("/ui/repositories/{}/report", repository.fingerprint);
    let (framed, graph) = match &windowed {
        Some(analysis) => (
            format!("/ui/analyses/{analysis}/report"),
            Some(format!("/ui/analyses/{analysis}/graph")),
        ),
        None => (whole.clone(), None),
    };
    let sources = ReportSources {
        framed: &framed,
        graph: graph.as_deref(),
        whole: &whole,
    };
    Ok(page(StatusCode::OK, ui::repository(&name, &row, sources)))
}

/// The account's repository by fingerprint; the page saying it is not there for one the
/// account does not have (or a malformed fingerprint). The database's failures stay errors.
async fn repository_of(
    tx: &mut sqlx::PgConnection,
    account: i64,
    name: &str,
    fingerprint: &str,
) -> Result<Result<(i64, gitview_core::results::RepositoryRef, bool), Response>, ApiError> {
    match require_repository(tx, account, fingerprint).await {
        Ok(found) => Ok(Ok(found)),
        Err(err) if matches!(err.status, StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST) => {
            Ok(Err(page(
                StatusCode::NOT_FOUND,
                ui::not_found(name, "There is no such repository in this account."),
            )))
        }
        Err(err) => Err(err),
    }
}

/// The stored report page of the repository's current story, sandboxed.
async fn report(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let Some((account, name)) = signed_in(&state, &headers, &peer).await? else {
        return Ok(redirect("/ui/sign-in"));
    };
    let mut tx = db::tenant(&state.pool, account).await?;
    let missing = |name: &str, why: &str| page(StatusCode::NOT_FOUND, ui::not_found(name, why));
    let (id, _, scrub) = match repository_of(&mut tx, account, &name, &fingerprint).await? {
        Ok(found) => found,
        Err(missing) => return Ok(missing),
    };
    let Some(story) = current_story(&mut tx, &state, account, id, scrub).await? else {
        return Ok(missing(
            &name,
            "This repository has no story of its whole history yet.",
        ));
    };
    // The page may be megabytes in the object store: streamed with the connection given back,
    // as stored when it was stored clean, else scrubbed line by line for an account that
    // scrubs (the artifacts route's answer).
    tx.commit().await?;
    let mut response = match artifact_response(&state, account, &story.analysis_id, REPORT).await {
        Ok(response) => response,
        Err(err) if err.status == StatusCode::NOT_FOUND => {
            return Ok(missing(
                &name,
                "The analysis that wrote this repository's story wrote no report page.",
            ));
        }
        Err(err) => return Err(err),
    };
    graph::report_headers(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_only_when_well_formed() {
        let mut headers = HeaderMap::new();
        let token = "ab".repeat(32);
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("x=1; {SESSION_COOKIE}={token}")).unwrap(),
        );
        assert_eq!(session_token(&headers), Some(token));
        headers.insert(COOKIE, HeaderValue::from_static("gitview_session=short"));
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn forms_are_taken_only_from_the_same_origin() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("gw:8080"));
        assert!(same_origin(&headers), "no Origin: a same-origin navigation");
        headers.insert("origin", HeaderValue::from_static("http://gw:8080"));
        assert!(same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }
}
