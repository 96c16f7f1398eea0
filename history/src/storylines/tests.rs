//! The storylines' tests: histories built line by line that make each rule true and its
//! neighbours false.

use super::*;
use crate::CommitLabels;
use crate::testing::Builder;

fn labels(class: &str, scope: Option<&str>, references: &[&str]) -> CommitLabels {
    CommitLabels {
        class: class.into(),
        scope: scope.map(Into::into),
        references: references.iter().map(|r| (*r).into()).collect(),
        bot: false,
        dependencies: Default::default(),
    }
}

/// A commit with labels and no renames.
fn add(
    builder: Builder,
    author: &str,
    day: i64,
    subject: &str,
    files: &[(&str, char, u64, u64)],
    labels: CommitLabels,
) -> Builder {
    builder.labelled(author, day, subject, files, &[], labels)
}

fn day(history: &History, day: i64) -> i64 {
    history.commits[0].time + day * 86_400
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn a_scope_thread_spans_two_phases_as_a_bug_campaign() {
    let src = [("src/parser.rs", 'M', 5, 1)];
    let mut b = Builder::new().commit("Ada", 0, "start the project", &[("README.md", '+', 10, 0)]);
    b = add(
        b,
        "Ada",
        10,
        "fix(parser): crash on empty input",
        &src,
        labels("fix", Some("parser"), &[]),
    );
    b = add(
        b,
        "Bob",
        20,
        "fix(parser): wrong column in errors",
        &src,
        labels("fix", Some("parser"), &[]),
    );
    b = add(
        b,
        "Ada",
        30,
        "write the guide",
        &[("docs/guide.md", '+', 9, 0)],
        labels("docs", Some("cli"), &[]),
    );
    b = add(
        b,
        "Bob",
        50,
        "fix(parser): stack overflow on nesting",
        &src,
        labels("fix", Some("parser"), &[]),
    );
    b = add(
        b,
        "Ada",
        55,
        "feat(parser): recover after errors",
        &src,
        labels("feature", Some("parser"), &[]),
    );
    b = add(
        b,
        "Cy",
        100,
        "tidy readme",
        &[("README.md", 'M', 1, 1)],
        labels("chore", Some("cli"), &[]),
    );
    let history = b.build();
    let lines = storylines(&history, &[0..4, 4..7]);
    // The cli scope has 2 commits: below the 3 a storyline needs.
    assert_eq!(
        lines,
        [Storyline {
            title: "parser".into(),
            source: Source::Scope,
            threads: vec![Thread {
                source: Source::Scope,
                title: "parser".into(),
                commits: 4,
            }],
            category: Category::BugCampaign,
            category_commits: 3,
            classes: BTreeMap::from([("feature".into(), 1), ("fix".into(), 3)]),
            lifecycle: Lifecycle::Stalled,
            phases: vec![0, 1],
            commits: 4,
            members: vec![1, 2, 4, 5],
            first_commits: ids(&["c2", "c3", "c5"]),
            last_commits: ids(&["c6"]),
            authors: vec![
                AuthorCommits {
                    name: "Ada".into(),
                    commits: 2,
                },
                AuthorCommits {
                    name: "Bob".into(),
                    commits: 2,
                },
            ],
            author_count: 2,
            first_time: day(&history, 10),
            last_time: day(&history, 55),
        }]
    );
    let json = serde_json::to_value(&lines[0]).unwrap();
    assert_eq!(json["category"], "bugCampaign");
    assert_eq!(json["lifecycle"], "stalled");
    assert_eq!(json["firstCommits"][0], "c2");
    // Phases it has no commit in are not named.
    assert_eq!(storylines(&history, &[0..1, 2..4, 6..7])[0].phases, [1]);
}

#[test]
fn a_reference_on_several_commits_is_a_thread() {
    let none: &[(&str, char, u64, u64)] = &[];
    let mut b = Builder::new();
    b = add(b, "Ada", 0, "start", none, labels("feature", None, &["#5"]));
    b = add(
        b,
        "Ada",
        5,
        "handle timeouts",
        none,
        labels("feature", None, &["#42", "#5"]),
    );
    b = add(
        b,
        "Bob",
        40,
        "retry on reset",
        none,
        labels("fix", None, &["#42", "#7"]),
    );
    b = add(
        b,
        "Bob",
        70,
        "document retries",
        none,
        labels("docs", None, &["#42", "#42"]),
    );
    b = add(
        b,
        "Cy",
        80,
        "unrelated",
        none,
        labels("feature", None, &["#8"]),
    );
    b = add(b, "Cy", 100, "last", none, labels("feature", None, &["#8"]));
    let history = b.build();
    let lines = storylines(&history, &[]);
    assert_eq!(lines.len(), 1);
    let thread = &lines[0];
    assert_eq!(
        (thread.title.as_str(), thread.source, thread.commits),
        ("#42", Source::Reference, 3)
    );
    assert_eq!(thread.first_commits, ids(&["c2", "c3", "c4"]));
    assert_eq!(thread.last_commits, Vec::<String>::new());
    // Its last commit is docs: it closed.
    assert_eq!(thread.lifecycle, Lifecycle::Completed);
    assert_eq!(
        (thread.category, thread.category_commits),
        (Category::Feature, 1)
    );
    // Two-commit references are told with a lower bound; #7 (one commit) never.
    let small = storylines_with(
        &history,
        &[],
        Limits {
            max: 12,
            min_commits: 2,
        },
    );
    let told: Vec<(&str, usize, Lifecycle)> = small
        .iter()
        .map(|s| (s.title.as_str(), s.commits, s.lifecycle))
        .collect();
    assert_eq!(
        told,
        [
            ("#42", 3, Lifecycle::Completed),
            ("#5", 2, Lifecycle::Abandoned),
            ("#8", 2, Lifecycle::Active),
        ]
    );
}

/// Commits on days 0, 10, …, 100; index 3 is docs, index 6 says "finish".
fn eleven_steps() -> History {
    let mut b = Builder::new();
    let words = [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "finish the importer",
        "hotel",
        "india",
        "juliett",
        "kilo",
    ];
    for (i, subject) in (0..).zip(words) {
        let class = if i == 3 { "docs" } else { "feature" };
        b = add(b, "Ada", i * 10, subject, &[], labels(class, None, &[]));
    }
    b.build()
}

#[test]
fn lifecycles_follow_the_history_end() {
    let history = eleven_steps();
    let cases: [(&[usize], Lifecycle); 12] = [
        // Started in the last 10 % (day 90 on).
        (&[9, 10], Lifecycle::Emerging),
        (&[8, 9], Lifecycle::Active),
        (&[1, 5, 9], Lifecycle::Active),
        (&[0, 10], Lifecycle::Active),
        // Five commits, or a closing last commit (docs, "finish").
        (&[1, 2, 3, 4, 5], Lifecycle::Completed),
        (&[1, 2, 3], Lifecycle::Completed),
        (&[4, 5, 6], Lifecycle::Completed),
        (&[4, 5, 7, 8], Lifecycle::Stalled),
        (&[0, 1, 2], Lifecycle::Stalled),
        (&[3, 4], Lifecycle::Abandoned),
        (&[6], Lifecycle::Completed),
        (&[], Lifecycle::Abandoned),
    ];
    for (commits, expected) in cases {
        assert_eq!(lifecycle(&history, commits), expected, "{commits:?}");
    }
    // A history of one day: nothing is emerging, everything is recent.
    let day = Builder::new()
        .commit("Ada", 0, "a", &[])
        .commit("Ada", 0, "b", &[])
        .build();
    assert_eq!(lifecycle(&day, &[1]), Lifecycle::Active);
}

#[test]
fn recurring_terms_are_threads_and_one_day_is_not_enough() {
    let none: &[(&str, char, u64, u64)] = &[];
    let mut b = Builder::new().commit("Ada", 0, "start", none);
    for (d, subject) in [
        (10, "Migrate the config loader to TOML"),
        (11, "config: read TOML arrays"),
        (12, "TOML errors name the line"),
        (50, "telemetry for requests"),
        (50, "telemetry for jobs"),
        (50, "telemetry for the queue"),
        (60, "update deps"),
        (61, "update lockfile"),
        (62, "update ci image"),
        (91, "sampling by tenant"),
        (93, "sampling rates"),
        (95, "sampling in the queue"),
        (100, "wrap up"),
    ] {
        b = b.commit("Bob", d, subject, none);
    }
    let history = b.build();
    let lines = storylines(&history, &[]);
    let told: Vec<(&str, Source, Category, Lifecycle, usize)> = lines
        .iter()
        .map(|s| {
            (
                s.title.as_str(),
                s.source,
                s.category,
                s.lifecycle,
                s.commits,
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            (
                "TOML",
                Source::Term,
                Category::Migration,
                Lifecycle::Stalled,
                3
            ),
            (
                "sampling",
                Source::Term,
                Category::Feature,
                Lifecycle::Emerging,
                3
            ),
        ]
    );
    assert_eq!(
        subject_terms("feat(parser)!: Migrate TOML loader, v2 done"),
        ["loader", "migrate", "toml"]
    );
    assert_eq!(
        subject_terms("Parser: read arrays"),
        ["arrays", "parser", "read"]
    );
}

#[test]
fn files_changed_in_a_burst_are_a_thread() {
    let mut b = Builder::new();
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliett", "kilo",
    ];
    for (i, name) in (0..).zip(names) {
        b = b.commit("Ada", i * 10, name, &[("src/core/x.rs", 'M', 1, 1)]);
    }
    for (d, subject) in [
        (30, "login form"),
        (32, "session cookie"),
        (35, "logout button"),
        (40, "password reset"),
    ] {
        b = b.commit("Bob", d, subject, &[("src/auth/login.rs", 'M', 3, 0)]);
    }
    for (d, subject) in [(5, "guide one"), (50, "guide two"), (95, "guide three")] {
        b = b.commit("Cy", d, subject, &[("docs/a.md", 'M', 1, 0)]);
    }
    // lib and lib/net hold the same burst: one storyline, named by the deeper.
    for (d, subject) in [
        (70, "http client"),
        (72, "retry policy"),
        (74, "proxy settings"),
    ] {
        b = b.commit("Dan", d, subject, &[("lib/net/http.rs", 'M', 2, 0)]);
    }
    // Walk order is not time order here; the burst is by time.
    let history = b.build();
    let lines = storylines(&history, &[]);
    let told: Vec<(&str, Source, usize, Lifecycle)> = lines
        .iter()
        .map(|s| (s.title.as_str(), s.source, s.commits, s.lifecycle))
        .collect();
    // "guide" is in three subjects on three days: a term thread too.
    assert_eq!(
        told,
        [
            ("src/auth", Source::Area, 4, Lifecycle::Stalled),
            ("guide", Source::Term, 3, Lifecycle::Active),
            ("lib/net", Source::Area, 3, Lifecycle::Stalled),
        ]
    );
    let threads: Vec<&str> = lines[2].threads.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(threads, ["lib/net", "lib"]);
    assert_eq!(lines[0].first_commits, ids(&["c12", "c13", "c14"]));
    assert_eq!(lines[0].last_commits, ids(&["c15"]));
}

#[test]
fn candidates_sharing_most_commits_merge() {
    let none: &[(&str, char, u64, u64)] = &[];
    let mut b = Builder::new();
    for (d, scope, references) in [
        (0, None, &[][..]),
        (10, Some("api"), &["#11"][..]),
        (20, Some("api"), &["#9", "#10"][..]),
        (30, Some("api"), &["#9"][..]),
        (40, None, &["#9", "#11"][..]),
        (50, None, &["#10", "#11"][..]),
        (60, None, &["#10"][..]),
        (100, None, &[][..]),
    ] {
        b = add(b, "Ada", d, "x", none, labels("feature", scope, references));
    }
    let history = b.build();
    let lines = storylines(&history, &[]);
    type Told<'a> = (&'a str, usize, Vec<(Source, &'a str, usize)>);
    let told: Vec<Told<'_>> = lines
        .iter()
        .map(|s| {
            let threads = s
                .threads
                .iter()
                .map(|t| (t.source, t.title.as_str(), t.commits))
                .collect();
            (s.title.as_str(), s.commits, threads)
        })
        .collect();
    // api {2,3,4} and #9 {3,4,5} share 2 of 4 (0.5): one storyline. #11 {2,5,6} shares
    // 2 of 5 (0.4) with it: apart.
    assert_eq!(
        told,
        [
            (
                "api",
                4,
                vec![(Source::Scope, "api", 3), (Source::Reference, "#9", 3)]
            ),
            ("#11", 3, vec![(Source::Reference, "#11", 3)]),
            ("#10", 3, vec![(Source::Reference, "#10", 3)]),
        ]
    );
}

#[test]
fn categories_follow_their_precedence() {
    let mut b = Builder::new();
    for (i, (class, subject)) in (0..).zip([
        ("fix", "fix xss in comments"),
        ("fix", "fix crash"),
        ("fix", "fix leak"),
        ("refactor", "port the lexer to rust"),
        ("refactor", "split module"),
        ("refactor", "rename things"),
        ("feature", "make parsing faster"),
        ("docs", "guide"),
        ("docs", "faq"),
        ("chore", "bump deps"),
        ("feature", "ci: cache builds"),
        ("feature", "add search"),
        ("test", "search tests"),
        ("chore", "move to the new runner"),
        ("chore", "moved files to attic"),
        ("fix", "report errors"),
        ("feature", "credit the author"),
        ("test", "cover the parser"),
        ("test", "cover the lexer"),
    ]) {
        b = add(b, "Ada", i, subject, &[], labels(class, None, &[]));
    }
    let history = b.build();
    let cases: [(&[usize], (Category, usize)); 17] = [
        (&[0, 1, 2], (Category::Security, 1)),
        (&[1, 2], (Category::BugCampaign, 2)),
        (&[3, 4, 5], (Category::Migration, 1)),
        (&[4, 5], (Category::Refactoring, 2)),
        (&[6, 4, 5], (Category::Performance, 1)),
        (&[7, 8], (Category::Docs, 2)),
        (&[9, 10], (Category::Infrastructure, 2)),
        (&[11, 12], (Category::Feature, 1)),
        (&[1, 4, 7, 11], (Category::Feature, 1)),
        (&[13], (Category::Migration, 1)),
        // `chore` is enrich's class for what it could not tell: it signals nothing.
        (&[14], (Category::Feature, 0)),
        (&[15], (Category::BugCampaign, 1)),
        (&[16], (Category::Feature, 1)),
        (&[17, 18, 11], (Category::Testing, 2)),
        // Chores signal nothing: two tests of three commits that say something.
        (&[17, 18, 11, 13, 14, 9], (Category::Testing, 2)),
        (&[17, 11, 16, 14], (Category::Feature, 2)),
        // A majority, not a tie: one fix beside one feature is no bug campaign.
        (&[1, 11, 14], (Category::Feature, 1)),
    ];
    for (commits, expected) in cases {
        assert_eq!(category(&history, commits), expected, "{commits:?}");
    }
}

#[test]
fn storylines_are_bounded_and_ordered() {
    let mut b = Builder::new();
    let mut day = 0;
    let scopes = (1..=13).map(|i| format!("s{i:02}"));
    let plan: Vec<(String, usize)> = std::iter::once(("big".to_owned(), 8))
        .chain(scopes.map(|s| (s, 3)))
        .collect();
    for (scope, count) in &plan {
        for k in 0..*count {
            b = add(
                b,
                "Ada",
                day,
                &format!("{scope} {k}"),
                &[],
                labels("feature", Some(scope), &[]),
            );
            day += 1;
        }
    }
    let history = b.build();
    let lines = storylines(&history, &[]);
    let titles: Vec<&str> = lines.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "big", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11"
        ]
    );
    assert_eq!(lines[0].first_commits, ids(&["c1", "c2", "c3"]));
    assert_eq!(lines[0].last_commits, ids(&["c6", "c7", "c8"]));
    assert_eq!(lines[0].lifecycle, Lifecycle::Completed);
}

#[test]
fn the_word_lists_are_sorted_for_binary_search() {
    assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(subject_terms("update the readme"), ["readme"]);
    assert_eq!(subject_terms("[PATCH] teach the patch id"), ["patch"]);
}

#[test]
fn a_term_and_a_directory_naming_the_same_thing_are_one_storyline() {
    let mut b = Builder::new().commit("Ada", 0, "start", &[("README.md", '+', 5, 0)]);
    for (d, subject) in [
        (10, "ownership over the history"),
        (20, "hotspots of a history"),
        (30, "deletions in the history"),
    ] {
        b = b.commit("Ada", d, subject, &[("x.rs", 'M', 1, 0)]);
    }
    // A burst in `history/src/`: named `history` (`src` names nothing), and one of its
    // subjects says "history".
    for (d, subject) in [
        (60, "ownership by file"),
        (61, "history of deletions"),
        (62, "hotspot weights"),
    ] {
        b = b.commit("Bob", d, subject, &[("history/src/a.rs", 'M', 2, 0)]);
    }
    b = b.commit("Ada", 200, "later", &[("x.rs", 'M', 1, 0)]);
    let history = b.build();
    let lines = storylines(&history, &[]);
    let told: Vec<(&str, Source, usize)> = lines
        .iter()
        .map(|s| (s.title.as_str(), s.source, s.commits))
        .collect();
    assert_eq!(told, [("history", Source::Term, 6)]);
    let threads: Vec<(Source, &str)> = lines[0]
        .threads
        .iter()
        .map(|t| (t.source, t.title.as_str()))
        .collect();
    assert_eq!(
        threads,
        [(Source::Term, "history"), (Source::Area, "history")]
    );
}

#[test]
fn the_same_name_without_a_shared_commit_is_told_once() {
    let mut b = Builder::new().commit("Ada", 0, "start", &[("README.md", '+', 5, 0)]);
    for (d, subject) in [(10, "parser one"), (20, "parser two"), (30, "parser three")] {
        b = b.commit("Ada", d, subject, &[("x.rs", 'M', 1, 0)]);
    }
    for (d, subject) in [(60, "alpha"), (61, "bravo"), (62, "charlie")] {
        b = b.commit("Bob", d, subject, &[("parser/a.rs", 'M', 2, 0)]);
    }
    b = b.commit("Ada", 200, "later", &[("x.rs", 'M', 1, 0)]);
    let lines = storylines(&b.build(), &[]);
    let told: Vec<(&str, Source, usize)> = lines
        .iter()
        .map(|s| (s.title.as_str(), s.source, s.commits))
        .collect();
    // Not merged (they share no commit), and the larger alone is told: two storylines titled
    // alike would read as one.
    assert_eq!(told, [("parser", Source::Term, 3)]);
}

#[test]
fn a_subject_prefix_is_a_scope() {
    let mut b = Builder::new();
    for (d, subject) in [
        (0, "builtin/add: fix a leak"),
        (1, "builtin/add.c: teach --chmod"),
        (2, "doc: builtin/add: clarify"),
    ] {
        b = b.commit("Ada", d, subject, &[("x.rs", 'M', 1, 0)]);
    }
    let history = b.build();
    let scopes: Vec<Option<&str>> = history.commits.iter().map(|c| c.scope.as_deref()).collect();
    assert_eq!(scopes, [Some("builtin/add"); 3]);
    let lines = storylines(&history, &[]);
    assert_eq!(lines[0].title, "builtin/add");
    assert_eq!(lines[0].source, Source::Scope);
}

#[test]
fn a_term_is_titled_as_its_subjects_spell_it() {
    let mut b = Builder::new();
    for (d, subject) in [
        (0, "README: the install"),
        (1, "the readme, shorter"),
        (2, "README: the API"),
        (3, "Parser speed"),
        (4, "parser errors"),
        (5, "PARSER cleanup"),
    ] {
        b = b.commit("Ada", d, subject, &[("x.rs", 'M', 1, 0)]);
    }
    let lines = storylines(&b.build(), &[]);
    let mut titles: Vec<&str> = lines.iter().map(|s| s.title.as_str()).collect();
    titles.sort_unstable();
    // A tie (one each) is lower case.
    assert_eq!(titles, ["README", "parser"]);
}

#[test]
fn over_years_a_thread_is_its_densest_window_and_a_word_used_all_along_is_none() {
    let mut b = Builder::new();
    // "diff" once a year for eight years: a topic of the whole history.
    for year in 0..8 {
        b = b.commit(
            "Ada",
            year * 365,
            &format!("diff tweak {year}"),
            &[("x.rs", 'M', 1, 0)],
        );
    }
    // "reftable" twice in the first year, then six times in the fifth.
    for (d, subject) in [
        (10, "reftable idea"),
        (20, "reftable sketch"),
        (1500, "reftable reader"),
        (1510, "reftable writer"),
        (1600, "reftable stack"),
        (1700, "reftable tests"),
        (1800, "reftable backend"),
        (1900, "reftable docs"),
    ] {
        b = b.commit("Bob", d, subject, &[("y.rs", 'M', 1, 0)]);
    }
    let history = b.build();
    let lines = storylines(&history, &[]);
    let told: Vec<(&str, usize)> = lines
        .iter()
        .map(|s| (s.title.as_str(), s.commits))
        .collect();
    assert_eq!(told, [("reftable", 6)]);
    assert_eq!(day(&history, 1500), lines[0].first_time);
}

#[test]
fn a_burst_is_most_of_its_directorys_work() {
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut b = Builder::new();
    for (i, name) in (0..).zip(names) {
        b = b.commit("Ada", i * 30, name, &[("core/x.rs", 'M', 1, 1)]);
    }
    // Three commits in three days: a stretch of `core`'s work, but all of `auth`'s.
    for (d, subject) in [(100, "login"), (101, "logout"), (102, "session")] {
        b = b.commit(
            "Bob",
            d,
            subject,
            &[("core/y.rs", 'M', 1, 0), ("auth/a.rs", 'M', 1, 0)],
        );
    }
    let lines = storylines(&b.build(), &[]);
    let told: Vec<(&str, usize)> = lines
        .iter()
        .map(|s| (s.title.as_str(), s.commits))
        .collect();
    assert_eq!(told, [("auth", 3)]);
}
