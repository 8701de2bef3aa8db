//! Idempotency keys: the same key from the same caller within the TTL gets the first answer,
//! without calling Google again; the same key with a different request is a conflict.
//!
//! Concurrent requests with one key share one execution (the second waits for the first's
//! answer). Bounded, and per replica: a retry that lands on another replica is not recognised,
//! which is why send also reads before it mails.

use crate::config::IdempotencySettings;
use crate::invitations::outcome::MutationResponse;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;

/// Who used a key for what. Keys belong to a caller and an operation: the same key sent to
/// send and to cancel names two requests.
#[derive(Debug, Clone)]
pub struct IdempotencyScope {
    /// The verified caller (`iss` and `sub`) and the operation.
    pub caller: String,
    /// The caller's key (1 to 255 visible ASCII characters; the route checks).
    pub key: String,
    /// A hash of the action and the request as parsed: JSON spacing and key order do not
    /// matter, the spelling of each address does (as with Stripe's keys, a retry repeats the
    /// request exactly).
    pub fingerprint: [u8; 32],
}

impl IdempotencyScope {
    /// Fingerprints the parsed `request` for `action`.
    pub fn new(caller: String, key: String, action: &str, request: &impl serde::Serialize) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(action.as_bytes());
        hasher.update([0]);
        hasher.update(serde_json::to_vec(request).unwrap_or_default());
        Self {
            caller: format!("{caller}\u{0}{action}"),
            key,
            fingerprint: hasher.finalize().into(),
        }
    }
}

#[derive(Clone)]
struct Stored {
    fingerprint: [u8; 32],
    response: Arc<MutationResponse>,
}

/// The key was used before with a different request.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the idempotency key was used with a different request")]
pub struct KeyReused;

/// Remembered answers per (caller, key).
pub struct IdempotencyStore {
    cache: Cache<(String, String), Stored>,
}

/// An answer and whether it is a replay.
pub struct Answer {
    /// The answer.
    pub response: Arc<MutationResponse>,
    /// True when the answer was stored by an earlier request.
    pub replayed: bool,
}

impl IdempotencyStore {
    /// An empty store.
    pub fn new(settings: &IdempotencySettings) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(settings.ttl)
                .build(),
        }
    }

    /// Runs `work` once per (caller, key); later (and concurrent) requests get its answer.
    pub async fn run_once<F>(&self, scope: IdempotencyScope, work: F) -> Result<Answer, KeyReused>
    where
        F: Future<Output = MutationResponse>,
    {
        let fingerprint = scope.fingerprint;
        let entry = self
            .cache
            .entry((scope.caller, scope.key))
            .or_insert_with(async move {
                Stored {
                    fingerprint,
                    response: Arc::new(work.await),
                }
            })
            .await;
        let replayed = !entry.is_fresh();
        let stored = entry.into_value();
        if stored.fingerprint != fingerprint {
            return Err(KeyReused);
        }
        Ok(Answer {
            response: stored.response,
            replayed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invitations::outcome::MutationResponse;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn scope(key: &str, body: &str) -> IdempotencyScope {
        IdempotencyScope::new("iss\0sub".into(), key.into(), "send", &body)
    }

    #[tokio::test]
    async fn the_same_key_runs_once_and_replays() {
        let store = IdempotencyStore::new(&IdempotencySettings::default());
        let runs = AtomicUsize::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            MutationResponse::new(Vec::new())
        };
        let first = store.run_once(scope("k", "a"), work()).await.unwrap();
        let second = store.run_once(scope("k", "a"), work()).await.unwrap();
        assert!(!first.replayed && second.replayed);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(store.run_once(scope("k", "b"), work()).await.is_err());
        assert!(
            !store
                .run_once(scope("other", "b"), work())
                .await
                .unwrap()
                .replayed
        );
    }
}
