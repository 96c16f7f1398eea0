//! The CEL rules, evaluated locally with the same engine semantics the API server applies.
//! (OpenAPI constraints — ranges, patterns, enums — are the API server's alone; the end-to-end
//! suite checks those against a real one.)

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
    let p: AnalysisProfile = sample("analysisprofile-anthropic.yaml");
    assert_eq!(
        p.spec.stages.summarize.summarizer,
        SummarizerKind::AnthropicMessages
    );
    assert_eq!(p.spec.stages.summarize.budget, Some(ModelBudget::Balanced));
    assert_eq!(
        p.spec.stages.summarize.prices[0].input_per_million_tokens,
        "3"
    );
    assert_eq!(p.spec.stages.summarize.prices[0].currency, "USD");
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
        "https://host:65535/repo",
        "ssh://git@github.com:2222/org/repo.git",
        "ssh://deploy_user-1@host/org/repo",
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
        // A token in the user-name slot is a credential all the same.
        (
            "https://ghp_0123456789abcdef0123456789abcdef0123@github.com/org/repo.git",
            "must not carry a user name or token with https, http or git",
        ),
        (
            "https://x-access-token@github.com/org/repo?ref=a@b",
            "must not carry a user name or token",
        ),
        (
            "git://user@host/repo",
            "must not carry a user name or token",
        ),
        (
            "ssh://ghp_0123456789abcdef0123456789abcdef0123@github.com/org/repo",
            "only a plain user name with ssh",
        ),
        (
            "ssh://git:secret@host/repo",
            "only a plain user name with ssh",
        ),
        (
            "https://host:99999/repo",
            "port must be a number from 1 to 65535",
        ),
        (
            "https://host:0/repo",
            "port must be a number from 1 to 65535",
        ),
        (
            "https://[::1]:65536/repo",
            "port must be a number from 1 to 65535",
        ),
        (
            "ssh://git@host:123456/repo",
            "port must be a number from 1 to 65535",
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
    // `since` and `until` are one revision each, never a range of their own.
    let ranged = analysis(json!({"mode": {"type": "Range", "since": "v1.0..v2.0"}}));
    assert!(errors_of(ranged.validate_cel()).contains("mode.since must be one revision"));
    let ranged =
        analysis(json!({"mode": {"type": "Range", "since": "v1.0", "until": "main...dev"}}));
    assert!(errors_of(ranged.validate_cel()).contains("mode.until must be one revision"));
    let relative =
        analysis(json!({"mode": {"type": "Range", "since": "main~3", "until": "v2.0^"}}));
    assert_eq!(errors_of(relative.validate_cel()), "");
}

#[test]
fn resources_are_kubernetes_quantities() {
    let ok = analysis(
        json!({"resources": {"limits": {"memory": "2Gi", "cpu": 2}, "requests": {"memory": "2G", "cpu": "500m"}}}),
    );
    assert_eq!(errors_of(ok.validate_cel()), "");
    for (resources, bad) in [
        (json!({"limits": {"memory": "2GB"}}), "2GB"),
        (json!({"requests": {"cpu": "half"}}), "half"),
    ] {
        let a = analysis(json!({ "resources": resources }));
        let errors = errors_of(a.validate_cel());
        assert!(
            errors.contains(bad) && errors.contains("is not a Kubernetes quantity"),
            "{bad}: {errors}"
        );
    }

    let mut p: AnalysisProfile = sample("analysisprofile-default.yaml");
    p.spec.runner.scratch_size = Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
        "10GB".into(),
    ));
    assert!(errors_of(p.validate_cel()).contains("is not a Kubernetes quantity"));
    p.spec.runner.scratch_size = Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
        "10G".into(),
    ));
    assert_eq!(errors_of(p.validate_cel()), "");
    let mut limits = std::collections::BTreeMap::new();
    limits.insert(
        "memory".to_owned(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("1 GB".into()),
    );
    p.spec.defaults.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
        limits: Some(limits),
        ..Default::default()
    });
    assert!(errors_of(p.validate_cel()).contains("is not a Kubernetes quantity"));
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
    p.spec.stages.summarize.summarizer = SummarizerKind::AnthropicMessages;
    p.spec.stages.summarize.model = None;
    assert!(errors_of(p.validate_cel()).contains("model is required"));
    p.spec.stages.summarize.model = Some("claude-sonnet-4-5".into());
    assert_eq!(errors_of(p.validate_cel()), "");
}

#[test]
fn model_budget_prices_and_critical_mode_round_trip() {
    let settings: SummarizeSettings = serde_json::from_value(json!({
        "summarizer": "ChatCompletions", "model": "m",
        "budget": "Full",
        "prices": [{"model": "m", "inputPerMillionTokens": "0.25",
                    "outputPerMillionTokens": "1.25", "currency": "EUR"}],
        "critical": {"goals": ["Faster builds"], "directives": "Be blunt."}
    }))
    .expect("the new fields parse");
    assert_eq!(settings.budget, Some(ModelBudget::Full));
    assert_eq!(settings.prices[0].currency, "EUR");
    let critical = settings.critical.clone().expect("critical mode");
    assert_eq!(critical.goals, ["Faster builds"]);
    assert_eq!(critical.directives.as_deref(), Some("Be blunt."));
    let back: SummarizeSettings =
        serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
    assert_eq!(back, settings);
    // Unset, they stay out of the serialized object (older runners read it unchanged).
    let plain = serde_json::to_value(SummarizeSettings::default()).unwrap();
    for field in ["budget", "prices", "critical"] {
        assert!(plain.get(field).is_none(), "{field}");
    }
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
fn template_metadata_keys_are_qualified_names() {
    let with = |labels: &[(&str, &str)], annotations: &[(&str, &str)]| {
        let mut t: RepositoryTracker = sample("repositorytracker.yaml");
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        t.spec.template.metadata = Some(TemplateMetadata {
            labels: map(labels),
            annotations: map(annotations),
        });
        errors_of(t.validate_cel())
    };
    let name63 = "n".repeat(63);
    let prefix253 = format!("{}.example.com", "a".repeat(241));
    let long_prefix = format!("{}/x", "a".repeat(254));
    assert_eq!(
        with(
            &[
                ("team", "a"),
                ("app.kubernetes.io/part-of", "gitview"),
                (&name63, ""),
                (&format!("{prefix253}/{name63}"), "v_1.2-3")
            ],
            &[("example.com/note", "any text at all")]
        ),
        ""
    );
    for bad in [
        "bad key",
        "-team",
        "team-",
        "Example.com/x",
        "a/b/c",
        "/x",
        "example.com/",
        &long_prefix,
        &"n".repeat(64),
    ] {
        let errors = with(&[(bad, "v")], &[]);
        assert!(
            errors.contains("template.metadata.labels") && errors.contains("is not a valid key"),
            "{bad:?} accepted: {errors}"
        );
        let errors = with(&[], &[(bad, "v")]);
        assert!(
            errors.contains("template.metadata.annotations")
                && errors.contains("is not a valid key"),
            "{bad:?} accepted: {errors}"
        );
    }
    // Label values are an OpenAPI pattern, the API server's alone (the end-to-end suite checks it).
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
