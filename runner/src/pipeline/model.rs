//! A model's part in a run: which parts the budget gives it ([`ModelRun::new`]), every call
//! counted ([`Counting`]), a failing call turned into an omission rather than a failed run
//! ([`ModelRun::answer`]), and the executive overview written over the deterministic story and
//! checked against the whole history ([`ModelRun::overview`]).
//!
//! After a call fails (an answer that is no answer, an outage, a timeout), no further call is
//! made: every later part the model was to write is told without it, each recorded with the
//! reason. A refused key or endpoint, or a request the endpoint calls wrong (an unknown model),
//! still stops the run: that needs fixing, not hiding.

use gitview_core::story::{Claim, Evidence, StoryDocument, StorySection, neutralize_markdown};
use gitview_history::History;
use gitview_history::check::{self, Checked, Scope, Verdict};

use super::PipelineError;
use crate::analysis_json::{ClaimCheck, ModelMetrics, Omission};
use crate::chunk;
use crate::enrich::CommitFacts;
use crate::summarize::budget::{self, ModelBudget, ModelPlan};
use crate::summarize::{
    CombineInput, OVERVIEW_PROMPT, SummarizeError, Summarizer, SummarizerInfo, Summary,
    SummaryInput, TokenUsage, cost,
};

/// The part name of the overview in `analysis.json`.
pub const OVERVIEW: &str = "overview";

/// The part name of a phase.
pub fn phase_part(number: usize) -> String {
    format!("phase-{number}")
}

/// A summarizer whose calls are counted.
pub(super) struct Counting<'a> {
    pub inner: &'a mut dyn Summarizer,
    pub calls: u64,
}

impl Summarizer for Counting<'_> {
    fn info(&self) -> SummarizerInfo {
        self.inner.info()
    }
    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        self.calls += 1;
        self.inner.summarize(input)
    }
    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        self.calls += 1;
        self.inner.combine(input)
    }
    fn combines_any_number(&self) -> bool {
        self.inner.combines_any_number()
    }
    fn prose(
        &mut self,
        system: &str,
        user: &str,
    ) -> Option<Result<(String, TokenUsage), SummarizeError>> {
        let answer = self.inner.prose(system, user);
        self.calls += u64::from(answer.is_some());
        answer
    }
}

/// The model's part in a run under way.
#[derive(Debug)]
pub(super) struct ModelRun {
    pub plan: ModelPlan,
    /// Why no further call is made: the first failed call.
    broken: Option<String>,
    pub metrics: ModelMetrics,
}

impl ModelRun {
    /// The model's part for `info` (none for the extractive summarizer) under `budget`
    /// (`Balanced` when unset) over phases of `commits[i]` commits each.
    pub fn new(
        info: &SummarizerInfo,
        budget: Option<ModelBudget>,
        commits: &[u64],
    ) -> Option<Self> {
        if info.kind == crate::summarize::EXTRACTIVE_KIND {
            return None;
        }
        let budget = budget.unwrap_or_default();
        let plan = budget::plan(budget, commits);
        let mut planned: Vec<String> = plan.phases.iter().map(|&n| phase_part(n)).collect();
        if plan.overview {
            planned.insert(0, OVERVIEW.to_owned());
        }
        Some(Self {
            plan,
            broken: None,
            metrics: ModelMetrics {
                model: info.model.clone().unwrap_or_default(),
                budget: budget::name(budget).to_owned(),
                planned,
                ..ModelMetrics::default()
            },
        })
    }

    /// Whether the model writes phase `number`: planned, and no call has failed (else the
    /// omission is recorded).
    pub fn writes_phase(&mut self, number: usize) -> bool {
        self.plan.phases.contains(&number) && self.callable(&phase_part(number))
    }

    fn callable(&mut self, part: &str) -> bool {
        match self.broken.clone() {
            Some(why) => {
                self.omit(
                    part,
                    format!("not attempted: an earlier call failed ({why})"),
                );
                false
            }
            None => true,
        }
    }

    /// Records that `part` is told without the model, and why.
    pub fn omit(&mut self, part: &str, reason: String) {
        tracing::warn!(part, reason = %reason, "the model's part is left out");
        self.metrics.omitted.push(Omission {
            part: part.to_owned(),
            reason,
        });
    }

    /// The value of a call for `part`; a failure that [leaves the model
    /// out](SummarizeError::leaves_the_model_out) is recorded (and no further call made), any
    /// other stops the run.
    pub fn answer<T>(
        &mut self,
        part: &str,
        result: Result<T, PipelineError>,
    ) -> Result<Option<T>, PipelineError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(PipelineError::Summarize(err)) if err.leaves_the_model_out() => {
                let why = err.to_string();
                self.omit(part, format!("the call failed: {why}"));
                self.broken = Some(why);
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Adds a call's tokens.
    pub fn used(&mut self, usage: TokenUsage) {
        self.metrics.input_tokens += usage.prompt_tokens;
        self.metrics.output_tokens += usage.completion_tokens;
    }

    /// The overview, if the budget gives it a call and the model writes one that holds: the
    /// model gets the facts and `document` (the story told without it) and its answer is
    /// checked against the whole history; a sentence that fails or cites no commit is dropped.
    pub fn overview(
        &mut self,
        summarizer: &mut Counting<'_>,
        input: &OverviewInput<'_>,
    ) -> Result<Option<StorySection>, PipelineError> {
        if !self.plan.overview || !self.callable(OVERVIEW) {
            return Ok(None);
        }
        let user = overview_message(input);
        let answer = match summarizer.prose(OVERVIEW_PROMPT, &user) {
            Some(answer) => answer,
            None => {
                self.omit(OVERVIEW, "this summarizer writes no prose".into());
                return Ok(None);
            }
        };
        let Some((text, usage)) = self.answer(OVERVIEW, answer.map_err(PipelineError::from))?
        else {
            return Ok(None);
        };
        self.used(usage);
        let releases: Vec<String> = input
            .facts
            .iter()
            .flat_map(|f| f.releases.iter().cloned())
            .collect();
        let checked = check::check(
            &text,
            input.history,
            &Scope::whole(input.history, &releases),
        );
        let mut figure = ClaimCheck::default();
        figure.add(&checked);
        self.metrics.overview_checked = Some(figure);
        match overview_section(&checked, &self.metrics.model) {
            Ok(section) => Ok(Some(section)),
            Err(reason) => {
                self.omit(OVERVIEW, reason);
                Ok(None)
            }
        }
    }

    /// The metrics, with the estimated cost from `prices`.
    pub fn finish(mut self, prices: &[gitview_crds::v1alpha1::ModelPrice]) -> ModelMetrics {
        let usage = TokenUsage {
            prompt_tokens: self.metrics.input_tokens,
            completion_tokens: self.metrics.output_tokens,
            total_tokens: self.metrics.input_tokens + self.metrics.output_tokens,
        };
        self.metrics.cost = cost::estimate(&self.metrics.model, usage, prices);
        self.metrics
    }
}

/// What the overview is written from.
pub(super) struct OverviewInput<'a> {
    pub title: &'a str,
    pub range: &'a str,
    /// Chronological.
    pub facts: &'a [CommitFacts],
    pub history: &'a History,
    /// The story told without a model (its phase sections left out of the message).
    pub document: &'a StoryDocument,
    /// Tokens of the story in the message (sections past it are left out).
    pub budget: usize,
}

/// The user message of the overview: hard facts, then the deterministic story, section by
/// section while they fit the budget.
pub(super) fn overview_message(input: &OverviewInput<'_>) -> String {
    let facts = input.facts;
    let mut message = format!("Repository: {}\nRange: {}\n", input.title, input.range);
    if let (Some(first), Some(last)) = (facts.first(), facts.last()) {
        let authors: std::collections::BTreeSet<&str> =
            facts.iter().map(|f| f.author_key.as_str()).collect();
        let releases: Vec<&str> = facts
            .iter()
            .flat_map(|f| f.releases.iter().map(String::as_str))
            .collect();
        message.push_str(&format!(
            "Commits: {} from {} (`{}`) to {} (`{}`), by {} authors; nothing after the last commit is known.\n",
            facts.len(),
            &first.date,
            first.short_id(),
            &last.date,
            last.short_id(),
            authors.len(),
        ));
        if !releases.is_empty() {
            message.push_str(&format!("Releases: {}\n", releases.join(", ")));
        }
    }
    message.push_str("\nThe story told from the commits (every line checked):\n");
    let mut used = chunk::count_tokens(&message);
    for section in &input.document.sections {
        if section.id.starts_with("phase-") {
            continue;
        }
        let mut text = format!("\n## {}\n", section.heading);
        for claim in &section.claims {
            text.push_str("- ");
            text.push_str(claim.text.trim());
            text.push('\n');
        }
        let tokens = chunk::count_tokens(&text);
        if used + tokens > input.budget {
            break;
        }
        used += tokens;
        message.push_str(&text);
    }
    message
}

/// The overview section of a checked answer: every sentence that passed and cites a commit,
/// with those commits as its evidence; an error saying why when none is left.
pub(super) fn overview_section(checked: &Checked, model: &str) -> Result<StorySection, String> {
    let claims: Vec<Claim> = checked
        .sentences
        .iter()
        .filter(|s| s.verdict == Verdict::Pass && !s.cited.is_empty())
        .map(|s| {
            let mut figures = serde_json::Map::new();
            figures.insert("writtenBy".into(), model.into());
            figures.insert("checkedAgainst".into(), "the whole history".into());
            if !s.figures.is_empty() {
                figures.insert(
                    "checkedNumbers".into(),
                    serde_json::to_value(&s.figures).expect("figures serialize"),
                );
            }
            Claim {
                text: neutralize_markdown(s.text.trim_start_matches(['-', '*', ' '])),
                evidence: Evidence {
                    commits: s.cited.clone(),
                    figures,
                },
            }
        })
        .collect();
    if claims.is_empty() {
        let uncited = checked
            .sentences
            .iter()
            .filter(|s| s.verdict == Verdict::Pass)
            .count();
        return Err(if checked.sentences.is_empty() {
            "the answer holds no sentence".into()
        } else if checked.failed == 0 {
            format!(
                "the answer cites no commit ({uncited} sentence(s), none with a commit id of the history)"
            )
        } else {
            format!(
                "no sentence of the answer held against the commits: {} failed the claim check, {uncited} cited no commit",
                checked.failed
            )
        });
    }
    Ok(StorySection {
        id: OVERVIEW.into(),
        heading: format!(
            "Overview (written by the model {model}; every sentence checked against the commits)"
        ),
        list: false,
        claims,
    })
}

/// Why a model's phase summary is left out, if it is: no sentence passed the check, or none
/// that passed cites a commit of the phase.
pub(super) fn phase_summary_fails(checked: &Checked) -> Option<String> {
    if checked.sentences.is_empty() {
        return Some("the answer holds no sentence".into());
    }
    if checked.passed == 0 {
        return Some(format!(
            "no sentence of the answer held against the commits ({} failed the claim check)",
            checked.failed
        ));
    }
    let cites = checked
        .sentences
        .iter()
        .any(|s| s.verdict == Verdict::Pass && !s.cited.is_empty());
    (!cites).then(|| "the answer cites no commit of the phase".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        gitview_history::testing::Builder::new()
            .hex_ids()
            .commit("Ada", 1, "Add the parser", &[("src/parser.rs", '+', 10, 0)])
            .commit("Bob", 2, "Write docs", &[("docs/guide.md", '+', 5, 0)])
            .build()
    }

    fn short(n: usize) -> String {
        gitview_history::testing::hex_id(n)[..12].to_owned()
    }

    #[test]
    fn the_overview_keeps_the_sentences_that_hold_and_cite() {
        let history = history();
        let text = format!(
            "Ada started the parser (`{}`). Mallory wrote the docs (`{}`). The project is young. \
             The history has 2 commits (`{}`).",
            short(1),
            short(2),
            short(2)
        );
        let checked = check::check(&text, &history, &Scope::whole(&history, &[]));
        let section = overview_section(&checked, "m1").unwrap();
        assert_eq!(section.id, "overview");
        assert!(section.heading.contains("m1") && section.heading.contains("checked"));
        let texts: Vec<&str> = section.claims.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                format!("Ada started the parser (`{}`).", short(1)),
                format!("The history has 2 commits (`{}`).", short(2))
            ]
        );
        assert_eq!(
            section.claims[1].evidence.figures["checkedNumbers"],
            serde_json::json!([{"quantity": "commits", "stated": 2}])
        );
        assert_eq!(
            section.claims[0].evidence.commits,
            [gitview_history::testing::hex_id(1)]
        );
    }

    #[test]
    fn an_overview_without_citations_or_truth_is_left_out_with_the_reason() {
        let history = history();
        let whole = Scope::whole(&history, &[]);
        let none = check::check("The project grew steadily.", &history, &whole);
        assert!(
            overview_section(&none, "m")
                .unwrap_err()
                .contains("cites no commit")
        );
        let wrong = check::check("Zed made it all (`deadbeef1234`).", &history, &whole);
        assert!(
            overview_section(&wrong, "m")
                .unwrap_err()
                .contains("held against"),
        );
        let empty = check::check("", &history, &whole);
        assert!(
            overview_section(&empty, "m")
                .unwrap_err()
                .contains("no sentence")
        );
        assert!(
            phase_summary_fails(&none)
                .unwrap()
                .contains("cites no commit")
        );
        assert!(phase_summary_fails(&wrong).is_some());
        let fine = check::check(&format!("Docs arrived (`{}`).", short(2)), &history, &whole);
        assert_eq!(phase_summary_fails(&fine), None);
    }

    #[test]
    fn the_plan_follows_the_budget_and_a_failed_call_stops_the_rest() {
        let info = SummarizerInfo {
            kind: "chatCompletions".into(),
            model: Some("m".into()),
            version: "1".into(),
        };
        let extractive = SummarizerInfo {
            kind: crate::summarize::EXTRACTIVE_KIND.into(),
            model: None,
            version: "1".into(),
        };
        assert!(ModelRun::new(&extractive, Some(ModelBudget::Full), &[3]).is_none());
        let mut run = ModelRun::new(&info, None, &[3, 9]).unwrap();
        assert_eq!(run.metrics.budget, "balanced");
        assert_eq!(run.metrics.planned, ["overview", "phase-1", "phase-2"]);
        assert!(run.writes_phase(1));
        let failed: Result<(), PipelineError> =
            Err(PipelineError::Summarize(SummarizeError::Response {
                api: "chat-completions",
                message: "garbage".into(),
            }));
        assert_eq!(run.answer("phase-1", failed).unwrap(), None);
        assert!(!run.writes_phase(2));
        let parts: Vec<&str> = run
            .metrics
            .omitted
            .iter()
            .map(|o| o.part.as_str())
            .collect();
        assert_eq!(parts, ["phase-1", "phase-2"]);
        assert!(run.metrics.omitted[1].reason.contains("not attempted"));
        // A refused key stops the run.
        let refused: Result<(), PipelineError> =
            Err(PipelineError::Summarize(SummarizeError::KeyRefused {
                api: "chat-completions",
                status: 401,
                message: "no".into(),
            }));
        assert!(run.answer("overview", refused).is_err());
        // So does a request the endpoint calls wrong (a model that does not exist).
        let unknown_model: Result<(), PipelineError> =
            Err(PipelineError::Summarize(SummarizeError::Status {
                api: "chat-completions",
                status: 404,
                attempts: 1,
                body: "model not found".into(),
            }));
        assert!(run.answer("overview", unknown_model).is_err());
        let overloaded: Result<(), PipelineError> =
            Err(PipelineError::Summarize(SummarizeError::Status {
                api: "Anthropic Messages",
                status: 529,
                attempts: 5,
                body: "overloaded".into(),
            }));
        assert_eq!(run.answer("overview", overloaded).unwrap(), None);
    }
}
