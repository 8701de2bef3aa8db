//! The closed sets of names an item's life is told in: the state of an invitation, where a
//! campaign's people come from, what became of an item, and why an item failed.
//!
//! Each set is one enum whose wire name is spelled once, in its [`named`] declaration: the same
//! spelling is the store's column value, the JSON name (serde), the OpenAPI enum (utoipa) and
//! the metric label (`as_str`). Nothing here imports another module of the crate, so the store
//! (the lowest layer) and the API's error table alike can use these types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares an enum whose variants each carry one wire name, with `ALL`, `as_str`,
/// `from_name` and `Display`; the `#[serde(rename)]` of each variant is the same name.
macro_rules! named {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:tt, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire name (also the store's column value and the metric label).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The value spelled `name` exactly; None for any other text.
            pub fn from_name(name: &str) -> Option<$name> {
                match name { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named! {
    /// The state of an invitation.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
    )]
    pub enum InvitationState {
        /// Found, no mail sent (or the invitation was cancelled).
        NotYetSent = "NOT_YET_SENT",
        /// Mailed, waiting for the person.
        Invited = "INVITED",
        /// The person joined; the account is managed.
        Accepted = "ACCEPTED",
        /// The person declined.
        Declined = "DECLINED",
        /// Google reported a state this version does not know.
        StateUnspecified = "STATE_UNSPECIFIED",
    }
}

impl InvitationState {
    /// Every state a filter may name.
    pub const FILTERABLE: [InvitationState; 4] = [
        InvitationState::NotYetSent,
        InvitationState::Invited,
        InvitationState::Accepted,
        InvitationState::Declined,
    ];

    /// Parses a filterable wire name, spelled exactly as documented (`INVITED`, not `invited`).
    pub fn parse(name: &str) -> Option<InvitationState> {
        Self::from_name(name).filter(|state| Self::FILTERABLE.contains(state))
    }
}

named! {
    /// Where a campaign's people come from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum SourceKind {
        /// Google's list of accounts in some states, walked once when the campaign starts.
        States = "states",
        /// A list of addresses.
        Emails = "emails",
        /// An uploaded roster.
        Roster = "roster",
    }
}

named! {
    /// What became of one item of a campaign.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
    )]
    pub enum ItemOutcome {
        /// Not done yet.
        Pending = "pending",
        /// The first mail went out.
        Sent = "sent",
        /// Another mail went out (`resend`).
        Resent = "resent",
        /// Already invited; no mail.
        AlreadyInvited = "already_invited",
        /// Already joined; no mail.
        AlreadyAccepted = "already_accepted",
        /// Not an unmanaged account; no mail.
        NotEligible = "not_eligible",
        /// Invalid, outside the allowed domains or a duplicate; never sent to Google.
        Skipped = "skipped",
        /// Failed after the retry policy.
        Failed = "failed",
        /// The person joined (seen by tracking).
        Accepted = "accepted",
        /// The person declined (seen by tracking).
        Declined = "declined",
        /// A dry run's answer: a real run would mail this person.
        WouldSend = "would_send",
        /// The campaign was cancelled before this item was done.
        Cancelled = "cancelled",
        /// The tracker's fresh snapshot does not show the person and the campaign was created
        /// with `checkUnlisted: false`: no call, no mail (an account younger than the list's
        /// lag, or not an unmanaged account).
        NotListed = "not_listed",
        /// The campaign's deadline passed while the person was still INVITED by it (their
        /// invitation kept, or cancelled with `atDeadline: cancel`).
        NoAnswer = "no_answer",
    }
}

impl ItemOutcome {
    /// What the tracker records over any other outcome: once there, it stays.
    pub const TRACKED: [ItemOutcome; 2] = [ItemOutcome::Accepted, ItemOutcome::Declined];

    /// True for what the tracker records over any other outcome ([`ItemOutcome::TRACKED`]).
    pub fn is_tracked(self) -> bool {
        Self::TRACKED.contains(&self)
    }

    /// True when a mail of the campaign went out for it (a reminder may be due).
    pub fn is_mailed(self) -> bool {
        matches!(self, ItemOutcome::Sent | ItemOutcome::Resent)
    }
}

named! {
    /// What happened to a person, as tracking records it (the history's `state`).
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
    )]
    pub enum ChangeKind {
        /// The tracker met the person for the first time.
        FirstSeen = "first_seen",
        /// A mail went out.
        Sent = "sent",
        /// The person joined.
        Accepted = "accepted",
        /// The person declined.
        Declined = "declined",
        /// The pending invitation was withdrawn.
        Cancelled = "cancelled",
    }
}

named! {
    /// What a campaign does at its deadline to the invitations of the people still INVITED by
    /// it (both make them `no_answer`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
    pub enum AtDeadline {
        /// The invitations stay open.
        #[default]
        Keep = "keep",
        /// The invitations are cancelled, through the ledger and the audit trail.
        Cancel = "cancel",
    }
}

named! {
    /// Where a campaign is in its life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum CampaignState {
        /// Waits for its `startAt`.
        Scheduled = "scheduled",
        /// Being worked on.
        Running = "running",
        /// Held until `resumesAt` (mail budget spent, Google unavailable); then running again.
        Waiting = "waiting",
        /// Held by its owner until resumed.
        Paused = "paused",
        /// Every item is final.
        Completed = "completed",
        /// Stopped by its owner; no further work.
        Cancelled = "cancelled",
    }
}

impl CampaignState {
    /// True for completed and cancelled: nothing will change any more.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignState::Completed | CampaignState::Cancelled)
    }

    /// True while workers may act on the campaign's items (running, or due to run).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CampaignState::Scheduled | CampaignState::Running | CampaignState::Waiting
        )
    }
}

named! {
    /// The two mutations, as the audit trail records them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum Action {
        /// A send (or resend).
        Send = "send",
        /// A cancel.
        Cancel = "cancel",
    }
}

named! {
    /// What happened to one address of a send or cancel.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
    )]
    pub enum Outcome {
        /// send: the first mail went out.
        Sent = "sent",
        /// send with `resend: true`: another mail went out.
        Resent = "resent",
        /// send: already INVITED and `resend` was false; no mail.
        AlreadyInvited = "already_invited",
        /// send: the person already joined; no mail.
        AlreadyAccepted = "already_accepted",
        /// send: not an unmanaged account of a verified domain; no mail.
        NotEligible = "not_eligible",
        /// cancel: the invitation was withdrawn.
        Cancelled = "cancelled",
        /// cancel: nothing was pending.
        NotInvited = "not_invited",
        /// The item failed; see `error`.
        Failed = "failed",
        /// send: Google's answer was lost and could not be read back before the item was cut
        /// off (a timeout, a broken connection, shutdown): the mail may have gone out. `error`
        /// says why. Look the address up before sending again; the audit trail settles it later.
        Unknown = "unknown",
    }
}

named! {
    /// Stable codes of per-item errors.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum ItemErrorCode {
        /// The address is not valid.
        InvalidEmail = "invalid_email",
        /// The address's domain is outside `GATEWAY_ALLOWED_DOMAINS`.
        DomainNotAllowed = "domain_not_allowed",
        /// Google has no invitation for the address (or not yet: new accounts take up to 48 h).
        NotFound = "not_found",
        /// Google is unavailable or overloaded; retry later.
        UpstreamUnavailable = "upstream_unavailable",
        /// Google did not answer in time. For a send, the mail may have gone out.
        UpstreamTimeout = "upstream_timeout",
        /// Google refused the request.
        UpstreamRejected = "upstream_rejected",
        /// The gateway's Google credentials are misconfigured.
        CredentialsMisconfigured = "credentials_misconfigured",
        /// The caller's daily mail quota is used up.
        MailQuotaExceeded = "mail_quota_exceeded",
        /// The audit trail cannot be written, so nothing was changed.
        AuditUnavailable = "audit_unavailable",
        /// The project's Google quota (shared by every replica) has no call left before the
        /// item's deadline; Google was not called. Retry after `retryAfterSeconds`.
        QuotaExhausted = "quota_exhausted",
        /// The gateway's store cannot be reached, so nothing was changed; retry later.
        StoreUnavailable = "store_unavailable",
        /// Another request held this address for longer than this one could wait; nothing was
        /// changed. Look the address up before retrying.
        AddressBusy = "address_busy",
    }
}

impl ItemErrorCode {
    /// An outage or a spent budget that passes by itself: nothing was changed, and the same
    /// item can succeed later (a campaign waits and tries it again, it is not failed).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ItemErrorCode::MailQuotaExceeded
                | ItemErrorCode::UpstreamUnavailable
                | ItemErrorCode::UpstreamTimeout
                | ItemErrorCode::QuotaExhausted
                | ItemErrorCode::StoreUnavailable
                | ItemErrorCode::AuditUnavailable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde, the store and the metric label agree: each name round-trips through all three.
    #[test]
    fn every_name_is_its_serde_name_and_parses_back() {
        fn check<T: Serialize + Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            name: impl Fn(T) -> &'static str,
            parse: impl Fn(&str) -> Option<T>,
        ) {
            for value in all {
                let json = serde_json::to_value(value).unwrap();
                assert_eq!(json, name(*value));
                assert_eq!(parse(name(*value)), Some(*value));
            }
        }
        check(
            InvitationState::ALL,
            InvitationState::as_str,
            InvitationState::from_name,
        );
        check(SourceKind::ALL, SourceKind::as_str, SourceKind::from_name);
        check(
            ItemOutcome::ALL,
            ItemOutcome::as_str,
            ItemOutcome::from_name,
        );
        check(Action::ALL, Action::as_str, Action::from_name);
        check(Outcome::ALL, Outcome::as_str, Outcome::from_name);
        check(ChangeKind::ALL, ChangeKind::as_str, ChangeKind::from_name);
        check(
            CampaignState::ALL,
            CampaignState::as_str,
            CampaignState::from_name,
        );
        check(
            ItemErrorCode::ALL,
            ItemErrorCode::as_str,
            ItemErrorCode::from_name,
        );
        assert_eq!(ItemOutcome::from_name("Sent"), None);
        assert_eq!(InvitationState::parse("STATE_UNSPECIFIED"), None);
    }
}
