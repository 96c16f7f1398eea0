use super::*;

fn items(prefix: &str, n: usize, words: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix} {i}: {}", "word ".repeat(words).trim_end()))
        .collect()
}

fn synthetic() -> Vec<Section> {
    [
        "Layout",
        "Hotspots and coupled files",
        "Under way",
        "Recent direction",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, heading)| Section {
        heading,
        items: items(heading, 4 + i, 12),
    })
    .collect()
}

fn headings(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.strip_prefix("## ")).collect()
}

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn a_huge_budget_takes_every_section_whole() {
    let sections = synthetic();
    let header = vec!["# repo: a brief".to_owned(), "\nLead.".to_owned()];
    let brief = fit(&marker(HEAD), &header, &sections, 1_000_000);
    assert_eq!(
        brief.whole,
        sections.iter().map(|s| s.heading).collect::<Vec<_>>()
    );
    assert_eq!((brief.partial, brief.left_out.len()), (None, 0));
    assert_eq!(headings(&brief.text), brief.whole);
    assert!(!brief.text.contains("Cut to the budget"));
    assert_eq!(brief.tokens, count_tokens(&brief.text));
}

#[test]
fn a_small_budget_takes_fewer_sections_and_never_exceeds_it() {
    let sections = synthetic();
    let header = vec!["# repo: a brief".to_owned(), "\nLead.".to_owned()];
    let all = fit(&marker(HEAD), &header, &sections, 1_000_000).tokens;
    let floor = count_tokens(&format!("{}\n", marker(HEAD)));
    let mut seen_partial = false;
    for budget in (floor..all + 20).step_by(7) {
        let brief = fit(&marker(HEAD), &header, &sections, budget);
        assert!(brief.tokens <= budget, "{} > {budget}", brief.tokens);
        assert_eq!(brief.tokens, count_tokens(&brief.text));
        assert_eq!(parse_marker(&brief.text), Some(HEAD));
        // Whole sections come first, in order, then at most one in part.
        let shown = headings(&brief.text);
        assert_eq!(&shown[..brief.whole.len()], &brief.whole[..]);
        let listed =
            brief.whole.len() + usize::from(brief.partial.is_some()) + brief.left_out.len();
        assert_eq!(listed, sections.len());
        if budget < all {
            assert!(
                brief.partial.is_some() || !brief.left_out.is_empty(),
                "{budget}"
            );
        }
        if let Some(partial) = brief.partial {
            seen_partial = true;
            let section = sections.iter().find(|s| s.heading == partial).unwrap();
            let taken = brief
                .text
                .lines()
                .filter(|l| l.starts_with(&format!("- {partial} ")))
                .count();
            assert!(taken >= 1 && taken < section.items.len());
        }
    }
    assert!(seen_partial);
    // Below the marker alone, only the marker.
    let tiny = fit(&marker(HEAD), &header, &sections, 1);
    assert_eq!(tiny.text, format!("{}\n", marker(HEAD)));
    assert_eq!(tiny.left_out.len(), sections.len());
}

#[test]
fn the_marker_is_only_the_first_line() {
    assert_eq!(
        parse_marker(&format!("{}\n# t\n", marker(HEAD))),
        Some(HEAD)
    );
    assert_eq!(parse_marker(&format!("# t\n{}\n", marker(HEAD))), None);
    assert_eq!(parse_marker("<!-- gitview-brief v1 head= -->"), None);
    assert_eq!(parse_marker("<!-- gitview-brief v1 head=xyz -->"), None);
    assert_eq!(parse_marker(""), None);
}

mod over_a_history {
    use super::*;
    use crate::chunk;
    use crate::enrich::{self, CommitFacts};
    use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person, Rename};

    /// Commits a day apart: (subject, [(path, status, added, deleted)]).
    fn record(
        n: usize,
        subject: &str,
        files: &[(&str, FileStatus, u64, u64)],
        renames: &[(&str, &str)],
    ) -> CommitRecord {
        let who = Person {
            name: if n.is_multiple_of(3) {
                "Bob <b>".into()
            } else {
                "Ada".into()
            },
            email: if n.is_multiple_of(3) {
                "bob@example.com".into()
            } else {
                "ada@example.com".into()
            },
            time: gitview_core::time::format_recorded(1_704_067_200 + n as i64 * 86_400, 0),
            canonical: None,
        };
        CommitRecord {
            id: id(n),
            parents: if n == 0 { vec![] } else { vec![id(n - 1)] },
            author: who.clone(),
            committer: who,
            message: format!("{subject}\n"),
            files: files
                .iter()
                .map(|&(path, status, added, deleted)| FileStat {
                    path: path.into(),
                    added: Some(added),
                    deleted: Some(deleted),
                    status,
                })
                .collect(),
            renames: renames
                .iter()
                .map(|&(from, to)| Rename {
                    from: from.into(),
                    to: to.into(),
                    similarity: 100,
                })
                .collect(),
        }
    }

    /// Distinct in their first seven digits.
    fn id(n: usize) -> String {
        format!("{:07x}{}", 0x1111 * (n + 1), "0".repeat(33))
    }

    struct Built {
        facts: Vec<CommitFacts>,
        history: History,
        phases: Vec<Phase>,
        analyses: Analyses,
    }

    fn build(records: &[CommitRecord]) -> Built {
        let mut facts = Vec::new();
        let mut history = History::new();
        for record in records {
            let enrichment = enrich::enrich(record, &[]);
            history.push(
                record,
                gitview_history::CommitLabels {
                    class: enrichment.class.as_str().to_owned(),
                    scope: enrichment
                        .conventional
                        .as_ref()
                        .and_then(|c| c.scope.clone()),
                    references: enrichment.references.iter().map(|r| r.id.clone()).collect(),
                    bot: enrichment.bot,
                    dependencies: enrichment.dependencies.clone(),
                },
            );
            facts.push(CommitFacts::new(record, &enrichment));
        }
        let phases = chunk::phases(&facts);
        let ranges: Vec<std::ops::Range<usize>> = phases.iter().map(|p| p.start..p.end).collect();
        let analyses = Analyses::of(&history, &ranges);
        Built {
            facts,
            history,
            phases,
            analyses,
        }
    }

    fn sample() -> Vec<CommitRecord> {
        use FileStatus::{Added as A, Deleted as D, Modified as M};
        let mut records = vec![
            record(
                0,
                "feat(core): start",
                &[
                    ("src/a.rs", A, 50, 0),
                    ("src/b.rs", A, 30, 0),
                    ("old/x.rs", A, 20, 0),
                    ("README.md", A, 5, 0),
                ],
                &[],
            ),
            record(
                1,
                "feat(core): grow <img src=x onerror=alert(1)>",
                &[("src/a.rs", M, 10, 2), ("src/b.rs", M, 4, 1)],
                &[],
            ),
            record(
                2,
                "fix(core): a bug (#12)",
                &[("src/a.rs", M, 3, 3), ("src/b.rs", M, 1, 1)],
                &[],
            ),
            record(
                3,
                "fix(parser): another",
                &[
                    ("src/a.rs", M, 3, 3),
                    ("src/b.rs", M, 2, 2),
                    ("<img src=x>/y.rs", A, 7, 0),
                ],
                &[],
            ),
            record(4, "chore: drop old", &[("old/x.rs", D, 0, 20)], &[]),
            record(
                5,
                "refactor: move src to crates/core/src",
                &[
                    ("crates/core/src/a.rs", A, 58, 0),
                    ("crates/core/src/b.rs", A, 34, 0),
                    ("src/a.rs", D, 0, 58),
                    ("src/b.rs", D, 0, 34),
                ],
                &[
                    ("src/a.rs", "crates/core/src/a.rs"),
                    ("src/b.rs", "crates/core/src/b.rs"),
                ],
            ),
        ];
        for n in 6..14 {
            records.push(record(
                n,
                &format!("feat(core): step {n} of the parser"),
                &[
                    ("crates/core/src/a.rs", M, 4, 1),
                    ("crates/core/src/b.rs", M, 2, 1),
                ],
                &[],
            ));
        }
        records
    }

    fn input<'a>(built: &'a Built, title: &'a str) -> BriefInput<'a> {
        BriefInput {
            title,
            head: &built.facts.last().unwrap().id,
            since: None,
            facts: &built.facts,
            history: &built.history,
            phases: &built.phases,
            analyses: &built.analyses,
        }
    }

    #[test]
    fn every_section_of_a_small_history() {
        let built = build(&sample());
        let brief = brief(&input(&built, "org/repo"), 1_000_000);
        let text = &brief.text;
        assert_eq!(
            parse_marker(text),
            Some(built.facts.last().unwrap().id.as_str())
        );
        assert_eq!(
            headings(text),
            [
                "Layout",
                "Hotspots and coupled files",
                "Under way",
                "Recent direction",
                "Conventions",
                "Gone or moved"
            ]
        );
        for needle in [
            "# org/repo: a brief for coding agents",
            "`crates/`:",
            "bus factor 1",
            "Change `crates/core/src/",
            "`src/` is now `crates/core/src/` (2 files moved; `0006666`",
            "`old/` is gone: removed in `0005555`",
            "Conventional commits (`type(scope): …`):",
            "Common scopes: `core` ",
            "Linear history: no merge commits",
            "1 of 14 non-merge commits cites an issue or pull request, e.g. `#12`",
            "Latest: “feat(core): step 13 of the parser”",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        assert!(brief.tokens <= 2000, "{}", brief.tokens);
    }

    #[test]
    fn repository_text_is_escaped() {
        let built = build(&sample());
        let brief = brief(&input(&built, "<img src=x onerror=alert(1)>"), 1_000_000);
        let text = &brief.text;
        assert!(
            text.contains("# &lt;img src=x onerror=alert(1)&gt;: a brief"),
            "{text}"
        );
        // Outside code spans, nothing from the repository opens a tag; only the marker does.
        for line in text.lines().skip(1) {
            let outside: String = line.split('`').step_by(2).collect();
            assert!(!outside.contains('<'), "{line}");
        }
        assert_eq!(text.matches("<!--").count(), 1);
        // A path with a tag in it is a code span: text when rendered.
        assert!(text.contains("`<img src=x>/`"), "{text}");
    }

    #[test]
    fn the_default_budget_holds_for_a_busy_history() {
        use FileStatus::{Added as A, Modified as M};
        let mut records = vec![];
        for n in 0..400 {
            let dir = [
                "api", "core", "web", "cli", "docs", "ops", "lib", "tests", "tools",
            ][n % 9];
            let status = if n < 9 { A } else { M };
            records.push(record(
                n,
                &format!("feat({dir}): change number {n} of a long series of changes to the {dir} component"),
                &[(&format!("{dir}/mod{}.rs", n % 4), status, 30, 10), (&format!("{dir}/lib.rs"), status, 5, 1)],
                &[],
            ));
        }
        let built = build(&records);
        let input = input(&built, "busy");
        for budget in [100, 300, 700, DEFAULT_TOKENS] {
            let brief = brief(&input, budget);
            assert!(brief.tokens <= budget, "{} > {budget}", brief.tokens);
            assert_eq!(parse_marker(&brief.text), Some(input.head));
        }
        let all = brief(&input, 1_000_000);
        let small = brief(&input, 300);
        assert!(headings(&small.text).len() < headings(&all.text).len());
    }
}
