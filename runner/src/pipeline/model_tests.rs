//! The model's part end to end, against the scripted server that speaks the chat-completions
//! protocol: an overview that holds, and a model that answers garbage, cites nothing or hangs,
//! where the story is still written without its part and the reason recorded.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gitview_crds::v1alpha1::{CriticalSettings, ModelPrice};

use super::{PipelineOptions, Source, run_pipeline};
use crate::analysis_json::AnalysisSummary;
use crate::sink::{DirSink, files};
use crate::summarize::anthropic::AnthropicSummarizer;
use crate::summarize::budget::ModelBudget;
use crate::summarize::chat::{ChatConfig, ChatSummarizer};
use crate::summarize::endpoint::ModelConfig;
use crate::summarize::test_server::{Answer, serve};
use crate::summarize::{NoCache, Summarizer};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2024-03-01T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-03-01T10:00:00Z")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("git prints UTF-8")
}

/// A repository of four commits by Ada; their ids, oldest first.
fn repository() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    git(path, &["init", "-q", "-b", "main"]);
    git(path, &["config", "user.name", "Ada Lovelace"]);
    git(path, &["config", "user.email", "ada@example.com"]);
    for (n, subject) in [
        "Add the parser",
        "Parse numbers",
        "Write the guide",
        "Fix the parser",
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::create_dir_all(path.join("src")).unwrap();
        std::fs::write(path.join(format!("src/part{n}.rs")), format!("// {n}\n")).unwrap();
        git(path, &["add", "."]);
        git(path, &["commit", "-q", "-m", subject]);
    }
    let ids = git(path, &["rev-list", "--reverse", "HEAD"])
        .lines()
        .map(str::to_owned)
        .collect();
    (dir, ids)
}

fn chat(address: &str, timeout: Duration) -> ChatSummarizer {
    let mut config = ChatConfig::new(&format!("{address}/v1"), "test-model");
    config.timeout = timeout;
    config.retry.max_attempts = 1;
    ChatSummarizer::new(config).unwrap()
}

fn completion(content: &str) -> String {
    serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280}
    })
    .to_string()
}

/// Runs the pipeline on `repo` into `out`; returns `analysis.json` and `story.json` as read
/// back.
fn run(
    repo: &Path,
    out: &Path,
    summarizer: &mut dyn Summarizer,
    options: &PipelineOptions,
) -> (AnalysisSummary, serde_json::Value) {
    let git = crate::extract::open(repo).unwrap();
    let source = Source {
        repo: &git,
        location: "fixture".into(),
        started: Instant::now(),
        open_ms: 0,
        earlier: Default::default(),
    };
    run_pipeline(
        &source,
        options,
        summarizer,
        &mut NoCache,
        &mut DirSink::new(out),
    )
    .unwrap();
    let summary = serde_json::from_slice(&std::fs::read(out.join(files::ANALYSIS)).unwrap())
        .expect("analysis.json reads back");
    let story = serde_json::from_slice(&std::fs::read(out.join(files::STORY_JSON)).unwrap())
        .expect("story.json is JSON");
    (summary, story)
}

fn options(budget: ModelBudget) -> PipelineOptions {
    PipelineOptions {
        budget: Some(budget),
        threads: 1,
        ..PipelineOptions::default()
    }
}

fn section_ids(story: &serde_json::Value) -> Vec<String> {
    story["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_overview_comes_first_checked_with_its_evidence_and_cost() {
    let (repo, ids) = repository();
    let answer = format!(
        "Ada Lovelace built a parser (`{}`). Grace Hopper fixed the parser (`{}`). \
         Nothing else is known.",
        &ids[0][..12],
        &ids[3][..12],
    );
    // Minimal: the overview is the only call.
    let (address, server) = serve([Answer::Reply("200 OK", "", completion(&answer))]);
    let out = tempfile::tempdir().unwrap();
    let mut options = options(ModelBudget::Minimal);
    options.prices = vec![ModelPrice {
        model: "test-model".into(),
        input_per_million_tokens: "3".into(),
        output_per_million_tokens: "15".into(),
        currency: "USD".into(),
    }];
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut chat(&address, Duration::from_secs(10)),
        &options,
    );
    let received = server.join().unwrap();
    assert_eq!(received.len(), 1);
    let request: serde_json::Value = serde_json::from_str(&received[0].1).unwrap();
    let user = request["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("Commits: 4 from") && user.contains("## In brief"),
        "{user}"
    );

    let ids_of = section_ids(&story);
    assert_eq!(ids_of[0], "overview");
    assert!(ids_of.contains(&"milestones".to_owned()), "{ids_of:?}");
    let overview = &story["sections"][0];
    assert!(
        overview["heading"]
            .as_str()
            .unwrap()
            .contains("written by the model test-model"),
        "{overview}"
    );
    // The true sentence stays with its commit; the invented one and the uncited one are gone.
    let claims = overview["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(
        claims[0]["evidence"]["commits"],
        serde_json::json!([ids[0]])
    );
    let markdown = std::fs::read_to_string(out.path().join(files::STORY)).unwrap();
    assert!(
        markdown.contains("Ada Lovelace built a parser"),
        "{markdown}"
    );
    assert!(!markdown.contains("Grace Hopper"), "{markdown}");

    let model = summary.stages.summarize.model.expect("a model's metrics");
    assert_eq!(model.budget, "minimal");
    assert_eq!(model.planned, ["overview"]);
    assert_eq!(model.calls, 1);
    assert_eq!((model.input_tokens, model.output_tokens), (1200, 80));
    // 1,200 × 3 / 1e6 + 80 × 15 / 1e6.
    assert_eq!(model.cost.estimated, Some(0.0048));
    assert_eq!(model.cost.price.unwrap().model, "test-model");
    assert!(model.omitted.is_empty(), "{:?}", model.omitted);
    let checked = model.overview_checked.unwrap();
    assert_eq!((checked.passed, checked.failed), (2, 1));
}

#[test]
fn a_garbage_answer_leaves_the_overview_out_with_the_reason() {
    let (repo, _) = repository();
    let (address, server) = serve([Answer::Reply(
        "200 OK",
        "",
        "<html>upstream says hello</html>".into(),
    )]);
    let out = tempfile::tempdir().unwrap();
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut chat(&address, Duration::from_secs(10)),
        &options(ModelBudget::Minimal),
    );
    server.join().unwrap();
    assert!(!section_ids(&story).contains(&"overview".to_owned()));
    assert!(out.path().join(files::STORY).exists());
    let model = summary.stages.summarize.model.unwrap();
    assert_eq!(model.omitted.len(), 1);
    assert_eq!(model.omitted[0].part, "overview");
    assert!(
        model.omitted[0].reason.contains("not understood"),
        "{:?}",
        model.omitted
    );
    assert_eq!(model.calls, 1);
    // No price table: no number, and why.
    assert_eq!(model.cost.estimated, None);
    assert!(model.cost.reason.unwrap().contains("no price table"));
}

#[test]
fn an_answer_that_cites_nothing_is_left_out_with_the_reason() {
    let (repo, _) = repository();
    let (address, server) = serve([
        // Full: phase 1 (one chunk), then the overview.
        Answer::Reply("200 OK", "", completion("- A steady year of parser work.")),
        Answer::Reply("200 OK", "", completion("The project grew steadily.")),
    ]);
    let out = tempfile::tempdir().unwrap();
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut chat(&address, Duration::from_secs(10)),
        &options(ModelBudget::Full),
    );
    assert_eq!(server.join().unwrap().len(), 2);
    assert!(!section_ids(&story).contains(&"overview".to_owned()));
    let model = summary.stages.summarize.model.clone().unwrap();
    let omitted: Vec<(&str, &str)> = model
        .omitted
        .iter()
        .map(|o| (o.part.as_str(), o.reason.as_str()))
        .collect();
    assert_eq!(omitted.len(), 2, "{omitted:?}");
    assert_eq!(omitted[0].0, "phase-1");
    assert!(omitted[0].1.contains("cites no commit"), "{omitted:?}");
    assert_eq!(omitted[1].0, "overview");
    assert!(omitted[1].1.contains("cites no commit"), "{omitted:?}");
    // The phase is told without the model: the extractive summary, which cites its commits.
    let phases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join(files::PHASES)).unwrap()).unwrap();
    assert!(
        !phases[0]["summary"]
            .as_str()
            .unwrap()
            .contains("steady year")
    );
    assert!(!phases[0]["citedCommits"].as_array().unwrap().is_empty());
    assert_eq!(model.calls, 2);
    assert_eq!(model.input_tokens, 2400);
    // The lookups counted are the model's: its one chunk, not the extractive retelling; the
    // calls are those lookups' misses, the combinations and the overview.
    let metrics = &summary.stages.summarize;
    assert_eq!((metrics.cache_misses, metrics.combinations), (1, 0));
    assert_eq!(model.calls, metrics.cache_misses + metrics.combinations + 1);
}

#[test]
fn a_model_that_hangs_is_left_out_and_not_called_again() {
    let (repo, _) = repository();
    let (address, server) = serve([Answer::Stall]);
    let out = tempfile::tempdir().unwrap();
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut chat(&address, Duration::from_millis(300)),
        &options(ModelBudget::Full),
    );
    assert_eq!(server.join().unwrap().len(), 1, "one call, then no more");
    assert!(!section_ids(&story).contains(&"overview".to_owned()));
    let model = summary.stages.summarize.model.unwrap();
    assert_eq!(model.omitted.len(), 2, "{:?}", model.omitted);
    assert_eq!(model.omitted[0].part, "phase-1");
    assert!(
        model.omitted[0].reason.contains("the call failed"),
        "{:?}",
        model.omitted
    );
    assert_eq!(model.omitted[1].part, "overview");
    assert!(
        model.omitted[1].reason.contains("not attempted"),
        "{:?}",
        model.omitted
    );
    assert_eq!(model.calls, 1);
}

#[test]
fn budget_none_calls_nothing_and_critical_mode_measures_the_goals() {
    let (repo, ids) = repository();
    // Nothing listens behind this address: any call would fail the test's expectations.
    let out = tempfile::tempdir().unwrap();
    let mut options = options(ModelBudget::None);
    options.critical = Some(CriticalSettings {
        goals: vec!["A robust parser".into(), "Kubernetes deployment".into()],
        directives: None,
    });
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut chat("http://127.0.0.1:9", Duration::from_millis(300)),
        &options,
    );
    let model = summary.stages.summarize.model.unwrap();
    assert_eq!((model.calls, model.planned.len()), (0, 0));
    assert!(model.omitted.is_empty());
    let sections = section_ids(&story);
    assert_eq!(sections[1], "goals", "{sections:?}");
    let goals = &story["sections"][1]["claims"];
    let parser = goals[0]["text"].as_str().unwrap();
    // `parse` matches `parser` (a prefix of four letters or more): three commits.
    assert!(parser.contains("3 commits speak to it"), "{parser}");
    assert!(
        parser.contains(&ids[3][..12]) && parser.contains(&ids[0][..12]),
        "{parser}"
    );
    assert_eq!(
        goals[1]["text"],
        "**Kubernetes deployment**: no commit speaks to it — a gap."
    );
}

#[test]
fn an_anthropic_answer_that_is_no_message_leaves_the_overview_out() {
    let (repo, _) = repository();
    // A 200 whose body is an error object, not a message.
    let (address, server) = serve([Answer::Reply(
        "200 OK",
        "",
        serde_json::json!({"type": "error", "content": [],
                           "error": {"type": "api_error", "message": "oops"}})
        .to_string(),
    )]);
    let out = tempfile::tempdir().unwrap();
    let mut config = ModelConfig::new(&address, "claude-test");
    config.retry.max_attempts = 1;
    let (summary, story) = run(
        repo.path(),
        out.path(),
        &mut AnthropicSummarizer::new(config).unwrap(),
        &options(ModelBudget::Minimal),
    );
    let received = server.join().unwrap();
    assert!(
        received[0].0.starts_with("POST /v1/messages "),
        "{}",
        received[0].0
    );
    assert!(!section_ids(&story).contains(&"overview".to_owned()));
    let model = summary.stages.summarize.model.unwrap();
    assert_eq!(model.omitted[0].part, "overview");
    assert!(
        model.omitted[0].reason.contains("not a message"),
        "{:?}",
        model.omitted
    );
}
