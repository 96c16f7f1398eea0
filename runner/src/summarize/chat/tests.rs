use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::summarize::Summarizer as _;
use crate::summarize::test_server::{Answer, serve};

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(30),
    }
}

fn ok_body() -> String {
    serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": "- Parser work (`000000000001`)\n"}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    })
    .to_string()
}

fn client(
    address: &str,
    key_dir: &tempfile::TempDir,
) -> (ChatSummarizer, Arc<Mutex<Vec<Duration>>>) {
    let key = key_dir.path().join("llm-api-key");
    std::fs::write(&key, "sk-test-key\n").unwrap();
    let mut config = ChatConfig::new(&format!("{address}/v1/"), "test-model")
        .with_api_key_file(&key)
        .unwrap();
    config.retry = policy();
    config.timeout = Duration::from_secs(10);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&waits);
    let summarizer = ChatSummarizer::new(config)
        .unwrap()
        .with_sleep(Box::new(move |d| record.lock().unwrap().push(d)));
    (summarizer, waits)
}

#[test]
fn retries_429_then_500_then_succeeds() {
    let (address, server) = serve(vec![
        (
            "429 Too Many Requests",
            "Retry-After: 2\r\n",
            r#"{"error":"slow down"}"#.into(),
        ),
        (
            "500 Internal Server Error",
            "",
            r#"{"error":"oops"}"#.into(),
        ),
        ("200 OK", "", ok_body()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
    let (text, usage) = summarizer
        .complete(
            SYSTEM_PROMPT,
            "Phase 1: all\n000000000001 2024-01-01 Ada feature +1 -0 [src] | Add parser\n",
        )
        .unwrap();
    assert_eq!(text, "- Parser work (`000000000001`)");
    assert_eq!(
        usage,
        TokenUsage {
            prompt_tokens: 120,
            completion_tokens: 30,
            total_tokens: 150
        }
    );
    assert_eq!(summarizer.usage(), usage);
    assert_eq!(summarizer.requests(), (3, 2));
    // Retry-After for the 429, then the backoff of a second failed attempt.
    assert_eq!(
        *waits.lock().unwrap(),
        [Duration::from_secs(2), Duration::from_millis(200)]
    );

    let received = server.join().unwrap();
    assert_eq!(received.len(), 3);
    for (head, body) in &received {
        assert!(
            head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer sk-test-key\r\n"),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][0]["content"], SYSTEM_PROMPT);
        assert!(
            body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("Add parser")
        );
    }
}

#[test]
fn a_401_is_a_refused_key_final_and_the_key_stays_out_of_errors() {
    let (address, server) = serve(vec![(
        "401 Unauthorized",
        "",
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#.into(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(
            &err,
            SummarizeError::KeyRefused { status: 401, message, .. }
                if message == "Incorrect API key provided"
        ),
        "{err:?}"
    );
    // The same words as the Messages client's refusal.
    assert!(err.to_string().contains("the API key was refused"), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.leaves_the_model_out());
    assert!(waits.lock().unwrap().is_empty());
    assert_eq!(summarizer.requests(), (1, 0));
    assert!(!format!("{err:?} {err}").contains("sk-test-key"));
    assert!(!format!("{summarizer:?}").contains("sk-test-key"));
    server.join().unwrap();
}

#[test]
fn a_403_is_a_refused_key_too_whatever_the_body() {
    let (address, server) = serve(vec![("403 Forbidden", "", "not json".to_owned())]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(&err, SummarizeError::KeyRefused { status: 403, message, .. } if message == "not json"),
        "{err:?}"
    );
    assert!(waits.lock().unwrap().is_empty());
    server.join().unwrap();
}

#[test]
fn other_client_errors_are_not_retried() {
    let (address, server) = serve(vec![(
        "400 Bad Request",
        "",
        r#"{"error":{"message":"bad model"}}"#.into(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
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
    assert!(waits.lock().unwrap().is_empty());
    server.join().unwrap();
}

#[test]
fn gives_up_after_the_last_attempt() {
    let answers = (0..4)
        .map(|_| ("503 Service Unavailable", "", "{}".to_owned()))
        .collect::<Vec<_>>();
    let (address, server) = serve(answers);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(
            err,
            SummarizeError::Status {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(waits.lock().unwrap().len(), 3);
    assert_eq!(server.join().unwrap().len(), 4);
}

#[test]
fn an_unreachable_endpoint_is_a_transport_error() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&format!("http://127.0.0.1:{port}"), &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(err, SummarizeError::Http { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(waits.lock().unwrap().len(), 3);
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let (address, server) = serve([Answer::Stall, Answer::Reply("200 OK", "", ok_body())]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("llm-api-key");
    std::fs::write(&key, "sk-test-key\n").unwrap();
    let mut config = ChatConfig::new(&format!("{address}/v1"), "test-model")
        .with_api_key_file(&key)
        .unwrap();
    config.retry = policy();
    config.timeout = Duration::from_millis(300);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&waits);
    let mut summarizer = ChatSummarizer::new(config)
        .unwrap()
        .with_sleep(Box::new(move |d| record.lock().unwrap().push(d)));
    let (text, _) = summarizer.complete(SYSTEM_PROMPT, "x").unwrap();
    assert_eq!(text, "- Parser work (`000000000001`)");
    assert_eq!(summarizer.requests(), (2, 1));
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(100)]);
    assert_eq!(server.join().unwrap().len(), 2);
}

#[test]
fn critical_mode_sends_the_goals_with_every_prompt() {
    let (address, server) = serve([
        Answer::Reply("200 OK", "", ok_body()),
        Answer::Reply("200 OK", "", ok_body()),
    ]);
    let mut config = ChatConfig::new(&format!("{address}/v1"), "test-model");
    config.retry = policy();
    config.critical = Some(crate::summarize::critical_block(
        &["Fewer bugs".to_owned(), "  Monthly releases ".to_owned()],
        Some("Be blunt."),
    ));
    let mut summarizer = ChatSummarizer::new(config).unwrap();
    assert!(summarizer.info().version.starts_with("chat-1+critical-"));
    summarizer
        .prose(super::super::OVERVIEW_PROMPT, "facts")
        .unwrap()
        .unwrap();
    summarizer.complete(SYSTEM_PROMPT, "x").unwrap();
    let received = server.join().unwrap();
    let system = |i: usize| {
        let body: serde_json::Value = serde_json::from_str(&received[i].1).unwrap();
        body["messages"][0]["content"].as_str().unwrap().to_owned()
    };
    let overview = system(0);
    assert!(
        overview.starts_with(super::super::OVERVIEW_PROMPT),
        "{overview}"
    );
    assert!(
        overview.contains("not a celebration")
            && overview
                .ends_with("Goals:\n- Fewer bugs\n- Monthly releases\nDirectives: Be blunt.\n"),
        "{overview}"
    );
    // `complete` is the raw call: the prompt as given.
    assert_eq!(system(1), SYSTEM_PROMPT);
}
