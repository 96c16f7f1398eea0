//! The act step of a RepositoryTracker: carries out the [`Action`]s in order and says what got
//! done ([`Done`]). A create the API server refuses (its own 4xx, [`crate::error::refusal`]) is
//! an answer, not an error; any other failure stops the reconcile before its status is
//! written, and the next one decides again.

use gitview_crds::v1alpha1::{Analysis, RepositoryTracker};
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use tracing::{debug, info, warn};

use super::Context;
use super::build;
use super::decide::{self, Action, Done, Rejected};
use crate::error::{Error, Refusal, is_not_found, refusal_of};

/// Carries out `actions` for `tracker`.
pub(super) async fn act(
    tracker: &RepositoryTracker,
    actions: &[Action],
    context: &Context,
    now: Timestamp,
) -> Result<Vec<Done>, Error> {
    let namespace = tracker
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let analyses: Api<Analysis> = Api::namespaced(context.shared.client.clone(), &namespace);
    let mut done = Vec::new();
    for action in actions {
        match action {
            Action::Supersede {
                analysis, branch, ..
            } => {
                if delete(&analyses, analysis).await? {
                    done.push(Done::Superseded {
                        analysis: analysis.clone(),
                        branch: branch.clone(),
                    });
                }
            }
            Action::Create { branch, head } => {
                match create(&analyses, tracker, branch, head).await? {
                    Ok(analysis) => {
                        // Until the cache shows it, the run counts as running (the expectations).
                        context.expect(
                            tracker,
                            decide::just_created(&analysis, branch, head, now.as_second()),
                        );
                        done.push(Done::Created {
                            analysis,
                            branch: branch.clone(),
                        });
                    }
                    Err(rejected) => done.push(Done::Refused {
                        branch: branch.clone(),
                        rejected,
                    }),
                }
            }
            Action::Prune { analysis } => {
                if delete(&analyses, analysis).await? {
                    debug!(
                        namespace,
                        tracker = tracker.name_any(),
                        analysis,
                        "pruned by the history limit"
                    );
                }
            }
        }
    }
    Ok(done)
}

/// Deletes an Analysis; `false` when it was gone already.
async fn delete(api: &Api<Analysis>, name: &str) -> Result<bool, Error> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Creates the branch's Analysis for `head` (or finds it created already); returns its name, or
/// the API server's refusal of it: its template makes an Analysis the API server refuses, or a
/// ResourceQuota counting Analyses is used up.
async fn create(
    api: &Api<Analysis>,
    tracker: &RepositoryTracker,
    branch: &str,
    head: &str,
) -> Result<Result<String, Rejected>, Error> {
    let analysis = build::analysis(tracker, branch, head);
    let name = analysis.name_any();
    match api.create(&PostParams::default(), &analysis).await {
        Ok(_) => info!(analysis = name, branch, head, "created analysis"),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            debug!(analysis = name, "analysis exists already");
        }
        Err(err) => {
            let Some((refusal, status)) = refusal_of(&err) else {
                return Err(err.into());
            };
            warn!(analysis = name, code = status.code, message = %status.message, ?refusal, "the API server refused the tracker's analysis");
            let text = crate::analysis::classify::truncate(&status.message);
            let message = match refusal {
                Refusal::QuotaExceeded => format!(
                    "a ResourceQuota refused Analysis {name}: {text}; tried again on the next poll"
                ),
                Refusal::Invalid => format!(
                    "the API server refused Analysis {name} ({}): {text}; the tracker creates Analyses again when its spec changes",
                    status.code
                ),
            };
            return Ok(Err(Rejected {
                quota_exceeded: refusal == Refusal::QuotaExceeded,
                message,
            }));
        }
    }
    Ok(Ok(name))
}
