use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::chunk::{Chunk, Phase, PhaseRule};
use crate::enrich::{CommitClass, CommitFacts};
use crate::summarize::endpoint::RetryPolicy;
use crate::summarize::prompt::{COMBINE_PROMPT, SYSTEM_PROMPT, combine_message};
use crate::summarize::test_server::{Answer, serve};
use crate::summarize::{CombineInput, Summarizer as _, SummaryInput};

const KEY: &str = "sk-ant-test-key";

fn message(text: &str) -> String {
    serde_json::json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 120, "output_tokens": 30}
    })
    .to_string()
}

fn ok() -> Answer {
    Answer::Reply("200 OK", "", message("- Parser work (`000000000001`)\n"))
}

/// Anthropic's error body.
fn error(kind: &str, text: &str) -> String {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": text},
                       "request_id": "req_01"})
    .to_string()
}

fn usage() -> TokenUsage {
    TokenUsage {
        prompt_tokens: 120,
        completion_tokens: 30,
        total_tokens: 150,
    }
}

/// A client of the scripted server at `address` with the key [`KEY`], 4 attempts, a 100 ms
/// first backoff and a 300 ms request timeout; waits are recorded, not slept.
fn client(
    address: &str,
    key_dir: &tempfile::TempDir,
) -> (AnthropicSummarizer, Arc<Mutex<Vec<Duration>>>) {
    let key = key_dir.path().join("llm-api-key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let mut config = AnthropicConfig::new(address, "claude-test")
        .with_api_key_file(&key)
        .unwrap();
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(30),
    };
    config.timeout = Duration::from_millis(300);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&waits);
    let summarizer = AnthropicSummarizer::new(config)
        .unwrap()
        .with_sleep(Box::new(move |d| record.lock().unwrap().push(d)));
    (summarizer, waits)
}

fn waits(recorded: &Arc<Mutex<Vec<Duration>>>) -> Vec<Duration> {
    recorded.lock().unwrap().clone()
}

#[test]
fn the_messages_url_is_the_base_and_v1_messages() {
    assert_eq!(
        messages_url(DEFAULT_BASE_URL),
        "https://api.anthropic.com/v1/messages"
    );
    assert_eq!(
        messages_url("http://proxy.example/anthropic/"),
        "http://proxy.example/anthropic/v1/messages"
    );
    assert_eq!(
        messages_url("https://api.anthropic.com/v1"),
        "https://api.anthropic.com/v1/messages"
    );
}

#[test]
fn a_message_speaks_the_protocol_and_brings_its_text_and_usage() {
    let (address, server) = serve([ok()]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let (text, used) = summarizer
        .complete(
            SYSTEM_PROMPT,
            "Phase 1: all\n000000000001 2024-01-01 Ada feature +1 -0 [src] | Add parser\n",
        )
        .unwrap();
    assert_eq!(text, "- Parser work (`000000000001`)");
    assert_eq!(used, usage());
    assert_eq!(summarizer.usage(), usage());
    assert_eq!(summarizer.requests(), (1, 0));
    assert!(waits(&waits_).is_empty());

    let received = server.join().unwrap();
    let (head, body) = &received[0];
    assert!(head.starts_with("POST /v1/messages HTTP/1.1\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains(&format!("x-api-key: {KEY}\r\n")), "{head}");
    assert!(head.contains("anthropic-version: 2023-06-01\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/json\r\n"),
        "{head}"
    );
    assert!(!head.contains("authorization:"), "no bearer header: {head}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["max_tokens"], 800);
    assert_eq!(body["system"], SYSTEM_PROMPT);
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Add parser")
    );
}

fn fact(n: usize) -> CommitFacts {
    CommitFacts {
        id: format!("{n:012}{}", "f".repeat(28)),
        time: 1_700_000_000,
        date: String::new(),
        author: "Ada".into(),
        author_key: "ada@example.com".into(),
        subject: "Add parser".into(),
        class: CommitClass::Feature,
        breaking: false,
        merge: false,
        bot: false,
        files: 1,
        added: 1,
        deleted: 0,
        areas: vec!["src".into()],
        releases: vec![],
        parents: Vec::new(),
    }
}

#[test]
fn the_summarizer_sends_the_shared_prompts_and_finds_its_citations() {
    let (address, server) = serve([ok(), ok()]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, _) = client(&address, &dir);
    let facts = [fact(1), fact(2)];
    let phase = Phase {
        number: 1,
        rule: PhaseRule::Window,
        name: "2023".into(),
        start: 0,
        end: 2,
        releases: vec![],
    };
    let chunk = Chunk {
        phase: 1,
        index: 0,
        start: 0,
        end: 2,
        text: "Phase 1: 2023\n000000000001 … | Add parser\n".into(),
        tokens: 12,
        truncated: false,
    };
    let summary = summarizer
        .summarize(&SummaryInput {
            phase: &phase,
            chunk: &chunk,
            facts: &facts,
        })
        .unwrap();
    assert_eq!(summary.commits, [facts[0].id.clone()]);
    assert_eq!(summary.usage, Some(usage()));
    let combine = CombineInput {
        phase: &phase,
        parts: &[summary.clone(), summary.clone()],
        facts: &facts,
    };
    summarizer.combine(&combine).unwrap();
    assert_eq!(summarizer.info().kind, KIND);
    assert_eq!(summarizer.info().model.as_deref(), Some("claude-test"));

    let received = server.join().unwrap();
    let bodies: Vec<serde_json::Value> = received
        .iter()
        .map(|(_, body)| serde_json::from_str(body).unwrap())
        .collect();
    assert_eq!(bodies[0]["system"], SYSTEM_PROMPT);
    assert_eq!(bodies[0]["messages"][0]["content"], chunk.text);
    assert_eq!(bodies[1]["system"], COMBINE_PROMPT);
    assert_eq!(
        bodies[1]["messages"][0]["content"],
        combine_message(&combine)
    );
}

#[test]
fn a_400_shows_the_providers_message_and_is_not_retried() {
    let (address, server) = serve([Answer::Reply(
        "400 Bad Request",
        "",
        error(
            "invalid_request_error",
            "max_tokens: 800 > 64 is too many for this model",
        ),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(
            err,
            SummarizeError::Status {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains("invalid_request_error: max_tokens: 800 > 64 is too many for this model"),
        "{text}"
    );
    assert!(text.contains("Anthropic Messages"), "{text}");
    assert_eq!(summarizer.requests(), (1, 0));
    assert!(waits(&waits_).is_empty());
    server.join().unwrap();
}

#[test]
fn a_401_is_final_and_the_key_stays_out_of_the_error() {
    // An endpoint that echoes the key it refused.
    let (address, server) = serve([Answer::Reply(
        "401 Unauthorized",
        "",
        error("authentication_error", &format!("invalid x-api-key {KEY}")),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(err, SummarizeError::KeyRefused { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("the API key was refused"), "{err}");
    assert!(err.to_string().contains("authentication_error"), "{err}");
    assert!(!format!("{err:?} {err}").contains(KEY));
    assert!(!format!("{summarizer:?}").contains(KEY));
    assert_eq!(summarizer.requests(), (1, 0));
    assert!(waits(&waits_).is_empty());
    server.join().unwrap();
}

#[test]
fn a_403_is_final_too() {
    let (address, server) = serve([Answer::Reply(
        "403 Forbidden",
        "",
        error("permission_error", "no access to this model"),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, _) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(err, SummarizeError::KeyRefused { status: 403, .. }),
        "{err:?}"
    );
    assert_eq!(summarizer.requests(), (1, 0));
    server.join().unwrap();
}

#[test]
fn a_429_waits_what_retry_after_says_then_succeeds() {
    let (address, server) = serve([
        Answer::Reply(
            "429 Too Many Requests",
            "retry-after: 1\r\nanthropic-ratelimit-requests-remaining: 0\r\n",
            error(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
        ),
        ok(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let (text, used) = summarizer.complete(SYSTEM_PROMPT, "x").unwrap();
    assert_eq!(text, "- Parser work (`000000000001`)");
    assert_eq!(used, usage());
    assert_eq!(summarizer.requests(), (2, 1));
    assert_eq!(waits(&waits_), [Duration::from_secs(1)]);
    assert_eq!(server.join().unwrap().len(), 2);
}

#[test]
fn a_spend_limit_429_is_final() {
    let body = serde_json::json!({"type": "error", "error": {
        "type": "rate_limit_error", "message": "spend limit reached",
        "details": {"error_code": "enforced_spend_limit_reached"}}})
    .to_string();
    let (address, server) = serve([Answer::Reply("429 Too Many Requests", "", body)]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(err, SummarizeError::Rejected { status: 429, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("spend limit reached"), "{err}");
    assert!(waits(&waits_).is_empty());
    server.join().unwrap();
}

#[test]
fn a_529_overloaded_is_retried_with_the_backoff_then_succeeds() {
    let (address, server) = serve([
        Answer::Reply(
            "529 Overloaded",
            "",
            error("overloaded_error", "Overloaded"),
        ),
        ok(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    summarizer.complete(SYSTEM_PROMPT, "x").unwrap();
    assert_eq!(summarizer.requests(), (2, 1));
    assert_eq!(waits(&waits_), [Duration::from_millis(100)]);
    server.join().unwrap();
}

#[test]
fn a_500_on_every_attempt_is_a_retryable_error_in_the_end() {
    let answers = (0..4).map(|_| {
        Answer::Reply(
            "500 Internal Server Error",
            "",
            error("api_error", "Internal server error"),
        )
    });
    let (address, server) = serve(answers);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(
            err,
            SummarizeError::Status {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "another run may succeed");
    assert!(err.to_string().contains("api_error: Internal server error"));
    let ms = Duration::from_millis;
    assert_eq!(waits(&waits_), [ms(100), ms(200), ms(400)]);
    assert_eq!(server.join().unwrap().len(), 4);
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let (address, server) = serve([Answer::Stall, ok()]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let (text, _) = summarizer.complete(SYSTEM_PROMPT, "x").unwrap();
    assert_eq!(text, "- Parser work (`000000000001`)");
    assert_eq!(summarizer.requests(), (2, 1));
    assert_eq!(waits(&waits_), [Duration::from_millis(100)]);
    server.join().unwrap();
}

#[test]
fn answers_too_slow_on_every_attempt_are_a_retryable_timeout() {
    let (address, server) = serve([Answer::Stall, Answer::Stall, Answer::Stall, Answer::Stall]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, _) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    match &err {
        SummarizeError::Http {
            attempts: 4,
            source,
            ..
        } => assert!(source.is_timeout(), "{source:?}"),
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    server.join().unwrap();
}

#[test]
fn a_200_that_is_no_message_is_a_clear_error_and_not_retried() {
    let (address, server) = serve([
        Answer::Reply("200 OK", "", "<html>gateway says hi</html>".into()),
        Answer::Reply("200 OK", "", error("api_error", "surprise")),
        Answer::Reply(
            "200 OK",
            "",
            serde_json::json!({"type": "message", "content": [],
                               "usage": {"input_tokens": 1, "output_tokens": 0}})
            .to_string(),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits_) = client(&address, &dir);
    let expected = [
        "the body starts \"<html>gateway says hi</html>\"",
        "missing field `content`",
        "no text in the message",
    ];
    for expected in expected {
        let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
        assert!(
            matches!(err, SummarizeError::Response { .. }),
            "{expected}: {err:?}"
        );
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(
            text.starts_with("the Anthropic Messages response is not understood: "),
            "{text}"
        );
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert_eq!(summarizer.requests(), (3, 0));
    assert!(waits(&waits_).is_empty());
    server.join().unwrap();
}
