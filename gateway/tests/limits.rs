//! Per-key rate limits over real HTTP: a burst over a key's budget gets 429 with
//! `Retry-After` in the one error shape, the `RateLimit-*` headers count down on every keyed
//! answer (a 404 included), another key is unaffected, and the key works again once the
//! limiter's clock — driven by the test, never slept on — has moved by `Retry-After`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::time::Duration;

use common::Gateway;
use gitview_gateway::kit::limits::{LimitClock, RateLimit};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// Status, `(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)`, `Retry-After`, body.
async fn get(
    gw: &Gateway,
    key: &str,
    path: &str,
) -> (StatusCode, Option<(u64, u64, u64)>, Option<u64>, Value) {
    let response = gw
        .http
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let limits = (|| {
        Some((
            number(&headers, "ratelimit-limit")?,
            number(&headers, "ratelimit-remaining")?,
            number(&headers, "ratelimit-reset")?,
        ))
    })();
    let retry_after = number(&headers, "retry-after");
    (
        response.status(),
        limits,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_key_over_its_budget_waits_retry_after_and_others_do_not() {
    let clock = LimitClock::manual();
    let limiter_clock = clock.clone();
    // 2 requests a second, 3 at once.
    let limit = RateLimit::new(2, 3).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), move |state| {
        state.with_rate_limit(limit, limiter_clock)
    })
    .await;
    let a = gw.create_key("team-a", "busy").await.secret;
    let b = gw.create_key("team-b", "quiet").await.secret;

    // The burst counts down, on successes and on a 404 alike.
    let mut remaining = Vec::new();
    for path in ["/v1/analyses", "/v1/analyses/nope", "/v1/analyses"] {
        let (status, limits, retry_after, body) = get(&gw, &a, path).await;
        assert!(
            matches!(status, StatusCode::OK | StatusCode::NOT_FOUND),
            "{status} {body}"
        );
        let (limit, left, reset) = limits.expect("rate-limit headers on a keyed answer");
        assert_eq!(limit, 3);
        assert!(reset >= 1, "{reset}");
        assert_eq!(retry_after, None);
        remaining.push(left);
    }
    assert_eq!(remaining, [2, 1, 0]);

    // Over the budget: 429 in the one error shape, with Retry-After.
    let (status, limits, retry_after, body) = get(&gw, &a, "/v1/analyses").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert!(body["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    let retry_after = retry_after.expect("Retry-After on a 429");
    assert_eq!(retry_after, 1);
    let (_, left, reset) = limits.expect("rate-limit headers on a 429");
    assert_eq!(left, 0);

    // Another key (of another account) has its own budget.
    let (status, limits, _, _) = get(&gw, &b, "/v1/analyses").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limits.map(|l| l.1), Some(2));

    // Still refused while the clock stands; admitted once it has moved by Retry-After.
    let (status, ..) = get(&gw, &a, "/v1/analyses").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::from_secs(retry_after));
    let (status, limits, retry_after, _) = get(&gw, &a, "/v1/analyses").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retry_after, None);
    // A second refilled two requests (2 a second); this one took one.
    assert_eq!(limits.map(|l| l.1), Some(1));

    // After RateLimit-Reset the whole burst is back.
    clock.advance(Duration::from_secs(reset));
    let (status, limits, ..) = get(&gw, &a, "/v1/analyses").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limits.map(|l| l.1), Some(2));
}

#[tokio::test]
async fn unkeyed_answers_carry_no_rate_limit_headers() {
    let limit = RateLimit::new(1, 1).unwrap();
    let gw = Gateway::start_configured(Some(common::ADMIN_TOKEN), move |state| {
        state.with_rate_limit(limit, LimitClock::manual())
    })
    .await;
    // An unknown key is refused before any budget is taken: 401, no headers.
    let unknown = format!("gvk_{}_{}", "a".repeat(16), "0".repeat(64));
    for _ in 0..3 {
        let (status, limits, ..) = get(&gw, &unknown, "/v1/analyses").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(limits, None);
    }
    // Runner and service routes are not limited.
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert!(response.headers().get("ratelimit-limit").is_none());
    gw.start_run("team-a", "uid-1", "https://git.example.com/org/repo.git")
        .await;
    let token = gw.token("team-a", "uid-1");
    for done in 0..3 {
        let response = gw
            .http
            .post(gw.url("/v1/runs/uid-1/progress"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"stage": "extract", "done": done, "total": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.headers().get("ratelimit-limit").is_none());
    }
}
