//! The egress policy at connect time, for every way the runner (and the operator's polls,
//! which list branches through the same code) reaches out on a tenant's behalf: fetches and
//! branch listings over http(s), git:// and ssh://, and the model clients (chat-completions
//! and Anthropic Messages).
//!
//! The test runs itself again in network and mount namespaces of its own
//! (`gitview_egress::testing`): loopback there carries 169.254.169.254 and fd00:ec2::254, a
//! listener on each records every connection, and `/etc/hosts` maps names to them. Every
//! spelling of a refused address, names that resolve to one, and redirects from an allowed
//! server to one are tried: each must fail with the refusal naming the address, and **no
//! connection may arrive**. Then the same addresses under a policy that allows link-local
//! addresses must arrive, which shows the listeners would have seen them. Skipped, saying
//! so, where namespaces cannot be made (not root).
#![expect(
    clippy::unwrap_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::net::IpAddr;

use gitview_egress::Policy;
use gitview_egress::testing::{self, REFUSED_V4, REFUSED_V6, Recorder};
use gitview_git::fetch::{self, Credentials, FetchError, FetchRequest};
use gitview_runner::summarize::SummarizeError;
use gitview_runner::summarize::anthropic::AnthropicSummarizer;
use gitview_runner::summarize::chat::{ChatConfig, ChatSummarizer};
use gitview_runner::summarize::endpoint::ModelConfig;

fn fetch_with(url: &str, policy: Policy) -> Result<fetch::Fetched, FetchError> {
    let dest = tempfile::tempdir().unwrap();
    let mut request = FetchRequest::new(url, dest.path().join("repo.git"));
    request.egress = Some(policy);
    fetch::fetch(&request)
}

fn list_with(url: &str, policy: Policy) -> Result<Vec<(String, gix::ObjectId)>, FetchError> {
    let scratch = tempfile::tempdir().unwrap();
    fetch::list_branches(
        url,
        &Credentials::none(),
        &scratch.path().join("repo"),
        Some(policy),
    )
}

#[test]
fn no_connection_reaches_a_refused_address() {
    const NAME: &str = "no_connection_reaches_a_refused_address";
    if !testing::is_inside() {
        if let Some(why) = testing::unavailable() {
            eprintln!("SKIPPED: {why}; the egress policy is untested at connect time");
            return;
        }
        let output = testing::rerun_inside(&["--exact", NAME, "--nocapture", "--test-threads=1"])
            .expect("run the test in its own namespaces");
        let shown = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "inside the namespaces:\n{shown}");
        assert!(
            shown.contains("1 passed"),
            "the test did not run inside:\n{shown}"
        );
        return;
    }

    let scratch = tempfile::tempdir().unwrap();
    let v4 = IpAddr::V4(REFUSED_V4);
    let v6 = IpAddr::V6(REFUSED_V6);
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    testing::set_up(
        scratch.path(),
        &[
            ("evil.test", v4),
            ("evil6.test", v6),
            ("metadata.google.internal", v4),
            ("allowed.test", local),
            // A name that answers with an allowed and a refused address (DNS rebinding).
            ("mixed.test", local),
            ("mixed.test", v4),
        ],
        false,
    )
    .expect("set up the namespace");
    let recorder = Recorder::listen(&[80, 443, 9418, 22]).expect("listen on the refused addresses");
    let to_literal = testing::redirector("http://169.254.169.254").unwrap();
    let to_name = testing::redirector("http://evil.test").unwrap();
    let restricted = Policy::restricted();

    // (url, the address the refusal must name)
    let fetches: Vec<(String, &str)> = vec![
        ("http://0xa9fea9fe/org/repo".into(), "169.254.169.254"),
        ("http://2852039166/org/repo".into(), "169.254.169.254"),
        (
            "http://0251.0376.0251.0376/org/repo".into(),
            "169.254.169.254",
        ),
        ("https://169.254.43518/org/repo".into(), "169.254.169.254"),
        (
            "http://[::ffff:169.254.169.254]/org/repo".into(),
            "169.254.169.254",
        ),
        ("http://[fd00:ec2::254]/org/repo".into(), "fd00:ec2::254"),
        ("https://evil.test/org/repo".into(), "169.254.169.254"),
        ("http://evil6.test/org/repo".into(), "fd00:ec2::254"),
        ("http://mixed.test/org/repo".into(), "169.254.169.254"),
        (
            "http://metadata.google.internal/computeMetadata/v1".into(),
            "metadata.google.internal",
        ),
        ("git://evil.test/org/repo".into(), "169.254.169.254"),
        ("git://0xa9fea9fe/org/repo".into(), "169.254.169.254"),
        ("git://evil6.test:9418/org/repo".into(), "fd00:ec2::254"),
        ("ssh://git@evil.test/org/repo".into(), "169.254.169.254"),
        ("git@evil6.test:org/repo".into(), "fd00:ec2::254"),
        (
            format!("http://127.0.0.1:{to_literal}/org/repo"),
            "169.254.169.254",
        ),
        (
            format!("http://allowed.test:{to_name}/org/repo"),
            "169.254.169.254",
        ),
    ];
    for (url, address) in &fetches {
        for (what, result) in [
            ("fetch", fetch_with(url, restricted).map(|_| ())),
            ("list_branches", list_with(url, restricted).map(|_| ())),
        ] {
            let err = result.expect_err(&format!("{what} {url} must be refused"));
            assert!(
                matches!(err, FetchError::Refused { .. }),
                "{what} {url}: {err:?}"
            );
            assert!(
                err.is_invalid_input(),
                "{what} {url}: a refusal is no transient failure"
            );
            let message = err.to_string();
            assert!(
                message.contains("refused: it") && message.contains(address),
                "{what} {url}: the refusal names {address}: {message}"
            );
        }
    }

    // The model client: a refused endpoint before any request, a name at connect time, and a
    // redirect from an allowed endpoint, which is not followed at all.
    let chat = |base_url: &str| {
        let mut config = ChatConfig::new(base_url, "model");
        config.egress = Some(restricted);
        config.retry.max_attempts = 1;
        config
    };
    let err = ChatSummarizer::new(chat("http://0xa9fea9fe/v1")).expect_err("a refused literal");
    assert!(matches!(err, SummarizeError::Refused(_)), "{err:?}");
    for base_url in [
        "http://evil.test/v1",
        "http://evil6.test:443/v1",
        "https://mixed.test/v1",
    ] {
        let mut client = ChatSummarizer::new(chat(base_url)).unwrap();
        let err = client.complete("system", "user").expect_err(base_url);
        assert!(
            matches!(err, SummarizeError::Refused(_)),
            "{base_url}: {err:?}"
        );
        assert!(!err.is_retryable(), "{base_url}");
        assert_eq!(
            client.requests(),
            (1, 0),
            "{base_url}: refused once, never retried"
        );
    }
    let mut client =
        ChatSummarizer::new(chat(&format!("http://127.0.0.1:{to_literal}/v1"))).unwrap();
    let err = client.complete("system", "user").expect_err("a redirect");
    assert!(
        matches!(err, SummarizeError::Status { status: 302, .. }),
        "a redirect is an answer, not a place to send the key: {err:?}"
    );

    // The Messages client, the same way: it shares the chat client's endpoint, and this shows
    // it takes the policy along.
    let messages = |base_url: &str| {
        let mut config = ModelConfig::new(base_url, "claude-test");
        config.egress = Some(restricted);
        config.retry.max_attempts = 1;
        config
    };
    let err =
        AnthropicSummarizer::new(messages("http://0xa9fea9fe")).expect_err("a refused literal");
    assert!(matches!(err, SummarizeError::Refused(_)), "{err:?}");
    for base_url in [
        "http://evil.test",
        "http://evil6.test:443/v1",
        "https://mixed.test",
        "http://metadata.google.internal",
    ] {
        // A name the policy knows is refused when the client is made; others at connect time.
        let refused = match AnthropicSummarizer::new(messages(base_url)) {
            Ok(mut client) => {
                let err = client.complete("system", "user").expect_err(base_url);
                assert_eq!(
                    client.requests(),
                    (1, 0),
                    "{base_url}: refused once, never retried"
                );
                err
            }
            Err(err) => err,
        };
        assert!(
            matches!(refused, SummarizeError::Refused(_)),
            "{base_url}: {refused:?}"
        );
        assert!(!refused.is_retryable(), "{base_url}");
    }
    let mut client =
        AnthropicSummarizer::new(messages(&format!("http://127.0.0.1:{to_literal}"))).unwrap();
    let err = client.complete("system", "user").expect_err("a redirect");
    assert!(
        matches!(err, SummarizeError::Status { status: 302, .. }),
        "a redirect is an answer, not a place to send the key: {err:?}"
    );

    assert_eq!(recorder.hits(), [], "connections reached a refused address");

    // The listeners would have seen them: with link-local addresses allowed, the same kinds
    // of connection arrive (and fail there, where nothing speaks git).
    let allowing = Policy::new(true);
    for url in [
        "git://evil.test/org/repo",
        "http://0xa9fea9fe/org/repo",
        "http://evil6.test/org/repo",
    ] {
        let err = fetch_with(url, allowing).expect_err("nothing speaks git there");
        assert!(!matches!(err, FetchError::Refused { .. }), "{url}: {err:?}");
    }
    let hits = recorder.hits();
    assert!(
        hits.contains(&std::net::SocketAddr::new(v4, 9418)),
        "{hits:?}"
    );
    assert!(
        hits.contains(&std::net::SocketAddr::new(v4, 80)),
        "{hits:?}"
    );
    assert!(
        hits.contains(&std::net::SocketAddr::new(v6, 80)),
        "{hits:?}"
    );
}
