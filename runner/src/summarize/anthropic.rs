//! Anthropic's Messages API (`POST {base}/v1/messages`), blocking.
//!
//! The request carries the key in `x-api-key` (marked sensitive, never logged), the API version
//! in `anthropic-version`, and `{model, max_tokens, temperature, system, messages: [{role:
//! "user", content}]}` — the prompts the chat-completions client sends
//! (`summarize/prompt.rs`). The answer's text blocks make the summary; its `usage` is
//! recorded. Errors are `{type: "error", error: {type, message}}`:
//!
//! * `401`, `403` → [`SummarizeError::KeyRefused`], final;
//! * `429` with `error.details.error_code` `enforced_spend_limit_reached` →
//!   [`SummarizeError::Rejected`], final (waiting does not help until the limit resets);
//! * `429`, `529` (overloaded) and other `5xx` → retried, waiting what `retry-after` asks or the
//!   backoff, then [`SummarizeError::Status`] (retryable);
//! * other `4xx` (`400` `invalid_request_error`, `404` `not_found_error`, …) →
//!   [`SummarizeError::Status`], not retried; the text is the provider's `type: message`.
//!
//! Timeouts, transport errors, the egress policy and the refusal of redirects are the shared
//! [`endpoint`](super::endpoint)'s, as for the chat-completions client.

use serde::{Deserialize, Serialize};

use super::endpoint::{Endpoint, Failure, ModelConfig, Sleep};
use super::prompt::ModelClient;
use super::{SummarizeError, TokenUsage};

/// Version of this summarizer's logic (request shape, parsing): part of the cache key.
pub const MESSAGES_VERSION: &str = "anthropic-1";

/// This summarizer's kind in [`SummarizerInfo`](super::SummarizerInfo).
pub const KIND: &str = "anthropicMessages";

/// The API's address when no base URL is given.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` header: the API version whose shapes this client speaks.
pub const API_VERSION: &str = "2023-06-01";

/// What errors and logs call this API.
const API: &str = "Anthropic Messages";

/// Settings of the Messages client; the base URL is e.g. [`DEFAULT_BASE_URL`] (a base that
/// already ends in `/v1` gets no second one).
pub type AnthropicConfig = ModelConfig;

/// `{base}/v1/messages`.
fn messages_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/v1/messages")
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    temperature: f32,
    system: &'a str,
    messages: [Message<'a>; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Response {
    #[serde(rename = "type")]
    kind: String,
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// An error answer: `{type: "error", error: {type, message, details?}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: String,
    message: String,
    #[serde(default)]
    details: Option<ErrorCode>,
}

#[derive(Deserialize)]
struct ErrorCode {
    #[serde(default)]
    error_code: Option<String>,
}

/// What an error answer becomes (see the module's documentation); `body` is the start of the
/// answer, the key already cut out.
fn failure(status: u16, body: &str, attempts: u32) -> Failure {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let message = match &parsed {
        Some(ErrorBody { error }) => format!("{}: {}", error.kind, error.message),
        None => body.to_owned(),
    };
    let spend_limit = parsed
        .as_ref()
        .and_then(|b| b.error.details.as_ref()?.error_code.as_deref())
        == Some("enforced_spend_limit_reached");
    match status {
        401 | 403 => Failure::Final(SummarizeError::KeyRefused {
            api: API,
            status,
            message,
        }),
        429 if spend_limit => Failure::Final(SummarizeError::Rejected {
            api: API,
            status,
            message,
        }),
        _ => Failure::AsStatusSays(SummarizeError::Status {
            api: API,
            status,
            attempts,
            body: message,
        }),
    }
}

/// The Messages summarizer.
pub struct AnthropicSummarizer {
    config: AnthropicConfig,
    endpoint: Endpoint,
    /// `x-api-key`, marked sensitive so that it shows in no `Debug` output.
    key: Option<reqwest::header::HeaderValue>,
    usage: TokenUsage,
}

impl std::fmt::Debug for AnthropicSummarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicSummarizer")
            .field("config", &self.config)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl AnthropicSummarizer {
    /// A client for `config`.
    pub fn new(config: AnthropicConfig) -> Result<Self, SummarizeError> {
        let key = match &config.api_key {
            Some(key) => {
                let mut value = reqwest::header::HeaderValue::from_str(key).map_err(|_| {
                    SummarizeError::Config("the API key is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let endpoint = Endpoint::new(API, &config)?;
        Ok(Self {
            config,
            endpoint,
            key,
            usage: TokenUsage::default(),
        })
    }

    /// Replaces how the client waits between attempts.
    pub fn with_sleep(mut self, sleep: Sleep) -> Self {
        self.endpoint.sleep = sleep;
        self
    }

    /// Tokens used so far.
    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    /// HTTP requests made so far, and how many of them were retries.
    pub fn requests(&self) -> (u64, u64) {
        (self.endpoint.requests, self.endpoint.retries)
    }

    /// Sends one message with retries; returns the answer's text and the usage.
    pub fn complete(
        &mut self,
        system: &str,
        user: &str,
    ) -> Result<(String, TokenUsage), SummarizeError> {
        let url = messages_url(&self.config.base_url);
        let body = Request {
            model: &self.config.model,
            max_tokens: self.config.max_tokens,
            temperature: 0.0,
            system,
            messages: [Message {
                role: "user",
                content: user,
            }],
        };
        let key = self.key.as_ref();
        let response: Response = self.endpoint.send(
            |client| {
                let request = client
                    .post(&url)
                    .header("anthropic-version", API_VERSION)
                    .json(&body);
                match key {
                    Some(key) => request.header("x-api-key", key.clone()),
                    None => request,
                }
            },
            failure,
        )?;
        self.accept(response)
    }

    fn accept(&mut self, response: Response) -> Result<(String, TokenUsage), SummarizeError> {
        let not_understood = |message: String| SummarizeError::Response { api: API, message };
        if response.kind != "message" {
            return Err(not_understood(format!(
                "an answer of type {:?}, not a message",
                response.kind
            )));
        }
        let text: String = response
            .content
            .iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text.as_deref())
            .collect();
        if text.trim().is_empty() {
            return Err(not_understood("no text in the message".into()));
        }
        if response.stop_reason.as_deref() == Some("max_tokens") {
            tracing::warn!(
                max_tokens = self.config.max_tokens,
                "the model's summary was cut at max_tokens"
            );
        }
        let usage = response.usage.map_or_else(TokenUsage::default, |u| {
            // Tokens read from or written to a prompt cache are input tokens too.
            let prompt = u.input_tokens
                + u.cache_creation_input_tokens.unwrap_or(0)
                + u.cache_read_input_tokens.unwrap_or(0);
            TokenUsage {
                prompt_tokens: prompt,
                completion_tokens: u.output_tokens,
                total_tokens: prompt + u.output_tokens,
            }
        });
        self.usage.add(usage);
        Ok((text.trim().to_owned(), usage))
    }
}

impl ModelClient for AnthropicSummarizer {
    const KIND: &'static str = KIND;
    const VERSION: &'static str = MESSAGES_VERSION;

    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn complete(
        &mut self,
        system: &str,
        user: &str,
    ) -> Result<(String, TokenUsage), SummarizeError> {
        AnthropicSummarizer::complete(self, system, user)
    }
}

#[cfg(test)]
mod tests;
