//! The Argo CD health checks in `config/gitops/argocd/health/` (Lua 5.1, as Argo CD runs them),
//! against the statuses the operator writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mlua::{Lua, LuaSerdeExt, Table};
use serde_json::{Value, json};

fn health(script: &str, obj: &Value) -> (String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/gitops/argocd/health")
        .join(script);
    let code = std::fs::read_to_string(&path).expect("the health script exists");
    // Argo CD hands the scripts the object as decoded from JSON: an absent field is nil.
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let lua = Lua::new();
    lua.globals()
        .set("obj", lua.to_value(&obj).expect("converts"))
        .expect("sets obj");
    let hs: Table = lua
        .load(&code)
        .set_name(script)
        .eval()
        .expect("the script runs");
    (
        hs.get("status").expect("status"),
        hs.get::<Option<String>>("message")
            .expect("message")
            .unwrap_or_default(),
    )
}

fn analysis(generation: i64, status: Value) -> Value {
    json!({"apiVersion": "gitview.dev/v1alpha1", "kind": "Analysis",
           "metadata": {"name": "a", "namespace": "n", "generation": generation},
           "spec": {"repository": {"url": "https://h/r"}}, "status": status})
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
}

#[test]
fn analyses_map_to_argo_health() {
    let cases = [
        (
            analysis(1, Value::Null),
            "Progressing",
            "Waiting for the gitview operator",
        ),
        (
            analysis(
                2,
                json!({"phase": "Succeeded", "observedGeneration": 1, "conditions": []}),
            ),
            "Progressing",
            "latest spec",
        ),
        (
            analysis(
                1,
                json!({"phase": "Running", "observedGeneration": 1,
                "conditions": [condition("Reconciling", "True", "AttemptRunning", "attempt 1 is running")],
                "progress": {"stage": "extract", "done": 40, "total": 100}}),
            ),
            "Progressing",
            "Running: extract 40/100",
        ),
        (
            analysis(
                1,
                json!({"phase": "Pending", "observedGeneration": 1,
                "conditions": [condition("Stalled", "True", "ProfileNotFound", "AnalysisProfile \"x\" not found"),
                               condition("Ready", "False", "ProfileNotFound", "AnalysisProfile \"x\" not found")]}),
            ),
            "Degraded",
            "AnalysisProfile \"x\" not found",
        ),
        (
            analysis(
                1,
                json!({"phase": "Retrying", "observedGeneration": 1,
                "conditions": [condition("Ready", "False", "BackoffWait", "retrying in 20s")]}),
            ),
            "Progressing",
            "retrying in 20s",
        ),
        (
            analysis(
                1,
                json!({"phase": "Succeeded", "observedGeneration": 1,
                "conditions": [condition("Ready", "True", "Succeeded", "analyzed 120 commits")]}),
            ),
            "Healthy",
            "analyzed 120 commits",
        ),
        (
            analysis(
                1,
                json!({"phase": "Failed", "observedGeneration": 1,
                "conditions": [condition("Ready", "False", "RetriesExhausted", "3 attempts failed")]}),
            ),
            "Degraded",
            "3 attempts failed",
        ),
    ];
    for (obj, status, message) in cases {
        let (got_status, got_message) = health("analysis.lua", &obj);
        assert_eq!(got_status, status, "{obj}");
        assert!(
            got_message.contains(message),
            "{got_message:?} lacks {message:?} for {obj}"
        );
    }
}

#[test]
fn trackers_map_to_argo_health() {
    let tracker = |suspend: bool, status: Value| json!({"metadata": {"name": "t", "generation": 1}, "spec": {"suspend": suspend}, "status": status});
    let cases = [
        (tracker(true, Value::Null), "Suspended"),
        (tracker(false, Value::Null), "Progressing"),
        (
            tracker(
                false,
                json!({"observedGeneration": 1, "conditions": [condition("Ready", "True", "Tracking", "2 branches current")]}),
            ),
            "Healthy",
        ),
        (
            tracker(
                false,
                json!({"observedGeneration": 1, "conditions": [condition("Stalled", "True", "SecretNotFound", "webhook Secret missing")]}),
            ),
            "Degraded",
        ),
        (
            tracker(
                false,
                json!({"observedGeneration": 1, "conditions": [condition("Ready", "False", "Polling", "first poll pending")]}),
            ),
            "Progressing",
        ),
    ];
    for (obj, status) in cases {
        assert_eq!(health("repositorytracker.lua", &obj).0, status, "{obj}");
    }
}
