//! The runner reading a repository's stored history from the gateway's stream
//! (`GatewayClient::stored_history`), against a local server speaking real HTTP/1.1: a whole
//! stream is the history, oldest first; a stream that lacks its end line, miscounts, or whose
//! connection is cut mid-body is a retryable error, never a shorter history; a transient
//! answer is retried as every gateway call is. (The real gateway's side, on PostgreSQL, is
//! `gateway/tests/history_stream.rs`; the whole update through it is `pod_run.rs`.)
#![expect(
    clippy::unwrap_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;

use gitview_core::records::{CommitRecord, Person};
use gitview_core::results::{StoredCommit, StoredHistoryCount, StoredHistoryEnd};
use gitview_runner::sink::SinkError;
use gitview_runner::sink::gateway::GatewayClient;

/// Serves `answers` in order, one a connection (each then closed), and sends each request's
/// head (request line and headers) to the returned channel.
fn serve(answers: Vec<Vec<u8>>) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, received) = mpsc::channel();
    std::thread::spawn(move || {
        for answer in answers {
            let (mut socket, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(socket.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            heads.send(head).unwrap();
            // The client may have given up on a cut answer already.
            let _ = socket.write_all(&answer);
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    });
    (addr, received)
}

/// A 200 with `body` as NDJSON; with `cut`, the head promises more than the body holds.
fn ndjson(body: &str, cut: bool) -> Vec<u8> {
    let length = if cut { body.len() + 100 } else { body.len() };
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {length}\r\n\
         connection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

fn unavailable() -> Vec<u8> {
    let body = r#"{"code":"unavailable","message":"the database is unavailable","requestId":"r1"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn record(n: u8) -> CommitRecord {
    let person = Person {
        name: "ada".into(),
        email: "ada@example.com".into(),
        time: format!("2024-01-{n:02}T10:00:00+00:00"),
        canonical: None,
    };
    CommitRecord {
        id: format!("{n:02x}").repeat(20),
        parents: vec![],
        author: person.clone(),
        committer: person,
        message: format!("change {n}\n"),
        files: vec![],
        renames: vec![],
    }
}

/// The lines of `n` commits, oldest first, and an end line counting `count`.
fn stream(n: u8, count: Option<u64>) -> String {
    let mut text = String::new();
    for i in 1..=n {
        let line = StoredCommit {
            record: record(i),
            enrichment: serde_json::json!({"class": "feature"}),
        };
        text += &(serde_json::to_string(&line).unwrap() + "\n");
    }
    if let Some(commits) = count {
        let end = StoredHistoryEnd {
            end: StoredHistoryCount { commits },
        };
        text += &(serde_json::to_string(&end).unwrap() + "\n");
    }
    text
}

fn read(answers: Vec<Vec<u8>>) -> (Result<Vec<String>, SinkError>, Vec<String>) {
    let (history, heads) = read_scrubbed(answers);
    (history.map(|(ids, _)| ids), heads)
}

/// The ids a stream carried and whether it said they come scrubbed.
type Scrubbed = Result<(Vec<String>, bool), SinkError>;

/// [`read`], with whether the answer said its commits come scrubbed.
fn read_scrubbed(answers: Vec<Vec<u8>>) -> (Scrubbed, Vec<String>) {
    let (addr, heads) = serve(answers);
    let client = GatewayClient::new(&format!("http://{addr}"), "uid-1", "the-token").unwrap();
    let history = client.stored_history().map(|(commits, scrubbed)| {
        let ids = commits
            .into_iter()
            .map(|commit| commit.record.id)
            .collect::<Vec<_>>();
        (ids, scrubbed)
    });
    (history, heads.try_iter().collect())
}

#[test]
fn the_gateway_says_whether_the_commits_come_scrubbed() {
    let whole = ndjson(&stream(1, Some(1)), false);
    let with = |value: &str| {
        let text = String::from_utf8(whole.clone()).unwrap();
        text.replacen(
            "\r\n\r\n",
            &format!("\r\ngitview-scrubbed: {value}\r\n\r\n"),
            1,
        )
        .into_bytes()
    };
    for (answer, said) in [
        (with("true"), true),
        (with("false"), false),
        (whole.clone(), false),
    ] {
        let (history, _) = read_scrubbed(vec![answer]);
        assert_eq!(history.unwrap().1, said);
    }
}

#[test]
fn a_whole_stream_is_the_history_oldest_first() {
    let (history, heads) = read(vec![ndjson(&stream(3, Some(3)), false)]);
    assert_eq!(
        history.unwrap(),
        [1u8, 2, 3].map(|n| format!("{n:02x}").repeat(20))
    );
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("GET /v1/runs/uid-1/history/stream HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer the-token\r\n"),
        "{}",
        heads[0]
    );
}

#[test]
fn a_stream_cut_short_is_a_retryable_error_not_a_shorter_history() {
    for (answer, says) in [
        // The gateway's read failed after two commits: no end line.
        (ndjson(&stream(2, None), false), "without its end line"),
        (
            ndjson(&stream(3, Some(4)), false),
            "counts 4 commits, but 3",
        ),
        // The connection closes mid-body.
        (ndjson(&stream(2, Some(2)), true), "broke off"),
    ] {
        let (history, heads) = read(vec![answer]);
        let err = history.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(matches!(err, SinkError::Unavailable(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(heads.len(), 1, "a cut stream ends the attempt: {heads:?}");
    }
}

#[test]
fn a_transient_answer_is_retried_as_every_call_is() {
    let (history, heads) = read(vec![unavailable(), ndjson(&stream(2, Some(2)), false)]);
    assert_eq!(history.unwrap().len(), 2);
    assert_eq!(heads.len(), 2);
}
