//! `kubectl gitview` — a kubectl plugin (krew-style: a `kubectl-gitview` binary on `PATH`) for
//! the common tasks, as `flux`, `argo` and `tkn` have for their add-ons:
//!
//! | command | what it does |
//! |---|---|
//! | `analyze URL [--ref R] [--profile P] [--wait]` | creates an Analysis; `--wait` follows it with a progress bar, like `kubectl rollout status` |
//! | `track URL [--branches a,b] [--clone-cache 2Gi]` | creates a RepositoryTracker |
//! | `get [NAME]` | lists Analyses with their progress |
//! | `story NAME\|URL` | prints the repository's current story (Markdown) |
//! | `logs NAME [-f]` | prints the run log; `-f` follows it (every 2 s, only the lines after the last printed) until the run ends |
//! | `open [NAME] [--browser] [--port-forward]` | prints the web UI's URL (an Analysis' page, or the start page); `--browser` opens it; `--port-forward` runs `kubectl port-forward` to the gateway and stays until Ctrl-C |
//! | `reconcile tracker NAME` | asks a tracker to poll now (`gitview.dev/requested-at`, like `flux reconcile`) and waits until it has |
//!
//! The cluster is the kubeconfig's (`KUBECONFIG`, its current context and namespace; `-n`);
//! the gateway is reached with an API key ([`config`]). Every error says what to do next.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod follow;
pub mod gateway;
pub mod open;
pub mod render;

/// Runs the plugin with the process's arguments; the exit code says whether it worked.
pub fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
