//! Reading what tracking recorded: the summary, changes over time, people's histories, and
//! the retention of tracking's rows.

use super::{TrackedPerson, TrackedSummary, stored_state};
use crate::store::clock::{from_millis, to_millis};
use crate::store::{KnownInvitation, Store, StoreError};
use crate::vocabulary::{ChangeKind, InvitationState, ItemOutcome};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

impl Store {
    /// Counts per state of the people the last finished walk listed (and the gateway's own
    /// changes to them since); None before the first walk finished.
    pub async fn tracked_summary(
        &self,
        customer: &str,
    ) -> Result<Option<TrackedSummary>, StoreError> {
        let Some(finished) = self.last_walk_finished(customer).await? else {
            return Ok(None);
        };
        let counts = fetch_all!(
            self,
            "SELECT state, COUNT(*) AS n FROM tracked_people WHERE customer = $1 AND listed \
             GROUP BY state ORDER BY state",
            [customer],
            |row| {
                Ok((
                    stored_state(row.try_get("state")?),
                    u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            }
        )?;
        Ok(Some(TrackedSummary {
            counts,
            as_of: from_millis(finished),
        }))
    }

    /// When the last walk (full or incremental) finished, in store milliseconds; None before
    /// the first.
    async fn last_walk_finished(&self, customer: &str) -> Result<Option<i64>, StoreError> {
        let finished: Option<i64> = with_pool!(self, pool => sqlx::query(
            "SELECT finished_at FROM tracker_walks WHERE customer = $1",
        )
        .bind(customer)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.map(|r| r.try_get::<Option<i64>, _>("finished_at")).transpose()))?
        .flatten();
        Ok(finished)
    }

    /// Whether the last walk, full or incremental, finished at or after `since`.
    async fn walked_since(&self, customer: &str, since: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self
            .last_walk_finished(customer)
            .await?
            .is_some_and(|at| at >= to_millis(since)))
    }

    /// How many of `campaign`'s pending items the tracker's snapshot shows (as
    /// [`Store::fresh_snapshot`] would), if the last walk finished at or after `fresh_since`;
    /// None when it is older or there is none. A campaign's ETA counts their cost apart.
    pub async fn pending_listed(
        &self,
        customer: &str,
        campaign: &str,
        fresh_since: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        if !self.walked_since(customer, fresh_since).await? {
            return Ok(None);
        }
        let listed: i64 = with_pool!(self, pool => sqlx::query(
            "SELECT COUNT(*) AS listed FROM campaign_items i JOIN tracked_people p \
             ON p.email = i.email AND p.customer = $1 AND p.missing_since IS NULL \
             WHERE i.campaign_id = $2 AND i.outcome = $3",
        )
        .bind(customer)
        .bind(campaign)
        .bind(ItemOutcome::Pending.as_str())
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("listed")))?;
        Ok(Some(u64::try_from(listed).unwrap_or(0)))
    }

    /// The tracker's snapshot of `emails` (as stored: normalised) if the last walk, full or
    /// incremental, finished at or after `fresh_since`; None when it is older or there is none.
    /// The snapshot shows a person until a finished full walk marks them missing (so the rows
    /// of the gateway's own mails count too); the people it does not show are left out.
    pub async fn fresh_snapshot(
        &self,
        customer: &str,
        emails: &[String],
        fresh_since: DateTime<Utc>,
    ) -> Result<Option<Vec<(String, KnownInvitation)>>, StoreError> {
        if !self.walked_since(customer, fresh_since).await? {
            return Ok(None);
        }
        if emails.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let people = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT email, state, mails_sent_count, update_time FROM tracked_people \
                 WHERE missing_since IS NULL AND customer = ",
            );
            query.push_bind(customer);
            query.push(" AND email");
            crate::store::push_in(&mut query, emails);
            decode_rows!(query.build().fetch_all(pool).await, |row| {
                Ok((
                    row.try_get::<String, _>("email")?,
                    KnownInvitation {
                        state: stored_state(row.try_get("state")?),
                        mails_sent: row.try_get("mails_sent_count")?,
                        updated: row.try_get::<Option<i64>, _>("update_time")?.map(from_millis),
                    },
                ))
            })
        })?;
        Ok(Some(people))
    }

    /// Changes of `kinds` recorded in `[from, to)`, oldest first: (kind, when).
    pub async fn changes_between(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(ChangeKind, DateTime<Utc>)>, StoreError> {
        let rows = fetch_all!(
            self,
            "SELECT change, at FROM tracked_changes WHERE customer = $1 AND at >= $2 AND at < $3 \
             AND change IN ($4, $5, $6) ORDER BY at, id",
            [
                customer,
                to_millis(from),
                to_millis(to),
                ChangeKind::Sent.as_str(),
                ChangeKind::Accepted.as_str(),
                ChangeKind::Declined.as_str(),
            ],
            |row| {
                Ok((
                    row.try_get::<String, _>("change")?,
                    row.try_get::<i64, _>("at")?,
                ))
            }
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, at)| ChangeKind::from_name(&kind).map(|k| (k, from_millis(at))))
            .collect())
    }

    /// For every acceptance recorded in `[from, to)`: how long after the person's last mail
    /// before it (people whose mail the gateway never saw are left out).
    pub async fn accept_delays(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Duration>, StoreError> {
        let delays = fetch_all!(
            self,
            "SELECT c.at AS at, (SELECT MAX(s.at) FROM tracked_changes s WHERE s.customer = c.customer \
             AND s.email = c.email AND s.change = $4 AND s.id < c.id) AS sent_at \
             FROM tracked_changes c WHERE c.customer = $1 AND c.change = $5 \
             AND c.at >= $2 AND c.at < $3",
            [
                customer,
                to_millis(from),
                to_millis(to),
                ChangeKind::Sent.as_str(),
                ChangeKind::Accepted.as_str(),
            ],
            |row| {
                Ok((
                    row.try_get::<i64, _>("at")?,
                    row.try_get::<Option<i64>, _>("sent_at")?,
                ))
            }
        )?;
        Ok(delays
            .into_iter()
            .filter_map(|(at, sent)| {
                let ms = at.checked_sub(sent?)?;
                u64::try_from(ms).ok().map(Duration::from_millis)
            })
            .collect())
    }

    /// The people mailed in `[from, to)`, and how many of them accepted after that mail (up to
    /// now): the funnel's acceptance rate.
    pub async fn mailed_cohort(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let (mailed, accepted) = with_pool!(self, pool => sqlx::query(
            "SELECT COUNT(DISTINCT s.email) AS mailed, COUNT(DISTINCT a.email) AS accepted \
             FROM tracked_changes s LEFT JOIN tracked_changes a ON a.customer = s.customer \
             AND a.email = s.email AND a.change = $5 AND a.id > s.id \
             WHERE s.customer = $1 AND s.change = $4 AND s.at >= $2 AND s.at < $3",
        )
        .bind(customer)
        .bind(to_millis(from))
        .bind(to_millis(to))
        .bind(ChangeKind::Sent.as_str())
        .bind(ChangeKind::Accepted.as_str())
        .fetch_one(pool)
        .await
        .and_then(|row| Ok((row.try_get::<i64, _>("mailed")?, row.try_get::<i64, _>("accepted")?))))?;
        Ok((
            u64::try_from(mailed).unwrap_or(0),
            u64::try_from(accepted).unwrap_or(0),
        ))
    }

    /// Every recorded change of each of `emails` (as stored: normalised), oldest first.
    pub async fn history(
        &self,
        customer: &str,
        emails: &[String],
    ) -> Result<HashMap<String, Vec<(ChangeKind, DateTime<Utc>)>>, StoreError> {
        let mut out: HashMap<String, Vec<(ChangeKind, DateTime<Utc>)>> = HashMap::new();
        if emails.is_empty() {
            return Ok(out);
        }
        let rows = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT email, change, at FROM tracked_changes WHERE customer = ",
            );
            query.push_bind(customer);
            query.push(" AND email");
            crate::store::push_in(&mut query, emails);
            query.push(" ORDER BY id");
            decode_rows!(query.build().fetch_all(pool).await, |row| {
                Ok((
                    row.try_get::<String, _>("email")?,
                    row.try_get::<String, _>("change")?,
                    row.try_get::<i64, _>("at")?,
                ))
            })
        })?;
        for (email, change, at) in rows {
            if let Some(kind) = ChangeKind::from_name(&change) {
                out.entry(email).or_default().push((kind, from_millis(at)));
            }
        }
        Ok(out)
    }

    /// The latest tracked state of each of `emails` the gateway knows (campaigns read the
    /// accepted and declined signal here); unknown people are left out.
    pub async fn latest_tracked(
        &self,
        customer: &str,
        emails: &[String],
    ) -> Result<Vec<TrackedPerson>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let people = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT email, state, mails_sent_count, changed_at, listed, missing_since \
                 FROM tracked_people WHERE customer = ",
            );
            query.push_bind(customer);
            query.push(" AND email");
            crate::store::push_in(&mut query, emails);
            query.push(" ORDER BY email");
            decode_rows!(query.build().fetch_all(pool).await, |row| {
                Ok(TrackedPerson {
                    email: row.try_get("email")?,
                    state: stored_state(row.try_get("state")?),
                    mails_sent_count: row.try_get("mails_sent_count")?,
                    changed_at: from_millis(row.try_get("changed_at")?),
                    listed: row.try_get("listed")?,
                    missing_since: row.try_get::<Option<i64>, _>("missing_since")?.map(from_millis),
                })
            })
        })?;
        Ok(people)
    }

    /// Deletes changes recorded before `before`, and people no walk has listed since then.
    pub async fn prune_tracking(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let changes = execute!(self, "DELETE FROM tracked_changes WHERE at < $1", before)?;
        let people = execute!(
            self,
            "DELETE FROM tracked_people WHERE NOT listed AND changed_at < $1 \
             AND missing_since IS NOT NULL AND missing_since < $1",
            before
        )?;
        Ok(changes + people)
    }

    /// Every recorded change of `customer` before `until` as (person, state after it, when),
    /// each person's in the order recorded: what the overview replays day by day.
    pub async fn state_changes_before(
        &self,
        customer: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, InvitationState, DateTime<Utc>)>, StoreError> {
        let rows = fetch_all!(
            self,
            "SELECT email, state, at FROM tracked_changes WHERE customer = $1 AND at < $2 \
             ORDER BY email, id",
            [customer, to_millis(until)],
            |row| Ok::<_, sqlx::Error>((
                row.try_get::<String, _>("email")?,
                stored_state(row.try_get("state")?),
                from_millis(row.try_get("at")?),
            ))
        )?;
        Ok(rows)
    }
}
