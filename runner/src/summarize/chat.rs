//! An OpenAI-compatible chat-completions client (`POST {base}/chat/completions`), blocking:
//! OpenAI, vLLM, Ollama's `/v1`, LiteLLM.
//!
//! The API key is read from a file (the mounted Secret in a pod) and sent only as a bearer
//! header; it never appears in errors, logs or `Debug` output. Timeouts, retries (transport
//! errors, `408`, `429` and `5xx`, honouring `Retry-After`), the egress policy and the refusal
//! of redirects are the shared [`endpoint`](super::endpoint)'s. Token usage from the responses
//! is recorded.

use serde::{Deserialize, Serialize};

use super::endpoint::ModelConfig;
use super::endpoint::{Endpoint, Failure};
use super::prompt::ModelClient;
use super::{SummarizeError, TokenUsage};

pub use super::endpoint::{RetryPolicy, Sleep, retry_delay};
pub use super::prompt::{COMBINE_PROMPT, SYSTEM_PROMPT};

/// Version of this summarizer's logic (request shape, parsing): part of the cache key.
pub const CHAT_VERSION: &str = "chat-1";

/// What errors and logs call this API.
const API: &str = "chat-completions";

/// Settings of the chat-completions client; the base URL is e.g. `https://api.openai.com/v1`,
/// and `/chat/completions` is appended.
pub type ChatConfig = ModelConfig;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    temperature: f32,
    max_tokens: u32,
    messages: [Message<'a>; 2],
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

/// What an error answer becomes: `401`/`403` a refused key (final); anything else as its
/// status says. `body` is the start of the answer, the key already cut out.
fn failure(status: u16, body: &str, attempts: u32) -> Failure {
    match status {
        401 | 403 => {
            // OpenAI and most compatible servers: `{"error": {"message": ...}}`.
            let message = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| match &v["error"] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    error => error["message"].as_str().map(str::to_owned),
                })
                .unwrap_or_else(|| body.to_owned());
            Failure::Final(SummarizeError::KeyRefused {
                api: API,
                status,
                message,
            })
        }
        _ => Failure::AsStatusSays(SummarizeError::Status {
            api: API,
            status,
            attempts,
            body: body.to_owned(),
        }),
    }
}

/// The chat-completions summarizer.
pub struct ChatSummarizer {
    config: ChatConfig,
    endpoint: Endpoint,
    usage: TokenUsage,
}

impl std::fmt::Debug for ChatSummarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSummarizer")
            .field("config", &self.config)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl ChatSummarizer {
    /// A client for `config`.
    pub fn new(config: ChatConfig) -> Result<Self, SummarizeError> {
        let endpoint = Endpoint::new(API, &config)?;
        Ok(Self {
            config,
            endpoint,
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

    /// Sends one chat completion with retries; returns the content and the usage.
    pub fn complete(
        &mut self,
        system: &str,
        user: &str,
    ) -> Result<(String, TokenUsage), SummarizeError> {
        let url = format!("{}/chat/completions", self.config.base_url);
        let body = Request {
            model: &self.config.model,
            temperature: 0.0,
            max_tokens: self.config.max_tokens,
            messages: [
                Message {
                    role: "system",
                    content: system,
                },
                Message {
                    role: "user",
                    content: user,
                },
            ],
        };
        let key = self.config.api_key.as_deref();
        let response: Response = self.endpoint.send(
            |client| {
                let request = client.post(&url).json(&body);
                match key {
                    Some(key) => request.bearer_auth(key),
                    None => request,
                }
            },
            failure,
        )?;
        self.accept(response)
    }

    fn accept(&mut self, response: Response) -> Result<(String, TokenUsage), SummarizeError> {
        let content = response
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .filter(|content| !content.trim().is_empty())
            .ok_or_else(|| SummarizeError::Response {
                api: API,
                message: "no message content".into(),
            })?;
        let usage = response
            .usage
            .map_or_else(TokenUsage::default, |u| TokenUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
            });
        self.usage.add(usage);
        Ok((content.trim().to_owned(), usage))
    }
}

impl ModelClient for ChatSummarizer {
    const KIND: &'static str = KIND;
    const VERSION: &'static str = CHAT_VERSION;

    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn complete(
        &mut self,
        system: &str,
        user: &str,
    ) -> Result<(String, TokenUsage), SummarizeError> {
        ChatSummarizer::complete(self, system, user)
    }
}

/// This summarizer's kind in [`SummarizerInfo`](super::SummarizerInfo).
pub const KIND: &str = "chatCompletions";

#[cfg(test)]
mod tests;
