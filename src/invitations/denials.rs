//! Refused requests, folded per (reason, peer, interval) so that a flood writes a handful of
//! records. The store keeps the folds and their counts, shared by every replica; while it cannot
//! answer, a fold kept in this process tells the first denial of a fold from the rest, so an
//! outage floods no log and no audit file either.

use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Most (reason, peer) pairs remembered per interval while the store is down; past it, new
/// peers share one fold per reason, so a flood from many addresses cannot grow memory.
const MAX_LOCAL_FOLDS: usize = 10_000;

/// The peer of the shared fold past [`MAX_LOCAL_FOLDS`].
const OTHER_PEERS: &str = "other";

/// What counting one denial found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenialFold {
    /// The first denial of its (reason, peer, interval): record it in the other sinks; the
    /// rest are only counted.
    pub first: bool,
    /// Counted in the store; false when the store could not answer and this process's fold
    /// stood in (the count of this denial is lost).
    pub stored: bool,
}

/// The folds of the current interval, in this process.
pub(crate) struct LocalFolds {
    interval: Duration,
    state: Mutex<Folds>,
}

#[derive(Default)]
struct Folds {
    interval_start: i64,
    seen: HashSet<(String, String)>,
}

impl LocalFolds {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(Folds::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Folds> {
        // Nothing panics while holding it; a poisoned set is still a valid set.
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// True for the first denial of `reason` from `peer` in the interval holding `now`.
    pub(crate) fn first(&self, reason: &str, peer: &str, now: DateTime<Utc>) -> bool {
        let interval = i64::try_from(self.interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let now = now.timestamp_millis();
        let interval_start = now - now.rem_euclid(interval);
        let mut folds = self.lock();
        if folds.interval_start != interval_start {
            // A new interval: every fold starts again (and the memory is given back).
            folds.interval_start = interval_start;
            folds.seen = HashSet::new();
        }
        let peer = if folds.seen.len() >= MAX_LOCAL_FOLDS {
            OTHER_PEERS
        } else {
            peer
        };
        folds.seen.insert((reason.to_owned(), peer.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_first_denial_per_reason_peer_and_interval_is_told_apart() {
        let folds = LocalFolds::new(Duration::from_secs(60));
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        assert!(folds.first("invalid_token", "203.0.113.7", start));
        assert!(!folds.first("invalid_token", "203.0.113.7", start));
        assert!(folds.first("invalid_token", "203.0.113.8", start));
        assert!(folds.first("rate_limited", "203.0.113.7", start));
        let later = start + chrono::Duration::seconds(59);
        assert!(!folds.first("invalid_token", "203.0.113.7", later));
        let next = start + chrono::Duration::seconds(60);
        assert!(folds.first("invalid_token", "203.0.113.7", next));
    }

    #[test]
    fn past_the_limit_new_peers_share_one_fold() {
        let folds = LocalFolds::new(Duration::from_secs(60));
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        for i in 0..MAX_LOCAL_FOLDS {
            assert!(folds.first("invalid_token", &format!("peer-{i}"), now));
        }
        assert!(folds.first("invalid_token", "one-more", now));
        assert!(!folds.first("invalid_token", "and-another", now));
        assert_eq!(folds.lock().seen.len(), MAX_LOCAL_FOLDS + 1);
    }
}
