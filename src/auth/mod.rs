//! Callers: JWT verification against the configured key sources (HS256 secret, PEM public
//! keys, JWKS), the four scopes, the `Authorized<S>` extractor, per-caller limits and token
//! minting.
//!
//! A handler states what it needs in its signature, `caller: Authorized<scope::Send>`; there
//! is no other way to get a [`Caller`], so an endpoint without the extractor is unauthenticated
//! by construction and one with it is denied unless the token carries the scope.

pub mod caller;
pub mod claims;
pub mod compact;
pub mod extractor;
pub mod jwks;
pub mod keys;
pub mod mint;
pub mod openapi;
pub mod rate_limit;
pub mod scopes;
pub mod token_cache;
pub mod verifier;

#[cfg(test)]
mod tests;

pub use caller::{Caller, CallerKey};
pub use extractor::Authorized;
pub use mint::{TokenRequest, mint_hs256};
pub use rate_limit::CallerLimits;
pub use scopes::{RequiredScope, Scope, ScopeSet, scope};
pub use verifier::{AuthFailure, Authenticator};
