//! Tests of the decide step's rules and of the step as a whole.

use super::decide::*;
use crate::conditions::{self, Summary, reason};
use gitview_crds::v1alpha1::ConcurrencyPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

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

fn condition(type_: &str, status: &str, reason: &str, message: &str, generation: i64) -> Condition {
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
        (false, true, reason::POLL_FAILED)
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
    assert_eq!((listed.ready, listed.reason), (true, reason::TRACKING));
    assert_eq!(
        summary(&PollOutcome::Listed, None, 0, &main, &previous).reason,
        reason::NO_MATCHING_BRANCH
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
                reason::POLL_FAILED,
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

// The step as a whole: what a reconcile decides from what it observed, and concludes from
// what it got done.
mod step {
    use std::collections::BTreeMap;

    use gitview_crds::v1alpha1::{BranchStatus, RepositoryTracker, RepositoryTrackerStatus};
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::super::build;
    use super::super::decide::*;
    use crate::conditions::{self, READY, STALLED, reason};
    use crate::fixtures::{NAMESPACE, TrackerFixture as _, at, tracker};

    const H1: &str = "1111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222";

    fn observed(tracker: &RepositoryTracker, now: Timestamp) -> Observed<'_> {
        Observed {
            tracker,
            now,
            webhook: Webhook::None,
            listed: None,
            owned: Vec::new(),
            gateway: BTreeMap::new(),
        }
    }

    fn listed(heads: &[(&str, &str)]) -> Option<Result<Vec<(String, String)>, PollError>> {
        Some(Ok(heads
            .iter()
            .map(|(b, h)| ((*b).to_owned(), (*h).to_owned()))
            .collect()))
    }

    fn condition<'a>(status: &'a RepositoryTrackerStatus, type_: &str) -> (&'a str, &'a str) {
        conditions::find(&status.conditions, type_)
            .map(|c| (c.status.as_str(), c.reason.as_str()))
            .unwrap_or_default()
    }

    /// A tracker that polled at `at(0)` and found `main` at `head`, next poll at `at(60)`.
    fn polled(head: &str, last_analysis: Option<&str>) -> RepositoryTracker {
        let t = tracker("repo");
        let o = Observed {
            listed: listed(&[("main", head)]),
            ..observed(&t, at(0))
        };
        let mut status = conclude(&o, &[]).status;
        status.next_poll_time = Some(Time(at(60)));
        status.branches[0].last_analysis = last_analysis.map(str::to_owned);
        tracker("repo").with_status(status)
    }

    #[test]
    fn a_first_poll_creates_the_heads_run_and_schedules_the_next_poll() {
        let t = tracker("repo");
        assert!(poll_due(&t, at(0)), "never polled: due");
        let o = Observed {
            listed: listed(&[("main", H1), ("feature/x", H2)]),
            ..observed(&t, at(0))
        };
        let actions = actions(&o);
        assert_eq!(
            actions,
            [Action::Create {
                branch: "main".into(),
                head: H1.into()
            }],
            "only the branch that matches"
        );
        let name = analysis_name("repo", "main", H1);
        let done = [Done::Created {
            analysis: name.clone(),
            branch: "main".into(),
        }];
        let concluded = conclude(&o, &done);
        let status = &concluded.status;
        assert_eq!(
            status.branches,
            [BranchStatus {
                name: "main".into(),
                head_commit: Some(H1.into()),
                last_analyzed_commit: None,
                last_analysis: Some(name.clone()),
            }]
        );
        assert_eq!(status.last_poll_time, Some(Time(at(0))));
        assert_eq!(
            status.poll_interval_seconds,
            Some(60),
            "the first poll: the minimum"
        );
        let next = status.next_poll_time.as_ref().unwrap().0;
        assert!(next >= at(54) && next <= at(66), "60 s ± 10 %: {next}");
        assert_eq!(condition(status, READY), ("True", reason::TRACKING));
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(concluded.events.len(), 1);
        let created = &concluded.events[0];
        assert_eq!(
            (created.warning, created.reason),
            (false, event::ANALYSIS_CREATED)
        );
        assert_eq!(
            created.related.as_ref().and_then(|r| r.name.as_deref()),
            Some(name.as_str())
        );
        assert_eq!(
            requeue_after(status, at(1)),
            std::time::Duration::try_from(next.duration_since(at(1))).unwrap()
        );
    }

    #[test]
    fn between_polls_nothing_is_listed_and_the_last_poll_stands() {
        let t = polled(H1, Some("repo-run"));
        assert!(!poll_due(&t, at(30)));
        assert!(poll_due(&t, at(60)), "at the next poll time");
        let before = t.status.clone().unwrap();
        let o = Observed {
            webhook: Webhook::NotRead,
            ..observed(&t, at(30))
        };
        // The run it created is in the cache now: nothing to do.
        let run = just_created("repo-run", "main", H1, 1);
        let o = Observed {
            owned: vec![run],
            ..o
        };
        assert_eq!(actions(&o), []);
        let concluded = conclude(&o, &[]);
        assert_eq!(concluded.status, before, "the same status: no write");
        assert!(concluded.events.is_empty());
    }

    #[test]
    fn a_new_generation_a_request_or_a_webhook_delivery_makes_a_poll_due() {
        let mut t = polled(H1, None);
        t.metadata.generation = Some(2);
        assert!(poll_due(&t, at(30)));
        let mut t = polled(H1, None);
        t.metadata.annotations = Some(
            [(
                gitview_crds::labels::REQUESTED_AT.to_owned(),
                "now".to_owned(),
            )]
            .into(),
        );
        assert!(poll_due(&t, at(30)));
        let t = t.with_spec(serde_json::json!({"suspend": true}));
        assert!(!poll_due(&t, at(90)), "never while suspended");
    }

    #[test]
    fn replace_supersedes_the_running_run_creates_one_and_prunes_past_the_limits() {
        let t = polled(H1, None).with_spec(serde_json::json!({
            "concurrencyPolicy": "Replace",
            "successfulHistoryLimit": 1,
        }));
        let mut old = just_created("repo-old", "main", "0000", 1);
        (old.finished, old.succeeded, old.to_commit) = (true, true, Some("0000".into()));
        let mut older = just_created("repo-older", "main", "000", 0);
        (older.finished, older.succeeded) = (true, true);
        let running = just_created("repo-running", "main", H1, 2);
        let o = Observed {
            listed: listed(&[("main", H2)]),
            owned: vec![old, older, running],
            ..observed(&t, at(60))
        };
        assert_eq!(
            actions(&o),
            [
                Action::Supersede {
                    analysis: "repo-running".into(),
                    branch: "main".into(),
                    head: H2.into()
                },
                Action::Create {
                    branch: "main".into(),
                    head: H2.into()
                },
                Action::Prune {
                    analysis: "repo-older".into()
                },
            ]
        );
        let done = [
            Done::Superseded {
                analysis: "repo-running".into(),
                branch: "main".into(),
            },
            Done::Created {
                analysis: "repo-new".into(),
                branch: "main".into(),
            },
        ];
        let concluded = conclude(&o, &done);
        let reasons: Vec<&str> = concluded.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, [event::SUPERSEDED, event::ANALYSIS_CREATED]);
        assert_eq!(
            concluded.status.branches[0].last_analysis.as_deref(),
            Some("repo-new")
        );
        assert_eq!(
            concluded.status.branches[0].last_analyzed_commit.as_deref(),
            Some("0000")
        );
    }

    #[test]
    fn a_refused_analysis_stalls_the_tracker_and_a_full_quota_warns_once_per_streak() {
        let t = tracker("repo");
        let o = Observed {
            listed: listed(&[("main", H1)]),
            ..observed(&t, at(0))
        };
        let refused = |quota: bool| Done::Refused {
            branch: "main".into(),
            rejected: Rejected {
                quota_exceeded: quota,
                message: "refused".into(),
            },
        };
        let invalid = conclude(&o, &[refused(false)]);
        assert_eq!(
            condition(&invalid.status, STALLED),
            ("True", reason::CREATE_REJECTED)
        );
        assert_eq!(invalid.events[0].reason, reason::CREATE_REJECTED);
        assert!(invalid.events[0].warning);
        // Held for this generation: the next reconcile creates nothing.
        let held = t.clone().with_status(invalid.status.clone());
        let again = Observed {
            listed: listed(&[("main", H1)]),
            ..observed(&held, at(60))
        };
        assert_eq!(actions(&again), []);

        let quota = conclude(&o, &[refused(true)]);
        assert_eq!(
            condition(&quota.status, READY),
            ("False", reason::QUOTA_EXCEEDED)
        );
        assert_eq!(quota.events.len(), 1);
        let streak = t.with_status(quota.status.clone());
        let o = Observed {
            listed: listed(&[("main", H1)]),
            ..observed(&streak, at(60))
        };
        assert_eq!(
            actions(&o).len(),
            1,
            "a full quota is tried again at the next poll"
        );
        assert!(conclude(&o, &[refused(true)]).events.is_empty());
    }

    #[test]
    fn a_failed_poll_keeps_the_heads_retries_at_the_minimum_and_warns() {
        let t = polled(H1, None).with_spec(serde_json::json!({"poll": {"minIntervalSeconds": 30}}));
        let o = Observed {
            listed: Some(Err(PollError::Stalled(
                "https://git.example.com/org/repo.git: authentication failed".into(),
            ))),
            ..observed(&t, at(60))
        };
        let concluded = conclude(&o, &[]);
        let status = &concluded.status;
        assert_eq!(status.branches[0].head_commit.as_deref(), Some(H1));
        assert_eq!(status.poll_interval_seconds, Some(30));
        assert_eq!(status.next_poll_time, Some(Time(at(90))));
        assert_eq!(condition(status, STALLED), ("True", reason::POLL_FAILED));
        let warning = concluded.events.last().unwrap();
        assert!(warning.warning && warning.message.contains("authentication failed"));
    }

    #[test]
    fn the_gateway_is_asked_only_where_the_head_moved_and_its_answer_counts() {
        let mut t = polled(H1, None);
        let status = t.status.as_mut().unwrap();
        status.branches[0].last_analyzed_commit = Some(H1.into());
        let heads = vec![("main".to_owned(), H1.to_owned())];
        assert!(gateway_questions(&t, &heads, &[]).is_empty());
        let moved = vec![("main".to_owned(), H2.to_owned())];
        assert_eq!(gateway_questions(&t, &moved, &[]), ["main"]);
        // Analyzed by hand: the gateway knows H2, so nothing runs for it.
        let o = Observed {
            listed: listed(&[("main", H2)]),
            gateway: BTreeMap::from([("main".to_owned(), H2.to_owned())]),
            ..observed(&t, at(60))
        };
        assert_eq!(actions(&o), []);
        assert_eq!(
            conclude(&o, &[]).status.branches[0]
                .last_analyzed_commit
                .as_deref(),
            Some(H2)
        );
    }

    #[test]
    fn a_suspended_tracker_acknowledges_requests_and_decides_nothing() {
        let mut t = polled(H1, None).with_spec(serde_json::json!({"suspend": true}));
        t.metadata.annotations = Some(
            [(
                gitview_crds::labels::REQUESTED_AT.to_owned(),
                "asked".to_owned(),
            )]
            .into(),
        );
        let o = observed(&t, at(90));
        assert_eq!(actions(&o), []);
        let status = conclude(&o, &[]).status;
        assert_eq!(status.last_handled_requested_at.as_deref(), Some("asked"));
        assert_eq!(status.next_poll_time, None);
        assert_eq!(condition(&status, READY), ("True", reason::SUSPENDED));
    }

    #[test]
    fn the_webhook_path_is_kept_while_its_secret_cannot_be_read() {
        let mut t = polled(H1, None);
        t.status.as_mut().unwrap().webhook_path = Some("/hooks/team-a/repo/abc".into());
        let kept = Observed {
            webhook: Webhook::NotRead,
            ..observed(&t, at(30))
        };
        assert_eq!(
            conclude(&kept, &[]).status.webhook_path.as_deref(),
            Some("/hooks/team-a/repo/abc")
        );
        let gone = observed(&t, at(30));
        assert_eq!(conclude(&gone, &[]).status.webhook_path, None);
    }

    #[test]
    fn the_analysis_is_built_from_the_template_owned_and_annotated() {
        let t = tracker("repo").with_spec(serde_json::json!({
            "template": {
                "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                "spec": {"profile": "incremental"},
            },
        }));
        let an = build::analysis(&t, "main", H1);
        assert_eq!(
            an.metadata.name.as_deref(),
            Some(analysis_name("repo", "main", H1).as_str())
        );
        assert_eq!(an.metadata.namespace.as_deref(), Some(NAMESPACE));
        let labels = an.metadata.labels.clone().unwrap();
        assert_eq!(
            (
                labels.get("team").map(String::as_str),
                labels
                    .get(gitview_crds::labels::TRACKER)
                    .map(String::as_str)
            ),
            (Some("a"), Some("repo"))
        );
        let annotations = an.metadata.annotations.clone().unwrap();
        assert_eq!(
            annotations
                .get(gitview_crds::labels::HEAD_COMMIT)
                .map(String::as_str),
            Some(H1)
        );
        assert_eq!(annotations.get("note").map(String::as_str), Some("x"));
        let owner = &an.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("RepositoryTracker", Some(true))
        );
        assert_eq!(
            an.spec.mode.kind,
            gitview_crds::v1alpha1::ModeType::Incremental
        );
        assert_eq!(an.spec.run.profile, "incremental");
        assert_eq!(an.spec.repository.git_ref.as_deref(), Some("main"));
    }
}
