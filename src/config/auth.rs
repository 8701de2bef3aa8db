//! Settings of callers: how their JWTs are verified, their limits, the audit trail.

use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// Caller JWT verification.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Shared HS256 secret.
    pub hs256_secret: Option<SecretString>,
    /// PEM file with one or more public keys (RS256, ES256 or EdDSA).
    pub public_key_file: Option<PathBuf>,
    /// JWKS endpoint of the issuer.
    pub jwks_url: Option<String>,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest accepted token lifetime (`exp - iat`).
    pub max_lifetime: Duration,
    /// Claim holding the scopes: a space-separated string or an array of strings.
    pub scope_claim: String,
    /// How long fetched JWKS keys are used before they are fetched again.
    pub jwks_ttl: Duration,
    /// Verified tokens remembered so that a token used again is not verified from scratch;
    /// 0 verifies every request in full.
    pub verified_cache_capacity: u64,
}

/// Default `iss` and `aud` of caller JWTs (also what `invitation-gateway token` mints).
pub const DEFAULT_JWT_ISSUER: &str = "invitation-gateway";

/// Default longest caller JWT lifetime (`exp - iat`) the gateway accepts, in seconds (also the
/// longest `invitation-gateway token` mints).
pub const DEFAULT_JWT_MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

impl Default for JwtSettings {
    // No key source: a default alone verifies nothing, which is the safe failure.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            public_key_file: None,
            jwks_url: None,
            issuer: DEFAULT_JWT_ISSUER.to_owned(),
            audience: DEFAULT_JWT_ISSUER.to_owned(),
            leeway: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(DEFAULT_JWT_MAX_LIFETIME_SECS),
            scope_claim: "scope".to_owned(),
            jwks_ttl: Duration::from_secs(10 * 60),
            verified_cache_capacity: 10_000,
        }
    }
}

/// Per-caller limits; callers are told apart by their verified (`iss`, `sub`), never by IP.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Sustained requests per second per caller.
    pub requests_per_second: u32,
    /// Requests a caller may make at once above the sustained rate.
    pub burst: u32,
    /// Invitation mails one caller may cause per UTC day.
    pub daily_mails_per_caller: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 10,
            burst: 20,
            daily_mails_per_caller: 1000,
        }
    }
}

/// The audit trail's optional file sink.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// Append-only JSON-lines file; `None` writes the `audit` log target only.
    pub file: Option<PathBuf>,
}

impl JwtSettings {
    /// True when at least one key source is configured.
    pub fn has_key_source(&self) -> bool {
        self.hs256_secret.is_some() || self.public_key_file.is_some() || self.jwks_url.is_some()
    }
}
