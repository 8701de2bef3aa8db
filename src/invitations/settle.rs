//! Settling audit intents whose outcome nobody could record: the process was cut off between
//! the call to Google and the outcome, the store could not write the outcome, or the answer
//! was lost and could not be read back (`unknown`). The invitation is read again under the
//! person's claim (so no call for them is in flight) and compared with the mail count the
//! intent kept: the mail went out (`sent`) or it did not (`failed`). A campaign's intent that
//! comes to nothing is removed instead: its item is tried again and that attempt is recorded.

use crate::google::CallContext;
use crate::google::budget::CallKind;
use crate::google::wire::{State, UserInvitation};
use crate::invitations::Invitations;
use crate::invitations::background::Seen;
use crate::invitations::durable::Durable;
use crate::invitations::email::Email;
use crate::invitations::mutation;
use crate::store::{AuditOutcome, Caller, UnsettledIntent};
use crate::vocabulary::{Action, Outcome};

/// Intents settled by one sweep at most.
const SWEEP_LIMIT: u32 = 50;

/// How long the sweep leaves a person whose settling failed before it tries them again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// An intent settled after the fact, for the other sinks of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// What was done.
    pub action: Action,
    /// The address.
    pub email: String,
    /// The request's id (a campaign's id for its mails).
    pub request_id: String,
    /// The real caller.
    pub caller: Caller,
    /// The campaign, if any.
    pub campaign_id: Option<String>,
    /// What the read showed.
    pub outcome: SettledAs,
    /// How it was settled.
    pub detail: &'static str,
}

/// What a settled intent came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledAs {
    /// `sent`/`failed` (send), `cancelled`/`failed` (cancel): the store's record is updated.
    Outcome(Outcome),
    /// A campaign's intent that came to nothing: no mail went out, the store's record is
    /// removed and the item is tried again (that attempt gets the record). The append-only
    /// file gets a `withdrawn` record after the item's earlier one.
    Withdrawn,
}

impl SettledAs {
    /// The record's `outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            SettledAs::Outcome(outcome) => outcome.as_str(),
            SettledAs::Withdrawn => "withdrawn",
        }
    }
}

/// What the invitation as read now says of `intent`.
fn settlement(
    action: Action,
    intent: &UnsettledIntent,
    now: Option<&UserInvitation>,
) -> (Outcome, &'static str) {
    let state = now.map(|i| i.state);
    match action {
        Action::Send => {
            let went_out = match intent.mails_before {
                Some(before) => now.is_some_and(|i| i.mails_sent_count > before),
                None => state == Some(State::Invited),
            };
            if went_out {
                (
                    Outcome::Sent,
                    "settled later: a read of the invitation showed that the mail went out",
                )
            } else {
                (
                    Outcome::Failed,
                    "settled later: a read of the invitation showed that no mail went out",
                )
            }
        }
        Action::Cancel if state == Some(State::Invited) => (
            Outcome::Failed,
            "settled later: a read showed the invitation still pending",
        ),
        Action::Cancel => (
            Outcome::Cancelled,
            "settled later: a read showed the invitation withdrawn",
        ),
    }
}

/// Settles every unsettled intent about `email` against `now`, the invitation as just read
/// by a holder of the person's claim. Answers what it settled.
pub(crate) async fn settle(
    durable: &Durable,
    email: &Email,
    now: Option<&UserInvitation>,
) -> Vec<Settled> {
    let raw = email.to_string();
    let Ok(open) = durable.call(|s| s.unsettled_intents(&raw)).await else {
        return Vec::new();
    };
    let mut settled = Vec::new();
    for intent in open {
        let Some(action) = Action::from_name(&intent.action) else {
            continue;
        };
        let (outcome, detail) = settlement(action, &intent, now);
        let done = if outcome == Outcome::Failed && intent.campaign_id.is_some() {
            durable
                .withdraw_intent(intent.id)
                .await
                .then_some(SettledAs::Withdrawn)
        } else {
            let record = AuditOutcome {
                outcome: outcome.as_str(),
                google_status: None,
                detail: Some(detail),
            };
            matches!(
                durable.call(|s| s.settle_intent(intent.id, &record)).await,
                Ok(true)
            )
            .then_some(SettledAs::Outcome(outcome))
        };
        if let Some(outcome) = done {
            settled.push(Settled {
                action,
                email: email.to_string(),
                request_id: intent.request_id,
                caller: intent.caller,
                campaign_id: intent.campaign_id,
                outcome,
                detail,
            });
        }
    }
    settled
}

impl Invitations {
    /// Settles the intents nobody settled (their process died, or the store could not write
    /// their outcome and nobody acted on the person since): for each person, under their claim,
    /// one read of Google (background work). Every replica's campaign worker calls it now and
    /// then. Answers what it settled, for the audit log and file.
    pub async fn settle_abandoned(&self) -> Vec<Settled> {
        let now = self.durable.gate().clock().now();
        let Ok(emails) = self
            .durable
            .call(|s| s.unsettled_emails(now, now - RETRY_AFTER, SWEEP_LIMIT))
            .await
        else {
            return Vec::new();
        };
        let mut settled = Vec::new();
        for raw in emails {
            let Ok(email) = Email::parse(&raw) else {
                continue;
            };
            let ctx = self.google.context(None).with_kind(CallKind::Background);
            match self.settle_claimed(&email, &ctx, "settle").await {
                Some(done) => settled.extend(done),
                None => {
                    let _ = self.durable.call(|s| s.settle_failed(&raw)).await;
                }
            }
        }
        settled
    }

    /// Settles, for background work `holder`, a person whose earlier mail may have gone out,
    /// against `seen`, the invitation as that work just read it.
    pub async fn settle_seen(
        &self,
        email: &Email,
        seen: Option<&Seen>,
        holder: &str,
    ) -> Vec<Settled> {
        let Ok(claim) = self
            .durable
            .claim(email, holder, tokio::time::Instant::now())
            .await
        else {
            return Vec::new();
        };
        let now = seen.map(|seen| seen.to_wire(email));
        let settled = settle(&self.durable, email, now.as_ref()).await;
        self.durable.release(&claim).await;
        settled
    }

    /// Takes `email`'s claim without waiting (someone holding it is still at work on them),
    /// reads the invitation and settles against it; None when the claim was held or Google
    /// could not be read.
    async fn settle_claimed(
        &self,
        email: &Email,
        ctx: &CallContext,
        holder: &str,
    ) -> Option<Vec<Settled>> {
        let claim = self
            .durable
            .claim(email, holder, tokio::time::Instant::now())
            .await
            .ok()?;
        let settled = match mutation::read(&self.google, email, ctx).await {
            Ok(now) => Some(settle(&self.durable, email, now.as_ref()).await),
            Err(_) => None,
        };
        self.durable.release(&claim).await;
        settled
    }
}
