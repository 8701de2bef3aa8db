//! The event outbox (CloudEvents in the order their changes committed) and the webhook
//! deliveries of each event to each endpoint.
//!
//! Feed order: an event's `position` is taken when it is inserted, but transactions commit in
//! their own order, so a reader could see position 7 before 6 commits and skip 6 forever. Every
//! append therefore runs under one lock held until its transaction ends (PostgreSQL: a
//! transaction-level advisory lock; SQLite has one writer anyway): positions commit in order, and
//! a reader that saw `n` will never later find a smaller one. Keep the append the last write of
//! its transaction, so that the lock is held briefly.

use super::clock::{from_millis, to_millis};
use super::{Store, StoreError, StoreTx};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;

/// The advisory lock key that serialises outbox appends on PostgreSQL ("outbox" in ASCII).
const OUTBOX_LOCK: i64 = 0x6f75_7462_6f78;

/// An event to append: its CloudEvent JSON is written as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The CloudEvent `id`, unique.
    pub id: String,
    /// The CloudEvent `type`.
    pub kind: String,
    /// The CloudEvent `time`.
    pub at: DateTime<Utc>,
    /// The whole CloudEvent, structured JSON.
    pub body: String,
}

/// An event as stored, with its place in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its place in the feed; grows in commit order.
    pub position: i64,
    /// The CloudEvent `id`.
    pub id: String,
    /// The CloudEvent `type`.
    pub kind: String,
    /// The CloudEvent `time`.
    pub at: DateTime<Utc>,
    /// The whole CloudEvent JSON.
    pub body: String,
}

/// One delivery of one event to one endpoint, leased to the caller of
/// [`Store::claim_deliveries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event.
    pub event: StoredEvent,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the delivery was scheduled (its retry window starts here).
    pub created_at: DateTime<Utc>,
}

/// Inserts `event` into the outbox inside `conn`'s transaction (the lock is taken by the caller).
macro_rules! insert_event {
    ($conn:expr, $event:expr) => {
        sqlx::query("INSERT INTO event_outbox (id, type, at, body) VALUES ($1, $2, $3, $4)")
            .bind(&$event.id)
            .bind(&$event.kind)
            .bind(to_millis($event.at))
            .bind(&$event.body)
            .execute($conn)
            .await
            .map(|_| ())
    };
}

macro_rules! event_from_row {
    ($row:expr) => {{
        let row = $row;
        Ok::<_, sqlx::Error>(StoredEvent {
            position: row.try_get("position")?,
            id: row.try_get("id")?,
            kind: row.try_get("type")?,
            at: from_millis(row.try_get("at")?),
            body: row.try_get("body")?,
        })
    }};
}

impl Store {
    /// Appends `events` to the outbox inside `tx`: they become visible, in this order, when `tx`
    /// commits, and no event appended later can take a smaller position. Make it the last write
    /// of the transaction (on PostgreSQL every other appender waits until `tx` ends).
    pub async fn append_events(
        &self,
        tx: &mut StoreTx,
        events: &[OutboxEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        match &mut tx.inner {
            super::TxInner::Sqlite(tx) => {
                for event in events {
                    insert_event!(&mut **tx, event)?;
                }
            }
            super::TxInner::Postgres(tx) => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(OUTBOX_LOCK)
                    .execute(&mut **tx)
                    .await?;
                for event in events {
                    insert_event!(&mut **tx, event)?;
                }
            }
        }
        Ok(())
    }

    /// Appends one event in a transaction of its own (e.g. an event with no other change).
    pub async fn append_event(&self, event: &OutboxEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.append_events(&mut tx, std::slice::from_ref(event))
            .await?;
        tx.commit().await
    }

    /// Events after position `after`, oldest first, at most `limit` (1 to 1000).
    pub async fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let events = fetch_all!(
            self,
            "SELECT position, id, type, at, body FROM event_outbox WHERE position > $1 \
             ORDER BY position LIMIT $2",
            [after, limit],
            |row| event_from_row!(row)
        )?;
        Ok(events)
    }

    /// Schedules a delivery to `endpoint` of every event appended since the last call (at most
    /// `batch`); answers how many. An endpoint seen for the first time starts at the feed's
    /// current end: it gets events from now on, not the whole history.
    pub async fn schedule_deliveries(&self, endpoint: &str, batch: u32) -> Result<u64, StoreError> {
        let now = to_millis(self.clock.now());
        let batch = i64::from(batch.clamp(1, 1000));
        let lock = self.lock_suffix(super::RowLock::Wait);
        let scheduled = in_tx!(self, conn => async {
            sqlx::query(
                "INSERT INTO webhook_endpoints (endpoint, scheduled) \
                 SELECT $1, COALESCE(MAX(position), 0) FROM event_outbox WHERE TRUE \
                 ON CONFLICT (endpoint) DO NOTHING",
            )
            .bind(endpoint)
            .execute(&mut *conn)
            .await?;
            let from: i64 = sqlx::query(&format!(
                "SELECT scheduled FROM webhook_endpoints WHERE endpoint = $1{lock}"
            ))
            .bind(endpoint)
            .fetch_one(&mut *conn)
            .await?
            .try_get("scheduled")?;
            let rows = sqlx::query(
                "SELECT position FROM event_outbox WHERE position > $1 ORDER BY position LIMIT $2",
            )
            .bind(from)
            .bind(batch)
            .fetch_all(&mut *conn)
            .await?;
            let mut last = from;
            for row in &rows {
                let position: i64 = row.try_get("position")?;
                sqlx::query(
                    "INSERT INTO webhook_deliveries (endpoint, position, created_at, attempts, \
                     next_attempt_at, lease_until) VALUES ($1, $2, $3, 0, $3, 0) \
                     ON CONFLICT (endpoint, position) DO NOTHING",
                )
                .bind(endpoint)
                .bind(position)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                last = position;
            }
            if last > from {
                sqlx::query("UPDATE webhook_endpoints SET scheduled = $2 WHERE endpoint = $1")
                    .bind(endpoint)
                    .bind(last)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(rows.len() as u64)
        }.await);
        Ok(scheduled)
    }

    /// Gives back every delivery `holder` leased and did not finish (shutdown), so another
    /// replica attempts them at once instead of after the lease. An attempt cut off in flight
    /// may have reached the endpoint: it comes again under the same `webhook-id`.
    pub async fn release_deliveries(&self, holder: &str) -> Result<u64, StoreError> {
        let released = execute!(
            self,
            "UPDATE webhook_deliveries SET holder = NULL, lease_until = 0 \
             WHERE holder = $1 AND delivered_at IS NULL AND given_up_at IS NULL",
            holder
        )?;
        Ok(released)
    }

    /// Leases up to `limit` deliveries to `endpoint` that are due, oldest first, to `holder`
    /// for `lease`: no other holder gets them until the lease runs out or they are settled.
    pub async fn claim_deliveries(
        &self,
        endpoint: &str,
        holder: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (now, until) = self.clock.lease(lease);
        // The conditions are repeated outside the subquery: PostgreSQL re-checks them on a row
        // another replica leased meanwhile, so one delivery never goes to two holders.
        let deliveries = fetch_all!(
            self,
            "UPDATE webhook_deliveries SET holder = $2, lease_until = $3 \
             WHERE endpoint = $1 AND delivered_at IS NULL AND given_up_at IS NULL \
             AND next_attempt_at <= $4 AND lease_until <= $4 AND position IN (\
               SELECT position FROM webhook_deliveries WHERE endpoint = $1 \
               AND delivered_at IS NULL AND given_up_at IS NULL \
               AND next_attempt_at <= $4 AND lease_until <= $4 ORDER BY position LIMIT $5) \
             RETURNING position, attempts, created_at",
            [endpoint, holder, until, now, i64::from(limit.clamp(1, 100))],
            |row| {
                Ok((
                    row.try_get::<i64, _>("position")?,
                    row.try_get::<i64, _>("attempts")?,
                    row.try_get::<i64, _>("created_at")?,
                ))
            }
        )?;
        let mut out = Vec::with_capacity(deliveries.len());
        for (position, attempts, created_at) in deliveries {
            let event = with_pool!(self, pool => sqlx::query(
                "SELECT position, id, type, at, body FROM event_outbox WHERE position = $1",
            )
            .bind(position)
            .fetch_optional(pool)
            .await
            .and_then(|row| row.as_ref().map(|row| event_from_row!(row)).transpose()))?;
            // An event pruned under its delivery (older than the retention) is not sent.
            if let Some(event) = event {
                out.push(Delivery {
                    event,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    created_at: from_millis(created_at),
                });
            }
        }
        out.sort_by_key(|d| d.event.position);
        Ok(out)
    }

    /// The endpoint took the delivery. False when `holder` no longer held it.
    pub async fn delivery_succeeded(
        &self,
        endpoint: &str,
        position: i64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let done = execute!(
            self,
            "UPDATE webhook_deliveries SET delivered_at = $4, attempts = attempts + 1, \
             last_status = 'ok', holder = NULL, lease_until = 0 \
             WHERE endpoint = $1 AND position = $2 AND holder = $3",
            endpoint,
            position,
            holder,
            now
        )? == 1;
        Ok(done)
    }

    /// The attempt failed with `status` (an HTTP status or `timeout`, `connect`, ...): try again
    /// at `retry_at`, or give up when it is None. False when `holder` no longer held it.
    pub async fn delivery_failed(
        &self,
        endpoint: &str,
        position: i64,
        holder: &str,
        status: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let (next, given_up) = match retry_at {
            Some(at) => (to_millis(at), None),
            None => (now, Some(now)),
        };
        let done = execute!(
            self,
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $4, \
             next_attempt_at = $5, given_up_at = $6, holder = NULL, lease_until = 0 \
             WHERE endpoint = $1 AND position = $2 AND holder = $3",
            endpoint,
            position,
            holder,
            status,
            next,
            given_up
        )? == 1;
        Ok(done)
    }

    /// Deliveries to `endpoint` neither delivered nor given up (its backlog).
    pub async fn delivery_backlog(&self, endpoint: &str) -> Result<u64, StoreError> {
        let count: i64 = with_pool!(self, pool => sqlx::query(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint = $1 \
             AND delivered_at IS NULL AND given_up_at IS NULL",
        )
        .bind(endpoint)
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("n")))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Deletes outbox events and delivery rows older than `before`; answers how many.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let deliveries = execute!(
            self,
            "DELETE FROM webhook_deliveries WHERE created_at < $1",
            before
        )?;
        let events = execute!(self, "DELETE FROM event_outbox WHERE at < $1", before)?;
        Ok(deliveries + events)
    }
}
