//! The gateway's read routes, with an API key: an analysis, a repository's story, the newest
//! analysis of a remote, the run log.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use gitview_core::results::{AnalysisDetail, AnalysisPage, LogPage, RepositoryStory};
use serde::de::DeserializeOwned;

use crate::config::{GATEWAY_SERVICE_PORT, GatewayAccess, GatewayService};

/// A client of one gateway.
#[derive(Debug)]
pub struct Gateway {
    access: GatewayAccess,
    http: reqwest::blocking::Client,
    /// How to forward the gateway from outside the cluster, for when it cannot be reached.
    forward: String,
}

/// Why a read found nothing: the gateway answered 404.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

impl Gateway {
    pub fn new(access: GatewayAccess, service: &GatewayService) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            access,
            http,
            forward: service.port_forward_command(GATEWAY_SERVICE_PORT),
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.access.url);
        let response = self
            .http
            .get(&url)
            .query(query)
            .bearer_auth(&self.access.api_key)
            .send()
            .map_err(|err| {
                anyhow!(
                    "cannot reach the gateway at {}: {err}. Is the URL right, and is a port-forward running \
                     ({})?",
                    self.access.url,
                    self.forward
                )
            })?;
        let status = response.status();
        let body = response.text().unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str(&body)
                .with_context(|| format!("the gateway's answer to {path} does not read"));
        }
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(match status.as_u16() {
            401 => anyhow!(
                "the gateway refused the API key (401: {message}): it may be revoked or mistyped; ask an administrator for a new one"
            ),
            403 => {
                anyhow!("the API key may not read this (403: {message}): it needs the read scope")
            }
            404 => NotFound(message).into(),
            429 => anyhow!(
                "the gateway's rate limit for this key is used up (429): try again in a few seconds"
            ),
            code => anyhow!("the gateway answered {code} to {path}: {message}"),
        })
    }

    /// One analysis (by the Analysis' uid).
    pub fn analysis(&self, id: &str) -> anyhow::Result<AnalysisDetail> {
        self.get(&format!("/v1/analyses/{id}"), &[])
    }

    /// The newest succeeded analyses of a remote (any spelling of its URL), newest first.
    pub fn succeeded_analyses_of(&self, url: &str) -> anyhow::Result<AnalysisPage> {
        self.get(
            "/v1/analyses",
            &[
                ("repository", url),
                ("status", "succeeded"),
                ("limit", "50"),
            ],
        )
    }

    /// A repository's current story.
    pub fn story(&self, fingerprint: &str) -> anyhow::Result<RepositoryStory> {
        self.get(&format!("/v1/repositories/{fingerprint}/story"), &[])
    }

    /// A page of an analysis' run log after `cursor`.
    pub fn logs(&self, id: &str, cursor: Option<&str>) -> anyhow::Result<LogPage> {
        let mut query = vec![("limit", "500")];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        self.get(&format!("/v1/analyses/{id}/logs"), &query)
    }
}
