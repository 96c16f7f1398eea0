//! Scenario tests: each reconcile runs against a mock API server that checks the exact
//! sequence of requests the operator makes, and answers as the API server would.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, AnalysisProfile, AnalysisStatus};
use gitview_operator::account::Accounts;
use gitview_operator::analysis::observe::Stores;
use gitview_operator::analysis::{Context, reconcile};
use gitview_operator::fixtures::*;
use gitview_operator::leader::{LeaseLock, Timing, run_while_leader};
use gitview_operator::metrics::Metrics;
use gitview_operator::settings::Settings;
use gitview_operator::token::TokenSigner;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Client;
use kube::api::{Api, PartialObjectMeta};
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A request the operator is expected to make next.
#[derive(Clone, Copy, Debug)]
enum Call {
    GetNamespace,
    GetPod,
    CreateSecret,
    CreatePod,
    /// A pod create the LimitRanger admission plugin refuses (403).
    RefusePod,
    PatchStatus,
    DeleteSecret,
    ReleasePod,
    DeletePod,
    DeleteAnalysis,
    /// An Event (created, or patched as a series).
    Event,
}

impl Call {
    fn matches(self, method: &Method, path: &str) -> bool {
        let ns = format!("/api/v1/namespaces/{NAMESPACE}");
        let analyses = format!("/apis/gitview.dev/v1alpha1/namespaces/{NAMESPACE}/analyses/");
        match self {
            Self::GetNamespace => method == Method::GET && path == ns,
            Self::GetPod => method == Method::GET && path.starts_with(&format!("{ns}/pods/")),
            Self::CreateSecret => method == Method::POST && path == format!("{ns}/secrets"),
            Self::CreatePod | Self::RefusePod => {
                method == Method::POST && path == format!("{ns}/pods")
            }
            Self::PatchStatus => {
                method == Method::PATCH && path.starts_with(&analyses) && path.ends_with("/status")
            }
            Self::DeleteSecret => {
                method == Method::DELETE && path.starts_with(&format!("{ns}/secrets/"))
            }
            Self::ReleasePod => method == Method::PATCH && path.starts_with(&format!("{ns}/pods/")),
            Self::DeletePod => method == Method::DELETE && path.starts_with(&format!("{ns}/pods/")),
            Self::DeleteAnalysis => method == Method::DELETE && path.starts_with(&analyses),
            Self::Event => path.starts_with(&format!(
                "/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events"
            )),
        }
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

/// One test's world: an Analysis, the caches the operator reads, a mock API server and a clock.
struct Scenario {
    analysis: Analysis,
    pods: Writer<Pod>,
    secrets: Writer<PartialObjectMeta<Secret>>,
    profiles: Writer<DeserializeGuard<AnalysisProfile>>,
    stores: Stores,
    now: Arc<Mutex<Timestamp>>,
    /// Pods the mock API server knows, by name (what a GET returns).
    server_pods: Vec<Pod>,
    last_requeue: Option<Duration>,
    metrics: Arc<Metrics>,
    /// What the next reconcile gets instead of the Analysis (one the operator cannot read).
    guard: Option<DeserializeGuard<Analysis>>,
}

fn signer() -> TokenSigner {
    let pem = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32])
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    TokenSigner::from_pem(pem.as_bytes(), None).unwrap()
}

impl Scenario {
    fn new(analysis: Analysis) -> Self {
        let (pods_store, pods) = reflector::store::<Pod>();
        let (secrets_store, secrets) = reflector::store::<PartialObjectMeta<Secret>>();
        let (profiles_store, mut profiles) =
            reflector::store::<DeserializeGuard<AnalysisProfile>>();
        profiles.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(profile()))));
        Self {
            analysis,
            pods,
            secrets,
            profiles,
            stores: Stores {
                pods: pods_store,
                secrets: secrets_store,
                profiles: profiles_store,
            },
            now: Arc::new(Mutex::new(at(0))),
            server_pods: vec![],
            last_requeue: None,
            metrics: Arc::new(Metrics::default()),
            guard: None,
        }
    }

    fn at(&mut self, seconds: i64) -> &mut Self {
        *self.now.lock().unwrap() = at(seconds);
        self
    }

    fn without_profile(&mut self) -> &mut Self {
        self.profiles
            .apply_watcher_event(&watcher::Event::Delete(DeserializeGuard(Ok(profile()))));
        self
    }

    fn with_profile(&mut self) -> &mut Self {
        self.profiles
            .apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(profile()))));
        self
    }

    /// Changes runner pod `attempt` as the kubelet would, in the cache and on the server.
    fn pod(&mut self, attempt: i32, change: impl FnOnce(Pod) -> Pod) -> &mut Self {
        let name = gitview_operator::analysis::build::attempt_name(
            "demo",
            self.analysis.metadata.uid.as_deref().unwrap(),
            attempt,
        );
        let index = self
            .server_pods
            .iter()
            .position(|p| p.metadata.name.as_deref() == Some(name.as_str()))
            .expect("pod exists");
        let pod = change(self.server_pods[index].clone());
        self.server_pods[index] = pod.clone();
        self.pods.apply_watcher_event(&watcher::Event::Apply(pod));
        self
    }

    /// A pod removed from the cache and the server (force-deleted).
    fn pod_vanishes(&mut self, attempt: i32) -> &mut Self {
        let name = gitview_operator::analysis::build::attempt_name(
            "demo",
            self.analysis.metadata.uid.as_deref().unwrap(),
            attempt,
        );
        let pod = self
            .server_pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap()
            .clone();
        self.server_pods
            .retain(|p| p.metadata.name.as_deref() != Some(name.as_str()));
        self.pods.apply_watcher_event(&watcher::Event::Delete(pod));
        self
    }

    fn phase(&self) -> Option<AnalysisPhase> {
        self.analysis.status.as_ref().and_then(|s| s.phase)
    }

    fn status(&self) -> &AnalysisStatus {
        self.analysis.status.as_ref().unwrap()
    }

    /// Runs one reconcile; the mock API server expects exactly `calls`, in order.
    async fn reconcile(&mut self, calls: &[Call]) -> &mut Self {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let now = self.now.clone();
        let ctx = Arc::new(Context {
            client: client.clone(),
            settings: Settings::default(),
            signer: signer(),
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "gitview-operator".into(),
                    instance: None,
                },
            ),
            metrics: self.metrics.clone(),
            stores: self.stores.clone(),
            clock: Arc::new(move || *now.lock().unwrap()),
            gateway: None,
            accounts: Arc::new(Accounts::default()),
        });
        let server = tokio::spawn(serve(
            handle,
            calls.to_vec(),
            self.server_pods.clone(),
            self.analysis.clone(),
        ));
        let object = self
            .guard
            .take()
            .unwrap_or_else(|| DeserializeGuard(Ok(self.analysis.clone())));
        let action =
            tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(object), ctx))
                .await
                .expect("reconcile finishes")
                .expect("reconcile succeeds");
        let effects = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .unwrap();
        self.last_requeue = requeue_of(&action);
        for effect in effects {
            match effect {
                Effect::Status(status) => {
                    self.analysis.status = Some(serde_json::from_value(status).unwrap());
                }
                Effect::Pod(pod) => {
                    self.server_pods.push((*pod).clone());
                    self.pods.apply_watcher_event(&watcher::Event::Apply(*pod));
                }
                Effect::Secret(secret) => {
                    let meta = PartialObjectMeta::<Secret> {
                        metadata: secret.metadata,
                        ..Default::default()
                    };
                    self.secrets
                        .apply_watcher_event(&watcher::Event::Apply(meta));
                }
                Effect::SecretDeleted(name) => {
                    let meta = PartialObjectMeta::<Secret> {
                        metadata: named_in(&name),
                        ..Default::default()
                    };
                    self.secrets
                        .apply_watcher_event(&watcher::Event::Delete(meta));
                }
                Effect::PodReleased(name) | Effect::PodDeleted(name) => {
                    if let Some(pod) = self
                        .server_pods
                        .iter_mut()
                        .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
                    {
                        pod.metadata.finalizers = None;
                        let pod = pod.clone();
                        self.pods.apply_watcher_event(&watcher::Event::Apply(pod));
                    }
                }
            }
        }
        self
    }
}

fn named_in(name: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let mut meta = named(name);
    meta.namespace = Some(NAMESPACE.to_owned());
    meta
}

/// The requeue of a controller action, read from its Debug form (kube keeps it private).
fn requeue_of(action: &kube::runtime::controller::Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text
        .split("requeue_after: Some(")
        .nth(1)?
        .split(')')
        .next()?;
    let (number, unit) = inner.split_at(inner.find(|c: char| c.is_alphabetic())?);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "s" => Duration::from_secs_f64(value),
        "ms" => Duration::from_secs_f64(value / 1e3),
        "µs" => Duration::from_secs_f64(value / 1e6),
        "ns" => Duration::from_secs_f64(value / 1e9),
        _ => return None,
    })
}

/// What the mock server saw happen.
#[derive(Debug)]
enum Effect {
    Status(Value),
    Pod(Box<Pod>),
    Secret(Box<Secret>),
    SecretDeleted(String),
    PodReleased(String),
    PodDeleted(String),
}

async fn serve(
    mut handle: Handle,
    calls: Vec<Call>,
    pods: Vec<Pod>,
    analysis: Analysis,
) -> Vec<Effect> {
    let mut effects = vec![];
    for (i, call) in calls.iter().enumerate() {
        let (request, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("expected call {i} {call:?}, but none came"));
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        assert!(
            call.matches(&method, &path),
            "call {i}: expected {call:?}, got {method} {path}"
        );
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        let last = path.rsplit('/').next().unwrap_or_default().to_owned();
        let response = match call {
            GetNamespace => respond(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": namespace_labels()}}),
            ),
            GetPod => match pods
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(last.as_str()))
            {
                Some(pod) => respond(StatusCode::OK, &serde_json::to_value(pod).unwrap()),
                None => respond(StatusCode::NOT_FOUND, &not_found()),
            },
            CreateSecret => {
                let secret: Secret = serde_json::from_value(json.clone()).unwrap();
                effects.push(Effect::Secret(Box::new(secret)));
                respond(StatusCode::CREATED, &json)
            }
            CreatePod => {
                let mut pod: Pod = serde_json::from_value(json.clone()).unwrap();
                pod.metadata.resource_version = Some("7".into());
                effects.push(Effect::Pod(Box::new(pod.clone())));
                respond(StatusCode::CREATED, &serde_json::to_value(pod).unwrap())
            }
            RefusePod => {
                let name = json["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let message = format!(
                    "pods \"{name}\" is forbidden: maximum memory usage per Container is 64Mi, but limit is 128Mi"
                );
                respond(
                    StatusCode::FORBIDDEN,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": message}),
                )
            }
            PatchStatus => {
                effects.push(Effect::Status(json["status"].clone()));
                let mut updated = serde_json::to_value(&analysis).unwrap();
                updated["status"] = json["status"].clone();
                respond(StatusCode::OK, &updated)
            }
            DeleteSecret => {
                effects.push(Effect::SecretDeleted(last));
                respond(
                    StatusCode::OK,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                )
            }
            ReleasePod => {
                assert_eq!(
                    json["metadata"]["finalizers"],
                    json!([]),
                    "only our finalizer is removed"
                );
                assert!(
                    json["metadata"]["resourceVersion"].is_string(),
                    "the release is a compare-and-swap"
                );
                let pod = pods
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(last.as_str()))
                    .unwrap();
                effects.push(Effect::PodReleased(last));
                respond(StatusCode::OK, &serde_json::to_value(pod).unwrap())
            }
            DeletePod => {
                let pod = pods
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(last.as_str()))
                    .unwrap();
                effects.push(Effect::PodDeleted(last));
                respond(StatusCode::OK, &serde_json::to_value(pod).unwrap())
            }
            DeleteAnalysis => {
                assert!(
                    json["preconditions"]["uid"].is_string(),
                    "deletes only this incarnation"
                );
                respond(
                    StatusCode::OK,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                )
            }
            Event => respond(StatusCode::CREATED, &json),
        };
        send.send_response(response);
    }
    effects
}

use Call::*;
const START: [Call; 5] = [GetNamespace, CreateSecret, CreatePod, PatchStatus, Event];

#[tokio::test]
async fn first_reconcile_creates_the_secret_then_the_pod_then_writes_status() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Pending));
    assert_eq!(s.status().attempts.len(), 1);
    assert_eq!(s.server_pods.len(), 1);
    assert!(
        s.metrics
            .render(None)
            .contains("analysis_pod_creation_latency_seconds_count 1")
    );
}

#[tokio::test]
async fn a_running_pod_is_one_status_write() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, PodFixture::running)
        .at(5)
        .reconcile(&[PatchStatus])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Running));
    // Nothing changed: no write at all.
    s.at(6).reconcile(&[]).await;
}

#[tokio::test]
async fn a_succeeded_pod_records_then_deletes_the_secret_and_releases_the_pod() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, |p| p.succeeded_with(&outcome_line(7))).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Succeeded));
    assert_eq!(s.status().result.as_ref().unwrap().commits_analyzed, 7);
    assert_eq!(s.last_requeue, None);
    s.at(62).reconcile(&[]).await;
}

#[tokio::test]
async fn a_failed_pod_is_retried_after_the_backoff_by_requeueing() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, |p| p.failed_with(1, "network down")).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Retrying));
    assert_eq!(
        s.last_requeue,
        Some(Duration::from_secs(10)),
        "end 60 rounded up to 61, + 10 s"
    );
    s.at(71).reconcile(&START).await;
    assert_eq!(s.status().attempts.len(), 2);
    assert_eq!(s.server_pods.len(), 2);
}

#[tokio::test]
async fn retries_exhausted_ends_failed() {
    let mut s = Scenario::new(analysis("demo").with_spec(json!({"retryPolicy": {"limit": 0}})));
    s.reconcile(&START).await;
    s.pod(1, |p| p.failed_with(1, "boom")).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event, Event])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(s.last_requeue, None);
}

#[tokio::test]
async fn invalid_input_is_not_retried() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, |p| p.failed_with(2, "unknown ref")).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event, Event])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(s.status().attempts.len(), 1);
}

#[tokio::test]
async fn a_pod_deleted_by_someone_else_is_looked_up_then_recorded() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, PodFixture::running)
        .reconcile(&[PatchStatus])
        .await;
    // Force-deleted without our finalizer: gone from the cache; the operator checks the API
    // server before concluding it is gone.
    s.pod_vanishes(1).at(20);
    s.reconcile(&[GetPod, PatchStatus, DeleteSecret, Event, Event])
        .await;
    assert_eq!(s.status().attempts[0].reason.as_deref(), Some("PodMissing"));
    assert_eq!(s.phase(), Some(AnalysisPhase::Retrying));
}

#[tokio::test]
async fn deadline_exceeded_is_recorded_and_not_retried_by_default() {
    let mut s = Scenario::new(analysis("demo"));
    s.reconcile(&START).await;
    s.pod(1, PodFixture::deadline_exceeded).at(3700);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event, Event])
        .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Failed));
    assert_eq!(
        s.status().attempts[0].reason.as_deref(),
        Some("DeadlineExceeded")
    );
}

#[tokio::test]
async fn ttl_cleanup_resources_deletes_pods_and_keeps_the_analysis() {
    let mut s = Scenario::new(analysis("demo").with_spec(json!({"ttlSecondsAfterFinished": 30})));
    s.reconcile(&START).await;
    s.pod(1, |p| p.succeeded_with(&outcome_line(1))).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event])
        .await;
    assert_eq!(s.last_requeue, Some(Duration::from_secs(29)));
    s.at(90).reconcile(&[DeletePod, Event]).await;
}

#[tokio::test]
async fn ttl_delete_analysis_deletes_it_with_a_uid_precondition() {
    let spec = json!({"ttlSecondsAfterFinished": 30, "ttlPolicy": "DeleteAnalysis"});
    let mut s = Scenario::new(analysis("demo").with_spec(spec));
    s.reconcile(&START).await;
    s.pod(1, |p| p.succeeded_with(&outcome_line(1))).at(61);
    s.reconcile(&[PatchStatus, DeleteSecret, ReleasePod, Event, Event])
        .await;
    s.at(90).reconcile(&[DeleteAnalysis, Event]).await;
}

#[tokio::test]
async fn a_missing_profile_writes_a_stalled_status_and_waits_for_a_watch() {
    let mut s = Scenario::new(analysis("demo"));
    s.without_profile().reconcile(&[PatchStatus, Event]).await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Pending));
    assert_eq!(s.last_requeue, None, "no polling");
    s.at(5).reconcile(&[]).await;
    s.with_profile().at(10).reconcile(&START).await;
}

#[tokio::test]
async fn a_refused_pod_deletes_its_secret_stalls_the_analysis_and_is_not_retried() {
    let mut s = Scenario::new(
        analysis("demo").with_spec(json!({"resources": {"limits": {"memory": "128Mi"}}})),
    );
    // The Secret, the refused pod, the Secret deleted again (no signed token left behind), the
    // status saying why, one Warning.
    s.reconcile(&[
        GetNamespace,
        CreateSecret,
        RefusePod,
        DeleteSecret,
        PatchStatus,
        Event,
    ])
    .await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Pending));
    assert!(s.status().attempts.is_empty());
    let stalled = s
        .status()
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "CreateRejected")
    );
    assert!(
        stalled
            .message
            .contains("maximum memory usage per Container is 64Mi"),
        "{}",
        stalled.message
    );
    assert_eq!(s.last_requeue, None, "no retry loop");
    assert!(
        s.stores.secrets.state().is_empty(),
        "the run Secret is gone"
    );
    assert!(s.server_pods.is_empty());
    // The reconcile its status write brings, and any later one, makes no request at all.
    s.at(5).reconcile(&[]).await;
    s.at(600).reconcile(&[]).await;
    // A new generation of the spec starts the attempt.
    s.analysis = s
        .analysis
        .clone()
        .with_spec(json!({"resources": {"limits": {"memory": "32Mi"}}}));
    s.analysis.metadata.generation = Some(2);
    s.at(700).reconcile(&START).await;
    assert_eq!(s.status().attempts.len(), 1);
    assert!(s.status().rejection.is_none());
}

#[tokio::test]
async fn an_analysis_the_operator_cannot_read_is_skipped_with_one_warning() {
    let mut s = Scenario::new(analysis("demo"));
    let mut unreadable = serde_json::to_value(&s.analysis).unwrap();
    unreadable["spec"]["mode"] = json!({"type": "Sometimes"});
    let guard: DeserializeGuard<Analysis> = serde_json::from_value(unreadable).unwrap();
    assert!(guard.0.is_err());
    // No pod, no Secret, no status: one Warning Event, then it waits for a change.
    s.guard = Some(guard);
    s.reconcile(&[Event]).await;
    assert!(s.analysis.status.is_none() && s.server_pods.is_empty());
    assert_eq!(s.last_requeue, None);
    // Fixed, it runs as any other.
    s.reconcile(&START).await;
    assert_eq!(s.phase(), Some(AnalysisPhase::Pending));
}

#[tokio::test]
async fn losing_the_lease_stops_the_work() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let timing = Timing {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(10),
    };
    let lock = LeaseLock::new(
        Api::<Lease>::namespaced(client, "gitview-system"),
        "leader",
        "replica-a",
        timing,
    );
    let server = tokio::spawn(async move {
        let path = "/apis/coordination.k8s.io/v1/namespaces/gitview-system/leases";
        // Acquire: no lease yet, so create one.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(
            (req.method(), req.uri().path()),
            (&Method::GET, &*format!("{path}/leader"))
        );
        send.send_response(respond(StatusCode::NOT_FOUND, &not_found()));
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!((req.method(), req.uri().path()), (&Method::POST, path));
        let body: Value =
            serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["spec"]["holderIdentity"], "replica-a");
        send.send_response(respond(StatusCode::CREATED, &body));
        // Renew: another replica took the lease in between.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), Method::GET);
        let taken = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "gitview-system", "resourceVersion": "9"},
            "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}});
        send.send_response(respond(StatusCode::OK, &taken));
    });
    let changes = Arc::new(Mutex::new(vec![]));
    let seen = changes.clone();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run_while_leader(
            &lock,
            move |leading| seen.lock().unwrap().push(leading),
            std::future::pending::<()>(),
        ),
    )
    .await
    .expect("leadership loss ends the work");
    assert!(matches!(
        result,
        Err(gitview_operator::Error::LeadershipLost)
    ));
    assert_eq!(*changes.lock().unwrap(), [true, false]);
    server.await.unwrap();
}

#[tokio::test]
async fn a_fresh_lease_held_by_another_replica_is_not_taken() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let lock = LeaseLock::new(
        Api::<Lease>::namespaced(Client::new(service, "default"), "gitview-system"),
        "leader",
        "replica-a",
        Timing::default(),
    );
    let server = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.unwrap();
        let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "gitview-system", "resourceVersion": "3"},
            "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}});
        send.send_response(respond(StatusCode::OK, &held));
        // No write may follow.
        let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
        assert!(!matches!(next, Ok(Some(_))), "a write followed");
    });
    assert!(!lock.try_acquire_or_renew().await.unwrap());
    drop(lock);
    server.await.unwrap();
}
