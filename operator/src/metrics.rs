//! Prometheus metrics of the operator.

use std::sync::Mutex;
use std::time::Duration;

use gitview_crds::v1alpha1::{Analysis, AnalysisPhase};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ErrorClass;

type Labels = Vec<(&'static str, String)>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The operator's metrics. Cheap to update from any task.
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    pod_latency: Histogram,
    analyses: Family<Labels, Gauge>,
    leader: Gauge,
    janitor_deletions: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitview_operator");
        let reconciles = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            reconcile_histogram,
        );
        let pod_latency = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let analyses = Family::<Labels, Gauge>::default();
        let leader = Gauge::default();
        let janitor_deletions = Family::<Labels, Counter>::default();
        registry.register("reconciles", "Reconciles completed", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles failed, by error class",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of successful reconciles",
            duration.clone(),
        );
        registry.register(
            "analysis_pod_creation_latency_seconds",
            "Time from an Analysis's creation to the creation of its first runner pod",
            pod_latency.clone(),
        );
        registry.register(
            "analyses",
            "Analyses in the cache, by phase",
            analyses.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "janitor_deletions",
            "Objects the janitor deleted, by kind",
            janitor_deletions.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            reconciles,
            errors,
            duration,
            pod_latency,
            analyses,
            leader,
            janitor_deletions,
        }
    }
}

impl Metrics {
    pub fn observe_reconcile(&self, controller: &'static str, took: Duration) {
        self.reconciles
            .get_or_create(&vec![("controller", controller.to_owned())])
            .inc();
        self.duration
            .get_or_create(&vec![("controller", controller.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn observe_error(&self, controller: &'static str, class: ErrorClass) {
        self.errors
            .get_or_create(&vec![
                ("controller", controller.to_owned()),
                ("class", class.as_str().to_owned()),
            ])
            .inc();
    }

    pub fn observe_pod_latency(&self, latency: jiff::SignedDuration) {
        self.pod_latency.observe(latency.as_secs_f64().max(0.0));
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn observe_janitor_deletion(&self, kind: &'static str) {
        self.janitor_deletions
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Renders the text exposition, counting Analyses by phase from the cache first.
    pub fn render(&self, analyses: Option<&Store<DeserializeGuard<Analysis>>>) -> String {
        if let Some(store) = analyses {
            let mut counts = [0i64; 6];
            for guard in store.state() {
                let Some(an) = crate::guard::ok(&guard) else {
                    continue;
                };
                let index = match an.status.as_ref().and_then(|s| s.phase) {
                    None => 0,
                    Some(AnalysisPhase::Pending) => 1,
                    Some(AnalysisPhase::Running) => 2,
                    Some(AnalysisPhase::Retrying) => 3,
                    Some(AnalysisPhase::Succeeded) => 4,
                    Some(AnalysisPhase::Failed) => 5,
                };
                counts[index] += 1;
            }
            for (phase, count) in [
                "New",
                "Pending",
                "Running",
                "Retrying",
                "Succeeded",
                "Failed",
            ]
            .into_iter()
            .zip(counts)
            {
                self.analyses
                    .get_or_create(&vec![("phase", phase.to_owned())])
                    .set(count);
            }
        }
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_observed() {
        let m = Metrics::default();
        m.observe_reconcile("analysis", Duration::from_millis(3));
        m.observe_error("analysis", ErrorClass::Conflict);
        m.observe_pod_latency(jiff::SignedDuration::from_millis(250));
        m.set_leader(true);
        let text = m.render(None);
        assert!(
            text.contains("gitview_operator_reconciles_total{controller=\"analysis\"} 1"),
            "{text}"
        );
        assert!(text.contains("gitview_operator_reconcile_errors_total{controller=\"analysis\",class=\"conflict\"} 1"), "{text}");
        assert!(
            text.contains("gitview_operator_analysis_pod_creation_latency_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("gitview_operator_leader 1"), "{text}");
    }
}
