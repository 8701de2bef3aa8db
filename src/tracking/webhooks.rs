//! Webhooks: every event of the outbox, delivered at least once to every endpoint of
//! `GATEWAY_WEBHOOK_URLS`, signed as Standard Webhooks.
//!
//! Each endpoint has its own task and its own delivery rows in the store, so a slow or dead
//! endpoint only delays itself. A delivery is leased to one replica at a time, for
//! `GATEWAY_TRACK_LEASE_SECS`: a replica that dies mid-delivery leaves it to the others after
//! that (the attempt it had in flight may have arrived, so the event may arrive twice, under the
//! same id). A failed attempt (no answer within the timeout, or a status other than 2xx) is
//! tried again after an exponential backoff with jitter (`backon`), on the store's clock, until
//! `GATEWAY_WEBHOOK_RETRY_HOURS` after it was scheduled; then it is given up (counted). The
//! body is the CloudEvent exactly as on the feed; `webhook-id` is the CloudEvent id (stable
//! across retries: receivers deduplicate on it).

use super::Tracking;
use backon::{BackoffBuilder, ExponentialBuilder};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Deliveries one endpoint takes from the store at a time.
const CLAIM_BATCH: u32 = 20;

/// Events scheduled per endpoint at a time.
const SCHEDULE_BATCH: u32 = 500;

/// First retry delay; each next one doubles (with jitter) up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);

/// Longest pause between two attempts of one delivery.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// One configured endpoint.
pub struct Endpoint {
    /// Its position in `GATEWAY_WEBHOOK_URLS` (the metrics label).
    pub index: usize,
    url: SecretString,
    /// Its key in the store: a hash of the URL (the store never holds the URL, which may
    /// carry credentials).
    key: String,
}

debug_fields!(Endpoint { index });

impl Endpoint {
    fn new(index: usize, url: SecretString) -> Self {
        let digest = Sha256::digest(url.expose_secret().as_bytes());
        let key = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self { index, url, key }
    }
}

/// Signs deliveries with the Standard Webhooks scheme.
pub struct Signer {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// The signer of a `whsec_<base64>` secret; None when it is not one (settings checked it).
    pub fn from_secret(secret: &SecretString) -> Option<Signer> {
        let b64 = secret.expose_secret().strip_prefix("whsec_")?;
        let key = STANDARD.decode(b64).ok()?;
        Some(Signer {
            key: SecretSlice::from(key),
        })
    }

    /// `v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The delay before attempt `attempts + 1` of a delivery that failed `attempts` times:
/// exponential from [`MIN_BACKOFF`], at most [`MAX_BACKOFF`], with jitter.
pub fn backoff(attempts: u32) -> Duration {
    let n = usize::try_from(attempts.max(1)).unwrap_or(usize::MAX);
    ExponentialBuilder::default()
        .with_min_delay(MIN_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_jitter()
        .with_max_times(n)
        .build()
        .nth(n - 1)
        .unwrap_or(MAX_BACKOFF)
}

/// The webhook sender of one replica.
pub struct Webhooks {
    endpoints: Vec<Endpoint>,
    signer: Option<Signer>,
    http: reqwest::Client,
    retry_for: Duration,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// The sender for the configured endpoints; its HTTP client times each attempt out after
    /// `timeout` and follows no redirect.
    pub fn new(settings: &crate::config::WebhookSettings) -> anyhow::Result<Webhooks> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("invitation-gateway/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Webhooks {
            endpoints: settings
                .urls
                .iter()
                .cloned()
                .enumerate()
                .map(|(index, url)| Endpoint::new(index, url))
                .collect(),
            signer: settings.secret.as_ref().and_then(Signer::from_secret),
            http,
            retry_for: settings.retry_for,
        })
    }

    /// The configured endpoints.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
}

/// How one attempt went.
enum Attempt {
    Delivered,
    Failed(String),
}

impl Tracking {
    /// Delivers to every endpoint until dropped, each endpoint in its own loop, polling the
    /// store every `poll_every` (real time).
    pub async fn run_webhooks(&self) {
        let loops = self.webhooks.endpoints().iter().map(|endpoint| async move {
            let mut ticks = tokio::time::interval(self.settings.poll_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.deliver_once(endpoint).await;
            }
        });
        futures_util::future::join_all(loops).await;
    }

    /// Makes every endpoint known to the store before the gateway serves: an endpoint seen for
    /// the first time starts at the feed's end, so one registered only by its first delivery
    /// round would miss the events of the requests answered before that round.
    pub async fn register_webhook_endpoints(&self) -> Result<(), crate::store::StoreError> {
        for endpoint in self.webhooks.endpoints() {
            self.gate
                .call(|s| s.schedule_deliveries(&endpoint.key, SCHEDULE_BATCH))
                .await?;
        }
        Ok(())
    }

    /// One round for `endpoint`: schedules the events appended since the last round, then
    /// leases the deliveries that are due to this replica and attempts them one after the
    /// other while an attempt can still end within the lease; answers how many attempts were
    /// made.
    pub async fn deliver_once(&self, endpoint: &Endpoint) -> usize {
        if let Err(error) = self
            .gate
            .call(|s| s.schedule_deliveries(&endpoint.key, SCHEDULE_BATCH))
            .await
        {
            tracing::warn!(%error, endpoint = endpoint.index, "webhooks: cannot schedule deliveries");
            return 0;
        }
        let lease = self.settings.lease;
        let timeout = self.settings.webhooks.timeout;
        let claimed = Instant::now();
        let due = match self
            .gate
            .call(|s| s.claim_deliveries(&endpoint.key, &self.holder, lease, CLAIM_BATCH))
            .await
        {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, endpoint = endpoint.index, "webhooks: cannot read deliveries");
                return 0;
            }
        };
        let mut attempts = 0;
        for delivery in &due {
            // An attempt starts only while it can end (time out, at worst) within the lease, so
            // no other replica takes the delivery over while it is in flight. The deliveries
            // left stay leased to no one else until the lease runs out; then anyone takes them.
            if claimed.elapsed().saturating_add(timeout) >= lease {
                break;
            }
            attempts += 1;
            let started = Instant::now();
            let attempt = self
                .attempt(endpoint, &delivery.event.id, &delivery.event.body)
                .await;
            let elapsed = started.elapsed();
            let position = delivery.event.position;
            match attempt {
                Attempt::Delivered => {
                    crate::metrics::webhook_delivery(endpoint.index, "success", elapsed);
                    let _ = self
                        .gate
                        .call(|s| s.delivery_succeeded(&endpoint.key, position, &self.holder))
                        .await;
                }
                Attempt::Failed(status) => {
                    let attempts = delivery.attempts + 1;
                    let now = self.gate.clock().now();
                    let retry_at = now
                        + chrono::Duration::from_std(backoff(attempts))
                            .unwrap_or(chrono::TimeDelta::MAX);
                    let window_end = delivery.created_at
                        + chrono::Duration::from_std(self.webhooks.retry_for)
                            .unwrap_or(chrono::TimeDelta::MAX);
                    let retry_at = (retry_at < window_end).then_some(retry_at);
                    let result = if retry_at.is_some() {
                        "failure"
                    } else {
                        "given_up"
                    };
                    crate::metrics::webhook_delivery(endpoint.index, result, elapsed);
                    if retry_at.is_none() {
                        tracing::warn!(endpoint = endpoint.index, event = %delivery.event.id, attempts, "webhooks: delivery given up");
                    }
                    let _ = self
                        .gate
                        .call(|s| {
                            s.delivery_failed(
                                &endpoint.key,
                                position,
                                &self.holder,
                                &status,
                                retry_at,
                            )
                        })
                        .await;
                }
            }
        }
        if let Ok(backlog) = self.gate.call(|s| s.delivery_backlog(&endpoint.key)).await {
            crate::metrics::webhook_backlog(endpoint.index, backlog);
        }
        attempts
    }

    async fn attempt(&self, endpoint: &Endpoint, id: &str, body: &str) -> Attempt {
        // The timestamp is the request's, on the wall clock: receivers compare it with theirs.
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self
            .webhooks
            .http
            .post(endpoint.url.expose_secret())
            .header("content-type", "application/cloudevents+json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .body(body.to_owned());
        if let Some(signer) = &self.webhooks.signer {
            request = request.header("webhook-signature", signer.sign(id, timestamp, body));
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => Attempt::Delivered,
            Ok(answer) => Attempt::Failed(answer.status().as_u16().to_string()),
            Err(err) if err.is_timeout() => Attempt::Failed("timeout".into()),
            Err(err) if err.is_connect() => Attempt::Failed("connect".into()),
            Err(_) => Attempt::Failed("transport".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let signer = Signer::from_secret(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .expect("a whsec secret");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_grows_with_attempts_and_stays_under_the_cap() {
        for attempts in 1..40 {
            let delay = backoff(attempts);
            assert!(delay >= MIN_BACKOFF, "{attempts}: {delay:?}");
            assert!(delay <= MAX_BACKOFF * 2, "{attempts}: {delay:?}");
        }
        assert!(backoff(10) > backoff(1) * 4);
    }
}
