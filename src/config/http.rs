//! Settings of the HTTP server, and the rule that ties its shutdown timeout to Google's
//! timeouts.

use super::{ConfigError, GoogleTimeouts, env};
use std::time::Duration;

/// Time left, after a send's answer and the read that settles a lost one, to write the audit
/// record and the answer before the workers are stopped.
pub const RECORD_MARGIN: Duration = Duration::from_secs(1);

/// The longest a send may still take once its attempt has started: the attempt, the read that
/// settles what it did if its answer was lost, and [`RECORD_MARGIN`] to record and answer it.
/// After SIGTERM no call to Google starts later than this before the workers are stopped.
pub fn longest_send(timeouts: &GoogleTimeouts) -> Duration {
    timeouts.attempt + timeouts.reconciling_read() + RECORD_MARGIN
}

/// Refuses a shutdown timeout too short for a send that starts just before the Google cutoff
/// (see `startup::shutdown`): it would be cut off after Google applied it, with no audit record
/// and no answer.
pub fn check_shutdown_timing(
    http: &HttpSettings,
    timeouts: &GoogleTimeouts,
) -> Result<(), ConfigError> {
    let needed = longest_send(timeouts);
    if http.shutdown_timeout >= needed {
        return Ok(());
    }
    Err(ConfigError(format!(
        "{} ({} s) must be at least {} ({} ms) + the read that settles a lost answer ({} ms) + {} s to record it = {} s; raise it or lower the attempt timeout",
        env::SHUTDOWN_TIMEOUT_SECS,
        http.shutdown_timeout.as_secs(),
        env::GOOGLE_ATTEMPT_TIMEOUT_MS,
        timeouts.attempt.as_millis(),
        timeouts.reconciling_read().as_millis(),
        RECORD_MARGIN.as_secs(),
        needed.as_secs_f64().ceil(),
    )))
}

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON request body, in bytes.
    pub json_limit_bytes: usize,
    /// How long a request's whole body may take to arrive, from its head on; a slower body is
    /// answered 408 and its connection closed.
    pub body_read_timeout: Duration,
    /// How long in-flight requests may take to finish once the listener has closed.
    pub shutdown_timeout: Duration,
    /// How long after SIGTERM the listener keeps accepting while `/readyz` already fails, so
    /// load balancers stop sending before connections are refused.
    pub shutdown_drain: Duration,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            json_limit_bytes: 16 * 1024,
            body_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(25),
            shutdown_drain: Duration::from_secs(5),
            workers: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(timeout_secs: u64, attempt_ms: u64) -> Result<(), ConfigError> {
        let http = HttpSettings {
            shutdown_timeout: Duration::from_secs(timeout_secs),
            ..HttpSettings::default()
        };
        let timeouts = GoogleTimeouts {
            attempt: Duration::from_millis(attempt_ms),
            ..GoogleTimeouts::default()
        };
        check_shutdown_timing(&http, &timeouts)
    }

    #[test]
    fn the_shutdown_timeout_must_hold_an_attempt_its_settling_read_and_the_record() {
        // 10 s attempt + 10 s read + 1 s.
        assert!(timing(21, 10_000).is_ok());
        let line = timing(20, 10_000).unwrap_err().to_string();
        assert!(
            line.starts_with("GATEWAY_SHUTDOWN_TIMEOUT_SECS (20 s)"),
            "{line}"
        );
        assert!(line.contains("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS"), "{line}");
        assert!(line.contains("= 21 s"), "{line}");
        // A short attempt still leaves the settling read its 5 s.
        assert!(timing(7, 1_000).is_ok());
        assert!(timing(6, 1_000).is_err());
    }

    #[test]
    fn the_defaults_are_consistent() {
        let http = HttpSettings::default();
        assert!(check_shutdown_timing(&http, &GoogleTimeouts::default()).is_ok());
    }
}
