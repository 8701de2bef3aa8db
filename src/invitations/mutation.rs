//! send and cancel of one address, safely.
//!
//! send reads the invitation first: INVITED without `resend` is `already_invited` and sends no
//! mail; ACCEPTED is `already_accepted`; an address Google does not list yet (the 48-hour lag) is
//! sent to only when isInvitableUser says yes. The send itself goes through the Google client,
//! which reconciles a lost answer with a read and never repeats a send blindly.

use crate::google::wire::{State, UserInvitation};
use crate::google::{CallContext, GoogleClient, UpstreamError};
use crate::invitations::durable::{Durable, MailChange};
use crate::invitations::eligibility::EligibilityCache;
use crate::invitations::email::Email;
use crate::invitations::outcome::{Invitation, ItemError, MutationResult};
use crate::invitations::settle::{self, Settled};
use crate::store::{AuditId, AuditIntent, AuditOutcome};
use crate::vocabulary::{Action, ChangeKind, ItemErrorCode, Outcome};

/// What the caller's side needs to hear about each item: the audit trail.
pub trait MutationObserver: Send + Sync {
    /// A send or cancel is about to change something at Google; `Err` refuses it (the audit
    /// trail cannot be written).
    fn allow_change(&self) -> Result<(), ItemError>;
    /// The item's result, written to the audit trail before the answer leaves.
    fn record(&self, action: Action, done: &Done);
    /// An earlier item's outcome, settled after the fact (it was `unknown`, or nobody could
    /// record it), for the sinks of the audit trail beside the store (none by default).
    fn record_settled(&self, settled: &Settled) {
        let _ = settled;
    }
}

/// The caller's own check of a background mail, asked just before its call to Google (after
/// the claim, the budget and the audit trail said yes): a refusal sends nothing, gives the
/// mail back to the budget, and comes back to the caller as it was given.
pub trait SendGuard: Sync {
    /// Why the caller refused the call.
    type Refusal: Send;
    /// `Err` refuses the call; nothing is sent.
    fn before_call(&self) -> impl std::future::Future<Output = Result<(), Self::Refusal>> + Send;
}

/// No check of the caller's own: a request's send, which nobody can refuse halfway.
pub struct Unguarded;

impl SendGuard for Unguarded {
    type Refusal = std::convert::Infallible;

    async fn before_call(&self) -> Result<(), Self::Refusal> {
        Ok(())
    }
}

/// One item's result, with what the audit trail says of the call to Google.
#[derive(Debug)]
pub struct Done {
    /// The result the caller gets.
    pub result: MutationResult,
    /// The HTTP status of the mutating call to Google, when it answered.
    pub google_status: Option<u16>,
    /// Google's answer to the send was lost, and a read showed the mail went out.
    pub reconciled: bool,
    /// A mail went out (send) or the invitation was withdrawn (cancel): Google's
    /// `mailsSentCount` after it, recorded and announced with the outcome.
    pub changed: Option<i64>,
    /// The store's audit trail has this item's row (its intent was written).
    pub recorded: bool,
}

impl Done {
    /// Why the item came to its outcome, for the audit trail: the error code of a failure (or
    /// of an outcome left unknown), or that a lost answer was reconciled by a read.
    pub fn reason(&self) -> Option<String> {
        match &self.result.error {
            Some(error) => Some(error.code.as_str().to_owned()),
            None => self.reconciled.then(|| {
                "Google's answer was lost; a read showed that the mail went out".to_owned()
            }),
        }
    }

    /// Nothing was changed and the same item can succeed later (an outage, a spent budget):
    /// for a campaign, a wait rather than a decision.
    pub fn is_wait(&self) -> bool {
        self.result.outcome == Outcome::Failed
            && self
                .result
                .error
                .as_ref()
                .is_some_and(|e| e.code.is_transient())
    }
}

fn done(
    email: &Email,
    outcome: Outcome,
    invitation: Option<&UserInvitation>,
    google_status: Option<u16>,
) -> Done {
    Done {
        result: MutationResult {
            email: email.to_string(),
            outcome,
            invitation: invitation.map(Invitation::from),
            error: None,
        },
        google_status,
        reconciled: false,
        changed: None,
        recorded: false,
    }
}

fn failed(email: &Email, error: ItemError, google_status: Option<u16>) -> Done {
    Done {
        result: MutationResult {
            email: email.to_string(),
            outcome: Outcome::Failed,
            invitation: None,
            error: Some(error),
        },
        google_status,
        reconciled: false,
        changed: None,
        recorded: false,
    }
}

/// The caller's daily mail budget in the store, for one item.
pub(crate) struct MailBudget<'a> {
    /// The store.
    pub durable: &'a Durable,
    /// Whose budget.
    pub caller: &'a crate::store::Caller,
    /// The UTC day the request counts against.
    pub day: chrono::NaiveDate,
}

impl MailBudget<'_> {
    async fn reserve(&self) -> Result<(), ItemError> {
        self.durable.reserve_mail(self.caller, self.day).await
    }

    async fn refund(&self) {
        self.durable.refund_mail(self.caller, self.day).await;
    }
}

/// The audit trails of one item: the caller's side (`observer`, asked before any change) and
/// the store's, an intent before the change's call to Google and its outcome after, so that no
/// change goes out unrecorded whatever cuts the work off in between.
pub(crate) struct Trail<'a> {
    /// The caller's side.
    pub observer: &'a dyn MutationObserver,
    /// The store.
    pub durable: &'a Durable,
    /// The real caller.
    pub caller: &'a crate::store::Caller,
    /// The request's id.
    pub request_id: &'a str,
    /// The id of the background work the item is for, if any: recorded with the audit intent,
    /// and a wait of such work withdraws the intent (the item is tried again).
    pub context: Option<&'a str>,
}

impl Trail<'_> {
    fn allow_change(&self) -> Result<(), ItemError> {
        self.observer.allow_change()
    }

    async fn intent(
        &self,
        action: Action,
        email: &Email,
        mails_before: Option<i64>,
    ) -> Result<AuditId, ItemError> {
        self.durable
            .record_intent(&AuditIntent {
                request_id: self.request_id.to_owned(),
                caller: self.caller.clone(),
                action: action.as_str().to_owned(),
                email: email.to_string(),
                campaign_id: self.context.map(str::to_owned),
                mails_before,
            })
            .await
    }

    async fn outcome(&self, id: AuditId, action: Action, email: &Email, mut done: Done) -> Done {
        done.recorded = true;
        if self.context.is_some() && done.is_wait() {
            // Google was not reached and the item is tried again: that attempt is the record.
            self.durable.withdraw_intent(id).await;
            return done;
        }
        // Tracking keys people by the identity Google compares (case-insensitive).
        let key = email.identity();
        let change = done.changed.map(|mails_sent_count| MailChange {
            kind: match action {
                Action::Send => ChangeKind::Sent,
                Action::Cancel => ChangeKind::Cancelled,
            },
            email: &key,
            mails_sent_count,
            update_time: done.result.invitation.as_ref().and_then(|i| i.update_time),
        });
        let reason = done.reason();
        let outcome = AuditOutcome {
            outcome: done.result.outcome.as_str(),
            google_status: done.google_status,
            detail: reason.as_deref(),
        };
        self.durable.record_outcome(id, &outcome, change).await;
        done
    }

    /// Settles earlier intents about `email` against the invitation as just read (this item
    /// holds the person's claim), and tells the other sinks.
    async fn settle(&self, email: &Email, now: Option<&UserInvitation>) {
        for settled in settle::settle(self.durable, email, now).await {
            self.observer.record_settled(&settled);
        }
    }
}

/// Reads the invitation: `Ok(None)` when Google has none (yet).
pub(crate) async fn read(
    google: &GoogleClient,
    email: &Email,
    ctx: &CallContext,
) -> Result<Option<UserInvitation>, UpstreamError> {
    match google.get(email.as_str(), ctx).await {
        Ok(invitation) => Ok(Some(invitation)),
        Err(err) if err.status == Some(crate::google::Status::NotFound) => Ok(None),
        Err(err) => Err(err),
    }
}

/// One send, safely, of `email` (again when INVITED and `resend`). `known` is the invitation
/// as just read elsewhere (a list page, or the caller's own read): then it is not read again.
/// `guard` is asked just before the call to Google; its refusal is the `Err`.
pub(crate) async fn send_one<G: SendGuard>(
    google: &GoogleClient,
    eligibility: &EligibilityCache,
    (email, resend, known): (&Email, bool, Option<UserInvitation>),
    budget: &MailBudget<'_>,
    trail: &Trail<'_>,
    guard: &G,
    ctx: &CallContext,
) -> Result<Done, G::Refusal> {
    let before = match known {
        Some(known) => Some(known),
        None => match read(google, email, ctx).await {
            Ok(before) => {
                trail.settle(email, before.as_ref()).await;
                before
            }
            Err(err) => return Ok(failed(email, ItemError::from_upstream(&err), None)),
        },
    };
    let outcome = match before.as_ref().map(|b| b.state) {
        Some(State::Accepted) => {
            return Ok(done(email, Outcome::AlreadyAccepted, before.as_ref(), None));
        }
        Some(State::Invited) if !resend => {
            return Ok(done(email, Outcome::AlreadyInvited, before.as_ref(), None));
        }
        Some(State::Invited) => Outcome::Resent,
        Some(State::NotYetSent | State::Declined) => Outcome::Sent,
        // Not listed yet (new accounts take up to 48 h) or a state we do not know: ask.
        Some(State::StateUnspecified) | None => match eligibility.check(google, email, ctx).await {
            Ok(answer) if answer.checked.eligible => Outcome::Sent,
            Ok(_) => return Ok(done(email, Outcome::NotEligible, before.as_ref(), None)),
            Err(err) => return Ok(failed(email, ItemError::from_upstream(&err), None)),
        },
    };
    if let Err(error) = trail.allow_change() {
        return Ok(failed(email, error, None));
    }
    // Reserved before the call, exact across replicas; given back when no mail went out.
    if let Err(error) = budget.reserve().await {
        return Ok(failed(email, error, None));
    }
    // The caller's own check, last before the call: a refused mail leaves nothing behind.
    if let Err(refusal) = guard.before_call().await {
        budget.refund().await;
        return Err(refusal);
    }
    // No intent on record, no call: the mail would go out unrecorded.
    let before_count = before.as_ref().map_or(0, |b| b.mails_sent_count);
    let audit_id = match trail.intent(Action::Send, email, Some(before_count)).await {
        Ok(id) => id,
        Err(error) => {
            budget.refund().await;
            return Ok(failed(email, error, None));
        }
    };
    let result = google.send(email.as_str(), before.as_ref(), ctx).await;
    eligibility.invalidate(email).await;
    let done = match result {
        Ok(sent) => {
            // The mail raised the count by one, whatever the answer shows of it.
            let mails_sent = sent
                .invitation
                .as_ref()
                .map_or(0, |i| i.mails_sent_count)
                .max(before_count + 1);
            let after = sent.invitation.or(before);
            // A reconciled send has no status of its own: its answer was lost.
            let status = (!sent.reconciled).then_some(200);
            Done {
                reconciled: sent.reconciled,
                changed: Some(mails_sent),
                ..done(email, outcome, after.as_ref(), status)
            }
        }
        Err(err) if err.status == Some(crate::google::Status::FailedPrecondition) => {
            // Not invitable after all (e.g. the person joined meanwhile): no mail went out.
            budget.refund().await;
            done(
                email,
                Outcome::NotEligible,
                before.as_ref(),
                err.http_status,
            )
        }
        Err(err) if err.is_ambiguous() => {
            // Cut off before the outcome could be known: never `failed`, the mail may be out.
            // The mail stays counted; the audit trail settles it at the next read.
            let mut error = ItemError::from_upstream(&err);
            error.detail =
                "Google did not confirm the send and the invitation could not be read back: \
                the mail may have gone out. Look the address up before sending again."
                    .into();
            let mut unknown = failed(email, error, err.http_status);
            unknown.result.outcome = Outcome::Unknown;
            unknown
        }
        Err(err) => {
            budget.refund().await;
            failed(email, ItemError::from_upstream(&err), err.http_status)
        }
    };
    Ok(trail.outcome(audit_id, Action::Send, email, done).await)
}

/// One cancel.
pub(crate) async fn cancel_one(
    google: &GoogleClient,
    eligibility: &EligibilityCache,
    email: &Email,
    trail: &Trail<'_>,
    ctx: &CallContext,
) -> Done {
    let before = match read(google, email, ctx).await {
        Ok(before) => before,
        Err(err) => return failed(email, ItemError::from_upstream(&err), None),
    };
    trail.settle(email, before.as_ref()).await;
    if before.as_ref().map(|b| b.state) != Some(State::Invited) {
        return done(email, Outcome::NotInvited, before.as_ref(), None);
    }
    if let Err(error) = trail.allow_change() {
        return failed(email, error, None);
    }
    let audit_id = match trail.intent(Action::Cancel, email, None).await {
        Ok(id) => id,
        Err(error) => return failed(email, error, None),
    };
    let result = google.cancel(email.as_str(), ctx).await;
    eligibility.invalidate(email).await;
    let done = match result {
        Ok(after) => {
            let after = after.or_else(|| {
                before.map(|b| UserInvitation {
                    state: State::NotYetSent,
                    ..b
                })
            });
            let mails_sent = after.as_ref().map_or(0, |a| a.mails_sent_count);
            Done {
                changed: Some(mails_sent),
                ..done(email, Outcome::Cancelled, after.as_ref(), Some(200))
            }
        }
        Err(err) if err.status == Some(crate::google::Status::FailedPrecondition) => {
            done(email, Outcome::NotInvited, None, err.http_status)
        }
        Err(err) => failed(email, ItemError::from_upstream(&err), err.http_status),
    };
    trail.outcome(audit_id, Action::Cancel, email, done).await
}

/// The per-item error of an address refused before any call.
pub(crate) fn refused(raw: &str, error: ItemError) -> Done {
    Done {
        result: MutationResult {
            email: raw.trim().to_owned(),
            outcome: Outcome::Failed,
            invitation: None,
            error: Some(error),
        },
        google_status: None,
        reconciled: false,
        changed: None,
        recorded: false,
    }
}

/// The error an observer returns when the audit trail cannot take the item's record.
pub fn audit_unavailable() -> ItemError {
    ItemError::new(
        ItemErrorCode::AuditUnavailable,
        "The audit trail cannot be written, so nothing was changed for this address; retry later.",
    )
}

/// The quota error an observer returns when the caller's mails are used up.
pub fn mail_quota_exceeded() -> ItemError {
    ItemError::new(
        ItemErrorCode::MailQuotaExceeded,
        "Your daily mail quota is used up; no mail was sent.",
    )
}
