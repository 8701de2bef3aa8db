//! Settings of tracking and events: how often Google's list is walked, where webhooks go.

use super::rules::{positive, positive_ms, positive_secs};
use super::{ConfigError, env};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Longest tracker lease: a replica that dies would hold the walk and its webhook deliveries
/// up for longer than an hour.
pub const MAX_TRACK_LEASE_SECS: u64 = 3600;

/// How often the background tasks look at the store for work (not a flag).
const TRACK_POLL_EVERY: Duration = Duration::from_secs(1);

/// Tracking, the event feed and webhooks.
#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// Time between two walks of Google's list; zero turns the tracker off.
    pub interval: Duration,
    /// Time between two full walks (the walks in between read only what changed).
    pub full_walk: Duration,
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

/// The flags of tracking and webhooks.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Tracking and webhooks")]
pub struct TrackingArgs {
    /// Seconds between two walks of Google's list by the tracker (one replica at a time,
    /// inside the background share of the Google budget); 0 turns tracking off (the summary
    /// then walks Google on request).
    #[arg(long, env = env::TRACK_INTERVAL_SECS, default_value_t = 900)]
    pub track_interval_secs: u64,

    /// Hours between two full walks of Google's list, at least 1. The walks in between read
    /// only what changed (newest first, down to the last walk's newest update); a full walk
    /// reads everybody, to find accounts Google lists late (48 to 72 hours after they were
    /// made) and to reconcile anything missed.
    #[arg(long, env = env::TRACK_FULL_WALK_HOURS, default_value_t = 24)]
    pub track_full_walk_hours: u64,

    /// Seconds a replica holds the tracker's walk (renewed with every page) and the webhook
    /// deliveries it took without renewing them: a replica that dies leaves them to the others
    /// after this. 1 to 3600; with webhooks, longer than GATEWAY_WEBHOOK_TIMEOUT_MS (an attempt
    /// starts only while it can end within the lease).
    #[arg(long, env = env::TRACK_LEASE_SECS, default_value_t = 120)]
    pub track_lease_secs: u64,

    /// Comma-separated http(s) endpoints every event is delivered to (never printed: they may
    /// carry credentials; metrics label them by position: 0, 1, ...). Only through settings,
    /// never through the API.
    #[arg(long, env = env::WEBHOOK_URLS, hide_env_values = true)]
    pub webhook_urls: Option<SecretString>,

    /// Standard Webhooks signing secret, whsec_ + base64 of at least 24 random bytes; required
    /// with GATEWAY_WEBHOOK_URLS (never printed).
    #[arg(long, env = env::WEBHOOK_SECRET, hide_env_values = true)]
    pub webhook_secret: Option<SecretString>,

    /// Hours a webhook delivery is retried (exponential backoff with jitter, 5 s doubling up
    /// to 1 h) before it is given up.
    #[arg(long, env = env::WEBHOOK_RETRY_HOURS, default_value_t = 24)]
    pub webhook_retry_hours: u64,

    /// Timeout of one webhook delivery attempt, in milliseconds.
    #[arg(long, env = env::WEBHOOK_TIMEOUT_MS, default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
}

impl TrackingArgs {
    /// The validated tracking settings (the lease's tie to the webhook timeout is checked with
    /// the rest).
    pub fn settings(&self) -> Result<TrackingSettings, ConfigError> {
        let urls = match &self.webhook_urls {
            Some(list) => webhook_urls(list.expose_secret())?,
            None => Vec::new(),
        };
        let secret = match &self.webhook_secret {
            Some(secret) => {
                webhook_secret(secret.expose_secret())?;
                Some(secret.clone())
            }
            None if !urls.is_empty() => {
                return Err(ConfigError(format!(
                    "{}: required with {} (whsec_ followed by the base64 of at least 24 random bytes)",
                    env::WEBHOOK_SECRET,
                    env::WEBHOOK_URLS
                )));
            }
            None => None,
        };
        Ok(TrackingSettings {
            interval: Duration::from_secs(self.track_interval_secs),
            full_walk: positive_hours(env::TRACK_FULL_WALK_HOURS, self.track_full_walk_hours)?,
            lease: track_lease(self.track_lease_secs)?,
            webhooks: WebhookSettings {
                urls,
                secret,
                retry_for: positive_hours(env::WEBHOOK_RETRY_HOURS, self.webhook_retry_hours)?,
                timeout: positive_ms(env::WEBHOOK_TIMEOUT_MS, self.webhook_timeout_ms)?,
            },
            poll_every: TRACK_POLL_EVERY,
        })
    }
}

/// A number of hours, at least 1.
fn positive_hours(name: &str, hours: u64) -> Result<Duration, ConfigError> {
    positive(name, hours).map(|hours| Duration::from_secs(hours.saturating_mul(3600)))
}

/// The tracker's lease: at least a second, at most [`MAX_TRACK_LEASE_SECS`] (refused, never
/// clamped).
fn track_lease(secs: u64) -> Result<Duration, ConfigError> {
    let lease = positive_secs(env::TRACK_LEASE_SECS, secs)?;
    if secs > MAX_TRACK_LEASE_SECS {
        return Err(ConfigError(format!(
            "{}: at most {MAX_TRACK_LEASE_SECS} seconds (a replica that dies holds the walk and its deliveries that long)",
            env::TRACK_LEASE_SECS
        )));
    }
    Ok(lease)
}

/// The comma-separated webhook URLs, each an absolute http(s) URL; the error never repeats a
/// URL (it may carry credentials), only its position.
fn webhook_urls(list: &str) -> Result<Vec<SecretString>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .enumerate()
        .map(|(index, url)| match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                Ok(SecretString::from(url.to_owned()))
            }
            _ => Err(ConfigError(format!(
                "{}: entry {index} is not an absolute http(s) URL",
                env::WEBHOOK_URLS
            ))),
        })
        .collect()
}

/// Checks the `whsec_<base64>` form of a Standard Webhooks secret (at least 24 bytes).
fn webhook_secret(secret: &str) -> Result<(), ConfigError> {
    use base64::Engine as _;
    let decoded = secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok());
    match decoded {
        Some(bytes) if bytes.len() >= 24 => Ok(()),
        _ => Err(ConfigError(format!(
            "{}: must be whsec_ followed by the base64 of at least 24 random bytes",
            env::WEBHOOK_SECRET
        ))),
    }
}
