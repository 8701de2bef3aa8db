//! Tracking: the latest state of every person, each change with when the gateway learned it,
//! and the walk of Google's list (one replica at a time, resumable).
//!
//! Rules (the tracker's and the gateway's own changes meet here, under the person's row lock,
//! so that one change is recorded, and announced, once):
//! - a person first met by a walk is recorded `first_seen` in the state listed; what happened
//!   before the gateway could see it emits nothing;
//! - `sent` when the listed `mailsSentCount` went up (a mail the gateway announced already
//!   raised the stored count, so the walk does not announce it again);
//! - `accepted` and `declined` when the listed state becomes so; `cancelled` when an invited
//!   person is listed `NOT_YET_SENT` again;
//! - a person a finished walk did not list is only marked missing (`missing_since`): absence
//!   (a cancel, or Google's index lag of 48 to 72 hours) never emits an event, nor concludes a
//!   state. When they are listed again, the comparison above applies.

use super::events::OutboxEvent;
use crate::vocabulary::InvitationState;
use chrono::{DateTime, Utc};
use std::time::Duration;

mod reads;
mod walk;

/// A stored state name as the state; a name this version does not know is what Google calls
/// unspecified (Google may add states; the row stays readable).
fn stored_state(name: String) -> InvitationState {
    InvitationState::from_name(&name).unwrap_or(InvitationState::StateUnspecified)
}

/// What happened to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The tracker met the person for the first time.
    FirstSeen,
    /// A mail went out.
    Sent,
    /// The person joined.
    Accepted,
    /// The person declined.
    Declined,
    /// The pending invitation was withdrawn.
    Cancelled,
}

impl ChangeKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::FirstSeen => "first_seen",
            ChangeKind::Sent => "sent",
            ChangeKind::Accepted => "accepted",
            ChangeKind::Declined => "declined",
            ChangeKind::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`ChangeKind::as_str`].
    pub fn parse(name: &str) -> Option<ChangeKind> {
        [
            ChangeKind::FirstSeen,
            ChangeKind::Sent,
            ChangeKind::Accepted,
            ChangeKind::Declined,
            ChangeKind::Cancelled,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One person as a page of Google's list shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Observed {
    /// The address.
    pub email: String,
    /// Google's state.
    pub state: InvitationState,
    /// Google's `mailsSentCount`.
    pub mails_sent_count: i64,
    /// Google's `updateTime`.
    pub update_time: Option<DateTime<Utc>>,
}

debug_fields!(Observed {
    state,
    mails_sent_count
});

/// One recorded change.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackedChange {
    /// The address.
    pub email: String,
    /// What happened.
    pub kind: ChangeKind,
    /// Google's state after it.
    pub state: InvitationState,
    /// Google's `mailsSentCount` after it.
    pub mails_sent_count: i64,
    /// When the gateway learned it (store clock).
    pub at: DateTime<Utc>,
    /// Google's `updateTime`, when known.
    pub update_time: Option<DateTime<Utc>>,
}

debug_fields!(TrackedChange { kind, state, at });

/// The latest tracked state of one person.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackedPerson {
    /// The address.
    pub email: String,
    /// Google's state as last known.
    pub state: InvitationState,
    /// Google's `mailsSentCount` as last known.
    pub mails_sent_count: i64,
    /// When the state last changed.
    pub changed_at: DateTime<Utc>,
    /// The last finished walk listed the person.
    pub listed: bool,
    /// Since when finished walks have not listed the person.
    pub missing_since: Option<DateTime<Utc>>,
}

debug_fields!(TrackedPerson {
    state,
    changed_at,
    listed
});

/// A change the gateway made itself (its own send or cancel), recorded with its event in the
/// transaction that records the mail's audit outcome.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayChange {
    /// The Google customer.
    pub customer: String,
    /// The address.
    pub email: String,
    /// [`ChangeKind::Sent`] or [`ChangeKind::Cancelled`].
    pub kind: ChangeKind,
    /// Google's `mailsSentCount` after the change.
    pub mails_sent_count: i64,
    /// Google's `updateTime` after the change, when known.
    pub update_time: Option<DateTime<Utc>>,
    /// The event announcing it; appended only when the change is new.
    pub event: OutboxEvent,
}

debug_fields!(GatewayChange {
    kind,
    mails_sent_count
});

/// Counts per state of the people the last finished walk listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedSummary {
    /// Google's state and how many people are in it.
    pub counts: Vec<(InvitationState, u64)>,
    /// When the last walk finished.
    pub as_of: DateTime<Utc>,
}

/// The walk the holder of the tracker lease is to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkLease {
    /// This walk's id (people it lists are marked with it).
    pub walk_id: String,
    /// Where to resume; None: from the first page.
    pub page_token: Option<String>,
    /// Pages read so far.
    pub pages: u64,
    /// When the walk started.
    pub started_at: DateTime<Utc>,
    /// A full walk (email order; the people it does not list are marked missing), or an
    /// incremental one (`update_time desc`, down to the watermark).
    pub full: bool,
    /// The newest `updateTime` the walk has seen so far (resumed walks carry it on).
    pub newest: Option<DateTime<Utc>>,
    /// The newest `updateTime` the complete walks so far account for; None before the first.
    pub watermark: Option<DateTime<Utc>>,
}

/// When walks are due and how long their lease and page tokens last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkCadence {
    /// How long the lease lasts from now.
    pub lease: Duration,
    /// Time between the end of a walk and the start of the next.
    pub interval: Duration,
    /// Time between the end of a full walk and the start of the next (walks in between are
    /// incremental).
    pub full_every: Duration,
    /// How long a stored page token is trusted to resume a walk.
    pub token_validity: Duration,
}

/// One page of a walk, to record.
#[derive(Debug, Clone)]
pub struct WalkPage<'a> {
    /// The Google customer.
    pub customer: &'a str,
    /// Who holds the lease.
    pub holder: &'a str,
    /// The walk.
    pub walk_id: &'a str,
    /// The token of the next page; None: this was the last, the walk is finished.
    pub next_page_token: Option<&'a str>,
    /// The people the page lists.
    pub people: &'a [Observed],
    /// How long the lease is extended from now.
    pub lease: Duration,
    /// The newest `updateTime` the walk has seen, this page included.
    pub newest: Option<DateTime<Utc>>,
}

/// The changes concluded from the stored state `before` (state, mails sent) and what the
/// list shows now; see the module's rules.
pub fn transitions(
    before: Option<(InvitationState, i64)>,
    state: InvitationState,
    mails_sent_count: i64,
) -> Vec<ChangeKind> {
    use InvitationState::{Accepted, Declined, Invited, NotYetSent};
    let Some((was, count)) = before else {
        return vec![ChangeKind::FirstSeen];
    };
    let mut changes = Vec::new();
    let mailed = state != NotYetSent
        && was != Accepted
        && (mails_sent_count > count || (was == NotYetSent && state == Invited));
    if mailed {
        changes.push(ChangeKind::Sent);
    }
    match state {
        Accepted if was != Accepted => changes.push(ChangeKind::Accepted),
        Declined if was != Declined || mailed => changes.push(ChangeKind::Declined),
        NotYetSent if was == Invited => changes.push(ChangeKind::Cancelled),
        _ => {}
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChangeKind::*;

    #[test]
    fn a_person_met_for_the_first_time_is_only_first_seen() {
        assert_eq!(
            transitions(None, InvitationState::Accepted, 1),
            vec![FirstSeen]
        );
    }

    #[test]
    fn the_walk_concludes_each_change_once_from_state_and_mail_count() {
        // (state and mail count before, state now, mail count now, the changes concluded)
        let table = [
            (
                (InvitationState::Invited, 1),
                InvitationState::Invited,
                1,
                vec![],
            ),
            (
                (InvitationState::Invited, 1),
                InvitationState::Accepted,
                1,
                vec![Accepted],
            ),
            (
                (InvitationState::Invited, 1),
                InvitationState::Declined,
                1,
                vec![Declined],
            ),
            (
                (InvitationState::Invited, 1),
                InvitationState::NotYetSent,
                1,
                vec![Cancelled],
            ),
            (
                (InvitationState::NotYetSent, 0),
                InvitationState::Invited,
                1,
                vec![Sent],
            ),
            (
                (InvitationState::Invited, 1),
                InvitationState::Invited,
                2,
                vec![Sent],
            ),
            (
                (InvitationState::NotYetSent, 0),
                InvitationState::Accepted,
                1,
                vec![Sent, Accepted],
            ),
            (
                (InvitationState::Declined, 1),
                InvitationState::Declined,
                2,
                vec![Sent, Declined],
            ),
            (
                (InvitationState::Accepted, 1),
                InvitationState::Accepted,
                1,
                vec![],
            ),
            (
                (InvitationState::Declined, 1),
                InvitationState::Declined,
                1,
                vec![],
            ),
        ];
        for (before, state, mails, expected) in table {
            assert_eq!(
                transitions(Some(before), state, mails),
                expected,
                "{before:?} -> {state:?} with {mails} mails"
            );
        }
    }
}
