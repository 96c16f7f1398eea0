use super::*;
use crate::record::{FileStat, FileStatus, Identity};

fn person(name: &str, email: &str) -> Person {
    Person {
        name: name.to_owned(),
        email: email.to_owned(),
        time: "2024-05-01T09:30:00+02:00".to_owned(),
        canonical: None,
    }
}

fn file(path: &str, added: Option<u64>, deleted: Option<u64>) -> FileStat {
    FileStat {
        path: path.to_owned(),
        added,
        deleted,
        status: FileStatus::Modified,
    }
}

fn record(message: &str, files: Vec<FileStat>) -> CommitRecord {
    CommitRecord {
        id: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        parents: vec!["1".repeat(40)],
        author: person("Ada", "ada@example.com"),
        committer: person("Ada", "ada@example.com"),
        message: message.to_owned(),
        files,
        renames: Vec::new(),
    }
}

#[test]
fn conventional_headers() {
    let header = parse_conventional("feat(parser)!: accept tabs").unwrap();
    assert_eq!(header.kind, "feat");
    assert_eq!(header.scope.as_deref(), Some("parser"));
    assert!(header.breaking);
    let header = parse_conventional("Fix: off by one").unwrap();
    assert_eq!(
        (header.kind.as_str(), header.scope, header.breaking),
        ("fix", None, false)
    );
    for prose in [
        "Note: this is prose",
        "feat:missing space",
        "feat(a(b)): nested",
        "fix : space before colon",
        "Merge branch 'x'",
    ] {
        assert_eq!(parse_conventional(prose), None, "{prose}");
    }
}

#[test]
fn breaking_change_footer_marks_the_header() {
    let enrichment = enrich(
        &record(
            "refactor: new config\n\nBREAKING CHANGE: keys renamed\n",
            vec![],
        ),
        &[],
    );
    assert!(enrichment.conventional.unwrap().breaking);
    assert_eq!(enrichment.class, CommitClass::Refactor);
}

#[test]
fn conventional_types_map_to_classes() {
    let cases = [
        ("feat: x", CommitClass::Feature),
        ("fix: x", CommitClass::Fix),
        ("perf: x", CommitClass::Refactor),
        ("docs: x", CommitClass::Docs),
        ("test: x", CommitClass::Test),
        ("ci: x", CommitClass::Build),
        ("build(deps): x", CommitClass::Build),
        ("chore: x", CommitClass::Chore),
        ("revert: x", CommitClass::Revert),
    ];
    for (subject, class) in cases {
        assert_eq!(
            enrich(&record(subject, vec![]), &[]).class,
            class,
            "{subject}"
        );
    }
}

#[test]
fn heuristic_classes_from_subjects() {
    let none = std::iter::empty();
    let cases = [
        ("Revert \"Add parser\"", CommitClass::Revert),
        ("Fix crash when the file is empty", CommitClass::Fix),
        ("Add a parser for TOML", CommitClass::Feature),
        ("Parser: implement tabs, fix spaces", CommitClass::Feature),
        ("Rename the walker", CommitClass::Refactor),
        ("Update README", CommitClass::Docs),
        ("More tests for the walker", CommitClass::Test),
        ("Bump serde to 1.0.200", CommitClass::Build),
        ("Tweak things", CommitClass::Chore),
        ("Fixture update", CommitClass::Chore),
    ];
    for (subject, class) in cases {
        assert_eq!(
            heuristic_class(subject, false, none.clone()),
            class,
            "{subject}"
        );
    }
    assert_eq!(
        heuristic_class("Add x", true, none),
        CommitClass::Chore,
        "merges are chores"
    );
}

#[test]
fn the_verb_after_an_area_prefix_decides() {
    let none = std::iter::empty();
    let cases = [
        // The area's own words say nothing: `add` here is a command, not a verb.
        ("builtin/add: fix a leak in add_files", CommitClass::Fix),
        ("builtin/add: teach --chmod to skip", CommitClass::Feature),
        ("mergetools: vimdiff: fix for diffopt", CommitClass::Fix),
        (
            "refs/files: refactor the pseudoref loop",
            CommitClass::Refactor,
        ),
        ("midx: drop unused parameters", CommitClass::Refactor),
        ("xdiff/xdiff.h: remove unused flags", CommitClass::Refactor),
        (
            "show_log: factor out interdiff generation",
            CommitClass::Refactor,
        ),
        (
            "builtin/commit.c: use xstrdup_or_null",
            CommitClass::Refactor,
        ),
        ("clone: plug a miniscule leak", CommitClass::Fix),
        (
            "format-patch: do not feed tags to clear_commit_marks()",
            CommitClass::Fix,
        ),
        ("setup: stop initializing the database", CommitClass::Fix),
        ("git-gui: add Japanese language code", CommitClass::Feature),
        (
            "diff --no-index: support limiting by pathspec",
            CommitClass::Feature,
        ),
        ("Gateway: drop ApiBytes, unused", CommitClass::Refactor),
        (
            "doc: git-checkout: clarify intro sentence",
            CommitClass::Docs,
        ),
        ("docs: clarify --filter", CommitClass::Docs),
        ("shortlog: document the --group option", CommitClass::Docs),
        ("Parser: implement tabs, fix spaces", CommitClass::Feature),
        ("Gateway: the read API", CommitClass::Chore),
        // A mailed patch's tag is no fix.
        ("[PATCH] Typofix in git/show-files.", CommitClass::Chore),
        ("[PATCH] Add git-clone", CommitClass::Feature),
    ];
    for (subject, class) in cases {
        assert_eq!(
            heuristic_class(subject, false, none.clone()),
            class,
            "{subject}"
        );
    }
}

#[test]
fn an_area_prefix_can_name_the_class() {
    let cases = [
        ("t7004: fix the signed-tag test", Some(CommitClass::Test)),
        (
            "t3206-range-diff.sh: cover single-patch case",
            Some(CommitClass::Test),
        ),
        (
            "t0302 & t3900: add forgotten quotes",
            Some(CommitClass::Test),
        ),
        ("t/lib-unicode: helper prereqs", Some(CommitClass::Test)),
        (
            "mktag tests: invert --no-strict test",
            Some(CommitClass::Test),
        ),
        ("e2e: wait for Warning Events", Some(CommitClass::Test)),
        (
            "Documentation/git-log.txt: fix a typo",
            Some(CommitClass::Docs),
        ),
        ("README: add a GitLab CI badge", Some(CommitClass::Docs)),
        (
            "Runner README: the bench in rounds",
            Some(CommitClass::Docs),
        ),
        ("ci: run on macOS", Some(CommitClass::Build)),
        (".github/workflows: cache cargo", Some(CommitClass::Build)),
        ("gitlab-ci: upgrade macOS runners", Some(CommitClass::Build)),
        ("the tests: nothing", None),
        ("tyre: x", None),
        ("t12: x", None),
        ("t€éé: x", None),
    ];
    for (subject, class) in cases {
        let (areas, _) = gitview_history::subjects::prefixes(subject);
        assert_eq!(
            areas.iter().find_map(|a| prefix_class(a)),
            class,
            "{subject}"
        );
    }
}

#[test]
fn leading_verbs_are_read_only_first() {
    assert_eq!(leading_verb_class("Fix the walker"), Some(CommitClass::Fix));
    assert_eq!(leading_verb_class("don’t leak"), Some(CommitClass::Fix));
    assert_eq!(leading_verb_class("do not leak"), Some(CommitClass::Fix));
    assert_eq!(
        leading_verb_class("teach X to y"),
        Some(CommitClass::Feature)
    );
    assert_eq!(leading_verb_class("the walker, use less"), None);
    assert_eq!(leading_verb_class(""), None);
    assert_eq!(leading_verb_class("addition"), None, "whole words only");
}

#[test]
fn versions_alone_are_releases() {
    for subject in [
        "Git 2.45",
        "Git 2.45-rc0",
        "GIT 1.5.0.1",
        "v1.2.0",
        "1.2.3",
        "Release 1.3rc1",
    ] {
        assert!(is_release_subject(subject), "{subject}");
        assert_eq!(
            heuristic_class(subject, false, std::iter::empty()),
            CommitClass::Build,
            "{subject}"
        );
    }
    for subject in [
        "Git 2",
        "Start the 2.46 cycle",
        "Prepare 2.45.1 release notes",
    ] {
        assert!(!is_release_subject(subject), "{subject}");
    }
}

#[test]
fn commits_that_mostly_add_lines_are_features_when_nothing_else_says() {
    assert_eq!(growth_class(20, 5), Some(CommitClass::Feature));
    assert_eq!(growth_class(19, 0), None, "too small");
    assert_eq!(growth_class(79, 21), None, "not mostly additions");
    let files = |added, deleted| vec![file("src/api.rs", Some(added), Some(deleted))];
    assert_eq!(
        classify("Gateway: per-key rate limits", false, &files(300, 10)),
        CommitClass::Feature
    );
    assert_eq!(
        classify("Gateway: per-key rate limits", false, &files(100, 100)),
        CommitClass::Chore
    );
    assert_eq!(
        classify("Gateway: fix the limits", false, &files(300, 10)),
        CommitClass::Fix,
        "the subject first"
    );
    assert_eq!(
        classify("Tests for the limits", false, &files(300, 10)),
        CommitClass::Test
    );
    assert_eq!(
        classify(
            "More cases",
            false,
            &[file("tests/limits.rs", Some(300), Some(0))]
        ),
        CommitClass::Test,
        "the paths before the lines"
    );
    assert_eq!(
        classify("Add x", true, &files(300, 0)),
        CommitClass::Chore,
        "merges are chores"
    );
}

#[test]
fn heuristic_classes_from_paths() {
    let class = |paths: &[&str]| heuristic_class("Update", false, paths.iter().copied());
    assert_eq!(class(&["docs/intro.md", "README.md"]), CommitClass::Docs);
    assert_eq!(
        class(&["tests/walk.rs", "src/a_test.go"]),
        CommitClass::Test
    );
    assert_eq!(
        class(&["Cargo.toml", ".github/workflows/ci.yml"]),
        CommitClass::Build
    );
    assert_eq!(
        class(&["t/t7004-tag.sh", "t/lib-gpg.sh"]),
        CommitClass::Test
    );
    assert_eq!(class(&["Cargo.toml", "src/lib.rs"]), CommitClass::Chore);
    assert_eq!(class(&[]), CommitClass::Chore);
}

#[test]
fn languages_by_name_and_extension() {
    assert_eq!(language_of("src/main.rs"), Some("Rust"));
    assert_eq!(language_of("web/App.TSX"), Some("TypeScript"));
    assert_eq!(language_of("deploy/Dockerfile"), Some("Dockerfile"));
    assert_eq!(language_of("Makefile"), Some("Makefile"));
    assert_eq!(language_of(".gitignore"), None);
    assert_eq!(language_of("LICENSE"), None);
    assert_eq!(language_of("data.bin"), None);
    let enrichment = enrich(
        &record(
            "x",
            vec![
                file("a.rs", Some(1), Some(0)),
                file("b/c.py", Some(1), None),
                file("d.rs", None, None),
            ],
        ),
        &[],
    );
    assert_eq!(enrichment.languages, ["Python", "Rust"]);
    assert_eq!(enrichment.areas, ["(root)", "b"]);
}

#[test]
fn references_in_messages() {
    let refs = |message: &str| -> Vec<(ReferenceKind, String)> {
        references(message)
            .into_iter()
            .map(|r| (r.kind, r.id))
            .collect()
    };
    use ReferenceKind::*;
    assert_eq!(
        refs(
            "Fix parser (#42)\n\nCloses #7, see PROJ-12 and CVE-2024-12345.\nSee merge request group/app!88\n"
        ),
        [
            (PullRequest, "#42".to_owned()),
            (Issue, "#7".to_owned()),
            (Ticket, "PROJ-12".to_owned()),
            (Cve, "CVE-2024-12345".to_owned()),
            (MergeRequest, "!88".to_owned()),
        ]
    );
    assert_eq!(
        refs("Merge pull request #123 from ada/feature\n\nAdd things"),
        [(PullRequest, "#123".to_owned())]
    );
    assert_eq!(
        refs("GH-9: fix !5 and #5 again #5"),
        [
            (Issue, "#9".to_owned()),
            (MergeRequest, "!5".to_owned()),
            (Issue, "#5".to_owned()),
        ]
    );
    // Not references: encodings, hashes, HTML entities, anchors, `!=`.
    assert_eq!(
        refs("Use UTF-8 and SHA-256 on x86, see &#123; and a#1 and x != 3"),
        []
    );
}

#[test]
fn merge_subjects() {
    assert_eq!(
        parse_merge("Merge pull request #5 from ada/topic"),
        Some(MergeInfo {
            branch: Some("ada/topic".into()),
            into: None
        })
    );
    assert_eq!(
        parse_merge("Merge branch 'feature/x' into 'main'"),
        Some(MergeInfo {
            branch: Some("feature/x".into()),
            into: Some("main".into())
        })
    );
    assert_eq!(
        parse_merge("Merge branch 'topic' of https://example.com/r into next"),
        Some(MergeInfo {
            branch: Some("topic".into()),
            into: Some("next".into())
        })
    );
    assert_eq!(
        parse_merge("Merge remote-tracking branch 'origin/dev'"),
        Some(MergeInfo {
            branch: Some("origin/dev".into()),
            into: None
        })
    );
    assert_eq!(parse_merge("Merged the parsers"), None);
}

#[test]
fn bots() {
    assert!(is_bot(&person(
        "dependabot[bot]",
        "49699333+dependabot[bot]@users.noreply.github.com"
    )));
    assert!(is_bot(&person(
        "Renovate Bot",
        "renovate@whitesourcesoftware.com"
    )));
    assert!(is_bot(&person(
        "github-actions",
        "41898282+github-actions@users.noreply.github.com"
    )));
    assert!(is_bot(&person("some-release-bot", "x@example.com")));
    assert!(!is_bot(&person("Abbott Costello", "abbott@example.com")));
    assert!(!is_bot(&person("Ada", "ada@example.com")));
    let mut mapped = person("x", "x@example.com");
    mapped.canonical = Some(Identity {
        name: "mergify[bot]".into(),
        email: "m@example.com".into(),
    });
    assert!(is_bot(&mapped));
}

#[test]
fn size_buckets() {
    assert_eq!(SizeBucket::of(0, 0), SizeBucket::Empty);
    assert_eq!(SizeBucket::of(1, 0), SizeBucket::Xs);
    assert_eq!(SizeBucket::of(1, 10), SizeBucket::Xs);
    assert_eq!(SizeBucket::of(1, 11), SizeBucket::S);
    assert_eq!(SizeBucket::of(3, 250), SizeBucket::M);
    assert_eq!(SizeBucket::of(3, 1000), SizeBucket::L);
    assert_eq!(SizeBucket::of(3, 1001), SizeBucket::Xl);
}

#[test]
fn facts_use_the_canonical_author_and_cut_long_subjects() {
    let mut commit = record(
        &format!("{}\n\nbody", "é".repeat(300)),
        vec![file("src/a.rs", Some(3), Some(2))],
    );
    commit.author.canonical = Some(Identity {
        name: "Ada L".into(),
        email: "Ada@Example.com".into(),
    });
    let facts = CommitFacts::new(&commit, &enrich(&commit, &[]));
    assert_eq!(facts.author, "Ada L");
    assert_eq!(facts.author_key, "ada@example.com");
    assert_eq!(facts.subject.chars().count(), SUBJECT_LIMIT);
    assert!(facts.subject.ends_with('…'));
    assert_eq!((facts.added, facts.deleted, facts.churn()), (3, 2, 5));
    assert_eq!(facts.time, 1_714_548_600);
}
