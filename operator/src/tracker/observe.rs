//! The observe step of a RepositoryTracker: its runs from the watch cache (and those created
//! but not cached yet), the webhook path its secret gives, the remote's branches when a poll
//! is due ([`decide::poll_due`], [`super::poll`]), and, for heads that moved past what the
//! tracker knows, where the gateway says the branch was last analyzed. Failures to read are
//! observations too (a failed poll, an unreadable secret): the decide step says what they mean.

use std::collections::BTreeMap;

use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker};
use jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use tracing::{debug, info, warn};

use super::decide::{self, Observed, Owned, Webhook};
use super::{Context, poll, webhook};

/// Observes a tracker at `now`. A suspended tracker is not looked at: nothing is read.
pub(super) async fn observe<'a>(
    tracker: &'a RepositoryTracker,
    context: &Context,
    now: Timestamp,
) -> Observed<'a> {
    let mut observed = Observed {
        tracker,
        now,
        webhook: Webhook::NotRead,
        listed: None,
        owned: Vec::new(),
        gateway: BTreeMap::new(),
    };
    if tracker.spec.suspend {
        return observed;
    }
    let ctx = &context.shared;
    let (namespace, name) = (tracker.namespace().unwrap_or_default(), tracker.name_any());

    observed.webhook = match webhook::secret_of(&ctx.client, tracker).await {
        Ok(Some(secret)) => Webhook::Path(format!(
            "/hooks/{namespace}/{name}/{}",
            webhook::path_token(&secret, &tracker.uid().unwrap_or_default())
        )),
        Ok(None) => Webhook::None,
        Err(err) => {
            warn!(namespace, tracker = name, error = %err, "cannot read the webhook secret");
            Webhook::NotRead
        }
    };
    if decide::poll_due(tracker, now) {
        let listed = poll::poll(&ctx.client, tracker, &ctx.default_profile).await;
        let polled = decide::heads(tracker, Some(&listed));
        if listed.is_ok() && polled != decide::heads(tracker, None) {
            info!(
                namespace,
                tracker = name,
                branches = polled.len(),
                "branch heads moved"
            );
        }
        observed.listed = Some(listed);
    }
    observed.owned = context.runs(tracker);

    // The gateway knows runs the tracker does not own (an Analysis applied by hand).
    let Some(gateway) = &ctx.gateway else {
        return observed;
    };
    let heads = decide::heads(tracker, observed.listed.as_ref());
    let questions = decide::gateway_questions(tracker, &heads, &observed.owned);
    if questions.is_empty() {
        return observed;
    }
    let account = match ctx.accounts.get(&ctx.client, &namespace).await {
        Ok(account) => account,
        Err(err) => {
            debug!(namespace, tracker = name, error = %err, "cannot read the namespace's account");
            return observed;
        }
    };
    for branch in questions {
        match gateway
            .last_analyzed(&account, &tracker.spec.repository.url, &branch)
            .await
        {
            Ok(Some(commit)) => {
                observed.gateway.insert(branch, commit);
            }
            Ok(None) => {}
            Err(err) => {
                debug!(namespace, tracker = name, branch, error = %err, "cannot ask the gateway; the tracker's own runs decide");
            }
        }
    }
    observed
}

/// The tracker's Analyses in the cache: those it owns that carry their branch and head.
pub(super) fn owned_of(
    store: &Store<DeserializeGuard<Analysis>>,
    tracker: &RepositoryTracker,
) -> Vec<Owned> {
    let uid = tracker.uid();
    let cached = store.state();
    cached
        .iter()
        .filter_map(|guard| crate::guard::ok(guard))
        .filter(|a| {
            a.namespace() == tracker.namespace()
                && a.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|a| {
            let annotations = a.annotations();
            let status = a.status.as_ref();
            let phase = status.and_then(|s| s.phase);
            Some(Owned {
                name: a.name_any(),
                branch: annotations.get(labels::BRANCH)?.clone(),
                head: annotations.get(labels::HEAD_COMMIT)?.clone(),
                finished: phase.is_some_and(AnalysisPhase::is_finished),
                succeeded: phase == Some(AnalysisPhase::Succeeded),
                to_commit: status
                    .and_then(|s| s.result.as_ref())
                    .and_then(|r| r.to_commit.clone()),
                created: a.creation_timestamp().map_or(0, |t| t.0.as_second()),
            })
        })
        .collect()
}
