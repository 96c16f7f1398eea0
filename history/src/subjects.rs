//! What a commit subject says outside the conventional-commit form: the `area: …` prefixes of
//! git's and Linux's convention (`builtin/add: fix …`, `mergetools: vimdiff: fix …`,
//! `Gateway: the read API`), read the same way by the runner's enrich stage (the class from
//! the words after the prefixes) and by [`History`](crate::History) (the first prefix as the
//! commit's scope when it has no conventional one).
//!
//! Leading tags of a mailed patch (`[PATCH]`, `[PATCH 2/3]`, `[RFC PATCH]`) are read past
//! ([`without_tags`]).
//!
//! A **prefix** is the text before the first `": "` when it is short — at most
//! [`PREFIX_MAX_CHARS`] characters and [`PREFIX_MAX_WORDS`] words —, holds no quote, bracket
//! or sentence punctuation outside parentheses (`sequencer (rebase -i):` is one), and does not
//! start with a word of [`NOT_AREAS`] (`Fix bug: …`, `Note: …`, `Merge branch 'a': …` are
//! sentences, not areas). Up to [`MAX_PREFIXES`] prefixes are read in a row; the rest is the
//! subject proper.
//!
//! A subject's **scope** ([`scope_of`]) is its first prefix that is not a conventional-commit
//! type, lower-cased, without a source file's extension (`builtin/commit.c` →
//! `builtin/commit`), so a component's commits gather whichever file they name.

/// A prefix is at most this many characters …
pub const PREFIX_MAX_CHARS: usize = 40;
/// … and this many words (`t0302 & t3900`, `diff --no-index`).
pub const PREFIX_MAX_WORDS: usize = 3;
/// At most this many prefixes are read in a row (`doc: git-checkout: clarify …`).
pub const MAX_PREFIXES: usize = 3;

/// First words of a subject's head that make it a sentence rather than an area: the leading
/// verbs of commit subjects and the words that open prose (sorted: looked up by binary
/// search).
#[rustfmt::skip]
pub const NOT_AREAS: &[&str] = &[
    "add", "added", "adds", "allow", "an", "avoid", "breaking", "bump", "change", "changed",
    "cherry", "closes", "convert", "correct", "drop", "fix", "fixed", "fixes", "fixup", "hint",
    "implement", "important", "introduce", "make", "merge", "merged", "move", "note", "notes",
    "refactor", "remove", "rename", "revert", "see", "signed", "squash", "support", "the",
    "this", "todo", "update", "updated", "use", "warning", "wip",
];

/// The subject's prefixes and what follows them: `("mergetools", "vimdiff")` and
/// `"fix for diffopt"` for `mergetools: vimdiff: fix for diffopt`; no prefixes for a subject
/// without one.
pub fn prefixes(subject: &str) -> (Vec<&str>, &str) {
    let mut found = Vec::new();
    let mut rest = without_tags(subject);
    while found.len() < MAX_PREFIXES {
        let Some((head, tail)) = rest.split_once(": ") else {
            break;
        };
        let (head, tail) = (head.trim(), tail.trim());
        if tail.is_empty() || !is_area(head) {
            break;
        }
        found.push(head);
        rest = tail;
    }
    (found, rest)
}

/// The subject without the leading bracketed tags of a mailed patch (`[PATCH]`,
/// `[PATCH 2/3]`, `[RFC]`), which say how it travelled, not what it is.
pub fn without_tags(subject: &str) -> &str {
    let mut rest = subject.trim();
    while let Some(tail) = rest.strip_prefix('[') {
        let Some((tag, after)) = tail.split_once(']') else {
            break;
        };
        let tag = tag.trim().to_ascii_uppercase();
        if !(tag.starts_with("PATCH") || tag.starts_with("RFC")) {
            break;
        }
        rest = after.trim_start();
    }
    rest
}

/// Whether the text before a `": "` reads as an area (see the module docs).
fn is_area(head: &str) -> bool {
    if head.is_empty() || head.chars().count() > PREFIX_MAX_CHARS {
        return false;
    }
    // Words and punctuation outside parentheses: `sequencer (rebase -i)` is an area.
    let mut depth = 0usize;
    let mut outside = String::new();
    for c in head.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    if depth > 0
        || outside.contains([
            '"', '\'', '`', '‘', '’', '“', '”', '[', ']', '{', '}', '<', '>', ';', ',', '!', '?',
            ':', '(', ')',
        ])
    {
        return false;
    }
    let words: Vec<&str> = outside.split_whitespace().collect();
    let Some(first) = words.first() else {
        return false;
    };
    let first = first.to_lowercase();
    words.len() <= PREFIX_MAX_WORDS
        && first.chars().any(char::is_alphanumeric)
        && NOT_AREAS.binary_search(&first.as_str()).is_err()
}

/// Source file extensions a scope is read without.
const EXTENSIONS: &[&str] = &[
    ".c", ".h", ".cc", ".cpp", ".rs", ".go", ".py", ".rb", ".js", ".ts", ".java", ".sh", ".pl",
    ".perl", ".txt", ".md", ".adoc", ".rst",
];

/// The conventional-commit types whose prefix (`feat(parser)!: `) a term is not read from.
pub const CONVENTIONAL_TYPES: &[&str] = &[
    "build", "chore", "ci", "deps", "docs", "feat", "feature", "fix", "perf", "refactor",
    "release", "revert", "style", "test", "tests",
];

/// The scope a subject's first prefix gives it (see the module docs); `None` without one. A
/// first prefix that is a conventional-commit type (`doc: git-checkout: clarify …`) is the
/// type, not an area: the next prefix is the scope.
pub fn scope_of(subject: &str) -> Option<String> {
    let (found, _) = prefixes(subject);
    let first = found
        .iter()
        .map(|p| p.to_lowercase())
        .find(|p| p != "doc" && !CONVENTIONAL_TYPES.contains(&p.as_str()))?;
    let scope = EXTENSIONS
        .iter()
        .find_map(|ext| first.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(&first);
    Some(scope.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_areas_is_sorted_for_the_binary_search() {
        assert!(NOT_AREAS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn prefixes_of_git_and_linux_subjects() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("builtin/add: fix a leak", &["builtin/add"], "fix a leak"),
            (
                "mergetools: vimdiff: fix for diffopt",
                &["mergetools", "vimdiff"],
                "fix for diffopt",
            ),
            (
                "t0302 & t3900: add forgotten quotes",
                &["t0302 & t3900"],
                "add forgotten quotes",
            ),
            (
                "diff --no-index: support limiting",
                &["diff --no-index"],
                "support limiting",
            ),
            (
                "sequencer (rebase -i): skip some code",
                &["sequencer (rebase -i)"],
                "skip some code",
            ),
            ("Gateway: the read API", &["Gateway"], "the read API"),
            ("Runner README: the bench", &["Runner README"], "the bench"),
            ("a: b: c: d: e", &["a", "b", "c"], "d: e"),
            (
                "[PATCH] Typofix in git/show-files.",
                &[],
                "Typofix in git/show-files.",
            ),
            ("[PATCH 2/3] diff: fix", &["diff"], "fix"),
            ("[RFC PATCH] [PATCH] x", &[], "x"),
            ("[wip] x: y", &[], "[wip] x: y"),
        ];
        for (subject, areas, rest) in cases {
            assert_eq!(prefixes(subject), (areas.to_vec(), *rest), "{subject}");
        }
    }

    #[test]
    fn sentences_are_not_prefixes() {
        for subject in [
            "Add a parser",
            "Fix bug: crash on empty input",
            "Note: this is prose",
            "Merge branch 'a': things",
            "Git 2.45",
            "Revert \"x: y\"",
            "Runner first slice, and the end-to-end suite",
            "one two three four: too many words",
            "an area whose name is far too long to be one: x",
            "area:",
            "area: ",
            "area:no space",
            "(unbalanced: x",
            "\"quoted\": x",
        ] {
            assert_eq!(prefixes(subject).0, Vec::<&str>::new(), "{subject}");
        }
    }

    #[test]
    fn the_first_prefix_is_the_scope_without_its_extension() {
        assert_eq!(
            scope_of("builtin/commit.c: use xstrdup").as_deref(),
            Some("builtin/commit")
        );
        assert_eq!(
            scope_of("Gateway: the read API").as_deref(),
            Some("gateway")
        );
        assert_eq!(
            scope_of("doc: git-checkout.txt: clarify").as_deref(),
            Some("git-checkout")
        );
        assert_eq!(scope_of("docs: clarify"), None);
        assert_eq!(scope_of(".c: x").as_deref(), Some(".c"));
        assert_eq!(scope_of("Add a parser"), None);
    }
}
