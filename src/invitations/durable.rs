//! The domain's use of the store: the per-address send ledger, the daily mail budget, and the
//! store's health as real calls and a periodic ping see it.
//!
//! Every store call goes through the store's [`Gate`], which reports it to readiness, so
//! `/readyz` learns of an outage from the first request that meets it, not only from the next
//! ping.

use crate::invitations::email::Email;
use crate::invitations::events::{EventFactory, InvitationChange};
use crate::invitations::outcome::ItemError;
use crate::store::{
    AuditId, AuditIntent, AuditOutcome, Caller, ChangeRules, Claim, ClaimToken, Gate,
    GatewayChange, Store, StoreError,
};
use crate::vocabulary::{ChangeKind, ItemErrorCode};
use chrono::NaiveDate;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Longest pause between two claim attempts on an address another replica holds.
const MAX_CLAIM_POLL: Duration = Duration::from_millis(250);

/// Seconds a caller refused with `503 store_unavailable` is told to wait.
pub const STORE_RETRY_AFTER_SECS: u64 = 5;

/// The store is down: nothing was changed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the store cannot be reached")]
pub struct StoreUnavailable;

/// The store as the domain uses it.
pub(crate) struct Durable {
    gate: Arc<Gate>,
    customer: String,
    daily_mails: u32,
    /// Added to an item's remaining deadline for its claim's lease: the read that settles a
    /// lost send may run after the deadline.
    lease_margin: Duration,
    /// Woken on every release in this process, so a waiter on this replica claims at once
    /// instead of at its next poll; waiters on other replicas poll.
    released: Notify,
    /// Builds the event of each change the gateway makes.
    events: EventFactory,
    /// Tracking's rules: whether a change the gateway made is new to the person's row.
    rules: &'static dyn ChangeRules,
}

/// A mail that went out, or a cancel that took, to record (and announce) with its outcome.
#[derive(Clone, Copy)]
pub(crate) struct MailChange<'a> {
    /// [`ChangeKind::Sent`] or [`ChangeKind::Cancelled`].
    pub kind: ChangeKind,
    /// The address.
    pub email: &'a str,
    /// Google's `mailsSentCount` after the change.
    pub mails_sent_count: i64,
    /// Google's `updateTime` after the change, when known.
    pub update_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl Durable {
    pub(crate) fn new(
        gate: Arc<Gate>,
        customer: &str,
        daily_mails: u32,
        lease_margin: Duration,
        events: EventFactory,
        rules: &'static dyn ChangeRules,
    ) -> Self {
        Self {
            gate,
            customer: customer.to_owned(),
            daily_mails,
            lease_margin,
            released: Notify::new(),
            events,
            rules,
        }
    }

    /// The gate every store call of the domain goes through.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The factory of the gateway's events.
    pub(crate) fn events(&self) -> &EventFactory {
        &self.events
    }

    /// The Google customer.
    pub(crate) fn customer(&self) -> &str {
        &self.customer
    }

    /// Runs one store call through the gate (which reports it): `Err` when it failed.
    pub(crate) async fn call<'a, T, F>(
        &'a self,
        work: impl FnOnce(&'a Store) -> F,
    ) -> Result<T, StoreUnavailable>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        self.gate.call(work).await.map_err(|_| StoreUnavailable)
    }

    /// True while the last ping or call failed.
    pub(crate) fn is_down(&self) -> bool {
        self.gate.is_down()
    }

    /// Takes the claim on `email` for `holder`, waiting for another holder until `deadline`
    /// (the item's); the lease lasts until the deadline plus the margin.
    pub(crate) async fn claim(
        &self,
        email: &Email,
        holder: &str,
        deadline: Instant,
    ) -> Result<ClaimToken, ItemError> {
        let mut pause = Duration::from_millis(10);
        loop {
            // Registered before the attempt, so a release right after it is not missed.
            let released = self.released.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            let lease = deadline.saturating_duration_since(Instant::now()) + self.lease_margin;
            let claim = self
                .call(|s| s.claim_address(&self.customer, email.as_str(), holder, lease))
                .await;
            let until = match claim {
                Ok(Claim::Claimed(token)) => return Ok(token),
                Ok(Claim::Held { until }) => until,
                Err(StoreUnavailable) => return Err(store_unavailable()),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ItemError::new(
                    ItemErrorCode::AddressBusy,
                    "Another request is working on this address and did not finish in time; nothing was changed. Look the address up before retrying.",
                ));
            }
            // Until the holder's lease runs out at the latest (then it can be taken over).
            let lease_left = (until - self.gate.clock().now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            let wait = pause.min(lease_left).min(deadline - now);
            tokio::select! {
                () = released => {}
                () = tokio::time::sleep(wait) => {}
            }
            pause = (pause * 2).min(MAX_CLAIM_POLL);
        }
    }

    /// Gives a claim back; a claim that was taken over meanwhile is logged.
    pub(crate) async fn release(&self, claim: &ClaimToken) {
        let released = self.call(|s| s.release_address(claim)).await;
        self.released.notify_waiters();
        match released {
            Ok(true) | Err(_) => {}
            Ok(false) => tracing::warn!(
                "an address claim ran out before its work was done and was taken over"
            ),
        }
    }

    /// The day mails are counted against (UTC, on the store's clock).
    pub(crate) fn today(&self) -> NaiveDate {
        self.gate.clock().now().date_naive()
    }

    /// Reserves one mail of `caller`'s budget for `day`.
    pub(crate) async fn reserve_mail(
        &self,
        caller: &Caller,
        day: NaiveDate,
    ) -> Result<(), ItemError> {
        match self
            .call(|s| s.reserve_mail(caller, day, self.daily_mails))
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(crate::invitations::mutation::mail_quota_exceeded()),
            Err(StoreUnavailable) => Err(store_unavailable()),
        }
    }

    /// Writes a mail's intent before its call to Google; `Err` (`store_unavailable`) means the
    /// call must not be made, so that no change goes out unrecorded.
    pub(crate) async fn record_intent(&self, intent: &AuditIntent) -> Result<AuditId, ItemError> {
        self.call(|s| s.record_intent(intent))
            .await
            .map_err(|StoreUnavailable| store_unavailable())
    }

    /// Completes an intent after the call. A failure leaves the intent without outcome, as a
    /// process cut off mid-call does; it is settled later (see `settle`), so the record exists
    /// once the store can write again. A `change` (a mail that went out, a cancel that took)
    /// is recorded with its event in the same transaction.
    pub(crate) async fn record_outcome(
        &self,
        id: AuditId,
        outcome: &AuditOutcome<'_>,
        change: Option<MailChange<'_>>,
    ) {
        let Some(change) = change else {
            let _ = self.call(|s| s.record_outcome(id, outcome)).await;
            return;
        };
        let at = self.gate.clock().now();
        let state = self.rules.gateway_state(change.kind);
        let event = self.events.invitation(&InvitationChange {
            kind: change.kind,
            email: change.email,
            state,
            mails_sent_count: change.mails_sent_count,
            update_time: change.update_time,
            at,
            observed_by: "gateway",
        });
        let Some(event) = event else {
            let _ = self.call(|s| s.record_outcome(id, outcome)).await;
            return;
        };
        let change = GatewayChange {
            customer: self.customer.clone(),
            email: change.email.to_owned(),
            kind: change.kind,
            mails_sent_count: change.mails_sent_count,
            update_time: change.update_time,
            event,
        };
        let _ = self
            .call(|s| s.record_outcome_tracked(id, outcome, &change, self.rules))
            .await;
    }

    /// Records an item that has no row in the store yet (it was decided without a change at
    /// Google, or failed before its intent), so that the store holds one record per decided
    /// item, as the audit file does. Nothing is tried while the store is known to be down.
    pub(crate) async fn record_item_decision(
        &self,
        action: crate::vocabulary::Action,
        done: &crate::invitations::mutation::Done,
        request_id: &str,
        caller: &Caller,
        campaign_id: Option<&str>,
    ) {
        let store_down = done
            .result
            .error
            .as_ref()
            .is_some_and(|e| e.code == ItemErrorCode::StoreUnavailable);
        if done.recorded || store_down {
            return;
        }
        let intent = AuditIntent {
            request_id: request_id.to_owned(),
            caller: caller.clone(),
            action: action.as_str().to_owned(),
            email: done.result.email.clone(),
            campaign_id: campaign_id.map(str::to_owned),
            mails_before: None,
        };
        let reason = done.reason();
        let outcome = AuditOutcome {
            outcome: done.result.outcome.as_str(),
            google_status: done.google_status,
            detail: reason.as_deref(),
        };
        let _ = self.call(|s| s.record_decision(&intent, &outcome)).await;
    }

    /// Removes the intent of a call that provably never reached Google, for an item that is
    /// tried again later; left in place (and settled later) when the store cannot write.
    /// Answers whether the store took the removal.
    pub(crate) async fn withdraw_intent(&self, id: AuditId) -> bool {
        self.call(|s| s.withdraw_intent(id)).await.is_ok()
    }

    /// Gives back a reserved mail that did not go out.
    pub(crate) async fn refund_mail(&self, caller: &Caller, day: NaiveDate) {
        // A failed refund only costs the caller one mail of today's budget.
        let _ = self.call(|s| s.refund_mail(caller, day)).await;
    }
}

/// The per-item error when the store cannot be reached before any change.
pub fn store_unavailable() -> ItemError {
    ItemError::new(
        ItemErrorCode::StoreUnavailable,
        "The gateway's store cannot be reached, so nothing was changed for this address; retry later.",
    )
}
