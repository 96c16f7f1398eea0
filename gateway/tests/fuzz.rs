//! Fuzzes the gateway from its own OpenAPI document with schemathesis: a throwaway PostgreSQL,
//! the real router on 127.0.0.1, a runner token, an API key and the admin token for the
//! document's security schemes, then `schemathesis run` with its examples, coverage and
//! fuzzing phases (positive and negative data). Any 5xx fails the test — as schemathesis sees
//! it, and as the gateway's own metrics count it — and so does any answer the document does
//! not describe (status, content type, body shape: the one JSON error shape).
//!
//! schemathesis comes from PyPI at [`SCHEMATHESIS_VERSION`]: `$GITVIEW_SCHEMATHESIS` if set,
//! else the venv under `${GITVIEW_CACHE:-$HOME/.cache/gitview}/venv`, created and installed
//! into here when missing (CI runs on fresh machines with PyPI reachable). The run is bounded
//! by `$GITVIEW_FUZZ_EXAMPLES` examples per operation (default [`DEFAULT_EXAMPLES`]).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{ADMIN_TOKEN, Gateway, batch, cache_dir, commit};
use gitview_gateway::kit::limits::{DEFAULT_BURST, DEFAULT_PER_SECOND, LimitClock, RateLimit};
use gitview_gateway::openapi::{EXAMPLE_ACCOUNT, EXAMPLE_ANALYSIS};
use reqwest::StatusCode;

/// The schemathesis release the test runs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Examples per operation: the run takes about a minute on two busy cores.
const DEFAULT_EXAMPLES: u32 = 40;
/// What schemathesis checks (`$GITVIEW_FUZZ_CHECKS` to change): no 5xx, and every answer —
/// errors included — has a documented status, content type and body shape, so a plain-text
/// rejection or an undocumented error fails too.
const DEFAULT_CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Fixed, so a failure reproduces; `$GITVIEW_FUZZ_SEED` to explore.
const DEFAULT_SEED: u64 = 20_240_501;

fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The schemathesis program, installed at the pinned version if need be.
fn schemathesis() -> PathBuf {
    if let Some(program) = std::env::var_os("GITVIEW_SCHEMATHESIS") {
        return PathBuf::from(program);
    }
    let venv = cache_dir().join("venv");
    let program = venv.join("bin/schemathesis");
    let wanted = format!("version {SCHEMATHESIS_VERSION}");
    if version_of(&program).is_some_and(|v| v.ends_with(&wanted)) {
        return program;
    }
    eprintln!(
        "installing schemathesis {SCHEMATHESIS_VERSION} into {}",
        venv.display()
    );
    std::fs::create_dir_all(cache_dir()).unwrap();
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
    ]));
    let version = version_of(&program);
    assert!(
        version.as_deref().is_some_and(|v| v.ends_with(&wanted)),
        "{} reports {version:?} after installing",
        program.display()
    );
    program
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The 5xx answers the gateway counted, by series.
fn server_errors(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("gitview_gateway_http_requests_total{")
                && line.contains(r#"status_class="5xx""#)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_survives_schemathesis_without_a_server_error() {
    // Installing (when needed) blocks: before anything is served.
    let program = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    // With the serve command's default per-key limits: the read routes' 429 is documented,
    // so a fuzz run that trips it stays within the document.
    let limit = RateLimit::new(DEFAULT_PER_SECOND, DEFAULT_BURST).expect("limits are on");
    let gw = Gateway::start_configured(Some(ADMIN_TOKEN), move |state| {
        state.with_rate_limit(limit, LimitClock::system())
    })
    .await;
    // Credentials for the document's examples: the example analysis, started with a batch,
    // and an API key of the example account, so examples reach the database and back.
    let key = gw.create_key(EXAMPLE_ACCOUNT, "fuzz").await.secret;
    let token = gw.token(EXAMPLE_ACCOUNT, EXAMPLE_ANALYSIS);
    gw.start_run(
        EXAMPLE_ACCOUNT,
        EXAMPLE_ANALYSIS,
        "https://example.com/team-a/app.git",
    )
    .await;
    let (status, body) = gw
        .post(
            &token,
            &format!("/v1/runs/{EXAMPLE_ANALYSIS}/commits"),
            &batch(0, &[commit(1, &[])]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let work = tempfile::tempdir().unwrap();
    // One credential per security scheme of the document; schemathesis picks by scheme name.
    let config = work.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.openapi.runnerToken]\nbearer = \"{token}\"\n\n\
             [auth.openapi.apiKey]\nbearer = \"{key}\"\n\n\
             [auth.openapi.adminToken]\nbearer = \"{ADMIN_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let examples: u32 = env_or("GITVIEW_FUZZ_EXAMPLES", DEFAULT_EXAMPLES);
    let seed: u64 = env_or("GITVIEW_FUZZ_SEED", DEFAULT_SEED);
    let checks: String = env_or("GITVIEW_FUZZ_CHECKS", DEFAULT_CHECKS.to_owned());
    let started = Instant::now();
    let out = tokio::process::Command::new(&program)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(gw.url("/openapi.json"))
        .args([
            "--checks",
            &checks,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &examples.to_string(),
            "--seed",
            &seed.to_string(),
            // One worker: CPython before 3.12 keeps the ast module's recursion depth in state
            // shared between threads (gh-106905), and hypothesis parses lambdas' sources while
            // it generates, so two workers intermittently die with "AST constructor recursion
            // depth mismatch" (seen on Debian's 3.11.7).
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--no-color",
        ])
        .current_dir(work.path())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let took = started.elapsed();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "schemathesis {SCHEMATHESIS_VERSION}, {examples} examples per operation, seed {seed}, {took:.1?}:\n{report}"
    );
    let metrics = gw.metrics().await;
    let errors = server_errors(&metrics);
    assert!(
        errors.is_empty(),
        "the gateway answered 5xx:\n{}\n\nschemathesis:\n{report}",
        errors.join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis failed ({}):\n{report}",
        out.status
    );
    // It ran for real: the gateway counted requests on the runner, read and admin routes.
    for route in [
        "/v1/runs/{analysis}/commits",
        "/v1/analyses/{id}/commits",
        "/v1/runs/{analysis}/logs",
        "/v1/analyses/{id}/logs",
        "/v1/admin/accounts/{account}/keys",
    ] {
        assert!(
            metrics.contains(&format!("route=\"{route}\"")),
            "schemathesis never called {route}:\n{report}"
        );
    }
}
