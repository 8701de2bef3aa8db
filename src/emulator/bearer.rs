//! Access tokens the token endpoint issued, and the bearer check every Google route makes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::web;
use rand::Rng as _;
use rand::distr::Alphanumeric;

use super::wire::GoogleError;

/// Lifetime of an access token, as Google reports it.
pub const TOKEN_LIFETIME_SECS: u64 = 3599;

#[derive(Debug, Clone)]
struct Issued {
    scopes: Vec<String>,
    expires_at: Instant,
}

/// Issued access tokens. Survives `reset`; `revoke_all` empties it.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: HashMap<String, Issued>,
}

impl TokenStore {
    /// Issues an opaque token for these scopes.
    pub fn issue(&mut self, scopes: Vec<String>) -> String {
        let now = Instant::now();
        // Expired tokens can never be used again; dropping them keeps the map bounded by the issue rate.
        self.tokens.retain(|_, issued| issued.expires_at > now);
        let random: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(64)
            .map(char::from)
            .collect();
        let token = format!("ya29.emulator.{random}");
        let expires_at = now + Duration::from_secs(TOKEN_LIFETIME_SECS);
        self.tokens
            .insert(token.clone(), Issued { scopes, expires_at });
        token
    }

    /// Makes every token issued so far unusable.
    pub fn revoke_all(&mut self) {
        self.tokens.clear();
    }

    /// Checks a credential (from [`bearer_token`] or [`query_token`]): 401 without a live token,
    /// 403 without one of `accepted`.
    pub fn authorize(&self, token: Option<&str>, accepted: &[&str]) -> Result<(), GoogleError> {
        let token = token.ok_or_else(|| GoogleError::unauthenticated("CREDENTIALS_MISSING"))?;
        let issued = self
            .tokens
            .get(token)
            .filter(|issued| issued.expires_at > Instant::now())
            .ok_or_else(|| GoogleError::unauthenticated("ACCESS_TOKEN_EXPIRED"))?;
        if issued
            .scopes
            .iter()
            .any(|scope| accepted.contains(&scope.as_str()))
        {
            Ok(())
        } else {
            Err(GoogleError::insufficient_scope())
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header; 401 for any other scheme.
pub fn bearer_token(header: &str) -> Result<&str, GoogleError> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| GoogleError::unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED"))
}

/// The token of Google's `access_token` (or older `oauth_token`) system parameter, which Google
/// accepts in place of the header. A query string that does not parse carries no token.
pub fn query_token(query: &str) -> Option<String> {
    let params = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    ["access_token", "oauth_token"]
        .into_iter()
        .find_map(|wanted| {
            params
                .iter()
                .find(|(name, value)| name == wanted && !value.is_empty())
                .map(|(_, value)| value.clone())
        })
}
