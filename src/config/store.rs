//! Settings of the store: where it is, how many connections, how long to wait, what to keep.
//! The store reads them; only the URL, the pool size, the two timeouts and SQLite's size cap are settings of
//! `serve` and `migrate`, the rest keep their defaults.

use super::ConfigError;
use super::env;
use super::rules::{positive, positive_ms};
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
    /// Share of the Google quota background work may use; the rest is kept for interactive calls.
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

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            database_url: SecretString::from(DEFAULT_DATABASE_URL),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            sqlite_max_mib: None,
            google_per_minute: 60,
            google_background_percent: 80,
            denial_interval: Duration::from_secs(60),
            audit_retention: Duration::from_secs(400 * 24 * 60 * 60),
            mail_budget_retention_days: 7,
            prune_interval: Duration::from_secs(3600),
            event_retention: Duration::from_secs(30 * 24 * 60 * 60),
        }
    }
}

/// The store's settings as given (flags, environment), before validation; `serve` and
/// `migrate` share them.
#[derive(Debug, Clone)]
pub struct RawStoreSettings {
    /// `--database-url`; unset means [`DEFAULT_DATABASE_URL`] (the sandbox: its own temporary
    /// file).
    pub database_url: Option<SecretString>,
    /// `--database-max-connections`.
    pub max_connections: u32,
    /// `--database-connect-timeout-ms`.
    pub connect_timeout_ms: u64,
    /// `--database-statement-timeout-ms`.
    pub statement_timeout_ms: u64,
    /// `--database-sqlite-max-mib`.
    pub sqlite_max_mib: Option<u32>,
}

impl StoreSettings {
    /// Validates the store's settings as given; the error names the setting (never the URL,
    /// which may carry a password).
    pub fn from_raw(raw: &RawStoreSettings) -> Result<StoreSettings, ConfigError> {
        let database_url = raw
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
        Ok(StoreSettings {
            database_url,
            max_connections: positive(env::DATABASE_MAX_CONNECTIONS, raw.max_connections)?,
            connect_timeout: positive_ms(env::DATABASE_CONNECT_TIMEOUT_MS, raw.connect_timeout_ms)?,
            statement_timeout: positive_ms(
                env::DATABASE_STATEMENT_TIMEOUT_MS,
                raw.statement_timeout_ms,
            )?,
            sqlite_max_mib: raw
                .sqlite_max_mib
                .map(|mib| positive(env::DATABASE_SQLITE_MAX_MIB, mib))
                .transpose()?,
            ..StoreSettings::default()
        })
    }
}
