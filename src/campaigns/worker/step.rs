//! What becomes of a claimed campaign item ([`Step`]), the helpers that make one, and the
//! campaign's side of the audit trail.

use crate::audit::{AuditLog, AuditRecord};
use crate::invitations::campaign::Seen;
use crate::invitations::mutation::{self, Action, Done, MutationObserver};
use crate::invitations::outcome::{ItemError, ItemErrorCode};
use crate::invitations::settle::Settled;
use crate::store::Caller;
use crate::store::{ItemLease, ItemUpdate};
use crate::vocabulary::ItemOutcome;
use chrono::{DateTime, Utc};

/// What becomes of a claimed item.
pub(super) enum Step {
    /// Its outcome is known.
    Complete(ItemUpdate),
    /// Nothing was done: it is due again at `due`; `hold` puts the whole campaign in
    /// `waiting` until then (budget spent, Google unavailable).
    Release {
        due: DateTime<Utc>,
        error: Option<ItemError>,
        hold: bool,
    },
}

/// The campaign's side of the audit trail, as a request's is the caller's: no mail while the
/// audit file cannot take records (the item waits, it is not failed), and every mail recorded
/// in the audit log target and file with its campaign and its creator as the caller.
pub(super) struct CampaignAudit<'a> {
    pub(super) audit: &'a AuditLog,
    pub(super) campaign_id: &'a str,
    pub(super) creator: &'a Caller,
}

impl MutationObserver for CampaignAudit<'_> {
    fn allow_change(&self) -> Result<(), ItemError> {
        self.audit.check_writable().map_err(|err| {
            tracing::error!(error = %err, "audit trail unavailable: campaign mail held back");
            mutation::audit_unavailable()
        })
    }

    fn record(&self, action: Action, done: &Done) {
        let record = AuditRecord::of_item(action, self.campaign_id, done)
            .caller_id(&self.creator.iss, &self.creator.sub)
            .route("campaign worker")
            .campaign(self.campaign_id);
        if let Err(err) = self.audit.record(&record) {
            // This mail is made (its record reached the audit log target); the next one is
            // held back by allow_change.
            tracing::error!(error = %err, "audit record of a campaign mail could not be written");
        }
    }

    fn record_settled(&self, settled: &Settled) {
        record_settled(self.audit, settled);
    }
}

/// Writes a settled outcome to the audit log target and file.
pub(super) fn record_settled(audit: &AuditLog, settled: &Settled) {
    let mut record = AuditRecord::of_settled(settled);
    if settled.campaign_id.is_some() {
        record = record.route("campaign worker");
    }
    if let Err(err) = audit.record(&record) {
        tracing::error!(error = %err, "audit record of a settled outcome could not be written");
    }
}

/// A wait for the store is dated from the claim, not from when its failure was handled: the
/// store's clock may have moved on meanwhile (a failure met just before space came back and
/// handled after), and the item must not be held past one lease from the claim for it.
pub(super) fn store_wait_from(
    step: &mut Step,
    claimed_at: DateTime<Utc>,
    handled_at: DateTime<Utc>,
) {
    if let Step::Release {
        due,
        error: Some(error),
        ..
    } = step
        && error.code == ItemErrorCode::StoreUnavailable
        && handled_at > claimed_at
    {
        *due -= handled_at - claimed_at;
    }
}

pub(super) fn complete(outcome: ItemOutcome) -> Step {
    Step::Complete(ItemUpdate::new(outcome))
}

pub(super) fn failed(error: &ItemError) -> Step {
    Step::Complete(ItemUpdate {
        error: Some((error.code, error.detail.clone())),
        ..ItemUpdate::new(ItemOutcome::Failed)
    })
}

pub(super) fn seen_of(item: &ItemLease) -> Option<Seen> {
    item.known.as_ref().map(|known| Seen {
        state: known.state,
        mails_sent: known.mails_sent,
        updated: known.updated,
    })
}
