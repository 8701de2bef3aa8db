//! Who is calling: the verified identity behind a request.

use crate::auth::scopes::{Scope, ScopeSet};

/// A caller whose token was verified: its identity and granted scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The verified (`iss`, `sub`): the one identity type of a caller, the store's, which rate
    /// limits, quotas, idempotency keys, campaigns and the audit trail are all keyed by (never
    /// an IP).
    pub id: crate::store::Caller,
    /// The scopes the token grants (unknown scope names are dropped).
    pub scopes: ScopeSet,
}

impl Caller {
    /// True when the caller holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }
}
