use std::collections::HashSet;

use super::*;
use crate::CommitLabels;
use crate::testing::Builder;

fn labels(class: &str, scope: &str) -> CommitLabels {
    CommitLabels {
        class: class.into(),
        scope: Some(scope.into()),
        references: vec![],
        bot: false,
        dependencies: Default::default(),
    }
}

/// A history with a parser thread, a hand-over, a directory move, a retired directory and a
/// subject that tries to inject markup.
fn sample() -> History {
    let mut b = Builder::new()
        .commit("Ada", 0, "Start the project", &[("README.md", '+', 20, 0)])
        .commit("Ada", 1, "Add the lexer", &[("src/lexer.rs", '+', 300, 0)])
        .commit(
            "Ada",
            2,
            "Add the legacy io",
            &[("legacy/io.rs", '+', 120, 0)],
        );
    for day in 3..9 {
        b = b.labelled(
            "Ada",
            day,
            &format!("fix(parser): handle case {day}"),
            &[("src/parser.rs", if day == 3 { '+' } else { 'M' }, 40, 5)],
            &[],
            labels("fix", "parser"),
        );
    }
    b = b.commit(
        "Bob",
        40,
        "Drop the legacy io <img src=x onerror=alert(1)>",
        &[("legacy/io.rs", '-', 0, 120), ("src/io.rs", '+', 90, 0)],
    );
    b = b.labelled(
        "Bob",
        41,
        "Move src to lib",
        &[
            ("src/lexer.rs", '-', 0, 300),
            ("src/parser.rs", '-', 0, 215),
            ("src/io.rs", '-', 0, 90),
            ("lib/lexer.rs", '+', 300, 0),
            ("lib/parser.rs", '+', 215, 0),
            ("lib/io.rs", '+', 90, 0),
        ],
        &[
            ("src/lexer.rs", "lib/lexer.rs", 100),
            ("src/parser.rs", "lib/parser.rs", 100),
            ("src/io.rs", "lib/io.rs", 100),
        ],
        labels("refactor", "layout"),
    );
    for day in 42..50 {
        b = b.commit(
            "Bob",
            day,
            &format!("Extend the parser, step {day}"),
            &[("lib/parser.rs", 'M', 60, 10), ("lib/lexer.rs", 'M', 5, 1)],
        );
    }
    b.build()
}

fn phases(history: &History) -> Vec<PhaseSpan> {
    let n = history.commits.len();
    vec![
        PhaseSpan {
            number: 1,
            name: "Beginnings".into(),
            range: 0..9,
            releases: vec!["v0.1".into()],
        },
        PhaseSpan {
            number: 2,
            name: "The move [to lib](javascript:x)".into(),
            range: 9..n,
            releases: vec![],
        },
    ]
}

#[test]
fn every_claims_evidence_names_commits_of_the_history() {
    let history = sample();
    let doc = tell(&history, "acme/parser", &phases(&history));
    let ids: HashSet<&str> = history.commits.iter().map(|c| c.id.as_str()).collect();
    let mut claims = 0;
    for section in &doc.sections {
        for claim in &section.claims {
            claims += 1;
            for id in &claim.evidence.commits {
                assert!(
                    ids.contains(id.as_str()),
                    "{}: {id} in {}",
                    section.id,
                    claim.text
                );
            }
            assert!(
                !claim.evidence.commits.is_empty() || !claim.evidence.figures.is_empty(),
                "a claim without evidence: {}",
                claim.text
            );
        }
    }
    assert!(claims >= 10, "{claims} claims");
    let sections: Vec<&str> = doc.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        sections,
        [
            "summary",
            "timeline",
            "storylines",
            "evolution",
            "deletions",
            "ownership",
            "risks"
        ]
    );
}

#[test]
fn the_story_states_the_facts_in_sentences() {
    let history = sample();
    let doc = tell(&history, "acme/parser", &phases(&history));
    let md = render_markdown(&doc);
    assert!(md.starts_with("# acme/parser\n"), "{md}");
    for sentence in [
        "acme/parser has 19 commits by 2 authors from 2024-01-01 to 2024-02-19 (49 days).",
        "**Phase 1 — Beginnings** (2024-01-01 to 2024-01-09): 9 commits by 1 author, released as v0.1; most lines changed in `src` (570 lines).",
        "`src/` moved to `lib/`: 3 files and 605 lines, in `c11` (2024-02-11); a move, not new work.",
        "`legacy` (1 file) was deleted on 2024-02-10 (`c10`).",
        "`legacy` was retired on 2024-02-10 (`c10`): its 1 file and 120 lines were deleted; `src` (90 lines) came in its place (a sibling directory).",
        "Bob made the most commits: 10 of 19 (53 %)",
    ] {
        assert!(md.contains(sentence), "missing {sentence:?} in\n{md}");
    }
    // Its file was deleted with the directory: told once, with the directory.
    assert!(!md.contains("`legacy/io.rs` (120 lines)"), "{md}");
    // The move is told as a move, never as one of the largest changes.
    let largest: Vec<&Claim> = doc.sections[3]
        .claims
        .iter()
        .filter(|c| c.text.starts_with("One of the largest changes"))
        .collect();
    assert!(!largest.is_empty());
    assert!(
        largest
            .iter()
            .all(|c| !c.evidence.commits.contains(&"c11".to_owned()))
    );
    // The parser's fixes (with the lexer, in the same burst of `src`) are a storyline, and so
    // is the work since the move.
    let storylines: Vec<&str> = doc.sections[2]
        .claims
        .iter()
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        storylines,
        [
            "**`lib`** — feature work of 9 commits by Bob, 2024-02-11 to 2024-02-19, in phase 2; it is still under way. It began with “Move src to lib” (`c11`) and its latest step is “Extend the parser, step 49” (`c19`).",
            "**`src`** — a bug campaign of 7 commits by Ada, 2024-01-02 to 2024-01-09, in phase 1; it came to an end. It began with “Add the lexer” (`c2`) and its latest step is “fix(parser): handle case 8” (`c9`).",
        ]
    );
}

#[test]
fn repository_text_is_never_markup() {
    let history = sample();
    let md = render_markdown(&tell(&history, "<script>x</script>", &phases(&history)));
    assert!(!md.contains("<img"), "{md}");
    assert!(!md.contains("<script"), "{md}");
    // An escaped bracket opens no link: `\](` is text.
    assert!(!md.contains("[to lib]("), "{md}");
    assert!(md.contains("&lt;img src=x onerror=alert(1)&gt;"), "{md}");
    assert!(md.contains("The move \\[to lib\\](javascript:x)"), "{md}");
}

#[test]
fn an_empty_history_and_a_single_commit_still_tell_something() {
    let doc = tell(&History::new(), "empty", &[]);
    assert_eq!(
        render_markdown(&doc),
        "# empty\n\n## In brief\n\nThe repository has no commits in the range analyzed.\n"
    );
    let one = Builder::new()
        .commit("Ada", 0, "Initial commit", &[("a.txt", '+', 1, 0)])
        .build();
    let md = render_markdown(&tell(&one, "one", &[]));
    assert!(
        md.contains(
            "one has 1 commit by 1 author from 2024-01-01 to 2024-01-01 (less than a day)."
        ),
        "{md}"
    );
}

#[test]
fn counts_read_as_numbers_people_write() {
    assert_eq!(count(1, "commit"), "1 commit");
    assert_eq!(count(0, "commit"), "0 commits");
    assert_eq!(count(1_234_567, "line"), "1,234,567 lines");
    assert_eq!(span(90 * 86_400), "3 months");
    assert_eq!(span(3 * 366 * 86_400), "about 3 years");
    assert_eq!(code("a`b"), "a\\`b");
    assert_eq!(short("0123456789abcdef"), "`0123456`");
}

/// A history that moves from Python to Rust and swaps a dependency for another.
fn technology() -> (History, Vec<PhaseSpan>) {
    use crate::manifests::{Dependency, DependencyChanges, Ecosystem};
    let dep = |name: &str, manifest: &str| Dependency {
        ecosystem: if manifest.ends_with(".txt") {
            Ecosystem::Python
        } else {
            Ecosystem::Cargo
        },
        name: name.to_owned(),
        manifest: manifest.to_owned(),
    };
    let changes = |added: Vec<Dependency>, removed: Vec<Dependency>| CommitLabels {
        dependencies: DependencyChanges { added, removed },
        ..labels("feature", "x")
    };
    let history = Builder::new()
        .hex_ids()
        .labelled(
            "Ada",
            0,
            "Start in Python",
            &[("tool.py", '+', 80, 0), ("requirements.txt", '+', 2, 0)],
            &[],
            changes(vec![dep("requests", "requirements.txt")], vec![]),
        )
        .commit("Ada", 1, "A first crate", &[("src/lib.rs", '+', 20, 0)])
        .labelled(
            "Ada",
            30,
            "Port the tool to Rust",
            &[("src/lib.rs", 'M', 150, 5), ("Cargo.toml", '+', 6, 0)],
            &[],
            changes(vec![dep("ureq", "Cargo.toml")], vec![]),
        )
        .labelled(
            "Ada",
            31,
            "Switch to reqwest, drop the Python tool",
            &[
                ("src/lib.rs", 'M', 40, 10),
                ("tool.py", '-', 0, 10),
                ("Cargo.toml", 'M', 1, 1),
            ],
            &[],
            changes(
                vec![dep("reqwest", "Cargo.toml")],
                vec![dep("ureq", "Cargo.toml")],
            ),
        )
        .build();
    let phases = vec![
        PhaseSpan {
            number: 1,
            name: "Python".into(),
            range: 0..2,
            releases: vec![],
        },
        PhaseSpan {
            number: 2,
            name: "Rust".into(),
            range: 2..4,
            releases: vec![],
        },
    ];
    (history, phases)
}

#[test]
fn languages_and_dependencies_are_told_per_phase() {
    let (history, phases) = technology();
    let doc = tell(&history, "tool", &phases);
    let texts = |id: &str| -> Vec<String> {
        doc.sections
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.claims.iter().map(|c| c.text.clone()).collect())
            .unwrap_or_default()
    };
    let evolution = texts("evolution");
    let told: Vec<&str> = evolution
        .iter()
        .map(String::as_str)
        .filter(|t| t.contains('%') || t.contains("dependenc"))
        .collect();
    assert_eq!(
        told,
        [
            "Of the 325 lines changed, 315 are code: 71 % in Rust and 29 % in Python.",
            "Python fell from 80 % of the lines changed in code in phase 1 to 5 % in phase 2.",
            "Rust rose from 20 % to 95 % over the same phases.",
            "Phase 1 brought in 1 dependency: Python `requests`.",
            "Phase 2 brought in 1 dependency: Cargo `reqwest`.",
        ],
        "{evolution:#?}"
    );
    // ureq came and went within phase 2: no arrival, no departure to tell.
    assert!(!texts("deletions").iter().any(|t| t.contains("ureq")));
    let shift = doc
        .sections
        .iter()
        .flat_map(|s| &s.claims)
        .find(|c| c.text.starts_with("Rust rose"))
        .expect("the shift");
    assert_eq!(shift.evidence.figures["fromShare"], 20);
    assert_eq!(shift.evidence.figures["toShare"], 95);
    // The largest Rust commit of each phase.
    assert_eq!(
        shift.evidence.commits,
        [history.commits[1].id.clone(), history.commits[2].id.clone()]
    );
}

#[test]
fn a_dropped_dependency_is_told_with_its_replacement() {
    let (history, mut phases) = technology();
    // Within one phase, ureq's arrival and departure cancel out; with the arrival in the phase
    // before, the switch is a departure with a replacement in the same commit.
    phases[1].range = 3..4;
    phases[0].range = 0..3;
    let doc = tell(&history, "tool", &phases);
    let deletions: Vec<&str> = doc
        .sections
        .iter()
        .filter(|s| s.id == "deletions")
        .flat_map(|s| s.claims.iter().map(|c| c.text.as_str()))
        .collect();
    let id = &history.commits[3].id[..7];
    assert_eq!(
        deletions[0],
        format!(
            "The Cargo dependency `ureq` was dropped from `Cargo.toml` on 2024-02-01 (`{id}`); `reqwest` came in its place (the same commit)."
        )
    );
}

/// A history whose one storyline, the scope `engine`, has commits of `classes`, one a day.
fn thread_of(classes: &[&str]) -> History {
    let mut b = Builder::new().commit("Ada", 0, "Start", &[("README.md", '+', 5, 0)]);
    for (day, class) in (1..).zip(classes) {
        b = b.labelled(
            "Ada",
            day,
            &format!("step {day}"),
            &[("x.rs", 'M', 1, 0)],
            &[],
            labels(class, "engine"),
        );
    }
    b.build()
}

fn storyline_sentence(history: &History) -> String {
    let doc = tell(history, "acme", &[]);
    let section = doc.sections.iter().find(|s| s.id == "storylines").unwrap();
    section.claims[0].text.clone()
}

#[test]
fn chores_do_not_make_a_storyline_mixed_work() {
    // Three features of the four commits whose class says something.
    let history = thread_of(&[
        "feature", "chore", "chore", "feature", "fix", "chore", "feature",
    ]);
    let text = storyline_sentence(&history);
    assert!(
        text.starts_with("**engine** — feature work of 7 commits"),
        "{text}"
    );
    let history = thread_of(&["feature", "chore", "fix", "docs", "refactor", "chore"]);
    let text = storyline_sentence(&history);
    assert!(
        text.starts_with(
            "**engine** — mixed work of 6 commits (most often features, then fixes) by Ada,"
        ),
        "{text}"
    );
}

#[test]
fn a_storyline_mostly_of_tests_is_testing_work() {
    let history = thread_of(&["test", "test", "chore", "feature"]);
    let text = storyline_sentence(&history);
    assert!(
        text.starts_with("**engine** — testing work of 4 commits"),
        "{text}"
    );
    let doc = tell(&history, "acme", &[]);
    assert_eq!(doc.storylines[0].category, "testing");
}

#[test]
fn a_phase_runs_from_its_first_to_its_latest_commit_and_is_dated_once() {
    // The last commit was written before the others and merged after them.
    let history = Builder::new()
        .commit("Ada", 10, "a", &[("src/a.rs", '+', 5, 0)])
        .commit("Ada", 12, "b", &[("src/a.rs", 'M', 5, 0)])
        .commit("Bob", 2, "written early", &[("README.md", '+', 40, 0)])
        .build();
    let phase = |name: &str| PhaseSpan {
        number: 1,
        name: name.into(),
        range: 0..3,
        releases: vec![],
    };
    let doc = tell(&history, "acme", &[phase("2024-01-11 to 2024-01-13")]);
    let timeline = doc.sections.iter().find(|s| s.id == "timeline").unwrap();
    assert_eq!(
        timeline.claims[0].text,
        "**Phase 1 — 2024-01-11 to 2024-01-13**: 3 commits by 2 authors; most lines changed in files at the root (40 lines)."
    );
    assert_eq!(timeline.claims[0].evidence.commits, ["c1", "c2"]);
    let doc = tell(&history, "acme", &[phase("Growth")]);
    let timeline = doc.sections.iter().find(|s| s.id == "timeline").unwrap();
    assert!(
        timeline.claims[0]
            .text
            .starts_with("**Phase 1 — Growth** (2024-01-11 to 2024-01-13): 3 commits"),
        "{}",
        timeline.claims[0].text
    );
}

#[test]
fn many_releases_are_counted_not_listed() {
    let names = |list: &[&str]| list.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
    assert_eq!(releases_phrase(&[]), "");
    assert_eq!(
        releases_phrase(&names(&["v1.0", "v1.1", "v1.2-rc1"])),
        ", released as v1.0, v1.1, v1.2-rc1"
    );
    assert_eq!(
        releases_phrase(&names(&["v2.0-rc0", "v1.9.5", "v2.0.0-rc1", "v2.0.0"])),
        ", with 4 releases (2 of them release candidates or previews), the last v2.0.0"
    );
    assert_eq!(
        releases_phrase(&names(&["1.0", "1.1", "1.2", "1.3_x"])),
        ", with 4 releases, the last 1\\.3\\_x"
    );
    for pre in [
        "v2.45.0-rc1",
        "1.0rc2",
        "2.0.0-beta.1",
        "v3-alpha",
        "v1.0.0.pre",
    ] {
        assert!(is_pre_release(pre), "{pre}");
    }
    for release in ["v2.45.0", "v1.0-bugfix", "carbonate-1", "prerelease"] {
        assert!(!is_pre_release(release), "{release}");
    }
}
