//! The prompts every model client sends, and what is made of a model's answer: the same text
//! whichever API carries it, so two backends' summaries differ by the model only.

use super::{CombineInput, Summary, TokenUsage};
use crate::enrich::CommitFacts;

/// The system prompt. Changing it must change the prompt version.
pub const SYSTEM_PROMPT: &str = "You summarize one part of a git repository's history for a \
reader who wants to know what happened. You get one line per commit: short id, date, author, \
class, lines added and deleted, top-level areas, subject. Write 3 to 6 short Markdown bullet \
points: the main themes, the areas that changed most, who did the work, notable commits. Only \
state what the lines show. After every claim, cite the short commit ids it rests on in \
backticks, like (`0123456789ab`).";

/// The system prompt that merges part summaries. Changing it must change the prompt version.
pub const COMBINE_PROMPT: &str = "You merge summaries of consecutive parts of one phase of a git \
repository's history into one summary of the phase. Write 3 to 6 short Markdown bullet points: \
the main themes, the areas that changed most, who did the work, notable commits. Only state \
what the part summaries say, and keep the commit ids they cite in backticks after every claim.";

/// The user message that asks for a combination: the phase, then each part's summary.
pub(super) fn combine_message(input: &CombineInput<'_>) -> String {
    let mut user = format!(
        "Phase {}: {}\n",
        input.phase.number,
        crate::chunk::header_name(input.phase)
    );
    for (i, part) in input.parts.iter().enumerate() {
        user.push_str(&format!("\nPart {}:\n{}\n", i + 1, part.text.trim_end()));
    }
    user
}

/// A model's answer, with the commits it cites (the model is asked to cite short ids; only
/// ids of the given commits count).
pub(super) fn cited(text: String, usage: TokenUsage, facts: &[CommitFacts]) -> Summary {
    let commits = facts
        .iter()
        .filter(|f| text.contains(f.short_id()))
        .map(|f| f.id.clone())
        .collect();
    Summary {
        text,
        commits,
        usage: Some(usage),
    }
}
