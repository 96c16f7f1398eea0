//! The CEL rules, evaluated locally with the same engine semantics the API server applies.
//! (OpenAPI constraints — ranges, patterns, enums — are the API server's alone; the end-to-end
//! suite checks those against a real one.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::{Value, json};

fn sample<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = format!("{}/../config/samples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("sample exists");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn analysis(spec: Value) -> Analysis {
    let mut object = json!({
        "apiVersion": API_VERSION, "kind": "Analysis",
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {"repository": {"url": "https://git.example.com/org/repo.git"}},
    });
    merge(&mut object["spec"], spec);
    serde_json::from_value(object).expect("valid Analysis shape")
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn errors_of(result: Result<(), impl std::fmt::Debug>) -> String {
    match result {
        Ok(()) => String::new(),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn samples_pass_validation() {
    let a: Analysis = sample("analysis.yaml");
    assert_eq!(errors_of(a.validate_cel()), "");
    let p: AnalysisProfile = sample("analysisprofile-default.yaml");
    assert_eq!(errors_of(p.validate_cel()), "");
    let t: RepositoryTracker = sample("repositorytracker.yaml");
    assert_eq!(errors_of(t.validate_cel()), "");
}

#[test]
fn repository_urls_follow_the_allow_list() {
    for ok in [
        "https://github.com/kube-rs/kube.git",
        "http://127.0.0.1:8080/repo.git",
        "ssh://git@github.com/org/repo.git",
        "git://localhost:9418/repo",
        "https://[::1]:8443/repo",
        "https://x-access-token@github.com/org/repo?ref=a@b",
    ] {
        let a = analysis(json!({"repository": {"url": ok}}));
        assert_eq!(errors_of(a.validate_cel()), "", "{ok} should be accepted");
    }
    for (bad, why) in [
        ("file:///etc/passwd", "schemes https, http, ssh or git"),
        (
            "git@github.com:org/repo.git",
            "schemes https, http, ssh or git",
        ),
        ("ftp://host/repo", "schemes https, http, ssh or git"),
        ("https:///repo", "non-empty host"),
        ("https://", "non-empty host"),
        ("https://host/with space", "non-empty host"),
        (
            "https://user:hunter2@host/repo",
            "must not embed a password",
        ),
        // A password with a `/`: the host is `user`, and the rest of it is in the path.
        (
            "https://user:123/hunter2@host/repo",
            "must not hold an '@' after its host",
        ),
        (
            "ssh://git@host/org@team/repo",
            "must not hold an '@' after its host",
        ),
    ] {
        let a = analysis(json!({"repository": {"url": bad}}));
        let errors = errors_of(a.validate_cel());
        assert!(
            errors.contains(why),
            "{bad}: expected {why:?}, got {errors:?}"
        );
    }
}

#[test]
fn refs_must_be_ref_names() {
    let a = analysis(json!({"repository": {"ref": "release/1.2"}}));
    assert_eq!(errors_of(a.validate_cel()), "");
    for bad in ["main..dev", "feature/", "main.lock"] {
        let a = analysis(json!({"repository": {"ref": bad}}));
        assert!(
            errors_of(a.validate_cel()).contains("valid git ref"),
            "{bad} accepted"
        );
    }
}

#[test]
fn mode_range_needs_since_and_others_take_none() {
    let ok = analysis(json!({"mode": {"type": "Range", "since": "v1.0", "until": "v2.0"}}));
    assert_eq!(errors_of(ok.validate_cel()), "");
    let missing = analysis(json!({"mode": {"type": "Range"}}));
    assert!(errors_of(missing.validate_cel()).contains("mode.since is required"));
    let stray = analysis(json!({"mode": {"type": "Full", "since": "v1.0"}}));
    assert!(errors_of(stray.validate_cel()).contains("allowed only with type Range"));
}

#[test]
fn repository_and_mode_are_immutable() {
    let old = analysis(json!({"repository": {"ref": "main"}}));
    let same = old.clone();
    assert_eq!(errors_of(same.validate_cel_update(&old)), "");

    let other_ref = analysis(json!({"repository": {"ref": "dev"}}));
    assert!(
        errors_of(other_ref.validate_cel_update(&old)).contains("spec.repository is immutable")
    );
    let other_url =
        analysis(json!({"repository": {"url": "https://other.example.com/r", "ref": "main"}}));
    assert!(
        errors_of(other_url.validate_cel_update(&old)).contains("spec.repository is immutable")
    );
    let other_mode =
        analysis(json!({"repository": {"ref": "main"}, "mode": {"type": "Incremental"}}));
    assert!(errors_of(other_mode.validate_cel_update(&old)).contains("spec.mode is immutable"));

    // What a run is executed with may change.
    let more_retries =
        analysis(json!({"repository": {"ref": "main"}, "retryPolicy": {"limit": 5}}));
    assert_eq!(errors_of(more_retries.validate_cel_update(&old)), "");
}

#[test]
fn backoff_bounds_are_ordered() {
    let a =
        analysis(json!({"retryPolicy": {"backoff": {"initialSeconds": 900, "maxSeconds": 60}}}));
    assert!(errors_of(a.validate_cel()).contains("initialSeconds must not exceed"));
    let dup = analysis(json!({"retryPolicy": {"retryOn": ["RunnerError", "RunnerError"]}}));
    assert!(errors_of(dup.validate_cel()).contains("must not list a failure class twice"));
}

#[test]
fn profile_rules() {
    let mut p: AnalysisProfile = sample("analysisprofile-default.yaml");
    p.spec.canary = Some(Canary {
        image: None,
        model: None,
        weight: 10,
    });
    assert!(errors_of(p.validate_cel()).contains("canary needs an image or a model"));
    p.spec.canary = None;
    p.spec.stages.summarize.summarizer = SummarizerKind::ChatCompletions;
    assert!(errors_of(p.validate_cel()).contains("model is required"));
    p.spec.stages.summarize.model = Some("gpt-4o-mini".into());
    assert_eq!(errors_of(p.validate_cel()), "");
}

#[test]
fn tracker_rules() {
    let old: RepositoryTracker = sample("repositorytracker.yaml");
    let mut t = old.clone();
    t.spec.poll.min_interval_seconds = 1000;
    t.spec.poll.max_interval_seconds = 100;
    assert!(errors_of(t.validate_cel()).contains("minIntervalSeconds must not exceed"));
    let mut moved = old.clone();
    moved.spec.repository.url = "https://elsewhere.example.com/r.git".into();
    assert!(errors_of(moved.validate_cel_update(&old)).contains("spec.repository is immutable"));
    let mut dots = old.clone();
    dots.spec.branches = vec!["a..b".into()];
    assert!(errors_of(dots.validate_cel()).contains("no '..'"));
}

#[test]
fn spec_round_trips_with_defaults() {
    let a = analysis(json!({}));
    assert_eq!(a.spec.run.profile, "default");
    assert_eq!(a.spec.mode.kind, ModeType::Full);
    assert_eq!(a.spec.run.ttl_policy, TtlPolicy::CleanupResources);
    let back: Analysis = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    assert_eq!(back, a);
}
