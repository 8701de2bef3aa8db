//! The shutdown sequence, and the arithmetic that bounds it.
//!
//! On SIGTERM (or SIGINT):
//! 1. at once: `/readyz` answers 503 (`draining`); the listener still accepts, so requests that
//!    load balancers send before they notice are served;
//! 2. after the drain pause (`GATEWAY_SHUTDOWN_DRAIN_SECS`): the listener closes and in-flight
//!    requests get the shutdown timeout (`GATEWAY_SHUTDOWN_TIMEOUT_SECS`) to finish; workers
//!    still busy then are stopped, and whatever they were doing is dropped;
//! 3. no call to Google starts after the cutoff, `drain + timeout - longest send`, where the
//!    longest send is one attempt (`GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS`), the read that settles
//!    what it did if its answer is lost (the attempt timeout, at least 5 s), and 1 s to write
//!    the audit record and the answer (`config::longest_send`). That settling read is the one
//!    call allowed after the cutoff: it was budgeted with the send before it.
//!
//! The rule: a send that Google may have applied must never be cut off before it is recorded
//! and answered. So the settings must leave room for one whole send after the drain:
//! `timeout >= longest send` (`config::check_shutdown_timing`, checked at start; the process
//! refuses to start otherwise). The cutoff is then never before the drain ends.
//!
//! The process exits at the latest `drain + timeout` after the signal (plus a moment to stop
//! the worker threads); Kubernetes' `terminationGracePeriodSeconds` must exceed that.

use crate::config::Settings;
use crate::readiness::Readiness;
use std::time::Duration;
use tokio::time::Instant;

/// The durations of one shutdown, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPlan {
    /// Readiness fails but the listener still accepts.
    pub drain: Duration,
    /// In-flight requests may finish after the listener closed.
    pub timeout: Duration,
    /// Longest a send takes once its attempt started, recording and answering included.
    pub longest_send: Duration,
}

impl ShutdownPlan {
    /// The plan the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            drain: settings.http.shutdown_drain,
            timeout: settings.http.shutdown_timeout,
            longest_send: crate::config::longest_send(&settings.google.timeouts),
        }
    }

    /// After the signal, no new call to Google starts once this much time has passed.
    pub fn upstream_cutoff(&self) -> Duration {
        // The settings were checked (`timeout >= longest_send`); saturating keeps the cutoff at
        // the drain's end for a plan built by hand.
        self.drain + self.timeout.saturating_sub(self.longest_send)
    }

    /// The longest the process takes to exit after the signal.
    pub fn longest(&self) -> Duration {
        self.drain + self.timeout
    }

    /// Step 1: readiness fails from now on and the Google cutoff is set.
    pub fn begin(&self, readiness: &Readiness) {
        readiness.start_draining();
        readiness.stop_upstream_calls_at(Instant::now() + self.upstream_cutoff());
        tracing::info!(
            drain_secs = self.drain.as_secs_f64(),
            timeout_secs = self.timeout.as_secs_f64(),
            "shutting down: readiness fails now, the listener closes after the drain pause"
        );
    }
}

/// Resolves when the process is asked to stop: SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(drain: u64, timeout: u64, longest_send: u64) -> ShutdownPlan {
        ShutdownPlan {
            drain: Duration::from_secs(drain),
            timeout: Duration::from_secs(timeout),
            longest_send: Duration::from_secs(longest_send),
        }
    }

    #[test]
    fn google_calls_stop_one_whole_send_before_the_forced_stop() {
        let plan = plan(5, 25, 21);
        assert_eq!(plan.upstream_cutoff(), Duration::from_secs(9));
        assert_eq!(plan.longest(), Duration::from_secs(30));
    }

    #[test]
    fn the_longest_send_counts_the_attempt_the_settling_read_and_the_record() {
        let timeouts = crate::config::GoogleTimeouts {
            attempt: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(
            crate::config::longest_send(&timeouts),
            Duration::from_secs(21)
        );
    }

    #[test]
    fn google_calls_never_stop_before_the_drain_ends() {
        assert_eq!(plan(5, 3, 10).upstream_cutoff(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn beginning_fails_readiness_at_once_and_google_calls_at_the_cutoff() {
        let readiness = Readiness::default();
        plan(5, 25, 21).begin(&readiness);
        assert!(readiness.is_draining());
        assert!(!readiness.upstream_calls_stopped());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(readiness.upstream_calls_stopped());
    }
}
