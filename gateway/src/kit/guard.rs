//! Who may call: the credential extractors every route takes one of, each answering 401 or
//! 403 in the one error shape before the handler runs.
//!
//! * [`Runner`]: a runner token (EdDSA, signed by the operator) for one analysis and attempt;
//!   the runner routes.
//! * [`Reader`]: an API key (`gvk_…`) with the read scope, resolved to its account and then
//!   checked against the key's rate limit ([`crate::kit::limits`]); the read routes.
//! * [`Admin`]: the admin token; the admin path (403 `admin_disabled` without one).
//! * [`OperatorRead`], [`OperatorRunsRead`], [`OperatorPolicyRead`]: an operator token with
//!   the `repositories:read`, `runs:read` or `policy:read` scope; what the operator reads.
//!
//! API keys are refused where tokens are expected and tokens where keys are.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use gitview_core::results::SCOPE_READ;
use gitview_core::token::{
    SCOPE_POLICY_READ, SCOPE_REPOSITORIES_READ, SCOPE_RUNS_READ, TokenClaims,
};

use crate::error::ApiError;
use crate::kit::keys::{KEY_PREFIX, parse};
use crate::kit::state::AppState;

/// The request's `Authorization: Bearer` credential; `what` names it in the 401.
pub(crate) fn bearer<'a>(parts: &'a Parts, what: &str) -> Result<&'a str, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized(format!("missing Authorization: Bearer <{what}>")))?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))
}

/// The verified claims of the request's runner token.
#[derive(Debug)]
pub struct Runner(pub TokenClaims);

impl FromRequestParts<AppState> for Runner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts, "runner token")?;
        if token.starts_with(KEY_PREFIX) {
            return Err(ApiError::unauthorized(
                "API keys are not accepted on runner routes: they take the runner token the operator mounts",
            ));
        }
        Ok(Self(state.verifier.verify(token).await?))
    }
}

impl Runner {
    /// Refuses a token for another analysis than the path's.
    pub(crate) fn for_analysis(&self, analysis: &str) -> Result<&TokenClaims, ApiError> {
        if self.0.analysis != analysis {
            return Err(ApiError::forbidden("the token is for another analysis"));
        }
        Ok(&self.0)
    }

    pub(crate) fn actor(&self) -> String {
        format!("runner:{}/{}", self.0.analysis, self.0.attempt)
    }
}

/// A request with the read scope: the account of its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub account: i64,
    /// The key's row id.
    pub key: i64,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts, "API key")?;
        if !token.starts_with(KEY_PREFIX) {
            return Err(ApiError::unauthorized(
                "the read API takes an API key (Bearer gvk_…); runner tokens are not accepted here",
            ));
        }
        let presented = parse(token).ok_or_else(|| {
            ApiError::unauthorized("the API key is malformed: expected gvk_<16 hex>_<64 hex>")
        })?;
        let resolved: Option<(i64, i64, Vec<String>)> =
            sqlx::query_as("SELECT account_id, key_id, scopes FROM gitview_resolve_api_key($1)")
                .bind(presented.sha256.as_slice())
                .fetch_optional(&state.pool)
                .await?;
        let (account, key, scopes) =
            resolved.ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
        if !scopes.iter().any(|scope| scope == SCOPE_READ) {
            return Err(ApiError::forbidden(format!(
                "the API key lacks the {SCOPE_READ} scope"
            )));
        }
        crate::kit::limits::admit(state.limiter.as_deref(), parts, key)?;
        Ok(Self { account, key })
    }
}

/// A request that presented the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(admin) = &state.admin else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin API is disabled: the gateway was started without --admin-token-file",
            ));
        };
        if admin.matches(bearer(parts, "admin token")?) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized("the admin token is invalid"))
        }
    }
}

/// An operator token with the `repositories:read` scope.
#[derive(Debug)]
pub struct OperatorRead(pub TokenClaims);

/// An operator token with the `runs:read` scope.
#[derive(Debug)]
pub struct OperatorRunsRead(pub TokenClaims);

async fn operator_token(
    parts: &mut Parts,
    state: &AppState,
    scope: &str,
) -> Result<TokenClaims, ApiError> {
    let token = bearer(parts, "operator token")?;
    if token.starts_with(KEY_PREFIX) {
        return Err(ApiError::unauthorized(
            "API keys are not accepted here: this route takes an operator token",
        ));
    }
    state.verifier.verify_scope(token, scope).await
}

impl FromRequestParts<AppState> for OperatorRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        operator_token(parts, state, SCOPE_REPOSITORIES_READ)
            .await
            .map(Self)
    }
}

/// An operator token with the `policy:read` scope.
#[derive(Debug)]
pub struct OperatorPolicyRead(pub TokenClaims);

impl FromRequestParts<AppState> for OperatorPolicyRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        operator_token(parts, state, SCOPE_POLICY_READ)
            .await
            .map(Self)
    }
}

impl FromRequestParts<AppState> for OperatorRunsRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        operator_token(parts, state, SCOPE_RUNS_READ)
            .await
            .map(Self)
    }
}
