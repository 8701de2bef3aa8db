//! Readiness: what `/readyz` reports, fed by the parts that must be ready before traffic.
//!
//! Each check is an atomic that its owner updates (the Google credentials after a token was
//! obtained, the caller keys after they loaded, startup when draining begins); the probe only
//! reads them, so it never calls anything per probe.
//!
//! Shutdown also sets the instant after which no new call to Google may start (the Google
//! client reads it before every attempt): a call started later could be cut off by the forced
//! stop halfway, leaving a send whose outcome nobody learns.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::time::Instant;

/// The state of one readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// Not yet known (e.g. no token obtained yet).
    Pending,
    /// Working.
    Ready,
    /// Failed in a way that needs an operator.
    Failed,
}

impl CheckState {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => CheckState::Ready,
            2 => CheckState::Failed,
            _ => CheckState::Pending,
        }
    }

    /// Lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Ready => "ready",
            CheckState::Failed => "failed",
        }
    }
}

/// One check, updated by its owner.
#[derive(Debug, Default)]
pub struct Check(AtomicU8);

impl Check {
    /// Records the check's new state.
    pub fn set(&self, state: CheckState) {
        let value = match state {
            CheckState::Pending => 0,
            CheckState::Ready => 1,
            CheckState::Failed => 2,
        };
        self.0.store(value, Ordering::Release);
    }

    /// The check's current state.
    pub fn get(&self) -> CheckState {
        CheckState::from_u8(self.0.load(Ordering::Acquire))
    }
}

/// Everything `/readyz` looks at.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Google credentials: a token was obtained and the last refresh did not fail for good.
    pub credentials: Check,
    /// Caller JWT keys are loaded.
    pub caller_keys: Check,
    /// The store answered its last ping or call. Reported, but not a blocker once it has
    /// answered once: reads need only Google, and send and cancel refuse on their own
    /// (`503 store_unavailable`) while it is down.
    pub store: Check,
    draining: AtomicBool,
    upstream_deadline: OnceLock<Instant>,
}

impl Readiness {
    /// Marks the process as shutting down: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// No call to Google may start at or after `deadline`; the first deadline set wins.
    pub fn stop_upstream_calls_at(&self, deadline: Instant) {
        // A second signal must not extend the promise made by the first.
        let _ = self.upstream_deadline.set(deadline);
    }

    /// True once the upstream deadline has passed: new calls to Google are refused.
    pub fn upstream_calls_stopped(&self) -> bool {
        self.upstream_deadline
            .get()
            .is_some_and(|deadline| Instant::now() >= *deadline)
    }

    /// The checks that are not ready, as `name: state` strings; empty when ready.
    pub fn blockers(&self) -> Vec<String> {
        let mut blockers = Vec::new();
        if self.is_draining() {
            blockers.push("draining".to_owned());
        }
        for (name, check) in [
            ("credentials", &self.credentials),
            ("caller_keys", &self.caller_keys),
        ] {
            let state = check.get();
            if state != CheckState::Ready {
                blockers.push(format!("{name}: {}", state.as_str()));
            }
        }
        if self.store.get() == CheckState::Pending {
            blockers.push("store: pending".to_owned());
        }
        blockers
    }

    /// Each check's name and current state (`pending`, `ready`, `failed`), for the metrics.
    pub fn check_states(&self) -> [(&'static str, &'static str); 3] {
        [
            ("credentials", self.credentials.get().as_str()),
            ("caller_keys", self.caller_keys.get().as_str()),
            ("store", self.store.get().as_str()),
        ]
    }

    /// Checks that failed without stopping traffic, as `name: state` strings (the store).
    pub fn degraded(&self) -> Vec<String> {
        match self.store.get() {
            CheckState::Failed => vec!["store: failed".to_owned()],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_is_ready_and_not_draining() {
        let readiness = Readiness::default();
        assert_eq!(
            readiness.blockers(),
            vec![
                "credentials: pending",
                "caller_keys: pending",
                "store: pending"
            ]
        );
        readiness.credentials.set(CheckState::Ready);
        readiness.caller_keys.set(CheckState::Ready);
        readiness.store.set(CheckState::Ready);
        assert!(readiness.blockers().is_empty());
        readiness.store.set(CheckState::Failed);
        assert!(
            readiness.blockers().is_empty(),
            "a failing store keeps reads going"
        );
        assert_eq!(readiness.degraded(), vec!["store: failed"]);
        readiness.start_draining();
        assert_eq!(readiness.blockers(), vec!["draining"]);
    }

    #[tokio::test(start_paused = true)]
    async fn upstream_calls_stop_at_the_deadline_and_the_first_deadline_wins() {
        let readiness = Readiness::default();
        assert!(!readiness.upstream_calls_stopped());
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        readiness.stop_upstream_calls_at(deadline);
        readiness.stop_upstream_calls_at(deadline + std::time::Duration::from_secs(60));
        assert!(!readiness.upstream_calls_stopped());
        tokio::time::advance(std::time::Duration::from_secs(10)).await;
        assert!(readiness.upstream_calls_stopped());
    }
}
