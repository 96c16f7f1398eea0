//! What the operator reads from the gateway, with tokens it signs itself for one account
//! (`repositories:read`, `runs:read` and `policy:read`; the same EdDSA key as runner tokens):
//! where a repository was last analyzed (RepositoryTrackers), a run's latest progress (the
//! Analysis' `status.progress`) and the account's data policy (whether a new attempt's runner
//! scrubs PII before anything is stored: one source for both the write and the read side).
//! Short timeouts: none may hold a reconcile up.

use std::time::Duration;

use gitview_core::results::{AccountPolicy, LastAnalyzed, LatestProgress, ProgressEvent};
use gitview_core::token::TokenClaims;
use jiff::Timestamp;

/// Reads the gateway with tokens the operator signs.
#[expect(
    missing_debug_implementations,
    reason = "holds the signing key, which must never be printed"
)]
pub struct GatewayReader {
    pub url: String,
    pub signer: crate::token::TokenSigner,
    pub http: reqwest::Client,
}

impl GatewayReader {
    /// A reader of the gateway at `url` (timeouts of a few seconds: a poll must not hang on it).
    pub fn new(url: &str, signer: crate::token::TokenSigner) -> Result<Self, reqwest::Error> {
        gitview_git::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            signer,
            http,
        })
    }

    /// The last analyzed commit of `repository` and `branch` in `account`.
    pub(crate) async fn last_analyzed(
        &self,
        account: &str,
        repository: &str,
        branch: &str,
    ) -> Result<Option<String>, String> {
        let token = self
            .signer
            .sign(&TokenClaims::operator_read(account, Timestamp::now()))
            .map_err(|e| e.to_string())?;
        let mut url = reqwest::Url::parse(&format!("{}/v1/repositories/last-analyzed", self.url))
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut()
            .append_pair("url", repository)
            .append_pair("branch", branch);
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the gateway answered {status}"));
        }
        let body: LastAnalyzed = response.json().await.map_err(|e| e.to_string())?;
        Ok(body.last_analyzed_commit)
    }

    /// The newest progress event of `analysis`'s attempt `attempt` in `account`, if its runner
    /// wrote any (a retry shows its own progress, not the last of the attempt before).
    pub(crate) async fn latest_progress(
        &self,
        account: &str,
        analysis: &str,
        attempt: i32,
    ) -> Result<Option<ProgressEvent>, String> {
        let token = self
            .signer
            .sign(&TokenClaims::operator_read(account, Timestamp::now()))
            .map_err(|e| e.to_string())?;
        let url = format!(
            "{}/v1/runs/{analysis}/progress/latest?attempt={attempt}",
            self.url
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the gateway answered {status}"));
        }
        let body: LatestProgress = response.json().await.map_err(|e| e.to_string())?;
        Ok(body.latest.map(|record| record.event))
    }

    /// Whether `account`'s policy scrubs PII (the gateway answers a new account's policy,
    /// which scrubs, for an account it has no row of yet).
    pub(crate) async fn scrubs_pii(&self, account: &str) -> Result<bool, String> {
        let token = self
            .signer
            .sign(&TokenClaims::operator_read(account, Timestamp::now()))
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .get(format!("{}/v1/account/policy", self.url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the gateway answered {status}"));
        }
        let body: AccountPolicy = response.json().await.map_err(|e| e.to_string())?;
        Ok(body.scrub_pii)
    }
}
