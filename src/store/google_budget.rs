//! The cluster-wide budget of Google calls: one token bucket for every replica, interactive work
//! before background work, and one backoff for everybody after a Google 429.

use super::clock::{from_millis, to_millis};
use super::{Backend, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Who is asking for a Google call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A caller waits for the answer: may use the whole bucket.
    Interactive,
    /// A campaign or other background work: may not take the bucket's last
    /// `100 - google_background_percent` percent.
    Background,
}

/// The answer to [`Store::take_google_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleSlot {
    /// Call Google now.
    Granted,
    /// Ask again at this time (the bucket will have refilled, or the backoff ended).
    WaitUntil(DateTime<Utc>),
}

/// Units of one call in the bucket: refilling `per_minute` calls a minute is then exactly
/// `per_minute` units a millisecond, with no rounding.
const UNITS_PER_CALL: i64 = 60_000;

/// The bucket's row, as read under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    /// Units in the bucket at `refilled_at`; None means full.
    tokens: Option<i64>,
    refilled_at: i64,
    backoff_until: i64,
}

/// The decision for one take, and the bucket to write back when granted.
fn decide(
    bucket: Bucket,
    now: i64,
    kind: SlotKind,
    per_minute: u32,
    background_percent: u8,
) -> (GoogleSlot, Option<Bucket>) {
    if now < bucket.backoff_until {
        return (
            GoogleSlot::WaitUntil(from_millis(bucket.backoff_until)),
            None,
        );
    }
    let rate = i64::from(per_minute.max(1));
    let capacity = rate * UNITS_PER_CALL;
    let elapsed = now.saturating_sub(bucket.refilled_at).max(0);
    let tokens = bucket
        .tokens
        .map_or(capacity, |t| t.saturating_add(elapsed.saturating_mul(rate)))
        .min(capacity);
    let reserve = match kind {
        SlotKind::Interactive => 0,
        SlotKind::Background => capacity * (100 - i64::from(background_percent.min(100))) / 100,
    };
    let needed = UNITS_PER_CALL + reserve;
    if needed > capacity {
        // Background work has no share at all: look again in a minute.
        return (GoogleSlot::WaitUntil(from_millis(now + 60_000)), None);
    }
    if tokens >= needed {
        let after = Bucket {
            tokens: Some(tokens - UNITS_PER_CALL),
            refilled_at: now,
            backoff_until: bucket.backoff_until,
        };
        return (GoogleSlot::Granted, Some(after));
    }
    // Round up: waking a millisecond early would only find the bucket short again.
    let wait = (needed - tokens + rate - 1) / rate;
    (GoogleSlot::WaitUntil(from_millis(now + wait)), None)
}

impl Store {
    /// Takes one Google call from the cluster-wide bucket, or says when to ask again.
    ///
    /// Atomic across processes: the bucket's row is locked (`SELECT ... FOR UPDATE` on
    /// PostgreSQL, a `BEGIN IMMEDIATE` write transaction on SQLite) while it is read and updated.
    pub async fn take_google_slot(&self, kind: SlotKind) -> Result<GoogleSlot, StoreError> {
        let per_minute = self.settings.google_per_minute;
        let percent = self.settings.google_background_percent;
        let select = "SELECT tokens, refilled_at, backoff_until FROM google_budget WHERE id = 1";
        let update = "UPDATE google_budget SET tokens = $1, refilled_at = $2 WHERE id = 1";
        macro_rules! take {
            ($tx:ident, $select:expr) => {{
                let row = sqlx::query($select).fetch_one(&mut *$tx).await?;
                let bucket = Bucket {
                    tokens: row.try_get("tokens")?,
                    refilled_at: row.try_get("refilled_at")?,
                    backoff_until: row.try_get("backoff_until")?,
                };
                let now = to_millis(self.clock.now());
                let (slot, after) = decide(bucket, now, kind, per_minute, percent);
                if let Some(after) = after {
                    sqlx::query(update)
                        .bind(after.tokens)
                        .bind(after.refilled_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                $tx.commit().await?;
                Ok(slot)
            }};
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                // IMMEDIATE takes the write lock up front: a deferred transaction that reads and
                // then writes can fail with SQLITE_BUSY when another writer got in between.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                take!(tx, select)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                take!(tx, &format!("{select} FOR UPDATE"))
            }
        }
    }

    /// Google answered 429: nobody calls it before `until`, and the bucket then starts empty
    /// (refilling from `until`) so that the replicas do not all burst at once.
    pub async fn google_backoff(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        let until = to_millis(until);
        with_pool!(self, pool => sqlx::query(
            "UPDATE google_budget SET backoff_until = $1, tokens = 0, refilled_at = $1 \
             WHERE id = 1 AND backoff_until < $1",
        )
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: Bucket = Bucket {
        tokens: None,
        refilled_at: 0,
        backoff_until: 0,
    };

    #[test]
    fn a_full_bucket_grants_per_minute_calls_then_says_when_the_next_one_refills() {
        let mut bucket = FULL;
        for _ in 0..60 {
            let (slot, after) = decide(bucket, 1_000, SlotKind::Interactive, 60, 80);
            assert_eq!(slot, GoogleSlot::Granted);
            bucket = after.expect("granted writes back");
        }
        let (slot, _) = decide(bucket, 1_000, SlotKind::Interactive, 60, 80);
        assert_eq!(slot, GoogleSlot::WaitUntil(from_millis(2_000)));
        let (slot, _) = decide(bucket, 2_000, SlotKind::Interactive, 60, 80);
        assert_eq!(slot, GoogleSlot::Granted);
    }

    #[test]
    fn background_work_leaves_the_last_fifth_of_the_bucket_to_interactive_work() {
        let mut bucket = FULL;
        let mut granted = 0;
        while let (GoogleSlot::Granted, Some(after)) =
            decide(bucket, 0, SlotKind::Background, 10, 80)
        {
            bucket = after;
            granted += 1;
        }
        assert_eq!(granted, 8);
        for _ in 0..2 {
            let (slot, after) = decide(bucket, 0, SlotKind::Interactive, 10, 80);
            assert_eq!(slot, GoogleSlot::Granted);
            bucket = after.expect("granted");
        }
        assert!(matches!(
            decide(bucket, 0, SlotKind::Interactive, 10, 80).0,
            GoogleSlot::WaitUntil(_)
        ));
    }

    #[test]
    fn a_backoff_holds_everybody_until_it_ends() {
        let bucket = Bucket {
            backoff_until: 5_000,
            ..FULL
        };
        assert_eq!(
            decide(bucket, 4_999, SlotKind::Interactive, 60, 80).0,
            GoogleSlot::WaitUntil(from_millis(5_000))
        );
        assert_eq!(
            decide(bucket, 5_000, SlotKind::Interactive, 60, 80).0,
            GoogleSlot::Granted
        );
    }
}
