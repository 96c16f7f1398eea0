//! One data policy per account: what the runner stores scrubbed is what the account's policy on
//! the gateway says, the policy its read routes follow too — not an annotation on the
//! namespace.

use std::sync::Arc;

use anyhow::{Context as _, ensure};
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase};

use super::{Env, GATEWAY_ADMIN_TOKEN, await_analysis, image};

const RUN: std::time::Duration = std::time::Duration::from_secs(90);

/// The author email the suite's repositories are committed with (`support::git`).
const AUTHOR_EMAIL: &str = "ada@example.com";

pub async fn the_account_policy_decides_what_the_runner_stores(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    // Two repositories: the gateway stores a repository's commits once, by the run that stored
    // them first.
    let (first, second) = (format!("{ns}-kept"), format!("{ns}-scrubbed"));
    env.git.create(&first, 3)?;
    env.git.create(&second, 3)?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-real}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::RUNNER
    ))?;
    // The annotation that once decided says the opposite of the policy each time: it must not
    // matter any more.
    env.kubectl_ok(&["annotate", "namespace", &ns, "gitview.dev/scrub-pii=true"])?;
    let set_policy = |scrub: bool| -> anyhow::Result<()> {
        let (code, body) = env.gateway(
            "PUT",
            &format!("/v1/admin/accounts/{ns}/policy"),
            GATEWAY_ADMIN_TOKEN,
            Some(&serde_json::json!({ "scrubPii": scrub })),
        )?;
        ensure!(
            code == 200 && body["scrubPii"] == scrub,
            "setting the policy: {code} {body}"
        );
        Ok(())
    };
    let run = |name: &'static str, repository: &str| {
        let (env, ns, url) = (env.clone(), ns.clone(), env.git.url(repository));
        async move {
            env.apply(&format!(
                "apiVersion: gitview.dev/v1alpha1\nkind: Analysis\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  \
                 repository: {{url: \"{url}\", ref: main}}\n  profile: {ns}-real\n  mode: {{type: Full}}\n"
            ))?;
            let an = await_analysis(&env.client, &ns, name, RUN, "Succeeded", |an: &Analysis| {
                an.status
                    .as_ref()
                    .is_some_and(|s| s.phase == Some(AnalysisPhase::Succeeded))
            })
            .await?;
            let uid = an.metadata.uid.context("uid")?;
            // As stored, read as the superuser: the gateway's read-side scrubbing plays no part.
            let emails: Vec<String> = env
                .sql_column(
                    "SELECT DISTINCT author_email FROM commits WHERE analysis_id = $1",
                    &uid,
                )
                .await?;
            anyhow::Ok(emails)
        }
    };

    // The policy keeps emails: the runner stores them as they are, the annotation
    // notwithstanding.
    set_policy(false)?;
    let kept = run("kept", &first).await?;
    ensure!(
        kept == [AUTHOR_EMAIL],
        "with scrubPii off the runner stored {kept:?}"
    );

    // The policy scrubs: the runner hashes them before they are stored.
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "namespace",
        &ns,
        "gitview.dev/scrub-pii=false",
    ])?;
    set_policy(true)?;
    let scrubbed = run("scrubbed", &second).await?;
    ensure!(
        scrubbed.len() == 1 && scrubbed[0].ends_with("@scrubbed.invalid"),
        "with scrubPii on the runner stored {scrubbed:?}"
    );
    Ok(())
}
