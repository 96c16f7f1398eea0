//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go does it: a replica
//! acts only while it holds the lease; a lease is taken over only after its record has not
//! changed for `lease_duration` *as observed locally* (no trust in other hosts' clocks); every
//! write is a compare-and-swap on `resourceVersion`, so two replicas never both win.

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::{Error, is_conflict, is_not_found};

/// Timing of the election.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it gives up leadership.
    pub renew_deadline: Duration,
    /// Pause between tries.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The last lease record seen, and when it was first seen locally.
#[derive(Debug)]
struct Observation {
    record: (Option<String>, Option<MicroTime>),
    since: Instant,
}

/// One replica's side of the election.
#[derive(Debug)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    observed: Mutex<Option<Observation>>,
}

impl LeaseLock {
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        timing: Timing,
    ) -> Self {
        Self {
            api,
            name: name.into(),
            identity: identity.into(),
            timing,
            observed: Mutex::new(None),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.timing.lease_duration.as_secs()).ok(),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One try to acquire or renew the lease. `Ok(true)` while this replica holds it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, Error> {
        let now = Timestamp::now();
        let existing = match self.api.get(&self.name).await {
            Ok(lease) => lease,
            Err(err) if is_not_found(&err) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now, None, 0)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(err) if is_conflict(&err) => Ok(false),
                    Err(err) => Err(err.into()),
                };
            }
            Err(err) => return Err(err.into()),
        };
        let spec = existing.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());

        let expired = {
            let mut observed = self.observed.lock().await;
            let fresh = observed.as_ref().is_none_or(|o| o.record != record);
            if fresh {
                *observed = Some(Observation {
                    record,
                    since: Instant::now(),
                });
            }
            let since = observed.as_ref().map_or_else(Instant::now, |o| o.since);
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.timing.lease_duration, Duration::from_secs);
            since.elapsed() >= duration
        };

        let ours = holder.as_deref() == Some(self.identity.as_str());
        if !ours && holder.is_some() && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours {
            spec.acquire_time.clone()
        } else {
            None
        };
        let mut lease = existing;
        lease.spec = Some(self.spec(now, acquired, transitions));
        // `replace` carries the resourceVersion just read: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if !ours {
                    info!(identity = %self.identity, lease = %self.name, "acquired leadership");
                }
                Ok(true)
            }
            Err(err) if is_conflict(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(err) => warn!(error = %err, "leader election: cannot reach the lease"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Keeps renewing; returns when leadership is lost (another holder, or no successful
    /// renewal within `renew_deadline`).
    pub async fn hold(&self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    warn!(identity = %self.identity, "leadership lost: another replica holds the lease");
                    return;
                }
                Err(err) => {
                    warn!(error = %err, "leader election: renewal failed");
                    if last_renewal.elapsed() >= self.timing.renew_deadline {
                        warn!(identity = %self.identity, "leadership lost: renew deadline passed");
                        return;
                    }
                }
            }
        }
    }
}

/// Runs `work` only while holding the lease: waits to acquire it, then runs `work` until it
/// ends or leadership is lost, whichever comes first. Losing leadership drops `work` at once
/// and returns [`Error::LeadershipLost`]; the process should then exit and start over.
pub async fn run_while_leader<F: Future>(
    lock: &LeaseLock,
    on_change: impl Fn(bool),
    work: F,
) -> Result<F::Output, Error> {
    lock.acquire().await;
    on_change(true);
    let result = tokio::select! {
        output = work => Ok(output),
        () = lock.hold() => Err(Error::LeadershipLost),
    };
    on_change(false);
    result
}
