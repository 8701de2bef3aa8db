//! Tracking's rules: which changes the gateway concludes about a person. The store applies
//! them under the person's row lock (the tracker's and the gateway's own changes meet there),
//! so that one change is recorded, and announced, once:
//! - a person first met by a walk is recorded `first_seen` in the state listed; what happened
//!   before the gateway could see it emits nothing;
//! - `sent` when the listed `mailsSentCount` went up (a mail the gateway announced already
//!   raised the stored count, so the walk does not announce it again);
//! - `accepted` and `declined` when the listed state becomes so; `cancelled` when an invited
//!   person is listed `NOT_YET_SENT` again;
//! - a person a finished walk did not list is only marked missing (`missing_since`): absence
//!   (a cancel, or Google's index lag of 48 to 72 hours) never emits an event, nor concludes a
//!   state. When they are listed again, the comparison above applies;
//! - a person seen to accept or decline settles their mailed campaign items (`sent`, `resent`,
//!   `already_invited`, and `no_answer`: an answer after the deadline corrects it) in every
//!   real campaign with that outcome.

use crate::store::{Before, ChangeRules, GatewayChange, Observed};
use crate::vocabulary::{ChangeKind, InvitationState, ItemOutcome};

/// The rules; startup hands them to the domain and the tracker hands them to each page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules;

/// The rules' one value.
pub static RULES: Rules = Rules;

impl ChangeRules for Rules {
    fn walk_changes(&self, before: Option<Before>, seen: &Observed) -> Vec<ChangeKind> {
        transitions(before, seen.state, seen.mails_sent_count)
    }

    fn gateway_state(&self, kind: ChangeKind) -> InvitationState {
        match kind {
            ChangeKind::Cancelled => InvitationState::NotYetSent,
            _ => InvitationState::Invited,
        }
    }

    fn gateway_change_is_new(&self, before: Option<Before>, change: &GatewayChange) -> bool {
        match (change.kind, before) {
            (_, None) => true,
            (ChangeKind::Sent, Some((_, count))) => count < change.mails_sent_count,
            (ChangeKind::Cancelled, Some((state, _))) => state == InvitationState::Invited,
            _ => false,
        }
    }

    fn settled_outcome(&self, changes: &[ChangeKind]) -> Option<ItemOutcome> {
        changes.iter().rev().find_map(|change| match change {
            ChangeKind::Accepted => Some(ItemOutcome::Accepted),
            ChangeKind::Declined => Some(ItemOutcome::Declined),
            _ => None,
        })
    }

    fn settled_from(&self) -> &'static [ItemOutcome] {
        &[
            ItemOutcome::Sent,
            ItemOutcome::Resent,
            ItemOutcome::AlreadyInvited,
            // The deadline's last known outcome: a later answer is the person's true one.
            ItemOutcome::NoAnswer,
        ]
    }
}

/// The changes concluded from the stored state `before` (state, mails sent) and what the
/// list shows now; see the module's rules.
fn transitions(
    before: Option<Before>,
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
        use InvitationState as S;
        // (state and mail count before, state now, mail count now, the changes concluded)
        let table = [
            ((S::Invited, 1), S::Invited, 1, vec![]),
            ((S::Invited, 1), S::Accepted, 1, vec![Accepted]),
            ((S::Invited, 1), S::Declined, 1, vec![Declined]),
            ((S::Invited, 1), S::NotYetSent, 1, vec![Cancelled]),
            ((S::NotYetSent, 0), S::Invited, 1, vec![Sent]),
            ((S::Invited, 1), S::Invited, 2, vec![Sent]),
            ((S::NotYetSent, 0), S::Accepted, 1, vec![Sent, Accepted]),
            ((S::Declined, 1), S::Declined, 2, vec![Sent, Declined]),
            ((S::Accepted, 1), S::Accepted, 1, vec![]),
            ((S::Declined, 1), S::Declined, 1, vec![]),
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
