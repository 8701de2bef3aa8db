//! Idempotency keys, kept in the store: the same key from the same caller within the TTL gets
//! the first answer without calling Google again; the same key with a different request is a
//! conflict.
//!
//! A pending row is written first, so of concurrent requests with one key, on any replica,
//! exactly one executes; the others poll (with growing pauses, within their own deadline) until
//! its answer is stored and replay it. A request that fails before any effect abandons its key,
//! so a retry executes; an executor that died is replaced once its lease runs out.

use crate::invitations::Invitations;
use crate::invitations::batch::EmailBatch;
use crate::invitations::durable::StoreUnavailable;
use crate::invitations::mutation::MutationObserver;
use crate::invitations::outcome::MutationResponse;
use crate::store::{Caller, IdempotencyStart, StoredResponse};
use crate::vocabulary::Action;
use serde::Serialize;
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

/// Why a send or cancel was refused as a whole: nothing was done for any address.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum MutationRefused {
    /// The audit trail cannot take records, so nothing may change.
    #[error("the audit trail cannot be written")]
    AuditUnavailable,
    /// The Idempotency-Key's flow (or the store under it) refused the request.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
}

impl From<StoreUnavailable> for MutationRefused {
    fn from(err: StoreUnavailable) -> Self {
        MutationRefused::Idempotency(err.into())
    }
}

/// Who asks for a send or cancel, and who hears about each of its items.
#[derive(Clone, Copy)]
pub struct Asked<'a> {
    /// The verified caller (whose daily mail budget a send spends, whose key it is).
    pub caller: &'a Caller,
    /// The request's id.
    pub request_id: &'a str,
    /// The Idempotency-Key, already checked (1 to 255 visible ASCII characters).
    pub idempotency_key: Option<&'a str>,
    /// The audit trail of the items.
    pub observer: &'a dyn MutationObserver,
}

/// What a send's idempotency fingerprint is taken over: the request as sent, field for field
/// (`{"emails": [...], "resend": ...}`, as the send request serialises).
#[derive(Serialize)]
pub(crate) struct SendFingerprint<'a> {
    pub(crate) emails: &'a EmailBatch,
    pub(crate) resend: bool,
}

/// What the idempotency fingerprint of a send with `Prefer: respond-async` is taken over: the
/// request as sent and the preference. One key used for a send and for the same send with
/// `respond-async` names two different requests (their answers differ: `200` with a result per
/// address, `202` with a campaign), so the second is `idempotency_key_reused`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AsyncSendFingerprint<'a> {
    emails: &'a EmailBatch,
    resend: bool,
    respond_async: bool,
}

impl IdempotencyScope {
    /// The scope of a send of `batch` with `Prefer: respond-async` (it becomes a campaign).
    pub fn async_send(caller: &Caller, key: &str, batch: &EmailBatch, resend: bool) -> Self {
        let fingerprint = AsyncSendFingerprint {
            emails: batch,
            resend,
            respond_async: true,
        };
        let action = Action::Send.as_str();
        IdempotencyScope::new(&caller.iss, &caller.sub, key, action, &fingerprint)
    }
}

impl Invitations {
    /// Sends invitations safely (see [`Invitations::send`]), once per Idempotency-Key: the
    /// answer's JSON, replayed byte for byte for a repeated key.
    pub async fn send_once(
        &self,
        batch: &EmailBatch,
        resend: bool,
        asked: Asked<'_>,
    ) -> Result<Answer, MutationRefused> {
        let fingerprint = SendFingerprint {
            emails: batch,
            resend,
        };
        let work = self.send(
            batch,
            resend,
            asked.caller,
            asked.observer,
            asked.request_id,
        );
        self.mutate_once((Action::Send, &fingerprint), batch.len(), asked, work)
            .await
    }

    /// Cancels pending invitations (see [`Invitations::cancel`]), once per Idempotency-Key.
    pub async fn cancel_once(
        &self,
        batch: &EmailBatch,
        asked: Asked<'_>,
    ) -> Result<Answer, MutationRefused> {
        let work = self.cancel(batch, asked.caller, asked.observer, asked.request_id);
        self.mutate_once((Action::Cancel, batch), batch.len(), asked, work)
            .await
    }

    /// Runs `work` (a mutation of `batch_len` addresses) when the audit trail can take its
    /// records, once per Idempotency-Key across every replica when the request has one.
    async fn mutate_once(
        &self,
        (action, fingerprint): (Action, &impl Serialize),
        batch_len: usize,
        asked: Asked<'_>,
        work: impl Future<Output = Result<MutationResponse, StoreUnavailable>>,
    ) -> Result<Answer, MutationRefused> {
        // Nothing is changed unless it can be audited.
        asked
            .observer
            .allow_change()
            .map_err(|_| MutationRefused::AuditUnavailable)?;
        let Some(key) = asked.idempotency_key else {
            let response = work.await?;
            return Ok(Answer {
                body: serde_json::to_vec(&response).unwrap_or_default(),
                replayed: false,
            });
        };
        let (iss, sub) = (&asked.caller.iss, &asked.caller.sub);
        let scope = IdempotencyScope::new(iss, sub, key, action.as_str(), fingerprint);
        // As long as the batch can take: its rounds of `concurrency` items, each its budget.
        let rounds = u32::try_from(batch_len.div_ceil(self.concurrency)).unwrap_or(u32::MAX);
        let lease = self.item_budget.saturating_mul(rounds.max(1));
        let work = async { work.await.map_err(IdempotencyError::from) };
        Ok(self
            .run_once_stored_within(&scope, 200, lease, work)
            .await?)
    }

    /// Runs `work`, which only writes to the store (a campaign made of a send's addresses), once
    /// per Idempotency-Key across every replica: later and concurrent requests with the key get
    /// its answer, stored with `status`. An error of `work` must mean that it left nothing
    /// behind: the key is then forgotten (a retry executes) and the error answered as it is.
    pub async fn run_once_stored<T: Serialize, E: From<IdempotencyError>>(
        &self,
        scope: &IdempotencyScope,
        status: u16,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<Answer, E> {
        // A few store round trips: one item's budget is ample.
        self.run_once_stored_within(scope, status, self.item_budget, work)
            .await
    }

    /// As [`Invitations::run_once_stored`], for `work` that may take up to `lease` (a
    /// campaign whose roster is stored as it arrives, a batch of sends): waiting for another
    /// executor ends at `lease`, and a pending key older than that is executed again. The
    /// answer is stored with `status` and replayed byte for byte.
    pub async fn run_once_stored_within<T: Serialize, E: From<IdempotencyError>>(
        &self,
        scope: &IdempotencyScope,
        status: u16,
        lease: Duration,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<Answer, E> {
        let deadline = Instant::now() + lease;
        let mut pause = Duration::from_millis(20);
        let ticket = loop {
            let ttl = self.idempotency_ttl;
            let start = self.durable.call(|s| {
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
                let _ = self.durable.call(|s| s.abandon_idempotent(&ticket)).await;
                return Err(err);
            }
        };
        let body = serde_json::to_vec(&response).unwrap_or_default();
        let stored = StoredResponse {
            status,
            body: body.clone(),
        };
        match self
            .durable
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
}

/// An answer and whether it is a replay.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The JSON body, byte for byte as first answered.
    pub body: Vec<u8>,
    /// True when the answer was stored by an earlier request.
    pub replayed: bool,
}
