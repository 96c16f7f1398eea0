//! The stages after extract on a fixed fixture repository built with real git: golden files
//! for enrich, chunk and story (`UPDATE_GOLDEN=1` regenerates them), the summary cache across
//! runs, scrubbing, tags, and the sink protocol.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use common::{EPOCH, Repo, assert_matches_git, git_numstat};
use gitview_runner::analysis_json::{AnalysisSummary, RunnerInfo};
use gitview_runner::chunk;
use gitview_runner::enrich::{self, CommitFacts};
use gitview_runner::extract::{self, ExtractOptions, Extractor};
use gitview_runner::pipeline::{PipelineOptions, Source, run_pipeline};
use gitview_runner::record::CommitRecord;
use gitview_runner::sink::{DirSink, EnrichedCommit, Progress, RunInfo, Sink, SinkError, Stage};
use gitview_runner::story::PhaseRecord;
use gitview_runner::summarize::budget::ModelBudget;
use gitview_runner::summarize::{
    CombineInput, Extractive, NoCache, SummarizeError, Summarizer, SummarizerInfo, Summary,
    SummaryInput,
};
use gitview_runner::tags::{self, TagIndex};

const DAY: i64 = 86_400;
const BOB: &str = "--author=Bob Builder <bob@example.org>";
const BOT: &str = "--author=dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>";

/// A fake AWS key id, assembled so this file does not trip secret scanners.
fn fake_key() -> String {
    ["AKIA", "IOSFODNN7EXAMPLE"].concat()
}

fn lines(n: usize, word: &str) -> String {
    (0..n).map(|i| format!("{word} {i}\n")).collect()
}

fn commit_as(repo: &Repo, message: &str, time: i64, author: &str) -> String {
    repo.git(&["add", "-A"]);
    repo.commit_staged_at(message, time, &[author])
}

/// The fixture's manifest with `dependencies` (lines of its `[dependencies]` table).
fn cargo_toml(dependencies: &[&str]) -> String {
    format!(
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[dependencies]\n{}\n",
        dependencies.join("\n")
    )
}

/// Thirteen commits over seven months: three authors (one a bot), conventional and free-form
/// subjects, references, a merge, a breaking change, a revert, a secret and an email in a
/// message, a manifest whose dependencies come (`serde`, `logos`, `nom`, `clap`) and go (`logos`,
/// with the revert), lightweight and annotated release tags, a pre-release and a tag of a tree.
fn fixture() -> Repo {
    let repo = Repo::new();
    let t = EPOCH;
    repo.write("README.md", "# demo\n");
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_at("Initial commit", t + DAY);
    repo.write("src/parser.rs", lines(40, "parse"));
    repo.commit_at("feat(parser): add a parser (#1)", t + 3 * DAY);
    repo.write("src/parser.rs", lines(42, "parse"));
    commit_as(
        &repo,
        "fix: parser crash on empty input\n\nFixes #2, see PROJ-17.\n",
        t + 10 * DAY,
        BOB,
    );
    repo.git(&["tag", "v0.1.0"]);
    repo.write("docs/guide.md", lines(12, "guide"));
    repo.commit_at("Document the parser", t + 40 * DAY);
    repo.write("Cargo.toml", cargo_toml(&["serde = \"1.0.2\""]));
    commit_as(&repo, "Bump serde from 1.0.1 to 1.0.2", t + 41 * DAY, BOT);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.write("src/lexer.rs", lines(25, "lex"));
    repo.write(
        "Cargo.toml",
        cargo_toml(&["logos = \"0.14\"", "serde = \"1.0.2\""]),
    );
    commit_as(
        &repo,
        "Add a lexer\n\nSee merge request group/demo!4",
        t + 50 * DAY,
        BOB,
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.write("tests/parser.rs", lines(8, "test"));
    repo.commit_at("test: parser round trips", t + 51 * DAY);
    repo.git_at(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'topic' into main",
        "topic",
    ]);
    repo.git(&["tag", "-a", "v0.2.0", "-m", "Release 0.2.0"]);
    repo.remove("src/parser.rs");
    repo.write("src/parser/mod.rs", lines(20, "parse"));
    repo.write("src/parser/expr.rs", lines(300, "expr"));
    repo.write(
        "Cargo.toml",
        cargo_toml(&["logos = \"0.14\"", "nom = \"7\"", "serde = \"1.0.2\""]),
    );
    repo.commit_at(
        "refactor(parser)!: split the parser into modules\n\nBREAKING CHANGE: parser::parse moved\n",
        t + 90 * DAY,
    );
    repo.write("deploy/config.yml", "region: eu\n");
    repo.commit_at(
        &format!(
            "chore: rotate the deploy key\n\nThe old key {} leaked; ask carol@example.net.\n",
            fake_key()
        ),
        t + 100 * DAY,
    );
    repo.git(&["tag", "v0.3.0-rc.1"]);
    repo.remove("src/lexer.rs");
    repo.write(
        "Cargo.toml",
        cargo_toml(&["nom = \"7\"", "serde = \"1.0.2\""]),
    );
    repo.commit_at("Revert \"Add a lexer\"", t + 120 * DAY);
    repo.git(&["tag", "v1.0.0"]);
    repo.git(&["tag", "tree-snapshot", "HEAD^{tree}"]);
    repo.write("src/cli.rs", lines(60, "cli"));
    repo.write(
        "Cargo.toml",
        cargo_toml(&["clap = \"4\"", "nom = \"7\"", "serde = \"1.0.2\""]),
    );
    commit_as(&repo, "Add a CLI for the parser", t + 200 * DAY, BOB);
    repo.write("README.md", "# demo\n\nParses things.\n");
    repo.commit_at("Update README", t + 201 * DAY);
    repo
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path:?} is missing: run the tests with UPDATE_GOLDEN=1"));
    assert!(
        actual == expected,
        "{name} differs from {path:?} (UPDATE_GOLDEN=1 regenerates it)\n--- actual ---\n{actual}"
    );
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
        .arg("analyze")
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run gitview-runner")
}

fn analyze_ok(repo: &Repo, out: &Path, extra: &[&str]) -> AnalysisSummary {
    let mut args = vec![repo.path.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = analyze(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap()
}

fn read_enriched(out: &Path) -> Vec<EnrichedCommit> {
    std::fs::read_to_string(out.join("commits.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an enriched commit"))
        .collect()
}

/// The fixture's records in chronological order, with their facts.
fn facts_of(repo: &Repo) -> Vec<CommitFacts> {
    let git = extract::open(&repo.path).unwrap();
    let plan = extract::plan(&git, None, "HEAD").unwrap();
    let index = TagIndex::new(&tags::read_tags(&git).unwrap());
    let mut extractor = Extractor::new(&git, ExtractOptions::default()).unwrap();
    let mut facts: Vec<CommitFacts> = plan
        .commits
        .iter()
        .map(|&id| {
            let record = extractor.commit(id).unwrap();
            CommitFacts::new(&record, &enrich::enrich(&record, index.of(&record.id)))
        })
        .collect();
    facts.reverse();
    facts
}

#[test]
fn enrichment_matches_the_golden_file() {
    let repo = fixture();
    let out = repo.sibling("out");
    analyze_ok(&repo, &out, &[]);
    let commits = read_enriched(&out);
    // The enriched file still carries git's exact numstat.
    let records: Vec<CommitRecord> = commits.iter().map(|c| c.record.clone()).collect();
    assert_matches_git(&records, &git_numstat(&repo, &repo.path, &[]));
    let mut text = String::new();
    for commit in &commits {
        // Each names the rules that made it: today's. Left out of the golden file, which
        // would otherwise change with any edit to the rules' code.
        let mut enrichment = serde_json::to_value(&commit.enrichment).unwrap();
        assert_eq!(enrichment["rules"], enrich::RULES);
        enrichment.as_object_mut().unwrap().remove("rules");
        let line = serde_json::json!({
            "subject": enrich::subject_of(&commit.record.message),
            "enrichment": enrichment,
        });
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    golden("enrich.jsonl", &text);
}

#[test]
fn chunks_match_the_golden_file() {
    let repo = fixture();
    let facts = facts_of(&repo);
    let phases = chunk::phases(&facts);
    let mut text = String::new();
    for budget in [80, 6000] {
        text.push_str(&format!("##### budget {budget}\n"));
        for phase in &phases {
            text.push_str(&format!(
                "=== phase {} {:?} {:?} commits {}..{} releases {:?}\n",
                phase.number, phase.rule, phase.name, phase.start, phase.end, phase.releases
            ));
            for chunk in chunk::chunk_phase(&facts, phase, budget) {
                assert!(chunk.tokens <= budget);
                text.push_str(&format!(
                    "--- chunk {} commits {}..{} tokens {} truncated {} sha256 {}\n{}",
                    chunk.index,
                    chunk.start,
                    chunk.end,
                    chunk.tokens,
                    chunk.truncated,
                    chunk.content_hash(),
                    chunk.text
                ));
            }
        }
    }
    golden("chunks.txt", &text);
}

#[test]
fn story_timeline_and_phases_match_the_golden_files() {
    let repo = fixture();
    let out = repo.sibling("out");
    let summary = analyze_ok(&repo, &out, &["--token-budget", "100"]);
    golden(
        "story.md",
        &std::fs::read_to_string(out.join("story.md")).unwrap(),
    );
    golden(
        "timeline.json",
        &std::fs::read_to_string(out.join("timeline.json")).unwrap(),
    );
    golden(
        "phases.json",
        &std::fs::read_to_string(out.join("phases.json")).unwrap(),
    );
    golden(
        "brief.md",
        &std::fs::read_to_string(out.join("brief.md")).unwrap(),
    );
    // Every commit a phase summary cites is one of the phase's commits.
    let phases: Vec<PhaseRecord> =
        serde_json::from_slice(&std::fs::read(out.join("phases.json")).unwrap()).unwrap();
    let ids: Vec<String> = read_enriched(&out)
        .into_iter()
        .map(|c| c.record.id)
        .collect();
    for phase in &phases {
        assert!(!phase.cited_commits.is_empty());
        for id in &phase.cited_commits {
            assert!(ids.contains(id));
            assert!(
                phase.summary.contains(&id[..12]),
                "{id} cited but not named"
            );
        }
    }
    assert_eq!(summary.stages.chunk.phases, phases.len() as u64);
    assert_eq!(summary.stages.chunk.tokenizer, "o200k_base");
    assert_eq!(summary.stages.enrich.bots, 1);
    assert_eq!(summary.stages.enrich.release_commits, 4);
    assert_eq!(
        summary.stages.summarize.summarizer.as_ref().unwrap().kind,
        "extractive"
    );
}

#[test]
fn a_second_run_takes_every_summary_from_the_cache() {
    let repo = fixture();
    let out = repo.sibling("out");
    let first = analyze_ok(&repo, &out, &["--token-budget", "100"]);
    let chunks = first.stages.chunk.chunks;
    assert!(chunks > 3, "{chunks}");
    assert_eq!(
        (
            first.stages.summarize.cache_hits,
            first.stages.summarize.cache_misses
        ),
        (0, chunks)
    );
    let story = std::fs::read(out.join("story.md")).unwrap();

    let second = analyze_ok(&repo, &out, &["--token-budget", "100"]);
    assert_eq!(
        (
            second.stages.summarize.cache_hits,
            second.stages.summarize.cache_misses
        ),
        (chunks, 0)
    );
    assert_eq!(std::fs::read(out.join("story.md")).unwrap(), story);

    // New commits: the chunks before them are unchanged and come from the cache.
    repo.write("src/more.rs", "fn more() {}\n");
    repo.commit_at("Add more", EPOCH + 202 * DAY);
    let third = analyze_ok(&repo, &out, &["--token-budget", "100"]);
    let metrics = &third.stages.summarize;
    assert!(
        metrics.cache_misses >= 1 && metrics.cache_hits >= chunks - 1,
        "{metrics:?}"
    );
    assert_eq!(
        metrics.cache_hits + metrics.cache_misses,
        third.stages.chunk.chunks
    );

    // Another cache directory starts empty.
    let cache = repo.sibling("cache");
    let fourth = analyze_ok(
        &repo,
        &out,
        &[
            "--token-budget",
            "100",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    assert_eq!(fourth.stages.summarize.cache_hits, 0);
    assert!(std::fs::read_dir(&cache).unwrap().count() > 0);
}

#[test]
fn scrub_removes_emails_and_secrets_from_every_file() {
    let repo = fixture();
    let plain = repo.sibling("plain");
    let scrubbed = repo.sibling("scrubbed");
    analyze_ok(&repo, &plain, &[]);
    let summary = analyze_ok(&repo, &scrubbed, &["--scrub"]);
    let key = fake_key();
    let raw = |dir: &Path| -> String {
        [
            "commits.jsonl",
            "phases.json",
            "story.md",
            "timeline.json",
            "brief.md",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect()
    };
    let before = raw(&plain);
    assert!(before.contains("bob@example.org") && before.contains(&key));
    let after = raw(&scrubbed);
    for secret in [
        "ada@example.com",
        "bob@example.org",
        "carol@example.net",
        "carl@example.com",
        "users.noreply.github.com",
        key.as_str(),
    ] {
        assert!(!after.contains(secret), "{secret} survived scrubbing");
    }
    assert!(after.contains("[REDACTED:aws-access-key-id]"));
    assert!(summary.config.scrub && summary.stages.scrub.enabled);
    assert_eq!(summary.stages.scrub.secrets, 1);
    // Authors stay distinguishable; numstat and enrichment are unchanged.
    let plain_commits = read_enriched(&plain);
    let scrubbed_commits = read_enriched(&scrubbed);
    let emails = |commits: &[EnrichedCommit]| -> std::collections::BTreeSet<String> {
        commits
            .iter()
            .map(|c| c.record.author.email.clone())
            .collect()
    };
    assert_eq!(emails(&plain_commits).len(), 3);
    assert_eq!(emails(&scrubbed_commits).len(), 3);
    for (a, b) in plain_commits.iter().zip(&scrubbed_commits) {
        assert_eq!(
            (&a.record.id, &a.record.files),
            (&b.record.id, &b.record.files)
        );
        assert_eq!(a.enrichment, b.enrichment);
    }
}

#[test]
fn tags_are_peeled_and_releases_recognized() {
    let repo = fixture();
    let git = extract::open(&repo.path).unwrap();
    let tags = tags::read_tags(&git).unwrap();
    let seen: Vec<(&str, bool, Option<bool>)> = tags
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.annotated,
                t.release.as_ref().map(|r| r.is_prerelease()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("v0.1.0", false, Some(false)),
            ("v0.2.0", true, Some(false)),
            ("v0.3.0-rc.1", false, Some(true)),
            ("v1.0.0", false, Some(false)),
        ],
        "the tag of a tree is skipped"
    );
    for tag in &tags {
        let expected = repo.git(&["rev-parse", &format!("{}^{{commit}}", tag.name)]);
        assert_eq!(tag.commit, expected.trim());
    }
}

/// Records every call a sink gets.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    batches: Vec<(u64, usize)>,
    progress: Vec<Progress>,
}

impl Sink for Recorder {
    fn begin(&mut self, run: &RunInfo) -> Result<(), SinkError> {
        self.calls.push(format!("begin {}", run.total_commits));
        Ok(())
    }
    fn commits(&mut self, batch: u64, commits: &[EnrichedCommit]) -> Result<(), SinkError> {
        self.calls.push("commits".into());
        self.batches.push((batch, commits.len()));
        Ok(())
    }
    fn phases(&mut self, phases: &[PhaseRecord]) -> Result<(), SinkError> {
        self.calls.push(format!("phases {}", phases.len()));
        Ok(())
    }
    fn artifact(&mut self, name: &str, media_type: &str, bytes: &[u8]) -> Result<(), SinkError> {
        assert!(!bytes.is_empty());
        self.calls.push(format!("artifact {name} {media_type}"));
        Ok(())
    }
    fn progress(&mut self, progress: &Progress) -> Result<(), SinkError> {
        self.progress.push(progress.clone());
        Ok(())
    }
    fn finish(&mut self, summary: &AnalysisSummary) -> Result<(), SinkError> {
        self.calls
            .push(format!("finish {}", summary.counts.commits));
        Ok(())
    }
}

#[test]
fn the_pipeline_calls_the_sink_in_order_with_numbered_batches() {
    let repo = fixture();
    let git = extract::open(&repo.path).unwrap();
    let options = PipelineOptions {
        batch_size: 4,
        progress_every: 5,
        ..PipelineOptions::default()
    };
    let source = Source {
        repo: &git,
        location: "fixture".into(),
        started: Instant::now(),
        open_ms: 0,
        earlier: Default::default(),
    };
    let mut sink = Recorder::default();
    let summary =
        run_pipeline(&source, &options, &mut Extractive, &mut NoCache, &mut sink).unwrap();
    assert_eq!(summary.counts.commits, 13);
    assert_eq!(sink.batches, [(0, 4), (1, 4), (2, 4), (3, 1)]);
    let mut expected = vec!["begin 13".to_owned()];
    expected.extend(std::iter::repeat_n("commits".to_owned(), 4));
    expected.push(format!("phases {}", summary.stages.chunk.phases));
    expected.push("artifact story.md text/markdown; charset=utf-8".into());
    expected.push("artifact story.json application/json".into());
    expected.push("artifact timeline.json application/json".into());
    expected.push("artifact brief.md text/markdown; charset=utf-8".into());
    expected.push("finish 13".into());
    assert_eq!(sink.calls, expected);
    let reports = |stage: Stage| -> Vec<(u64, u64)> {
        sink.progress
            .iter()
            .filter(|p| p.stage == stage)
            .map(|p| (p.done, p.total))
            .collect()
    };
    assert_eq!(reports(Stage::Extract), [(5, 13), (10, 13), (13, 13)]);
    // The extractive summarizer is done within a second: only its end is reported.
    let chunks = summary.stages.chunk.chunks;
    let summarize = reports(Stage::Summarize);
    assert_eq!(summarize.last(), Some(&(chunks, chunks)), "{summarize:?}");
    let stages: Vec<Stage> = sink.progress.iter().map(|p| p.stage).collect();
    assert_eq!(stages.first(), Some(&Stage::Walk));
    assert_eq!(stages.last(), Some(&Stage::Story));
    assert_eq!(summary.stages.write.batches, 4);

    // A revision that does not exist reaches no sink.
    let bad = PipelineOptions {
        until: "no-such-branch".into(),
        ..PipelineOptions::default()
    };
    let mut sink = Recorder::default();
    let err = run_pipeline(&source, &bad, &mut Extractive, &mut NoCache, &mut sink).unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(sink.calls.is_empty() && sink.progress.is_empty());
}

#[test]
fn the_dir_sink_writes_each_batch_once() {
    let repo = fixture();
    let git = extract::open(&repo.path).unwrap();
    let plan = extract::plan(&git, None, "HEAD").unwrap();
    let mut extractor = Extractor::new(&git, ExtractOptions::default()).unwrap();
    let commits: Vec<EnrichedCommit> = plan
        .commits
        .iter()
        .map(|&id| {
            let record = extractor.commit(id).unwrap();
            let enrichment = enrich::enrich(&record, &[]);
            EnrichedCommit { record, enrichment }
        })
        .collect();
    let out = repo.sibling("sink");
    let mut sink = DirSink::new(&out);
    let run = RunInfo {
        runner: RunnerInfo::current(),
        config: serde_json::from_value(serde_json::json!({
            "path": "x", "gitDir": "x", "since": null, "until": "HEAD", "sinceCommit": null,
            "untilCommit": "x", "mailmap": true, "renames": true, "firstParentMergeDiffs": false
        }))
        .unwrap(),
        total_commits: commits.len() as u64,
    };
    sink.begin(&run).unwrap();
    sink.commits(0, &commits[..5]).unwrap();
    sink.commits(0, &commits[..5]).unwrap(); // a retried batch
    sink.commits(1, &commits[5..]).unwrap();
    let err = sink.commits(3, &commits[..1]).unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(sink.artifact("../escape", "text/plain", b"x").is_err());
    assert!(
        sink.artifact("analysis.json", "application/json", b"{}")
            .is_err()
    );
    assert!(!out.join("analysis.json").exists());
    let summary: AnalysisSummary = serde_json::from_value(serde_json::json!({
        "runner": RunnerInfo::current(), "config": run.config, "counts": {
            "commits": 13, "mergeCommits": 1, "filesChanged": 0, "binaryFilesChanged": 0,
            "linesAdded": 0, "linesDeleted": 0, "renames": 0 },
        "timingsMs": {"open": 0, "walk": 0, "extract": 0, "total": 0}
    }))
    .unwrap();
    sink.finish(&summary).unwrap();
    let written = read_enriched(&out);
    assert_eq!(written, commits, "every commit once, in order");
    assert!(out.join("analysis.json").exists());
}

#[test]
fn extraction_threads_do_not_change_the_output() {
    let repo = fixture();
    // Enough commits that a worker's block of them goes over in several batches.
    for i in 0..150 {
        repo.write("src/count.rs", lines(i % 7 + 1, &format!("count {i}")));
        repo.commit_at(&format!("Count to {i}"), EPOCH + 300 * DAY + i as i64 * 60);
    }
    let outputs: Vec<Vec<u8>> = ["1", "3"]
        .iter()
        .map(|threads| {
            let out = repo.sibling(&format!("threads-{threads}"));
            analyze_ok(&repo, &out, &["--threads", threads]);
            let commits = read_enriched(&out);
            let records: Vec<CommitRecord> = commits.into_iter().map(|c| c.record).collect();
            assert_matches_git(&records, &git_numstat(&repo, &repo.path, &[]));
            std::fs::read(out.join("commits.jsonl")).unwrap()
        })
        .collect();
    assert!(
        outputs[0] == outputs[1],
        "one thread and three wrote different commits.jsonl"
    );
}

/// A summarizer that says which commits it saw, and takes two or more parts per combination.
#[derive(Default)]
struct Echo {
    summaries: usize,
    combinations: Vec<usize>,
}

impl Summarizer for Echo {
    fn info(&self) -> SummarizerInfo {
        SummarizerInfo {
            kind: "echo".into(),
            model: Some("test".into()),
            version: "1".into(),
        }
    }

    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        self.summaries += 1;
        let ids: Vec<&str> = input.facts.iter().map(|f| f.short_id()).collect();
        Ok(Summary {
            // Padding, so that a few parts fill the token budget.
            text: format!("S({}) {}", ids.join(" "), "some words ".repeat(6)),
            commits: input.facts.iter().map(|f| f.id.clone()).collect(),
            usage: None,
        })
    }

    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        assert!(input.parts.len() >= 2);
        self.combinations.push(input.parts.len());
        let texts: Vec<&str> = input.parts.iter().map(|p| p.text.as_str()).collect();
        Ok(Summary {
            text: format!("C[{}]", texts.join(" + ")),
            commits: input.parts.iter().flat_map(|p| p.commits.clone()).collect(),
            usage: None,
        })
    }
}

#[test]
fn phases_of_several_chunks_get_one_combined_summary() {
    let repo = fixture();
    let git = extract::open(&repo.path).unwrap();
    let source = Source {
        repo: &git,
        location: "fixture".into(),
        started: Instant::now(),
        open_ms: 0,
        earlier: Default::default(),
    };
    // Every phase by the model (the default budget gives it the largest four).
    let options = PipelineOptions {
        token_budget: 60,
        budget: Some(ModelBudget::Full),
        ..PipelineOptions::default()
    };
    let facts = facts_of(&repo);
    let cache_dir = repo.sibling("cache");
    let mut cache = gitview_runner::summarize::DirCache::new(&cache_dir);
    let mut echo = Echo::default();
    let out = repo.sibling("echo");
    let summary = run_pipeline(
        &source,
        &options,
        &mut echo,
        &mut cache,
        &mut DirSink::new(&out),
    )
    .unwrap();
    let phases: Vec<PhaseRecord> =
        serde_json::from_slice(&std::fs::read(out.join("phases.json")).unwrap()).unwrap();
    assert_eq!(echo.summaries as u64, summary.stages.chunk.chunks);
    assert!(
        phases.iter().any(|p| p.chunks.len() > 2),
        "budget small enough for levels"
    );
    for phase in &phases {
        let ids: Vec<&str> = facts
            .iter()
            .filter(|f| {
                let first = facts
                    .iter()
                    .position(|g| g.id == phase.first_commit)
                    .unwrap();
                let last = facts
                    .iter()
                    .position(|g| g.id == phase.last_commit)
                    .unwrap();
                let at = facts.iter().position(|g| g.id == f.id).unwrap();
                (first..=last).contains(&at)
            })
            .map(|f| f.short_id())
            .collect();
        // Every commit of the phase appears once, in order, whatever the grouping.
        let seen: Vec<&str> = phase
            .summary
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|w| w.len() == 12)
            .collect();
        assert_eq!(seen, ids, "phase {}", phase.number);
        assert_eq!(phase.chunks.len() > 1, phase.summary.starts_with("C["));
        assert_eq!(phase.cited_commits.len(), ids.len());
        for chunk in &phase.chunks {
            assert!(chunk.summary.starts_with("S("));
        }
    }
    assert_eq!(
        summary.stages.summarize.combinations as usize,
        echo.combinations.len()
    );
    assert!(
        echo.combinations.len() > phases.iter().filter(|p| p.chunks.len() > 1).count(),
        "some phase needed more than one level: {:?}",
        echo.combinations
    );

    // Again: everything from the cache.
    let mut echo = Echo::default();
    let again = run_pipeline(
        &source,
        &options,
        &mut echo,
        &mut cache,
        &mut DirSink::new(&out),
    )
    .unwrap();
    assert_eq!((echo.summaries, echo.combinations.len()), (0, 0));
    let metrics = &again.stages.summarize;
    assert_eq!(metrics.combination_cache_hits, metrics.combinations);
}

/// A model that cites each chunk's first commit truly and invents an author.
struct Scripted;

impl Summarizer for Scripted {
    fn info(&self) -> SummarizerInfo {
        SummarizerInfo {
            kind: "chatCompletions".into(),
            model: Some("scripted".into()),
            version: "1".into(),
        }
    }
    fn summarize(&mut self, input: &SummaryInput<'_>) -> Result<Summary, SummarizeError> {
        let first = &input.facts[0].id;
        Ok(Summary {
            text: format!(
                "The work starts with `{}`. Mallory Evil added a backdoor.\n",
                &first[..12]
            ),
            commits: vec![first.clone()],
            usage: None,
        })
    }
    fn combine(&mut self, input: &CombineInput<'_>) -> Result<Summary, SummarizeError> {
        Ok(Summary {
            text: input
                .parts
                .iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            commits: input.parts.iter().flat_map(|p| p.commits.clone()).collect(),
            usage: None,
        })
    }
}

#[test]
fn a_models_claims_are_checked_and_the_failing_ones_marked() {
    let repo = fixture();
    let git = extract::open(&repo.path).unwrap();
    let source = Source {
        repo: &git,
        location: "fixture".into(),
        started: Instant::now(),
        open_ms: 0,
        earlier: Default::default(),
    };
    let out = repo.sibling("checked");
    let mut sink = DirSink::new(&out);
    let every_phase = PipelineOptions {
        budget: Some(ModelBudget::Full),
        ..PipelineOptions::default()
    };
    let summary = run_pipeline(
        &source,
        &every_phase,
        &mut Scripted,
        &mut NoCache,
        &mut sink,
    )
    .unwrap();
    let checked = &summary.stages.summarize.checked;
    let phases = summary.stages.chunk.phases;
    assert_eq!(checked.texts, phases);
    // One true sentence and one invented author per chunk: half pass.
    assert!(
        checked.passed > 0 && checked.passed == checked.failed,
        "{checked:?}"
    );
    assert_eq!(checked.faithfulness_percent, Some(50));
    let records: Vec<PhaseRecord> =
        serde_json::from_str(&std::fs::read_to_string(out.join("phases.json")).unwrap()).unwrap();
    for record in &records {
        assert!(
            record
                .summary
                .contains("Mallory Evil added a backdoor. [unverified: no author Mallory Evil"),
            "{}",
            record.summary
        );
        // The true sentence, citing a commit of its phase, is kept as written.
        assert!(
            !record.summary.contains("`. [unverified"),
            "{}",
            record.summary
        );
    }
    // The extractive summarizer's text is the facts': nothing is checked.
    let plain = repo.sibling("plain");
    let mut sink = DirSink::new(&plain);
    let summary = run_pipeline(
        &source,
        &PipelineOptions::default(),
        &mut Extractive,
        &mut NoCache,
        &mut sink,
    )
    .unwrap();
    assert_eq!(summary.stages.summarize.checked, Default::default());
}
