//! Settings of the HTTP server, and the rule that ties its shutdown timeout to Google's
//! timeouts.

use super::rules::{at_least, positive_secs};
use super::{ConfigError, GoogleTimeouts, env};
use std::time::Duration;

/// Smallest JSON body limit: room for a useful batch.
pub const MIN_JSON_LIMIT_BYTES: u32 = 1024;

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

/// The flags of the HTTP server.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "HTTP server")]
pub struct HttpArgs {
    /// Largest accepted JSON request body, in bytes, at least 1024 (larger: 413
    /// payload_too_large).
    #[arg(long, env = env::JSON_LIMIT_BYTES, default_value_t = 16 * 1024)]
    pub json_limit_bytes: u32,

    /// Seconds a request's whole body may take to arrive once its head has (slower: 408
    /// request_timeout, connection closed).
    #[arg(long, env = env::BODY_READ_TIMEOUT_SECS, default_value_t = 10)]
    pub body_read_timeout_secs: u64,

    /// Seconds after SIGTERM during which /readyz already fails while the listener still
    /// accepts, so load balancers stop sending first.
    #[arg(long, env = env::SHUTDOWN_DRAIN_SECS, default_value_t = 5)]
    pub shutdown_drain_secs: u64,

    /// Seconds in-flight requests get to finish once the listener has closed (after the drain);
    /// at least the Google attempt timeout + the read that settles a lost send (the attempt
    /// timeout, at least 5 s) + 1 s, or the gateway refuses to start.
    #[arg(long, env = env::SHUTDOWN_TIMEOUT_SECS, default_value_t = 25)]
    pub shutdown_timeout_secs: u64,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = env::WORKERS, default_value_t = 0)]
    pub workers: usize,
}

impl HttpArgs {
    /// The validated server limits (their tie to Google's timeouts is checked with the rest).
    pub fn settings(&self) -> Result<HttpSettings, ConfigError> {
        Ok(HttpSettings {
            json_limit_bytes: at_least(
                env::JSON_LIMIT_BYTES,
                self.json_limit_bytes,
                MIN_JSON_LIMIT_BYTES,
            )? as usize,
            body_read_timeout: positive_secs(
                env::BODY_READ_TIMEOUT_SECS,
                self.body_read_timeout_secs,
            )?,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            shutdown_drain: Duration::from_secs(self.shutdown_drain_secs),
            workers: self.workers,
        })
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
