//! What becomes of a claimed campaign item ([`Step`]), the helpers that make one, and the
//! campaign's check of a mail just before its call to Google ([`StillOurs`]).

use super::{MIN_WAIT, OUTAGE_WAIT};
use crate::invitations::background::Seen;
use crate::invitations::durable::store_unavailable;
use crate::invitations::mutation::SendGuard;
use crate::invitations::outcome::{Failure, ItemError};
use crate::store::{Gate, ItemLease, ItemUpdate, WaitingReason};
use crate::vocabulary::{CampaignState, ItemErrorCode, ItemOutcome, Outcome};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What becomes of a claimed item.
pub(super) enum Step {
    /// Its outcome is known.
    Complete(ItemUpdate),
    /// Nothing was done: it is due again at `due`; `hold` puts the whole campaign in
    /// `waiting` until then, for its reason (budget spent, Google unavailable).
    Release {
        due: DateTime<Utc>,
        error: Option<ItemError>,
        hold: Option<WaitingReason>,
    },
}

/// Why a campaign's mail was not let out just before its call to Google.
#[derive(Debug)]
pub(super) enum Stop {
    /// The campaign was paused or cancelled meanwhile: the item goes back as it was.
    NotRunning,
    /// The item's lease ran out (another holder may have it): the item goes back as it was.
    LeaseLost,
    /// The store could not say: a wait, like any outage.
    StoreDown(ItemError),
}

/// The campaign's check of one item's mail: it goes out only while the campaign runs and the
/// item's lease holds, and the item is marked `mailing` first, so whoever takes it over later
/// reads Google before acting. Its store calls go through the gate, so a store failure here
/// reaches readiness like any other.
pub(super) struct StillOurs<'a> {
    pub(super) gate: &'a Gate,
    pub(super) lease: &'a ItemLease,
}

impl SendGuard for StillOurs<'_> {
    type Refusal = Stop;

    async fn before_call(&self) -> Result<(), Stop> {
        let unavailable = |_| Stop::StoreDown(store_unavailable());
        let campaign_id = &self.lease.campaign_id;
        let state = self
            .gate
            .call(|s| s.campaign_state(campaign_id))
            .await
            .map_err(unavailable)?;
        if state != Some(CampaignState::Running) {
            return Err(Stop::NotRunning);
        }
        match self.gate.call(|s| s.mark_item_mailing(self.lease)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stop::LeaseLost),
            Err(err) => Err(unavailable(err)),
        }
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

/// Why a campaign waits after an item's transient error of `code` (the breaker aside).
pub(super) fn waiting_reason(code: ItemErrorCode) -> WaitingReason {
    match code {
        ItemErrorCode::MailQuotaExceeded => WaitingReason::MailLimit,
        ItemErrorCode::QuotaExhausted => WaitingReason::GoogleBudget,
        ItemErrorCode::StoreUnavailable => WaitingReason::StoreUnavailable,
        ItemErrorCode::AuditUnavailable => WaitingReason::AuditUnavailable,
        _ => WaitingReason::GoogleUnavailable,
    }
}

/// How long and why a campaign waits after its list walk failed: while the breaker is open
/// (`breaker`: when it lets a probe through), until then; else when Google (or the budget)
/// said, or a while.
pub(super) fn list_wait(failure: Failure, breaker: Option<Duration>) -> (Duration, WaitingReason) {
    match (failure, breaker) {
        (_, Some(wait)) => (wait.max(MIN_WAIT), WaitingReason::BreakerOpen),
        (Failure::QuotaExhausted { retry_after }, None) => {
            (retry_after, WaitingReason::GoogleBudget)
        }
        (
            Failure::Unavailable {
                retry_after: Some(retry_after),
            },
            None,
        ) => (retry_after, WaitingReason::GoogleUnavailable),
        _ => (OUTAGE_WAIT, WaitingReason::GoogleUnavailable),
    }
}

/// The item outcome of a send's outcome. A send never answers a cancel's outcomes, and its
/// `failed` and `unknown` are handled before they get here: those count as failed.
pub(super) fn item_outcome(outcome: Outcome) -> ItemOutcome {
    match outcome {
        Outcome::Sent => ItemOutcome::Sent,
        Outcome::Resent => ItemOutcome::Resent,
        Outcome::AlreadyInvited => ItemOutcome::AlreadyInvited,
        Outcome::AlreadyAccepted => ItemOutcome::AlreadyAccepted,
        Outcome::NotEligible => ItemOutcome::NotEligible,
        Outcome::Cancelled | Outcome::NotInvited | Outcome::Failed | Outcome::Unknown => {
            ItemOutcome::Failed
        }
    }
}
