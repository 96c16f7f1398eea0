//! The extractive summarizer: facts counted from the commits themselves, each with the ids it
//! rests on. Deterministic: the same commits give the same text, byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{CombineInput, SummarizeError, Summarizer, SummarizerInfo, Summary, SummaryInput};
use crate::enrich::{CommitClass, CommitFacts, KEYWORDS};

/// Version of the extractive logic: part of the cache key.
pub const EXTRACTIVE_VERSION: &str = "extractive-1";

/// At most this many ids are cited per claim.
const CITED: usize = 3;

/// Lines added, lines deleted, and the commits (indices) touching an area.
type AreaTotals = (u64, u64, Vec<usize>);

/// The extractive summarizer's kind in [`SummarizerInfo`].
pub const KIND: &str = "extractive";

/// The offline, deterministic summarizer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extractive;

impl Summarizer for Extractive {
    fn info(&self) -> SummarizerInfo {
        SummarizerInfo {
            kind: KIND.into(),
            model: None,
            version: EXTRACTIVE_VERSION.into(),
        }
    }

    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        Ok(summarize_facts(input.facts))
    }

    /// The same facts counted over all the parts' commits (the parts themselves add nothing).
    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        Ok(summarize_facts(input.facts))
    }

    fn combines_any_number(&self) -> bool {
        true
    }
}

/// Ids cited for a claim: up to [`CITED`] short ids, then how many more.
struct Citer<'f> {
    cited: BTreeSet<usize>,
    facts: &'f [CommitFacts],
}

impl Citer<'_> {
    fn cite(&mut self, indices: &[usize]) -> String {
        let mut out: Vec<String> = indices
            .iter()
            .take(CITED)
            .map(|&i| {
                self.cited.insert(i);
                format!("`{}`", self.facts[i].short_id())
            })
            .collect();
        if indices.len() > CITED {
            out.push(format!("+{} more", indices.len() - CITED));
        }
        out.join(", ")
    }
}

fn plural(class: CommitClass, n: usize) -> String {
    let (one, many) = match class {
        CommitClass::Feature => ("feature", "features"),
        CommitClass::Fix => ("fix", "fixes"),
        CommitClass::Refactor => ("refactoring", "refactorings"),
        CommitClass::Docs => ("documentation change", "documentation changes"),
        CommitClass::Test => ("test change", "test changes"),
        CommitClass::Build => ("build change", "build changes"),
        CommitClass::Chore => ("chore", "chores"),
        CommitClass::Revert => ("revert", "reverts"),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

const STOPWORDS: &[&str] = &[
    "with", "from", "into", "that", "this", "when", "then", "than", "more", "some", "also", "only",
    "make", "makes", "made", "use", "uses", "used", "using", "after", "before", "over", "under",
    "about", "them", "they", "their", "there", "where", "which", "while", "were", "will", "would",
    "should", "could", "have", "has", "been", "being", "does", "just", "like", "each", "every",
    "other", "these", "those", "what", "first", "second", "third", "fourth", "update", "updates",
    "updated", "change", "changes", "changed", "merge", "branch", "pull", "request", "main",
    "master", "commit", "initial",
];

fn words(subject: &str) -> impl Iterator<Item = String> + '_ {
    subject
        .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '-')
        .map(|w| w.trim_matches('-').to_lowercase())
        .filter(|w| {
            w.chars().count() >= 4
                && w.chars().any(char::is_alphabetic)
                && !STOPWORDS.contains(&w.as_str())
                && !KEYWORDS.iter().any(|(k, _)| k == w)
        })
}

/// The extractive summary of `facts` (chronological).
pub fn summarize_facts(facts: &[CommitFacts]) -> Summary {
    let mut citer = Citer {
        cited: BTreeSet::new(),
        facts,
    };
    let mut lines = Vec::new();

    // Themes: classes, then recurring subject words.
    let mut by_class: BTreeMap<CommitClass, Vec<usize>> = BTreeMap::new();
    for (i, f) in facts.iter().enumerate() {
        by_class.entry(f.class).or_default().push(i);
    }
    let mut classes: Vec<(CommitClass, Vec<usize>)> = by_class.into_iter().collect();
    classes.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let themes: Vec<String> = classes
        .iter()
        .map(|(class, ids)| format!("{} ({})", plural(*class, ids.len()), citer.cite(ids)))
        .collect();
    let mut line = format!("- **Themes:** {}.", themes.join("; "));
    let mut by_word: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        let unique: BTreeSet<String> = words(&f.subject).collect();
        for word in unique {
            by_word.entry(word).or_default().push(i);
        }
    }
    let mut recurring: Vec<(String, Vec<usize>)> = by_word
        .into_iter()
        .filter(|(_, ids)| ids.len() >= 2)
        .collect();
    recurring.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    if !recurring.is_empty() {
        let words: Vec<String> = recurring
            .iter()
            .take(5)
            .map(|(word, ids)| {
                format!("\"{word}\" in {} subjects ({})", ids.len(), citer.cite(ids))
            })
            .collect();
        line.push_str(&format!(" Recurring words: {}.", words.join("; ")));
    }
    lines.push(line);

    // Areas by churn of the commits touching them.
    let mut areas: BTreeMap<&str, AreaTotals> = BTreeMap::new();
    for (i, f) in facts.iter().enumerate() {
        for area in &f.areas {
            let entry = areas.entry(area.as_str()).or_default();
            entry.0 += f.added;
            entry.1 += f.deleted;
            entry.2.push(i);
        }
    }
    let mut areas: Vec<(&str, AreaTotals)> = areas.into_iter().collect();
    areas.sort_by(|a, b| {
        (b.1.0 + b.1.1)
            .cmp(&(a.1.0 + a.1.1))
            .then(b.1.2.len().cmp(&a.1.2.len()))
            .then(a.0.cmp(b.0))
    });
    if !areas.is_empty() {
        let mut ranked: Vec<(usize, String)> = Vec::new();
        for (area, (added, deleted, ids)) in areas.iter().take(3) {
            let mut by_churn = ids.clone();
            by_churn.sort_by(|&a, &b| facts[b].churn().cmp(&facts[a].churn()).then(a.cmp(&b)));
            ranked.push((
                0,
                format!(
                    "`{area}` (+{added} −{deleted} in {} commit{}; {})",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    citer.cite(&by_churn)
                ),
            ));
        }
        let list: Vec<String> = ranked.into_iter().map(|(_, s)| s).collect();
        lines.push(format!("- **Most-changed areas:** {}.", list.join("; ")));
    }

    // Authors by commits.
    let mut authors: BTreeMap<&str, (&str, Vec<usize>)> = BTreeMap::new();
    for (i, f) in facts.iter().enumerate() {
        authors
            .entry(f.author_key.as_str())
            .or_insert((f.author.as_str(), Vec::new()))
            .1
            .push(i);
    }
    let mut authors: Vec<(&str, Vec<usize>)> = authors.into_values().collect();
    authors.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let shown: Vec<String> = authors
        .iter()
        .take(5)
        .map(|(name, ids)| {
            format!(
                "{name} ({} commit{}: {})",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                citer.cite(ids)
            )
        })
        .collect();
    let mut line = format!("- **Authors:** {}", shown.join("; "));
    if authors.len() > 5 {
        line.push_str(&format!("; and {} more", authors.len() - 5));
    }
    line.push('.');
    lines.push(line);

    // Notable commits: the largest, releases, breaking changes, reverts.
    let mut notable: Vec<(usize, String)> = Vec::new();
    let mut largest: Vec<usize> = (0..facts.len())
        .filter(|&i| !facts[i].merge && facts[i].churn() > 0)
        .collect();
    largest.sort_by(|&a, &b| facts[b].churn().cmp(&facts[a].churn()).then(a.cmp(&b)));
    for (rank, &i) in largest.iter().take(2).enumerate() {
        notable.push((
            i,
            format!(
                "{}largest change, +{} −{} in {} file{}",
                if rank == 0 { "" } else { "second " },
                facts[i].added,
                facts[i].deleted,
                facts[i].files,
                if facts[i].files == 1 { "" } else { "s" }
            ),
        ));
    }
    for (i, f) in facts.iter().enumerate() {
        if !f.releases.is_empty() {
            notable.push((i, format!("tagged {}", f.releases.join(", "))));
        }
        if f.breaking {
            notable.push((i, "breaking change".into()));
        }
        if f.class == CommitClass::Revert {
            notable.push((i, "revert".into()));
        }
    }
    notable.sort_by_key(|(i, _)| *i);
    let mut merged: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, why) in notable {
        match merged.last_mut() {
            Some((last, reasons)) if *last == i => reasons.push(why),
            _ => merged.push((i, vec![why])),
        }
    }
    if !merged.is_empty() {
        let items: Vec<String> = merged
            .iter()
            .take(8)
            .map(|(i, reasons)| {
                format!(
                    "{} \"{}\" ({})",
                    citer.cite(&[*i]),
                    facts[*i].subject,
                    reasons.join("; ")
                )
            })
            .collect();
        lines.push(format!("- **Notable commits:** {}.", items.join("; ")));
    }

    let mut text = lines.join("\n");
    text.push('\n');
    Summary {
        text,
        commits: citer.cited.iter().map(|&i| facts[i].id.clone()).collect(),
        usage: None,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn fact(
        n: usize,
        author: &str,
        class: CommitClass,
        subject: &str,
        added: u64,
        areas: &[&str],
    ) -> CommitFacts {
        CommitFacts {
            id: format!("{n}{}", "a".repeat(39)),
            time: 1_700_000_000 + n as i64 * 60,
            date: String::new(),
            author: author.into(),
            author_key: author.to_lowercase(),
            subject: subject.into(),
            class,
            breaking: false,
            merge: false,
            bot: false,
            files: 1,
            added,
            deleted: 0,
            areas: areas.iter().map(|a| a.to_string()).collect(),
            releases: vec![],
            parents: Vec::new(),
        }
    }

    #[test]
    fn every_claim_cites_commits_and_the_text_is_stable() {
        let mut facts = vec![
            fact(
                1,
                "Ada",
                CommitClass::Feature,
                "Add the parser",
                100,
                &["src"],
            ),
            fact(
                2,
                "Bob",
                CommitClass::Fix,
                "Fix parser crash on tabs",
                5,
                &["src", "tests"],
            ),
            fact(
                3,
                "Ada",
                CommitClass::Docs,
                "Document parser options",
                20,
                &["docs"],
            ),
        ];
        facts[2].releases = vec!["v1.0".into()];
        let summary = summarize_facts(&facts);
        assert_eq!(summarize_facts(&facts), summary);
        let expected = "\
- **Themes:** 1 feature (`1aaaaaaaaaaa`); 1 fix (`2aaaaaaaaaaa`); 1 documentation change (`3aaaaaaaaaaa`). Recurring words: \"parser\" in 3 subjects (`1aaaaaaaaaaa`, `2aaaaaaaaaaa`, `3aaaaaaaaaaa`).
- **Most-changed areas:** `src` (+105 −0 in 2 commits; `1aaaaaaaaaaa`, `2aaaaaaaaaaa`); `docs` (+20 −0 in 1 commit; `3aaaaaaaaaaa`); `tests` (+5 −0 in 1 commit; `2aaaaaaaaaaa`).
- **Authors:** Ada (2 commits: `1aaaaaaaaaaa`, `3aaaaaaaaaaa`); Bob (1 commit: `2aaaaaaaaaaa`).
- **Notable commits:** `1aaaaaaaaaaa` \"Add the parser\" (largest change, +100 −0 in 1 file); `3aaaaaaaaaaa` \"Document parser options\" (second largest change, +20 −0 in 1 file; tagged v1.0).
";
        assert_eq!(summary.text, expected);
        for line in summary.text.lines() {
            assert!(line.contains('`'), "a claim without ids: {line}");
        }
        assert_eq!(
            summary.commits,
            facts.iter().map(|f| f.id.clone()).collect::<Vec<_>>()
        );
    }
}
