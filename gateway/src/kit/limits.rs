//! Per-API-key rate limits on the read API, with the IETF draft's headers
//! (`draft-ietf-httpapi-ratelimit-headers`: `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset`) and `Retry-After` on a 429.
//!
//! Each key gets a bucket of `burst` requests that refills at `per_second`: the generic cell
//! rate algorithm (GCRA) of the `governor` crate, keyed by the API key's row id. The key is
//! resolved first (a key's public id is public, so limiting by it would let anyone drain
//! another key's budget with a wrong secret), then checked here by `admit`, which the
//! [`crate::kit::guard::Reader`] extractor calls. The decision travels back to the `headers`
//! layer in a [`Slot`] in the request's extensions, so every answer on a keyed route — the
//! handler's success, its 404, and the 429 itself — carries the headers.
//!
//! Runner tokens are not limited: the operator signs them for its own pods, one analysis and
//! attempt each, short-lived; the body limit bounds each request and the ingest path is
//! meant to run near the database's speed, which a per-analysis budget would only slow.
//! The admin path is not limited either (one token, held by operators).
//!
//! The state holds one small entry per key seen recently, and only resolved keys get one, so
//! it is bounded by the number of keys; entries whose bucket is full again are dropped every
//! [`EVICT_EVERY`] checks.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

/// The serve command's defaults: 50 requests a second, 100 at once.
pub const DEFAULT_PER_SECOND: u32 = 50;
pub const DEFAULT_BURST: u32 = 100;

/// Full buckets are dropped from the state every this many checks.
pub const EVICT_EVERY: u64 = 4096;

/// The header names (the IETF draft's, and HTTP's `Retry-After`).
pub const LIMIT: &str = "ratelimit-limit";
pub const REMAINING: &str = "ratelimit-remaining";
pub const RESET: &str = "ratelimit-reset";

/// A budget per key: `per_second` requests a second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `None` (no limit) when `per_second` is 0; a `burst` of 0 is taken as 1.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        Some(Self {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The limiter's time: the process' monotonic clock, or (for tests) one that moves only when
/// [`LimitClock::advance`]d.
#[derive(Debug, Clone)]
pub struct LimitClock {
    started: Option<Instant>,
    advanced_nanos: Arc<AtomicU64>,
}

impl LimitClock {
    pub fn system() -> Self {
        Self {
            started: Some(Instant::now()),
            advanced_nanos: Arc::default(),
        }
    }

    /// A clock that stands still until advanced: tests decide when a budget refills.
    pub fn manual() -> Self {
        Self {
            started: None,
            advanced_nanos: Arc::default(),
        }
    }

    /// Moves the clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.advanced_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Clock for LimitClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let real = self.started.map(|t| t.elapsed()).unwrap_or_default();
        real.saturating_add(Duration::from_nanos(
            self.advanced_nanos.load(Ordering::Relaxed),
        ))
    }
}

/// What one check decided: the values of the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The burst: how many requests the key may make at once.
    pub limit: u32,
    /// How many more it may make now.
    pub remaining: u32,
    /// Seconds until the whole burst is available again (rounded up).
    pub reset: u64,
    /// On a refusal: seconds until one request is admitted again (rounded up, at least 1).
    pub retry_after: Option<u64>,
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

type Keyed = RateLimiter<i64, HashMapStateStore<i64>, LimitClock, StateInformationMiddleware>;

/// The per-key limiter.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    keyed: Keyed,
    clock: LimitClock,
    checks: AtomicU64,
}

impl Limiter {
    pub fn new(limit: RateLimit, clock: LimitClock) -> Self {
        Self {
            limit,
            keyed: Keyed::new(limit.quota(), HashMapStateStore::default(), clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one request from `key`'s budget, if it has one left.
    pub fn check(&self, key: i64) -> Decision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            self.keyed.retain_recent();
            self.keyed.shrink_to_fit();
        }
        let burst = self.limit.burst.get();
        let interval = self.limit.quota().replenish_interval();
        match self.keyed.check_key(&key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity().min(burst);
                // The bucket refills one request per interval: at most this long until full
                // (GCRA keeps the exact time privately; this bound is within one interval).
                Decision {
                    limit: burst,
                    remaining,
                    reset: ceil_seconds(interval.saturating_mul(burst - remaining)),
                    retry_after: None,
                }
            }
            Err(refused) => {
                let wait = refused.wait_time_from(self.clock.now());
                Decision {
                    limit: burst,
                    remaining: 0,
                    reset: ceil_seconds(wait + interval.saturating_mul(burst - 1)),
                    retry_after: Some(ceil_seconds(wait).max(1)),
                }
            }
        }
    }
}

/// Where a keyed route's extractor leaves its decision for `headers`.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<OnceLock<Decision>>);

/// Checks the resolved key's budget (when limits are on), leaves the decision for the
/// headers, and refuses with 429 when the budget is spent.
pub(crate) fn admit(limiter: Option<&Limiter>, parts: &Parts, key: i64) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    let decision = limiter.check(key);
    if let Some(slot) = parts.extensions.get::<Slot>() {
        // Set once per request: a handler takes one Reader.
        let _ = slot.0.set(decision);
    }
    match decision.retry_after {
        None => Ok(()),
        Some(seconds) => {
            let limit = limiter.limit();
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this API key is over its rate limit ({} requests per second, bursts of {}); retry after {seconds} s",
                    limit.per_second, limit.burst
                ),
            ))
        }
    }
}

/// Around every route: gives the request a [`Slot`], and answers with the rate-limit headers
/// when a keyed extractor filled it.
pub(crate) async fn headers(mut request: Request, next: Next) -> Response {
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(decision) = slot.0.get() {
        let headers = response.headers_mut();
        let mut put = |name: &'static str, value: u64| {
            headers.insert(name, HeaderValue::from(value));
        };
        put(LIMIT, decision.limit.into());
        put(REMAINING, decision.remaining.into());
        put(RESET, decision.reset);
        if let Some(seconds) = decision.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> (Limiter, LimitClock) {
        let clock = LimitClock::manual();
        let limit = RateLimit::new(per_second, burst).expect("a limit");
        (Limiter::new(limit, clock.clone()), clock)
    }

    #[test]
    fn zero_disables_and_burst_is_at_least_one() {
        assert_eq!(RateLimit::new(0, 100), None);
        assert_eq!(
            RateLimit::new(5, 0).map(|l| l.burst.get()),
            Some(1),
            "a zero burst admits one request at a time"
        );
    }

    #[test]
    fn a_burst_counts_down_then_refuses_until_retry_after() {
        let (limiter, clock) = limiter(2, 3);
        let remaining: Vec<u32> = (0..3).map(|_| limiter.check(1).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(1);
        assert_eq!(
            (refused.remaining, refused.retry_after, refused.reset),
            (0, Some(1), 2),
            "{refused:?}"
        );
        // Another key has its own budget.
        assert_eq!(limiter.check(2).remaining, 2);
        // Half a second refills one request (2 per second): still a whole second to wait.
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(1).retry_after, None);
        assert!(limiter.check(1).retry_after.is_some());
        // After the reset the whole burst is back.
        clock.advance(Duration::from_secs(2));
        assert_eq!(limiter.check(1).remaining, 2);
    }

    #[test]
    fn reset_bounds_the_time_to_a_full_bucket() {
        let (limiter, clock) = limiter(50, 100);
        let first = limiter.check(7);
        assert_eq!((first.limit, first.remaining, first.reset), (100, 99, 1));
        for _ in 0..99 {
            limiter.check(7);
        }
        let refused = limiter.check(7);
        assert_eq!(refused.retry_after, Some(1));
        clock.advance(Duration::from_secs(refused.reset));
        assert_eq!(limiter.check(7).remaining, 99);
    }

    #[test]
    fn full_buckets_are_evicted() {
        let (limiter, clock) = limiter(1000, 1);
        for key in 0..10 {
            limiter.check(key);
        }
        clock.advance(Duration::from_secs(1));
        for _ in 0..EVICT_EVERY {
            limiter.check(-1);
        }
        assert!(limiter.keyed.len() <= 2, "{}", limiter.keyed.len());
    }
}
