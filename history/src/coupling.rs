//! Change coupling: pairs of files that change in the same commits more often than chance
//! would have them.
//!
//! # What is counted
//!
//! The commits counted are the non-merge commits that change between 1 and
//! [`MAX_FILES_PER_COMMIT`] (50) files; a commit changing more is a mass change (a reformat, a
//! licence header, a vendored import) that says nothing about which files belong together, and
//! is left out and counted as `massCommits`. Files are lives that follow renames, as in
//! [`ownership`](crate::ownership): a file renamed halfway keeps its coupling, reported under
//! its path at the end, and the two sides of a rename are no change. Bots' commits count like
//! anyone's (a dependency bump that always touches the manifest and the lock file is a real
//! coupling).
//!
//! For files A and B, over the `N` commits counted: `nA` and `nB` commits change each, and the
//! **support** is the number that change both.
//!
//! - **confidence** A→B = support / nA (of the commits changing A, the share also changing B),
//!   and B→A = support / nB; the pair's `confidence` is the larger, support / min(nA, nB): how
//!   tightly the less-changed file is bound to the other.
//! - **lift** = support · N / (nA · nB): how many times more often the two change together than
//!   if they changed independently (1 = chance).
//!
//! # What is reported
//!
//! Pairs with support ≥ [`MIN_SUPPORT`] (3) and confidence ≥ [`MIN_CONFIDENCE`] (0.5) whose
//! two files are both still in the tree at the last commit (a coupling to a deleted file is
//! history, not a hidden dependency). Sorted by support, then confidence, then paths; the first
//! [`MAX_PAIRS`] (20), each with its [`MAX_EVIDENCE`] (5) latest commits changing both.
//!
//! # Cost
//!
//! Two passes over the changes: the first counts each file's commits, the second adds each
//! pair of a counted commit to one `HashMap<(file, file), u32>`, at most 50·49/2 = 1,225 pairs
//! a commit thanks to the cap, and only pairs of files that could be reported (still there,
//! changed in at least [`MIN_SUPPORT`] commits).

use std::collections::HashMap;

use serde::Serialize;

use crate::History;
use crate::lineage::{Lineage, lineage};

/// The most files a commit may change and still count.
pub const MAX_FILES_PER_COMMIT: usize = 50;
/// The fewest commits changing both files of a reported pair.
pub const MIN_SUPPORT: u32 = 3;
/// The least confidence of a reported pair.
pub const MIN_CONFIDENCE: f64 = 0.5;
/// The most pairs reported.
pub const MAX_PAIRS: usize = 20;
/// The most commit ids a pair lists.
pub const MAX_EVIDENCE: usize = 5;

/// The file pairs of a history that change together.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupling {
    pub rules: CouplingRules,
    /// `N`: the commits counted.
    pub commits: u32,
    /// Non-merge commits left out for changing more than [`MAX_FILES_PER_COMMIT`] files.
    pub mass_commits: u32,
    /// How many pairs qualify (more than `pairs` lists when bounded).
    pub pairs_total: u32,
    pub pairs: Vec<CoupledPair>,
}

/// The thresholds, carried with the results so a sentence can state them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CouplingRules {
    pub max_files_per_commit: usize,
    pub min_support: u32,
    pub min_confidence: f64,
}

/// Two files that change together: `a` sorts before `b`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoupledPair {
    /// Their paths at the end.
    pub a: String,
    pub b: String,
    /// Commits changing both.
    pub support: u32,
    /// Commits changing each.
    pub commits_a: u32,
    pub commits_b: u32,
    /// support / min(commitsA, commitsB).
    pub confidence: f64,
    /// support / commitsA and support / commitsB.
    pub confidence_a_to_b: f64,
    pub confidence_b_to_a: f64,
    /// support · N / (commitsA · commitsB).
    pub lift: f64,
    /// The latest commits changing both, newest first.
    pub evidence: Vec<String>,
}

/// The file pairs of `history` that change together (see the module docs for the rules).
pub fn coupling(history: &History) -> Coupling {
    let lineage = lineage(history);
    let mut changes_of = vec![0_u32; lineage.lives.len()];
    let mut counted = 0_u32;
    for (_, lives) in commits(history, &lineage) {
        counted += 1;
        for life in lives {
            changes_of[life] += 1;
        }
    }
    // Only files that can be part of a reported pair take part: still there, and changed in
    // at least as many commits as a pair needs. Most files of a long history are neither.
    let candidate = |life: usize| changes_of[life] >= MIN_SUPPORT && lineage.lives[life].alive;
    let mut together: HashMap<(usize, usize), u32> = HashMap::new();
    for (_, mut lives) in commits(history, &lineage) {
        lives.retain(|&life| candidate(life));
        for (i, &a) in lives.iter().enumerate() {
            for &b in &lives[i + 1..] {
                *together.entry((a, b)).or_insert(0) += 1;
            }
        }
    }
    let mass_commits = history
        .commits
        .iter()
        .filter(|c| !c.merge && c.changes.len() > MAX_FILES_PER_COMMIT)
        .count();

    // Each qualifying pair with its two lives, `a` first.
    let mut pairs: Vec<((usize, usize), CoupledPair)> = together
        .into_iter()
        .filter(|&(_, support)| support >= MIN_SUPPORT)
        .filter_map(|((a, b), support)| {
            let (mut a, mut b) = (a, b);
            if history.path(lineage.lives[b].path) < history.path(lineage.lives[a].path) {
                (a, b) = (b, a);
            }
            let (n_a, n_b) = (changes_of[a], changes_of[b]);
            let confidence = ratio(support, n_a.min(n_b));
            (confidence >= MIN_CONFIDENCE).then(|| {
                let pair = CoupledPair {
                    a: history.path(lineage.lives[a].path).to_owned(),
                    b: history.path(lineage.lives[b].path).to_owned(),
                    support,
                    commits_a: n_a,
                    commits_b: n_b,
                    confidence,
                    confidence_a_to_b: ratio(support, n_a),
                    confidence_b_to_a: ratio(support, n_b),
                    lift: f64::from(support) * f64::from(counted)
                        / (f64::from(n_a) * f64::from(n_b)),
                    evidence: Vec::new(),
                };
                ((a, b), pair)
            })
        })
        .collect();
    let pairs_total = u32::try_from(pairs.len()).unwrap_or(u32::MAX);
    pairs.sort_by(|(_, x), (_, y)| {
        y.support
            .cmp(&x.support)
            .then(y.confidence.total_cmp(&x.confidence))
            .then_with(|| x.a.cmp(&y.a))
            .then_with(|| x.b.cmp(&y.b))
    });
    pairs.truncate(MAX_PAIRS);
    add_evidence(history, &lineage, &mut pairs);

    Coupling {
        rules: CouplingRules {
            max_files_per_commit: MAX_FILES_PER_COMMIT,
            min_support: MIN_SUPPORT,
            min_confidence: MIN_CONFIDENCE,
        },
        commits: counted,
        mass_commits: u32::try_from(mass_commits).unwrap_or(u32::MAX),
        pairs_total,
        pairs: pairs.into_iter().map(|(_, pair)| pair).collect(),
    }
}

/// The counted commits, in walk order, each with the lives it changes (sorted, distinct).
fn commits<'l>(
    history: &'l History,
    lineage: &'l Lineage,
) -> impl DoubleEndedIterator<Item = (usize, Vec<usize>)> + 'l {
    lineage
        .touches
        .chunk_by(|x, y| x.commit == y.commit)
        .filter(|touches| history.commits[touches[0].commit].changes.len() <= MAX_FILES_PER_COMMIT)
        .map(|touches| {
            let mut lives: Vec<usize> = touches.iter().map(|t| t.life).collect();
            lives.sort_unstable();
            lives.dedup();
            (touches[0].commit, lives)
        })
}

/// Fills each pair's latest commits changing both, newest first.
fn add_evidence(history: &History, lineage: &Lineage, pairs: &mut [((usize, usize), CoupledPair)]) {
    for (commit, lives) in commits(history, lineage).rev() {
        if pairs.iter().all(|(_, p)| p.evidence.len() == MAX_EVIDENCE) {
            break;
        }
        for ((a, b), pair) in pairs.iter_mut() {
            if pair.evidence.len() < MAX_EVIDENCE
                && lives.binary_search(a).is_ok()
                && lives.binary_search(b).is_ok()
            {
                pair.evidence.push(history.commits[commit].id.clone());
            }
        }
    }
}

fn ratio(part: u32, total: u32) -> f64 {
    if total == 0 {
        return 0.0;
    }
    f64::from(part) / f64::from(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::{Builder, File};

    /// A history of one commit per list of paths, each modifying them.
    fn history(commits: &[&[&str]]) -> History {
        let mut builder = Builder::new();
        for (day, paths) in (0..).zip(commits) {
            let files: Vec<File<'_>> = paths.iter().map(|p| (*p, 'M', 1, 0)).collect();
            builder = builder.commit("Ada", day, "change", &files);
        }
        builder.build()
    }

    fn pairs(coupling: &Coupling) -> Vec<(&str, &str, u32)> {
        coupling
            .pairs
            .iter()
            .map(|p| (p.a.as_str(), p.b.as_str(), p.support))
            .collect()
    }

    #[test]
    fn a_pair_at_support_three_is_reported_with_its_figures_and_two_is_not() {
        let coupling = coupling(&history(&[
            &["b.rs", "a.rs"],
            &["a.rs", "b.rs"],
            &["a.rs", "b.rs"],
            &["a.rs"],
            &["c.rs", "d.rs"],
            &["c.rs", "d.rs"],
            &["e.rs"],
        ]));
        assert_eq!((coupling.commits, coupling.mass_commits), (7, 0));
        assert_eq!(pairs(&coupling), [("a.rs", "b.rs", 3)]);
        let pair = &coupling.pairs[0];
        assert_eq!((pair.commits_a, pair.commits_b), (4, 3));
        assert_eq!(pair.confidence, 1.0);
        assert_eq!(
            (pair.confidence_a_to_b, pair.confidence_b_to_a),
            (0.75, 1.0)
        );
        assert_eq!(pair.lift, 1.75);
        assert_eq!(pair.evidence, ["c3", "c2", "c1"]);
        assert_eq!(coupling.pairs_total, 1);
        let json = serde_json::to_value(&coupling).expect("serializes");
        assert_eq!(json["pairs"][0]["confidenceAToB"], 0.75);
        assert_eq!(json["rules"]["maxFilesPerCommit"], 50);
    }

    #[test]
    fn a_pair_needs_half_the_commits_of_its_less_changed_file() {
        // x and y together 3 times; y alone 3 more: confidence 3/6 = 0.5 is enough.
        let mut commits: Vec<&[&str]> = vec![&["x", "y"], &["x", "y"], &["x", "y"]];
        commits.extend([&["x"] as &[&str], &["x"], &["x"], &["y"], &["y"], &["y"]]);
        assert_eq!(pairs(&coupling(&history(&commits))), [("x", "y", 3)]);
        // One more change of each alone: 3/7 is not.
        commits.extend([&["x"] as &[&str], &["y"]]);
        let coupling = coupling(&history(&commits));
        assert_eq!((coupling.pairs_total, coupling.pairs.len()), (0, 0));
    }

    #[test]
    fn mass_changes_and_merges_are_left_out() {
        let filler: Vec<String> = (0..48).map(|i| format!("gen/{i}.rs")).collect();
        let build = |filler: &[String], merge: bool| {
            let mut mass: Vec<File<'_>> = vec![("p.rs", 'M', 1, 0), ("q.rs", 'M', 1, 0)];
            mass.extend(filler.iter().map(|f| (f.as_str(), 'M', 1, 0)));
            let mut history = Builder::new()
                .commit("Ada", 0, "pq", &[("p.rs", '+', 1, 0), ("q.rs", '+', 1, 0)])
                .commit("Ada", 1, "pq", &[("p.rs", 'M', 1, 0), ("q.rs", 'M', 1, 0)])
                .commit("Ada", 2, "everything", &mass)
                .build();
            history.commits[2].merge = merge;
            coupling(&history)
        };
        // 50 files still count: the third commit makes support 3.
        let at_cap = build(&filler, false);
        assert_eq!(pairs(&at_cap), [("p.rs", "q.rs", 3)]);
        assert_eq!((at_cap.commits, at_cap.mass_commits), (3, 0));
        // 51 do not.
        let mut more = filler.clone();
        more.push("gen/48.rs".to_owned());
        let over = build(&more, false);
        assert_eq!(pairs(&over), []);
        assert_eq!((over.commits, over.mass_commits), (2, 1));
        // Nor does a merge.
        let merged = build(&filler, true);
        assert_eq!(
            (pairs(&merged), merged.commits, merged.mass_commits),
            (vec![], 2, 0)
        );
    }

    #[test]
    fn renames_keep_the_coupling_and_deleted_files_lose_it() {
        let history = Builder::new()
            .commit("Ada", 0, "1", &[("a.rs", '+', 1, 0), ("b.rs", '+', 1, 0)])
            .commit("Ada", 1, "2", &[("a.rs", 'M', 1, 0), ("b.rs", 'M', 1, 0)])
            .labelled(
                "Ada",
                2,
                "move",
                &[("a.rs", '-', 0, 1), ("z.rs", '+', 1, 0)],
                &[("a.rs", "z.rs", 100)],
                CommitLabels::default(),
            )
            .commit("Ada", 3, "3", &[("z.rs", 'M', 1, 0), ("b.rs", 'M', 1, 0)])
            .build();
        let coupling = coupling(&history);
        assert_eq!(pairs(&coupling), [("b.rs", "z.rs", 3)]);
        assert_eq!(coupling.pairs[0].evidence, ["c4", "c2", "c1"]);
        // The rename itself is no change: z.rs has 3 commits, not 4.
        assert_eq!(coupling.pairs[0].commits_b, 3);

        let mut builder = Builder::new();
        for day in 0..3 {
            builder = builder.commit("Ada", day, "x", &[("a.rs", 'M', 1, 0), ("b.rs", 'M', 1, 0)]);
        }
        let gone = builder
            .commit("Ada", 3, "drop", &[("a.rs", '-', 0, 1)])
            .build();
        assert_eq!(pairs(&super::coupling(&gone)), []);
    }

    #[test]
    fn pairs_are_ordered_by_support_then_confidence_and_bounded() {
        // Seven files together three times: 21 pairs of support 3. "a" and "b" a fourth time;
        // "b" and "c" four more times, which leaves "a"–"c" at 3 of "c"'s 7 commits, below
        // confidence 0.5. "a" and "h" three times of "h"'s four: confidence 0.75.
        let seven: &[&str] = &["a", "b", "c", "d", "e", "f", "g"];
        let coupling = coupling(&history(&[
            seven,
            seven,
            seven,
            &["a", "b"],
            &["a", "h"],
            &["a", "h"],
            &["a", "h"],
            &["h"],
            &["b", "c"],
            &["b", "c"],
            &["b", "c"],
            &["b", "c"],
        ]));
        assert_eq!(coupling.pairs_total, 21);
        let top: Vec<(&str, &str, u32)> = pairs(&coupling).into_iter().take(4).collect();
        assert_eq!(
            top,
            [("b", "c", 7), ("a", "b", 4), ("a", "d", 3), ("a", "e", 3)]
        );
        assert!(
            coupling
                .pairs
                .iter()
                .all(|p| (p.a.as_str(), p.b.as_str()) != ("a", "c"))
        );
        // "a"–"h" sorts after the 18 pairs of support 3 and confidence 1, so the bound of 20
        // cuts it.
        assert_eq!(coupling.pairs.len(), 20);
        let last = &coupling.pairs[19];
        assert_eq!(
            (last.a.as_str(), last.b.as_str(), last.confidence),
            ("f", "g", 1.0)
        );
        assert!(coupling.pairs.iter().all(|p| p.b != "h"));
        // Evidence: the 5 latest of "b"–"c"'s 7 commits.
        assert_eq!(
            coupling.pairs[0].evidence,
            ["c12", "c11", "c10", "c9", "c3"]
        );
    }
}
