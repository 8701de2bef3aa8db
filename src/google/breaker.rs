//! A circuit breaker: after repeated upstream failures, stop calling Google for a while.
//!
//! Closed: calls flow; `failure_threshold` consecutive upstream failures open it. Open: calls
//! are refused at once with the time left as `Retry-After`. When that time is up, one probe call
//! is let through (half-open): success closes the breaker, failure opens it again.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The breaker's state, as reported to metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// The open period is over: the next call, or the one in flight, is the probe.
    HalfOpen,
}

impl BreakerState {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl Inner {
    /// The state this is, as recorded (an open period that is over still reads open here).
    fn kind(&self) -> BreakerState {
        match self {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

/// Moves the breaker to `next`, counting the transition when the state changes.
fn transition(inner: &mut Inner, next: Inner) {
    let (from, to) = (inner.kind(), next.kind());
    *inner = next;
    if from != to {
        crate::metrics::breaker_transition(to.label());
    }
}

/// Decides whether a call may go to Google.
#[derive(Debug)]
pub struct CircuitBreaker {
    failure_threshold: NonZeroU32,
    open_for: Duration,
    inner: Mutex<Inner>,
}

/// What kind of call an admission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A normal call.
    Call,
    /// The single probe of a half-open breaker.
    Probe,
}

/// Permission to make one call; report how it went with [`Permit::record`].
///
/// A permit dropped without a verdict (the caller gave up, or its future was dropped because
/// the client went away mid-call) abandons the call: an abandoned probe lets the next one
/// through at once, so a half-open breaker can never stay shut for want of a verdict.
#[derive(Debug)]
#[must_use = "a permit dropped unused abandons its call"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    admission: Admission,
    settled: bool,
}

impl Permit<'_> {
    /// What kind of call this is.
    pub fn admission(&self) -> Admission {
        self.admission
    }

    /// Reports the outcome of the call: `failed` means an upstream failure.
    pub fn record(mut self, failed: bool) {
        self.settled = true;
        self.breaker.record(self.admission, failed);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.abandon(self.admission);
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(failure_threshold: NonZeroU32, open_for: Duration) -> Self {
        crate::metrics::breaker_state("closed");
        Self {
            failure_threshold,
            open_for,
            inner: Mutex::new(Inner::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a few integers: a panic elsewhere cannot leave it inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// May a call go out now? `Err(wait)` says how long until the next probe.
    pub fn admit(&self) -> Result<Permit<'_>, Duration> {
        let mut inner = self.lock();
        let admission = match *inner {
            Inner::Closed { .. } => Admission::Call,
            Inner::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                transition(&mut inner, Inner::HalfOpen);
                Admission::Probe
            }
            // The probe is out; everyone else waits for its verdict.
            Inner::HalfOpen => return Err(Duration::from_secs(1)),
        };
        Ok(Permit {
            breaker: self,
            admission,
            settled: false,
        })
    }

    /// Moves the state on the outcome of an admitted call.
    fn record(&self, admission: Admission, failed: bool) {
        let mut inner = self.lock();
        match (&mut *inner, admission, failed) {
            (Inner::HalfOpen, Admission::Probe, false) | (Inner::Closed { .. }, _, false) => {
                transition(
                    &mut inner,
                    Inner::Closed {
                        consecutive_failures: 0,
                    },
                );
            }
            (Inner::HalfOpen, Admission::Probe, true) => {
                let until = Instant::now() + self.open_for;
                transition(&mut inner, Inner::Open { until });
            }
            (
                Inner::Closed {
                    consecutive_failures,
                },
                _,
                true,
            ) => {
                *consecutive_failures += 1;
                if *consecutive_failures >= self.failure_threshold.get() {
                    tracing::warn!(
                        failures = *consecutive_failures,
                        "circuit breaker opened: Google keeps failing"
                    );
                    let until = Instant::now() + self.open_for;
                    transition(&mut inner, Inner::Open { until });
                }
            }
            // Late answers of calls admitted before the state changed do not move it.
            _ => {}
        }
    }

    /// A probe that ended without a verdict lets the next one through.
    fn abandon(&self, admission: Admission) {
        if admission == Admission::Probe {
            let mut inner = self.lock();
            if matches!(*inner, Inner::HalfOpen) {
                transition(
                    &mut inner,
                    Inner::Open {
                        until: Instant::now(),
                    },
                );
            }
        }
    }

    /// The current state. An open breaker whose open period is over is half-open: an idle
    /// replica's breaker must not look open for good just because no call came to probe.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            ref inner => inner.kind(),
        }
    }

    /// How long until the breaker lets a call through again: the rest of its open period
    /// (zero when half-open: a probe may go); None while closed.
    pub fn closes_in(&self) -> Option<Duration> {
        match *self.lock() {
            Inner::Open { until } => Some(until.saturating_duration_since(Instant::now())),
            Inner::HalfOpen => Some(Duration::ZERO),
            Inner::Closed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A breaker that opens after `threshold` failures in a row and probes `cooldown_secs` later.
    fn breaker(threshold: u32, cooldown_secs: u64) -> CircuitBreaker {
        CircuitBreaker::new(
            NonZeroU32::new(threshold).expect("not zero"),
            Duration::from_secs(cooldown_secs),
        )
    }

    /// A breaker that one failure opened for 5 s, once those 5 s are over (it lets a probe in).
    async fn past_its_open_period() -> CircuitBreaker {
        let breaker = breaker(1, 5);
        breaker.admit().unwrap().record(true);
        tokio::time::advance(Duration::from_secs(5)).await;
        breaker
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_closes_after_a_good_probe() {
        let breaker = breaker(3, 10);
        for _ in 0..3 {
            breaker.admit().unwrap().record(true);
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        let wait = breaker.admit().unwrap_err();
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));

        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = breaker.admit().unwrap();
        assert_eq!(probe.admission(), Admission::Probe);
        assert!(breaker.admit().is_err(), "only one probe at a time");
        probe.record(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.admit().unwrap().admission(), Admission::Call);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_reads_half_open_once_its_open_period_is_over() {
        let breaker = breaker(1, 5);
        breaker.admit().unwrap().record(true);
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen, "no call came yet");
        assert_eq!(breaker.state().label(), "half_open");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens() {
        let breaker = past_its_open_period().await;
        breaker.admit().unwrap().record(true);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_without_a_verdict_lets_the_next_one_through() {
        let breaker = past_its_open_period().await;
        let probe = breaker.admit().unwrap();
        assert_eq!(probe.admission(), Admission::Probe);
        // As when actix drops a handler whose client went away in the middle of the call.
        drop(probe);
        let next = breaker
            .admit()
            .expect("a new probe, not a breaker shut for good");
        assert_eq!(next.admission(), Admission::Probe);
        next.record(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_without_a_verdict_does_not_count() {
        let breaker = breaker(2, 5);
        breaker.admit().unwrap().record(true);
        drop(breaker.admit().unwrap());
        breaker.admit().unwrap().record(false);
        breaker.admit().unwrap().record(true);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn successes_reset_the_failure_count() {
        let breaker = breaker(2, 5);
        breaker.admit().unwrap().record(true);
        breaker.admit().unwrap().record(false);
        breaker.admit().unwrap().record(true);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
