//! `gitview-runner run` as the operator's pod runs it: exit codes and the termination message.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gitview_crds::wire::{EXIT_INVALID_INPUT, RunConfig, RunOutcome};

struct Pod {
    _tmp: tempfile::TempDir,
    run_dir: PathBuf,
    termination_log: PathBuf,
    scratch: PathBuf,
}

impl Pod {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let run_dir = tmp.path().join("secret");
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        let termination_log = tmp.path().join("termination-log");
        Self {
            _tmp: tmp,
            run_dir,
            termination_log,
            scratch,
        }
    }

    fn with_config(self, config: &serde_json::Value) -> Self {
        std::fs::write(
            self.run_dir.join("run.json"),
            serde_json::to_vec(config).unwrap(),
        )
        .unwrap();
        self
    }

    /// Runs `gitview-runner run`; returns the exit code and the termination message.
    fn run(&self, extra_env: &[(&str, &str)]) -> (i32, RunOutcome, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_gitview-runner"))
            .arg("run")
            .env_remove("GITVIEW_RUNNER_TEST_EXIT")
            .env("GITVIEW_RUN_DIR", &self.run_dir)
            .env("GITVIEW_SCRATCH", &self.scratch)
            .env("GITVIEW_TERMINATION_LOG", &self.termination_log)
            .envs(extra_env.iter().copied())
            .output()
            .unwrap();
        let message = read(&self.termination_log);
        assert_eq!(message.lines().count(), 1, "one line: {message:?}");
        assert!(message.len() <= 4096);
        let outcome: RunOutcome =
            serde_json::from_str(&message).expect("the termination message is a RunOutcome");
        (
            output.status.code().expect("an exit code"),
            outcome,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("no termination message at {path:?}: {err}"))
}

fn valid_config() -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "analysis": {"namespace": "team-a", "name": "history", "uid": "0b6c7a4e-5f7e-4c1a-9d55-1a2b3c4d5e6f"},
        "attempt": 1,
        "account": "acct-1",
        "repository": {"url": "git://127.0.0.1:9418/repo.git", "ref": "main"},
        "mode": {"type": "Full"},
        "profile": {
            "name": "default",
            "runnerImage": "gitview/runner:dev",
            "canary": false,
            "stages": {},
            "summarizer": "Extractive"
        },
        "gatewayUrl": "http://127.0.0.1:8080",
        "scrubPii": true,
        "deadline": "2030-01-01T00:00:00Z"
    })
}

fn with(
    mut config: serde_json::Value,
    pointer: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    *config.pointer_mut(pointer).expect("field exists") = value;
    config
}

#[test]
fn the_sample_config_is_a_valid_run_config() {
    let _: RunConfig =
        serde_json::from_value(valid_config()).expect("matches gitview_crds::wire::RunConfig");
}

#[test]
fn an_unreachable_gateway_is_a_retryable_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = with(
        valid_config(),
        "/gatewayUrl",
        format!("http://127.0.0.1:{port}").into(),
    );
    let pod = Pod::new().with_config(&config);
    std::fs::write(pod.run_dir.join("token"), "header.claims.signature").unwrap();
    let (code, outcome, stderr) = pod.run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        outcome
            .message
            .contains("the results service is unavailable"),
        "{outcome:?}"
    );
    assert!(
        !stderr.contains("header.claims.signature"),
        "the token is never logged"
    );
    assert_eq!(outcome.analysis_id, None, "no results are claimed");
    assert_eq!(outcome.commits_analyzed, None);
    assert!(stderr.contains("run config accepted"), "{stderr}");
    assert!(
        stderr.lines().all(|line| line.starts_with('{')),
        "pod logs are JSON: {stderr}"
    );
}

#[test]
fn invalid_input_exits_2_with_a_reason() {
    let cases = [
        (None, "cannot read the run config"),
        (
            Some(serde_json::json!({"version": 1})),
            "invalid run config",
        ),
        (
            Some(with(valid_config(), "/version", 2.into())),
            "unsupported run config version 2",
        ),
        (
            Some(with(
                valid_config(),
                "/repository/url",
                "file:///etc".into(),
            )),
            "scheme \"file\" is not allowed",
        ),
        (
            Some(with(
                valid_config(),
                "/repository/url",
                "https://u:p@host/r".into(),
            )),
            "embeds a password",
        ),
        (
            Some(with(
                valid_config(),
                "/repository/url",
                "git@host:org/r".into(),
            )),
            "no scheme",
        ),
        (
            Some(with(valid_config(), "/repository/ref", "main..dev".into())),
            "invalid revision \"main..dev\"",
        ),
        (
            Some(with(
                valid_config(),
                "/mode",
                serde_json::json!({"type": "Range", "since": "-x"}),
            )),
            "mode.since",
        ),
    ];
    for (config, expected) in cases {
        let pod = Pod::new();
        let pod = match &config {
            Some(config) => pod.with_config(config),
            None => pod,
        };
        let (code, outcome, _) = pod.run(&[]);
        assert_eq!(code, EXIT_INVALID_INPUT, "{config:?}");
        assert!(
            outcome.message.contains(expected),
            "{expected:?} in {:?}",
            outcome.message
        );
    }
}

#[test]
fn malformed_json_is_invalid_input() {
    let pod = Pod::new();
    std::fs::write(pod.run_dir.join("run.json"), "{not json").unwrap();
    let (code, outcome, _) = pod.run(&[]);
    assert_eq!(code, EXIT_INVALID_INPUT);
    assert!(
        outcome.message.starts_with("invalid run config"),
        "{}",
        outcome.message
    );
}

#[test]
fn the_test_hook_exits_with_the_requested_code_without_reading_the_config() {
    for code in [0, 1, 3, 137] {
        let (exit, outcome, _) = Pod::new().run(&[("GITVIEW_RUNNER_TEST_EXIT", &code.to_string())]);
        assert_eq!(exit, code);
        assert_eq!(
            outcome.message,
            format!("test hook GITVIEW_RUNNER_TEST_EXIT: exiting with code {code}")
        );
    }
    let (exit, outcome, _) = Pod::new().run(&[("GITVIEW_RUNNER_TEST_EXIT", "soon")]);
    assert_eq!(exit, EXIT_INVALID_INPUT);
    assert!(outcome.message.contains("invalid test exit code"));
}
