//! `index.html`: the report page ([`gitview_report`]) filled from what the story stage already
//! holds — the facts, the analyses, the phases, the story — so the page tells exactly what
//! `story.json` and `timeline.json` say. Pure, like the renderer: the same history renders the
//! same bytes, which keeps `analyze --update` byte-identical to a full run.
//!
//! The page lists only the commits the story names (the sentences' evidence, milestones,
//! storylines' ends); the whole history is only in the commit graph's compact columns (id
//! prefix, lane, class, subject, edges). Releases and the tables' commits (hotspots' and
//! coupled files' latest, authors' first and latest) are not listed for being there: a long
//! history has hundreds, whose entries would outweigh the rest of the page; they lead to their
//! rows in the graph instead, and to their entries when the story names them too.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use gitview_core::story::StoryDocument;
use gitview_core::time::utc_date;
use gitview_history::narrative::Analyses;
use gitview_report::graph::GraphCommit;
use gitview_report::{
    AreaOwner, Author, CommitEntry, CoupledFiles, Hotspot, Milestone, Month, Phase, Release,
    Report, StorylineSpan,
};

use crate::enrich::CommitFacts;
use crate::story::{self, PhaseRecord, Timeline};
use crate::tags::parse_release;

/// Evidence commits of one sentence the page lists, at most (the rest are counted): as many as
/// the page links after a sentence. Those the sentence's text names are listed wherever they
/// stand in its evidence.
pub const EVIDENCE_PER_CLAIM: usize = 8;
/// Rows of the hotspot, coupling, ownership and author tables, at most.
pub const TABLE_ROWS: usize = 15;
/// Authors listed, at most.
pub const AUTHORS: usize = 25;

/// What the page is made from.
#[derive(Debug)]
pub struct ReportInput<'a> {
    pub story: &'a StoryDocument,
    /// The range as the story names it.
    pub range: &'a str,
    /// Oldest first.
    pub facts: &'a [CommitFacts],
    pub analyses: &'a Analyses,
    pub phases: &'a [PhaseRecord],
    /// The phases' commits as indices into `facts`.
    pub ranges: &'a [Range<usize>],
    pub timeline: &'a Timeline,
}

fn day(time: i64) -> String {
    utc_date(time).to_string()
}

/// The report of a history.
pub fn report(input: &ReportInput<'_>) -> Report {
    let facts = input.facts;
    let by_id: HashMap<&str, &CommitFacts> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
    let time_of = |id: &str| by_id.get(id).map(|f| f.time);

    let phases: Vec<Phase> = input
        .phases
        .iter()
        .zip(input.ranges)
        .filter_map(|(record, range)| {
            // The first and last commit's times, as the story dates a phase: a phase also holds
            // commits written long before they were merged, so its earliest author time says
            // nothing about when it began.
            let commits = facts.get(range.clone())?;
            let start_time = commits.first()?.time;
            let end_time = commits.last()?.time.max(start_time);
            Some(Phase {
                number: record.number,
                name: record.name.clone(),
                start_time,
                end_time,
                start: day(start_time),
                end: day(end_time),
                commits: record.commits,
                authors: record.authors,
                first_commit: commits.first()?.id.clone(),
                last_commit: commits.last()?.id.clone(),
            })
        })
        .collect();

    let releases: Vec<Release> = facts
        .iter()
        .flat_map(|f| {
            f.releases
                .iter()
                .filter(|name| parse_release(name).is_some_and(|r| !r.is_prerelease()))
                .map(move |name| Release {
                    name: name.clone(),
                    time: f.time,
                    commit: f.id.clone(),
                })
        })
        .collect();

    let milestones: Vec<Milestone> = story::milestones(facts)
        .into_iter()
        .map(|m| {
            let commit = m.commits.first().cloned();
            Milestone {
                time: commit.as_deref().and_then(time_of).unwrap_or_default(),
                date: m.date,
                text: m.text,
                commit,
            }
        })
        .collect();

    let months: Vec<Month> = input
        .timeline
        .months
        .iter()
        .map(|m| Month {
            month: m.month.clone(),
            commits: m.commits,
            authors: m.active_authors,
            added: m.lines_added,
            deleted: m.lines_deleted,
        })
        .collect();

    let storylines: Vec<StorylineSpan> = input
        .story
        .storylines
        .iter()
        .filter_map(|s| {
            let times = s.commits.iter().filter_map(|id| time_of(id));
            Some(StorylineSpan {
                id: s.id.clone(),
                title: s.title.clone(),
                category: s.category.clone(),
                lifecycle: s.lifecycle.clone(),
                commits: s.commits.len() as u64,
                first_time: times.clone().min()?,
                last_time: times.max()?,
                first_commit: s.commits.first()?.clone(),
                last_commit: s.commits.last()?.clone(),
            })
        })
        .collect();

    let analyses = input.analyses;
    let hotspots: Vec<Hotspot> = analyses
        .hotspots
        .files
        .iter()
        .take(TABLE_ROWS)
        .map(|h| Hotspot {
            path: h.path.clone(),
            churn: h.churn,
            weighted: h.weighted,
            commits: h.commits,
            last_commit: h.last_commit.clone(),
        })
        .collect();
    let coupling: Vec<CoupledFiles> = analyses
        .coupling
        .pairs
        .iter()
        .take(TABLE_ROWS)
        .map(|p| CoupledFiles {
            a: p.a.clone(),
            b: p.b.clone(),
            support: p.support,
            confidence: p.confidence,
            evidence: p.evidence.iter().take(1).cloned().collect(),
        })
        .collect();
    let ownership: Vec<AreaOwner> = analyses
        .ownership
        .areas
        .iter()
        .take(TABLE_ROWS)
        .map(|a| AreaOwner {
            area: if a.area.is_empty() {
                "(root)".to_owned()
            } else {
                a.area.clone()
            },
            lines: a.lines,
            authors: a.authors_total,
            main: a.main.as_ref().map(|m| (m.name.clone(), m.share)),
            bus_factor: a.bus_factor.count,
        })
        .collect();
    let mut authors: Vec<Author> = analyses
        .effort
        .overall
        .authors
        .iter()
        .map(|a| Author {
            name: a.name.clone(),
            commits: a.commits,
            hours: a.hours,
            first_commit: a.first_commit.clone(),
            last_commit: a.last_commit.clone(),
        })
        .collect();
    authors.sort_by(|a, b| b.commits.cmp(&a.commits).then_with(|| a.name.cmp(&b.name)));
    authors.truncate(AUTHORS);

    // The commits something on the page names, in the facts' order (oldest first).
    let mut named: HashSet<&str> = HashSet::new();
    for section in &input.story.sections {
        for claim in &section.claims {
            let evidence = &claim.evidence.commits;
            named.extend(evidence.iter().take(EVIDENCE_PER_CLAIM).map(String::as_str));
            named.extend(
                evidence
                    .iter()
                    .skip(EVIDENCE_PER_CLAIM)
                    .filter(|id| claim.text.contains(id.get(..7).unwrap_or(id)))
                    .map(String::as_str),
            );
        }
    }
    named.extend(milestones.iter().filter_map(|m| m.commit.as_deref()));
    for s in &storylines {
        named.extend([s.first_commit.as_str(), s.last_commit.as_str()]);
    }
    let commits: Vec<CommitEntry> = facts
        .iter()
        .filter(|f| named.contains(f.id.as_str()))
        .map(|f| CommitEntry {
            id: f.id.clone(),
            time: f.time,
            date: day(f.time),
            author: f.author.clone(),
            subject: f.subject.clone(),
            class: f.class.as_str().to_owned(),
            added: f.added,
            deleted: f.deleted,
            files: f.files,
            tags: f.releases.clone(),
        })
        .collect();

    // The graph: every commit, newest first (the facts reversed are `git log`'s order).
    let graph: Vec<GraphCommit> = facts
        .iter()
        .rev()
        .map(|f| GraphCommit {
            id: f.id.clone(),
            parents: f.parents.clone(),
            class: f.class.as_str().to_owned(),
            subject: f.subject.clone(),
            tags: f.releases.clone(),
        })
        .collect();

    Report {
        graph,
        story: input.story.clone(),
        range: input.range.to_owned(),
        commits,
        phases,
        releases,
        milestones,
        months,
        storylines,
        hotspots,
        coupling,
        ownership,
        authors,
    }
}

#[cfg(test)]
mod tests {
    use gitview_core::story::{Claim, Evidence, StorySection, StorylineIndex};
    use gitview_history::History;

    use super::*;
    use crate::chunk::PhaseRule;
    use crate::enrich::CommitClass;

    const DAY: i64 = 86_400;

    fn fact(n: u8, time: i64, releases: &[&str]) -> CommitFacts {
        CommitFacts {
            id: format!("{n:02x}").repeat(20),
            time,
            date: String::new(),
            author: "Ada".into(),
            author_key: "ada@example.com".into(),
            subject: format!("commit {n}"),
            class: CommitClass::Fix,
            breaking: false,
            merge: false,
            bot: false,
            files: 1,
            added: u64::from(n),
            deleted: 0,
            areas: Vec::new(),
            releases: releases.iter().map(|r| (*r).to_owned()).collect(),
            parents: Vec::new(),
        }
    }

    #[test]
    fn the_page_lists_the_commits_its_parts_name_in_history_order() {
        let facts = vec![
            fact(1, 1_700_000_000, &[]),
            // Written long before, merged in this phase.
            fact(2, 1_600_000_000, &["v1.0.0-rc.1"]),
            fact(3, 1_700_000_000 + 50 * DAY, &["v1.0.0"]),
            fact(4, 1_700_000_000 + 90 * DAY, &[]),
        ];
        let id = |i: usize| facts[i].id.clone();
        let story = StoryDocument {
            title: "repo".into(),
            sections: vec![StorySection {
                id: "summary".into(),
                heading: "In brief".into(),
                list: false,
                claims: vec![Claim {
                    text: "A sentence.".into(),
                    evidence: Evidence {
                        commits: vec![id(2)],
                        ..Evidence::default()
                    },
                }],
            }],
            storylines: vec![StorylineIndex {
                id: "storyline-1".into(),
                title: "parser".into(),
                category: "feature".into(),
                lifecycle: "active".into(),
                commits: vec![id(1), id(2)],
            }],
            ..StoryDocument::default()
        };
        let phase = PhaseRecord {
            number: 1,
            name: "up to v1.0.0".into(),
            rule: PhaseRule::Releases,
            first_commit: id(0),
            last_commit: id(2),
            start: String::new(),
            end: String::new(),
            commits: 3,
            authors: 1,
            lines_added: 6,
            lines_deleted: 0,
            releases: vec!["v1.0.0".into()],
            summary: String::new(),
            cited_commits: Vec::new(),
            chunks: Vec::new(),
        };
        let analyses = Analyses::of(&History::new(), &[]);
        let ranges = [Range { start: 0, end: 3 }];
        let timeline = story::timeline(&facts);
        let report = report(&ReportInput {
            story: &story,
            range: "HEAD",
            facts: &facts,
            analyses: &analyses,
            phases: &[phase],
            ranges: &ranges,
            timeline: &timeline,
        });
        // The first commit (a milestone), the cited one, the storyline's (also a release's);
        // not the fourth, which nothing names.
        let listed: Vec<&str> = report.commits.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(listed, [id(0), id(1), id(2)]);
        assert_eq!(report.commits[2].tags, ["v1.0.0"]);
        assert_eq!(report.commits[0].date, "2023-11-14");
        // Pre-releases are no release marks.
        let releases: Vec<&str> = report.releases.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(releases, ["v1.0.0"]);
        // A phase runs from its first to its last commit, not from its oldest author time.
        assert_eq!(
            (report.phases[0].start_time, report.phases[0].end_time),
            (facts[0].time, facts[2].time)
        );
        assert_eq!(
            (
                report.phases[0].start.as_str(),
                report.phases[0].end.as_str()
            ),
            ("2023-11-14", "2024-01-03")
        );
        let span = &report.storylines[0];
        assert_eq!(
            (span.first_time, span.last_time),
            (facts[1].time, facts[2].time)
        );
        assert_eq!(span.commits, 2);
        assert_eq!(report.months.len(), timeline.months.len());
        assert!(report.milestones.iter().any(|m| m.commit == Some(id(0))));
        // The graph holds every commit, newest first.
        let graph: Vec<&str> = report.graph.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(graph, [id(3), id(2), id(1), id(0)]);
    }

    #[test]
    fn a_sentence_lists_its_first_evidence_and_the_commits_its_text_names() {
        let facts: Vec<CommitFacts> = (1..=12)
            .map(|n| fact(n, 1_700_000_000 + i64::from(n) * DAY, &[]))
            .collect();
        let ids: Vec<String> = facts.iter().map(|f| f.id.clone()).collect();
        let story = StoryDocument {
            sections: vec![StorySection {
                id: "summary".into(),
                heading: "In brief".into(),
                list: false,
                claims: vec![Claim {
                    text: format!("Then `{}` came.", &ids[10][..7]),
                    evidence: Evidence {
                        commits: ids.clone(),
                        ..Evidence::default()
                    },
                }],
            }],
            ..StoryDocument::default()
        };
        let analyses = Analyses::of(&History::new(), &[]);
        let timeline = story::timeline(&facts);
        let report = report(&ReportInput {
            story: &story,
            range: "HEAD",
            facts: &facts,
            analyses: &analyses,
            phases: &[],
            ranges: &[],
            timeline: &timeline,
        });
        let listed: Vec<&str> = report.commits.iter().map(|c| c.id.as_str()).collect();
        // The first eight, the one the text names; the first commit is a milestone anyway.
        let mut expected: Vec<&str> = ids[..EVIDENCE_PER_CLAIM]
            .iter()
            .map(String::as_str)
            .collect();
        expected.push(&ids[10]);
        assert_eq!(listed, expected);
    }
}
