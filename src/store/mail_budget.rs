//! The daily mail budget: invitation mails per caller and UTC day, exact across replicas.

use super::{Caller, Store, StoreError};
use chrono::NaiveDate;
use sqlx::Row;

impl Store {
    /// Reserves one mail of `caller`'s budget for `day`; false when `limit` is used up.
    ///
    /// One statement (insert the day's row, or add one while under the limit): two replicas
    /// cannot both take the last mail.
    pub async fn reserve_mail(
        &self,
        caller: &Caller,
        day: NaiveDate,
        limit: u32,
    ) -> Result<bool, StoreError> {
        if limit == 0 {
            return Ok(false);
        }
        let day = day.to_string();
        let reserved = with_pool!(self, pool => sqlx::query(
            "INSERT INTO mail_budget (caller_iss, caller_sub, day, used) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (caller_iss, caller_sub, day) DO UPDATE SET used = mail_budget.used + 1 \
             WHERE mail_budget.used < $4 \
             RETURNING used",
        )
        .bind(&caller.iss)
        .bind(&caller.sub)
        .bind(&day)
        .bind(i64::from(limit))
        .fetch_optional(pool)
        .await
        .map(|row| row.is_some()))?;
        Ok(reserved)
    }

    /// Gives back a mail reserved with [`Store::reserve_mail`] that was not sent after all.
    pub async fn refund_mail(&self, caller: &Caller, day: NaiveDate) -> Result<(), StoreError> {
        let day = day.to_string();
        execute!(
            self,
            "UPDATE mail_budget SET used = used - 1 \
             WHERE caller_iss = $1 AND caller_sub = $2 AND day = $3 AND used > 0",
            &caller.iss,
            &caller.sub,
            &day
        )?;
        Ok(())
    }

    /// Mails `caller` has used on `day` (0 when none).
    pub async fn mails_used(&self, caller: &Caller, day: NaiveDate) -> Result<u64, StoreError> {
        let day = day.to_string();
        let used: Option<i64> = with_pool!(self, pool => sqlx::query(
            "SELECT used FROM mail_budget WHERE caller_iss = $1 AND caller_sub = $2 AND day = $3",
        )
        .bind(&caller.iss)
        .bind(&caller.sub)
        .bind(&day)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.map(|r| r.try_get::<i64, _>("used")).transpose()))?;
        Ok(used.map_or(0, |u| u64::try_from(u).unwrap_or(0)))
    }

    /// Deletes the budgets of days before `before`; answers how many rows went.
    pub async fn prune_mail_budget(&self, before: NaiveDate) -> Result<u64, StoreError> {
        // ISO dates order as text, on both databases.
        let before = before.to_string();
        let pruned = execute!(self, "DELETE FROM mail_budget WHERE day < $1", &before)?;
        Ok(pruned)
    }
}
