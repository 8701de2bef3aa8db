//! Mints HS256 caller tokens: the `token` command, the sandbox's ready token, and tests.

use crate::auth::scopes::Scope;
use crate::config::{ConfigError, MIN_HS256_SECRET_BYTES, env, non_empty};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::time::Duration;

/// Longest lifetime `parse_ttl` accepts (a year); the server's maximum lifetime still applies.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// What a minted token says.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// `sub`.
    pub subject: String,
    /// The scopes, written space separated into `scope`.
    pub scopes: Vec<Scope>,
    /// `exp - iat`.
    pub ttl: Duration,
}

/// Why a token cannot be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The secret is shorter than [`MIN_HS256_SECRET_BYTES`].
    #[error("the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")]
    ShortSecret,
    /// The subject is empty.
    #[error("the subject must not be empty")]
    EmptySubject,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    scope: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

/// Signs an HS256 JWT for `request` with `secret`, issued now.
pub fn mint_hs256(secret: &SecretString, request: &TokenRequest) -> Result<String, MintError> {
    let secret = secret.expose_secret().as_bytes();
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(MintError::ShortSecret);
    }
    if request.subject.trim().is_empty() {
        return Err(MintError::EmptySubject);
    }
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(request.ttl.as_secs()).unwrap_or(i64::MAX);
    let scopes: Vec<&str> = request.scopes.iter().map(|s| s.as_str()).collect();
    let claims = MintedClaims {
        iss: &request.issuer,
        aud: &request.audience,
        sub: &request.subject,
        scope: scopes.join(" "),
        iat: now,
        nbf: now,
        exp: now.saturating_add(ttl),
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let header = Header::new(Algorithm::HS256);
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// Parses a lifetime such as `30m`, `1h`, `3600s`, `2d` (or bare seconds), between one second
/// and [`MAX_TTL`].
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30m, 1h, 3600s or 2d"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    let secs = amount
        .checked_mul(unit_secs)
        .filter(|secs| (1..=MAX_TTL.as_secs()).contains(secs))
        .ok_or_else(|| format!("`{text}` must be between 1s and 366d"))?;
    Ok(Duration::from_secs(secs))
}

/// Parses a space- or comma-separated scope list; unknown names are errors that list the
/// valid ones.
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for name in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|n| !n.is_empty())
    {
        let scope = Scope::parse(name).ok_or_else(|| {
            let valid: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown scope `{name}`; valid scopes: {}", valid.join(", "))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_the_usual_units() {
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        for bad in [
            "",
            "h",
            "1w",
            "0s",
            "-1h",
            "1.5h",
            "99999999999999999999d",
            "400d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn scopes_must_be_known() {
        assert_eq!(
            parse_scopes("invitations.check invitations.read,invitations.check"),
            Ok(vec![Scope::Check, Scope::Read])
        );
        let err = parse_scopes("invitations.sned").unwrap_err();
        assert!(err.contains("invitations.send"), "{err}");
    }

    #[test]
    fn short_secrets_are_refused() {
        let request = TokenRequest {
            issuer: "i".into(),
            audience: "a".into(),
            subject: "s".into(),
            scopes: vec![],
            ttl: Duration::from_secs(60),
        };
        let err = mint_hs256(&SecretString::from("short"), &request).unwrap_err();
        assert!(matches!(err, MintError::ShortSecret));
    }
}

/// What the `token` command was given, before any check.
#[derive(Debug)]
pub struct TokenFlags<'a> {
    /// `GATEWAY_JWT_HS256_SECRET`, when set.
    pub secret: Option<&'a SecretString>,
    /// `GATEWAY_JWT_ISSUER`.
    pub issuer: &'a str,
    /// `GATEWAY_JWT_AUDIENCE`.
    pub audience: &'a str,
    /// `--sub`.
    pub subject: &'a str,
    /// `--scope`, space separated.
    pub scope: &'a str,
    /// `--ttl`.
    pub ttl: Duration,
    /// `GATEWAY_JWT_MAX_LIFETIME_SECS`: the gateway refuses a token that lives longer.
    pub max_lifetime: Duration,
}

/// Checks the `token` command's flags and mints the token; a refusal names the flag or
/// environment variable, in one line.
pub fn mint_from_flags(flags: &TokenFlags<'_>) -> Result<String, ConfigError> {
    let secret = flags.secret.ok_or_else(|| {
        ConfigError(format!(
            "missing {}: the secret to sign with",
            env::JWT_HS256_SECRET
        ))
    })?;
    let scopes = parse_scopes(flags.scope).map_err(|e| ConfigError(format!("--scope: {e}")))?;
    if flags.ttl > flags.max_lifetime {
        return Err(ConfigError(format!(
            "--ttl: {} s is longer than {} ({} s), so the gateway would refuse the token; \
             mint a shorter one, or raise {} on the gateway and here",
            flags.ttl.as_secs(),
            env::JWT_MAX_LIFETIME_SECS,
            flags.max_lifetime.as_secs(),
            env::JWT_MAX_LIFETIME_SECS
        )));
    }
    let request = TokenRequest {
        issuer: non_empty(env::JWT_ISSUER, flags.issuer)?,
        audience: non_empty(env::JWT_AUDIENCE, flags.audience)?,
        subject: non_empty("--sub", flags.subject)?,
        scopes,
        ttl: flags.ttl,
    };
    mint_hs256(secret, &request).map_err(|e| match e {
        MintError::ShortSecret => ConfigError(format!(
            "{}: must be at least {MIN_HS256_SECRET_BYTES} bytes",
            env::JWT_HS256_SECRET
        )),
        other => ConfigError(other.to_string()),
    })
}
