//! `token`: an HS256 caller JWT for local use and tests, signed with serve's own settings.

use crate::auth::mint;
use crate::config::{ConfigError, JwtTokenArgs};
use clap::Args;
use std::time::Duration;

/// Settings of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's subject (`sub`): who the caller is.
    #[arg(long)]
    pub sub: String,

    /// Space-separated scopes, e.g. "invitations.check invitations.read".
    #[arg(long)]
    pub scope: String,

    /// Lifetime: 30m, 1h, 3600s, 2d.
    #[arg(long, default_value = "1h", value_parser = mint::parse_ttl)]
    pub ttl: Duration,

    /// The secret, iss, aud and longest lifetime, as serve reads them.
    #[command(flatten)]
    pub jwt: JwtTokenArgs,
}

impl TokenArgs {
    /// Mints the token the flags describe (checked by `auth::mint`, not here).
    pub fn mint(&self) -> Result<String, ConfigError> {
        mint::mint_from_flags(&mint::TokenFlags {
            secret: self.jwt.jwt_hs256_secret.as_ref(),
            issuer: &self.jwt.jwt_issuer,
            audience: &self.jwt.jwt_audience,
            subject: &self.sub,
            scope: &self.scope,
            ttl: self.ttl,
            max_lifetime: Duration::from_secs(self.jwt.jwt_max_lifetime_secs),
        })
    }
}
