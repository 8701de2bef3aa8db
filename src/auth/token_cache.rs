//! Tokens verified recently, so that a caller presenting the same token again is not verified
//! from scratch (base64, JSON, signature) on every request.
//!
//! What is kept, and why it is safe:
//! - Only tokens whose signature and claims were verified; a refused token is never kept, so
//!   forged tokens cannot fill the cache or make it answer for them.
//! - The key is the SHA-256 of the token, never the token: a memory dump holds no bearer tokens.
//! - The value is the verified claims and the caller they prove. A hit runs the claim rules
//!   again at the current time, so an expired token is refused exactly as it would be without
//!   the cache; only the signature is not checked twice (it cannot change).
//! - A JWKS refresh that loaded keys invalidates every entry: a key removed from the issuer's
//!   set stops verifying at the next refresh, as it would without the cache.
//! - Bounded by a capacity (setting `GATEWAY_JWT_VERIFIED_CACHE_CAPACITY`; 0 turns the cache
//!   off), and an entry leaves at its token's `exp` (plus the leeway) at the latest.

use crate::auth::caller::Caller;
use crate::auth::claims::RawClaims;
use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SHA-256 of a token.
pub type TokenDigest = [u8; 32];

/// What a verified token proved.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The verified claims, to check the time-dependent rules again on every use.
    pub claims: RawClaims,
    /// The caller those claims make.
    pub caller: Caller,
    /// The JWKS key generation the token was verified under (0 without a JWKS).
    pub key_generation: u64,
}

/// The verified-token cache; a capacity of 0 keeps nothing.
pub struct TokenCache {
    entries: Option<Cache<TokenDigest, Arc<VerifiedToken>>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each kept until `leeway_secs` after its `exp`.
    pub fn new(capacity: u64, leeway_secs: i64) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry { leeway_secs })
                .build()
        });
        Self { entries }
    }

    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        Self::new(0, 0)
    }

    /// The digest `token` is kept under; `None` when the cache is off (nothing to hash for).
    pub fn digest(&self, token: &str) -> Option<TokenDigest> {
        self.entries
            .as_ref()
            .map(|_| Sha256::digest(token.as_bytes()).into())
    }

    /// The verified token of `digest`, if it was verified under `key_generation`.
    pub fn get(&self, digest: &TokenDigest, key_generation: u64) -> Option<Arc<VerifiedToken>> {
        let entries = self.entries.as_ref()?;
        let verified = entries.get(digest)?;
        if verified.key_generation == key_generation {
            Some(verified)
        } else {
            entries.invalidate(digest);
            None
        }
    }

    /// Keeps a token that was just verified.
    pub fn insert(&self, digest: TokenDigest, verified: VerifiedToken) {
        if let Some(entries) = &self.entries {
            entries.insert(digest, Arc::new(verified));
        }
    }

    /// Tokens held (approximate: moka counts lazily).
    pub fn len(&self) -> u64 {
        self.entries.as_ref().map_or(0, |entries| {
            entries.run_pending_tasks();
            entries.entry_count()
        })
    }

    /// True when no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An entry lives until its token's `exp` plus the leeway; the claim rules refuse it after
/// that anyway, so keeping it longer would only take room.
struct UntilExpiry {
    leeway_secs: i64,
}

impl Expiry<TokenDigest, Arc<VerifiedToken>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Arc<VerifiedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = chrono::Utc::now().timestamp();
        let until = value
            .claims
            .exp
            .map_or(now, |exp| exp.ceil_secs())
            .saturating_add(self.leeway_secs);
        Some(Duration::from_secs(
            u64::try_from(until.saturating_sub(now)).unwrap_or(0),
        ))
    }
}
