//! The summarize stage: one summary per chunk, behind the [`Summarizer`] trait.
//!
//! * [`Extractive`] (the default) needs no model and no network: deterministic, factual
//!   summaries built from the chunk's commits — themes (classes and recurring subject words),
//!   the most-changed areas, authors, notable commits (largest, releases, breaking changes,
//!   reverts) — every claim followed by the commit ids it rests on.
//! * [`chat::ChatSummarizer`] calls an OpenAI-compatible chat-completions endpoint (OpenAI,
//!   vLLM, Ollama's `/v1`, LiteLLM).
//! * [`anthropic::AnthropicSummarizer`] calls Anthropic's Messages API.
//!
//! The model clients send the same prompts and share their HTTP side ([`endpoint`]: timeouts,
//! retries honouring `Retry-After`, the egress policy, no redirects, the key kept secret).
//!
//! Summaries are cached by [`cache_key`]: sha256 of the chunk's text, the prompt version and the
//! summarizer's identity (kind, model, version), so an incremental run that produces the same
//! chunks again does not summarize them again ([`DirCache`]).

pub mod anthropic;
pub mod budget;
pub mod chat;
pub mod cost;
pub mod endpoint;
pub mod extractive;
mod prompt;

#[cfg(test)]
pub(crate) mod test_server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chunk::{Chunk, Phase, hex};
use crate::enrich::CommitFacts;

pub use extractive::{Extractive, KIND as EXTRACTIVE_KIND};
pub use prompt::{OVERVIEW_PROMPT, critical_block};

/// What a summarizer is, for the cache key and `analysis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummarizerInfo {
    /// `extractive`, `chatCompletions` or `anthropicMessages`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Version of the summarizer's own logic.
    pub version: String,
}

/// What a summarizer gets for one chunk.
#[derive(Clone, Copy, Debug)]
pub struct SummaryInput<'a> {
    pub phase: &'a Phase,
    pub chunk: &'a Chunk,
    /// The chunk's commits (`facts[chunk.start..chunk.end]`), chronological.
    pub facts: &'a [CommitFacts],
}

/// What a summarizer gets to merge the summaries of consecutive chunks into one.
#[derive(Clone, Copy, Debug)]
pub struct CombineInput<'a> {
    pub phase: &'a Phase,
    /// The summaries, in order.
    pub parts: &'a [Summary],
    /// The commits the parts cover, chronological.
    pub facts: &'a [CommitFacts],
}

/// Token usage reported by a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    /// Adds another usage.
    pub fn add(&mut self, other: TokenUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// The summary of one chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Markdown.
    pub text: String,
    /// Full ids of the commits the summary cites.
    pub commits: Vec<String>,
    /// Tokens used to produce it (model summarizers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

/// Errors of the summarize stage.
#[derive(Debug, thiserror::Error)]
pub enum SummarizeError {
    #[error("cannot read the API key file {path:?}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid summarizer settings: {0}")]
    Config(String),
    #[error("the {api} request failed after {attempts} attempt(s)")]
    Http {
        /// The API: `chat-completions`, `Anthropic Messages`.
        api: &'static str,
        attempts: u32,
        #[source]
        source: Box<reqwest::Error>,
    },
    #[error("the {api} endpoint answered {status} after {attempts} attempt(s): {body}")]
    Status {
        api: &'static str,
        status: u16,
        attempts: u32,
        /// The start of the response body, or the provider's error message (never the
        /// request, which holds the key).
        body: String,
    },
    /// A client error the provider says another attempt cannot fix (a spend limit's `429`).
    #[error("the {api} endpoint answered {status}, final: {message}")]
    Rejected {
        api: &'static str,
        status: u16,
        message: String,
    },
    /// `401` or `403`: the key is wrong, revoked or lacks the permission.
    #[error("the {api} endpoint answered {status}: the API key was refused ({message})")]
    KeyRefused {
        api: &'static str,
        status: u16,
        /// The provider's message (never the key).
        message: String,
    },
    #[error("the {api} response is not understood: {message}")]
    Response { api: &'static str, message: String },
    /// The egress policy refused the endpoint's address; nothing was sent.
    #[error("the model endpoint: {0}")]
    Refused(gitview_egress::Refusal),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl SummarizeError {
    /// True when another attempt of the whole run could help (rate limits, outages).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { .. } | Self::Cache(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::KeyFile { .. }
            | Self::Config(_)
            | Self::Rejected { .. }
            | Self::KeyRefused { .. }
            | Self::Response { .. }
            | Self::Refused(_) => false,
        }
    }
}

/// Turns chunks into summaries.
pub trait Summarizer {
    /// The summarizer's identity (part of the cache key).
    fn info(&self) -> SummarizerInfo;
    /// Summarizes one chunk.
    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError>;
    /// Merges the summaries of consecutive chunks of a phase into one.
    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError>;
    /// True if [`combine`](Self::combine) takes any number of parts at once; otherwise the
    /// pipeline combines groups of parts that fit the token budget, level by level.
    fn combines_any_number(&self) -> bool {
        false
    }
    /// A model's free prose for `system` (with critical mode's block added) and `user`: the
    /// executive overview. `None` for a summarizer without a model.
    fn prose(
        &mut self,
        _system: &str,
        _user: &str,
    ) -> Option<Result<(String, TokenUsage), SummarizeError>> {
        None
    }
}

impl SummarizeError {
    /// True when the error is the model's answer, or its absence (a timeout, an outage, a rate
    /// or spend limit, a body that is no answer): the story is then written without the
    /// model's part, the reason recorded. A refused key or endpoint, a request the endpoint
    /// calls wrong (`400`, `404`: a model name that does not exist), missing settings or a
    /// failing cache stop the run: they need fixing, not hiding.
    pub fn leaves_the_model_out(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..),
            Self::Http { .. } | Self::Rejected { .. } | Self::Response { .. } => true,
            Self::KeyFile { .. }
            | Self::Config(_)
            | Self::KeyRefused { .. }
            | Self::Refused(_)
            | Self::Cache(_) => false,
        }
    }
}

/// The text a combination is cached under: the parts' texts, marked as a combination.
pub fn combine_text(parts: &[Summary]) -> String {
    let mut text = String::from("combine\n");
    for part in parts {
        text.push_str(&part.text);
        text.push_str("\n\u{1e}\n");
    }
    text
}

/// The summarizer a run's profile asks for: the extractive one, or a model client
/// (chat-completions or Anthropic Messages) with the profile's model and base URL (the run's
/// own, else the stage settings'; for Anthropic else [`anthropic::DEFAULT_BASE_URL`]) and the
/// API key from `api_key_file` (the mounted `llm-api-key`), if given; its connections are
/// checked against `egress`.
pub fn summarizer_for(
    profile: &gitview_crds::wire::RunProfile,
    api_key_file: Option<&Path>,
    egress: Option<gitview_egress::Policy>,
) -> Result<Box<dyn Summarizer>, SummarizeError> {
    use gitview_crds::v1alpha1::SummarizerKind;
    let settings = &profile.stages.summarize;
    let model = |kind: &str| {
        profile
            .model
            .as_deref()
            .or(settings.model.as_deref())
            .ok_or_else(|| SummarizeError::Config(format!("no model for {kind}")))
    };
    let base_url = profile
        .llm_base_url
        .as_deref()
        .or(settings.base_url.as_deref());
    let critical = settings
        .critical
        .as_ref()
        .map(|c| critical_block(&c.goals, c.directives.as_deref()));
    let config = |base_url: &str, model: &str| {
        let mut config = endpoint::ModelConfig::new(base_url, model);
        config.egress = egress;
        config.critical = critical.clone();
        match api_key_file {
            Some(path) => config.with_api_key_file(path),
            None => Ok(config),
        }
    };
    match profile.summarizer {
        SummarizerKind::Extractive => Ok(Box::new(Extractive)),
        SummarizerKind::ChatCompletions => {
            let model = model("ChatCompletions")?;
            let base_url = base_url
                .ok_or_else(|| SummarizeError::Config("no base URL for ChatCompletions".into()))?;
            Ok(Box::new(chat::ChatSummarizer::new(config(
                base_url, model,
            )?)?))
        }
        SummarizerKind::AnthropicMessages => {
            let model = model("AnthropicMessages")?;
            let base_url = base_url.unwrap_or(anthropic::DEFAULT_BASE_URL);
            Ok(Box::new(anthropic::AnthropicSummarizer::new(config(
                base_url, model,
            )?)?))
        }
    }
}

/// The cache key of a chunk's summary: sha256 of the chunk text, the prompt version and the
/// summarizer's kind, model and version, each length-prefixed.
pub fn cache_key(chunk_text: &str, prompt_version: &str, info: &SummarizerInfo) -> String {
    let mut hasher = Sha256::new();
    for part in [
        chunk_text,
        prompt_version,
        &info.kind,
        info.model.as_deref().unwrap_or(""),
        &info.version,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

/// Errors of a summary cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("summary cache {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("summary cache in the gateway: {0}")]
    Gateway(String),
}

/// Where summaries are kept between runs.
pub trait SummaryCache {
    /// Says which keys will be asked for, so a remote cache can look them up at once.
    fn prefetch(&mut self, _keys: &[String]) -> Result<(), CacheError> {
        Ok(())
    }
    /// The summary stored under `key`, if any. An unreadable entry is a miss.
    fn get(&mut self, key: &str) -> Result<Option<Summary>, CacheError>;
    /// Stores a summary.
    fn put(&mut self, key: &str, summary: &Summary) -> Result<(), CacheError>;
}

/// No cache: every chunk is summarized.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

impl SummaryCache for NoCache {
    fn get(&mut self, _key: &str) -> Result<Option<Summary>, CacheError> {
        Ok(None)
    }

    fn put(&mut self, _key: &str, _summary: &Summary) -> Result<(), CacheError> {
        Ok(())
    }
}

/// A directory of `<key>.json` files, written atomically (temporary file, then rename).
#[derive(Clone, Debug)]
pub struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    /// Uses `dir`, created by the first [`put`](SummaryCache::put) (so a run that fails early
    /// leaves nothing behind).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }
}

impl SummaryCache for DirCache {
    fn get(&mut self, key: &str) -> Result<Option<Summary>, CacheError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            // A corrupt entry is summarized again and overwritten.
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CacheError::Io { path, source }),
        }
    }

    fn put(&mut self, key: &str, summary: &Summary) -> Result<(), CacheError> {
        let path = self.path(key);
        std::fs::create_dir_all(&self.dir).map_err(|source| CacheError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let partial = self.dir.join(format!("{key}.json.partial"));
        let bytes = serde_json::to_vec(summary).map_err(|err| CacheError::Io {
            path: path.clone(),
            source: err.into(),
        })?;
        std::fs::write(&partial, bytes).map_err(|source| CacheError::Io {
            path: partial.clone(),
            source,
        })?;
        std::fs::rename(&partial, &path).map_err(|source| CacheError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn info(model: Option<&str>) -> SummarizerInfo {
        SummarizerInfo {
            kind: "chatCompletions".into(),
            model: model.map(str::to_owned),
            version: "1".into(),
        }
    }

    #[test]
    fn cache_keys_change_with_every_part() {
        let base = cache_key("text", "v1", &info(Some("m")));
        assert_eq!(base, cache_key("text", "v1", &info(Some("m"))));
        assert_ne!(base, cache_key("text2", "v1", &info(Some("m"))));
        assert_ne!(base, cache_key("text", "v2", &info(Some("m"))));
        assert_ne!(base, cache_key("text", "v1", &info(Some("n"))));
        assert_ne!(base, cache_key("text", "v1", &info(None)));
        // Length prefixes: moving a boundary changes the key.
        assert_ne!(
            cache_key("ab", "c", &info(None)),
            cache_key("a", "bc", &info(None))
        );
    }

    fn profile(
        kind: &str,
        model: Option<&str>,
        url: Option<&str>,
    ) -> gitview_crds::wire::RunProfile {
        serde_json::from_value(serde_json::json!({
            "name": "default", "runnerImage": "runner:1", "canary": false,
            "stages": {"summarize": {"summarizer": kind, "model": "settings-model",
                                      "baseUrl": "http://settings.example/v1"}},
            "summarizer": kind, "model": model, "llmBaseUrl": url,
        }))
        .unwrap()
    }

    #[test]
    fn profiles_choose_the_summarizer() {
        let extractive = summarizer_for(&profile("Extractive", None, None), None, None).unwrap();
        assert_eq!(extractive.info().kind, "extractive");
        let chat = summarizer_for(
            &profile(
                "ChatCompletions",
                Some("run-model"),
                Some("http://run.example/v1"),
            ),
            None,
            None,
        )
        .unwrap();
        assert_eq!(chat.info().model.as_deref(), Some("run-model"));
        let fallback = summarizer_for(&profile("ChatCompletions", None, None), None, None).unwrap();
        assert_eq!(fallback.info().model.as_deref(), Some("settings-model"));
        let missing = summarizer_for(
            &profile("ChatCompletions", None, None),
            Some(Path::new("/nonexistent/llm-api-key")),
            None,
        );
        assert!(matches!(missing, Err(SummarizeError::KeyFile { .. })));

        let anthropic = summarizer_for(
            &profile("AnthropicMessages", Some("claude-test"), None),
            None,
            None,
        )
        .unwrap();
        assert_eq!(anthropic.info().kind, anthropic::KIND);
        assert_eq!(anthropic.info().model.as_deref(), Some("claude-test"));
        // Critical mode changes the version, so the cache keeps its summaries apart.
        let mut critical = profile("AnthropicMessages", Some("claude-test"), None);
        critical.stages.summarize.critical = Some(gitview_crds::v1alpha1::CriticalSettings {
            goals: vec!["Fewer bugs".into()],
            directives: None,
        });
        let critical = summarizer_for(&critical, None, None).unwrap().info();
        assert!(
            critical
                .version
                .starts_with(&format!("{}+critical-", anthropic::MESSAGES_VERSION)),
            "{critical:?}"
        );
        assert_ne!(critical.version, anthropic.info().version);
        let no_model: gitview_crds::wire::RunProfile = serde_json::from_value(serde_json::json!({
            "name": "default", "runnerImage": "runner:1", "canary": false,
            "stages": {"summarize": {"summarizer": "AnthropicMessages"}},
            "summarizer": "AnthropicMessages",
        }))
        .unwrap();
        assert!(matches!(
            summarizer_for(&no_model, None, None),
            Err(SummarizeError::Config(_))
        ));
    }

    #[test]
    fn the_directory_cache_returns_what_was_put() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = DirCache::new(&dir.path().join("cache"));
        assert!(
            !dir.path().join("cache").exists(),
            "created on the first put"
        );
        let summary = Summary {
            text: "t".into(),
            commits: vec!["a".into()],
            usage: None,
        };
        assert_eq!(cache.get("k").unwrap(), None);
        cache.put("k", &summary).unwrap();
        assert_eq!(cache.get("k").unwrap(), Some(summary.clone()));
        std::fs::write(dir.path().join("cache/k.json"), "{not json").unwrap();
        assert_eq!(cache.get("k").unwrap(), None, "a corrupt entry is a miss");
    }
}
