//! Critical mode's goals: read from a file ([`read_goals`]) or the profile, and the story's
//! deterministic section "Against the goals" ([`against_the_goals`], pure), written with or
//! without a model.
//!
//! For each goal, its *terms* are its words of at least three letters that are not common
//! words ([`STOP_WORDS`]). A term matches a word of a commit's subject or of a path it changed
//! (split at `/`, `.`, `_`, `-`) when it is the same word, or one is a prefix of the other and
//! the shorter has at least four letters (`test` matches `tests` and `testing`). A commit
//! speaks to a goal when at least half of the goal's terms (rounded up) match, so one common
//! word (`api`) is not enough for a goal of three terms.
//! The sentence names how many commits do, cites the ones matching most terms (then the
//! newest) up to [`CITED`], or says plainly that no commit speaks to the goal: a gap.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gitview_core::story::{Claim, Evidence, StorySection, escape_markdown, grouped};
use gitview_history::History;

/// Commits cited per goal.
pub const CITED: usize = 5;

/// Words that say nothing about where a goal's work would be.
pub const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "into", "are", "was", "our", "all", "any",
    "not", "but", "have", "has", "should", "must", "will", "can", "more", "less", "than", "every",
    "each", "its", "their", "they", "them", "who", "what", "when", "where", "which", "how", "use",
    "used", "make", "made", "get", "new", "one", "two", "out", "via", "per", "also", "only",
    "over", "under", "about", "able", "being", "been", "both", "very",
];

/// Errors of reading a goals file.
#[derive(Debug, thiserror::Error)]
pub enum GoalsError {
    #[error("cannot read the goals file {path:?}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the goals file {path:?} holds no goal (one per line, or a Markdown list)")]
    Empty { path: PathBuf },
}

/// The goals of `text`: one per non-empty line, list markers (`-`, `*`, `+`, `1.`, `1)`) and
/// headings (`#` lines) left out.
pub fn parse_goals(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let line = line
                .strip_prefix(['-', '*', '+'])
                .map(str::trim_start)
                .unwrap_or(line);
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            match line[digits..].strip_prefix(['.', ')']) {
                Some(rest) if digits > 0 => rest.trim_start(),
                _ => line,
            }
        })
        .filter(|goal| !goal.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a goals file; an unreadable file or one without a goal is an error naming it.
pub fn read_goals(path: &Path) -> Result<Vec<String>, GoalsError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoalsError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let goals = parse_goals(&text);
    if goals.is_empty() {
        return Err(GoalsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(goals)
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The terms of a goal (see the module's documentation).
pub fn terms(goal: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    words(goal)
        .filter(|w| w.chars().count() >= 3 && w.chars().any(char::is_alphabetic))
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn matches(term: &str, word: &str) -> bool {
    let (short, long) = if term.len() <= word.len() {
        (term, word)
    } else {
        (word, term)
    };
    short == long || (short.chars().count() >= 4 && long.starts_with(short))
}

/// The section "Against the goals": one sentence per goal (see the module's documentation).
pub fn against_the_goals(goals: &[String], history: &History) -> StorySection {
    let claims = goals.iter().map(|goal| goal_claim(goal, history)).collect();
    StorySection {
        id: "goals".into(),
        heading: "Against the goals".into(),
        list: true,
        claims,
    }
}

fn goal_claim(goal: &str, history: &History) -> Claim {
    let terms = terms(goal);
    // (terms matched, index) of every commit that speaks to the goal.
    let mut found: Vec<(usize, usize)> = Vec::new();
    for (index, commit) in history.commits.iter().enumerate() {
        let mut vocabulary: BTreeSet<String> = words(&commit.subject).collect();
        for change in &commit.changes {
            vocabulary.extend(words(history.path(change.path)));
        }
        let hits = terms
            .iter()
            .filter(|t| vocabulary.iter().any(|w| matches(t, w)))
            .count();
        if hits > 0 && hits >= terms.len().div_ceil(2) {
            found.push((hits, index));
        }
    }
    // Most terms first, then the newest (history is oldest first).
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let goal_text = escape_markdown(goal.trim());
    let mut figures = serde_json::Map::new();
    figures.insert("goal".into(), goal.trim().into());
    figures.insert("terms".into(), terms.clone().into());
    figures.insert("commits".into(), (found.len() as u64).into());
    if found.is_empty() {
        let text = if terms.is_empty() {
            format!("**{goal_text}**: no commit speaks to it (the goal names nothing to look for).")
        } else {
            format!("**{goal_text}**: no commit speaks to it — a gap.")
        };
        return Claim {
            text,
            evidence: Evidence {
                commits: Vec::new(),
                figures,
            },
        };
    }
    let cited: Vec<&gitview_history::Commit> = found
        .iter()
        .take(CITED)
        .map(|&(_, i)| &history.commits[i])
        .collect();
    let examples: Vec<String> = cited
        .iter()
        .map(|c| {
            format!(
                "“{}” (`{}`)",
                escape_markdown(&c.subject),
                c.id.get(..12).unwrap_or(&c.id)
            )
        })
        .collect();
    let n = found.len() as u64;
    let text = format!(
        "**{goal_text}**: {} commit{} speak{} to it{}: {}.",
        grouped(n),
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" },
        if found.len() > CITED {
            ", most closely"
        } else {
            ""
        },
        examples.join("; ")
    );
    Claim {
        text,
        evidence: Evidence {
            commits: cited.iter().map(|c| c.id.clone()).collect(),
            figures,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_lines_or_list_items() {
        let text =
            "# Goals\n\n- Faster parser\n* 2) better docs\n3. Test coverage\n  plain goal  \n-\n";
        assert_eq!(
            parse_goals(text),
            [
                "Faster parser",
                "better docs",
                "Test coverage",
                "plain goal"
            ]
        );
    }

    #[test]
    fn goal_files_that_are_missing_or_empty_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("goals.md");
        std::fs::write(&empty, "# Goals\n\n- \n").unwrap();
        let err = read_goals(&empty).unwrap_err().to_string();
        assert!(err.contains("goals.md") && err.contains("no goal"), "{err}");
        let missing = dir.path().join("absent.txt");
        let err = read_goals(&missing).unwrap_err().to_string();
        assert!(err.contains("absent.txt"), "{err}");
        std::fs::write(&empty, "ship a CLI\n").unwrap();
        assert_eq!(read_goals(&empty).unwrap(), ["ship a CLI"]);
    }

    #[test]
    fn terms_leave_out_common_words() {
        assert_eq!(
            terms("Make the parser faster for all inputs"),
            ["parser", "faster", "inputs"]
        );
        assert!(matches("test", "testing") && matches("tests", "test"));
        assert!(!matches("doc", "docker") && matches("doc", "doc"));
    }

    fn history() -> History {
        gitview_history::testing::Builder::new()
            .hex_ids()
            .commit("Ada", 1, "Add the parser", &[("src/parser.rs", '+', 10, 0)])
            .commit("Ada", 2, "Write docs", &[("docs/guide.md", '+', 5, 0)])
            .commit(
                "Ada",
                3,
                "Speed up parsing",
                &[("src/parser.rs", 'M', 3, 1)],
            )
            .build()
    }

    #[test]
    fn each_goal_has_its_commits_or_a_gap() {
        let goals = [
            "A faster parser".to_owned(),
            "Kubernetes operator".to_owned(),
            "Parser guide examples".to_owned(),
        ];
        let section = against_the_goals(&goals, &history());
        assert_eq!(section.id, "goals");
        let parser = &section.claims[0];
        let short = |n| gitview_history::testing::hex_id(n)[..12].to_owned();
        assert_eq!(
            parser.text,
            format!(
                "**A faster parser**: 2 commits speak to it: “Speed up parsing” (`{}`); “Add the parser” (`{}`).",
                short(3),
                short(1)
            )
        );
        assert_eq!(parser.evidence.commits.len(), 2);
        assert_eq!(
            section.claims[1].text,
            "**Kubernetes operator**: no commit speaks to it — a gap."
        );
        assert!(section.claims[1].evidence.commits.is_empty());
        // Three terms: a commit needs two of them; "Write docs" changed `docs/guide.md` (one).
        assert!(
            section.claims[2].text.contains("no commit speaks to it"),
            "{}",
            section.claims[2].text
        );
    }
}
