//! The permissions of the API and the marker types that put one into a handler's signature.

use std::fmt;

/// A permission a caller's token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Check whether accounts can be invited.
    Check,
    /// Read invitations.
    Read,
    /// Send invitation mails.
    Send,
    /// Cancel invitations.
    Cancel,
    /// Read the audit trail (it shows the addresses acted on).
    AuditRead,
    /// See and steer every caller's campaigns, not only one's own.
    CampaignsAdmin,
}

impl Scope {
    /// Every scope, in a stable order (the sandbox mints a token with all of them).
    pub const ALL: [Scope; 6] = [
        Scope::Check,
        Scope::Read,
        Scope::Send,
        Scope::Cancel,
        Scope::AuditRead,
        Scope::CampaignsAdmin,
    ];

    /// The scope's name in tokens and in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Check => "invitations.check",
            Scope::Read => "invitations.read",
            Scope::Send => "invitations.send",
            Scope::Cancel => "invitations.cancel",
            Scope::AuditRead => "audit.read",
            Scope::CampaignsAdmin => "campaigns.admin",
        }
    }

    /// The scope with this exact name; unknown names are `None` (and grant nothing).
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Check => 1,
            Scope::Read => 2,
            Scope::Send => 4,
            Scope::Cancel => 8,
            Scope::AuditRead => 16,
            Scope::CampaignsAdmin => 32,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a caller holds; empty by default, so nothing is granted unless a token says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// True when the set grants `scope`.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Adds `scope` to the set.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// The granted scopes, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }

    /// True when nothing is granted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::default();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    /// Space separated, as in a `scope` claim.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

/// A marker type naming the scope an endpoint requires, used as `Authorized<scope::Send>`.
pub trait RequiredScope: 'static {
    /// The scopes that admit a caller: holding any one of them is enough (most endpoints name
    /// one; an endpoint naming several decides which one a request needs once it has read it).
    const ANY_OF: &'static [Scope];
}

/// Marker types for [`Authorized`](crate::routes::authorized::Authorized), one per [`Scope`].
pub mod scope {
    use super::{RequiredScope, Scope};

    /// Requires `invitations.check`.
    #[derive(Debug)]
    pub struct Check;
    /// Requires `invitations.read`.
    #[derive(Debug)]
    pub struct Read;
    /// Requires `invitations.send`.
    #[derive(Debug)]
    pub struct Send;
    /// Requires `invitations.cancel`.
    #[derive(Debug)]
    pub struct Cancel;
    /// Requires `audit.read`.
    #[derive(Debug)]
    pub struct AuditRead;
    /// Admits `invitations.send` or `invitations.check`: creating a campaign, where a real run
    /// needs the first and a dry run the second (the handler checks which once it read the body).
    #[derive(Debug)]
    pub struct SendOrCheck;

    impl RequiredScope for Check {
        const ANY_OF: &'static [Scope] = &[Scope::Check];
    }
    impl RequiredScope for Read {
        const ANY_OF: &'static [Scope] = &[Scope::Read];
    }
    impl RequiredScope for Send {
        const ANY_OF: &'static [Scope] = &[Scope::Send];
    }
    impl RequiredScope for Cancel {
        const ANY_OF: &'static [Scope] = &[Scope::Cancel];
    }
    impl RequiredScope for AuditRead {
        const ANY_OF: &'static [Scope] = &[Scope::AuditRead];
    }
    impl RequiredScope for SendOrCheck {
        const ANY_OF: &'static [Scope] = &[Scope::Send, Scope::Check];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_grant_nothing() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("invitations.*"), None);
        assert_eq!(Scope::parse("INVITATIONS.SEND"), None);
    }

    #[test]
    fn a_set_holds_exactly_what_was_inserted() {
        let set: ScopeSet = [Scope::Read, Scope::Send].into_iter().collect();
        assert!(set.contains(Scope::Read) && set.contains(Scope::Send));
        assert!(!set.contains(Scope::Check) && !set.contains(Scope::Cancel));
        assert!(!set.contains(Scope::AuditRead));
        assert_eq!(set.to_string(), "invitations.read invitations.send");
        assert!(ScopeSet::default().is_empty());
    }
}
