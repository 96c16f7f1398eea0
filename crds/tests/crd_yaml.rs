//! The committed CRD YAML is exactly what the types generate.

#[test]
fn committed_crds_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("yaml");
    let mut expected_files = Vec::new();
    for crd in gitview_crds::crds() {
        let name = gitview_crds::crd_file_name(&crd);
        let generated = gitview_crds::crd_yaml(&crd).expect("CRD renders");
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == generated,
            "crds/yaml/{name} is stale: run `cargo run -p gitview-crds --bin crdgen -- --out-dir crds/yaml`"
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/yaml exists")
        .map(|e| {
            e.expect("readable dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/yaml holds a file no type generates"
    );
}

/// The chart installs the same CRDs from its `crds/` directory (Helm's convention).
#[test]
fn the_chart_carries_the_same_crds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let chart = root.join("../charts/gitview/crds");
    let mut files = 0;
    for crd in gitview_crds::crds() {
        let name = gitview_crds::crd_file_name(&crd);
        let generated = gitview_crds::crd_yaml(&crd).expect("CRD renders");
        let copied = std::fs::read_to_string(chart.join(&name)).unwrap_or_default();
        assert!(
            copied == generated,
            "charts/gitview/crds/{name} differs from the types: run `charts/gitview/sync.sh`"
        );
        files += 1;
    }
    let present = std::fs::read_dir(&chart)
        .expect("charts/gitview/crds exists")
        .count();
    assert_eq!(
        present, files,
        "charts/gitview/crds holds a file no type generates"
    );
}

#[test]
fn crds_carry_names_columns_and_rules() {
    let crds = gitview_crds::crds();
    let by_kind = |kind: &str| {
        crds.iter()
            .find(|c| c.spec.names.kind == kind)
            .expect("kind present")
    };
    let analysis = by_kind("Analysis");
    assert_eq!(analysis.spec.scope, "Namespaced");
    assert_eq!(
        analysis.spec.names.short_names.as_deref(),
        Some(&["an".to_owned()][..])
    );
    assert_eq!(
        analysis.spec.names.categories.as_deref(),
        Some(&["gitview".to_owned()][..])
    );
    let version = &analysis.spec.versions[0];
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    for column in ["Phase", "Repository", "Ref", "Progress", "Commits", "Age"] {
        assert!(columns.contains(&column), "missing printer column {column}");
    }
    assert_eq!(by_kind("AnalysisProfile").spec.scope, "Cluster");
    assert_eq!(
        by_kind("AnalysisProfile").spec.names.short_names.as_deref(),
        Some(&["ap".to_owned()][..])
    );
    assert_eq!(
        by_kind("RepositoryTracker")
            .spec
            .names
            .short_names
            .as_deref(),
        Some(&["rt".to_owned()][..])
    );
    let yaml = gitview_crds::crd_yaml(analysis).expect("renders");
    assert!(yaml.contains("x-kubernetes-validations"));
}
