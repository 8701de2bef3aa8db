//! Leases on campaign items: a replica claims due items (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, a `BEGIN IMMEDIATE` write transaction on SQLite), marks one mailing, and
//! completes or releases it; a lease that runs out lets another replica claim the item.

use super::count;
use super::deadline::OPEN_OUTCOMES;
use super::items::KnownInvitation;
use super::named;
use crate::store::clock::{from_millis, new_token, to_millis};
use crate::store::{RowLock, Store, StoreError};
use crate::vocabulary::{InvitationState, ItemErrorCode, ItemOutcome};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;

/// An item claimed by this replica until its lease runs out.
#[derive(Clone, PartialEq, Eq)]
pub struct ItemLease {
    /// The item's id.
    pub id: i64,
    /// Its campaign.
    pub campaign_id: String,
    /// The address.
    pub email: String,
    /// Its outcome so far (`pending`, or `sent`/`resent` when a reminder is due).
    pub outcome: ItemOutcome,
    /// The invitation as the source read it.
    pub known: Option<KnownInvitation>,
    /// Mails sent to the person by this campaign.
    pub mails: u32,
    /// Reminders among them.
    pub reminders: u32,
    /// A mail's call was about to be made (or made) when an earlier holder stopped: Google
    /// must be read before anything else.
    pub mailing: bool,
    /// Times it was claimed before and given back or lost (a read comes first then too).
    pub attempts: u32,
    token: String,
}

debug_fields!(ItemLease {
    id,
    campaign_id,
    outcome,
    mails,
    mailing
});

/// What became of a claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUpdate {
    /// Its outcome now.
    pub outcome: ItemOutcome,
    /// Why (for `skipped`, `not_eligible`, ...).
    pub reason: Option<String>,
    /// For `failed`: the error's code and detail.
    pub error: Option<(ItemErrorCode, String)>,
    /// A mail went out: count it (and when).
    pub mailed: bool,
    /// The mail was a reminder.
    pub reminder: bool,
    /// When work is next due (a reminder); None: the item is final.
    pub due_at: Option<DateTime<Utc>>,
}

impl ItemUpdate {
    /// The item is now `outcome`, with nothing else to record.
    pub fn new(outcome: ItemOutcome) -> Self {
        Self {
            outcome,
            reason: None,
            error: None,
            mailed: false,
            reminder: false,
            due_at: None,
        }
    }
}

const LEASE_COLUMNS: &str = "id, campaign_id, email, outcome, known_state, known_mails, \
    known_update, mails, reminders, mailing, claims, lease_token";

macro_rules! lease_from_row {
    ($row:expr) => {{
        let row = $row;
        let known_state: Option<String> = row.try_get("known_state")?;
        let known_mails: Option<i64> = row.try_get("known_mails")?;
        let known_update: Option<i64> = row.try_get("known_update")?;
        Ok::<_, sqlx::Error>(ItemLease {
            id: row.try_get("id")?,
            campaign_id: row.try_get("campaign_id")?,
            email: row.try_get("email")?,
            outcome: named(ItemOutcome::from_name, row.try_get("outcome")?)?,
            known: known_state.map(|state| KnownInvitation {
                // A state this version does not know is what Google calls unspecified.
                state: InvitationState::from_name(&state)
                    .unwrap_or(InvitationState::StateUnspecified),
                mails_sent: known_mails.unwrap_or(0),
                updated: known_update.map(from_millis),
            }),
            mails: count(row.try_get("mails")?),
            reminders: count(row.try_get("reminders")?),
            mailing: row.try_get::<i64, _>("mailing")? != 0,
            attempts: count(row.try_get::<i64, _>("claims")? - 1),
            token: row
                .try_get::<Option<String>, _>("lease_token")?
                .unwrap_or_default(),
        })
    }};
}

/// Marks campaign `$1` served: the cluster's next turn (workers serve the creator whose turn
/// is oldest first, see [`Store::due_campaigns`]).
const SERVED: &str = "UPDATE campaigns SET served_turn = \
    (SELECT COALESCE(MAX(served_turn), 0) + 1 FROM campaigns) WHERE id = $1";

impl Store {
    /// Claims up to `limit` due items of campaign `id` for `lease`: items nobody holds, or
    /// whose holder's lease ran out. Two claimers, on any replica, never get the same item.
    pub async fn claim_campaign_items(
        &self,
        campaign_id: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ItemLease>, StoreError> {
        let (now, until) = self.clock.lease(lease);
        let token = new_token();
        let pick = "SELECT id FROM campaign_items WHERE campaign_id = $3 \
             AND due_at IS NOT NULL AND due_at <= $4 \
             AND (lease_until IS NULL OR lease_until <= $4) \
             ORDER BY due_at, id LIMIT $5";
        let update = |pick: &str| {
            format!(
                "UPDATE campaign_items SET lease_token = $1, lease_until = $2, \
                 claims = claims + 1 WHERE id IN ({pick}) RETURNING {LEASE_COLUMNS}"
            )
        };
        // On PostgreSQL rows another claimer is taking are skipped, not waited for; a row it
        // took in the meantime is re-checked against the WHERE and left out. On SQLite one
        // writer at a time (`begin` is BEGIN IMMEDIATE): the pick and the update see no other
        // claimer between.
        let sql = update(&format!("{pick}{}", self.lock_suffix(RowLock::SkipLocked)));
        let mut tx = self.begin().await?;
        let mut leases = with_tx!(tx, conn => async {
            let rows = sqlx::query(&sql)
                .bind(&token)
                .bind(until)
                .bind(campaign_id)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
            let leases = rows
                .iter()
                .map(|row| lease_from_row!(row))
                .collect::<Result<Vec<_>, _>>()?;
            if !leases.is_empty() {
                // The campaign (and so its creator) had its turn: the next turn in the cluster.
                sqlx::query(SERVED)
                    .bind(campaign_id)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<Vec<ItemLease>, sqlx::Error>(leases)
        }.await)?;
        tx.commit().await?;
        leases.sort_by_key(|l| l.id);
        Ok(leases)
    }

    /// Records that the item's mail is about to be sent (after its audit intent, before the
    /// call): a holder that takes it over later reads Google first. False when the lease was
    /// lost, or the item is no longer one to mail (its campaign's deadline made it `cancelled`
    /// or `no_answer`, the tracker settled it): then no call may be made.
    pub async fn mark_item_mailing(&self, item: &ItemLease) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let [sent, resent, invited] = OPEN_OUTCOMES.map(ItemOutcome::as_str);
        let marked = execute!(
            self,
            "UPDATE campaign_items SET mailing = 1, updated_at = $3 \
             WHERE id = $1 AND lease_token = $2 AND lease_until > $3 \
             AND outcome IN ($4, $5, $6, $7)",
            item.id,
            &item.token,
            now,
            ItemOutcome::Pending.as_str(),
            sent,
            resent,
            invited
        )? == 1;
        Ok(marked)
    }

    /// Writes a claimed item's outcome and gives up its lease. False when the lease was taken
    /// over meanwhile (the other holder's result stands). An item the tracker saw accepted or
    /// declined while it was held keeps that outcome, with no work left: a person who accepted
    /// is counted once, as accepted, and never reminded. An item its campaign's deadline made
    /// `cancelled` stays so (its mark was refused: no mail went out), and one it made
    /// `no_answer` stays so unless the update is the person's answer (`accepted`/`declined`).
    pub async fn complete_campaign_item(
        &self,
        item: &ItemLease,
        update: &ItemUpdate,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let done = execute!(
            self,
            "UPDATE campaign_items SET \
             outcome = CASE WHEN outcome IN ($11, $12, $14) \
             OR (outcome = $13 AND $3 NOT IN ($11, $12)) THEN outcome ELSE $3 END, \
             reason = $4, error_code = $5, \
             error_detail = $6, mails = mails + $7, reminders = reminders + $8, \
             last_mail_at = CASE WHEN $7 > 0 THEN $9 ELSE last_mail_at END, \
             first_mail_at = CASE WHEN $7 > 0 THEN COALESCE(first_mail_at, $9) ELSE first_mail_at END, \
             due_at = CASE WHEN outcome IN ($11, $12, $13, $14) THEN NULL ELSE $10 END, \
             mailing = 0, lease_token = NULL, lease_until = NULL, updated_at = $9 \
             WHERE id = $1 AND lease_token = $2",
            item.id,
            &item.token,
            update.outcome.as_str(),
            &update.reason,
            update.error.as_ref().map(|e| e.0.as_str()),
            update.error.as_ref().map(|e| e.1.as_str()),
            i64::from(update.mailed),
            i64::from(update.mailed && update.reminder),
            now,
            update.due_at.map(to_millis),
            ItemOutcome::TRACKED[0].as_str(),
            ItemOutcome::TRACKED[1].as_str(),
            // Passed its deadline while the item was held: no answer it stays (unless this is
            // the person's answer), and never mailed it stays.
            ItemOutcome::NoAnswer.as_str(),
            ItemOutcome::Cancelled.as_str()
        )? == 1;
        Ok(done)
    }

    /// Gives a claimed item back unchanged, due again at `due_at` (nothing was done: paused,
    /// budget spent, Google unavailable). `error` remembers the attempt's error code;
    /// `nothing_sent` (no call of this holder reached Google) clears the `mailing` mark its own
    /// `mark_item_mailing` set, so the next holder need not read Google first.
    pub async fn release_campaign_item(
        &self,
        item: &ItemLease,
        due_at: DateTime<Utc>,
        error: Option<(ItemErrorCode, &str)>,
        nothing_sent: bool,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let released = execute!(
            self,
            "UPDATE campaign_items SET lease_token = NULL, lease_until = NULL, \
             due_at = CASE WHEN due_at IS NULL THEN NULL ELSE $3 END, \
             error_code = COALESCE($4, error_code), error_detail = COALESCE($5, error_detail), \
             mailing = CASE WHEN $7 THEN 0 ELSE mailing END, \
             updated_at = $6 WHERE id = $1 AND lease_token = $2",
            item.id,
            &item.token,
            to_millis(due_at),
            error.map(|e| e.0.as_str()),
            error.map(|e| e.1),
            now,
            nothing_sent
        )? == 1;
        Ok(released)
    }
}
