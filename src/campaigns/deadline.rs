//! A campaign's end: passing its deadline (once across replicas, with its event) and its
//! resolution, every person's final outcome.

use super::*;
use crate::audit::AuditTrail;
use crate::invitations::background::Background;
use crate::invitations::email::Email;
use crate::store::{ItemLease, ItemUpdate};
use crate::vocabulary::Outcome;

/// Most invitations of one campaign withdrawn in one batch (a cancel request's most).
const CANCEL_BATCH: u32 = 100;
/// How long a withdrawal that failed (Google or the store unavailable) waits to be tried again.
const CANCEL_RETRY: Duration = Duration::from_secs(30);

/// The reason of a `no_answer` whose invitation the deadline cancelled.
const CANCELLED: Option<&str> = Some("invitation_cancelled");
/// The reason of a `no_answer` whose invitation was not pending any more at the deadline.
const NOT_INVITED: Option<&str> = Some("not_invited");

/// What a withdrawal at the deadline settles an item with: its outcome and reason.
type Settled = (ItemOutcome, Option<&'static str>);

/// The columns of a resolution in CSV.
const RESOLUTION_COLUMNS: [&str; 4] = ["row", "email", "outcome", "reason"];

/// One person's final outcome in a campaign's resolution.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"row": 7, "email": "grace@example.com", "outcome": "no_answer", "reason": null}))]
pub struct ResolutionLine {
    /// Its row in the roster (the header is row 1); null for a person not from a roster.
    #[schema(minimum = 2)]
    pub row: Option<u32>,
    /// The address.
    pub email: String,
    /// The final outcome: `accepted`, `declined`, `no_answer` (still INVITED at the deadline),
    /// `not_eligible`, `already_accepted`, `skipped`, `failed`, `cancelled`, ...
    pub outcome: ItemOutcome,
    /// Why, when there is a reason (`invalid_email`, `duplicate`, `deadline` for a person
    /// never mailed before it, `invitation_cancelled` for an invitation cancelled at it).
    pub reason: Option<String>,
}

impl Campaigns {
    /// The reminder due after now, when the campaign has one left for this item before its
    /// deadline (none at or after it: reminders stop at the deadline).
    pub(super) fn next_reminder(
        &self,
        record: &CampaignRecord,
        reminders_sent: u32,
    ) -> Option<DateTime<Utc>> {
        let reminders = record.reminders?;
        let after = chrono::Duration::from_std(reminders.after).unwrap_or_default();
        (reminders_sent < reminders.max)
            .then(|| self.gate.clock().now() + after)
            .filter(|at| record.terms.deadline.is_none_or(|deadline| *at < deadline))
    }

    /// Passes the deadline of every campaign whose deadline has come and was not passed yet;
    /// one replica does each, with its `campaign.deadline_reached` event. True when any was.
    pub(super) async fn reach_deadlines(&self) -> Result<bool, StoreError> {
        let mut passed = false;
        for id in self.gate.call(|s| s.campaigns_past_deadline()).await? {
            let (events, at) = (self.invitations.events(), self.gate.clock().now());
            let announce = |name: &str, at_deadline: AtDeadline, counts: &BTreeMap<_, u64>| {
                let data = serde_json::json!({
                    "name": name,
                    "atDeadline": at_deadline,
                    "total": counts.values().sum::<u64>(),
                    "counts": counts,
                });
                events.campaign_deadline_reached(&id, at, data)
            };
            if self
                .gate
                .call(|s| s.reach_campaign_deadline(&id, announce))
                .await?
            {
                tracing::info!(campaign = %id, "campaign deadline reached");
                passed = true;
            }
        }
        Ok(passed)
    }

    /// Withdraws, one batch per campaign, the invitations of the `no_answer` people of the
    /// campaigns that passed their deadline with `atDeadline: cancel`, as their creator,
    /// through the send ledger and the audit trail like `POST /v1/invitations/cancel`. An item
    /// whose withdrawal failed is tried again later. True when any was worked.
    pub(super) async fn cancel_at_deadlines(&self) -> Result<bool, StoreError> {
        let mut worked = false;
        for record in self.gate.call(|s| s.campaigns_cancelling()).await? {
            let items = self
                .gate
                .call(|s| s.claim_campaign_items(&record.id, CANCEL_BATCH, self.lease))
                .await?;
            let sinks = (&*self.audit, self.invitations.emails());
            let audit = AuditTrail::campaign(sinks, &record.id, &record.owner);
            let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
            for item in &items {
                worked = true;
                // A no_answer item was mailed, so its address is a valid one.
                let outcome = match Email::parse(&item.email) {
                    Ok(email) => {
                        let work = Background {
                            id: &record.id,
                            calls: &calls,
                        };
                        let cancel =
                            self.invitations
                                .cancel_item(work, &record.owner, &email, &audit);
                        match cancel.await.0 {
                            Outcome::Cancelled => Some((ItemOutcome::NoAnswer, CANCELLED)),
                            // No longer INVITED: the person may have answered meanwhile.
                            Outcome::NotInvited => self.answered(work, &email).await,
                            _ => None,
                        }
                    }
                    Err(_) => Some((ItemOutcome::NoAnswer, NOT_INVITED)),
                };
                self.settle_cancel(item, outcome).await?;
            }
            let made = calls.load(std::sync::atomic::Ordering::Relaxed);
            self.gate
                .call(|s| s.add_campaign_calls(&record.id, made))
                .await?;
        }
        Ok(worked)
    }

    /// What a withdrawal that found nothing INVITED any more means: the person's answer when
    /// Google reads `ACCEPTED` or `DECLINED`, else still no answer (`None`, to be tried again,
    /// when Google cannot say).
    async fn answered(&self, work: Background<'_>, email: &Email) -> Option<Settled> {
        let seen = self
            .invitations
            .read_in_background(work, email)
            .await
            .ok()?;
        Some(match seen.map(|seen| seen.state) {
            Some(InvitationState::Accepted) => (ItemOutcome::Accepted, None),
            Some(InvitationState::Declined) => (ItemOutcome::Declined, None),
            _ => (ItemOutcome::NoAnswer, NOT_INVITED),
        })
    }

    /// Records the withdrawal of `item`'s invitation: done (`no_answer` with its invitation
    /// cancelled or nothing pending any more, or the person's answer) or, `None`, given back to
    /// be tried again.
    async fn settle_cancel(
        &self,
        item: &ItemLease,
        settled: Option<Settled>,
    ) -> Result<(), StoreError> {
        let Some((outcome, reason)) = settled else {
            let again = self.gate.clock().now()
                + chrono::Duration::from_std(CANCEL_RETRY).unwrap_or_default();
            self.gate
                .call(|s| s.release_campaign_item(item, again, None, true))
                .await?;
            return Ok(());
        };
        let update = ItemUpdate {
            reason: reason.map(str::to_owned),
            ..ItemUpdate::new(outcome)
        };
        self.gate
            .call(|s| s.complete_campaign_item(item, &update))
            .await?;
        Ok(())
    }

    /// Every person of campaign `id` with their final outcome, in `format`, once the campaign
    /// is resolved: its deadline passed, or, without a deadline, it is completed or cancelled.
    pub async fn resolution(
        self: &Arc<Self>,
        id: &str,
        viewer: &Viewer,
        format: ReportFormat,
    ) -> Result<impl Stream<Item = Result<Bytes, CampaignError>> + 'static, CampaignError> {
        let record = self.visible(id, viewer).await?;
        match (record.terms.deadline, record.deadline_reached_at) {
            (Some(deadline), None) => {
                return Err(CampaignError::NotResolved(format!(
                    "The campaign's deadline, {}, has not been passed yet: its resolution \
                     exists from then on.",
                    rfc3339(deadline)
                )));
            }
            (None, _) if !record.state.is_final() => {
                return Err(CampaignError::NotResolved(
                    "The campaign has no deadline and is not finished yet: its resolution \
                     exists once it is completed or cancelled."
                        .into(),
                ));
            }
            _ => {}
        }
        let header = (format == ReportFormat::Csv).then(|| {
            let mut line = String::new();
            csv::push_row(&mut line, RESOLUTION_COLUMNS);
            line
        });
        Ok(self.item_lines(id, header, move |item, out| {
            let line = ResolutionLine {
                row: item.roster.as_ref().map(|roster| roster.row),
                email: item.email,
                outcome: item.outcome,
                reason: item.reason,
            };
            match format {
                ReportFormat::Csv => {
                    let row = line.row.map(|row| row.to_string()).unwrap_or_default();
                    let reason = line.reason.as_deref().unwrap_or_default();
                    csv::push_row(out, [&*row, &line.email, line.outcome.as_str(), reason]);
                }
                ReportFormat::Ndjson => push_json_line(out, &line),
            }
        }))
    }
}
