//! The domain's calls for work the gateway does on its own, in the background (a campaign, in
//! practice): the one safe send of an item (ledger claim, daily mail budget of the person the
//! work is for, audit intent and outcome, reconciliation of a lost answer), reads, the verdict
//! of a dry run, and pages of Google's list. Every call is background work (the call budget
//! serves waiting callers first) and is counted for the work that made it.
//!
//! The caller's own rules about an item (is its work still running, is the item still its own)
//! stay with the caller: it hands the send a [`SendGuard`] that is asked just before the call
//! to Google, and a refusal comes back as [`ItemSend::Refused`] with the guard's own reason.

use crate::google::CallContext;
use crate::google::budget::CallKind;
use crate::google::wire::{State, UserInvitation};
use crate::invitations::Invitations;
use crate::invitations::email::Email;
use crate::invitations::listing::{self, InvitationPage, ListQuery};
use crate::invitations::mutation::{self, MutationObserver, SendGuard};
use crate::invitations::outcome::{Failure, Invitation, ItemError};
use crate::store::Caller;
use crate::vocabulary::{InvitationState, Outcome};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Work the gateway does on its own: its id (sent with its Google calls, and recorded as the
/// context of its mails' audit rows) and the counter of the Google calls it made.
#[derive(Debug, Clone, Copy)]
pub struct Background<'a> {
    /// The work's id.
    pub id: &'a str,
    /// Google calls made for it so far.
    pub calls: &'a Arc<AtomicU64>,
}

/// One mail of background work: to whom, and what is already known of their invitation.
#[derive(Debug, Clone, Copy)]
pub struct ItemMail<'a> {
    /// The address.
    pub email: &'a Email,
    /// Mail again when already INVITED.
    pub resend: bool,
    /// The invitation as just read (no read is made then); `None` reads it first.
    pub seen: Option<&'a Seen>,
}

/// What one background mail came to.
#[derive(Debug)]
pub enum ItemSend<R> {
    /// The send ran: its outcome (`sent`, `resent`, `already_invited`, `failed`, ...).
    Done {
        /// The outcome.
        outcome: Outcome,
        /// Why it failed, for `failed` and `unknown`.
        error: Option<ItemError>,
    },
    /// The caller's guard refused the call: nothing was sent, nothing was decided.
    Refused(R),
}

/// What a dry run finds for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunVerdict {
    /// A real send would mail them.
    WouldSend,
    /// Already INVITED (and the send would not resend).
    AlreadyInvited,
    /// Already joined.
    AlreadyAccepted,
    /// Not an unmanaged account that can be invited.
    NotEligible,
}

/// One invitation as a list page or a read saw it.
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
    /// The Google call context of background `work`, counting its calls.
    fn background_context(&self, work: Background<'_>) -> CallContext {
        self.google
            .context(Some(work.id.to_owned()))
            .with_kind(CallKind::Background)
            .counting(Arc::clone(work.calls))
    }

    /// Mails one person for background `work`, safely: the address's ledger claim, a mail of
    /// `owner`'s daily budget, the audit intent (with the work as its context and `owner` as
    /// the caller) before the call and its outcome after, reconciliation of a lost answer.
    /// `guard` is asked just before the call to Google; its refusal comes back as
    /// [`ItemSend::Refused`]. `observer` is the caller's side of the audit trail: asked before
    /// any change, and given the item's outcome unless it was given back untouched (a refusal,
    /// or a wait such as an outage or a spent budget, which decides nothing).
    pub async fn send_item<G: SendGuard>(
        &self,
        work: Background<'_>,
        owner: &Caller,
        mail: ItemMail<'_>,
        guard: &G,
        observer: &dyn MutationObserver,
    ) -> ItemSend<G::Refusal> {
        let ctx = self.background_context(work);
        let email = mail.email;
        let claim = match self.durable.claim(email, work.id, ctx.deadline).await {
            Ok(claim) => claim,
            Err(error) => {
                return ItemSend::Done {
                    outcome: Outcome::Failed,
                    error: Some(error),
                };
            }
        };
        let budget = self.mail_budget(owner);
        let trail = self.trail(observer, owner, work.id, Some(work.id));
        let known = mail.seen.map(|seen| seen.to_wire(email));
        let sent = mutation::send_one(
            &self.google,
            &self.eligibility,
            (email, mail.resend, known),
            &budget,
            &trail,
            guard,
            &ctx,
        )
        .await;
        self.durable.release(&claim).await;
        let done = match sent {
            Ok(done) => done,
            Err(refusal) => return ItemSend::Refused(refusal),
        };
        // A wait (an outage, a spent budget) decides nothing: the item is tried again and that
        // attempt is recorded, in the store and the file alike.
        if !done.is_wait() {
            self.durable
                .record_item_decision(
                    crate::vocabulary::Action::Send,
                    &done,
                    work.id,
                    owner,
                    Some(work.id),
                )
                .await;
            observer.record(crate::vocabulary::Action::Send, &done);
        }
        ItemSend::Done {
            outcome: done.result.outcome,
            error: done.result.error,
        }
    }

    /// Withdraws one person's pending invitation for background `work` of `owner`, safely,
    /// like a cancel request's item: the address's ledger claim, the audit intent before the
    /// call and its outcome after (with the work as its context and `owner` as the caller).
    pub async fn cancel_item(
        &self,
        work: Background<'_>,
        owner: &Caller,
        email: &Email,
        observer: &dyn MutationObserver,
    ) -> (Outcome, Option<ItemError>) {
        let ctx = self.background_context(work);
        let claim = match self.durable.claim(email, work.id, ctx.deadline).await {
            Ok(claim) => claim,
            Err(error) => return (Outcome::Failed, Some(error)),
        };
        let trail = self.trail(observer, owner, work.id, Some(work.id));
        let done = mutation::cancel_one(&self.google, &self.eligibility, email, &trail, &ctx).await;
        self.durable.release(&claim).await;
        let action = crate::vocabulary::Action::Cancel;
        self.durable
            .record_item_decision(action, &done, work.id, owner, Some(work.id))
            .await;
        observer.record(action, &done);
        (done.result.outcome, done.result.error)
    }

    /// Reads one invitation for background `work`: `Ok(None)` when Google has none (yet).
    pub async fn read_in_background(
        &self,
        work: Background<'_>,
        email: &Email,
    ) -> Result<Option<Seen>, ItemError> {
        mutation::read(&self.google, email, &self.background_context(work))
            .await
            .map(|found| found.as_ref().map(|i| Seen::from(&Invitation::from(i))))
            .map_err(|err| ItemError::from_upstream(&err))
    }

    /// What a real send would do for one person (a dry run: nobody is mailed). `seen` is the
    /// invitation as already read; `None` reads it (and asks isInvitableUser when Google has
    /// none).
    pub async fn dry_run_verdict(
        &self,
        work: Background<'_>,
        email: &Email,
        resend: bool,
        seen: Option<&Seen>,
    ) -> Result<DryRunVerdict, ItemError> {
        let read;
        let seen = match seen {
            Some(seen) => Some(seen),
            None => {
                read = self.read_in_background(work, email).await?;
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
                let ctx = self.background_context(work);
                match self.eligibility.check(&self.google, email, &ctx).await {
                    Ok(answer) if answer.checked.eligible => DryRunVerdict::WouldSend,
                    Ok(_) => DryRunVerdict::NotEligible,
                    Err(err) => return Err(ItemError::from_upstream(&err)),
                }
            }
        })
    }

    /// One page (200 at most) of the invitations in `states`, for background `work`.
    pub async fn list_in_background(
        &self,
        work: Background<'_>,
        states: &[InvitationState],
        page_token: Option<String>,
    ) -> Result<InvitationPage, Failure> {
        let query = ListQuery {
            states: states.to_vec(),
            page_size: Some(200),
            page_token,
            ..ListQuery::default()
        };
        listing::list_page(&self.google, &query, &self.background_context(work)).await
    }

    /// While the circuit breaker in front of Google is open: how long until it lets a call
    /// through again (background work waits that long rather than fail its items).
    pub fn google_reopens_in(&self) -> Option<std::time::Duration> {
        self.google.breaker().closes_in()
    }

    /// Whether `email` is inside the allowed domains (`Err`: the item's `domain_not_allowed`).
    pub fn admit_address(&self, email: &Email) -> Result<(), ItemError> {
        self.policy.admit(email).map(|_| ())
    }
}
