//! The AnalysisProfile controller: writes each profile's status — the generation it read, a
//! `Ready` condition, and which runner image and canary new runs get — so that `kubectl get
//! ap` and GitOps health checks show the operator took a change in. It never writes the spec
//! and acts on nothing else: an Analysis reads its profile itself when it starts.
//!
//! Each reconcile: the profile from the watch (through [`DeserializeGuard`],
//! [`crate::guard`]) → its status, a pure function of the profile and the clock ([`status`]) →
//! one server-side apply of the status under the operator's field manager, when it differs.

use std::sync::Arc;

use futures::StreamExt as _;
use gitview_crds::v1alpha1::{API_VERSION, AnalysisProfile, AnalysisProfileStatus, Canary};
use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action as Requeue, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{debug, warn};

use crate::clock::Clock;
use crate::conditions::{self, Summary, reason};
use crate::error::Error;
use crate::metrics::Metrics;

/// What the profile controller needs.
#[expect(
    missing_debug_implementations,
    reason = "kube's Client and Recorder print nothing useful"
)]
pub struct ProfileContext {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
}

/// The status of `profile` at `now`: its generation, `Ready` (with what new runs get in its
/// message), the runner image, and the canary when new runs take one.
pub fn status(profile: &AnalysisProfile, now: Timestamp) -> AnalysisProfileStatus {
    let spec = &profile.spec;
    let canary = spec.canary.clone().filter(|c| c.weight > 0);
    let previous = profile
        .status
        .as_ref()
        .map_or(&[][..], |s| s.conditions.as_slice());
    let summary = Summary {
        ready: true,
        reconciling: false,
        stalled: false,
        reason: reason::RESOLVED,
        message: in_effect(
            &spec.runner.image,
            spec.stages.summarize.model.as_deref(),
            canary.as_ref(),
        ),
    };
    let generation = profile.metadata.generation;
    AnalysisProfileStatus {
        observed_generation: generation,
        conditions: conditions::render_ongoing(&summary, previous, generation, now),
        runner_image: Some(spec.runner.image.clone()),
        canary,
    }
}

/// What new runs get, in words.
fn in_effect(image: &str, model: Option<&str>, canary: Option<&Canary>) -> String {
    let with_model = |model: Option<&str>| model.map(|m| format!(" with model {m}"));
    let mut text = format!(
        "new runs use {image}{}",
        with_model(model).unwrap_or_default()
    );
    if let Some(canary) = canary {
        let what = match (&canary.image, &canary.model) {
            (Some(image), model) => format!(
                "{image}{}",
                with_model(model.as_deref()).unwrap_or_default()
            ),
            (None, Some(model)) => format!("model {model}"),
            (None, None) => "nothing else".to_owned(),
        };
        text.push_str(&format!("; {} % take the canary: {what}", canary.weight));
    }
    text
}

/// Runs the controller until its watch ends. Profiles are cluster-scoped: watched
/// cluster-wide whatever namespaces the operator serves.
pub async fn run(ctx: Arc<ProfileContext>, concurrency: u16) {
    let api = Api::<DeserializeGuard<AnalysisProfile>>::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                debug!(error = %err, "profile controller event");
            }
        })
        .await;
}

async fn reconcile(
    guard: Arc<DeserializeGuard<AnalysisProfile>>,
    ctx: Arc<ProfileContext>,
) -> Result<Requeue, Error> {
    let Some(profile) = crate::guard::valid(&guard, &ctx.recorder).await else {
        return Ok(Requeue::await_change());
    };
    let status = status(profile, (ctx.clock)());
    if profile.status.as_ref() != Some(&status) {
        let patch =
            json!({ "apiVersion": API_VERSION, "kind": "AnalysisProfile", "status": status });
        Api::<AnalysisProfile>::all(ctx.client.clone())
            .patch_status(
                &profile.name_any(),
                &PatchParams::apply(crate::FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    // Its own status write brings one more reconcile, which finds nothing to write.
    Ok(Requeue::await_change())
}

fn error_policy(
    profile: Arc<DeserializeGuard<AnalysisProfile>>,
    err: &Error,
    ctx: Arc<ProfileContext>,
) -> Requeue {
    let class = err.class();
    warn!(profile = profile.name_any(), error = %err, class = class.as_str(), "profile reconcile failed");
    ctx.metrics.observe_error("analysisprofile", class);
    Requeue::requeue(class.requeue_after())
}

#[cfg(test)]
mod tests {
    use gitview_crds::v1alpha1::Canary;

    use super::*;
    use crate::conditions::{READY, RECONCILING, STALLED};
    use crate::fixtures::{RUNNER_IMAGE, at, profile};

    fn condition(status: &AnalysisProfileStatus, type_: &str) -> (String, String) {
        conditions::find(&status.conditions, type_)
            .map(|c| (c.status.clone(), c.reason.clone()))
            .unwrap_or_default()
    }

    #[test]
    fn a_profile_is_ready_with_its_generation_and_runner_image() {
        let mut p = profile();
        p.metadata.generation = Some(3);
        let s = status(&p, at(0));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.runner_image.as_deref(), Some(RUNNER_IMAGE));
        assert_eq!(s.canary, None);
        assert_eq!(
            condition(&s, READY),
            ("True".into(), reason::RESOLVED.into())
        );
        assert_eq!(condition(&s, RECONCILING).0, "False");
        assert_eq!(condition(&s, STALLED).0, "False");
        assert_eq!(
            conditions::find(&s.conditions, READY).map(|c| c.message.as_str()),
            Some(format!("new runs use {RUNNER_IMAGE}").as_str())
        );
    }

    #[test]
    fn the_canary_shows_while_runs_take_it() {
        let mut p = profile();
        p.spec.stages.summarize.model = Some("m1".into());
        p.spec.canary = Some(Canary {
            image: Some("runner:next".into()),
            model: None,
            weight: 20,
        });
        let s = status(&p, at(0));
        assert_eq!(s.canary, p.spec.canary);
        let ready = conditions::find(&s.conditions, READY).unwrap();
        assert_eq!(
            ready.message,
            format!("new runs use {RUNNER_IMAGE} with model m1; 20 % take the canary: runner:next")
        );
        // Weight 0: no run takes it, so none is in effect.
        p.spec.canary = Some(Canary {
            image: None,
            model: Some("m2".into()),
            weight: 0,
        });
        assert_eq!(status(&p, at(0)).canary, None);
    }

    #[test]
    fn a_status_already_written_is_the_same_status_later() {
        let mut p = profile();
        p.metadata.generation = Some(1);
        p.status = Some(status(&p, at(0)));
        // Nothing changed: the same status, the transition time kept, so no write.
        assert_eq!(p.status, Some(status(&p, at(600))));
        // A new generation moves observedGeneration, not the time Ready became true.
        p.metadata.generation = Some(2);
        let next = status(&p, at(600));
        assert_eq!(next.observed_generation, Some(2));
        assert_eq!(
            conditions::find(&next.conditions, READY).map(|c| c.last_transition_time.clone()),
            conditions::find(&p.status.as_ref().unwrap().conditions, READY)
                .map(|c| c.last_transition_time.clone())
        );
    }
}
