//! The top of the gateway: the router, built from every routes module's table
//! ([`crate::routes`]), with the layers around every route (request id, JSON log line,
//! metrics, body limit, rate-limit headers), the fallbacks that answer unknown routes and
//! methods in the one error shape, and the service routes (`/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`).
//!
//! Routes are registered through `Routes` ([`crate::kit::table`]), which records each method and
//! path template as it adds them to the router: [`served_routes`] is exactly what the router
//! serves, and the OpenAPI document is tested against it ([`crate::openapi`]).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, REQUEST_ID};
use crate::kit::state::AppState;
use crate::kit::table::Routes;
use crate::metrics::UNMATCHED;
use crate::routes;

/// Every route, from every module.
fn table() -> Routes {
    let routes = routes::runs::routes(Routes::default());
    let routes = routes::read::routes(routes);
    let routes = routes::logs::routes(routes);
    let routes = routes::keys::routes(routes);
    let routes = routes::tracking::routes(routes);
    routes::policy::routes(routes)
        .on(Method::GET, "/healthz", || async { "ok" })
        .on(Method::GET, "/readyz", readyz)
        .on(Method::GET, "/metrics", metrics)
        .on(Method::GET, "/openapi.json", openapi)
}

/// The method and path template of every route the router serves (for a route axum serves
/// with a trailing wildcard, the template the document names: see `Routes::on_documented`).
pub fn served_routes() -> Vec<(Method, &'static str)> {
    table().served
}

/// The router: every route of `table`, with request ids, logs, metrics and a body limit;
/// unknown routes and methods answer in the one error shape.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    table()
        .router
        // The web UI's pages: beside the API, not in its document.
        .merge(routes::ui::router())
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this route does not answer {method}"),
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(crate::kit::limits::headers))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The caller's `X-Request-Id` if sane, else a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(
            || {
                format!(
                    "{:x}-{:x}",
                    std::process::id(),
                    NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
                )
            },
            str::to_owned,
        )
}

/// The method as a metric label: the standard ones, else `other` (bounded cardinality).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Around every request: the request id (echoed in the response and in error bodies), one
/// log line (request id, method, route template, path, status, latency) and the metrics.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    // Set by the router for matched routes (this layer wraps each route, not the router).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = method_label(request.method());
    let path = request.uri().path().to_owned();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe_request(method, &route, status, took);
    tracing::info!(
        request_id = %id,
        method,
        route = %route,
        path = %path,
        status,
        latency_ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Ready when the database answers. The database's error is logged, never sent: it can name
/// hosts, roles and databases.
async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the database does not answer");
            ApiError::unavailable("the database does not answer").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.pool),
    )
        .into_response()
}

/// The OpenAPI document, rendered once.
static OPENAPI: LazyLock<String> = LazyLock::new(|| crate::openapi::document().to_string());

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_registered_once() {
        let mut routes = served_routes();
        let all = routes.len();
        routes.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        routes.dedup();
        assert_eq!(routes.len(), all, "a route is registered twice");
        assert!(routes.contains(&(Method::GET, "/openapi.json")));
    }
}
