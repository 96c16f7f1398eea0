//! The gateway token: the claims the operator signs (EdDSA) and the gateway verifies. Two kinds
//! of token carry them, each built by one constructor here rather than field by field:
//!
//! * a runner's, for one attempt of one analysis ([`TokenClaims::runner`]): it may write that
//!   analysis ([`SCOPE_ANALYSIS_WRITE`]) until the attempt's deadline;
//! * the operator's own, for one account ([`TokenClaims::operator_read`]): it may read where the
//!   account's repositories were last analyzed ([`SCOPE_REPOSITORIES_READ`], for
//!   RepositoryTrackers), a run's latest progress ([`SCOPE_RUNS_READ`], for an Analysis'
//!   status) and the account's data policy ([`SCOPE_POLICY_READ`], whether a new attempt's
//!   runner scrubs), for [`OPERATOR_READ_SECONDS`].
//!
//! Signing and verifying (keys, JWKS) are the operator's and the gateway's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Audience of runner tokens.
pub const TOKEN_AUDIENCE: &str = "gitview-gateway";
/// Issuer of runner tokens.
pub const TOKEN_ISSUER: &str = "gitview-operator";
/// The scope that lets a runner write one analysis.
pub const SCOPE_ANALYSIS_WRITE: &str = "analysis:write";
/// The scope that lets the operator read where an account's repositories were last analyzed
/// (RepositoryTrackers compare branch heads with it).
pub const SCOPE_REPOSITORIES_READ: &str = "repositories:read";
/// The scope that lets the operator read a run's latest progress (for the Analysis' status).
pub const SCOPE_RUNS_READ: &str = "runs:read";
/// The scope that lets the operator read an account's data policy (whether a runner scrubs
/// PII before anything is stored).
pub const SCOPE_POLICY_READ: &str = "policy:read";
/// How long the operator's read token is valid: five minutes.
pub const OPERATOR_READ_SECONDS: i64 = 300;

/// Claims of the gateway token the operator signs (EdDSA) for one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    pub aud: String,
    /// The Analysis uid.
    pub sub: String,
    pub account: String,
    pub analysis: String,
    pub attempt: i32,
    pub scope: Vec<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch: the attempt's deadline plus a small grace.
    pub exp: i64,
}

impl TokenClaims {
    /// The claims of one attempt's runner token: it may write the analysis `analysis_uid` of
    /// `account` (and is its subject), from `issued_at` until `expires_at`.
    pub fn runner(
        account: &str,
        analysis_uid: &str,
        attempt: i32,
        issued_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            sub: analysis_uid.to_owned(),
            account: account.to_owned(),
            analysis: analysis_uid.to_owned(),
            attempt,
            scope: vec![SCOPE_ANALYSIS_WRITE.to_owned()],
            iat: issued_at.as_second(),
            exp: expires_at.as_second(),
        }
    }

    /// The claims of the operator's own read token for one account (`repositories:read`,
    /// `runs:read` and `policy:read`; no analysis, attempt 0), valid for
    /// [`OPERATOR_READ_SECONDS`] from `issued_at`: what a RepositoryTracker, an Analysis'
    /// progress and an attempt's scrub policy ask the gateway with.
    pub fn operator_read(account: &str, issued_at: Timestamp) -> Self {
        Self {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            sub: TOKEN_ISSUER.to_owned(),
            account: account.to_owned(),
            analysis: String::new(),
            attempt: 0,
            scope: vec![
                SCOPE_REPOSITORIES_READ.to_owned(),
                SCOPE_RUNS_READ.to_owned(),
                SCOPE_POLICY_READ.to_owned(),
            ],
            iat: issued_at.as_second(),
            exp: issued_at.as_second() + OPERATOR_READ_SECONDS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("a valid time")
    }

    #[test]
    fn a_runner_token_writes_its_analysis_until_its_deadline() {
        let claims = TokenClaims::runner("team-a", "uid-1", 2, at(1_000), at(1_600));
        assert_eq!(
            claims,
            TokenClaims {
                iss: "gitview-operator".into(),
                aud: "gitview-gateway".into(),
                sub: "uid-1".into(),
                account: "team-a".into(),
                analysis: "uid-1".into(),
                attempt: 2,
                scope: vec!["analysis:write".into()],
                iat: 1_000,
                exp: 1_600,
            }
        );
    }

    #[test]
    fn the_operator_reads_one_account_for_five_minutes() {
        let claims = TokenClaims::operator_read("team-a", at(1_000));
        assert_eq!(
            claims,
            TokenClaims {
                iss: "gitview-operator".into(),
                aud: "gitview-gateway".into(),
                sub: "gitview-operator".into(),
                account: "team-a".into(),
                analysis: String::new(),
                attempt: 0,
                scope: vec![
                    "repositories:read".into(),
                    "runs:read".into(),
                    "policy:read".into()
                ],
                iat: 1_000,
                exp: 1_300,
            }
        );
    }

    #[test]
    fn claims_keep_their_json_names() {
        let json = serde_json::to_value(TokenClaims::runner("a", "u", 1, at(0), at(60)))
            .expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "iss": "gitview-operator", "aud": "gitview-gateway", "sub": "u", "account": "a",
                "analysis": "u", "attempt": 1, "scope": ["analysis:write"], "iat": 0, "exp": 60,
            })
        );
    }
}
