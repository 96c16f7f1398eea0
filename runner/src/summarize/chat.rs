//! An OpenAI-compatible chat-completions client (`POST {base}/chat/completions`), blocking.
//!
//! The API key is read from a file (the mounted Secret in a pod) and sent only as a bearer
//! header; it never appears in errors, logs or `Debug` output. Each request has a connect and a
//! total timeout. Transport errors, `408`, `429` and `5xx` answers are retried up to
//! [`RetryPolicy::max_attempts`] times, waiting what `Retry-After` asks (seconds or an HTTP
//! date, capped at [`RetryPolicy::max_delay`]) or else an exponential backoff
//! ([`retry_delay`], a pure function). Token usage from the responses is recorded.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    CombineInput, SummarizeError, Summarizer, SummarizerInfo, Summary, SummaryInput, TokenUsage,
};

/// Version of this summarizer's logic (request shape, parsing): part of the cache key.
pub const CHAT_VERSION: &str = "chat-1";

/// The system prompt. Changing it must change the prompt version.
pub const SYSTEM_PROMPT: &str = "You summarize one part of a git repository's history for a \
reader who wants to know what happened. You get one line per commit: short id, date, author, \
class, lines added and deleted, top-level areas, subject. Write 3 to 6 short Markdown bullet \
points: the main themes, the areas that changed most, who did the work, notable commits. Only \
state what the lines show. After every claim, cite the short commit ids it rests on in \
backticks, like (`0123456789ab`).";

/// The system prompt that merges part summaries. Changing it must change the prompt version.
pub const COMBINE_PROMPT: &str = "You merge summaries of consecutive parts of one phase of a git \
repository's history into one summary of the phase. Write 3 to 6 short Markdown bullet points: \
the main themes, the areas that changed most, who did the work, notable commits. Only state \
what the part summaries say, and keep the commit ids they cite in backticks after every claim.";

/// How failed requests are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The first backoff; doubled after each failed attempt.
    pub base_delay: Duration,
    /// No wait is longer than this, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// How long to wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed
/// with HTTP `status` (`None`: a transport error or timeout); `None` to give up.
pub fn retry_delay(
    policy: &RetryPolicy,
    attempt: u32,
    status: Option<u16>,
    retry_after: Option<&str>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let retryable = match status {
        None => true,
        Some(code) => code == 408 || code == 429 || (500..=599).contains(&code),
    };
    if !retryable || attempt >= policy.max_attempts {
        return None;
    }
    let asked = retry_after.and_then(|value| parse_retry_after(value, now));
    let backoff = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    Some(asked.unwrap_or(backoff).min(policy.max_delay))
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = date.as_second().saturating_sub(now.as_second());
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

/// Settings of the chat-completions client.
#[derive(Clone)]
pub struct ChatConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token when present.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    /// Total time of one request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Upper bound of the completion's tokens.
    pub max_tokens: u32,
    /// The egress policy the endpoint's address is checked against at every connection (see
    /// [`gitview_egress`]); `None` on a laptop.
    pub egress: Option<gitview_egress::Policy>,
}

impl std::fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_tokens", &self.max_tokens)
            .field("egress", &self.egress)
            .finish()
    }
}

impl ChatConfig {
    /// Defaults for `model` at `base_url`: 10 s to connect, 120 s per request, 5 attempts.
    pub fn new(base_url: &str, model: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            max_tokens: 800,
            egress: None,
        }
    }

    /// Reads the API key from `path` (surrounding whitespace trimmed).
    pub fn with_api_key_file(mut self, path: &Path) -> Result<Self, SummarizeError> {
        let key = std::fs::read_to_string(path).map_err(|source| SummarizeError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(SummarizeError::Config(format!(
                "the API key file {path:?} is empty"
            )));
        }
        self.api_key = Some(key.to_owned());
        Ok(self)
    }
}

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

/// Waits between attempts (a real sleep by default; tests record instead).
pub type Sleep = Box<dyn FnMut(Duration) + Send>;

/// The chat-completions summarizer.
pub struct ChatSummarizer {
    config: ChatConfig,
    client: reqwest::blocking::Client,
    /// The egress policy's hooks in `client`, which keep the refusal they made.
    guard: Option<gitview_egress::HttpGuard>,
    sleep: Sleep,
    usage: TokenUsage,
    requests: u64,
    retries: u64,
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
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(SummarizeError::Config(
                "the base URL must start with http:// or https://".into(),
            ));
        }
        gitview_git::tls::install_crypto_provider();
        let guard = config.egress.map(gitview_egress::HttpGuard::new);
        if let Some(guard) = &guard {
            // Refused before the first request, where the URL alone tells; names are checked
            // where reqwest resolves them.
            let host = reqwest::Url::parse(&config.base_url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .ok_or_else(|| SummarizeError::Config("the base URL has no host".into()))?;
            guard
                .policy()
                .check_host(&host)
                .map_err(SummarizeError::Refused)?;
        }
        // No redirects: an API endpoint has no reason to send the request, and its key,
        // anywhere else.
        let builder = reqwest::blocking::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none());
        let builder = match &guard {
            Some(guard) => guard.blocking(builder),
            None => builder,
        };
        let client = builder.build().map_err(|source| SummarizeError::Http {
            attempts: 0,
            source: Box::new(source),
        })?;
        Ok(Self {
            config,
            client,
            guard,
            sleep: Box::new(std::thread::sleep),
            usage: TokenUsage::default(),
            requests: 0,
            retries: 0,
        })
    }

    /// Replaces how the client waits between attempts.
    pub fn with_sleep(mut self, sleep: Sleep) -> Self {
        self.sleep = sleep;
        self
    }

    /// Tokens used so far.
    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    /// HTTP requests made so far, and how many of them were retries.
    pub fn requests(&self) -> (u64, u64) {
        (self.requests, self.retries)
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let mut request = self.client.post(&url).json(&body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let (status, retry_after, failure) = match request.send() {
                Ok(response) if response.status().is_success() => {
                    let parsed: Response = response
                        .json()
                        .map_err(|err| SummarizeError::Response(format!("invalid JSON: {err}")))?;
                    return self.accept(parsed);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let text = response.text().unwrap_or_default();
                    let body: String = text.chars().take(300).collect();
                    (
                        Some(status),
                        retry_after,
                        SummarizeError::Status {
                            status,
                            attempts: attempt,
                            body,
                        },
                    )
                }
                Err(_) if let Some(refusal) = self.guard.as_ref().and_then(|g| g.refusal()) => {
                    return Err(SummarizeError::Refused(refusal));
                }
                Err(err) => (
                    None,
                    None,
                    SummarizeError::Http {
                        attempts: attempt,
                        source: Box::new(err.without_url()),
                    },
                ),
            };
            let Some(delay) = retry_delay(
                &self.config.retry,
                attempt,
                status,
                retry_after.as_deref(),
                jiff::Timestamp::now(),
            ) else {
                return Err(failure);
            };
            tracing::warn!(
                attempt,
                status = ?status,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure,
                "chat completion failed, retrying"
            );
            self.retries += 1;
            (self.sleep)(delay);
        }
    }

    fn accept(&mut self, response: Response) -> Result<(String, TokenUsage), SummarizeError> {
        let content = response
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .filter(|content| !content.trim().is_empty())
            .ok_or_else(|| SummarizeError::Response("no message content".into()))?;
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

impl Summarizer for ChatSummarizer {
    fn info(&self) -> SummarizerInfo {
        SummarizerInfo {
            kind: "chatCompletions".into(),
            model: Some(self.config.model.clone()),
            version: CHAT_VERSION.into(),
        }
    }

    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        let (text, usage) = self.complete(SYSTEM_PROMPT, &input.chunk.text)?;
        Ok(cited(text, usage, input.facts))
    }

    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        let mut user = format!("Phase {}: {}\n", input.phase.number, input.phase.name);
        for (i, part) in input.parts.iter().enumerate() {
            user.push_str(&format!("\nPart {}:\n{}\n", i + 1, part.text.trim_end()));
        }
        let (text, usage) = self.complete(COMBINE_PROMPT, &user)?;
        Ok(cited(text, usage, input.facts))
    }
}

/// A model's answer, with the commits it cites (the model is asked to cite short ids; only
/// ids of the given commits count).
fn cited(text: String, usage: TokenUsage, facts: &[crate::enrich::CommitFacts]) -> Summary {
    let commits = facts
        .iter()
        .filter(|f| text.contains(f.short_id()))
        .map(|f| f.id.clone())
        .collect();
    Summary {
        text,
        commits,
        usage: Some(usage),
    }
}

#[cfg(test)]
mod tests;
