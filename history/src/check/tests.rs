use gitview_core::records::{CommitRecord, Person};

use super::*;
use crate::CommitLabels;
use crate::narrative::{render_markdown, tell};
use crate::testing::{Builder, hex_id};

/// Twelve commits in two phases of six: Ada (and Bob) from 2024-01-01 to 2024-01-06, released
/// as v0.1.0; Bob and Carol from 2024-02-01 to 2024-02-10, released as v0.2.0.
fn sample() -> History {
    Builder::new()
        .hex_ids()
        .commit("Ada", 0, "Start the project", &[("README.md", '+', 20, 0)])
        .commit("Ada", 1, "Add the lexer", &[("src/lexer.rs", '+', 300, 0)])
        .commit(
            "Ada",
            2,
            "Add the parser",
            &[("src/parser.rs", '+', 200, 0)],
        )
        .commit("Ada", 3, "Fix the parser", &[("src/parser.rs", 'M', 10, 5)])
        .commit("Bob", 4, "Add the guide", &[("docs/guide.md", '+', 50, 0)])
        .commit(
            "Ada",
            5,
            "Prepare the release",
            &[("Cargo.toml", '+', 10, 0)],
        )
        .commit(
            "Bob",
            31,
            "Extend the lexer",
            &[("src/lexer.rs", 'M', 40, 10)],
        )
        .commit(
            "Bob",
            32,
            "Extend the parser",
            &[("src/parser.rs", 'M', 30, 10)],
        )
        .commit("Carol", 33, "Add tests", &[("tests/parser.rs", '+', 80, 0)])
        .commit(
            "Bob",
            34,
            "Remove the guide",
            &[("docs/guide.md", '-', 0, 50)],
        )
        .commit("Carol", 35, "Fix the lexer", &[("src/lexer.rs", 'M', 5, 5)])
        .commit("Bob", 40, "Release 0.2", &[("Cargo.toml", 'M', 1, 1)])
        .build()
}

fn phases() -> Vec<PhaseSpan> {
    vec![
        PhaseSpan {
            number: 1,
            name: "Beginnings".into(),
            range: 0..6,
            releases: vec!["v0.1.0".into()],
        },
        PhaseSpan {
            number: 2,
            name: "Growth".into(),
            range: 6..12,
            releases: vec!["v0.2.0".into()],
        },
    ]
}

/// The short id of the `n`th commit (1-based).
fn short(n: usize) -> String {
    hex_id(n)[..7].to_owned()
}

fn failures(checked: &Checked) -> Vec<Vec<Failure>> {
    checked
        .sentences
        .iter()
        .map(|s| match &s.verdict {
            Verdict::Pass => vec![],
            Verdict::Fail(f) => f.clone(),
        })
        .collect()
}

fn check_phase(text: &str, phase: usize) -> Checked {
    let history = sample();
    let phases = phases();
    check(text, &history, &Scope::phase(&phases[phase]))
}

fn check_whole(text: &str) -> Checked {
    let history = sample();
    let releases = ["v0.1.0".to_owned(), "v0.2.0".to_owned()];
    check(text, &history, &Scope::whole(&history, &releases))
}

#[test]
fn a_correct_summary_passes() {
    let text = format!(
        "In February 2024 the team made 6 new commits. Bob and Carol were the authors: 2 \
         authors touched 5 files.\nCarol added the tests in `{}` on 2024-02-03. The phase \
         added 156 lines and 76 lines deleted, released as v0.2.0.\n\n- Bob removed the guide \
         ({}).\n- The lexer grew by 40 lines in `src/lexer.rs`, e.g. in `{}`.\n",
        short(9),
        short(10),
        short(7)
    );
    let checked = check_phase(&text, 1);
    assert_eq!(failures(&checked), vec![Vec::<Failure>::new(); 6]);
    assert_eq!((checked.passed, checked.failed), (6, 0));
    assert_eq!(checked.faithfulness, 1.0);
    let cited: Vec<Vec<String>> = checked.sentences.iter().map(|s| s.cited.clone()).collect();
    assert_eq!(
        cited,
        [
            vec![],
            vec![],
            vec![hex_id(9)],
            vec![],
            vec![hex_id(10)],
            vec![hex_id(7)]
        ]
    );
    assert_eq!(checked.kept_text(Mode::Drop), text);
    assert_eq!(checked.kept_text(Mode::Mark), text);
}

#[test]
fn a_text_without_sentences_is_wholly_faithful() {
    let checked = check_whole("# Heading\n\n```\nnot 99 commits.\n```\n");
    assert!(checked.sentences.is_empty());
    assert_eq!(checked.faithfulness, 1.0);
}

#[test]
fn an_unknown_commit_is_caught() {
    let checked = check_whole("The parser came in `abcdef0`. It was fixed in 0123abc.");
    assert_eq!(
        failures(&checked),
        [
            vec![Failure::UnknownCommit {
                id: "abcdef0".into()
            }],
            vec![Failure::UnknownCommit {
                id: "0123abc".into()
            }],
        ]
    );
}

#[test]
fn a_commit_of_another_phase_is_out_of_scope() {
    let checked = check_phase(&format!("The lexer came in `{}`.", short(2)), 1);
    assert_eq!(
        failures(&checked),
        [vec![Failure::CommitOutOfScope {
            id: short(2),
            commit: hex_id(2),
        }]]
    );
    assert!(checked.sentences[0].cited.is_empty());
    // The same sentence holds for the phase the commit belongs to.
    assert_eq!(
        check_phase(&checked.sentences[0].text, 0).sentences[0].cited,
        [hex_id(2)]
    );
}

#[test]
fn an_ambiguous_prefix_is_caught() {
    let mut history = History::new();
    for (i, id) in ["abcdef0123", "abcdef0456", "1234567aaa"]
        .iter()
        .enumerate()
    {
        let person = Person {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            time: format!("2024-01-0{}T00:00:00+00:00", i + 1),
            canonical: None,
        };
        history.push(
            &CommitRecord {
                id: (*id).into(),
                parents: vec![],
                author: person.clone(),
                committer: person,
                message: "x\n".into(),
                files: vec![],
                renames: vec![],
            },
            CommitLabels::default(),
        );
    }
    let checked = check(
        "See `abcdef0`, `abcdef01` and `1234567`.",
        &history,
        &Scope::whole(&history, &[]),
    );
    assert_eq!(
        failures(&checked),
        [vec![Failure::AmbiguousCommit {
            id: "abcdef0".into(),
            matches: 2
        }]]
    );
    assert_eq!(
        checked.sentences[0].cited,
        ["abcdef0123".to_owned(), "1234567aaa".to_owned()]
    );
    // Within a scope that holds one of them, the prefix is unique there.
    let scoped = check(
        "See `abcdef0`.",
        &history,
        &Scope {
            range: 1..3,
            releases: &[],
        },
    );
    assert_eq!(scoped.sentences[0].cited, ["abcdef0456".to_owned()]);
}

#[test]
fn an_off_number_is_caught() {
    let checked = check_whole(
        "The history has 13 commits. It has 12 commits by 3 authors over 6 files. It changed \
         1,234 lines. It added 746 lines and deleted 81 lines; 827 lines changed.",
    );
    assert_eq!(
        failures(&checked),
        [
            vec![Failure::WrongNumber {
                stated: 13,
                quantity: Quantity::Commits,
                expected: vec![12],
            }],
            vec![],
            vec![Failure::WrongNumber {
                stated: 1234,
                quantity: Quantity::LinesChanged,
                expected: vec![827],
            }],
            vec![],
        ]
    );
}

#[test]
fn numbers_of_what_a_sentence_names_count_for_it() {
    let checked = check_whole(&format!(
        "Ada made 5 commits. `src/parser.rs` changed in 3 commits. `{}` added 40 lines. Ada \
         made 6 commits.",
        short(7)
    ));
    assert_eq!(
        failures(&checked),
        [
            vec![],
            vec![],
            vec![],
            vec![Failure::WrongNumber {
                stated: 6,
                quantity: Quantity::Commits,
                expected: vec![12, 5],
            }],
        ]
    );
}

#[test]
fn the_numbers_that_hold_are_named() {
    let checked = check_whole("It has 12 commits by 3 authors. It added 746 lines and 9 bots.");
    let figures = |i: usize| -> Vec<(Quantity, u64)> {
        checked.sentences[i]
            .figures
            .iter()
            .map(|f| (f.quantity, f.stated))
            .collect()
    };
    assert_eq!(
        figures(0),
        [(Quantity::Commits, 12), (Quantity::Authors, 3)]
    );
    // A number that fails is a failure, not a figure.
    assert_eq!(figures(1), [(Quantity::LinesAdded, 746)]);
    assert_eq!(checked.failed, 1);
}

#[test]
fn an_invented_author_is_caught() {
    let checked = check_whole(
        "The parser was fixed by Mallory Evil. Thanks to Carol the tests came. Ada Lovelace \
         wrote the lexer. The lexer was written by the Parser Team. From March 2024 on it \
         slept.",
    );
    assert_eq!(
        failures(&checked),
        [
            vec![Failure::UnknownAuthor {
                name: "Mallory Evil".into()
            }],
            vec![],
            vec![],
            vec![],
            vec![Failure::DateOutOfRange {
                date: "March 2024".into(),
                first: "2024-01-01".into(),
                last: "2024-02-10".into(),
            }],
        ]
    );
    // An author of another phase is no author of this one.
    assert_eq!(
        failures(&check_phase("Tests were added by Carol.", 0)),
        [vec![Failure::AuthorOutOfScope {
            name: "Carol".into()
        }]]
    );
}

#[test]
fn a_date_outside_the_range_is_caught() {
    let checked = check_phase(
        "The lexer grew on 2024-03-15. It shipped on February 10, 2024. It began on 1 February \
         2024. It began in January 2024. The guide went on 2024-02-30.",
        1,
    );
    let out = |date: &str| {
        vec![Failure::DateOutOfRange {
            date: date.into(),
            first: "2024-02-01".into(),
            last: "2024-02-10".into(),
        }]
    };
    assert_eq!(
        failures(&checked),
        [
            out("2024-03-15"),
            vec![],
            vec![],
            out("January 2024"),
            out("2024-02-30")
        ]
    );
}

#[test]
fn a_version_not_released_is_caught() {
    let checked = check_phase(
        "It shipped as v0.2.0. It shipped as `v0.3.0`. The v0.2 line came. Version 0.1.0 came \
         before. It runs 3.5 times faster.",
        1,
    );
    let unreleased = |v: &str| {
        vec![Failure::UnreleasedVersion {
            version: v.into(),
            releases: vec!["v0.2.0".into()],
        }]
    };
    assert_eq!(
        failures(&checked),
        [
            vec![],
            unreleased("v0.3.0"),
            vec![],
            unreleased("0.1.0"),
            vec![]
        ]
    );
}

#[test]
fn mixed_text_gives_its_share() {
    let checked = check_whole(
        "The history has 12 commits. Ada started it on 2024-01-01. Bob released v0.2.0. It \
         has 4 authors.",
    );
    assert_eq!((checked.passed, checked.failed), (3, 1));
    assert_eq!(checked.faithfulness, 0.75);
}

#[test]
fn failing_sentences_are_dropped_or_marked() {
    let text = "Intro has 12 commits. It has 13 commits.\n\n- Ada wrote it.\n- Mallory Evil \
                wrote it.\n- Bob released v0.2.0. It was v9.9.9.\n\nAll by 3 authors.\n";
    let checked = check_whole(text);
    assert_eq!(
        checked.kept_text(Mode::Drop),
        "Intro has 12 commits.\n\n- Ada wrote it.\n- Bob released v0.2.0.\n\nAll by 3 \
         authors.\n"
    );
    assert_eq!(
        checked.kept_text(Mode::Mark),
        "Intro has 12 commits. It has 13 commits. [unverified: 13 commits, the facts say \
         12]\n\n- Ada wrote it.\n- Mallory Evil wrote it. [unverified: no author Mallory \
         Evil]\n- Bob released v0.2.0. It was v9.9.9. [unverified: v9.9.9 is no release of \
         the range]\n\nAll by 3 authors.\n"
    );
    // A paragraph that fails whole leaves no gap of blank lines.
    let checked = check_whole("First has 12 commits.\n\nIt has 13 commits.\n\nLast.\n");
    assert_eq!(
        checked.kept_text(Mode::Drop),
        "First has 12 commits.\n\nLast.\n"
    );
}

#[test]
fn sentences_end_where_prose_does() {
    let id = hex_id(3)[..12].to_owned();
    let text = format!(
        "Released as v1.2.3 with 3.5 times the speed, e.g. for parsers. See `{id}`. Then \
         {id}. Done!\nWhy? Because\nit wrapped.\n\n- one item\n- two (i.e. more).\n\n## A \
         heading\n1. First. Second\n"
    );
    let spans = sentences(&text);
    let got: Vec<&str> = spans.iter().map(|s| &text[s.clone()]).collect();
    assert_eq!(
        got,
        [
            "Released as v1.2.3 with 3.5 times the speed, e.g. for parsers.",
            &format!("See `{id}`."),
            &format!("Then {id}."),
            "Done!",
            "Why?",
            "Because\nit wrapped.",
            "one item",
            "two (i.e. more).",
            "First.",
            "Second",
        ]
    );
}

#[test]
fn verdicts_serialise_in_camel_case() {
    let checked = check_whole("It has 13 commits.");
    assert_eq!(
        serde_json::to_value(&checked).expect("serialises"),
        serde_json::json!({
            "sentences": [{
                "text": "It has 13 commits.",
                "verdict": {"status": "fail", "failures": [{
                    "rule": "wrongNumber", "stated": 13, "quantity": "commits", "expected": [12]
                }]},
                "cited": [],
                "figures": []
            }],
            "passed": 0,
            "failed": 1,
            "faithfulness": 0.0
        })
    );
}

/// The checker rejects no true statement the narrative makes. Checked over the whole
/// history, the story fails only where it speaks of something narrower than the sentence
/// names: a timeline item states its phase's figures, and a storyline its own commit count,
/// which no sentence-level subject (commit, path, author) recomputes. Each timeline item passes
/// over its phase, and nothing else fails.
#[test]
fn the_narratives_own_sentences_pass() {
    let history = sample();
    let phases = phases();
    let releases: Vec<String> = phases.iter().flat_map(|p| p.releases.clone()).collect();
    let doc = tell(&history, "acme/parser", &phases);
    let md = render_markdown(&doc);
    let whole = Scope::whole(&history, &releases);
    let checked = check(&md, &history, &whole);
    let failing: Vec<(&str, &Verdict)> = checked
        .sentences
        .iter()
        .filter(|s| s.verdict != Verdict::Pass)
        .map(|s| (s.text.as_str(), &s.verdict))
        .collect();
    let commits = |stated, expected: &[u64]| Failure::WrongNumber {
        stated,
        quantity: Quantity::Commits,
        expected: expected.to_vec(),
    };
    let phase_authors = Failure::WrongNumber {
        stated: 2,
        quantity: Quantity::Authors,
        expected: vec![3],
    };
    let phase_lines = |stated| Failure::WrongNumber {
        stated,
        quantity: Quantity::Lines,
        expected: vec![746, 81, 827, 30, 585, 615],
    };
    assert_eq!(
        failing,
        [
            (
                "The longest thread of work is parser, feature work of 4 commits; it stopped without a closing commit.",
                &Verdict::Fail(vec![commits(4, &[12])])
            ),
            (
                "**Phase 1 — Beginnings** (2024-01-01 to 2024-01-06): 6 commits by 2 authors, released as v0.1.0; most lines changed in `src` (515 lines).",
                &Verdict::Fail(vec![phase_authors.clone(), phase_lines(515)])
            ),
            (
                "**Phase 2 — Growth** (2024-02-01 to 2024-02-10): 6 commits by 2 authors, released as v0.2.0; most lines changed in `src` (100 lines).",
                &Verdict::Fail(vec![phase_authors, phase_lines(100)])
            ),
            (
                "**lexer** — feature work of 4 commits by Bob, Ada, Carol, 2024-01-02 to 2024-02-05, across phases 1 to 2; it stopped without a closing commit.",
                &Verdict::Fail(vec![commits(4, &[12, 2, 5]),])
            ),
            (
                "**parser** — feature work of 4 commits by Ada, Bob, 2024-01-02 to 2024-02-02, across phases 1 to 2; it stopped without a closing commit.",
                &Verdict::Fail(vec![commits(4, &[12, 5])])
            ),
        ],
        "{md}"
    );
    assert_eq!(checked.sentences.len(), 26, "{md}");
    assert_eq!((checked.passed, checked.failed), (21, 5));
    // Each timeline item holds for the phase it speaks of.
    let timeline = doc
        .sections
        .iter()
        .find(|s| s.id == "timeline")
        .expect("a timeline");
    for (claim, phase) in timeline.claims.iter().zip(&phases) {
        let checked = check(&claim.text, &history, &Scope::phase(phase));
        assert_eq!(failures(&checked), [vec![]], "{}", claim.text);
    }
}
