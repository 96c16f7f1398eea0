//! What a RepositoryTracker does about one branch, and when it polls next: pure functions of
//! what was observed, tested without a cluster.

use gitview_crds::v1alpha1::ConcurrencyPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use sha2::{Digest as _, Sha256};

use crate::conditions::{self, Summary, reason};

/// What the tracker knows of one Analysis it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub name: String,
    pub branch: String,
    /// The branch head it was created for.
    pub head: String,
    pub finished: bool,
    pub succeeded: bool,
    /// The last commit it analyzed, once it succeeded.
    pub to_commit: Option<String>,
    /// Creation time in seconds, to order runs.
    pub created: i64,
}

/// The step for one branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Up to date, or a run for this head exists already (running, done or failed: a failed
    /// run is retried by its own retry policy, and the next push gets a new one).
    Nothing,
    /// Create an Analysis for the head.
    Create,
    /// `Forbid`: the named run is still going; the head is analyzed when it has finished.
    Wait(String),
    /// `Replace`: delete these unfinished runs, then create one for the head.
    Replace(Vec<String>),
}

/// Decides for one branch whose head is `head`; `owned` are the branch's Analyses.
pub fn plan(
    policy: ConcurrencyPolicy,
    head: &str,
    last_analyzed: Option<&str>,
    owned: &[&Owned],
) -> Step {
    if last_analyzed == Some(head) || owned.iter().any(|a| a.head == head) {
        return Step::Nothing;
    }
    let running: Vec<&&Owned> = owned.iter().filter(|a| !a.finished).collect();
    match (policy, running.last()) {
        (_, None) | (ConcurrencyPolicy::Allow, Some(_)) => Step::Create,
        (ConcurrencyPolicy::Forbid, Some(a)) => Step::Wait(a.name.clone()),
        (ConcurrencyPolicy::Replace, Some(_)) => {
            Step::Replace(running.iter().map(|a| a.name.clone()).collect())
        }
    }
}

/// A run this controller just created, as the cache will show it.
pub fn just_created(name: &str, branch: &str, head: &str, now: i64) -> Owned {
    Owned {
        name: name.to_owned(),
        branch: branch.to_owned(),
        head: head.to_owned(),
        finished: false,
        succeeded: false,
        to_commit: None,
        created: now,
    }
}

/// The cached runs plus those created but not in the cache yet (by name).
pub fn with_unseen(mut cached: Vec<Owned>, unseen: Vec<Owned>) -> Vec<Owned> {
    for run in unseen {
        if !cached.iter().any(|c| c.name == run.name) {
            cached.push(run);
        }
    }
    cached
}

/// The newest commit a successful run of the branch analyzed, else what the status said.
pub fn last_analyzed(owned: &[&Owned], previous: Option<&str>) -> Option<String> {
    owned
        .iter()
        .filter(|a| a.succeeded)
        .max_by_key(|a| a.created)
        .and_then(|a| a.to_commit.clone())
        .or_else(|| previous.map(str::to_owned))
}

/// Finished runs beyond the history limits, oldest first: what to delete.
pub fn prune(owned: &[&Owned], successful_limit: i32, failed_limit: i32) -> Vec<String> {
    let mut doomed = Vec::new();
    for (succeeded, limit) in [(true, successful_limit), (false, failed_limit)] {
        let mut done: Vec<&&Owned> = owned
            .iter()
            .filter(|a| a.finished && a.succeeded == succeeded)
            .collect();
        done.sort_by_key(|a| std::cmp::Reverse(a.created));
        doomed.extend(
            done.iter()
                .skip(usize::try_from(limit.max(0)).unwrap_or(0))
                .map(|a| a.name.clone()),
        );
    }
    doomed
}

/// Reasons of a tracker's conditions (besides the shared ones in [`conditions::reason`]).
pub mod why {
    pub const TRACKING: &str = "Tracking";
    pub const NO_MATCHING_BRANCH: &str = "NoMatchingBranch";
    pub const POLL_FAILED: &str = "PollFailed";
}

/// What this reconcile learned from the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// No poll was due (a reconcile for the tracker's own status write, an annotation, a run
    /// that finished): the last poll's outcome stands.
    NotDue,
    /// The remote listed its branches.
    Listed,
    /// The poll failed; `needs_change`: only a change from outside helps (a missing Secret, a
    /// repository that does not exist, refused credentials), so the tracker is `Stalled`.
    Failed { needs_change: bool, message: String },
}

/// The API server's refusal of an Analysis the tracker created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// A ResourceQuota of the namespace is used up: tried again on the next poll. Otherwise the
    /// Analysis as the template makes it is refused, and the tracker waits for its spec to
    /// change.
    pub quota_exceeded: bool,
    /// What the conditions say, with the server's message.
    pub message: String,
}

/// The refusal of an earlier reconcile that still holds: the tracker is `Stalled` with
/// `CreateRejected` for this generation of its spec. It creates no Analysis until the spec
/// changes (its template is what was refused), so it does not ask the API server every poll
/// for the same refusal; or until a poll is `asked` for (`gitview.dev/requested-at`: the
/// refusal may have had a cause outside the tracker, since removed).
pub fn held_rejection(
    previous: &[Condition],
    generation: Option<i64>,
    asked: bool,
) -> Option<Rejected> {
    if asked {
        return None;
    }
    conditions::find(previous, conditions::STALLED)
        .filter(|c| {
            c.status == "True"
                && c.reason == reason::CREATE_REJECTED
                && c.observed_generation == generation
        })
        .map(|c| Rejected {
            quota_exceeded: false,
            message: c.message.clone(),
        })
}

/// The tracker's conditions: a refused Analysis first (nothing runs while it lasts), then the
/// poll's outcome, which a reconcile that did not poll keeps as the last poll left it; then
/// whether any branch matches.
pub fn summary(
    poll: &PollOutcome,
    rejected: Option<&Rejected>,
    heads: usize,
    patterns: &[String],
    previous: &[Condition],
) -> Summary {
    let summary = |ready: bool, stalled: bool, reason: &'static str, message: String| Summary {
        ready,
        reconciling: !ready && !stalled,
        stalled,
        reason,
        message,
    };
    if let Some(rejected) = rejected {
        let reason = if rejected.quota_exceeded {
            reason::QUOTA_EXCEEDED
        } else {
            reason::CREATE_REJECTED
        };
        return summary(
            false,
            !rejected.quota_exceeded,
            reason,
            rejected.message.clone(),
        );
    }
    match poll {
        PollOutcome::Failed {
            needs_change,
            message,
        } => return summary(false, *needs_change, why::POLL_FAILED, message.clone()),
        PollOutcome::NotDue => {
            let last = conditions::find(previous, conditions::READY)
                .filter(|c| c.reason == why::POLL_FAILED);
            if let Some(ready) = last {
                let stalled = conditions::find(previous, conditions::STALLED)
                    .is_some_and(|c| c.status == "True");
                return summary(false, stalled, why::POLL_FAILED, ready.message.clone());
            }
        }
        PollOutcome::Listed => {}
    }
    if heads == 0 {
        summary(
            false,
            false,
            why::NO_MATCHING_BRANCH,
            format!("the remote has no branch matching {patterns:?}"),
        )
    } else {
        summary(
            true,
            false,
            why::TRACKING,
            format!("tracking {heads} branch(es)"),
        )
    }
}

/// Whether `branch` matches one of the tracker's names or patterns (`*` matches any run of
/// characters, `/` included: `release/*` matches `release/1.0` and `release/1/rc`).
pub fn matches(patterns: &[String], branch: &str) -> bool {
    patterns
        .iter()
        .any(|p| glob(p.as_bytes(), branch.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, tail)| t == c && glob(rest, tail)),
    }
}

/// Seconds until the next poll: the minimum while the repository moves (a branch changed at
/// this poll, or the first poll), doubling towards the maximum while it is quiet (seed 002's
/// adaptive schedule).
pub fn next_interval(previous: Option<i64>, moved: bool, min: i64, max: i64) -> i64 {
    match previous {
        Some(prev) if !moved => (prev.saturating_mul(2)).clamp(min, max),
        _ => min,
    }
}

/// Up to ±10 % of `interval`, derived from `seed` (the tracker's UID and the poll time), so
/// that trackers created together do not poll together.
pub fn jitter(interval: i64, seed: &str) -> i64 {
    let digest = Sha256::digest(seed.as_bytes());
    let spread = interval / 10;
    if spread == 0 {
        return 0;
    }
    let r = i64::from(u16::from_be_bytes([digest[0], digest[1]]));
    r % (2 * spread + 1) - spread
}

/// The name of the Analysis for `branch` at `head`: stable, so creating it twice is harmless,
/// and short enough for the pods named after it.
pub fn analysis_name(tracker: &str, branch: &str, head: &str) -> String {
    let tracker: String = tracker.chars().take(30).collect();
    let tracker = tracker.trim_end_matches(['-', '.']);
    let branch_hash = hex(&Sha256::digest(branch.as_bytes())[..3]);
    let short: String = head.chars().take(10).collect();
    format!("{tracker}-{branch_hash}-{short}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, head: &str, finished: bool, succeeded: bool, created: i64) -> Owned {
        Owned {
            name: name.to_owned(),
            branch: "main".to_owned(),
            head: head.to_owned(),
            finished,
            succeeded,
            to_commit: succeeded.then(|| head.to_owned()),
            created,
        }
    }

    #[test]
    fn a_new_head_gets_a_run_and_an_analyzed_one_does_not() {
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "b", None, &[]),
            Step::Create
        );
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "b", Some("b"), &[]),
            Step::Nothing
        );
        let failed = run("t-1", "b", true, false, 1);
        // A failed run is not re-created for the same head: its retry policy had its say.
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "b", Some("a"), &[&failed]),
            Step::Nothing
        );
    }

    #[test]
    fn concurrency_policies_follow_cronjobs() {
        let running = run("t-a", "a", false, false, 1);
        let owned = [&running];
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "b", None, &owned),
            Step::Wait("t-a".to_owned())
        );
        assert_eq!(
            plan(ConcurrencyPolicy::Allow, "b", None, &owned),
            Step::Create
        );
        assert_eq!(
            plan(ConcurrencyPolicy::Replace, "b", None, &owned),
            Step::Replace(vec!["t-a".to_owned()])
        );
        // The running one is already for this head: nothing to do under any policy.
        for policy in [
            ConcurrencyPolicy::Forbid,
            ConcurrencyPolicy::Allow,
            ConcurrencyPolicy::Replace,
        ] {
            assert_eq!(plan(policy, "a", None, &owned), Step::Nothing);
        }
    }

    #[test]
    fn under_forbid_a_burst_of_pushes_is_one_run() {
        // The run was created for head a; b, c and d were pushed while it waited.
        let mut held = run("t-a", "a", false, false, 1);
        for head in ["b", "c", "d"] {
            assert_eq!(
                plan(ConcurrencyPolicy::Forbid, head, None, &[&held]),
                Step::Wait("t-a".to_owned())
            );
        }
        // It fetched when it started, so it analyzed up to d: nothing follows for d.
        (held.finished, held.succeeded, held.to_commit) = (true, true, Some("d".to_owned()));
        let last = last_analyzed(&[&held], None);
        assert_eq!(last.as_deref(), Some("d"));
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "d", last.as_deref(), &[&held]),
            Step::Nothing
        );
        // Had it stopped short (a push after it fetched), the newest head gets its run.
        held.to_commit = Some("c".to_owned());
        assert_eq!(
            plan(
                ConcurrencyPolicy::Forbid,
                "d",
                last_analyzed(&[&held], None).as_deref(),
                &[&held]
            ),
            Step::Create
        );
    }

    #[test]
    fn the_last_analyzed_commit_is_the_newest_success() {
        let (old, new, failed) = (
            run("1", "a", true, true, 1),
            run("2", "b", true, true, 2),
            run("3", "c", true, false, 3),
        );
        assert_eq!(
            last_analyzed(&[&new, &old, &failed], None).as_deref(),
            Some("b")
        );
        assert_eq!(last_analyzed(&[&failed], Some("z")).as_deref(), Some("z"));
    }

    #[test]
    fn history_limits_keep_the_newest_of_each_outcome() {
        let runs: Vec<Owned> = (0..5)
            .map(|i| run(&format!("s{i}"), "h", true, i % 2 == 0, i))
            .collect();
        let running = run("r", "x", false, false, 9);
        let mut owned: Vec<&Owned> = runs.iter().collect();
        owned.push(&running);
        // Successes s0 s2 s4 keep s4 s2; failures s1 s3 keep s3; the running one stays.
        assert_eq!(prune(&owned, 2, 1), vec!["s0".to_owned(), "s1".to_owned()]);
        assert_eq!(prune(&owned, 0, 0).len(), 5);
    }

    #[test]
    fn a_run_created_but_not_cached_yet_holds_forbid() {
        let done = run("t-a", "a", true, true, 1);
        let created = just_created("t-b", "main", "b", 2);
        let runs = with_unseen(vec![done.clone()], vec![created.clone(), done.clone()]);
        assert_eq!(runs.len(), 2);
        let mine: Vec<&Owned> = runs.iter().collect();
        // A newer head arrives before the cache shows t-b: Forbid waits for t-b.
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "c", Some("a"), &mine),
            Step::Wait("t-b".to_owned())
        );
        // Without the expectation it would have started a second run.
        assert_eq!(
            plan(ConcurrencyPolicy::Forbid, "c", Some("a"), &[&done]),
            Step::Create
        );
    }

    fn condition(
        type_: &str,
        status: &str,
        reason: &str,
        message: &str,
        generation: i64,
    ) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            observed_generation: Some(generation),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::UNIX_EPOCH,
            ),
        }
    }

    /// The conditions a summary renders to, as the status would carry them.
    fn rendered(s: &Summary, generation: i64) -> Vec<Condition> {
        conditions::render(s, &[], Some(generation), jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_failed_poll_stays_until_the_next_poll() {
        let main = ["main".to_owned()];
        let failed = PollOutcome::Failed {
            needs_change: true,
            message: "repository not found".to_owned(),
        };
        let after_poll = summary(&failed, None, 0, &main, &[]);
        assert_eq!(
            (after_poll.ready, after_poll.stalled, after_poll.reason),
            (false, true, why::POLL_FAILED)
        );
        // The reconcile its status write brings (no poll due, no branch known) keeps it: before,
        // it turned into NoMatchingBranch a second later.
        let previous = rendered(&after_poll, 1);
        let kept = summary(&PollOutcome::NotDue, None, 0, &main, &previous);
        assert_eq!(kept, after_poll);
        // A transient failure is kept as transient (Reconciling, not Stalled).
        let transient = summary(
            &PollOutcome::Failed {
                needs_change: false,
                message: "connection refused".to_owned(),
            },
            None,
            1,
            &main,
            &[],
        );
        assert_eq!((transient.stalled, transient.reconciling), (false, true));
        assert_eq!(
            summary(
                &PollOutcome::NotDue,
                None,
                1,
                &main,
                &rendered(&transient, 1)
            ),
            transient
        );
        // The next poll that lists the branches replaces it.
        let listed = summary(&PollOutcome::Listed, None, 1, &main, &previous);
        assert_eq!((listed.ready, listed.reason), (true, why::TRACKING));
        assert_eq!(
            summary(&PollOutcome::Listed, None, 0, &main, &previous).reason,
            why::NO_MATCHING_BRANCH
        );
        // Without a failed poll before it, a reconcile that does not poll says what the heads say.
        assert_eq!(
            summary(&PollOutcome::NotDue, None, 1, &main, &rendered(&listed, 1)),
            listed
        );
    }

    #[test]
    fn a_refused_analysis_stalls_the_tracker_until_its_spec_changes() {
        let main = ["main".to_owned()];
        let refused = Rejected {
            quota_exceeded: false,
            message: "the API server refused Analysis t-1 (422): too long".to_owned(),
        };
        let s = summary(&PollOutcome::Listed, Some(&refused), 1, &main, &[]);
        assert_eq!(
            (s.ready, s.stalled, s.reconciling, s.reason),
            (false, true, false, reason::CREATE_REJECTED)
        );
        let previous = rendered(&s, 4);
        assert_eq!(
            held_rejection(&previous, Some(4), false),
            Some(refused.clone())
        );
        // Across polls and other reconciles of this generation, held; not after a change of the
        // spec, nor when a poll is asked for.
        assert_eq!(held_rejection(&previous, Some(5), false), None);
        assert_eq!(held_rejection(&previous, Some(4), true), None);
        assert_eq!(
            held_rejection(
                &[condition(
                    conditions::STALLED,
                    "True",
                    why::POLL_FAILED,
                    "x",
                    4
                )],
                Some(4),
                false
            ),
            None
        );
        // A full quota is not held, and not Stalled.
        let quota = Rejected {
            quota_exceeded: true,
            message: "exceeded quota".to_owned(),
        };
        let q = summary(&PollOutcome::Listed, Some(&quota), 1, &main, &[]);
        assert_eq!(
            (q.stalled, q.reconciling, q.reason),
            (false, true, reason::QUOTA_EXCEEDED)
        );
        assert_eq!(held_rejection(&rendered(&q, 4), Some(4), false), None);
    }

    #[test]
    fn branch_patterns() {
        let patterns = vec!["main".to_owned(), "release/*".to_owned()];
        assert!(matches(&patterns, "main"));
        assert!(matches(&patterns, "release/1.0"));
        assert!(matches(&patterns, "release/1/rc"));
        assert!(!matches(&patterns, "mainline"));
        assert!(!matches(&patterns, "release"));
        assert!(matches(&["*".to_owned()], "anything/at/all"));
    }

    #[test]
    fn the_interval_backs_off_while_quiet_and_resets_on_a_push() {
        assert_eq!(next_interval(None, false, 60, 900), 60);
        assert_eq!(next_interval(Some(60), false, 60, 900), 120);
        assert_eq!(next_interval(Some(600), false, 60, 900), 900);
        assert_eq!(next_interval(Some(900), true, 60, 900), 60);
        for seed in ["a", "b", "c", "d"] {
            assert!(jitter(100, seed).abs() <= 10);
        }
        assert_eq!(jitter(5, "a"), 0);
    }

    #[test]
    fn analysis_names_are_stable_short_and_distinct_per_branch() {
        let head = "0123456789abcdef0123456789abcdef01234567";
        let a = analysis_name("my-tracker", "main", head);
        assert_eq!(a, analysis_name("my-tracker", "main", head));
        assert_ne!(a, analysis_name("my-tracker", "dev", head));
        assert!(
            a.starts_with("my-tracker-") && a.ends_with("-0123456789"),
            "{a}"
        );
        let long = analysis_name(&"t".repeat(80), "main", head);
        assert!(long.len() <= 48, "{long}");
    }
}
