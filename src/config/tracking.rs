//! Settings of tracking and events: how often Google's list is walked, where webhooks go.

use super::{ConfigError, env};
use secrecy::SecretString;
use std::time::Duration;

/// How long a replica holds the tracker's walk and the webhook deliveries it took, by default.
pub const DEFAULT_TRACK_LEASE: Duration = Duration::from_secs(120);

/// Tracking, the event feed and webhooks.
#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// Time between two walks of Google's list; zero turns the tracker off.
    pub interval: Duration,
    /// How long a replica holds the walk (renewed with every page) and the webhook deliveries
    /// it took (not renewed: an attempt starts only while it can end within the lease) before
    /// another replica may take them over: how long the work of a replica that died waits.
    pub lease: Duration,
    /// How often the background tasks look at the store for work (real time): the walk's due
    /// time, webhook deliveries due. Short, so a due walk or retry starts soon after it is due.
    pub poll_every: Duration,
    /// Webhook endpoints and how deliveries to them go.
    pub webhooks: WebhookSettings,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(900),
            lease: DEFAULT_TRACK_LEASE,
            poll_every: Duration::from_secs(1),
            webhooks: WebhookSettings::default(),
        }
    }
}

/// Webhook delivery (Standard Webhooks).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The endpoints, each an absolute http(s) URL (never logged whole: they may carry
    /// credentials).
    pub urls: Vec<SecretString>,
    /// The signing secret in the `whsec_<base64>` form; required when there are URLs.
    pub secret: Option<SecretString>,
    /// How long a delivery is retried before it is given up.
    pub retry_for: Duration,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: None,
            retry_for: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// With webhooks, the lease must be longer than one delivery attempt: otherwise no attempt
/// could ever start within it.
pub fn check_track_lease(tracking: &TrackingSettings) -> Result<(), ConfigError> {
    if tracking.webhooks.urls.is_empty() || tracking.lease > tracking.webhooks.timeout {
        return Ok(());
    }
    Err(ConfigError(format!(
        "{} ({} s) must be longer than {} ({} ms): a delivery attempt must fit in the lease",
        env::TRACK_LEASE_SECS,
        tracking.lease.as_secs(),
        env::WEBHOOK_TIMEOUT_MS,
        tracking.webhooks.timeout.as_millis(),
    )))
}
