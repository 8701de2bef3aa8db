//! Settings of the store: where it is, how many connections, how long to wait, what to keep.
//! The store reads them; only the URL, the pool size, the two timeouts and SQLite's size cap are settings of
//! `serve` and `migrate`, the rest keep their defaults.

use super::ConfigError;
use super::env;
use super::rules::{flag_defaults, positive, positive_ms, positive_secs};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The embedded default: a SQLite file next to the process, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://invitation-gateway.db";

/// How the store connects and what its tables keep.
///
/// The URL is a secret: a PostgreSQL URL usually carries a password, so it is never printed.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `sqlite://PATH` (one replica) or `postgres://...` (required for more than one).
    pub database_url: SecretString,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long connecting, or waiting for a free pooled connection, may take.
    pub connect_timeout: Duration,
    /// Longest a statement may run (PostgreSQL `statement_timeout`; SQLite's busy timeout).
    pub statement_timeout: Duration,
    /// SQLite only: the most the store file may grow to, in MiB (`PRAGMA max_page_count` on
    /// every connection); None: the filesystem is the limit.
    pub sqlite_max_mib: Option<u32>,
    /// Google calls per minute across every replica (the cluster-wide window's limit).
    pub google_per_minute: u32,
    /// Share of the Google quota background work keeps however busy callers are; the rest is
    /// the most ever reserved for interactive calls (the reserve follows their demand; see
    /// `store::google_budget`). 0: background work gets nothing.
    pub google_background_percent: u8,
    /// Denials of one reason from one peer within this interval are folded into one audit row.
    pub denial_interval: Duration,
    /// How long audit rows (intents, outcomes, denials) are kept.
    pub audit_retention: Duration,
    /// How many past UTC days of mail budgets are kept.
    pub mail_budget_retention_days: u32,
    /// How often each replica applies every table's retention.
    pub prune_interval: Duration,
    /// How long outbox events (the feed) and webhook delivery rows are kept.
    pub event_retention: Duration,
}

/// How long denials of one reason from one peer are folded into one audit row (not a flag).
const DENIAL_INTERVAL: Duration = Duration::from_secs(60);
/// How long audit rows are kept (not a flag).
const AUDIT_RETENTION: Duration = Duration::from_secs(400 * 24 * 60 * 60);
/// How many past UTC days of mail budgets are kept (not a flag).
const MAIL_BUDGET_RETENTION_DAYS: u32 = 7;
/// How long outbox events and webhook delivery rows are kept (not a flag).
const EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The flags of the store, shared by `serve` and `migrate`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Store")]
pub struct StoreArgs {
    /// The store: sqlite://PATH (one replica; created on first start) or
    /// postgres://USER:PASSWORD@HOST/DB (required for more than one replica); never printed.
    /// Unset, the sandbox uses a file in its temporary directory, gone at stop.
    /// [default: sqlite://invitation-gateway.db]
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Most connections to the store.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 10)]
    pub database_max_connections: u32,

    /// Longest wait to connect to the store or for a free pooled connection, in milliseconds.
    #[arg(long, env = env::DATABASE_CONNECT_TIMEOUT_MS, default_value_t = 5_000)]
    pub database_connect_timeout_ms: u64,

    /// Longest a store statement may run, in milliseconds (PostgreSQL statement_timeout,
    /// SQLite's busy timeout).
    #[arg(long, env = env::DATABASE_STATEMENT_TIMEOUT_MS, default_value_t = 5_000)]
    pub database_statement_timeout_ms: u64,

    /// SQLite only: the most the store file may grow to, in MiB (PRAGMA max_page_count on
    /// every connection); writes beyond fail as on a full disk. Unset, the filesystem is the
    /// limit.
    #[arg(long, env = env::DATABASE_SQLITE_MAX_MIB)]
    pub database_sqlite_max_mib: Option<u32>,
}

impl StoreArgs {
    /// The validated store settings (the budget's at its flags' defaults, which `serve` then
    /// replaces with [`BudgetArgs::settings`]); the error names the setting (never the URL,
    /// which may carry a password).
    pub fn settings(&self) -> Result<StoreSettings, ConfigError> {
        let database_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let url = database_url.expose_secret();
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError(format!(
                "{}: must start with sqlite:// (one replica) or postgres:// (several)",
                env::DATABASE_URL
            )));
        }
        let store = StoreSettings {
            database_url,
            max_connections: positive(
                env::DATABASE_MAX_CONNECTIONS,
                self.database_max_connections,
            )?,
            connect_timeout: positive_ms(
                env::DATABASE_CONNECT_TIMEOUT_MS,
                self.database_connect_timeout_ms,
            )?,
            statement_timeout: positive_ms(
                env::DATABASE_STATEMENT_TIMEOUT_MS,
                self.database_statement_timeout_ms,
            )?,
            sqlite_max_mib: self
                .database_sqlite_max_mib
                .map(|mib| positive(env::DATABASE_SQLITE_MAX_MIB, mib))
                .transpose()?,
            denial_interval: DENIAL_INTERVAL,
            audit_retention: AUDIT_RETENTION,
            mail_budget_retention_days: MAIL_BUDGET_RETENTION_DAYS,
            event_retention: EVENT_RETENTION,
            // Replaced next (the budget's flags at their defaults).
            google_per_minute: 0,
            google_background_percent: 0,
            prune_interval: Duration::ZERO,
        };
        flag_defaults::<BudgetArgs>()?.settings(store)
    }
}

/// The flags of what the store keeps for `serve` alone: the shared Google call budget and the
/// pruning interval (`migrate` needs neither).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Store")]
pub struct BudgetArgs {
    /// Calls per minute to Google from every replica together: your project's quota (kept in
    /// the store, shared by every replica).
    #[arg(long, env = env::GOOGLE_CALLS_PER_MINUTE, default_value_t = 60)]
    pub google_calls_per_minute: u32,

    /// Share (percent, 0 to 100) of that quota background work (campaigns, the tracker) keeps
    /// however busy callers are; the rest is the most ever held back for callers waiting on an
    /// answer: while they call less, background work uses what they leave (0: no background
    /// work at all).
    #[arg(long, env = env::GOOGLE_BACKGROUND_PERCENT, default_value_t = 80)]
    pub google_background_percent: u8,

    /// Seconds between two runs of the store's pruning on each replica (run-out claims,
    /// expired Idempotency-Keys, old mail budgets, audit rows, denials, tracked changes and
    /// finished campaigns past their retention, outbox events and webhook deliveries after 30
    /// days; also once at start).
    #[arg(long, env = env::STORE_PRUNE_INTERVAL_SECS, default_value_t = 3600)]
    pub store_prune_interval_secs: u64,
}

impl BudgetArgs {
    /// `store` with the validated budget and pruning interval.
    pub fn settings(&self, store: StoreSettings) -> Result<StoreSettings, ConfigError> {
        if self.google_background_percent > 100 {
            return Err(ConfigError(format!(
                "{}: a share from 0 to 100",
                env::GOOGLE_BACKGROUND_PERCENT
            )));
        }
        Ok(StoreSettings {
            google_per_minute: positive(
                env::GOOGLE_CALLS_PER_MINUTE,
                self.google_calls_per_minute,
            )?,
            google_background_percent: self.google_background_percent,
            prune_interval: positive_secs(
                env::STORE_PRUNE_INTERVAL_SECS,
                self.store_prune_interval_secs,
            )?,
            ..store
        })
    }
}
