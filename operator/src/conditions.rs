//! Condition types and reasons, and the pure functions that build them.
//!
//! Every gitview object carries three kstatus conditions:
//! - `Ready`: the object reached its goal (an Analysis: it succeeded). The roll-up that
//!   GitOps health checks read.
//! - `Reconciling`: the operator is working towards the goal (pending, running, backing off).
//! - `Stalled`: the operator cannot make progress without a change from outside (a missing
//!   profile or Secret, a disallowed repository, a runner pod the API server refuses) or gave
//!   up (failed for good).
//!
//! A RepositoryTracker has no goal to reach: `Ready` says it keeps its branches analyzed
//! (`Tracking`), and carries the reason of whatever stops it (`PollFailed`, `CreateRejected`,
//! `Suspended`, which is `Ready` too: nothing is wrong). An AnalysisProfile is `Ready` once the
//! operator has seen its generation.
//!
//! `lastTransitionTime` changes only when a condition's status does.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Condition reasons, also used as Event reasons.
pub mod reason {
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const ATTEMPT_PENDING: &str = "AttemptPending";
    pub const ATTEMPT_RUNNING: &str = "AttemptRunning";
    pub const BACKOFF: &str = "BackoffWait";
    pub const PROFILE_NOT_FOUND: &str = "ProfileNotFound";
    pub const CREDENTIALS_NOT_FOUND: &str = "CredentialsNotFound";
    pub const REPOSITORY_NOT_ALLOWED: &str = "RepositoryNotAllowed";
    pub const INVALID_INPUT: &str = "InvalidInput";
    pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";
    pub const NOT_RETRYABLE: &str = "NotRetryable";
    /// The API server refused what the operator built (a runner pod, a run Secret, a tracker's
    /// Analysis) as it is: a configuration error, which waits for a change of what it was built
    /// from.
    pub const CREATE_REJECTED: &str = "CreateRejected";
    /// A ResourceQuota of the namespace is used up; the create is tried again as it frees.
    pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
    pub const AS_EXPECTED: &str = "AsExpected";
    /// A tracker's remote lists branches that match: they are kept analyzed.
    pub const TRACKING: &str = "Tracking";
    /// A tracker's remote has no branch matching its patterns.
    pub const NO_MATCHING_BRANCH: &str = "NoMatchingBranch";
    /// A tracker's poll failed: `Stalled` when only a change from outside helps.
    pub const POLL_FAILED: &str = "PollFailed";
    /// A tracker's `spec.suspend`.
    pub const SUSPENDED: &str = "Suspended";
    /// An AnalysisProfile's generation was read: new runs start as its status says.
    pub const RESOLVED: &str = "Resolved";
}

/// The three conditions of one object, computed together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub ready: bool,
    pub reconciling: bool,
    pub stalled: bool,
    /// Reason of whichever condition is true (or of `Ready=False` when none is).
    pub reason: &'static str,
    pub message: String,
}

/// Renders a [`Summary`] as conditions, keeping `lastTransitionTime` of those whose status did
/// not change. `Ready=True` says `Succeeded`: the object reached its goal (an Analysis).
pub fn render(
    summary: &Summary,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let ready_reason = if summary.ready {
        reason::SUCCEEDED
    } else {
        summary.reason
    };
    render_as(summary, ready_reason, previous, generation, now)
}

/// Renders the [`Summary`] of an object with no end (a tracker, a profile): `Ready` always
/// carries the summary's own reason (`Tracking`, `Suspended`), whatever its status.
pub fn render_ongoing(
    summary: &Summary,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    render_as(summary, summary.reason, previous, generation, now)
}

fn render_as(
    summary: &Summary,
    ready_reason: &str,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let reason_for = |on: bool, default: &'static str| if on { summary.reason } else { default };
    [
        (READY, summary.ready, ready_reason),
        (
            RECONCILING,
            summary.reconciling,
            reason_for(summary.reconciling, reason::AS_EXPECTED),
        ),
        (
            STALLED,
            summary.stalled,
            reason_for(summary.stalled, reason::AS_EXPECTED),
        ),
    ]
    .into_iter()
    .map(|(type_, on, reason)| {
        let status = if on { "True" } else { "False" };
        let message = if on || type_ == READY {
            summary.message.clone()
        } else {
            String::new()
        };
        condition(type_, status, reason, message, previous, generation, now)
    })
    .collect()
}

/// One condition; `lastTransitionTime` is kept from `previous` when the status did not change.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid timestamp")
    }

    #[test]
    fn transition_time_moves_only_with_status() {
        let running = Summary {
            ready: false,
            reconciling: true,
            stalled: false,
            reason: reason::ATTEMPT_RUNNING,
            message: "attempt 1 running".into(),
        };
        let first = render(&running, &[], Some(1), at(100));
        assert!(
            first
                .iter()
                .all(|c| c.last_transition_time == Time(at(100)))
        );

        // Same statuses later: times stay, even though the message changed.
        let again = Summary {
            message: "attempt 1 still running".into(),
            ..running.clone()
        };
        let second = render(&again, &first, Some(1), at(200));
        assert!(
            second
                .iter()
                .all(|c| c.last_transition_time == Time(at(100)))
        );

        let done = Summary {
            ready: true,
            reconciling: false,
            stalled: false,
            reason: reason::SUCCEEDED,
            message: "ok".into(),
        };
        let third = render(&done, &second, Some(2), at(300));
        assert_eq!(
            find(&third, READY).map(|c| (c.status.as_str(), c.last_transition_time.clone())),
            Some(("True", Time(at(300))))
        );
        assert_eq!(
            find(&third, RECONCILING).map(|c| c.last_transition_time.clone()),
            Some(Time(at(300)))
        );
        assert_eq!(
            find(&third, STALLED).map(|c| c.last_transition_time.clone()),
            Some(Time(at(100)))
        );
        assert!(third.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn true_conditions_carry_the_reason() {
        let stalled = Summary {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: reason::PROFILE_NOT_FOUND,
            message: "AnalysisProfile \"x\" not found".into(),
        };
        let c = render(&stalled, &[], None, at(1));
        assert_eq!(
            find(&c, STALLED).map(|c| c.reason.as_str()),
            Some(reason::PROFILE_NOT_FOUND)
        );
        assert_eq!(
            find(&c, READY).map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("False", reason::PROFILE_NOT_FOUND))
        );
        assert_eq!(
            find(&c, RECONCILING).map(|c| c.status.as_str()),
            Some("False")
        );
    }
}
