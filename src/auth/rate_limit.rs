//! Per-caller limits: a request rate (governor, keyed by the verified `iss` + `sub`).
//!
//! Per replica (see docs/api.md, Callers): with N replicas a caller may reach N times the
//! rate. The daily mail budget is exact across replicas: it is in the store
//! (`invitations::durable`).

use crate::auth::caller::Caller;
use crate::config::LimitSettings;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every this many checks, callers idle long enough to be back at a full bucket are forgotten,
/// so the limiter's memory follows the number of recently active callers.
const RETAIN_EVERY: u64 = 1024;

/// The per-caller limits; `C` is governor's clock (a fake one in tests).
pub struct CallerLimits<C: Clock = DefaultClock> {
    requests: RateLimiter<
        crate::store::Caller,
        DefaultKeyedStateStore<crate::store::Caller>,
        C,
        NoOpMiddleware<<C as Clock>::Instant>,
    >,
    clock: C,
    checks: AtomicU64,
}

impl CallerLimits<DefaultClock> {
    /// Limits with the settings' quotas and the real clock.
    pub fn new(settings: &LimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

/// A caller over its request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Whole seconds until the caller's next request gets through (at least one).
    pub retry_after_secs: u64,
}

impl<C: Clock + Clone> CallerLimits<C> {
    /// Limits with the settings' quotas and a given clock.
    pub fn with_clock(settings: &LimitSettings, clock: C) -> Self {
        let rate = NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Self {
            requests: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request of `caller`; [`RateLimited`] (answered `429 rate_limited` with
    /// `Retry-After`) when over.
    pub fn check_request(&self, caller: &Caller) -> Result<(), RateLimited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.requests.retain_recent();
            self.requests.shrink_to_fit();
        }
        self.requests.check_key(&caller.id).map_err(|not_until| {
            crate::metrics::rate_limited("requests");
            let wait = not_until.wait_time_from(self.clock.now());
            // Round up: a client that waits the whole seconds we name must get through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            RateLimited {
                retry_after_secs: secs.max(1),
            }
        })
    }

    /// How many callers the request limiter currently remembers.
    pub fn tracked_callers(&self) -> usize {
        self.requests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes::ScopeSet;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn caller(sub: &str) -> Caller {
        Caller {
            id: crate::store::Caller::new("iss", sub),
            scopes: ScopeSet::default(),
        }
    }

    fn limits(
        rps: u32,
        burst: u32,
        mails: u32,
    ) -> (CallerLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let settings = LimitSettings {
            requests_per_second: rps,
            burst,
            daily_mails_per_caller: mails,
        };
        (CallerLimits::with_clock(&settings, clock.clone()), clock)
    }

    #[test]
    fn a_caller_over_its_burst_gets_429_with_retry_after_until_the_bucket_refills() {
        let (limits, clock) = limits(1, 2, 0);
        let ada = caller("ada");
        assert!(limits.check_request(&ada).is_ok());
        assert!(limits.check_request(&ada).is_ok());
        let err = crate::error::ApiError::from(limits.check_request(&ada).unwrap_err());
        assert_eq!(err.code(), crate::error::ErrorCode::RateLimited);
        let response = actix_web::ResponseError::error_response(&err);
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
        clock.advance(Duration::from_secs(1));
        assert!(limits.check_request(&ada).is_ok());
    }

    #[test]
    fn the_same_subject_from_another_issuer_is_another_caller() {
        let (limits, _) = limits(1, 1, 0);
        let mut other = caller("ada");
        other.id.iss = "other-iss".into();
        assert!(limits.check_request(&caller("ada")).is_ok());
        assert!(limits.check_request(&other).is_ok());
        assert!(limits.check_request(&caller("ada")).is_err());
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let (limits, clock) = limits(10, 10, 0);
        for i in 0..100 {
            limits.check_request(&caller(&format!("c{i}"))).unwrap();
        }
        assert_eq!(limits.tracked_callers(), 100);
        clock.advance(Duration::from_secs(5));
        for _ in 0..RETAIN_EVERY {
            limits.check_request(&caller("busy")).ok();
        }
        assert!(
            limits.tracked_callers() <= 2,
            "{}",
            limits.tracked_callers()
        );
    }
}
