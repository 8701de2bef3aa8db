//! The flags of `serve` (and `doctor`), each area's group flattened in, and their one
//! conversion into [`Settings`].
//!
//! Bad values are refused with one line naming the environment variable, never corrected: a
//! value that silently became another would run the gateway differently from what the operator
//! reads in the manifest.

use super::rules::{base_url, domain_list, gcp_project, non_empty};
use super::{
    BudgetArgs, CallerArgs, ConfigError, GoogleArgs, HttpArgs, InvitationArgs, JwtArgs, Settings,
    StoreArgs, TrackingArgs, env,
};
use std::net::SocketAddr;

/// Every setting of `serve`: a flag and an environment variable each, grouped by area. This is
/// the one declaration of a setting's flag, env name, default and help; `docs/settings.md`'s
/// table is generated from it.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Run against an in-process emulator of Google with demo data, an HS256 dev secret and a
    /// generated service-account key: no network, no Google account. Prints a ready token.
    #[arg(long, env = env::SANDBOX)]
    pub sandbox: bool,

    /// With --sandbox: calls a minute the sandbox's emulator allows the project before it
    /// answers 429, like Google; 0 lifts the limit. Raise it together with
    /// --google-calls-per-minute for a fast demo.
    #[arg(long, env = env::SANDBOX_QUOTA_PER_MINUTE, default_value_t = 60)]
    pub sandbox_quota_per_minute: u32,

    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    /// [default: 0.0.0.0:8080, or 127.0.0.1:8080 with --sandbox]
    #[arg(long, env = env::LISTEN)]
    pub listen: Option<SocketAddr>,

    /// Google customer id the invitations belong to.
    #[arg(long, env = env::CUSTOMER, default_value = "my_customer")]
    pub customer: String,

    /// Comma-separated domains callers may act on; unset means all.
    #[arg(long, env = env::ALLOWED_DOMAINS)]
    pub allowed_domains: Option<String>,

    /// Google Cloud project id for the trace fields of JSON log lines
    /// (logging.googleapis.com/trace); unset logs the bare trace_id.
    #[arg(long, env = env::GCP_PROJECT)]
    pub gcp_project: Option<String>,

    /// Base URL of an OTLP/HTTP receiver (e.g. http://otel-collector:4318): a span per request,
    /// continuing the caller's W3C traceparent, and per Google call is exported to
    /// URL/v1/traces. Unset: no traces, no cost.
    #[arg(long, env = env::OTLP_ENDPOINT)]
    pub otlp_endpoint: Option<String>,

    /// How to reach and authenticate to Google.
    #[command(flatten)]
    pub google: GoogleArgs,

    /// The Google call budget every replica shares, and the store's pruning.
    #[command(flatten)]
    pub budget: BudgetArgs,

    /// The store (the send ledger, idempotency keys, the daily mail budget).
    #[command(flatten)]
    pub store: StoreArgs,

    /// How caller JWTs are verified.
    #[command(flatten)]
    pub jwt: JwtArgs,

    /// Per-caller limits, the audit file, the log hash key.
    #[command(flatten)]
    pub callers: CallerArgs,

    /// Batches, caches, campaigns, Idempotency-Keys.
    #[command(flatten)]
    pub invitations: InvitationArgs,

    /// The tracker and webhooks.
    #[command(flatten)]
    pub tracking: TrackingArgs,

    /// The HTTP server's limits and shutdown.
    #[command(flatten)]
    pub http: HttpArgs,
}

impl ServeArgs {
    /// The validated Google Cloud project of the log lines' trace fields, alone: logging starts
    /// before the rest is validated (the sandbox validates only once its emulator runs).
    pub fn gcp_project(&self) -> Result<Option<String>, ConfigError> {
        self.gcp_project
            .as_deref()
            .map(|p| gcp_project(env::GCP_PROJECT, p))
            .transpose()
    }

    /// The validated base URL of the OTLP/HTTP trace receiver, alone: traces start with logging.
    pub fn otlp_endpoint(&self) -> Result<Option<String>, ConfigError> {
        self.otlp_endpoint
            .as_deref()
            .map(|url| base_url(env::OTLP_ENDPOINT, url))
            .transpose()
    }

    /// Validates every setting into [`Settings`], area by area, then the rules between them;
    /// the error names the setting and the fix.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let settings = Settings {
            listen: self
                .listen
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8080))),
            customer: non_empty(env::CUSTOMER, &self.customer)?,
            google: self.google.settings()?,
            jwt: self.jwt.settings()?,
            allowed_domains: match &self.allowed_domains {
                Some(list) => domain_list(env::ALLOWED_DOMAINS, list)?,
                None => Vec::new(),
            },
            http: self.http.settings()?,
            limits: self.callers.limits()?,
            audit: self.callers.audit()?,
            log_hash_key: self.callers.log_hash_key()?,
            gcp_project: self.gcp_project()?,
            invitations: self.invitations.settings()?,
            store: self.budget.settings(self.store.settings()?)?,
            tracking: self.tracking.settings()?,
        };
        settings.check()?;
        Ok(settings)
    }
}
