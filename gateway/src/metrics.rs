//! Prometheus metrics of the gateway, served at `/metrics` in the text exposition format
//! (the operator's crate, `prometheus-client`, and its conventions).
//!
//! Requests are labelled by method, route *template* (`/v1/analyses/{id}`, never the raw path,
//! so ids cannot explode the series count; `unmatched` for the fallback) and status class
//! (`2xx` … `5xx`). The pool gauges are read from the pool when scraped.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// The labels of a request's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status_class: String,
}

/// The label of a rows-written series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: &'static str,
}

/// The label of the artifact series: where the bytes went (`inline`, `object`), or which
/// object-store operation failed (`write`, `read`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub kind: &'static str,
}

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The gateway's metrics. Cheap to update from any request.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    rows: Family<TableLabels, Counter>,
    artifact_bytes: Family<StoreLabels, Counter>,
    object_store_errors: Family<StoreLabels, Counter>,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    /// Serialises scrapes: the pool gauges are set, then encoded.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitview_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let rows = Family::<TableLabels, Counter>::default();
        let artifact_bytes = Family::<StoreLabels, Counter>::default();
        let object_store_errors = Family::<StoreLabels, Counter>::default();
        let (pool_size, pool_idle, pool_max) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status class",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route template and status class",
            latency.clone(),
        );
        registry.register(
            "rows_written",
            "Rows inserted, by table (commits and their file stats)",
            rows.clone(),
        );
        registry.register(
            "artifact_bytes",
            "Artifact bytes stored, by where: inline (in the row) or object (the object store)",
            artifact_bytes.clone(),
        );
        registry.register(
            "object_store_errors",
            "Object store operations that failed, by kind: write or read",
            object_store_errors.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections in the pool",
            pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections in the pool",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The pool's connection limit",
            pool_max.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            rows,
            artifact_bytes,
            object_store_errors,
            pool_size,
            pool_idle,
            pool_max,
            scrape: Mutex::new(()),
        }
    }
}

/// `2xx`, `4xx`, … of a status code.
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

impl Metrics {
    /// Counts an answered request and its latency.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status_class: status_class(status),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts rows inserted into `table`.
    pub fn rows_written(&self, table: &'static str, rows: u64) {
        self.rows.get_or_create(&TableLabels { table }).inc_by(rows);
    }

    /// Counts the bytes of a stored artifact, `inline` or in the `object` store.
    pub fn artifact_stored(&self, kind: &'static str, bytes: u64) {
        self.artifact_bytes
            .get_or_create(&StoreLabels { kind })
            .inc_by(bytes);
    }

    /// Counts a failed object-store `write` or `read`.
    pub fn object_store_failed(&self, kind: &'static str) {
        self.object_store_errors
            .get_or_create(&StoreLabels { kind })
            .inc();
    }

    /// The text exposition, with the pool's current figures.
    pub fn render(&self, pool: &PgPool) -> String {
        let _scrape = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.pool_size.set(i64::from(pool.size()));
        self.pool_idle
            .set(i64::try_from(pool.num_idle()).unwrap_or(i64::MAX));
        self.pool_max
            .set(i64::from(pool.options().get_max_connections()));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn requests_are_counted_by_template_and_class() {
        let metrics = Metrics::default();
        metrics.observe_request("GET", "/v1/analyses/{id}", 404, Duration::from_millis(3));
        metrics.observe_request("GET", "/v1/analyses/{id}", 404, Duration::from_millis(5));
        metrics.rows_written("commits", 3);
        let mut out = String::new();
        encode(&mut out, &metrics.registry).expect("encodes");
        assert!(
            out.contains(
                r#"gitview_gateway_http_requests_total{method="GET",route="/v1/analyses/{id}",status_class="4xx"} 2"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"gitview_gateway_http_request_duration_seconds_count{method="GET",route="/v1/analyses/{id}",status_class="4xx"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"gitview_gateway_rows_written_total{table="commits"} 3"#),
            "{out}"
        );
    }
}
