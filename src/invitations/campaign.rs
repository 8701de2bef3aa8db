//! The domain's entry points for campaigns: one campaign item's mail through the same safe send
//! as a request's (ledger claim, daily mail budget of the creator, audit intent and outcome,
//! reconciliation), its reads, its dry-run verdict, and the walk of Google's list. Every call
//! is background work (the budget serves waiting callers first) and is counted for the
//! campaign.

use crate::google::CallContext;
use crate::google::budget::CallKind;
use crate::google::wire::{State, UserInvitation};
use crate::invitations::Invitations;
use crate::invitations::durable::{Durable, StoreUnavailable, store_unavailable};
use crate::invitations::email::Email;
use crate::invitations::listing::{self, InvitationPage, ListQuery};
use crate::invitations::mutation::{self, MailBudget, MutationObserver, Trail};
use crate::invitations::outcome::{
    Failure, Invitation, InvitationState, ItemError, ItemErrorCode, Outcome,
};
use crate::store::{Caller, CampaignState, ItemLease};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The campaign item a mail is for: checked again just before the call to Google.
pub(crate) struct CampaignStep<'a> {
    lease: &'a ItemLease,
    /// Set when the check refused the call: the item must be given back, not failed.
    stopped: AtomicBool,
}

impl CampaignStep<'_> {
    /// The campaign's id.
    pub(crate) fn campaign_id(&self) -> &str {
        &self.lease.campaign_id
    }

    /// Lets the mail's call go only while the campaign runs and the item's lease holds, and
    /// marks the item as mailing first.
    pub(crate) async fn before_call(&self, durable: &Durable) -> Result<(), ItemError> {
        let state = durable
            .call(|s| s.campaign_state(&self.lease.campaign_id))
            .await
            .map_err(|StoreUnavailable| store_unavailable())?;
        if state != Some(CampaignState::Running) {
            return Err(self.stop("The campaign is no longer running; no mail was sent."));
        }
        match durable.call(|s| s.mark_item_mailing(self.lease)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.stop("The item's lease ran out; no mail was sent.")),
            Err(StoreUnavailable) => Err(store_unavailable()),
        }
    }

    fn stop(&self, detail: &str) -> ItemError {
        self.stopped.store(true, Ordering::Relaxed);
        ItemError::new(ItemErrorCode::StoreUnavailable, detail)
    }
}

/// What one campaign mail came to.
#[derive(Debug)]
pub enum CampaignSend {
    /// The send ran: its outcome (`sent`, `resent`, `already_invited`, `failed`, ...).
    Done {
        /// The outcome.
        outcome: Outcome,
        /// Why it failed, for `failed`.
        error: Option<ItemError>,
    },
    /// Nothing was sent: the campaign stopped running, or the item's lease was lost, before
    /// the call. The item goes back as it was.
    Stopped,
}

/// What a dry run finds for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunVerdict {
    /// A real run would mail them.
    WouldSend,
    /// Already INVITED (and the campaign does not resend).
    AlreadyInvited,
    /// Already joined.
    AlreadyAccepted,
    /// Not an unmanaged account that can be invited.
    NotEligible,
}

/// A campaign's view of one invitation, as its source or its own read saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its state.
    pub state: InvitationState,
    /// Mails so far.
    pub mails_sent: i64,
    /// Last update.
    pub updated: Option<chrono::DateTime<chrono::Utc>>,
}

impl Seen {
    pub(crate) fn to_wire(&self, email: &Email) -> UserInvitation {
        UserInvitation {
            name: format!("userinvitations/{email}"),
            state: match self.state {
                InvitationState::NotYetSent => State::NotYetSent,
                InvitationState::Invited => State::Invited,
                InvitationState::Accepted => State::Accepted,
                InvitationState::Declined => State::Declined,
                InvitationState::StateUnspecified => State::StateUnspecified,
            },
            mails_sent_count: self.mails_sent,
            update_time: self.updated,
        }
    }
}

impl From<&Invitation> for Seen {
    fn from(invitation: &Invitation) -> Self {
        Seen {
            state: invitation.state,
            mails_sent: invitation.mails_sent_count,
            updated: invitation.update_time,
        }
    }
}

impl Invitations {
    /// A background context for campaign `campaign_id`, counting its calls in `calls`.
    fn campaign_context(&self, campaign_id: &str, calls: &Arc<AtomicU64>) -> CallContext {
        self.google
            .context(Some(campaign_id.to_owned()))
            .with_kind(CallKind::Background)
            .counting(Arc::clone(calls))
    }

    /// Mails one campaign item, safely: the address's ledger claim, a mail of `creator`'s
    /// daily budget, the audit intent (with the campaign and the creator as caller) before the
    /// call and its outcome after, reconciliation of a lost answer. `seen` is the invitation
    /// as just read (no read is made then); `None` reads it first. `observer` is the
    /// campaign's side of the audit trail (the audit log and file): asked before the call, and
    /// given the item's outcome unless it was given back untouched.
    #[allow(clippy::too_many_arguments)] // Each is one concern of the mail, as in `send_one`.
    pub async fn send_for_campaign(
        &self,
        item: &ItemLease,
        creator: &Caller,
        email: &Email,
        resend: bool,
        seen: Option<&Seen>,
        observer: &dyn MutationObserver,
        calls: &Arc<AtomicU64>,
    ) -> CampaignSend {
        let ctx = self.campaign_context(&item.campaign_id, calls);
        let claim = match self
            .durable
            .claim(email, &item.campaign_id, ctx.deadline)
            .await
        {
            Ok(claim) => claim,
            Err(error) => {
                return CampaignSend::Done {
                    outcome: Outcome::Failed,
                    error: Some(error),
                };
            }
        };
        let step = CampaignStep {
            lease: item,
            stopped: AtomicBool::new(false),
        };
        let budget = MailBudget {
            durable: &self.durable,
            caller: creator,
            day: self.durable.today(),
        };
        let trail = Trail {
            observer,
            durable: &self.durable,
            caller: creator,
            request_id: &item.campaign_id,
            campaign: Some(&step),
        };
        let done = mutation::send_one(
            &self.google,
            &self.eligibility,
            email,
            resend,
            seen.map(|seen| seen.to_wire(email)),
            &budget,
            &trail,
            &ctx,
        )
        .await;
        self.durable.release(&claim).await;
        if step.stopped.load(Ordering::Relaxed) {
            return CampaignSend::Stopped;
        }
        // A wait (an outage, a spent budget) decides nothing: the item is tried again and that
        // attempt is recorded, in the store and the file alike.
        if !done.is_wait() {
            self.durable
                .record_item_decision(
                    mutation::Action::Send,
                    &done,
                    &item.campaign_id,
                    creator,
                    Some(&item.campaign_id),
                )
                .await;
            observer.record(mutation::Action::Send, &done);
        }
        CampaignSend::Done {
            outcome: done.result.outcome,
            error: done.result.error,
        }
    }

    /// Reads one invitation for a campaign: `Ok(None)` when Google has none (yet).
    pub async fn read_for_campaign(
        &self,
        campaign_id: &str,
        email: &Email,
        calls: &Arc<AtomicU64>,
    ) -> Result<Option<Seen>, ItemError> {
        let ctx = self.campaign_context(campaign_id, calls);
        mutation::read(&self.google, email, &ctx)
            .await
            .map(|found| found.as_ref().map(|i| Seen::from(&Invitation::from(i))))
            .map_err(|err| ItemError::from_upstream(&err))
    }

    /// What a real run would do for one person (a dry run: nobody is mailed). `seen` is the
    /// invitation as the source read it; `None` reads it (and asks isInvitableUser when Google
    /// has none).
    pub async fn classify_for_campaign(
        &self,
        campaign_id: &str,
        email: &Email,
        resend: bool,
        seen: Option<&Seen>,
        calls: &Arc<AtomicU64>,
    ) -> Result<DryRunVerdict, ItemError> {
        let read;
        let seen = match seen {
            Some(seen) => Some(seen),
            None => {
                read = self.read_for_campaign(campaign_id, email, calls).await?;
                read.as_ref()
            }
        };
        Ok(match seen.map(|s| s.state) {
            Some(InvitationState::Accepted) => DryRunVerdict::AlreadyAccepted,
            Some(InvitationState::Invited) if !resend => DryRunVerdict::AlreadyInvited,
            Some(
                InvitationState::Invited | InvitationState::NotYetSent | InvitationState::Declined,
            ) => DryRunVerdict::WouldSend,
            Some(InvitationState::StateUnspecified) | None => {
                let ctx = self.campaign_context(campaign_id, calls);
                match self.eligibility.check(&self.google, email, &ctx).await {
                    Ok(answer) if answer.checked.eligible => DryRunVerdict::WouldSend,
                    Ok(_) => DryRunVerdict::NotEligible,
                    Err(err) => return Err(ItemError::from_upstream(&err)),
                }
            }
        })
    }

    /// One page of the invitations in `states`, for a campaign that walks Google's list.
    pub async fn list_for_campaign(
        &self,
        campaign_id: &str,
        states: &[InvitationState],
        page_token: Option<String>,
        calls: &Arc<AtomicU64>,
    ) -> Result<InvitationPage, Failure> {
        let query = ListQuery {
            states: states.to_vec(),
            page_size: Some(200),
            page_token,
            ..ListQuery::default()
        };
        listing::list_page(
            &self.google,
            &query,
            &self.campaign_context(campaign_id, calls),
        )
        .await
    }

    /// While the circuit breaker in front of Google is open: how long until it lets a call
    /// through again (a campaign waits that long rather than fail its items).
    pub fn google_reopens_in(&self) -> Option<std::time::Duration> {
        self.google.breaker().closes_in()
    }

    /// Whether `email` is inside the allowed domains (`Err`: the item's `domain_not_allowed`).
    pub fn admit_for_campaign(&self, email: &Email) -> Result<(), ItemError> {
        self.policy.admit(email).map(|_| ())
    }
}
