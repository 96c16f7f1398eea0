//! The runner's routes (`/v1/runs/{analysis}/…`, with the runner token the operator signs for
//! one analysis and attempt; bodies in [`gitview_core::results`]): start the run, store its
//! commits, phases and artifacts, report progress, finish it; read back the repository's
//! stored history ([`history`] in pages, [`history_stream`] whole in one NDJSON stream) and use the account's summary cache ([`summaries`]). Run logs
//! are written through [`crate::routes::logs`].
//!
//! Each handler extracts the request, checks it with pure functions, calls the named store
//! functions of [`crate::store`] in one tenant transaction, and answers. The run's results
//! (commits, phases, artifacts, finish) are written by the current attempt only, checked in
//! the write's own transaction ([`crate::store::attempts`]); progress events are kept under
//! the token's attempt, whichever attempt is current.

use axum::http::Method;

use crate::kit::table::Routes;

pub mod artifacts;
pub mod commits;
pub mod history;
pub mod history_stream;
pub mod phases;
pub mod progress;
pub mod run;
pub mod summaries;

/// The runner routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::POST, "/v1/runs/{analysis}/start", run::start)
        .on(
            Method::POST,
            "/v1/runs/{analysis}/commits",
            commits::commits,
        )
        .on(Method::PUT, "/v1/runs/{analysis}/phases", phases::phases)
        .on(
            Method::PUT,
            "/v1/runs/{analysis}/artifacts/{name}",
            artifacts::artifact,
        )
        .on(
            Method::POST,
            "/v1/runs/{analysis}/progress",
            progress::progress,
        )
        .on(Method::POST, "/v1/runs/{analysis}/finish", run::finish)
        .on(Method::GET, "/v1/runs/{analysis}/history", history::history)
        .on(
            Method::GET,
            "/v1/runs/{analysis}/history/stream",
            history_stream::stream,
        )
        .on(
            Method::POST,
            "/v1/runs/{analysis}/summaries/lookup",
            summaries::lookup,
        )
        .on(
            Method::PUT,
            "/v1/runs/{analysis}/summaries/{key}",
            summaries::put,
        )
}
