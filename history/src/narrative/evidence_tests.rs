//! A property over random histories: whatever the history, every claim the story makes rests
//! on commits of the range, a claim about one phase only on that phase's commits, no sentence
//! is empty, and every figure is a finite number (or text).

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::CommitLabels;
use crate::manifests::{Dependency, DependencyChanges, Ecosystem};
use crate::testing::Builder;

const AUTHORS: &[&str] = &["Ada", "Bob", "Chloé", "dependabot[bot]", "Dan `x`"];
const PATHS: &[&str] = &[
    "README.md",
    "src/lib.rs",
    "src/main.rs",
    "src/parser/mod.rs",
    "core/src/lib.rs",
    "web/app.ts",
    "web/package.json",
    "py/tool.py",
    "docs/guide.md",
    "Cargo.toml",
    "old/legacy.c",
    "scripts/run.sh",
    "a b/[x](javascript:y).rs",
];
const NAMES: &[&str] = &["serde", "logos", "nom", "react", "left-pad", "tokio"];
const MANIFESTS: &[&str] = &["Cargo.toml", "core/Cargo.toml", "web/package.json"];

/// One random commit: author, days after the previous one, files (path, kind, lines added
/// and deleted), a rename, dependencies added and removed.
type RandomCommit = (
    usize,
    i64,
    Vec<(usize, u8, u64, u64)>,
    Option<(usize, usize)>,
    Vec<(usize, usize)>,
    Vec<(usize, usize)>,
);

fn commit_strategy() -> impl Strategy<Value = RandomCommit> {
    (
        0..AUTHORS.len(),
        0i64..40,
        prop::collection::vec((0..PATHS.len(), 0u8..3, 0u64..3000, 0u64..500), 0..5),
        prop::option::weighted(0.1, (0..PATHS.len(), 0..PATHS.len())),
        prop::collection::vec((0..NAMES.len(), 0..MANIFESTS.len()), 0..3),
        prop::collection::vec((0..NAMES.len(), 0..MANIFESTS.len()), 0..2),
    )
}

fn dependency(name: usize, manifest: usize) -> Dependency {
    Dependency {
        ecosystem: if MANIFESTS[manifest].ends_with(".json") {
            Ecosystem::Npm
        } else {
            Ecosystem::Cargo
        },
        name: NAMES[name].to_owned(),
        manifest: MANIFESTS[manifest].to_owned(),
    }
}

fn build(commits: &[RandomCommit]) -> History {
    let mut builder = Builder::new().hex_ids();
    let mut day = 0;
    for (n, (author, gap, files, rename, added, removed)) in commits.iter().enumerate() {
        day += gap;
        let files: Vec<(&str, char, u64, u64)> = files
            .iter()
            .map(|&(path, kind, a, d)| (PATHS[path], ['+', 'M', '-'][kind as usize], a, d))
            .collect();
        let renames: Vec<(&str, &str, u8)> = rename
            .iter()
            .map(|&(from, to)| (PATHS[from], PATHS[to], 100))
            .collect();
        let mut added: Vec<Dependency> = added.iter().map(|&(n, m)| dependency(n, m)).collect();
        let mut removed: Vec<Dependency> = removed.iter().map(|&(n, m)| dependency(n, m)).collect();
        added.sort();
        added.dedup();
        removed.sort();
        removed.dedup();
        removed.retain(|r| !added.contains(r));
        builder = builder.labelled(
            AUTHORS[*author],
            day,
            &format!("change {n} <b>*</b>"),
            &files,
            &renames,
            CommitLabels {
                class: ["feature", "fix", "refactor", "docs", "chore"][n % 5].to_owned(),
                bot: AUTHORS[*author].ends_with("[bot]"),
                dependencies: DependencyChanges { added, removed },
                ..CommitLabels::default()
            },
        );
    }
    builder.build()
}

/// Phases from cut points: sorted, distinct, inside the history.
fn phases_of(len: usize, cuts: &[usize]) -> Vec<PhaseSpan> {
    let mut bounds: Vec<usize> = cuts
        .iter()
        .map(|c| c % len.max(1))
        .filter(|&c| c > 0)
        .collect();
    bounds.push(0);
    bounds.push(len);
    bounds.sort_unstable();
    bounds.dedup();
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| PhaseSpan {
            number: i + 1,
            name: format!("p{}", i + 1),
            range: w[0]..w[1],
            releases: vec![],
        })
        .collect()
}

fn assert_finite(value: &Value, context: &str) {
    match value {
        Value::Null => panic!("a null figure (NaN?) in {context}"),
        Value::Number(n) => {
            assert!(n.as_f64().is_some_and(f64::is_finite), "{n} in {context}");
        }
        Value::Array(items) => items.iter().for_each(|v| assert_finite(v, context)),
        Value::Object(map) => map.values().for_each(|v| assert_finite(v, context)),
        Value::Bool(_) | Value::String(_) => {}
    }
}

fn check(history: &History, phases: &[PhaseSpan]) {
    let doc = tell(history, "random", phases);
    let index: HashMap<&str, usize> = history
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    for section in &doc.sections {
        assert!(!section.claims.is_empty(), "empty section {}", section.id);
        for (n, claim) in section.claims.iter().enumerate() {
            let context = format!("{} #{n}: {}", section.id, claim.text);
            assert!(!claim.text.trim().is_empty(), "{context}");
            assert!(
                !claim.text.contains("NaN") && !claim.text.contains("inf "),
                "{context}"
            );
            for figure in claim.evidence.figures.values() {
                assert_finite(figure, &context);
            }
            let at: Vec<usize> = claim
                .evidence
                .commits
                .iter()
                .map(|id| {
                    *index
                        .get(id.as_str())
                        .unwrap_or_else(|| panic!("{id} is no commit of the range: {context}"))
                })
                .collect();
            // A claim about one phase rests on that phase's commits only.
            let phase = match section.id.as_str() {
                "timeline" => phases.iter().filter(|p| !p.range.is_empty()).nth(n),
                _ => claim
                    .evidence
                    .figures
                    .get("phase")
                    .and_then(Value::as_u64)
                    .and_then(|number| phases.iter().find(|p| p.number as u64 == number)),
            };
            if let Some(phase) = phase {
                assert!(
                    at.iter().all(|i| phase.range.contains(i)),
                    "{context}: commits {at:?} outside phase {} {:?}",
                    phase.number,
                    phase.range
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_claim_rests_on_commits_of_the_range(
        commits in prop::collection::vec(commit_strategy(), 1..40),
        cuts in prop::collection::vec(0usize..64, 0..6),
    ) {
        let history = build(&commits);
        let phases = phases_of(history.commits.len(), &cuts);
        check(&history, &phases);
    }
}

#[test]
fn an_empty_history_and_one_without_phases_tell_no_evidence_from_elsewhere() {
    check(&History::new(), &[]);
    let history = build(&[(0, 0, vec![(1, 0, 10, 0)], None, vec![(0, 0)], vec![])]);
    check(&history, &[]);
}
