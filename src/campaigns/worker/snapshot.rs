//! The tracker's snapshot standing in for per-person reads of a campaign whose people were
//! named (an `emails` or roster source): while the last walk, full or incremental, is fresh, a
//! person the snapshot shows is taken as it shows them, as a `states` campaign takes the list
//! it walked (a dry run decides without a call, a real run sends with one), and a person it does
//! not show is asked isInvitableUser (an account younger than the list's lag), or ends
//! `not_listed` when the campaign was created with `checkUnlisted: false`. A stale snapshot
//! stands in for nothing: each person is read, as before.
//!
//! The trade-off: someone else's mail since the walk is not seen, so a person invited since is
//! mailed again, as by a `states` campaign; the window is the snapshot's age, at most
//! [`FRESH_INTERVALS`] tracker intervals.

use crate::campaigns::Campaigns;
use crate::invitations::background::Seen;
use crate::store::{CampaignRecord, ItemLease, KnownInvitation};
use crate::vocabulary::InvitationState;
use crate::vocabulary::SourceKind;
use std::collections::HashMap;

/// How many tracker intervals (`GATEWAY_TRACK_INTERVAL_SECS`) old the last walk may be for its
/// snapshot to stand in for reads: a working tracker finishes a walk every interval (plus the
/// walk's own time), two tolerate one slow or missed walk, and past that the tracker is stuck
/// and its snapshot is not trusted. A shorter interval narrows the trade-off's window.
pub(crate) const FRESH_INTERVALS: u32 = 2;

/// The snapshot of one claimed batch's people.
pub(super) struct Snapshot {
    people: HashMap<String, KnownInvitation>,
    check_unlisted: bool,
}

/// What the snapshot says of one item.
pub(super) enum Listed {
    /// Taken as this, with no read (unlisted people with `checkUnlisted`: a state unknown, so
    /// the send or the dry run asks isInvitableUser).
    As(Seen),
    /// Not shown, and not to be checked: the item ends `not_listed`.
    NotListed,
}

impl Listed {
    /// The invitation to take the person as; None when they end `not_listed`.
    pub(super) fn seen(self) -> Option<Seen> {
        match self {
            Listed::As(seen) => Some(seen),
            Listed::NotListed => None,
        }
    }
}

/// An item the snapshot may stand in for: its first mail or its verdict, when nothing is known
/// of it yet and no earlier holder may have mailed.
fn stands_in(item: &ItemLease) -> bool {
    item.known.is_none() && !item.mailing && !item.outcome.is_mailed()
}

impl Snapshot {
    /// What the snapshot says of `item`; None when it does not stand in for it.
    pub(super) fn of(&self, item: &ItemLease) -> Option<Listed> {
        if !stands_in(item) {
            return None;
        }
        Some(match self.people.get(&item.email) {
            Some(known) => Listed::As(Seen {
                state: known.state,
                mails_sent: known.mails_sent,
                updated: known.updated,
            }),
            None if self.check_unlisted => Listed::As(Seen {
                state: InvitationState::StateUnspecified,
                mails_sent: 0,
                updated: None,
            }),
            None => Listed::NotListed,
        })
    }
}

impl Campaigns {
    /// The oldest a walk may have finished for its snapshot to stand in for reads.
    pub(crate) fn snapshot_fresh_since(&self) -> chrono::DateTime<chrono::Utc> {
        self.gate.clock().now()
            - chrono::Duration::from_std(self.snapshot_max_age).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// The tracker's snapshot of the people of `items` (one store call), when `record` names its
    /// people and the last walk is fresh; None otherwise (each person is read then). A store
    /// that cannot say falls back to reads too.
    pub(super) async fn snapshot(
        &self,
        record: &CampaignRecord,
        items: &[ItemLease],
    ) -> Option<Snapshot> {
        if record.source_kind == SourceKind::States {
            return None;
        }
        let emails: Vec<String> = items
            .iter()
            .filter(|item| stands_in(item))
            .map(|item| item.email.clone())
            .collect();
        if emails.is_empty() {
            return None;
        }
        let fresh_since = self.snapshot_fresh_since();
        let customer = self.invitations.customer();
        match self
            .gate
            .call(|s| s.fresh_snapshot(customer, &emails, fresh_since))
            .await
        {
            Ok(people) => people.map(|people| Snapshot {
                people: people.into_iter().collect(),
                check_unlisted: record.check_unlisted,
            }),
            Err(err) => {
                tracing::warn!(error = %err, "the tracker's snapshot could not be read: people are read from Google");
                None
            }
        }
    }
}
