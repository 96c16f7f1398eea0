//! The name of an artifact a run writes (`story.md`, `timeline.json`): one rule for the
//! gateway's `PUT /v1/runs/{analysis}/artifacts/{name}` and the runner's output directory, so
//! a name one accepts the other takes too. A name is a plain file name on any file system and
//! in a URL path without escaping: 1 to [`MAX_NAME_LEN`] of `A-Z a-z 0-9 . _ -`, not starting
//! with a dot (no hidden file, no `.` or `..`), and none of [`RESERVED_NAMES`].

/// The longest artifact name, in bytes.
pub const MAX_NAME_LEN: usize = 100;

/// What a run's output holds beside its artifacts (the runner's output directory): the
/// commits, the phases, and the summary written last, whose presence says the run completed.
/// No artifact may take their names.
pub const RESERVED_NAMES: [&str; 3] = ["commits.jsonl", "phases.json", "analysis.json"];

/// The rule, as messages and the API's documentation state it.
pub const NAME_RULE: &str = "1-100 of A-Z a-z 0-9 . _ -, not starting with a dot, other than \
                             commits.jsonl, phases.json and analysis.json";

/// Whether `name` may name an artifact (see the module docs).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !RESERVED_NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_are_artifact_names() {
        for name in [
            "story.md",
            "timeline.json",
            "story.json",
            "a",
            "report_2024-05.v2.html",
            "a..b",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert!(is_valid_name(name), "{name:?}");
        }
    }

    /// What both rules refused before they were one (the gateway's and the runner's).
    #[test]
    fn paths_hidden_files_and_empty_names_are_refused() {
        for name in [
            "",
            ".",
            "..",
            ".hidden",
            "../escape",
            "a/b",
            "a\\b",
            "a\0b",
            "/etc/passwd",
        ] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }

    /// What the gateway refused and the runner's output directory took.
    #[test]
    fn names_a_url_or_a_file_system_would_read_differently_are_refused() {
        for name in [
            "story final.md",
            "résumé.md",
            "a+b",
            "a~",
            "a:b",
            "a@b",
            "a%2Fb",
            "a?b",
            "a#b",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }

    /// What the runner's output directory refused and the gateway took.
    #[test]
    fn the_run_s_own_files_are_not_artifacts() {
        for name in RESERVED_NAMES {
            assert!(!is_valid_name(name), "{name:?}");
        }
        assert!(is_valid_name("commits.json") && is_valid_name("analysis.jsonl"));
    }
}
