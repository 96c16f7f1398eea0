//! What the UI's pages of a repository's history and of the analyses share: the signed-in
//! account as an extractor ([`Session`]), and the page a refused request shows ([`refused`]).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gitview_report::ui;

use super::{Peer, page, redirect, signed_in};
use crate::error::ApiError;
use crate::kit::state::AppState;

/// The account a page's request is signed in to (by session cookie, or by the authenticating
/// proxy's headers): its id and name. A request signed out is answered with the way to the
/// sign-in form; a failure to tell, with the error.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) account: i64,
    pub(super) name: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(peer) = Peer::from_request_parts(parts, state).await;
        match signed_in(state, &parts.headers, &peer).await {
            Ok(Some((account, name))) => Ok(Self { account, name }),
            Ok(None) => Err(redirect("/ui/sign-in")),
            Err(err) => Err(err.into_response()),
        }
    }
}

/// The page a refusal of the request's own values (a bad cursor, an empty path, something not
/// there) shows, with its status; the server's failures stay errors.
pub(super) fn refused(account: &str, err: ApiError) -> Result<Response, ApiError> {
    if err.status == StatusCode::NOT_FOUND {
        Ok(page(err.status, ui::not_found(account, &err.message)))
    } else if err.status.is_client_error() {
        Ok(page(err.status, ui::commit::refused(account, &err.message)))
    } else {
        Err(err)
    }
}
