//! `gitview-runner`: `analyze` on a laptop, `run` inside a runner pod.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gitview_crds::wire::EXIT_INVALID_INPUT;
use gitview_runner::analyze::{AnalyzeRequest, CriticalRequest, SummarizerChoice, analyze};
use gitview_runner::extract::ExtractOptions;
use gitview_runner::run::{RunEnv, run_with_log};
use gitview_runner::sink::runlog::RunLog;
use gitview_runner::summarize::budget::ModelBudget;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// jemalloc: the extraction threads free each other's objects (see the workspace Cargo.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Turns a git repository's history into structured data.
#[derive(Debug, Parser)]
#[command(name = "gitview-runner", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyze a local repository's history into files (no cluster, database or model needed).
    ///
    /// Writes DIR/commits.jsonl (one JSON object per commit, in `git log` order, with the
    /// per-file line counts of `git log --numstat --no-renames` and an `enrichment` object),
    /// DIR/phases.json (phases and their summaries), DIR/story.md and DIR/story.json (the
    /// story, every sentence with its evidence), DIR/timeline.json (monthly figures),
    /// DIR/brief.md (a digest for coding agents within --brief-tokens), DIR/index.html (the
    /// report page: the story linked to its commits, and charts; open it in a browser, from
    /// disk) and DIR/analysis.json
    /// (configuration, counts, stage timings and metrics, runner and summarizer versions;
    /// written last).
    Analyze(Box<AnalyzeArgs>),
    /// Check that a brief.md (written by `analyze`) still describes the repository's HEAD.
    ///
    /// Exit codes: 0 the brief describes HEAD, 1 it is stale (HEAD moved on; the message says
    /// how many commits behind), 2 no answer (no brief, no marker line, not a repository).
    Brief(BriefArgs),
    /// Run one attempt of an Analysis inside a runner pod.
    ///
    /// Reads $GITVIEW_RUN_DIR/run.json (default /var/run/secrets/gitview), and always leaves
    /// one JSON line in $GITVIEW_TERMINATION_LOG (default /dev/termination-log). Exit codes: 0
    /// success, 2 invalid input (never retried), 1 retryable failure. Fetches the repository
    /// into $GITVIEW_SCRATCH (default /scratch), runs the pipeline and writes through the
    /// gateway with the mounted token. Test hook: GITVIEW_RUNNER_TEST_EXIT=<code> exits with
    /// <code> at once.
    Run,
}

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// A working copy (or a directory inside one), a bare repository, or a URL (https://,
    /// http://, ssh://, git://, or scp-style host:path): cloned into
    /// $GITVIEW_CACHE_DIR (default ~/.cache/gitview/repos) and fetched into on later runs.
    path: PathBuf,
    /// Exclude commits reachable from this revision (like `git log SINCE..UNTIL`).
    #[arg(long, value_name = "REV")]
    since: Option<String>,
    /// The last commit to include.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    until: String,
    /// Output directory, created if missing.
    #[arg(long, value_name = "DIR", default_value = "./gitview-out")]
    out: PathBuf,
    /// Do not apply .mailmap (no `canonical` identities).
    #[arg(long)]
    no_mailmap: bool,
    /// Do not detect renames (the `renames` arrays stay empty; `files` is unaffected).
    #[arg(long)]
    no_renames: bool,
    /// Diff merge commits against their first parent instead of listing no files for them.
    #[arg(long)]
    first_parent_merge_diffs: bool,
    /// Log progress on stderr every N commits (0: only at the end of each stage).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    progress_every: u64,
    /// Redact secrets (API keys, tokens, private keys) and hash emails in every output.
    #[arg(long)]
    scrub: bool,
    /// Token budget of one chunk handed to the summarizer (o200k_base tokens).
    #[arg(long, value_name = "TOKENS", default_value_t = 6000,
          value_parser = clap::value_parser!(u64).range(64..=1_000_000))]
    token_budget: u64,
    /// How phases are summarized: offline and deterministic, by an OpenAI-compatible
    /// chat-completions endpoint (needs --model and --llm-base-url), or by Anthropic's Messages
    /// API (needs --model; --llm-base-url defaults to https://api.anthropic.com).
    #[arg(long, value_enum, default_value_t = SummarizerArg::Extractive)]
    summarizer: SummarizerArg,
    /// The model (with --summarizer chat or anthropic).
    #[arg(long, value_name = "NAME", required_if_eq_any([("summarizer", "chat"), ("summarizer", "anthropic")]))]
    model: Option<String>,
    /// Base URL of the model API, e.g. http://localhost:11434/v1 (chat-completions) or
    /// https://api.anthropic.com (anthropic, the default).
    #[arg(long, value_name = "URL", required_if_eq("summarizer", "chat"))]
    llm_base_url: Option<String>,
    /// A file holding the API key, sent as a bearer token (chat) or in x-api-key (anthropic);
    /// never logged.
    #[arg(long, value_name = "FILE")]
    llm_api_key_file: Option<PathBuf>,
    /// Threads extracting commits (default: the available cores, at most 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
    /// Where summaries are cached between runs (default: DIR/.summary-cache).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Token budget of DIR/brief.md (o200k_base tokens; never exceeded).
    #[arg(long, value_name = "N", default_value_t = gitview_runner::brief::DEFAULT_TOKENS as u64,
          value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    brief_tokens: u64,
    /// Bring DIR up to date: extract only the commits since the analysis already in DIR ended,
    /// then write every output over the whole history again (the earlier commits are read from
    /// DIR/commits.jsonl).
    #[arg(long, conflicts_with = "since")]
    update: bool,
    /// Which parts of the story get a model call: none (no call), minimal (the overview),
    /// balanced (the overview and the 4 largest phases; the default with a model), full
    /// (every phase and the overview).
    #[arg(long, value_enum, value_name = "BUDGET")]
    model_budget: Option<BudgetArg>,
    /// A JSON list of model prices ({model, inputPerMillionTokens, outputPerMillionTokens,
    /// currency?}) for the estimated cost in analysis.json.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Critical mode: measure the history against the goals of --goals (gaps and debt, not a
    /// celebration); adds the section "Against the goals", and tells the model so.
    #[arg(long, requires = "goals")]
    critical: bool,
    /// The goals of critical mode: one per line, or a Markdown list.
    #[arg(long, value_name = "FILE", requires = "critical")]
    goals: Option<PathBuf>,
    /// Further instructions to the model in critical mode.
    #[arg(long, value_name = "TEXT", requires = "critical")]
    directives: Option<String>,
}

/// `--model-budget` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BudgetArg {
    None,
    Minimal,
    Balanced,
    Full,
}

impl From<BudgetArg> for ModelBudget {
    fn from(budget: BudgetArg) -> Self {
        match budget {
            BudgetArg::None => Self::None,
            BudgetArg::Minimal => Self::Minimal,
            BudgetArg::Balanced => Self::Balanced,
            BudgetArg::Full => Self::Full,
        }
    }
}

/// Arguments of `brief`.
#[derive(Debug, clap::Args)]
struct BriefArgs {
    /// Compare the brief's commit with HEAD (required: the brief is written by `analyze`).
    #[arg(long, required = true)]
    check: bool,
    /// The repository (a working copy, a directory inside one, or a bare repository).
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// The brief (default: where `analyze` writes it with its default --out).
    #[arg(long, value_name = "PATH", default_value = "./gitview-out/brief.md")]
    file: PathBuf,
}

/// `--summarizer` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SummarizerArg {
    /// Offline and deterministic.
    Extractive,
    /// An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama's /v1, LiteLLM).
    Chat,
    /// Anthropic's Messages API (also spelled anthropic-messages).
    #[value(alias = "anthropic-messages")]
    Anthropic,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => {
            let AnalyzeArgs {
                path,
                since,
                until,
                out,
                no_mailmap,
                no_renames,
                first_parent_merge_diffs,
                progress_every,
                scrub,
                token_budget,
                summarizer,
                model,
                llm_base_url,
                llm_api_key_file,
                threads,
                cache_dir,
                brief_tokens,
                model_budget,
                prices,
                critical,
                goals,
                directives,
                update,
            } = *args;
            init_logs(None);
            let request = AnalyzeRequest {
                path,
                since,
                until,
                out_dir: out,
                options: ExtractOptions {
                    mailmap: !no_mailmap,
                    renames: !no_renames,
                    first_parent_merge_diffs,
                },
                progress_every,
                scrub,
                token_budget: usize::try_from(token_budget).unwrap_or(usize::MAX),
                summarizer: match (summarizer, model, llm_base_url) {
                    (SummarizerArg::Chat, Some(model), Some(base_url)) => SummarizerChoice::Chat {
                        base_url,
                        model,
                        api_key_file: llm_api_key_file,
                    },
                    (SummarizerArg::Anthropic, Some(model), base_url) => {
                        SummarizerChoice::Anthropic {
                            base_url,
                            model,
                            api_key_file: llm_api_key_file,
                        }
                    }
                    _ => SummarizerChoice::Extractive,
                },
                cache_dir,
                threads: threads.map(usize::from),
                brief_tokens: usize::try_from(brief_tokens).unwrap_or(usize::MAX),
                budget: model_budget.map(ModelBudget::from),
                prices_file: prices,
                critical: goals
                    .filter(|_| critical)
                    .map(|goals_file| CriticalRequest {
                        goals_file,
                        directives,
                    }),
                update,
            };
            match analyze(&request) {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    let code = if err.is_invalid_input() {
                        EXIT_INVALID_INPUT
                    } else {
                        1
                    };
                    eprintln!("error: {:#}", anyhow::Error::new(err));
                    exit_code(code)
                }
            }
        }
        Command::Brief(args) => check_brief(&args),
        Command::Run => {
            // `run` ships its own lines (info and above) to the gateway too.
            let log = RunLog::default();
            init_logs(Some(&log));
            exit_code(run_with_log(&RunEnv::from_env(), &log))
        }
    }
}

/// Logs go to stderr: human-readable on a laptop, JSON in a pod (`run_log` given: `run`,
/// which also records its lines at info and above there for the gateway). `RUST_LOG`
/// overrides the default level (info).
fn init_logs(run_log: Option<&RunLog>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    match run_log {
        Some(log) => registry.with(stderr.json()).with(log.layer()).init(),
        None => registry.with(stderr.compact()).init(),
    }
}

/// `brief --check`: the answer on stdout (0 current, 1 stale), or why there is none on stderr
/// (2).
fn check_brief(args: &BriefArgs) -> ExitCode {
    debug_assert!(args.check, "clap requires --check");
    match gitview_runner::brief::check(&args.file, &args.repo) {
        Ok(freshness) => {
            let out = args.file.parent().filter(|p| !p.as_os_str().is_empty());
            let refresh = format!(
                "gitview-runner analyze {} --out {}",
                args.repo.display(),
                out.map_or_else(|| ".".into(), |p| p.display().to_string())
            );
            let name = args.file.display().to_string();
            println!("{}", freshness.message(&name, &refresh));
            ExitCode::from(freshness.exit_code())
        }
        Err(err) => {
            eprintln!("error: {:#}", anyhow::Error::new(err));
            exit_code(EXIT_INVALID_INPUT)
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
