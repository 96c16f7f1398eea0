//! How the technology changed, phase by phase: the languages of the lines changed, and the
//! dependencies the manifests brought in and dropped.
//!
//! * [`language_mix`]: per phase, the lines changed (added plus deleted, merges left out) in
//!   each language of code ([`crate::languages`]: prose and data formats do not count), and
//!   over the whole history; [`language_shifts`] picks the languages whose share moved by
//!   at least [`SHIFT_POINTS`] between the first and the last phase with enough code.
//! * [`dependencies`]: the arrivals and departures of dependencies, from the changes the
//!   extract stage recorded per commit ([`crate::manifests`]). A dependency *arrives* when no
//!   manifest declared it before a commit and one does after, and *departs* when the last
//!   manifest that declared it stops; moving a manifest is neither. A phase tells what it
//!   brought in and still had at its end, and what it dropped and did not take back; a dropped
//!   dependency is paired with one of the same ecosystem that arrived in the same commit, else
//!   in the same phase, as what seems to have replaced it.
//!
//! A range that starts after the first commit does not know what the manifests declared
//! before it: a dependency removed from a manifest the range never saw declaring it counts
//! as declared there until then.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use crate::History;
use crate::languages::{is_code, language_of};
use crate::manifests::Ecosystem;

/// A language's lines in a span of commits.
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageLines {
    pub language: String,
    /// Lines added plus deleted in files of the language.
    pub lines: u64,
    /// The commit of the span that changed the most lines in the language.
    pub largest_commit: String,
}

/// The languages of one phase, most lines first.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseLanguages {
    /// Index of the phase in the ranges given.
    pub phase: usize,
    /// Lines changed in code.
    pub lines: u64,
    pub languages: Vec<LanguageLines>,
}

impl PhaseLanguages {
    /// The share (0 to 1) of the phase's code lines in `language`.
    pub fn share(&self, language: &str) -> f64 {
        let lines = self
            .languages
            .iter()
            .find(|l| l.language == language)
            .map_or(0, |l| l.lines);
        if self.lines == 0 {
            0.0
        } else {
            lines as f64 / self.lines as f64
        }
    }

    fn largest_commit(&self, language: &str) -> Option<&str> {
        self.languages
            .iter()
            .find(|l| l.language == language)
            .map(|l| l.largest_commit.as_str())
    }
}

/// The languages of the lines changed, per phase and overall.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LanguageMix {
    /// One per phase, in the order of the ranges.
    pub phases: Vec<PhaseLanguages>,
    /// The whole history, most lines first.
    pub overall: Vec<LanguageLines>,
    /// Lines changed in code over the whole history.
    pub lines: u64,
    /// Lines changed in any file over the whole history (merges included).
    pub all_lines: u64,
}

/// A phase needs this many lines changed in code for its shares to be compared.
pub const MIN_PHASE_LINES: u64 = 20;
/// A share must move by this many percentage points to be a shift.
pub const SHIFT_POINTS: f64 = 15.0;

/// The lines changed per language over `history`, per phase (`ranges`, commit indices).
pub fn language_mix(history: &History, ranges: &[Range<usize>]) -> LanguageMix {
    // The language of each path, looked up once.
    let languages: Vec<Option<&'static str>> = history
        .paths()
        .map(|(_, path)| language_of(path).filter(|l| is_code(l)))
        .collect();
    let tally = |range: Range<usize>| -> (u64, Vec<LanguageLines>) {
        let mut lines: HashMap<&str, (u64, u64, usize)> = HashMap::new();
        for index in range {
            let commit = &history.commits[index];
            if commit.merge {
                continue;
            }
            let mut per_commit: HashMap<&str, u64> = HashMap::new();
            for change in &commit.changes {
                if let Some(Some(language)) = languages.get(change.path.0 as usize) {
                    *per_commit.entry(language).or_default() += change.added + change.deleted;
                }
            }
            for (language, n) in per_commit {
                let entry = lines.entry(language).or_insert((0, 0, index));
                entry.0 += n;
                if n > entry.1 {
                    (entry.1, entry.2) = (n, index);
                }
            }
        }
        let mut out: Vec<LanguageLines> = lines
            .into_iter()
            .filter(|(_, (n, _, _))| *n > 0)
            .map(|(language, (n, _, index))| LanguageLines {
                language: language.to_owned(),
                lines: n,
                largest_commit: history.commits[index].id.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.lines.cmp(&a.lines).then(a.language.cmp(&b.language)));
        (out.iter().map(|l| l.lines).sum(), out)
    };
    let phases = ranges
        .iter()
        .enumerate()
        .map(|(phase, range)| {
            let end = range.end.min(history.commits.len());
            let (lines, languages) = tally(range.start.min(end)..end);
            PhaseLanguages {
                phase,
                lines,
                languages,
            }
        })
        .collect();
    let (lines, overall) = tally(0..history.commits.len());
    LanguageMix {
        phases,
        overall,
        lines,
        all_lines: history.commits.iter().map(crate::Commit::churn).sum(),
    }
}

/// A language whose share of the code lines changed moved between two phases.
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageShift {
    pub language: String,
    /// Phase indices (into the ranges).
    pub from_phase: usize,
    pub to_phase: usize,
    /// Shares, 0 to 1.
    pub from_share: f64,
    pub to_share: f64,
    /// The commits with the most lines in the language in each phase (none where it had none).
    pub from_commit: Option<String>,
    pub to_commit: Option<String>,
}

/// The languages whose share moved by at least [`SHIFT_POINTS`] from the first phase with
/// [`MIN_PHASE_LINES`] lines of code to the last one, largest move first, at most `limit`.
pub fn language_shifts(mix: &LanguageMix, limit: usize) -> Vec<LanguageShift> {
    let mut enough = mix.phases.iter().filter(|p| p.lines >= MIN_PHASE_LINES);
    let (Some(first), Some(last)) = (enough.next(), enough.next_back()) else {
        return Vec::new();
    };
    let languages: BTreeSet<&str> = first
        .languages
        .iter()
        .chain(&last.languages)
        .map(|l| l.language.as_str())
        .collect();
    let mut shifts: Vec<LanguageShift> = languages
        .into_iter()
        .map(|language| LanguageShift {
            language: language.to_owned(),
            from_phase: first.phase,
            to_phase: last.phase,
            from_share: first.share(language),
            to_share: last.share(language),
            from_commit: first.largest_commit(language).map(str::to_owned),
            to_commit: last.largest_commit(language).map(str::to_owned),
        })
        .filter(|s| (s.to_share - s.from_share).abs() * 100.0 >= SHIFT_POINTS)
        .collect();
    shifts.sort_by(|a, b| {
        let moved = |s: &LanguageShift| (s.to_share - s.from_share).abs();
        moved(b)
            .total_cmp(&moved(a))
            .then(a.language.cmp(&b.language))
    });
    shifts.truncate(limit);
    shifts
}

/// A dependency arriving or departing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyEvent {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// The commit, its index in the history and its time.
    pub commit: String,
    pub index: usize,
    pub time: i64,
    /// The manifests whose change it was (sorted).
    pub manifests: Vec<String>,
}

/// What a phase brought in and dropped (net over the phase), each in commit order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhaseDependencies {
    /// Index of the phase in the ranges given.
    pub phase: usize,
    pub added: Vec<DependencyEvent>,
    pub removed: Vec<DependencyEvent>,
}

/// Why a dependency seems to have taken a dropped one's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplacedIn {
    SameCommit,
    SamePhase,
}

/// A dependency dropped, and what seems to have replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub dependency: DependencyEvent,
    /// Index of the phase.
    pub phase: usize,
    pub replacement: Option<(DependencyEvent, ReplacedIn)>,
}

/// The dependencies' arrivals and departures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// One per phase, in the order of the ranges.
    pub phases: Vec<PhaseDependencies>,
    /// Every dependency a phase dropped, in commit order.
    pub dropped: Vec<Dropped>,
}

type Key = (Ecosystem, String);

/// The arrivals and departures of dependencies over `history`, per phase (`ranges`).
pub fn dependencies(history: &History, ranges: &[Range<usize>]) -> Dependencies {
    // Which manifests declare each dependency, as far as the range tells.
    let mut declared: HashMap<Key, BTreeSet<String>> = HashMap::new();
    // Arrivals (`true`) and departures, in commit order.
    let mut events: Vec<(bool, DependencyEvent)> = Vec::new();
    for (index, commit) in history.commits.iter().enumerate() {
        let changes = &commit.dependencies;
        if changes.is_empty() {
            continue;
        }
        let mut touched: BTreeMap<Key, (bool, Vec<String>)> = BTreeMap::new();
        for dep in changes.removed.iter().chain(&changes.added) {
            let key = (dep.ecosystem, dep.name.clone());
            let before = declared.get(&key).is_some_and(|m| !m.is_empty());
            let entry = touched.entry(key).or_insert((before, Vec::new()));
            entry.1.push(dep.manifest.clone());
        }
        for dep in &changes.removed {
            let key = (dep.ecosystem, dep.name.clone());
            let manifests = declared.entry(key.clone()).or_default();
            // Declared before the range began, as far as this range can tell.
            if manifests.is_empty() {
                touched.entry(key).or_default().0 = true;
            }
            manifests.remove(&dep.manifest);
        }
        for dep in &changes.added {
            declared
                .entry((dep.ecosystem, dep.name.clone()))
                .or_default()
                .insert(dep.manifest.clone());
        }
        for (key, (before, mut manifests)) in touched {
            let after = declared.get(&key).is_some_and(|m| !m.is_empty());
            if before == after {
                continue;
            }
            manifests.sort();
            manifests.dedup();
            let event = DependencyEvent {
                ecosystem: key.0,
                name: key.1,
                commit: commit.id.clone(),
                index,
                time: commit.time,
                manifests,
            };
            events.push((after, event));
        }
    }
    let mut out = Dependencies::default();
    for (phase, range) in ranges.iter().enumerate() {
        // Net over the phase: whether a dependency was declared at its start (its first
        // event in the phase is a departure) and at its end (its last one is an arrival).
        let mut spans: BTreeMap<(Ecosystem, &str), (bool, &DependencyEvent, bool)> =
            BTreeMap::new();
        for (arrives, event) in events.iter().filter(|(_, e)| range.contains(&e.index)) {
            spans
                .entry((event.ecosystem, event.name.as_str()))
                .and_modify(|span| (span.1, span.2) = (event, *arrives))
                .or_insert((!*arrives, event, *arrives));
        }
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for (at_start, last, at_end) in spans.into_values() {
            match (at_start, at_end) {
                (false, true) => added.push(last.clone()),
                (true, false) => removed.push(last.clone()),
                _ => {}
            }
        }
        added.sort_by(|a, b| (a.index, &a.name).cmp(&(b.index, &b.name)));
        removed.sort_by(|a, b| (a.index, &a.name).cmp(&(b.index, &b.name)));
        for gone in &removed {
            let same_ecosystem = |a: &&DependencyEvent| a.ecosystem == gone.ecosystem;
            let replacement = added
                .iter()
                .filter(same_ecosystem)
                .find(|a| a.index == gone.index)
                .map(|a| (a.clone(), ReplacedIn::SameCommit))
                .or_else(|| {
                    added
                        .iter()
                        .filter(same_ecosystem)
                        .min_by_key(|a| a.index.abs_diff(gone.index))
                        .map(|a| (a.clone(), ReplacedIn::SamePhase))
                });
            out.dropped.push(Dropped {
                dependency: gone.clone(),
                phase,
                replacement,
            });
        }
        out.phases.push(PhaseDependencies {
            phase,
            added,
            removed,
        });
    }
    out.dropped.sort_by_key(|d| d.dependency.index);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::manifests::{Dependency, DependencyChanges};
    use crate::testing::Builder;

    fn deps(added: &[(&str, &str)], removed: &[(&str, &str)]) -> CommitLabels {
        let list = |items: &[(&str, &str)]| {
            items
                .iter()
                .map(|&(name, manifest)| Dependency {
                    ecosystem: if manifest.ends_with("package.json") {
                        Ecosystem::Npm
                    } else {
                        Ecosystem::Cargo
                    },
                    name: name.to_owned(),
                    manifest: manifest.to_owned(),
                })
                .collect()
        };
        CommitLabels {
            dependencies: DependencyChanges {
                added: list(added),
                removed: list(removed),
            },
            ..CommitLabels::default()
        }
    }

    #[test]
    fn language_shares_per_phase_and_their_shifts() {
        let history = Builder::new()
            .commit(
                "Ada",
                0,
                "python start",
                &[("app.py", '+', 60, 0), ("README.md", '+', 500, 0)],
            )
            .commit("Ada", 1, "some rust", &[("src/lib.rs", '+', 40, 0)])
            .commit(
                "Ada",
                2,
                "more rust",
                &[("src/lib.rs", 'M', 80, 10), ("app.py", 'M', 5, 5)],
            )
            .commit("Ada", 3, "rust grows", &[("src/main.rs", '+', 100, 0)])
            .build();
        let mix = language_mix(&history, &[0..2, 2..4]);
        assert_eq!((mix.lines, mix.all_lines), (300, 800));
        assert_eq!(mix.phases[0].lines, 100);
        assert!((mix.phases[0].share("Python") - 0.6).abs() < 1e-9);
        assert!((mix.phases[1].share("Rust") - 0.95).abs() < 1e-9);
        assert_eq!(mix.phases[1].languages[0].largest_commit, "c4");
        assert_eq!(mix.overall[0].language, "Rust");
        let shifts = language_shifts(&mix, 3);
        let names: Vec<(&str, i64, i64)> = shifts
            .iter()
            .map(|s| {
                (
                    s.language.as_str(),
                    (s.from_share * 100.0).round() as i64,
                    (s.to_share * 100.0).round() as i64,
                )
            })
            .collect();
        assert_eq!(names, [("Python", 60, 5), ("Rust", 40, 95)]);
        assert_eq!(shifts[1].from_commit.as_deref(), Some("c2"));
        // One phase: nothing to compare.
        let one_phase = [Range { start: 0, end: 4 }];
        assert!(language_shifts(&language_mix(&history, &one_phase), 3).is_empty());
    }

    #[test]
    fn dependencies_arrive_depart_and_are_replaced() {
        let history = Builder::new()
            .labelled(
                "Ada",
                0,
                "start",
                &[("Cargo.toml", '+', 5, 0)],
                &[],
                deps(&[("serde", "Cargo.toml"), ("logos", "Cargo.toml")], &[]),
            )
            // A second manifest declaring serde: no arrival.
            .labelled(
                "Ada",
                1,
                "lexer crate",
                &[("lexer/Cargo.toml", '+', 5, 0)],
                &[],
                deps(&[("serde", "lexer/Cargo.toml")], &[]),
            )
            // Tried and dropped within the phase: nothing to tell.
            .labelled(
                "Ada",
                2,
                "try",
                &[("Cargo.toml", 'M', 1, 0)],
                &[],
                deps(&[("rand", "Cargo.toml")], &[]),
            )
            .labelled(
                "Ada",
                3,
                "untry",
                &[("Cargo.toml", 'M', 0, 1)],
                &[],
                deps(&[], &[("rand", "Cargo.toml")]),
            )
            // Phase 2: logos out, nom in, in one commit; serde leaves one manifest only.
            .labelled(
                "Ada",
                4,
                "swap",
                &[("Cargo.toml", 'M', 1, 1)],
                &[],
                deps(
                    &[("nom", "Cargo.toml")],
                    &[("logos", "Cargo.toml"), ("serde", "Cargo.toml")],
                ),
            )
            // A moved manifest is no change; the web's react goes (never seen arriving).
            .labelled(
                "Ada",
                5,
                "move",
                &[("Cargo.toml", 'M', 1, 1)],
                &[],
                deps(
                    &[("nom", "core/Cargo.toml")],
                    &[("nom", "Cargo.toml"), ("react", "web/package.json")],
                ),
            )
            .build();
        let found = dependencies(&history, &[0..4, 4..6]);
        let names = |events: &[DependencyEvent]| -> Vec<String> {
            events
                .iter()
                .map(|e| format!("{} {}", e.name, e.commit))
                .collect()
        };
        assert_eq!(names(&found.phases[0].added), ["logos c1", "serde c1"]);
        assert!(found.phases[0].removed.is_empty());
        assert_eq!(names(&found.phases[1].added), ["nom c5"]);
        assert_eq!(names(&found.phases[1].removed), ["logos c5", "react c6"]);
        let dropped: Vec<(String, Option<(String, ReplacedIn)>)> = found
            .dropped
            .iter()
            .map(|d| {
                (
                    d.dependency.name.clone(),
                    d.replacement
                        .as_ref()
                        .map(|(r, how)| (r.name.clone(), *how)),
                )
            })
            .collect();
        assert_eq!(
            dropped,
            [
                ("logos".into(), Some(("nom".into(), ReplacedIn::SameCommit))),
                ("react".into(), None)
            ]
        );
    }
}
