//! Settings of the HTTP server.

use std::time::Duration;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON request body, in bytes.
    pub json_limit_bytes: usize,
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
            shutdown_timeout: Duration::from_secs(20),
            shutdown_drain: Duration::from_secs(5),
            workers: 0,
        }
    }
}
