//! Validated settings for the gateway, by area, and their validation.
//!
//! Each area's file holds, in one place, its settings struct (what the gateway reads; tests
//! build it directly), the clap group of its flags (flag, env name, default, help) and the one
//! conversion that validates the flags into the struct. [`ServeArgs`] flattens the groups;
//! [`ServeArgs::settings`] converts them all. Nothing in the library reads the process
//! environment but clap, and this module imports no other part of the crate.

mod auth;
pub mod env;
mod google;
mod http;
mod invitations;
mod rules;
mod serve;
mod store;
mod tracking;

pub use auth::*;
pub use google::*;
pub use http::*;
pub use invitations::*;
pub use rules::{base_url, domain_list, gcp_project, non_empty};
pub use serve::*;
pub use store::*;
pub use tracking::*;

use rules::{DEFAULTS_CONVERT, flag_defaults};
use secrecy::SecretString;
use std::net::SocketAddr;

/// `impl Default` for settings an empty command line gives: `$args`' defaults (each written
/// once, in its flag's `#[arg]`) converted by `$convert`, then the field `$field` of that.
macro_rules! default_from_flags {
    ($($settings:ty = $args:ty => $convert:ident $(. $field:ident)*;)+) => {$(
        impl Default for $settings {
            fn default() -> Self {
                flag_defaults::<$args>()
                    .and_then(|args| args.$convert())
                    .expect(DEFAULTS_CONVERT)
                    $(.$field)*
            }
        }
    )+};
}

default_from_flags! {
    TrackingSettings = TrackingArgs => settings;
    WebhookSettings = TrackingArgs => settings.webhooks;
    HttpSettings = HttpArgs => settings;
    InvitationSettings = InvitationArgs => settings;
    CampaignSettings = InvitationArgs => settings.campaigns;
    EligibilitySettings = InvitationArgs => settings.eligibility;
    IdempotencySettings = InvitationArgs => settings.idempotency;
    // No key source: a default alone verifies nothing, which is the safe failure.
    JwtSettings = JwtArgs => values;
    LimitSettings = CallerArgs => limits;
    GoogleTimeouts = GoogleArgs => timeouts;
    RetrySettings = GoogleArgs => retry;
    ProtectionSettings = GoogleArgs => protection;
    StoreSettings = StoreArgs => settings;
}

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Google customer id (`my_customer` means the admin's own customer).
    pub customer: String,
    /// How to reach and authenticate to Google.
    pub google: GoogleSettings,
    /// How caller JWTs are verified.
    pub jwt: JwtSettings,
    /// Domains callers may act on, lower case; empty means every domain.
    pub allowed_domains: Vec<String>,
    /// HTTP server limits.
    pub http: HttpSettings,
    /// Per-caller request rate and daily mail limits.
    pub limits: LimitSettings,
    /// Where audit records go besides the `audit` log target.
    pub audit: AuditSettings,
    /// Key of the keyed hash that stands in for emails in logs; `None` picks a random key per
    /// process (hashes then differ between replicas and restarts).
    pub log_hash_key: Option<SecretString>,
    /// Batch fan-out, the eligibility cache, idempotency keys, the summary cache.
    pub invitations: InvitationSettings,
    /// The store (SQLite or PostgreSQL): the send ledger, idempotency keys, the daily mail
    /// budget and the Google call budget, shared by every replica.
    pub store: StoreSettings,
    /// The tracker's interval, the event feed's webhooks.
    pub tracking: TrackingSettings,
    /// Google Cloud project whose Cloud Trace the log lines link to; `None` logs the bare
    /// trace id under `trace_id`.
    pub gcp_project: Option<String>,
}

impl Settings {
    /// Checks the rules between settings (each value alone was checked as it was read): the
    /// command line runs this, and so does `Application::build` for settings built directly.
    pub fn check(&self) -> Result<(), ConfigError> {
        check_shutdown_timing(&self.http, &self.google.timeouts)?;
        check_track_lease(&self.tracking)
    }
}

/// A setting that cannot work; the message names the setting and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
