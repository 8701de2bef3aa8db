//! Who is calling: the verified identity behind a request.

use crate::auth::scopes::{Scope, ScopeSet};

/// A caller whose token was verified: its issuer, subject and granted scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The verified `iss`.
    pub issuer: String,
    /// The verified `sub`.
    pub subject: String,
    /// The scopes the token grants (unknown scope names are dropped).
    pub scopes: ScopeSet,
}

impl Caller {
    /// True when the caller holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// The key per-caller limits are counted under.
    pub fn key(&self) -> CallerKey {
        CallerKey {
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// The verified (`iss`, `sub`) pair: what rate limits and quotas are keyed by, never an IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerKey {
    /// The verified `iss`.
    pub issuer: String,
    /// The verified `sub`.
    pub subject: String,
}
