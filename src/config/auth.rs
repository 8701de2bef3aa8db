//! Settings of callers: how their JWTs are verified, their limits, the audit trail.

use super::rules::{at_least, base_url, non_empty, positive, positive_secs};
use super::{ConfigError, env};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Shortest accepted HS256 secret: RFC 7518 asks for a key at least as long as the hash.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Shortest accepted log hash key.
pub const MIN_HASH_KEY_BYTES: usize = 16;

/// Largest clock-skew leeway: more would keep expired tokens alive noticeably longer.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// Shortest JWKS refresh interval: an issuer's keys are not worth fetching more often.
pub const MIN_JWKS_TTL_SECS: u64 = 30;

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

/// The caller-JWT flags `serve` and `token` share: `token` signs with them what `serve` checks.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Caller JWTs")]
pub struct JwtTokenArgs {
    /// Shared secret of HS256 caller JWTs, at least 32 bytes: serve verifies with it, token
    /// signs with it (never printed).
    #[arg(long, env = env::JWT_HS256_SECRET, hide_env_values = true)]
    pub jwt_hs256_secret: Option<SecretString>,

    /// The iss of caller JWTs: required by serve, written by token.
    #[arg(long, env = env::JWT_ISSUER, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,

    /// The aud of caller JWTs: required by serve, written by token.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_audience: String,

    /// Longest accepted caller JWT lifetime (exp - iat), in seconds; token refuses a longer
    /// --ttl, since the gateway would refuse the token.
    #[arg(long, env = env::JWT_MAX_LIFETIME_SECS, default_value_t = DEFAULT_JWT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime_secs: u64,
}

/// The flags of caller-JWT verification.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Caller JWTs")]
pub struct JwtArgs {
    /// The secret, iss, aud and lifetime `token` shares.
    #[command(flatten)]
    pub token: JwtTokenArgs,

    /// PEM file with the public keys of asymmetric caller JWTs (RS256, ES256, EdDSA).
    #[arg(long, env = env::JWT_PUBLIC_KEY_FILE)]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JWKS URL of the caller JWT issuer.
    #[arg(long, env = env::JWT_JWKS_URL)]
    pub jwt_jwks_url: Option<String>,

    /// Clock skew tolerated on exp, nbf and iat of caller JWTs, in seconds (at most 300).
    #[arg(long, env = env::JWT_LEEWAY_SECS, default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Claim holding the caller's scopes: a space-separated string or an array (scope, scp,
    /// permissions).
    #[arg(long, env = env::JWT_SCOPE_CLAIM, default_value = "scope")]
    pub jwt_scope_claim: String,

    /// Seconds fetched JWKS keys are used before the set is fetched again (at least 30).
    #[arg(long, env = env::JWT_JWKS_TTL_SECS, default_value_t = 600)]
    pub jwt_jwks_ttl_secs: u64,

    /// Verified caller tokens remembered (by their SHA-256) so a token used again skips the
    /// signature check until its exp; claims are still checked on every request. 0 verifies
    /// every request in full.
    #[arg(long, env = env::JWT_VERIFIED_CACHE_CAPACITY, default_value_t = 10_000)]
    pub jwt_verified_cache_capacity: u64,
}

impl JwtArgs {
    /// The validated verification settings: one key source at least, each value checked.
    pub fn settings(&self) -> Result<JwtSettings, ConfigError> {
        let jwt = self.values()?;
        if !jwt.has_key_source() {
            return Err(ConfigError(format!(
                "no way to verify caller JWTs: set {}, {} or {}",
                env::JWT_HS256_SECRET,
                env::JWT_PUBLIC_KEY_FILE,
                env::JWT_JWKS_URL
            )));
        }
        Ok(jwt)
    }

    /// Each value checked, with or without a key source.
    pub(super) fn values(&self) -> Result<JwtSettings, ConfigError> {
        let shared = &self.token;
        if let Some(secret) = &shared.jwt_hs256_secret
            && secret.expose_secret().len() < MIN_HS256_SECRET_BYTES
        {
            return Err(ConfigError(format!(
                "{}: must be at least {MIN_HS256_SECRET_BYTES} bytes",
                env::JWT_HS256_SECRET
            )));
        }
        if let Some(path) = &self.jwt_public_key_file
            && !path.is_file()
        {
            return Err(ConfigError(format!(
                "{}: `{}` is not a readable file",
                env::JWT_PUBLIC_KEY_FILE,
                path.display()
            )));
        }
        if self.jwt_leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigError(format!(
                "{}: at most {MAX_LEEWAY_SECS} seconds",
                env::JWT_LEEWAY_SECS
            )));
        }
        Ok(JwtSettings {
            hs256_secret: shared.jwt_hs256_secret.clone(),
            public_key_file: self.jwt_public_key_file.clone(),
            jwks_url: self
                .jwt_jwks_url
                .as_deref()
                .map(|url| base_url(env::JWT_JWKS_URL, url))
                .transpose()?,
            issuer: non_empty(env::JWT_ISSUER, &shared.jwt_issuer)?,
            audience: non_empty(env::JWT_AUDIENCE, &shared.jwt_audience)?,
            leeway: Duration::from_secs(self.jwt_leeway_secs),
            max_lifetime: positive_secs(env::JWT_MAX_LIFETIME_SECS, shared.jwt_max_lifetime_secs)?,
            scope_claim: non_empty(env::JWT_SCOPE_CLAIM, &self.jwt_scope_claim)?,
            jwks_ttl: Duration::from_secs(at_least(
                env::JWT_JWKS_TTL_SECS,
                self.jwt_jwks_ttl_secs,
                MIN_JWKS_TTL_SECS,
            )?),
            verified_cache_capacity: self.jwt_verified_cache_capacity,
        })
    }
}

/// The flags of what callers may do and what is kept of it: limits, the audit file, the key
/// of the hash that stands in for emails.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Callers")]
pub struct CallerArgs {
    /// Sustained requests per second per caller (verified iss + sub).
    #[arg(long, env = env::RATE_LIMIT_PER_SECOND, default_value_t = 10)]
    pub rate_limit_per_second: u32,

    /// Requests a caller may make at once above the sustained rate.
    #[arg(long, env = env::RATE_LIMIT_BURST, default_value_t = 20)]
    pub rate_limit_burst: u32,

    /// Invitation mails one caller may cause per UTC day, across every replica (kept in the
    /// store).
    #[arg(long, env = env::DAILY_MAIL_LIMIT, default_value_t = 1000)]
    pub daily_mail_limit: u32,

    /// Append-only JSON-lines audit file, besides the audit log target.
    #[arg(long, env = env::AUDIT_FILE)]
    pub audit_file: Option<PathBuf>,

    /// Key of the hash that replaces emails in logs and event subjects, at least 16 bytes
    /// (never printed). Unset: a random key made once and kept in the store, shared by every
    /// replica.
    #[arg(long, env = env::LOG_HASH_KEY, hide_env_values = true)]
    pub log_hash_key: Option<SecretString>,
}

impl CallerArgs {
    /// The validated per-caller limits.
    pub fn limits(&self) -> Result<LimitSettings, ConfigError> {
        Ok(LimitSettings {
            requests_per_second: positive(env::RATE_LIMIT_PER_SECOND, self.rate_limit_per_second)?,
            burst: positive(env::RATE_LIMIT_BURST, self.rate_limit_burst)?,
            daily_mails_per_caller: self.daily_mail_limit,
        })
    }

    /// The validated audit file: a file in an existing directory.
    pub fn audit(&self) -> Result<AuditSettings, ConfigError> {
        if let Some(path) = &self.audit_file {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if !dir.is_dir() || path.is_dir() {
                return Err(ConfigError(format!(
                    "{}: `{}` must be a file in an existing directory",
                    env::AUDIT_FILE,
                    path.display()
                )));
            }
        }
        Ok(AuditSettings {
            file: self.audit_file.clone(),
        })
    }

    /// The validated log hash key, if one is set.
    pub fn log_hash_key(&self) -> Result<Option<SecretString>, ConfigError> {
        if let Some(key) = &self.log_hash_key
            && key.expose_secret().len() < MIN_HASH_KEY_BYTES
        {
            return Err(ConfigError(format!(
                "{}: must be at least {MIN_HASH_KEY_BYTES} bytes",
                env::LOG_HASH_KEY
            )));
        }
        Ok(self.log_hash_key.clone())
    }
}
