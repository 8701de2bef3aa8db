//! Idempotency-Keys across replicas: a pending row first, then the stored answer
//! (Stripe's design, as in zero-to-production's `try_processing`).

use super::clock::{duration_millis, new_token};
use super::{Caller, Store, StoreError};
use sqlx::Row;
use std::time::Duration;

/// The answer stored for a key and replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

/// The right to execute a keyed request; hand it to [`Store::complete_idempotent`] or
/// [`Store::abandon_idempotent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyTicket {
    caller: Caller,
    key: String,
    executor: String,
}

/// What to do with a request carrying an Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First of its key (or the previous executor died or gave up): execute it.
    Execute(IdempotencyTicket),
    /// Another request with this key is executing now.
    InProgress,
    /// Done before: answer this.
    Replay(StoredResponse),
    /// The key was used with another request body.
    KeyReused,
}

impl Store {
    /// Starts a request of `caller` with Idempotency-Key `key` and body `fingerprint` (a hash
    /// of the canonical body). The stored answer is kept for `ttl`; a pending row whose executor
    /// neither completed nor abandoned it within `lease` (it died) may be executed again.
    pub async fn begin_idempotent(
        &self,
        caller: &Caller,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
        lease: Duration,
    ) -> Result<IdempotencyStart, StoreError> {
        // A row pruned or abandoned between two statements leaves nothing to read: go round.
        for _ in 0..5 {
            let (now, lease_until) = self.clock.lease(lease);
            let executor = new_token();
            let expires_at = now.saturating_add(duration_millis(ttl));
            let ticket = IdempotencyTicket {
                caller: caller.clone(),
                key: key.to_owned(),
                executor: executor.clone(),
            };
            // Both writes below bind the same eight values: the caller, the key, this request.
            let write = async |sql: &'static str| -> Result<bool, StoreError> {
                let written = execute!(
                    self,
                    sql,
                    &caller.iss,
                    &caller.sub,
                    key,
                    fingerprint,
                    &executor,
                    lease_until,
                    now,
                    expires_at
                )? == 1;
                Ok(written)
            };
            // The primary key makes exactly one of concurrent first requests win.
            let inserted = write(
                "INSERT INTO idempotency_keys (caller_iss, caller_sub, key, fingerprint, executor, \
                 lease_until, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (caller_iss, caller_sub, key) DO NOTHING",
            )
            .await?;
            if inserted {
                return Ok(IdempotencyStart::Execute(ticket));
            }
            // An expired key starts afresh; a pending one whose executor's lease ran out is taken
            // over, but only by the same request (another body is still a reused key).
            let taken_over = write(
                "UPDATE idempotency_keys SET fingerprint = $4, executor = $5, lease_until = $6, \
                 status = NULL, body = NULL, created_at = $7, expires_at = $8 \
                 WHERE caller_iss = $1 AND caller_sub = $2 AND key = $3 \
                 AND (expires_at <= $7 \
                      OR (status IS NULL AND lease_until <= $7 AND fingerprint = $4))",
            )
            .await?;
            if taken_over {
                return Ok(IdempotencyStart::Execute(ticket));
            }
            let row = with_pool!(self, pool => sqlx::query(
                "SELECT fingerprint, status, body FROM idempotency_keys \
                 WHERE caller_iss = $1 AND caller_sub = $2 AND key = $3",
            )
            .bind(&caller.iss)
            .bind(&caller.sub)
            .bind(key)
            .fetch_optional(pool)
            .await
            .and_then(|row| {
                row.map(|r| {
                    Ok::<_, sqlx::Error>((
                        r.try_get::<String, _>("fingerprint")?,
                        r.try_get::<Option<i64>, _>("status")?,
                        r.try_get::<Option<Vec<u8>>, _>("body")?,
                    ))
                })
                .transpose()
            }))?;
            let Some((stored_fingerprint, status, body)) = row else {
                continue;
            };
            if stored_fingerprint != fingerprint {
                return Ok(IdempotencyStart::KeyReused);
            }
            return Ok(match status {
                None => IdempotencyStart::InProgress,
                Some(status) => IdempotencyStart::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    body: body.unwrap_or_default(),
                }),
            });
        }
        Ok(IdempotencyStart::InProgress)
    }

    /// Stores the answer of an executed request for its retries. False when the ticket's lease
    /// had run out and another executor took the key over (the answer is then not stored).
    pub async fn complete_idempotent(
        &self,
        ticket: &IdempotencyTicket,
        response: &StoredResponse,
    ) -> Result<bool, StoreError> {
        let stored = execute!(
            self,
            "UPDATE idempotency_keys SET status = $4, body = $5 \
             WHERE caller_iss = $1 AND caller_sub = $2 AND key = $3 AND executor = $6 \
             AND status IS NULL",
            &ticket.caller.iss,
            &ticket.caller.sub,
            &ticket.key,
            i64::from(response.status),
            &response.body,
            &ticket.executor
        )? == 1;
        Ok(stored)
    }

    /// Forgets a pending key whose request failed before any effect, so a retry executes.
    pub async fn abandon_idempotent(&self, ticket: &IdempotencyTicket) -> Result<(), StoreError> {
        execute!(
            self,
            "DELETE FROM idempotency_keys \
             WHERE caller_iss = $1 AND caller_sub = $2 AND key = $3 AND executor = $4 \
             AND status IS NULL",
            &ticket.caller.iss,
            &ticket.caller.sub,
            &ticket.key,
            &ticket.executor
        )?;
        Ok(())
    }

    /// Deletes keys past their time to live; answers how many.
    pub async fn prune_idempotency(&self) -> Result<u64, StoreError> {
        self.delete_expired("idempotency_keys").await
    }
}
