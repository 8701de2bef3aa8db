//! Reading the audit trail (pages, searches) and the folded record of refused requests.

use super::{
    AuditCursor, AuditEvent, AuditFilter, AuditId, AuditListing, AuditSearch, DenialRecord,
};
use super::{EVENT_COLUMNS, SEARCH_LIMIT};
use crate::store::clock::{duration_millis, from_millis, to_millis};
use crate::store::{Caller, Store, StoreError};
use crate::vocabulary::{Action, Outcome};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Counts a refused request of `reason` from `peer`, folded into one row per
    /// `denial_interval`: a flood of bad tokens adds a few rows, never thousands. True when it
    /// is the first of its (reason, peer, interval), so other sinks can record only that one.
    pub async fn record_denial(&self, reason: &str, peer: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let interval = duration_millis(self.settings.denial_interval).max(1);
        let interval_start = now - now.rem_euclid(interval);
        let first = with_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_denials (reason, peer, interval_start, count, last_at) \
             VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (reason, peer, interval_start) DO UPDATE \
             SET count = audit_denials.count + 1, last_at = excluded.last_at \
             RETURNING count",
        )
        .bind(reason)
        .bind(peer)
        .bind(interval_start)
        .bind(now)
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get::<i64, _>("count")))
        .map(|count| count == 1)?;
        Ok(first)
    }

    /// Folded denials whose interval starts in `[from, to)`, oldest first.
    pub async fn list_denials(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DenialRecord>, StoreError> {
        let records = fetch_all!(
            self,
            "SELECT reason, peer, interval_start, count, last_at FROM audit_denials \
             WHERE interval_start >= $1 AND interval_start < $2 \
             ORDER BY interval_start, reason, peer",
            [to_millis(from), to_millis(to)],
            |row| {
                Ok(DenialRecord {
                    reason: row.try_get("reason")?,
                    peer: row.try_get("peer")?,
                    interval_start: from_millis(row.try_get("interval_start")?),
                    count: u64::try_from(row.try_get::<i64, _>("count")?).unwrap_or(0),
                    last_at: from_millis(row.try_get("last_at")?),
                })
            }
        )?;
        Ok(records)
    }

    /// One page of the audit trail matching `filter`, newest first (by time, then id: rows
    /// from replicas whose clocks differ still come in time order), at most `limit` rows (1 to
    /// 1000), resuming after `cursor`.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: u32,
        cursor: Option<AuditCursor>,
    ) -> Result<AuditListing, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events \
             WHERE ($1 IS NULL OR action = $1) \
             AND ($2 IS NULL OR outcome = $2) \
             AND ($3 IS NULL OR caller_iss = $3) \
             AND ($4 IS NULL OR caller_sub = $4) \
             AND ($5 IS NULL OR campaign_id = $5) \
             AND ($6 IS NULL OR at >= $6) \
             AND ($7 IS NULL OR at < $7) \
             AND ($8 IS NULL OR at < $8 OR (at = $8 AND id < $9)) \
             ORDER BY at DESC, id DESC LIMIT $10"
        );
        let mut events = fetch_all!(
            self,
            &sql,
            [
                filter.action.map(Action::as_str),
                filter.outcome.map(Outcome::as_str),
                &filter.caller_iss,
                &filter.caller_sub,
                &filter.campaign_id,
                filter.from.map(to_millis),
                filter.to.map(to_millis),
                cursor.map(|c| c.at),
                cursor.map(|c| c.id),
                // One more than asked tells whether another page follows.
                limit + 1,
            ],
            |row| event_from_row!(row)
        )?;
        let next = crate::store::next_page(&mut events, limit, |e| AuditCursor {
            at: to_millis(e.at),
            id: e.id.0,
        });
        Ok(AuditListing { events, next })
    }

    /// Every row about any of `emails` (as stored: normalised addresses), newest first, at most
    /// [`SEARCH_LIMIT`] (then `truncated`).
    pub async fn search_audit(&self, emails: &[String]) -> Result<AuditSearch, StoreError> {
        if emails.is_empty() {
            return Ok(AuditSearch {
                events: Vec::new(),
                truncated: false,
            });
        }
        let mut events = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE email"
            ));
            crate::store::push_in(&mut query, emails);
            // One more than the limit tells whether rows were left out.
            query.push(" ORDER BY at DESC, id DESC LIMIT ");
            query.push_bind(SEARCH_LIMIT + 1);
            decode_rows!(query.build().fetch_all(pool).await, |row| event_from_row!(row))
        })?;
        let truncated = events.len() > usize::try_from(SEARCH_LIMIT).unwrap_or(usize::MAX);
        events.truncate(usize::try_from(SEARCH_LIMIT).unwrap_or(usize::MAX));
        Ok(AuditSearch { events, truncated })
    }

    /// Deletes audit rows and folded denials recorded before `before`; answers how many.
    pub async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let events = execute!(self, "DELETE FROM audit_events WHERE at < $1", before)?;
        let denials = execute!(
            self,
            "DELETE FROM audit_denials WHERE interval_start < $1",
            before
        )?;
        Ok(events + denials)
    }
}
