//! A campaign's life: creating it, planning its source, moving its state, completing,
//! cancelling and deleting it.

use super::WaitingReason;
use super::named;
use super::{
    CAMPAIGN_COLUMNS, CampaignRecord, CampaignState, NewCampaign, Reminders, count, strings,
};
use crate::store::clock::{from_millis, new_token, to_millis};
use crate::store::{Caller, OutboxEvent, Store, StoreError};
use crate::vocabulary::{InvitationState, ItemOutcome, SourceKind};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

impl Store {
    /// Creates a campaign (without items: add them with [`Store::add_campaign_items`]).
    pub async fn create_campaign(
        &self,
        campaign: &NewCampaign,
    ) -> Result<CampaignRecord, StoreError> {
        let now = self.clock.now();
        let state = if campaign.start_at > now {
            CampaignState::Scheduled
        } else {
            CampaignState::Running
        };
        let states = (!campaign.source_states.is_empty()).then(|| {
            let names: Vec<&str> = campaign.source_states.iter().map(|s| s.as_str()).collect();
            names.join(",")
        });
        let sql = format!(
            "INSERT INTO campaigns (id, owner_iss, owner_sub, name, state, dry_run, resend, \
             source_kind, source_states, remind_after_secs, remind_max, start_at, planned, \
             google_calls, created_at, updated_at, check_unlisted, deadline, at_deadline, \
             from_dry_run) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14, $15, \
             $16, $17, $18) \
             RETURNING {CAMPAIGN_COLUMNS}"
        );
        let record = with_pool!(self, pool => sqlx::query(&sql)
            .bind(&campaign.id)
            .bind(&campaign.owner.iss)
            .bind(&campaign.owner.sub)
            .bind(&campaign.name)
            .bind(state.as_str())
            .bind(i64::from(campaign.dry_run))
            .bind(i64::from(campaign.resend))
            .bind(campaign.source_kind.as_str())
            .bind(states)
            .bind(campaign.reminders.map(|r| i64::try_from(r.after.as_secs()).unwrap_or(i64::MAX)))
            .bind(campaign.reminders.map(|r| i64::from(r.max)))
            .bind(to_millis(campaign.start_at))
            .bind(i64::from(campaign.planned))
            .bind(to_millis(now))
            .bind(i64::from(campaign.check_unlisted))
            .bind(campaign.terms.deadline.map(to_millis))
            .bind(campaign.terms.at_deadline.as_str())
            .bind(campaign.terms.from_dry_run.as_deref())
            .fetch_one(pool)
            .await
            .and_then(|row| campaign_from_row!(row)))?;
        Ok(record)
    }

    /// Records the names of a roster's other columns on campaign `id` (its items' values
    /// follow them).
    pub async fn set_roster_columns(&self, id: &str, columns: &[String]) -> Result<(), StoreError> {
        let columns = serde_json::to_string(columns).unwrap_or_default();
        execute!(
            self,
            "UPDATE campaigns SET roster_columns = $2 WHERE id = $1",
            id,
            columns
        )?;
        Ok(())
    }

    /// Deletes campaign `id` and its items, together (a creation that failed half-way).
    pub async fn delete_campaign(&self, id: &str) -> Result<(), StoreError> {
        in_tx!(self, conn => async {
            sqlx::query("DELETE FROM campaign_items WHERE campaign_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM campaigns WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }.await);
        Ok(())
    }

    /// Deletes, with their items, the imports created before `before` that never finished: a
    /// campaign of addresses or of a roster is unplanned only while its creating request
    /// writes its items, so one still unplanned long after was left by a request that could
    /// not clean up (its process died, or the store failed it). A `states` campaign, unplanned
    /// until a worker has walked Google's list, is never touched. Answers how many rows went.
    pub async fn delete_abandoned_imports(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const ABANDONED: &str = "SELECT id FROM campaigns WHERE planned = 0 \
             AND source_kind <> $2 AND created_at < $1";
        let names = [SourceKind::States.as_str()];
        self.delete_campaigns_in(ABANDONED, to_millis(before), &names)
            .await
    }

    /// Marks a campaign's items as all known (its source was walked to the end).
    pub async fn finish_campaign_planning(&self, campaign_id: &str) -> Result<(), StoreError> {
        let now = to_millis(self.clock.now());
        execute!(
            self,
            "UPDATE campaigns SET planned = 1, plan_token = NULL, plan_until = NULL, \
             updated_at = $2 WHERE id = $1",
            campaign_id,
            now
        )?;
        Ok(())
    }

    /// Takes the walk of an unplanned campaign's source for `lease`; false when it is planned
    /// or another replica walks it now. A walker that died leaves a lease that runs out.
    pub async fn claim_campaign_planning(
        &self,
        campaign_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let (now, until) = self.clock.lease(lease);
        let token = new_token();
        let claimed = execute!(
            self,
            "UPDATE campaigns SET plan_token = $2, plan_until = $3 \
             WHERE id = $1 AND planned = 0 AND (plan_until IS NULL OR plan_until <= $4)",
            campaign_id,
            &token,
            until,
            now
        )? == 1;
        Ok(claimed)
    }

    /// Moves campaign `id` to `to` when it is in one of `from`; `resumes_at` is set (waiting)
    /// or cleared. Answers whether it moved. Completing or cancelling stamps `completed_at`.
    pub async fn set_campaign_state(
        &self,
        id: &str,
        from: &[CampaignState],
        to: CampaignState,
        resumes_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let moved = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new("UPDATE campaigns SET state = ");
            query.push_bind(to.as_str());
            query.push(", resumes_at = ");
            query.push_bind(resumes_at.map(to_millis));
            if to != CampaignState::Waiting {
                // Its reason went with the wait.
                query.push(", waiting_reason = NULL");
            }
            query.push(", updated_at = ");
            query.push_bind(now);
            query.push(", completed_at = ");
            query.push_bind(to.is_final().then_some(now));
            query.push(" WHERE id = ");
            query.push_bind(id);
            query.push(" AND state");
            crate::store::push_in(&mut query, from.iter().copied());
            query.build().execute(pool).await.map(|r| r.rows_affected() == 1)
        })?;
        Ok(moved)
    }

    /// Makes campaign `id`, if it runs, wait until `until` for `reason`. Answers whether it
    /// moved.
    pub async fn campaign_waits(
        &self,
        id: &str,
        until: DateTime<Utc>,
        reason: WaitingReason,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let moved = execute!(
            self,
            "UPDATE campaigns SET state = $5, resumes_at = $2, waiting_reason = $3, \
             updated_at = $4 WHERE id = $1 AND state = $6",
            id,
            to_millis(until),
            reason.as_str(),
            now,
            CampaignState::Waiting.as_str(),
            CampaignState::Running.as_str()
        )? == 1;
        Ok(moved)
    }

    /// Resumes campaign `id` if it is paused, to what it was: `scheduled` while its `startAt`
    /// is still ahead, `running` after (a waiting campaign runs and waits again if it must).
    /// One statement, so the start is compared with the store's clock at the moment it moves.
    /// Answers whether it moved.
    pub async fn resume_campaign(&self, id: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let moved = execute!(
            self,
            "UPDATE campaigns SET state = CASE WHEN start_at > $2 THEN $3 \
             ELSE $4 END, resumes_at = NULL, updated_at = $2 \
             WHERE id = $1 AND state = $5",
            id,
            now,
            CampaignState::Scheduled.as_str(),
            CampaignState::Running.as_str(),
            CampaignState::Paused.as_str()
        )? == 1;
        Ok(moved)
    }

    /// Cancels campaign `id` unless it is final: its pending items become `cancelled`, mailed
    /// items get no reminder; items in flight finish as they are. Answers whether it moved.
    pub async fn cancel_campaign(&self, id: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let moved = in_tx!(self, conn => async {
            let moved = sqlx::query(
                "UPDATE campaigns SET state = $3, resumes_at = NULL, \
                 updated_at = $2, completed_at = $2 \
                 WHERE id = $1 AND state NOT IN ($4, $3)",
            )
            .bind(id)
            .bind(now)
            .bind(CampaignState::Cancelled.as_str())
            .bind(CampaignState::Completed.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if moved {
                sqlx::query(
                    "UPDATE campaign_items SET outcome = $3, due_at = NULL, \
                     updated_at = $2 WHERE campaign_id = $1 AND outcome = $4 \
                     AND mailing = 0",
                )
                .bind(id)
                .bind(now)
                .bind(ItemOutcome::Cancelled.as_str())
                .bind(ItemOutcome::Pending.as_str())
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE campaign_items SET due_at = NULL, updated_at = $2 \
                     WHERE campaign_id = $1 AND due_at IS NOT NULL AND mailing = 0",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok::<bool, sqlx::Error>(moved)
        }.await);
        Ok(moved)
    }

    /// Archives campaign `id` (`archived`: sets `archived_at` to now unless it is set already)
    /// or unarchives it, if it is a finished (completed or cancelled) dry run. Nothing else
    /// changes: its items, counts and audit records stay. Answers whether it is one.
    pub async fn archive_campaign(&self, id: &str, archived: bool) -> Result<bool, StoreError> {
        let at = archived.then(|| to_millis(self.clock.now()));
        let changed = execute!(
            self,
            "UPDATE campaigns SET archived_at = CASE WHEN $2 IS NULL THEN NULL \
             ELSE COALESCE(archived_at, $2) END \
             WHERE id = $1 AND dry_run = 1 AND state IN ($3, $4)",
            id,
            at,
            CampaignState::Completed.as_str(),
            CampaignState::Cancelled.as_str()
        )? == 1;
        Ok(changed)
    }

    /// Counts `calls` more Google calls for campaign `id`.
    pub async fn add_campaign_calls(&self, id: &str, calls: u64) -> Result<(), StoreError> {
        if calls == 0 {
            return Ok(());
        }
        execute!(
            self,
            "UPDATE campaigns SET google_calls = google_calls + $2 WHERE id = $1",
            id,
            i64::try_from(calls).unwrap_or(i64::MAX)
        )?;
        Ok(())
    }

    /// Completes campaign `id` when it is planned, active, and no item has work left; answers
    /// whether this call completed it. The event `announce` builds from the campaign's name and
    /// counts is appended in the same transaction: the conditional update lets exactly one of
    /// several replicas finishing the last items at once complete it (the others wait for its
    /// row lock and then find it completed), so the campaign is announced exactly once.
    pub async fn complete_campaign_if_done(
        &self,
        id: &str,
        announce: impl FnOnce(&str, &BTreeMap<ItemOutcome, u64>) -> OutboxEvent,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let mut tx = self.begin().await?;
        let done = with_tx!(tx, conn => async {
            let name = sqlx::query(
                "UPDATE campaigns SET state = $3, resumes_at = NULL, updated_at = $2, \
                 completed_at = $2 WHERE id = $1 AND planned = 1 \
                 AND state IN ($4, $5, $6) \
                 AND NOT EXISTS (SELECT 1 FROM campaign_items i \
                     WHERE i.campaign_id = $1 AND (i.due_at IS NOT NULL OR i.lease_token IS NOT NULL)) \
                 RETURNING name",
            )
            .bind(id)
            .bind(now)
            .bind(CampaignState::Completed.as_str())
            .bind(super::DUE_STATES[0])
            .bind(super::DUE_STATES[1])
            .bind(super::DUE_STATES[2])
            .fetch_optional(&mut *conn)
            .await?;
            let Some(name) = name else {
                return Ok::<_, sqlx::Error>(None);
            };
            let name: String = name.try_get("name")?;
            let counts = count_outcomes!(&mut *conn, id)?;
            Ok(Some((name, counts)))
        }.await)?;
        let Some((name, counts)) = done else {
            return Ok(false);
        };
        let event = announce(&name, &counts);
        self.append_events(&mut tx, std::slice::from_ref(&event))
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the campaigns that finished (completed or cancelled) before `before`, with
    /// their items; answers how many rows went. Active and paused campaigns are kept whatever
    /// their age.
    pub async fn prune_campaigns(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const FINISHED: &str = "SELECT id FROM campaigns WHERE state IN ($2, $3) \
             AND COALESCE(completed_at, updated_at) < $1";
        let names = [CampaignState::Completed, CampaignState::Cancelled].map(CampaignState::as_str);
        self.delete_campaigns_in(FINISHED, to_millis(before), &names)
            .await
    }

    /// Deletes the campaigns `selection` (a `SELECT id FROM campaigns ...` taking `$1`, bound
    /// to `millis`, then `names` from `$2`) with their items, in one transaction; answers how
    /// many rows went.
    async fn delete_campaigns_in(
        &self,
        selection: &str,
        millis: i64,
        names: &[&str],
    ) -> Result<u64, StoreError> {
        // Items first: the selection still sees their campaigns.
        let statements = [
            format!("DELETE FROM campaign_items WHERE campaign_id IN ({selection})"),
            format!("DELETE FROM campaigns WHERE id IN ({selection})"),
        ];
        let mut tx = self.begin().await?;
        let deleted = with_tx!(tx, conn => async {
            let mut deleted = 0;
            for sql in &statements {
                let query = names
                    .iter()
                    .fold(sqlx::query(sql).bind(millis), |query, name| query.bind(*name));
                deleted += query
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            Ok::<_, sqlx::Error>(deleted)
        }.await)?;
        tx.commit().await?;
        Ok(deleted)
    }
}
