//! Idempotency keys, kept in the store: the same key from the same caller within the TTL gets
//! the first answer without calling Google again; the same key with a different request is a
//! conflict.
//!
//! A pending row is written first, so of concurrent requests with one key, on any replica,
//! exactly one executes; the others poll (with growing pauses, within their own deadline) until
//! its answer is stored and replay it. A request that fails before any effect abandons its key,
//! so a retry executes; an executor that died is replaced once its lease runs out.

use crate::invitations::durable::{Durable, StoreUnavailable};
use crate::store::{Caller, IdempotencyStart, StoredResponse};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Longest pause between two looks at a key another request is executing.
const MAX_POLL: Duration = Duration::from_millis(500);

/// Who used a key for what. Keys belong to a caller and an operation: the same key sent to
/// send and to cancel names two requests.
#[derive(Debug, Clone)]
pub struct IdempotencyScope {
    caller: Caller,
    /// The operation and the caller's key (1 to 255 visible ASCII characters; the route
    /// checks), as `send:KEY`.
    key: String,
    /// A hash of the action and the request as parsed: JSON spacing and key order do not
    /// matter, the spelling of each address does (as with Stripe's keys, a retry repeats the
    /// request exactly).
    fingerprint: String,
}

impl IdempotencyScope {
    /// Fingerprints the parsed `request` for `action` of the caller `iss`/`sub`.
    pub fn new(
        iss: &str,
        sub: &str,
        key: &str,
        action: &str,
        request: &impl serde::Serialize,
    ) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(action.as_bytes());
        hasher.update([0]);
        hasher.update(serde_json::to_vec(request).unwrap_or_default());
        Self {
            caller: Caller::new(iss, sub),
            key: format!("{action}:{key}"),
            fingerprint: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

/// Why a keyed request got no answer.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used before with a different request.
    #[error("the idempotency key was used with a different request")]
    KeyReused,
    /// Another request with this key was still running when this one's deadline came.
    #[error("a request with this idempotency key is still running")]
    InProgress,
    /// The store cannot be reached; nothing was done.
    #[error("the store cannot be reached")]
    Unavailable,
}

impl From<StoreUnavailable> for IdempotencyError {
    fn from(_: StoreUnavailable) -> Self {
        IdempotencyError::Unavailable
    }
}

/// An answer and whether it is a replay.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The JSON body, byte for byte as first answered.
    pub body: Vec<u8>,
    /// True when the answer was stored by an earlier request.
    pub replayed: bool,
}

/// Runs `work` once per key across every replica; `lease` bounds how long it may take (a
/// pending key older than that is executed again), and waiting for another executor ends at
/// `deadline`. Its answer is stored with `status` and replayed byte for byte.
///
/// An error of `work` must mean that it changed nothing: the key is then forgotten, so that a
/// retry executes, and the error is answered as it is.
pub(crate) async fn run_once<F, T, E>(
    durable: &Durable,
    ttl: Duration,
    lease: Duration,
    scope: &IdempotencyScope,
    status: u16,
    work: F,
) -> Result<Answer, E>
where
    F: Future<Output = Result<T, E>>,
    T: serde::Serialize,
    E: From<IdempotencyError>,
{
    let deadline = Instant::now() + lease;
    let mut pause = Duration::from_millis(20);
    let ticket = loop {
        let start = durable.call(|s| {
            s.begin_idempotent(&scope.caller, &scope.key, &scope.fingerprint, ttl, lease)
        });
        match start
            .await
            .map_err(|err| E::from(IdempotencyError::from(err)))?
        {
            IdempotencyStart::Execute(ticket) => break ticket,
            IdempotencyStart::Replay(stored) => {
                return Ok(Answer {
                    body: stored.body,
                    replayed: true,
                });
            }
            IdempotencyStart::KeyReused => return Err(IdempotencyError::KeyReused.into()),
            IdempotencyStart::InProgress => {
                if Instant::now() + pause > deadline {
                    return Err(IdempotencyError::InProgress.into());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_POLL);
            }
        }
    };
    let response = match work.await {
        Ok(response) => response,
        Err(err) => {
            // Nothing was done: forget the key so that a retry executes.
            let _ = durable.call(|s| s.abandon_idempotent(&ticket)).await;
            return Err(err);
        }
    };
    let body = serde_json::to_vec(&response).unwrap_or_default();
    let stored = StoredResponse {
        status,
        body: body.clone(),
    };
    match durable
        .call(|s| s.complete_idempotent(&ticket, &stored))
        .await
    {
        Ok(true) => {}
        // The effects are done: answer them even when the store could not keep the answer (a
        // retry then executes again, and its reads before any mail keep it harmless).
        Ok(false) => tracing::warn!("an idempotency key's lease ran out before its answer"),
        Err(StoreUnavailable) => {}
    }
    Ok(Answer {
        body,
        replayed: false,
    })
}
