//! The Analysis a tracker creates for a branch head, built from its template: pure.

use std::collections::BTreeMap;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{
    Analysis, AnalysisMode, AnalysisRepository, AnalysisSpec, ModeType, RepositoryTracker,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::decide;

/// The `Incremental` Analysis of `branch` at `head`: named after tracker, branch and head
/// ([`decide::analysis_name`]), owned by the tracker, with the template's labels and
/// annotations plus `gitview.dev/tracker`, and the branch and head annotated.
pub fn analysis(tracker: &RepositoryTracker, branch: &str, head: &str) -> Analysis {
    let name = decide::analysis_name(&tracker.name_any(), branch, head);
    let template = &tracker.spec.template;
    let mut labels_map: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    let tracker_label: String = tracker.name_any().chars().take(63).collect();
    labels_map.insert(
        labels::TRACKER.to_owned(),
        tracker_label.trim_end_matches(['-', '.', '_']).to_owned(),
    );
    let mut annotations: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .map(|m| m.annotations.clone())
        .unwrap_or_default();
    annotations.insert(labels::BRANCH.to_owned(), branch.to_owned());
    annotations.insert(labels::HEAD_COMMIT.to_owned(), head.to_owned());
    Analysis {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: tracker.namespace(),
            labels: Some(labels_map),
            annotations: Some(annotations),
            owner_references: tracker.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: AnalysisSpec {
            repository: AnalysisRepository {
                source: tracker.spec.repository.clone(),
                git_ref: Some(branch.to_owned()),
            },
            mode: AnalysisMode {
                kind: ModeType::Incremental,
                ..AnalysisMode::default()
            },
            run: template.spec.clone(),
        },
        status: None,
    }
}
