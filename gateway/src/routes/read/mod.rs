//! The read API for users and downstream services: analyses, one analysis with its story,
//! timeline and phases, its commits, its progress, its artifacts and slices of its history;
//! a repository's current story and one path's history in it (routes and bodies in
//! [`gitview_core::results`]).
//!
//! Every request carries an API key ([`Reader`](crate::kit::guard::Reader)) and every query
//! runs in a tenant transaction of the key's account, naming the account in its `WHERE` as
//! well: the code scopes each query and row-level security scopes it again. An analysis of
//! another account is answered exactly like one that does not exist (404), so ids leak
//! nothing. Lists page as [`crate::kit::paging`] says.
//!
//! Accounts whose policy scrubs PII (`accounts.scrub_pii`) get every person and every piece of
//! free text scrubbed again on the way out, with the runner's own rules
//! ([`gitview_core::scrub`]): commit records (emails hashed, secrets redacted in messages),
//! enrichments, analyses' messages, phases, story and timeline. Rows stored before the policy
//! was turned on hold raw text; this is what keeps them from being read. The policy is read in
//! the same query as the rows (no extra round trip), and a missing policy scrubs.
//!
//! One module per resource ([`analyses`], [`commits`], [`progress`], [`artifacts`],
//! [`slice`](mod@slice), [`story`](mod@story), [`files`]), on what they share ([`shared`]).

use axum::http::Method;

use crate::kit::table::Routes;

pub mod analyses;
pub mod artifacts;
pub mod commits;
pub mod files;
pub mod progress;
pub mod shared;
pub mod slice;
pub mod story;

/// The read routes.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::GET, "/v1/analyses", analyses::analyses)
        .on(Method::GET, "/v1/analyses/{id}", analyses::analysis)
        .on(Method::GET, "/v1/analyses/{id}/commits", commits::commits)
        .on(
            Method::GET,
            "/v1/analyses/{id}/progress",
            progress::progress,
        )
        .on(
            Method::GET,
            "/v1/analyses/{id}/artifacts/{name}",
            artifacts::artifact,
        )
        .on(Method::GET, "/v1/analyses/{id}/slice", slice::slice)
        .on(
            Method::GET,
            "/v1/repositories/{fingerprint}/story",
            story::story,
        )
        .on_documented(
            Method::GET,
            "/v1/repositories/{fingerprint}/files/{*rest}",
            "/v1/repositories/{fingerprint}/files/{path}/history",
            files::history,
        )
}
