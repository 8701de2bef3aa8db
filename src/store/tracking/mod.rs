//! Tracking: the latest state of every person, each change with when the gateway learned it,
//! and the walk of Google's list (one replica at a time, resumable).
//!
//! The rules (which changes a page or the gateway's own change makes) are tracking's
//! (`tracking::rules`, through [`ChangeRules`]); the store hands them each person's row under
//! its row lock and writes what they decide, so that one change is recorded, and announced,
//! once.

use super::events::OutboxEvent;
use crate::vocabulary::{ChangeKind, InvitationState, ItemOutcome};
use chrono::{DateTime, Utc};
use std::time::Duration;

mod reads;
mod walk;

/// A stored state name as the state; a name this version does not know is what Google calls
/// unspecified (Google may add states; the row stays readable).
fn stored_state(name: String) -> InvitationState {
    InvitationState::from_name(&name).unwrap_or(InvitationState::StateUnspecified)
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

/// What a person's row held before a change: Google's state and `mailsSentCount`.
pub type Before = (InvitationState, i64);

/// Tracking's rules, which the store applies under each person's row lock: the store hands
/// them the rows and writes what they decide (`tracking::rules` implements them).
pub trait ChangeRules: Send + Sync {
    /// The changes concluded from the stored `before` (None: a person met for the first time)
    /// and what a page of the list shows now.
    fn walk_changes(&self, before: Option<Before>, seen: &Observed) -> Vec<ChangeKind>;

    /// Google's state after a change of `kind` the gateway made (a send or a cancel).
    fn gateway_state(&self, kind: ChangeKind) -> InvitationState;

    /// Whether a change the gateway made is new (the person's row does not show it yet).
    fn gateway_change_is_new(&self, before: Option<Before>, change: &GatewayChange) -> bool;

    /// The outcome a person's mailed campaign items take after `changes`; None: they keep it.
    fn settled_outcome(&self, changes: &[ChangeKind]) -> Option<ItemOutcome>;

    /// The outcomes of the items [`ChangeRules::settled_outcome`] replaces (never empty).
    fn settled_from(&self) -> &'static [ItemOutcome];
}
