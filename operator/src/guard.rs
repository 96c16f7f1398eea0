//! gitview's own objects are watched through kube's [`DeserializeGuard`]: an object the
//! operator cannot read as its type (a field edited past what this version understands, a
//! version skew during an upgrade) is one object skipped, said in a log line and a Warning
//! Event on it, not a watch whose every list fails, which would stop its whole controller.
//! A reconcile takes the object from [`valid`]; readers of a cache skip what is not ([`ok`]).

use kube::Resource;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::events::Recorder;
use tracing::warn;

use crate::events::{self, Note};

/// The reason of the Warning Event on an object the operator cannot read.
pub const INVALID_OBJECT: &str = "InvalidObject";

/// The object of a guard, if it could be read.
pub fn ok<K>(guard: &DeserializeGuard<K>) -> Option<&K> {
    guard.0.as_ref().ok()
}

/// The object to reconcile; `None` once its failure is told (a log line, a Warning Event):
/// the reconcile then waits for the object to change.
pub async fn valid<'a, K>(guard: &'a DeserializeGuard<K>, recorder: &Recorder) -> Option<&'a K>
where
    K: Resource<DynamicType = ()>,
{
    let invalid = match &guard.0 {
        Ok(object) => return Some(object),
        Err(invalid) => invalid,
    };
    let kind = K::kind(&());
    warn!(
        kind = %kind,
        namespace = guard.namespace().unwrap_or_default(),
        name = guard.name_any(),
        error = %invalid.error,
        "cannot read the object; skipped until it changes"
    );
    let note = Note::warning(
        INVALID_OBJECT,
        format!(
            "the operator cannot read this {kind}: {}; it is skipped until it changes",
            invalid.error
        ),
    );
    events::publish(recorder, &guard.object_ref(&()), "Reconcile", &[note]).await;
    None
}

#[cfg(test)]
mod tests {
    use gitview_crds::v1alpha1::RepositoryTracker;

    use super::*;

    #[test]
    fn an_object_of_the_wrong_shape_keeps_its_name_and_says_why() {
        let guard: DeserializeGuard<RepositoryTracker> = serde_json::from_value(serde_json::json!({
            "apiVersion": "gitview.dev/v1alpha1",
            "kind": "RepositoryTracker",
            "metadata": {"name": "repo", "namespace": "team-a"},
            "spec": {"repository": {"url": "https://git.example.com/r.git"}, "branches": "main"},
        }))
        .unwrap();
        assert!(ok(&guard).is_none());
        assert_eq!(guard.name_any(), "repo");
        let reference = guard.object_ref(&());
        assert_eq!(
            (reference.kind.as_deref(), reference.namespace.as_deref()),
            (Some("RepositoryTracker"), Some("team-a"))
        );
        let error = guard.0.as_ref().unwrap_err().error.clone();
        assert!(error.contains("Expected a sequence"), "{error}");
    }
}
