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

    /// `GET url` with a read token for `account`; the answer's JSON body.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        account: &str,
        url: reqwest::Url,
    ) -> Result<T, String> {
        let token = self
            .signer
            .sign(&TokenClaims::operator_read(account, Timestamp::now()))
            .map_err(|e| e.to_string())?;
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
        response.json().await.map_err(|e| e.to_string())
    }

    /// The gateway's URL of `path`.
    fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        reqwest::Url::parse(&format!("{}{path}", self.url)).map_err(|e| e.to_string())
    }

    /// The last analyzed commit of `repository` and `branch` in `account`.
    pub(crate) async fn last_analyzed(
        &self,
        account: &str,
        repository: &str,
        branch: &str,
    ) -> Result<Option<String>, String> {
        let mut url = self.url("/v1/repositories/last-analyzed")?;
        url.query_pairs_mut()
            .append_pair("url", repository)
            .append_pair("branch", branch);
        let body: LastAnalyzed = self.get(account, url).await?;
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
        let url = self.url(&format!(
            "/v1/runs/{analysis}/progress/latest?attempt={attempt}"
        ))?;
        let body: LatestProgress = self.get(account, url).await?;
        Ok(body.latest.map(|record| record.event))
    }

    /// Whether `account`'s policy scrubs PII (the gateway answers a new account's policy,
    /// which scrubs, for an account it has no row of yet).
    pub(crate) async fn scrubs_pii(&self, account: &str) -> Result<bool, String> {
        let body: AccountPolicy = self.get(account, self.url("/v1/account/policy")?).await?;
        Ok(body.scrub_pii)
    }
}
