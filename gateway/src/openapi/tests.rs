use std::collections::BTreeSet;

use super::*;

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn the_document_parses_and_every_reference_resolves() {
    let text = document_pretty();
    let doc: Value = serde_json::from_str(&text).expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target} is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{target} resolves to nothing"
        );
    }
    for name in [
        "StartRun",
        "CommitBatch",
        "Person",
        "ErrorBody",
        "AnalysisDetail",
    ] {
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "no schema {name}"
        );
    }
}

#[test]
fn the_document_has_exactly_the_routes_the_router_serves() {
    let served: BTreeSet<(String, String)> = crate::router::served_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path.to_owned()))
        .collect();
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );
}

#[test]
fn every_operation_declares_its_path_parameters_security_and_answers() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let segments: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().expect("a path item") {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, segments, "{method} {path}");
            let security = op["security"].as_array().expect("security");
            for requirement in security {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                }
            }
            assert_eq!(
                security.is_empty(),
                !path.starts_with("/v1/"),
                "{method} {path}: only /v1 routes take a credential"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            assert!(op["operationId"].is_string());
        }
    }
}

#[test]
fn the_committed_copy_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == document_pretty(),
        "gateway/openapi.json is stale: run `cargo run -p gitview-gateway -- openapi > gateway/openapi.json`"
    );
}
