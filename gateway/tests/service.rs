//! The service routes over HTTP: `/openapi.json` and `/metrics` without a credential, the
//! metrics' series and labels after a few requests, and the rejections axum would answer in
//! plain text (bad path segments, unknown methods) in the one JSON error shape.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, batch, commit};
use reqwest::StatusCode;
use serde_json::Value;

/// The value of the series `name{labels}` (labels exactly as rendered), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_rows_written() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "metrics").await.secret;
    for id in ["one", "two"] {
        let (status, _) = gw.get(&key, &format!("/v1/analyses/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = gw.get(&key, "/v1/analyses").await;
    assert_eq!(status, StatusCode::OK);
    let _ = gw.get(&key, "/no/such/route").await;
    gw.start_run("team-a", "uid-m", "https://example.com/a.git")
        .await;
    let c1 = commit(1, &[]);
    let c2 = commit(2, std::slice::from_ref(&c1.id));
    let (status, body) = gw
        .post(
            &gw.token("team-a", "uid-m"),
            "/v1/runs/uid-m/commits",
            &batch(0, &[c1, c2]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let response = gw.http.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = response.text().await.unwrap();
    let series = |s: &str| sample(&metrics, s).unwrap_or_else(|| panic!("no {s} in\n{metrics}"));
    assert_eq!(
        series(
            r#"gitview_gateway_http_requests_total{method="GET",route="/v1/analyses/{id}",status_class="4xx"}"#
        ),
        2.0,
        "by template, not by raw path"
    );
    assert_eq!(
        series(
            r#"gitview_gateway_http_request_duration_seconds_count{method="GET",route="/v1/analyses",status_class="2xx"}"#
        ),
        1.0
    );
    assert_eq!(
        series(
            r#"gitview_gateway_http_requests_total{method="GET",route="unmatched",status_class="4xx"}"#
        ),
        1.0
    );
    assert_eq!(
        series(
            r#"gitview_gateway_http_requests_total{method="POST",route="/v1/runs/{analysis}/commits",status_class="2xx"}"#
        ),
        1.0
    );
    assert_eq!(
        series(r#"gitview_gateway_rows_written_total{table="commits"}"#),
        2.0
    );
    assert_eq!(
        series(r#"gitview_gateway_rows_written_total{table="commit_files"}"#),
        4.0
    );
    assert!(series("gitview_gateway_db_pool_connections") >= 1.0);
    assert!(sample(&metrics, "gitview_gateway_db_pool_idle_connections").is_some());
    assert_eq!(series("gitview_gateway_db_pool_max_connections"), 8.0);
    assert!(
        !metrics.contains("/v1/analyses/one"),
        "raw paths leak into labels"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_credential() {
    let gw = Gateway::start().await;
    let response = gw.http.get(gw.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc, gitview_gateway::openapi::document());
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// Asserts a response is the one error shape with `status` and `code`.
async fn json_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["requestId"], id.as_str(), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

#[tokio::test]
async fn what_axum_rejects_in_plain_text_answers_in_the_error_shape() {
    let gw = Gateway::start().await;
    let key = gw.create_key("team-a", "rejections").await.secret;
    // A path segment that is not UTF-8 once percent-decoded.
    let response = gw
        .http
        .get(gw.url("/v1/analyses/%FF%FE"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    json_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    // NULs reach PostgreSQL's text type (in a path segment, in a query parameter): a 400,
    // not a 500.
    gw.start_run("team-a", "uid-x", "https://example.com/x.git")
        .await;
    for path in [
        "/v1/analyses/a%00b/commits",
        "/v1/analyses/uid-x/commits?author=a%00b",
    ] {
        let response = gw
            .http
            .get(gw.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        json_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // A method the route does not answer.
    let response = gw.http.delete(gw.url("/v1/analyses")).send().await.unwrap();
    json_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // A runner route's path segment that is not UTF-8.
    let token = gw.token("team-a", "uid-x");
    let response = gw
        .http
        .put(gw.url("/v1/runs/uid-x/artifacts/%FF"))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    json_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    // An artifact over what can be stored (artifacts are streamed, not bound by the body
    // limit: without an object store, over the inline threshold).
    let response = gw
        .http
        .put(gw.url("/v1/runs/uid-x/artifacts/big.bin"))
        .bearer_auth(&token)
        .body(vec![b'x'; gitview_gateway::api::INLINE_ARTIFACT_LIMIT + 1])
        .send()
        .await
        .unwrap();
    json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Counts past PostgreSQL's bigint are refused, never wrapped or sent to the database.
    let (status, body) = gw
        .post(
            &token,
            "/v1/runs/uid-x/progress",
            &serde_json::json!({"stage": "extract", "done": u64::MAX, "total": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut huge = commit(1, &[]);
    huge.files[0].added = Some(u64::MAX);
    let (status, body) = gw
        .post(&token, "/v1/runs/uid-x/commits", &batch(0, &[huge]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut overflow = commit(2, &[]);
    overflow.files[0].added = Some(i64::MAX as u64);
    overflow.files[1].added = Some(1);
    let (status, body) = gw
        .post(&token, "/v1/runs/uid-x/commits", &batch(0, &[overflow]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Text PostgreSQL cannot store, in a runner body.
    let mut body = common::start_body("https://example.com/x.git");
    body["namespace"] = "a\u{0}b".into();
    let (status, body) = gw.post(&token, "/v1/runs/uid-x/start", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "bad_request");
}
