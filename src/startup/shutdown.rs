//! The shutdown sequence, and the arithmetic that bounds it.
//!
//! On SIGTERM (or SIGINT):
//! 1. at once: `/readyz` answers 503 (`draining`); the listener still accepts, so requests that
//!    load balancers send before they notice are served;
//! 2. after the drain pause (`GATEWAY_SHUTDOWN_DRAIN_SECS`): the listener closes and in-flight
//!    requests get the shutdown timeout (`GATEWAY_SHUTDOWN_TIMEOUT_SECS`) to finish; workers
//!    still busy then are stopped;
//! 3. no call to Google starts after `drain + timeout - attempt timeout` (never before the drain
//!    ends): an attempt that starts in time can finish, or time out, before the forced stop, so
//!    no send is cut off halfway.
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
    /// Longest single attempt to Google.
    pub attempt_timeout: Duration,
}

impl ShutdownPlan {
    /// The plan the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            drain: settings.http.shutdown_drain,
            timeout: settings.http.shutdown_timeout,
            attempt_timeout: settings.google.timeouts.attempt,
        }
    }

    /// After the signal, no new call to Google starts once this much time has passed.
    pub fn upstream_cutoff(&self) -> Duration {
        self.drain + self.timeout.saturating_sub(self.attempt_timeout)
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

    fn plan(drain: u64, timeout: u64, attempt: u64) -> ShutdownPlan {
        ShutdownPlan {
            drain: Duration::from_secs(drain),
            timeout: Duration::from_secs(timeout),
            attempt_timeout: Duration::from_secs(attempt),
        }
    }

    #[test]
    fn google_calls_stop_one_attempt_before_the_forced_stop() {
        let plan = plan(5, 20, 10);
        assert_eq!(plan.upstream_cutoff(), Duration::from_secs(15));
        assert_eq!(plan.longest(), Duration::from_secs(25));
    }

    #[test]
    fn google_calls_never_stop_before_the_drain_ends() {
        assert_eq!(plan(5, 3, 10).upstream_cutoff(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn beginning_fails_readiness_at_once_and_google_calls_at_the_cutoff() {
        let readiness = Readiness::default();
        plan(5, 20, 10).begin(&readiness);
        assert!(readiness.is_draining());
        assert!(!readiness.upstream_calls_stopped());
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(readiness.upstream_calls_stopped());
    }
}
