//! Callers: JWT verification against the configured key sources (HS256 secret, PEM public
//! keys, JWKS), the six scopes, per-caller limits and token minting. Knows nothing of HTTP
//! serving: the `Authorized<S>` extractor that puts a scope into a handler's signature lives in
//! `routes::authorized` and calls into this module.

pub mod caller;
pub mod claims;
pub mod compact;
pub mod jwks;
pub mod keys;
pub mod mint;
pub mod rate_limit;
pub mod scopes;
pub mod token_cache;
pub mod verifier;

#[cfg(test)]
mod tests;

pub use caller::Caller;
pub use mint::{TokenRequest, mint_hs256};
pub use rate_limit::CallerLimits;
pub use scopes::{RequiredScope, Scope, ScopeSet, scope};
pub use verifier::{AuthFailure, Authenticator};
