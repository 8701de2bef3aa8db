//! A campaign's deadline: finding the campaigns past it, and passing it once across replicas
//! (the people it still has INVITED become `no_answer`, the campaign `completed`, and the
//! event is appended, in one transaction).

use super::{CAMPAIGN_COLUMNS, CampaignRecord, Reminders, WaitingReason, count, named, strings};
use crate::store::clock::{from_millis, to_millis};
use crate::store::{Caller, OutboxEvent, Store, StoreError};
use crate::vocabulary::{AtDeadline, CampaignState, InvitationState, ItemOutcome, SourceKind};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

/// The `reason` of an item that had not been mailed when its campaign's deadline passed (it
/// becomes `cancelled`).
const DEADLINE_REASON: &str = "deadline";

/// The outcomes of a person a campaign has INVITED and who has not answered yet.
pub(super) const OPEN_OUTCOMES: [ItemOutcome; 3] = [
    ItemOutcome::Sent,
    ItemOutcome::Resent,
    ItemOutcome::AlreadyInvited,
];

impl Store {
    /// The campaigns that passed their deadline with `atDeadline: cancel` and have people
    /// whose invitation is still to be cancelled (`no_answer` items due).
    pub async fn campaigns_cancelling(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let now = to_millis(self.clock.now());
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE at_deadline = $2 \
             AND deadline_reached_at IS NOT NULL AND EXISTS (SELECT 1 FROM campaign_items i \
             WHERE i.campaign_id = campaigns.id AND i.due_at IS NOT NULL AND i.due_at <= $1 \
             AND i.outcome = $3) ORDER BY deadline, id"
        );
        let campaigns = fetch_all!(
            self,
            &sql,
            [
                now,
                AtDeadline::Cancel.as_str(),
                ItemOutcome::NoAnswer.as_str()
            ],
            |row| campaign_from_row!(row)
        )?;
        Ok(campaigns)
    }

    /// The campaigns whose deadline has come and not been passed yet (cancelled ones and
    /// imports still being written apart), oldest deadline first.
    pub async fn campaigns_past_deadline(&self) -> Result<Vec<String>, StoreError> {
        let now = to_millis(self.clock.now());
        let ids = fetch_all!(
            self,
            "SELECT id FROM campaigns WHERE deadline IS NOT NULL \
             AND deadline_reached_at IS NULL AND deadline <= $1 AND state <> $2 \
             AND (planned = 1 OR source_kind = $3) ORDER BY deadline, id",
            [
                now,
                CampaignState::Cancelled.as_str(),
                SourceKind::States.as_str()
            ],
            |row| row.try_get::<String, _>("id")
        )?;
        Ok(ids)
    }

    /// Passes the deadline of campaign `id` if it has come and no replica passed it yet:
    /// the items it still has INVITED become `no_answer` (with `atDeadline: cancel` they are
    /// left due, for their invitations to be cancelled), items never mailed become `cancelled`
    /// (reason `deadline`), no work is left, the campaign is `completed` with
    /// `deadline_reached_at` set, and the event `announce` builds from its name, what it does
    /// at the deadline and its counts is appended, all in one transaction. The conditional
    /// update makes exactly one of several replicas pass it. Answers whether this call did.
    pub async fn reach_campaign_deadline(
        &self,
        id: &str,
        announce: impl FnOnce(&str, AtDeadline, &BTreeMap<ItemOutcome, u64>) -> OutboxEvent,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let mut tx = self.begin().await?;
        let done = with_tx!(tx, conn => async {
            let row = sqlx::query(
                "UPDATE campaigns SET state = $3, resumes_at = NULL, updated_at = $2, \
                 completed_at = COALESCE(completed_at, $2), deadline_reached_at = $2 \
                 WHERE id = $1 AND deadline IS NOT NULL AND deadline <= $2 \
                 AND deadline_reached_at IS NULL AND state <> $4 \
                 RETURNING name, at_deadline",
            )
            .bind(id)
            .bind(now)
            .bind(CampaignState::Completed.as_str())
            .bind(CampaignState::Cancelled.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else {
                return Ok::<_, sqlx::Error>(None);
            };
            let name: String = row.try_get("name")?;
            let at_deadline = named(AtDeadline::from_name, row.try_get("at_deadline")?)?;
            // Still INVITED: no answer. Due now when their invitations are to be cancelled.
            let cancel_due = (at_deadline == AtDeadline::Cancel).then_some(now);
            let [sent, resent, invited] = OPEN_OUTCOMES.map(ItemOutcome::as_str);
            sqlx::query(
                "UPDATE campaign_items SET outcome = $3, due_at = $4, updated_at = $2 \
                 WHERE campaign_id = $1 AND outcome IN ($5, $6, $7)",
            )
            .bind(id)
            .bind(now)
            .bind(ItemOutcome::NoAnswer.as_str())
            .bind(cancel_due)
            .bind(sent)
            .bind(resent)
            .bind(invited)
            .execute(&mut *conn)
            .await?;
            // Never mailed: nobody will be now.
            sqlx::query(
                "UPDATE campaign_items SET outcome = $3, reason = $4, due_at = NULL, \
                 updated_at = $2 WHERE campaign_id = $1 AND outcome = $5 AND mailing = 0",
            )
            .bind(id)
            .bind(now)
            .bind(ItemOutcome::Cancelled.as_str())
            .bind(DEADLINE_REASON)
            .bind(ItemOutcome::Pending.as_str())
            .execute(&mut *conn)
            .await?;
            let counts = count_outcomes!(&mut *conn, id)?;
            Ok(Some((name, at_deadline, counts)))
        }.await)?;
        let Some((name, at_deadline, counts)) = done else {
            return Ok(false);
        };
        let event = announce(&name, at_deadline, &counts);
        self.append_events(&mut tx, std::slice::from_ref(&event))
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
