use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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

/// One scripted HTTP answer: status line, extra headers, body.
type Answer = (&'static str, &'static str, String);

/// Serves `answers` on 127.0.0.1, one connection each; returns the address and the requests
/// received (head and body).
fn serve(answers: Vec<Answer>) -> (String, JoinHandle<Vec<(String, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut received = Vec::new();
        for (status, headers, body) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            received.push((head, String::from_utf8(request_body).unwrap()));
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            stream.flush().unwrap();
        }
        received
    });
    (address, handle)
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
fn client_errors_are_not_retried_and_the_key_stays_out_of_errors() {
    let (address, server) = serve(vec![(
        "401 Unauthorized",
        "",
        r#"{"error":"bad key"}"#.into(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (mut summarizer, waits) = client(&address, &dir);
    let err = summarizer.complete(SYSTEM_PROMPT, "x").unwrap_err();
    assert!(
        matches!(
            err,
            SummarizeError::Status {
                status: 401,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(waits.lock().unwrap().is_empty());
    assert!(!format!("{err:?} {err}").contains("sk-test-key"));
    assert!(!format!("{summarizer:?}").contains("sk-test-key"));
    server.join().unwrap();
}

#[test]
fn gives_up_after_the_last_attempt() {
    let answers = (0..4)
        .map(|_| ("503 Service Unavailable", "", "{}".to_owned()))
        .collect();
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
