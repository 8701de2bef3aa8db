//! The issuer's JWKS: fetched at start, cached, refreshed, and refetched on an unknown `kid`.
//!
//! - A background task fetches the set at start and then every TTL; until the first success
//!   `/readyz` reports `caller_keys: pending`.
//! - A token with an unknown `kid` (whose unverified claims already passed) may force one
//!   refetch, at most once per [`REFETCH_COOLDOWN`]; concurrent misses wait for that one fetch
//!   instead of starting their own. Forced fetches send `Cache-Control: no-cache`.
//! - A failed fetch keeps the last good keys.

use crate::auth::keys::{VerificationKey, jwk_key};
use crate::readiness::{CheckState, Readiness};
use jsonwebtoken::jwk::Jwk;
use reqwest::header::{ACCEPT, CACHE_CONTROL};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Shortest time between two fetches forced by unknown `kid`s.
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// Time limit of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted JWKS document.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys taken from one document.
pub const MAX_JWKS_KEYS: usize = 64;

/// Why a fetch failed; the last good keys stay in use.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The request failed (connect, timeout, read).
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The endpoint answered with a non-success status.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The document exceeds [`MAX_JWKS_BYTES`].
    #[error("document larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The document is not a JWKS with at least one usable signing key.
    #[error("no usable signing key in the document: {0}")]
    NoKeys(String),
}

/// The JWKS key source of one issuer.
pub struct JwksSource {
    url: String,
    client: reqwest::Client,
    ttl: Duration,
    cooldown: Duration,
    keys: RwLock<Arc<Vec<Arc<VerificationKey>>>>,
    last_forced: Mutex<Option<Instant>>,
    fetches: AtomicU64,
    generation: AtomicU64,
    loaded_at: RwLock<Option<Instant>>,
}

impl JwksSource {
    /// A source for `url` whose keys are refreshed every `ttl`; nothing is fetched yet.
    pub fn new(url: String, ttl: Duration) -> Result<Self, reqwest::Error> {
        // reqwest is built without a default TLS provider; make sure ours is installed.
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // Fetches are minutes apart: an idle pooled connection would only be one the
            // issuer has closed meanwhile, and reusing it fails the fetch.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self {
            url,
            client,
            ttl,
            cooldown: REFETCH_COOLDOWN,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_forced: Mutex::new(None),
            fetches: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            loaded_at: RwLock::new(None),
        })
    }

    /// Changes the cooldown between forced refetches (tests).
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The keys of the last successful fetch (empty before the first).
    pub fn keys(&self) -> Arc<Vec<Arc<VerificationKey>>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// True when a key with this `kid` is loaded.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys()
            .iter()
            .any(|key| key.kid.as_deref() == Some(kid))
    }

    /// How many fetches succeeded or failed so far (tests and diagnostics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Counts the key sets loaded so far: it changes whenever the keys are replaced, so
    /// whatever was verified under an older value must be verified again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How long ago the keys in use were fetched; `None` before the first success.
    pub fn key_age(&self) -> Option<Duration> {
        let loaded_at = match self.loaded_at.read() {
            Ok(slot) => *slot,
            Err(poisoned) => *poisoned.into_inner(),
        };
        loaded_at.map(|at| at.elapsed())
    }

    /// Fetches the set now; on success replaces the keys and returns how many were loaded.
    pub async fn fetch(&self, force: bool) -> Result<usize, JwksError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch_keys(force).await;
        crate::metrics::jwks_refresh(force, result.is_ok());
        if result.is_ok() {
            match self.loaded_at.write() {
                Ok(mut slot) => *slot = Some(Instant::now()),
                Err(poisoned) => *poisoned.into_inner() = Some(Instant::now()),
            }
        }
        result
    }

    async fn fetch_keys(&self, force: bool) -> Result<usize, JwksError> {
        let mut request = self
            .client
            .get(&self.url)
            .header(ACCEPT, "application/json");
        if force {
            request = request.header(CACHE_CONTROL, "no-cache");
        }
        let mut response = request.send().await?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let keys = parse_jwks(&body)?;
        let count = keys.len();
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(count)
    }

    /// Refetches because a token named `kid`, unless the cooldown forbids it; concurrent callers
    /// share one fetch. Returns once the keys are as fresh as they are going to get.
    pub async fn refetch_for_unknown_kid(&self, kid: &str) {
        let mut last_forced = self.last_forced.lock().await;
        // Whoever held the lock before us may just have loaded the key.
        if self.knows_kid(kid) {
            return;
        }
        if last_forced.is_some_and(|at| at.elapsed() < self.cooldown) {
            return;
        }
        *last_forced = Some(Instant::now());
        match self.fetch(true).await {
            Ok(count) => tracing::info!(keys = count, "JWKS refetched for an unknown kid"),
            Err(err) => {
                tracing::warn!(error = %err, "JWKS refetch failed; keeping the last good keys")
            }
        }
    }

    /// Spawns the task that fetches at start and then every TTL, marking `caller_keys` ready
    /// after the first success. It stops when the source is dropped.
    pub fn spawn_refresh(self: &Arc<Self>, readiness: Arc<Readiness>) {
        let source: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut retry = Duration::from_secs(1);
            loop {
                let Some(jwks) = source.upgrade() else { return };
                let delay = match jwks.fetch(false).await {
                    Ok(count) => {
                        tracing::info!(keys = count, "JWKS loaded");
                        readiness.caller_keys.set(CheckState::Ready);
                        retry = Duration::from_secs(1);
                        jwks.ttl
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "JWKS fetch failed; keeping the last good keys");
                        let delay = retry.min(jwks.ttl);
                        retry = (retry * 2).min(Duration::from_secs(30));
                        delay
                    }
                };
                drop(jwks);
                tokio::time::sleep(delay).await;
            }
        });
    }
}

/// The usable signing keys of a JWKS document; keys this gateway cannot use are skipped, so
/// one exotic key does not hide the others.
fn parse_jwks(body: &[u8]) -> Result<Vec<Arc<VerificationKey>>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|e| JwksError::NoKeys(e.to_string()))?;
    let keys: Vec<_> = document
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| jwk_key(&jwk))
        .take(MAX_JWKS_KEYS)
        .map(Arc::new)
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoKeys("the set is empty".into()));
    }
    Ok(keys)
}
