//! Estimated hours of work per author, over the whole history and per phase.
//!
//! **An estimate, not a measurement**: commits say when work was saved, not when it began or
//! what happened between. The method is git-hours' (kimmobrunfeldt/git-hours), as gitoxide's
//! `gix estimate-hours` implements it: sort an author's commit times; a gap shorter than
//! [`MAX_GAP_SECONDS`] (2 h) between two consecutive commits counts as worked in full; a
//! longer gap (or one of exactly 2 h) starts a new session, and each session, the first
//! included, adds [`SESSION_START_SECONDS`] (2 h) for the work before its first commit. So
//! commits at 0 h, 1 h and 5 h are 2 h + 1 h + 2 h = 5 h in 2 sessions.
//!
//! Every commit counts, merges included (merging is work too, as in both tools), except
//! commits by bots (the enrich stage's flag), which are counted apart, and commits whose time
//! could not be read (time 0), which cannot be placed. A phase is a range of commit indices
//! (into [`History::commits`]); ranges reaching past the end are cut to it, and a phase's
//! estimate uses only its own commits, so an author's session that spans a phase boundary is
//! started again in the next phase.
//!
//! Each estimate lists its [`TOP_AUTHORS`] authors with the most hours (ties by commits, then
//! name and key); its totals count every author.

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;

use crate::{AuthorId, History};

/// The longest gap between two commits still counted as worked, in seconds (exclusive).
pub const MAX_GAP_SECONDS: i64 = 2 * HOUR;
/// What each session adds for the work before its first commit, in seconds.
pub const SESSION_START_SECONDS: i64 = 2 * HOUR;
/// The most authors an estimate lists.
pub const TOP_AUTHORS: usize = 20;

const HOUR: i64 = 3600;

/// Estimated hours over a history and its phases.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effort {
    pub method: EffortMethod,
    /// Over every commit.
    pub overall: Estimate,
    /// One per phase range given, in their order.
    pub phases: Vec<PhaseEffort>,
}

/// The method and its constants, carried with the results so a sentence can state them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffortMethod {
    /// `git-hours`.
    pub name: &'static str,
    pub max_gap_seconds: i64,
    pub session_start_seconds: i64,
}

/// Estimated hours over some commits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The sum over every author.
    pub hours: f64,
    /// The commits counted.
    pub commits: u32,
    /// The commits left out: by bots, and with no readable time.
    pub bot_commits: u32,
    pub undated_commits: u32,
    /// How many authors have counted commits.
    pub authors_total: u32,
    /// The [`TOP_AUTHORS`] authors with the most hours.
    pub authors: Vec<AuthorEffort>,
}

/// One author's estimated hours.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorEffort {
    pub name: String,
    pub key: String,
    pub hours: f64,
    pub commits: u32,
    /// Runs of commits less than 2 h apart; each added 2 h.
    pub sessions: u32,
    /// Their earliest and latest commit by time.
    pub first_commit: String,
    pub last_commit: String,
}

/// The estimate over one phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseEffort {
    /// The commit indices, cut to the history.
    pub start: usize,
    pub end: usize,
    /// The phase's first and last commit in walk order (none for an empty phase).
    pub first_commit: Option<String>,
    pub last_commit: Option<String>,
    pub estimate: Estimate,
}

/// Estimated hours per author over `history` and over each of `phases` (ranges of commit
/// indices).
pub fn effort(history: &History, phases: &[Range<usize>]) -> Effort {
    let all = history.commits.len();
    Effort {
        method: EffortMethod {
            name: "git-hours",
            max_gap_seconds: MAX_GAP_SECONDS,
            session_start_seconds: SESSION_START_SECONDS,
        },
        overall: estimate(history, 0..all),
        phases: phases
            .iter()
            .map(|phase| {
                let (start, end) = (phase.start.min(all), phase.end.min(all));
                let commits = history.commits.get(start..end).unwrap_or_default();
                PhaseEffort {
                    start,
                    end,
                    first_commit: commits.first().map(|c| c.id.clone()),
                    last_commit: commits.last().map(|c| c.id.clone()),
                    estimate: estimate(history, start..end),
                }
            })
            .collect(),
    }
}

/// One author's work, in seconds.
#[derive(Clone, Copy, Debug)]
struct Work {
    author: AuthorId,
    seconds: i64,
    commits: u32,
    sessions: u32,
    first: usize,
    last: usize,
}

fn estimate(history: &History, commits: Range<usize>) -> Estimate {
    let mut times: HashMap<AuthorId, Vec<(i64, usize)>> = HashMap::new();
    let (mut bot_commits, mut undated_commits, mut counted) = (0, 0, 0);
    for index in commits {
        let commit = &history.commits[index];
        if history.author_of(commit.author).bot {
            bot_commits += 1;
        } else if commit.time == 0 {
            undated_commits += 1;
        } else {
            counted += 1;
            times
                .entry(commit.author)
                .or_default()
                .push((commit.time, index));
        }
    }
    let mut work: Vec<Work> = times
        .into_iter()
        .map(|(author, mut times)| {
            times.sort_unstable();
            let mut seconds = SESSION_START_SECONDS;
            let mut sessions = 1;
            for pair in times.windows(2) {
                let gap = pair[1].0 - pair[0].0;
                if gap < MAX_GAP_SECONDS {
                    seconds += gap;
                } else {
                    seconds += SESSION_START_SECONDS;
                    sessions += 1;
                }
            }
            Work {
                author,
                seconds,
                commits: count(times.len()),
                sessions,
                first: times.first().map_or(0, |t| t.1),
                last: times.last().map_or(0, |t| t.1),
            }
        })
        .collect();
    work.sort_by(|a, b| {
        let (x, y) = (history.author_of(a.author), history.author_of(b.author));
        b.seconds
            .cmp(&a.seconds)
            .then(b.commits.cmp(&a.commits))
            .then_with(|| x.name.cmp(&y.name))
            .then_with(|| x.key.cmp(&y.key))
    });
    Estimate {
        hours: hours(work.iter().map(|w| w.seconds).sum()),
        commits: counted,
        bot_commits,
        undated_commits,
        authors_total: count(work.len()),
        authors: work
            .iter()
            .take(TOP_AUTHORS)
            .map(|w| {
                let author = history.author_of(w.author);
                AuthorEffort {
                    name: author.name.clone(),
                    key: author.key.clone(),
                    hours: hours(w.seconds),
                    commits: w.commits,
                    sessions: w.sessions,
                    first_commit: history.commits[w.first].id.clone(),
                    last_commit: history.commits[w.last].id.clone(),
                }
            })
            .collect(),
    }
}

fn hours(seconds: i64) -> f64 {
    // Seconds of work stay far below 2^53, where f64 holds every integer exactly.
    seconds as f64 / 3600.0
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::Builder;

    /// A history whose commits are at the given minutes after its start, by the given authors.
    fn at_minutes(commits: &[(&str, i64)]) -> History {
        let mut builder = Builder::new();
        for (author, _) in commits {
            builder = builder.commit(author, 0, "work", &[("a.rs", 'M', 1, 0)]);
        }
        let mut history = builder.build();
        let start = history.commits[0].time;
        for (commit, (_, minutes)) in history.commits.iter_mut().zip(commits) {
            commit.time = start + minutes * 60;
        }
        history
    }

    fn figures(estimate: &Estimate) -> Vec<(&str, f64, u32, u32)> {
        estimate
            .authors
            .iter()
            .map(|a| (a.name.as_str(), a.hours, a.commits, a.sessions))
            .collect()
    }

    #[test]
    fn gaps_under_two_hours_count_and_each_session_adds_two() {
        // Ada at 0 h, 1 h, 5 h (walked out of time order): 2 + 1 + 2 = 5 h.
        // Bob at 0 h and 2 h: a gap of exactly 2 h starts a new session: 2 + 2 = 4 h.
        // Cy once: 2 h.
        let history = at_minutes(&[
            ("Ada", 300),
            ("Bob", 0),
            ("Ada", 0),
            ("Ada", 60),
            ("Bob", 120),
            ("Cy", 1800),
        ]);
        let effort = effort(&history, &[]);
        let overall = &effort.overall;
        assert_eq!(
            figures(overall),
            [("Ada", 5.0, 3, 2), ("Bob", 4.0, 2, 2), ("Cy", 2.0, 1, 1)]
        );
        assert_eq!(
            (overall.hours, overall.commits, overall.authors_total),
            (11.0, 6, 3)
        );
        let ada = &overall.authors[0];
        assert_eq!(
            (ada.first_commit.as_str(), ada.last_commit.as_str()),
            ("c3", "c1")
        );
        assert_eq!(effort.method.max_gap_seconds, 7200);
        let json = serde_json::to_value(&effort).expect("serializes");
        assert_eq!(json["method"]["sessionStartSeconds"], 7200);
        assert_eq!(json["overall"]["authors"][0]["firstCommit"], "c3");
    }

    #[test]
    fn bots_and_undated_commits_are_left_out_and_merges_count() {
        let mut history = Builder::new()
            .commit("Ada", 0, "work", &[("a.rs", '+', 1, 0)])
            .labelled(
                "Renovate",
                0,
                "bump",
                &[("a.rs", 'M', 1, 0)],
                &[],
                CommitLabels {
                    bot: true,
                    ..CommitLabels::default()
                },
            )
            .commit("Ada", 0, "merge", &[])
            .commit("Bob", 0, "lost clock", &[("a.rs", 'M', 1, 0)])
            .build();
        history.commits[2].merge = true;
        history.commits[2].time += HOUR / 2;
        history.commits[3].time = 0;
        let overall = effort(&history, &[]).overall;
        assert_eq!(figures(&overall), [("Ada", 2.5, 2, 1)]);
        assert_eq!(
            (
                overall.commits,
                overall.bot_commits,
                overall.undated_commits
            ),
            (2, 1, 1)
        );
    }

    #[test]
    fn a_phase_counts_only_its_own_commits() {
        // Ada at 0 h, 1 h, 1.5 h and 9 h: 2 + 1 + 0.5 + 2 = 5.5 h overall. Split after the
        // second commit, the third starts a session again: 2 + 1 = 3 h, then 2 + 2 = 4 h.
        let history = at_minutes(&[("Ada", 0), ("Ada", 60), ("Ada", 90), ("Ada", 540)]);
        let effort = effort(&history, &[0..2, 2..4, 3..10, 7..9]);
        assert_eq!(effort.overall.hours, 5.5);
        let phases: Vec<_> = effort
            .phases
            .iter()
            .map(|p| {
                (
                    p.start,
                    p.end,
                    p.estimate.hours,
                    p.first_commit.as_deref(),
                    p.last_commit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            phases,
            [
                (0, 2, 3.0, Some("c1"), Some("c2")),
                (2, 4, 4.0, Some("c3"), Some("c4")),
                (3, 4, 2.0, Some("c4"), Some("c4")),
                (4, 4, 0.0, None, None),
            ]
        );
        assert_eq!(effort.phases[3].estimate.authors, []);
    }
}
