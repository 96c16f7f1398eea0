//! The act step: carries out a [`Plan`] — actions that the status will claim first, then the
//! status (one server-side apply), then the actions that must not happen unrecorded, then
//! the Events. When the API server refuses what starting an attempt creates, it stops there
//! and hands the refusal back ([`Acted::Refused`]) for the plan to be decided again.

use std::collections::BTreeMap;

use gitview_core::token::TokenClaims;
use gitview_crds::labels;
use gitview_crds::v1alpha1::{API_VERSION, Analysis, AnalysisProfile};
use gitview_crds::wire::keys;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::Context;
use super::build::{self, AttemptInputs};
use super::decide::{Action, AttemptStart, Plan, Refused};
use super::observe::Snapshot;
use crate::error::{Error, is_conflict, is_not_found, refusal_of};

/// What carrying out a plan came to.
#[derive(Debug)]
pub enum Acted {
    /// Every action was taken, the status written and the Events published.
    Done,
    /// The API server refused what starting the attempt created (and its Secret is deleted
    /// again). Nothing after it was done: the plan's status claims an attempt that never
    /// started.
    Refused(Refused),
}

/// Carries out a plan.
pub async fn act(
    an: &Analysis,
    plan: Plan,
    snapshot: &Snapshot,
    ctx: &Context,
    now: Timestamp,
) -> Result<Acted, Error> {
    let namespace = an
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = an.name_any();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let analyses: Api<Analysis> = Api::namespaced(ctx.client.clone(), &namespace);

    for action in &plan.before_status {
        if let Some(refused) =
            execute(action, an, snapshot, ctx, now, &pods, &secrets, &analyses).await?
        {
            return Ok(Acted::Refused(refused));
        }
    }
    if let Some(status) = plan
        .status
        .as_ref()
        .filter(|s| an.status.as_ref() != Some(*s))
    {
        let patch = json!({ "apiVersion": API_VERSION, "kind": "Analysis", "status": status });
        analyses
            .patch_status(
                &name,
                &PatchParams::apply(crate::FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    for action in &plan.after_status {
        if let Some(refused) =
            execute(action, an, snapshot, ctx, now, &pods, &secrets, &analyses).await?
        {
            return Ok(Acted::Refused(refused));
        }
    }
    crate::events::publish(
        &ctx.recorder,
        &an.object_ref(&()),
        "Reconcile",
        &plan.events,
    )
    .await;
    Ok(Acted::Done)
}

/// Takes one action; `Some` when the API server refused what it created.
#[expect(
    clippy::too_many_arguments,
    reason = "the namespaced APIs are built once per reconcile"
)]
async fn execute(
    action: &Action,
    an: &Analysis,
    snapshot: &Snapshot,
    ctx: &Context,
    now: Timestamp,
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
    analyses: &Api<Analysis>,
) -> Result<Option<Refused>, Error> {
    let done = match action {
        Action::StartAttempt(start) => {
            let profile = snapshot.profile().ok_or(Error::MissingField("profile"))?;
            return start_attempt(an, start, profile, ctx, now, pods, secrets).await;
        }
        Action::DeleteSecret(name) => ignore_not_found(
            secrets
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ()),
        ),
        Action::DeletePod(name) => {
            info!(pod = %name, "deleting runner pod");
            ignore_not_found(
                pods.delete(name, &DeleteParams::background())
                    .await
                    .map(|_| ()),
            )
        }
        Action::ReleasePod(name) => match snapshot.pod(name) {
            Some(pod) => release_pod(pods, pod).await,
            None => Ok(()),
        },
        Action::DeleteAnalysis => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: an.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            info!("deleting the Analysis: ttlSecondsAfterFinished passed");
            ignore_not_found(analyses.delete(&an.name_any(), &params).await.map(|_| ()))
        }
    };
    done.map(|()| None)
}

/// Removes the operator's finalizer from a runner pod (a no-op when it carries none, or is
/// gone). The patch carries the pod's resourceVersion, making it a compare-and-swap: another
/// writer's finalizer is never lost, and a stale read fails with a conflict and is retried.
pub async fn release_pod(pods: &Api<Pod>, pod: &Pod) -> Result<(), Error> {
    let finalizers = pod.finalizers();
    if !finalizers.iter().any(|f| f == labels::POD_FINALIZER) {
        return Ok(());
    }
    let remaining: Vec<&String> = finalizers
        .iter()
        .filter(|f| *f != labels::POD_FINALIZER)
        .collect();
    let patch = json!({ "metadata": { "finalizers": remaining, "resourceVersion": pod.resource_version() } });
    ignore_not_found(
        pods.patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ()),
    )
}

fn ignore_not_found(result: Result<(), kube::Error>) -> Result<(), Error> {
    match result {
        Err(err) if is_not_found(&err) => Ok(()),
        other => other.map_err(Error::from),
    }
}

/// Whether the attempt's runner scrubs PII before anything is stored: the account's policy as
/// the gateway holds it, the same one its read routes follow. A gateway that does not answer
/// holds the attempt back (its runner could not write anyway); without a gateway client (it
/// could not be built at start-up, which is logged) the attempt scrubs, as a missing policy does.
async fn scrubs_pii(ctx: &Context, account: &str) -> Result<bool, Error> {
    match &ctx.gateway {
        Some(gateway) => gateway.scrubs_pii(account).await.map_err(Error::Policy),
        None => Ok(true),
    }
}

async fn start_attempt(
    an: &Analysis,
    start: &AttemptStart,
    profile: &AnalysisProfile,
    ctx: &Context,
    now: Timestamp,
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
) -> Result<Option<Refused>, Error> {
    let namespace = an
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let ns: Namespace = Api::<Namespace>::all(ctx.client.clone())
        .get(&namespace)
        .await?;
    let account = crate::account::of(&ns);
    let scrub_pii = scrubs_pii(ctx, &account).await?;
    let credentials = copy_credentials(an, secrets).await?;
    // Held until the pod exists, so a sibling attempt cannot take the same clone cache.
    let clone_cache = crate::clone_cache::for_attempt(an, &ctx.client).await?;

    let inputs = AttemptInputs {
        analysis: an,
        attempt: start.number,
        resolved: &start.resolved,
        profile: &profile.spec,
        deadline_seconds: start.deadline_seconds,
        resources: start.resources.clone(),
        settings: &ctx.settings,
        clone_cache: clone_cache.as_ref(),
    };
    let deadline = now + SignedDuration::from_secs(start.deadline_seconds);
    let expires = deadline
        + SignedDuration::try_from(ctx.settings.token_grace).unwrap_or(SignedDuration::ZERO);
    let config = build::run_config(&inputs, &account, scrub_pii, deadline)?;
    let uid = an.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let token = ctx.signer.sign(&TokenClaims::runner(
        &account,
        &uid,
        start.number,
        now,
        expires,
    ))?;
    let secret = build::run_secret(&inputs, &config, &token, credentials, expires)?;
    if let Some(refused) = refused(
        create_owned(secrets, &secret, &uid).await,
        "Secret",
        &secret.name_any(),
    )? {
        return Ok(Some(refused));
    }
    let pod = build::runner_pod(&inputs)?;
    if let Some(refused) = refused(create_owned(pods, &pod, &uid).await, "Pod", &pod.name_any())? {
        // The attempt never starts: its Secret, with the signed token in it, goes now rather
        // than when the janitor finds it expired.
        ignore_not_found(
            secrets
                .delete(&secret.name_any(), &DeleteParams::default())
                .await
                .map(|_| ()),
        )?;
        return Ok(Some(refused));
    }
    info!(attempt = start.number, pod = %pod.name_any(), image = %start.resolved.runner_image, "started attempt");
    if let Some(created) = an.creation_timestamp().filter(|_| start.number == 1) {
        ctx.metrics
            .observe_pod_latency(now.duration_since(created.0));
    }
    Ok(None)
}

/// A create's outcome as the decide step needs it: the API server's refusal of the object
/// ([`crate::error::refusal`]) is an answer, not an error to retry in 5 s; anything else that
/// failed stays an error.
fn refused(
    created: Result<(), Error>,
    kind: &'static str,
    name: &str,
) -> Result<Option<Refused>, Error> {
    let Err(Error::Kube(err)) = created else {
        return created.map(|()| None);
    };
    let Some((refusal, status)) = refusal_of(&err) else {
        return Err(Error::Kube(err));
    };
    warn!(kind, name, code = status.code, message = %status.message, ?refusal, "the API server refused what the attempt needs");
    Ok(Some(Refused {
        kind,
        name: name.to_owned(),
        code: status.code,
        message: status.message.clone(),
        refusal,
    }))
}

/// Creates an object; one that already exists and belongs to the same Analysis (a repeated
/// reconcile) counts as created.
async fn create_owned<K>(api: &Api<K>, object: &K, uid: &str) -> Result<(), Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(err) if is_conflict(&err) => {
            let existing = api.get(&object.name_any()).await?;
            if existing
                .labels()
                .get(labels::ANALYSIS_UID)
                .map(String::as_str)
                == Some(uid)
            {
                Ok(())
            } else {
                Err(err.into())
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Copies the referenced git and LLM credentials into the keys the runner reads
/// ([`crate::credentials`]).
async fn copy_credentials(
    an: &Analysis,
    secrets: &Api<Secret>,
) -> Result<BTreeMap<String, ByteString>, Error> {
    let missing = |err: crate::credentials::MissingKey| Error::Config(err.to_string());
    let mut out = BTreeMap::new();
    if let Some(reference) = &an.spec.repository.source.credentials_secret {
        let data = secrets.get(&reference.name).await?.data.unwrap_or_default();
        out = crate::credentials::git(reference, &data).map_err(missing)?;
    }
    if let Some(reference) = an
        .spec
        .run
        .llm
        .as_ref()
        .and_then(|l| l.credentials_secret.as_ref())
    {
        let data = secrets.get(&reference.name).await?.data.unwrap_or_default();
        let key = crate::credentials::llm_api_key(reference, &data).map_err(missing)?;
        out.insert(keys::LLM_API_KEY.to_owned(), key);
    }
    Ok(out)
}
