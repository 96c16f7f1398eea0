//! Events: what a reconcile tells people about an object (`kubectl describe`, `kubectl events`).
//! The pure steps decide them as [`Note`]s; [`publish`] sends them once the status is written,
//! for every controller the same way.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use gitview_crds::v1alpha1::API_VERSION;

/// The longest note an Event carries, in characters (the API server refuses notes over 1 KiB).
const MAX_NOTE: usize = 1000;

/// An Event to publish about the object being reconciled.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    /// Another object the Event is about (a tracker's Analysis). The recorder folds Events
    /// with the same reason and related object into one series that keeps the first note, so
    /// Events about different objects need their own related object to be seen.
    pub related: Option<ObjectReference>,
}

impl Note {
    pub fn normal(reason: &'static str, message: String) -> Self {
        Self {
            warning: false,
            reason,
            message,
            related: None,
        }
    }

    pub fn warning(reason: &'static str, message: String) -> Self {
        Self {
            warning: true,
            reason,
            message,
            related: None,
        }
    }

    /// The same note, about `related` too.
    pub fn about(self, related: ObjectReference) -> Self {
        Self {
            related: Some(related),
            ..self
        }
    }
}

/// An Analysis as an Event's related object.
pub fn analysis(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(API_VERSION.to_owned()),
        kind: Some("Analysis".to_owned()),
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        ..ObjectReference::default()
    }
}

/// Publishes `notes` about `regarding`, as the outcome of `action` (`Reconcile`, `Poll`). An
/// Event that cannot be published is logged, never an error of the reconcile: the status
/// already says what it would have.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    action: &str,
    notes: &[Note],
) {
    for note in notes {
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.to_owned(),
            note: Some(note.message.chars().take(MAX_NOTE).collect()),
            action: action.to_owned(),
            secondary: note.related.clone(),
        };
        if let Err(err) = recorder.publish(&event, regarding).await {
            warn!(error = %err, reason = note.reason, "cannot publish event");
        }
    }
}
