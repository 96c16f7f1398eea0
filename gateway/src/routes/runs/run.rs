//! A run's start and finish: `POST /v1/runs/{analysis}/start` stores the analysis (or resumes
//! it, or moves it to a newer attempt) with its repository; `POST /v1/runs/{analysis}/finish`
//! records how it ended and advances the repository's last analyzed commit.

use axum::extract::State;
use gitview_core::remote::RepositoryUrl;
use gitview_core::results::{Advance, FinishRun, RunFinished, RunStarted, RunStatus, StartRun};
use serde_json::{Value, json};

use crate::db;
use crate::error::ApiError;
use crate::kit::audit::audit;
use crate::kit::check::{bigint, is_object_id};
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store;
use crate::store::attempts::{attempt_conflict, current_attempt};

/// A start's body checked against the token's `attempt`: its repository URL, parsed.
fn check_start(attempt: i32, body: &StartRun) -> Result<RepositoryUrl, ApiError> {
    if body.attempt != attempt {
        return Err(ApiError::forbidden(format!(
            "the token is for attempt {}, not {}",
            attempt, body.attempt
        )));
    }
    if !matches!(body.mode.as_str(), "Full" | "Incremental" | "Range") {
        return Err(ApiError::bad_request(format!(
            "mode must be Full, Incremental or Range, not {:?}",
            body.mode
        )));
    }
    if body.branch.is_empty() || body.branch.len() > 255 {
        return Err(ApiError::bad_request("branch must be 1 to 255 characters"));
    }
    let repository = RepositoryUrl::parse(&body.repository_url)
        .map_err(|err| ApiError::bad_request(format!("repositoryUrl: {err}")))?;
    if repository.is_local() {
        return Err(ApiError::bad_request(
            "repositoryUrl must name a remote repository, not a local path",
        ));
    }
    Ok(repository)
}

pub(crate) async fn start(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<StartRun>,
) -> Result<axum::Json<RunStarted>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let repository = check_start(claims.attempt, &body)?;
    let canonical = repository.as_str();
    let fingerprint = repository.fingerprint(&body.branch);
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // The analysis' row first, locked (as every write of results locks it, and before the
    // repository's row, in the order `finish` takes them): a start never lowers the attempt, so
    // a superseded attempt's start changes nothing.
    let stored = store::runs::lock_attempt(&mut tx, &analysis).await?;
    if let Some(current) = stored.filter(|current| *current > body.attempt) {
        return Err(attempt_conflict(&analysis, body.attempt, current));
    }
    let (repository_id, last) =
        store::runs::upsert_repository(&mut tx, account, &fingerprint, canonical, &body.branch)
            .await?;
    let started = store::runs::Started {
        analysis: &analysis,
        account,
        repository: repository_id,
        namespace: &body.namespace,
        name: &body.name,
        attempt: body.attempt,
        mode: &body.mode,
        config: recorded_config(body.config),
    };
    let resumed = store::runs::start(&mut tx, started).await?;
    if resumed.is_none() {
        // A row stored since the first read (a concurrent first start) may be a newer
        // attempt's; the conflicting row is locked and visible now.
        let current = store::runs::attempt(&mut tx, &analysis).await?;
        if let Some(current) = current.filter(|current| *current > body.attempt) {
            return Err(attempt_conflict(&analysis, body.attempt, current));
        }
        return Err(ApiError::conflict(format!(
            "analysis {analysis} already succeeded, or belongs to another repository"
        )));
    }
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "run.start",
        &analysis,
        json!({"repository": canonical, "branch": body.branch, "attempt": body.attempt}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(RunStarted {
        analysis_id: analysis,
        repository_id,
        fingerprint,
        last_analyzed_commit: last,
    }))
}

/// A run's configuration as it is stored and read back: its repository URL in canonical form,
/// so no credential a runner left in it (a token as the URL's user name) is kept; a URL
/// without a canonical form is kept redacted ([`gitview_core::remote::redact`]).
fn recorded_config(mut config: Value) -> Value {
    if let Some(url) = config.pointer_mut("/repository/url")
        && let Some(text) = url.as_str()
    {
        let recorded = match RepositoryUrl::parse(text) {
            Ok(canonical) => canonical.to_string(),
            Err(_) => gitview_core::remote::redact(text),
        };
        *url = Value::String(recorded);
    }
    config
}

/// A finish's body checked: it ends the run, and only a success advances the repository.
/// Answers the status as stored.
fn check_finish(body: &FinishRun) -> Result<&'static str, ApiError> {
    if body.status == RunStatus::Running {
        return Err(ApiError::bad_request("status must be succeeded or failed"));
    }
    if body.advance.is_some() && body.status != RunStatus::Succeeded {
        return Err(ApiError::bad_request(
            "only a succeeded run advances the repository",
        ));
    }
    Ok(match body.status {
        RunStatus::Succeeded => "succeeded",
        _ => "failed",
    })
}

pub(crate) async fn finish(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<FinishRun>,
) -> Result<axum::Json<RunFinished>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let status = check_finish(&body)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let repository = current_attempt(&mut tx, &analysis, claims.attempt).await?;
    let mut last = store::runs::last_analyzed(&mut tx, repository).await?;
    if let Some(Advance { expected, to }) = &body.advance {
        if !is_object_id(to) {
            return Err(ApiError::bad_request(
                "advance.to must be a full hex object id",
            ));
        }
        match store::runs::advance(&mut tx, repository, expected.as_deref(), to).await? {
            Some(commit) => last = Some(commit),
            None => {
                return Err(ApiError::conflict(format!(
                    "the repository's last analyzed commit is no longer {}: another run advanced it first",
                    expected.as_deref().unwrap_or("unset")
                )));
            }
        }
    }
    let commits_analyzed = bigint("commitsAnalyzed", body.commits_analyzed)?;
    store::runs::finish(&mut tx, &analysis, status, &body, commits_analyzed).await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "run.finish",
        &analysis,
        json!({"status": status, "advance": body.advance}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(RunFinished {
        analysis_id: analysis,
        status: body.status,
        last_analyzed_commit: last,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_run() -> StartRun {
        StartRun {
            namespace: "team-a".into(),
            name: "nightly".into(),
            attempt: 2,
            repository_url: "https://github.com/o/r.git".into(),
            branch: "main".into(),
            mode: "Full".into(),
            config: Value::Null,
        }
    }

    #[test]
    fn a_start_names_the_tokens_attempt_a_mode_a_branch_and_a_remote() {
        assert!(check_start(2, &start_run()).is_ok());
        let err = check_start(1, &start_run()).expect_err("another attempt");
        assert_eq!(err.code, "forbidden");
        type Spoil = fn(&mut StartRun);
        let cases: [(Spoil, &str); 4] = [
            (|b| b.mode = "Partial".into(), "mode must be"),
            (|b| b.branch = String::new(), "branch must be"),
            (|b| b.repository_url = "not a url".into(), "repositoryUrl: "),
            (
                |b| b.repository_url = "/srv/git/r".into(),
                "not a local path",
            ),
        ];
        for (spoil, says) in cases {
            let mut body = start_run();
            spoil(&mut body);
            let err = check_start(2, &body).expect_err(says);
            assert_eq!(err.code, "bad_request");
            assert!(err.message.contains(says), "{err:?}");
        }
    }

    #[test]
    fn a_recorded_config_keeps_no_credential_in_its_url() {
        let config = json!({"repository": {"url": "https://token@github.com/o/r.git"}, "k": 1});
        let recorded = recorded_config(config);
        let url = recorded["repository"]["url"].as_str().expect("a url");
        assert!(!url.contains("token"), "{url}");
        assert_eq!(recorded["k"], 1);
        assert_eq!(recorded_config(json!({"k": 1})), json!({"k": 1}));
    }

    #[test]
    fn a_finish_ends_the_run_and_only_a_success_advances() {
        let finish = |status, advance: Option<Advance>| FinishRun {
            status,
            message: String::new(),
            from_commit: None,
            to_commit: None,
            commits_analyzed: 0,
            metrics: Value::Null,
            model_versions: Value::Null,
            advance,
        };
        let advance = || {
            Some(Advance {
                expected: None,
                to: "a1".repeat(20),
            })
        };
        assert_eq!(
            check_finish(&finish(RunStatus::Succeeded, advance())).ok(),
            Some("succeeded")
        );
        assert_eq!(
            check_finish(&finish(RunStatus::Failed, None)).ok(),
            Some("failed")
        );
        assert!(check_finish(&finish(RunStatus::Running, None)).is_err());
        assert!(check_finish(&finish(RunStatus::Failed, advance())).is_err());
    }
}
