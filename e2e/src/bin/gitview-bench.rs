//! `gitview-bench`: the operator under a burst, on the real control plane (not a test).
//!
//! ```sh
//! cargo build --release -p gitview-operator -p gitview-runner -p gitview-e2e
//! GITVIEW_CONTROLPLANE_BIN=$(e2e/controlplane/build.sh | tail -1) target/release/gitview-bench [BURST] [FINISHED]
//! ```
//!
//! 1. Starts the control plane, the node agent (the runner exits at once through its test
//!    hook) and the operator (release build, beside this binary).
//! 2. Creates `BURST` (default 1000) Analyses at once and reports the time until all their
//!    runner pods exist, the p50/p99 of Analysis-created → pod-seen (client-side clocks,
//!    millisecond resolution: from the create call's return to the pod's watch event), and
//!    the operator's peak RSS.
//! 3. Stops the operator, adds Analyses up to `FINISHED` (default 10000) with a finished
//!    status, restarts the operator, waits until it has reconciled them all and gone idle,
//!    and reports its steady RSS.
//!
//! Each figure is printed beside its target (the reference): all pods within 10 s,
//! p99 ≤ 1 s, steady RSS ≤ 64 MiB.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{StreamExt as _, TryStreamExt as _};
use gitview_crds::labels;
use gitview_crds::v1alpha1::Analysis;
use gitview_e2e::launcher::ControlPlane;
use gitview_e2e::node_agent::{AgentConfig, NodeAgent};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};

const NAMESPACE: &str = "bench";

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn start_operator(
    dir: &Path,
    plane: &ControlPlane,
    key: &Path,
    port: u16,
) -> anyhow::Result<Child> {
    let log = std::fs::File::create(plane.dir().join(format!("operator-{port}.log")))?;
    Ok(Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--"])
        .arg(dir.join("gitview-operator"))
        .args([
            "--signing-key-file",
            &key.display().to_string(),
            "--leader-election=false",
        ])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--concurrency",
            "32",
        ])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let burst: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let finished_total: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let here = std::env::current_exe()?
        .parent()
        .context("binary dir")?
        .to_owned();
    for binary in ["gitview-operator", "gitview-runner"] {
        if !here.join(binary).exists() {
            bail!(
                "{} missing: cargo build --release -p gitview-operator -p gitview-runner -p gitview-e2e",
                here.join(binary).display()
            );
        }
    }
    let bin = PathBuf::from(
        std::env::var("GITVIEW_CONTROLPLANE_BIN").context("set GITVIEW_CONTROLPLANE_BIN")?,
    );
    let plane = ControlPlane::start(&bin).await?;
    let client = plane.client().await?;
    let kubectl = |args: &[&str]| -> anyhow::Result<()> {
        let status = plane.kubectl().args(args).stdout(Stdio::null()).status()?;
        if !status.success() {
            bail!("kubectl {args:?} failed");
        }
        Ok(())
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repo root")?;
    kubectl(&["apply", "-f", &root.join("crds/yaml").display().to_string()])?;
    kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/analyses.gitview.dev",
        "crd/analysisprofiles.gitview.dev",
    ])?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await?;
    let profile = "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {name: bench}\nspec: {runner: {image: bench/gitview-runner:1}}\n";
    let mut apply = plane
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    std::io::Write::write_all(apply.stdin.as_mut().context("stdin")?, profile.as_bytes())?;
    drop(apply.stdin.take());
    if !apply.wait()?.success() {
        bail!("cannot apply the profile");
    }

    let work = tempfile::Builder::new()
        .prefix("gitview-bench-")
        .tempdir()?;
    let agent = NodeAgent::start(
        client.clone(),
        AgentConfig {
            node_name: "bench-node".into(),
            images: vec![("gitview-runner".into(), here.join("gitview-runner"))],
            work_dir: work.path().join("node"),
            extra_env: vec![("GITVIEW_RUNNER_TEST_EXIT".into(), "0".into())],
        },
    )
    .await?;
    let key = work.path().join("signing.pem");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()?;
    if !status.success() {
        bail!("openssl genpkey failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut operator = start_operator(&here, &plane, &key, port)?;
    let ready_deadline = Instant::now() + Duration::from_secs(60);
    while metric(port, "gitview_operator_leader").is_none_or(|v| v < 1.0) {
        if Instant::now() > ready_deadline {
            bail!("operator not up");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Watch runner pods before the burst; record when each Analysis's first pod appears.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen_writer = seen.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let watch = tokio::spawn(async move {
        let mut stream = watcher(pods, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Ok(Some(pod)) = stream.try_next().await {
            if let Some(name) = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::ANALYSIS))
            {
                seen_writer
                    .lock()
                    .expect("not poisoned")
                    .entry(name.clone())
                    .or_insert_with(Instant::now);
            }
        }
    });

    let analyses: Api<Analysis> = Api::namespaced(client.clone(), NAMESPACE);
    let make = |i: usize| -> Analysis {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "gitview.dev/v1alpha1", "kind": "Analysis",
            "metadata": {"name": format!("an-{i:05}"), "namespace": NAMESPACE},
            "spec": {"repository": {"url": "https://git.example.com/r.git"}, "profile": "bench"}
        }))
        .expect("a valid Analysis")
    };
    eprintln!("bench: creating {burst} Analyses");
    let start = Instant::now();
    let created: Vec<(String, Instant)> = futures::stream::iter(0..burst)
        .map(|i| {
            let analyses = analyses.clone();
            let an = make(i);
            async move {
                let name = an.metadata.name.clone().unwrap_or_default();
                analyses
                    .create(&PostParams::default(), &an)
                    .await
                    .map(|_| (name, Instant::now()))
            }
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let burst_created = start.elapsed();
    let mut peak = 0;
    let all_deadline = Instant::now() + Duration::from_secs(300);
    loop {
        peak = peak.max(rss_kib(operator.id(), "VmHWM:").unwrap_or(0));
        if seen.lock().expect("not poisoned").len() >= burst || Instant::now() > all_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_pods = start.elapsed();
    let seen_map = seen.lock().expect("not poisoned").clone();
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| seen_map.get(name).map(|s| s.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));

    // Let the burst's runs finish, then record the peak.
    let finish_deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = analyses
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|a| {
                a.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(|p| p.is_finished())
            })
            .count();
        peak = peak.max(rss_kib(operator.id(), "VmHWM:").unwrap_or(0));
        if done >= burst || Instant::now() > finish_deadline {
            eprintln!(
                "bench: {done}/{burst} finished after {:.1}s",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    watch.abort();

    // 10,000 finished Analyses: stop the operator, add finished ones, restart, let it settle.
    let _ = operator.kill();
    let _ = operator.wait();
    eprintln!(
        "bench: adding {} finished Analyses",
        finished_total.saturating_sub(burst)
    );
    let finished_status = serde_json::json!({"apiVersion": "gitview.dev/v1alpha1", "kind": "Analysis", "status": {
        "phase": "Succeeded", "completionTime": "2026-01-01T00:00:00Z", "startTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1,
        "attempts": [{"number": 1, "pod": "gone", "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:00Z", "exitCode": 0, "reason": "Succeeded"}],
        "result": {"commitsAnalyzed": 1234, "toCommit": "0123456789abcdef0123456789abcdef01234567"},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "analyzed 1234 commits", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
            {"type": "Reconciling", "status": "False", "reason": "AsExpected", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
            {"type": "Stalled", "status": "False", "reason": "AsExpected", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]
    }});
    futures::stream::iter(burst..finished_total)
        .map(|i| {
            let analyses = analyses.clone();
            let an = make(i);
            let status = finished_status.clone();
            async move {
                let name = an.metadata.name.clone().unwrap_or_default();
                analyses.create(&PostParams::default(), &an).await?;
                analyses
                    .patch_status(
                        &name,
                        &PatchParams::apply("bench").force(),
                        &Patch::Apply(&status),
                    )
                    .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let mut operator = start_operator(&here, &plane, &key, port)?;
    let settle_deadline = Instant::now() + Duration::from_secs(600);
    let mut last = -1.0;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reconciles = metric(port, "gitview_operator_reconciles_total").unwrap_or(0.0);
        if reconciles >= finished_total as f64 && reconciles == last {
            break;
        }
        if Instant::now() > settle_deadline {
            eprintln!("bench: not settled (reconciles {reconciles})");
            break;
        }
        last = reconciles;
    }
    let steady = rss_kib(operator.id(), "VmRSS:").unwrap_or(0);
    let steady_peak = rss_kib(operator.id(), "VmHWM:").unwrap_or(0);
    let _ = operator.kill();
    agent.shutdown().await;

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "burst of {burst} Analyses (created in {:.2}s by 64 concurrent clients):",
        burst_created.as_secs_f64()
    );
    println!(
        "  all {} runner pods exist after   {:>8.2}s   target 10s    ratio {:.2}",
        seen_map.len(),
        all_pods.as_secs_f64(),
        all_pods.as_secs_f64() / 10.0
    );
    println!(
        "  created -> pod latency p50        {:>8.3}s",
        p50.as_secs_f64()
    );
    println!(
        "  created -> pod latency p99        {:>8.3}s   target 1s     ratio {:.2}",
        p99.as_secs_f64(),
        p99.as_secs_f64()
    );
    println!("  operator peak RSS during burst    {:>8.1} MiB", mib(peak));
    println!("with {finished_total} finished Analyses present:");
    println!(
        "  operator steady RSS               {:>8.1} MiB  target 64 MiB ratio {:.2}",
        mib(steady),
        mib(steady) / 64.0
    );
    println!(
        "  operator peak RSS while syncing   {:>8.1} MiB",
        mib(steady_peak)
    );
    Ok(())
}
