//! What the model clients ([`chat`](super::chat), [`anthropic`](super::anthropic)) share: their
//! settings ([`ModelConfig`]), the API key read from a file, and `Endpoint` — the HTTP client
//! (connect and total timeouts, no redirects, the egress policy at every connection) and the
//! retry loop: transport errors, timeouts, `408`, `429` and `5xx` answers are retried up to
//! [`RetryPolicy::max_attempts`] times, waiting what `Retry-After` asks (seconds or an HTTP date,
//! capped at [`RetryPolicy::max_delay`]) or else an exponential backoff ([`retry_delay`], a pure
//! function). The key never appears in errors, logs or `Debug` output.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::SummarizeError;

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

/// Settings of a model client.
#[derive(Clone)]
pub struct ModelConfig {
    /// Base URL; each client appends its own path (`/chat/completions`, `/v1/messages`).
    pub base_url: String,
    pub model: String,
    /// Sent as the client's API says (a bearer token, `x-api-key`) when present.
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
    /// Critical mode: appended to every system prompt ([`critical_block`](super::critical_block)),
    /// and part of the summarizer's version, so the cache keeps such summaries apart.
    pub critical: Option<String>,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_tokens", &self.max_tokens)
            .field("egress", &self.egress)
            .field("critical", &self.critical)
            .finish()
    }
}

impl ModelConfig {
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
            critical: None,
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

impl ModelConfig {
    /// `prompt` with the critical block, if any.
    pub(super) fn system(&self, prompt: &str) -> String {
        match &self.critical {
            Some(block) => format!("{prompt}{block}"),
            None => prompt.to_owned(),
        }
    }

    /// The summarizer's version: `base`, and in critical mode a hash of the critical block.
    pub(super) fn version(&self, base: &str) -> String {
        use sha2::Digest as _;
        match &self.critical {
            Some(block) => {
                let hash = crate::chunk::hex(&sha2::Sha256::digest(block.as_bytes()));
                format!("{base}+critical-{}", &hash[..12])
            }
            None => base.to_owned(),
        }
    }
}

/// Waits between attempts (a real sleep by default; tests record instead).
pub type Sleep = Box<dyn FnMut(Duration) + Send>;

/// What a client makes of an answer that is not a success.
pub(super) enum Failure {
    /// Retried if the status is one that is retried ([`retry_delay`]) and attempts are left.
    AsStatusSays(SummarizeError),
    /// Never retried (the provider says another attempt cannot help).
    Final(SummarizeError),
}

/// The HTTP side of a model client: its connections and its retries.
pub(super) struct Endpoint {
    /// What errors and logs call the API (`chat-completions`, `Anthropic Messages`).
    api: &'static str,
    client: reqwest::blocking::Client,
    /// The egress policy's hooks in `client`, which keep the refusal they made.
    guard: Option<gitview_egress::HttpGuard>,
    retry: RetryPolicy,
    /// Cut out of any answer text that reaches an error, should an endpoint echo it.
    key: Option<String>,
    pub(super) sleep: Sleep,
    pub(super) requests: u64,
    pub(super) retries: u64,
}

impl Endpoint {
    /// A client for `config`'s endpoint, refused here already if its host is a literal address
    /// the egress policy refuses.
    pub(super) fn new(api: &'static str, config: &ModelConfig) -> Result<Self, SummarizeError> {
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
            api,
            attempts: 0,
            source: Box::new(source),
        })?;
        Ok(Self {
            api,
            client,
            guard,
            retry: config.retry.clone(),
            key: config.api_key.clone(),
            sleep: Box::new(std::thread::sleep),
            requests: 0,
            retries: 0,
        })
    }

    /// Sends the request `build` makes, again after each retryable failure; a success's body
    /// is parsed as `T`. `failure` turns another answer (status, the start of its body with
    /// the key cut out, the attempts so far) into an error.
    pub(super) fn send<T: DeserializeOwned>(
        &mut self,
        build: impl Fn(&reqwest::blocking::Client) -> reqwest::blocking::RequestBuilder,
        failure: impl Fn(u16, &str, u32) -> Failure,
    ) -> Result<T, SummarizeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let (status, retry_after, rate_limits, error) = match build(&self.client).send() {
                Ok(response) if response.status().is_success() => return self.parse(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers();
                    let retry_after = headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let rate_limits = rate_limit_headers(headers);
                    let text = response.text().unwrap_or_default();
                    let body = self.redact(text.chars().take(300).collect());
                    match failure(status, &body, attempt) {
                        Failure::Final(error) => return Err(error),
                        Failure::AsStatusSays(error) => {
                            (Some(status), retry_after, rate_limits, error)
                        }
                    }
                }
                Err(_) if let Some(refusal) = self.guard.as_ref().and_then(|g| g.refusal()) => {
                    return Err(SummarizeError::Refused(refusal));
                }
                Err(err) => (
                    None,
                    None,
                    String::new(),
                    SummarizeError::Http {
                        api: self.api,
                        attempts: attempt,
                        source: Box::new(err.without_url()),
                    },
                ),
            };
            let Some(delay) = retry_delay(
                &self.retry,
                attempt,
                status,
                retry_after.as_deref(),
                jiff::Timestamp::now(),
            ) else {
                return Err(error);
            };
            tracing::warn!(
                api = self.api,
                attempt,
                status = ?status,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                rate_limits,
                error = %error,
                "model request failed, retrying"
            );
            self.retries += 1;
            (self.sleep)(delay);
        }
    }

    /// A success's body as `T`; a body that is not one is a clear error quoting its start.
    fn parse<T: DeserializeOwned>(
        &self,
        response: reqwest::blocking::Response,
    ) -> Result<T, SummarizeError> {
        let not_understood = |message: String| SummarizeError::Response {
            api: self.api,
            message,
        };
        let bytes = response
            .bytes()
            .map_err(|err| not_understood(format!("the body could not be read: {err}")))?;
        serde_json::from_slice(&bytes).map_err(|err| {
            let start: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
            not_understood(format!("{err}; the body starts {:?}", self.redact(start)))
        })
    }

    fn redact(&self, text: String) -> String {
        match &self.key {
            Some(key) if text.contains(key.as_str()) => text.replace(key.as_str(), "<redacted>"),
            _ => text,
        }
    }
}

/// The rate-limit headers of an answer (`x-ratelimit-*`, `anthropic-ratelimit-*`), for the
/// log line of a retry: `name=value`, comma-separated.
fn rate_limit_headers(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-ratelimit-") || name.starts_with("anthropic-ratelimit-")
        })
        .filter_map(|(name, value)| Some(format!("{name}={}", value.to_str().ok()?)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }

    #[test]
    fn retry_decisions() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let p = policy();
        let ms = Duration::from_millis;
        // Exponential backoff for 5xx and transport errors.
        assert_eq!(retry_delay(&p, 1, Some(500), None, now), Some(ms(100)));
        assert_eq!(retry_delay(&p, 2, Some(503), None, now), Some(ms(200)));
        assert_eq!(retry_delay(&p, 3, None, None, now), Some(ms(400)));
        // Anthropic's 529 (overloaded) is a 5xx like any other.
        assert_eq!(retry_delay(&p, 1, Some(529), None, now), Some(ms(100)));
        // Retry-After wins, in seconds or as an HTTP date, capped.
        assert_eq!(
            retry_delay(&p, 1, Some(429), Some("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_delay(&p, 1, Some(429), Some("Tue, 14 Nov 2023 22:13:32 GMT"), now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_delay(&p, 1, Some(503), Some("3600"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_delay(&p, 1, Some(429), Some("soon"), now),
            Some(ms(100))
        );
        // Client errors are final; so is the last attempt.
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(
                retry_delay(&p, 1, Some(status), None, now),
                None,
                "{status}"
            );
        }
        assert_eq!(retry_delay(&p, 4, Some(500), None, now), None);
        assert_eq!(retry_delay(&p, 1, Some(408), None, now), Some(ms(100)));
    }

    #[test]
    fn rate_limit_headers_are_listed_for_the_log() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            "0".parse().unwrap(),
        );
        headers.insert("x-ratelimit-remaining-tokens", "10".parse().unwrap());
        headers.insert("retry-after", "1".parse().unwrap());
        assert_eq!(
            rate_limit_headers(&headers),
            "anthropic-ratelimit-requests-remaining=0, x-ratelimit-remaining-tokens=10"
        );
    }
}
