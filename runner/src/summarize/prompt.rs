//! The prompts every model client sends, and what is made of a model's answer: the same text
//! whichever API carries it, so two backends' summaries differ by the model only.

use super::endpoint::ModelConfig;
use super::{
    CombineInput, SummarizeError, Summarizer, SummarizerInfo, Summary, SummaryInput, TokenUsage,
};
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

/// The system prompt of the executive overview, written over the facts and the deterministic
/// story. Changing it must change the prompt version.
pub const OVERVIEW_PROMPT: &str = "You write the executive overview of a git repository's \
history for a reader who has two minutes. You get hard facts and the story told from the \
commits without a model; every line of it rests on the commits whose short ids it cites in \
backticks. Write 4 to 8 sentences of plain prose: what the project is, the main lines of work, \
who carries it, what changed most, what is at risk. Rules: state only what the facts and the \
story say; nothing after the last commit; no technology, person, number, date or version that \
is not in them; end every sentence with the short ids of the commits it rests on, in \
backticks, like (`0123456789ab`). A sentence that cites no commit, or that the commits do not \
bear out, is removed.";

/// What critical mode adds to every system prompt: the goals the history is measured against,
/// and the reader's directives.
pub fn critical_block(goals: &[String], directives: Option<&str>) -> String {
    let mut block = String::from(
        "\n\nMeasure the history against the goals below. Say where the commits fall short of \
them: gaps, debt, risks, what is missing or late. This is an assessment, not a celebration; \
a goal no commit speaks to is a gap to name.\nGoals:\n",
    );
    for goal in goals {
        block.push_str("- ");
        block.push_str(goal.trim());
        block.push('\n');
    }
    if let Some(directives) = directives.map(str::trim).filter(|d| !d.is_empty()) {
        block.push_str("Directives: ");
        block.push_str(directives);
        block.push('\n');
    }
    block
}

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

/// A model API client: one completion (a system prompt and a user message in, the answer and
/// its usage out). Every such client is a [`Summarizer`] by the same prompts.
pub trait ModelClient {
    /// [`SummarizerInfo::kind`].
    const KIND: &'static str;
    /// The client's own version (request shape, parsing), part of [`SummarizerInfo::version`].
    const VERSION: &'static str;

    fn config(&self) -> &ModelConfig;

    /// Sends one completion with retries; returns the answer's text and the usage.
    fn complete(
        &mut self,
        system: &str,
        user: &str,
    ) -> Result<(String, TokenUsage), SummarizeError>;
}

impl<T: ModelClient> Summarizer for T {
    fn info(&self) -> SummarizerInfo {
        SummarizerInfo {
            kind: T::KIND.into(),
            model: Some(self.config().model.clone()),
            version: self.config().version(T::VERSION),
        }
    }

    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        let system = self.config().system(SYSTEM_PROMPT);
        let (text, usage) = self.complete(&system, &input.chunk.text)?;
        Ok(cited(text, usage, input.facts))
    }

    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        let system = self.config().system(COMBINE_PROMPT);
        let (text, usage) = self.complete(&system, &combine_message(input))?;
        Ok(cited(text, usage, input.facts))
    }

    fn prose(
        &mut self,
        system: &str,
        user: &str,
    ) -> Option<Result<(String, TokenUsage), SummarizeError>> {
        let system = self.config().system(system);
        Some(self.complete(&system, user))
    }
}
