//! The store's notion of now: the system clock, or a manual one that tests move.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the store reads the time; every lease, expiry and refill is computed from it.
///
/// A manual clock only moves when told to: [`Clock::advance`], or a wait ([`Clock::sleep_until`])
/// that jumps to its end at once, so tests drive leases and refills without sleeping.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The wall clock; waits sleep on tokio's timer.
    System,
    /// A clock that tests set and advance; clones share the same time.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Clock::System
    }

    /// A manual clock standing at `start`.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    /// Now, and when a lease of `lease` taken now runs out (epoch milliseconds, as stored).
    pub(crate) fn lease(&self, lease: Duration) -> (i64, i64) {
        let now = to_millis(self.now());
        (now, now.saturating_add(duration_millis(lease)))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(now) => *now
                .lock()
                .expect("manual clock mutex poisoned: nothing panics while holding it"),
        }
    }

    /// Moves a manual clock forward by `by`; the system clock cannot be moved (no-op).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(now) = self {
            let mut now = now
                .lock()
                .expect("manual clock mutex poisoned: nothing panics while holding it");
            *now += chrono::Duration::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        }
    }

    /// Waits until `when`: sleeps on the system clock; a manual clock jumps there at once.
    pub async fn sleep_until(&self, when: DateTime<Utc>) {
        match self {
            Clock::System => {
                let wait = (when - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await;
            }
            Clock::Manual(now) => {
                {
                    let mut now = now
                        .lock()
                        .expect("manual clock mutex poisoned: nothing panics while holding it");
                    if *now < when {
                        *now = when;
                    }
                }
                // Let the tasks that the jump released run before this one goes on.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// A fresh token naming one holder of a lease (a claim, a walk, an idempotent request's run).
pub(crate) fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Milliseconds since the epoch: the one time format in the tables (portable, orderable).
pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values (never written by the store) clamp.
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A duration in whole milliseconds, saturating (a lease of centuries is still a lease).
pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
