//! The story as data: `story.json`, every claim of `story.md` with the evidence it rests on, so
//! any sentence can be traced to commits and figures (and a reader can link it); and the one
//! escaping rule for text that comes from a repository (subjects, names, paths, tags) wherever
//! it lands in Markdown.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A story: its title and its sections, in reading order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoryDocument {
    /// The repository's name (from its remote URL or directory).
    pub title: String,
    /// The commits the story tells of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<StoryCoverage>,
    pub sections: Vec<StorySection>,
    /// The storylines with every commit in them, so a reader can find the storylines of a file
    /// or a commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storylines: Vec<StorylineIndex>,
}

/// What a story covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoryCoverage {
    /// The story tells the whole history up to `lastCommit` (not only a range of it).
    pub whole_history: bool,
    pub commits: u64,
    /// The oldest and newest commits (full ids), by committer time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
}

/// A storyline with its commits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorylineIndex {
    /// Stable within one story: `storyline-1`, …, in the order the story tells them.
    pub id: String,
    pub title: String,
    /// `feature`, `refactoring`, `bug-campaign`, `migration`, `performance`, `security`,
    /// `docs`, `infrastructure` or `mixed`.
    pub category: String,
    /// `emerging`, `active`, `completed`, `stalled` or `abandoned`.
    pub lifecycle: String,
    /// Full commit ids, oldest first.
    pub commits: Vec<String>,
}

/// One section of the story (`summary`, `timeline`, `storylines`, …).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorySection {
    /// A stable identifier: `summary`, `timeline`, `storylines`, `evolution`, `deletions`,
    /// `ownership`, `risks`, `phase-3`.
    pub id: String,
    pub heading: String,
    /// Its claims are told as a list (one item each) rather than as one paragraph.
    #[serde(default)]
    pub list: bool,
    pub claims: Vec<Claim>,
}

/// One sentence of the story and what it rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// The sentence as `story.md` shows it (Markdown, repository text escaped).
    pub text: String,
    pub evidence: Evidence,
}

/// The commits and figures a claim rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// Full commit ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// Named figures, as the sentence states them (`{"commits": 42, "share": 0.61}`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub figures: serde_json::Map<String, serde_json::Value>,
}

/// Text from a repository as Markdown that shows it as written, wherever it is rendered: `<`
/// `>` `&` become HTML entities (no HTML, no autolink); `[` `]` are escaped, so no link or
/// image can form; so are the characters of emphasis, code and strikethrough (`*` `_` `` ` ``
/// `~`), `|` and `\`; and at the start, where they would open a heading, a list or a quote,
/// `#` `-` `+` `=` and a number followed by `.`. Line breaks become spaces. A commit message
/// such as `<img src=x onerror=…>` or `[click](javascript:…)` is text, never markup, and
/// ordinary text keeps its hyphens and parentheses as they are.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let ordered = digits > 0 && matches!(text.as_bytes().get(digits), Some(b'.' | b')'));
    for (i, c) in text.chars().enumerate() {
        let at_start = i == 0 && matches!(c, '#' | '-' | '+' | '=');
        if at_start || (ordered && i == digits) {
            out.push('\\');
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A count as people write it: `28,483`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Generated prose (a summary, a model's text) as Markdown that keeps its own emphasis, lists
/// and code spans but can carry no HTML, link or image, whatever repository text it quotes:
/// `<` `>` `&` become HTML entities and `[` `]` are escaped.
pub fn neutralize_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_a_repository_is_shown_as_text() {
        assert_eq!(
            escape_markdown("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            escape_markdown("[click](javascript:alert(1))"),
            "\\[click\\](javascript:alert(1))"
        );
        assert_eq!(
            escape_markdown("# not a heading\n- nor a list"),
            "\\# not a heading - nor a list"
        );
        assert_eq!(escape_markdown("- item"), "\\- item");
        assert_eq!(
            escape_markdown("a_b *c* `d` | e"),
            "a\\_b \\*c\\* \\`d\\` \\| e"
        );
        assert_eq!(escape_markdown("AT&T &lt;"), "AT&amp;T &amp;lt;");
        assert_eq!(
            escape_markdown("plain text, v1.2 (end-to-end): ok #12"),
            "plain text, v1.2 (end-to-end): ok #12"
        );
        assert_eq!(escape_markdown("12. item"), "12\\. item");
        assert_eq!(escape_markdown("3) item"), "3\\) item");
        assert_eq!(escape_markdown("bell\u{7}"), "bell\u{FFFD}");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(28_483), "28,483");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn generated_prose_keeps_its_markdown_but_no_html_or_links() {
        assert_eq!(
            neutralize_markdown("- **Fixes** in `a.rs`: see [x](javascript:y) <b>&</b>"),
            "- **Fixes** in `a.rs`: see \\[x\\](javascript:y) &lt;b&gt;&amp;&lt;/b&gt;"
        );
    }

    #[test]
    fn claims_keep_their_json_names_and_omit_empty_evidence() {
        let claim = Claim {
            text: "x".into(),
            evidence: Evidence {
                commits: vec!["abc".into()],
                figures: serde_json::Map::new(),
            },
        };
        assert_eq!(
            serde_json::to_value(&claim).expect("serialises"),
            serde_json::json!({"text": "x", "evidence": {"commits": ["abc"]}})
        );
    }
}
