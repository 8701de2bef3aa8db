//! The gateway's durable state: one [`Store`] over SQLite (one replica) or PostgreSQL (several).
//!
//! Methods are named for what they mean (claim an address, reserve a mail, take a Google slot),
//! never a generic repository. SQL is kept portable; the few places where the two databases
//! differ (row locks, `BEGIN IMMEDIATE`) are inside this module and nowhere else. Time comes from
//! the store's [`Clock`], so tests drive leases and refills with a manual clock and never sleep.
//! Emails are stored (the store must hold them) but never appear in errors or `Debug` output.

/// Runs `$body` with `$pool` bound to the backend's pool: the body is written once and compiled
/// once per database, which is how portable SQL stays in one place.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs one statement on the pool of either backend, binding `$bind`s to `$1`, `$2`, ... in
/// order; answers how many rows it changed (`Result<u64, sqlx::Error>`). The one shape every
/// plain write of the store takes: the SQL is portable, so one call serves both databases.
macro_rules! execute {
    ($store:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        with_pool!($store, pool => sqlx::query($sql)
            $(.bind($bind))*
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
    };
}

/// Runs one query on the pool of either backend with the `[binds]` in order, and decodes every
/// row it answers with the closure (its row is of either backend's row type; it answers
/// `Result<T, sqlx::Error>`). Answers `Result<Vec<T>, sqlx::Error>`.
macro_rules! fetch_all {
    ($store:expr, $sql:expr, [$($bind:expr),* $(,)?], |$row:ident| $decode:expr $(,)?) => {
        with_pool!($store, pool => decode_rows!(sqlx::query($sql)
            $(.bind($bind))*
            .fetch_all(pool)
            .await, |$row| $decode))
    };
}

/// Decodes every row of a fetch's `$rows` (`Result<Vec<Row>, sqlx::Error>`) with `$decode`, as
/// [`fetch_all!`] does; for queries built with [`sqlx::QueryBuilder`].
macro_rules! decode_rows {
    ($rows:expr, |$row:ident| $decode:expr $(,)?) => {
        $rows.and_then(|rows| {
            rows.iter()
                .map(|$row| $decode)
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut` of the backend's
/// connection type): like [`with_pool!`], one body compiled once per database.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(tx) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *tx;
                $body
            }
            $crate::store::TxInner::Postgres(tx) => {
                let $conn: &mut sqlx::PgConnection = &mut *tx;
                $body
            }
        }
    };
}

/// Runs `$body` in a new transaction of `$store` with `$conn` bound to its connection (see
/// [`with_tx!`]) and commits it when the body succeeds; answers the body's value. On an error
/// the transaction is dropped, which rolls it back.
macro_rules! in_tx {
    ($store:expr, $conn:ident => $body:expr) => {{
        let mut tx = $store.begin().await?;
        let value = with_tx!(tx, $conn => $body)?;
        tx.commit().await?;
        value
    }};
}

mod audit;
mod campaigns;
mod clock;
mod events;
mod gate;
mod google_budget;
mod idempotency;
mod ledger;
mod mail_budget;
mod secrets;
mod tracking;

pub use crate::config::{DEFAULT_DATABASE_URL, StoreSettings};
pub use audit::{
    AuditCursor, AuditEvent, AuditFilter, AuditId, AuditIntent, AuditListing, AuditOutcome,
    AuditSearch, DenialRecord, SEARCH_LIMIT, UNKNOWN_OUTCOME, UnsettledIntent,
};
pub use campaigns::{
    CampaignPage, CampaignRecord, CampaignTerms, DUPLICATE_REASON, ItemLease, ItemPage, ItemRecord,
    ItemUpdate, KnownInvitation, MAX_ITEM_PAGE, NewCampaign, NewItem, PersonItem, Reminders,
    RosterRow, Timeline, WaitingReason,
};
pub use clock::Clock;
pub use events::{Delivery, OutboxEvent, StoredEvent};
pub use gate::{Gate, PING_EVERY};
pub use google_budget::{FLOOR_PERCENT, GoogleSlot, SlotKind, background_limit};
pub use idempotency::{IdempotencyStart, IdempotencyTicket, StoredResponse};
pub use ledger::{Claim, ClaimToken};
pub use tracking::{
    Before, ChangeRules, GatewayChange, Observed, TrackedChange, TrackedPerson, TrackedSummary,
    WalkCadence, WalkLease, WalkPage,
};

use secrecy::ExposeSecret;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;

/// Why the store could not be opened or could not answer.
///
/// Every Display is one line without the URL (it may carry a password) and without emails.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("GATEWAY_DATABASE_URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    /// The URL has a supported scheme but does not parse.
    #[error("GATEWAY_DATABASE_URL is not a valid {0} URL")]
    InvalidUrl(&'static str),
    /// The database was migrated by a newer binary; running against it could corrupt it.
    #[error(
        "the database schema is at version {found}, newer than the {supported} this binary knows: \
         run the newer invitation-gateway or point GATEWAY_DATABASE_URL at another database"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration embedded in this binary.
        supported: i64,
    },
    /// The lock file that serialises SQLite migrations could not be taken.
    #[error("could not lock the SQLite database for migrating: {0}")]
    MigrationLock(std::io::Error),
    /// Applying the embedded migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(MigrateError),
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// True when the database refused a value it was given (PostgreSQL's SQLSTATE class 22,
    /// "data exception": a NUL in text, a number out of range, a division by zero): the fault
    /// of the input, never a sign that the store is down.
    pub fn is_refused_value(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(error)) = self else {
            return false;
        };
        error
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|error| error.code().starts_with("22"))
    }

    /// The database's SQLSTATE code of this error, when it has one: what may be logged of a
    /// refused value (the database's message can echo the value, which may be personal data).
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => {
                error.code().map(|code| code.into_owned())
            }
            _ => None,
        }
    }
}

/// Who a budget or a key belongs to: the caller's JWT issuer and subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The JWT `iss`.
    pub iss: String,
    /// The JWT `sub`.
    pub sub: String,
}

impl Caller {
    /// The caller `sub` of issuer `iss`.
    pub fn new(iss: impl Into<String>, sub: impl Into<String>) -> Self {
        Caller {
            iss: iss.into(),
            sub: sub.into(),
        }
    }
}

/// How a `SELECT` inside a write transaction locks the rows it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// Waits for another transaction that holds a row (`FOR UPDATE`).
    Wait,
    /// Leaves out the rows another transaction holds (`FOR UPDATE SKIP LOCKED`): claimers
    /// share out work instead of queueing for it.
    SkipLocked,
}

/// The connection pool of the configured database.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// An embedded SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL server, shared by every replica.
    Postgres(PgPool),
}

/// The open transaction of a [`StoreTx`].
pub(crate) enum TxInner {
    /// A SQLite write transaction (`BEGIN IMMEDIATE`: the one writer).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// A PostgreSQL transaction.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A write transaction: what is written in it (a change and its outbox event) commits together
/// or not at all. Dropped without [`StoreTx::commit`], it rolls back.
pub struct StoreTx {
    inner: TxInner,
}

impl std::fmt::Debug for StoreTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreTx(..)")
    }
}

impl StoreTx {
    /// Commits everything written in the transaction.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Undoes everything written in the transaction, now (not when the connection is reused).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.rollback().await?,
            TxInner::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// The gateway's durable state, shared by every request and replica; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    clock: Clock,
    settings: StoreSettings,
}

impl Store {
    /// Opens the database named by `settings`, creating a SQLite file if missing, and applies
    /// the embedded migrations under the backend's lock (several replicas may start at once).
    ///
    /// A database whose schema is newer than this binary is refused with
    /// [`StoreError::SchemaTooNew`].
    pub async fn connect(settings: &StoreSettings, clock: Clock) -> Result<Store, StoreError> {
        let url = settings.database_url.expose_secret();
        let backend = if url.starts_with("sqlite:") {
            connect_sqlite(url, settings).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url, settings).await?
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Store {
            backend,
            clock,
            settings: settings.clone(),
        })
    }

    /// The clock every lease, expiry and refill is computed from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The suffix that makes a `SELECT` lock what it reads (see [`RowLock`]), chosen here for
    /// every table: PostgreSQL locks the rows; SQLite has nothing to add, because every write
    /// transaction (`begin`: `BEGIN IMMEDIATE`) already holds the database's one write lock, so
    /// a read then write inside it sees no other writer between.
    pub(crate) fn lock_suffix(&self, lock: RowLock) -> &'static str {
        match (&self.backend, lock) {
            (Backend::Sqlite(_), _) => "",
            (Backend::Postgres(_), RowLock::Wait) => " FOR UPDATE",
            (Backend::Postgres(_), RowLock::SkipLocked) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and readiness.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Deletes the rows of `table` whose `expires_at` has come (store clock); answers how many.
    async fn delete_expired(&self, table: &'static str) -> Result<u64, StoreError> {
        let now = clock::to_millis(self.clock.now());
        let sql = format!("DELETE FROM {table} WHERE expires_at <= $1");
        Ok(execute!(self, &sql, now)?)
    }

    /// Opens a write transaction (SQLite: `BEGIN IMMEDIATE`, so that a read-then-write inside
    /// it cannot fail with SQLITE_BUSY half-way).
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        let inner = match &self.backend {
            Backend::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(StoreTx { inner })
    }

    /// One round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        execute!(self, "SELECT 1")?;
        Ok(())
    }

    /// Applies every table's retention once (a periodic task calls it): run-out claims, keys
    /// past their time to live, mail budgets older than `mail_budget_retention_days`, audit rows
    /// older than `audit_retention`, outbox events and webhook deliveries older than
    /// `event_retention`, tracked changes (and people not listed since) and campaigns that
    /// finished (with their items) longer than `audit_retention` ago, as long as the audit
    /// trail of their mails is kept. Answers how many rows went.
    pub async fn prune_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let oldest_day = now.date_naive()
            - chrono::Days::new(u64::from(self.settings.mail_budget_retention_days));
        let audit_cutoff = now
            - chrono::Duration::from_std(self.settings.audit_retention)
                .unwrap_or(chrono::TimeDelta::MAX);
        let event_cutoff = now
            - chrono::Duration::from_std(self.settings.event_retention)
                .unwrap_or(chrono::TimeDelta::MAX);
        Ok(self.prune_claims().await?
            + self.prune_idempotency().await?
            + self.prune_mail_budget(oldest_day).await?
            + self.prune_audit(audit_cutoff).await?
            + self.prune_events(event_cutoff).await?
            + self.prune_tracking(audit_cutoff).await?
            + self.prune_campaigns(audit_cutoff).await?)
    }

    /// Closes every pooled connection; the store must not be used afterwards.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

/// Ends a page read with one row more than `limit` (the extra row tells that another page
/// follows): drops that row and answers where the next page starts, `cursor` of the last row
/// kept, or None on the last page.
fn next_page<T, C>(rows: &mut Vec<T>, limit: i64, cursor: impl FnOnce(&T) -> C) -> Option<C> {
    if rows.len() <= usize::try_from(limit).unwrap_or(usize::MAX) {
        return None;
    }
    rows.pop();
    rows.last().map(cursor)
}

/// Appends ` IN ($n, ...)` to `query`, one bound value per item of `values` (which must not be
/// empty: `IN ()` is not SQL).
fn push_in<'args, DB, T>(
    query: &mut sqlx::QueryBuilder<'args, DB>,
    values: impl IntoIterator<Item = T>,
) where
    DB: sqlx::Database,
    T: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    query.push(" IN (");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

async fn connect_sqlite(url: &str, settings: &StoreSettings) -> Result<Backend, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::InvalidUrl("sqlite"))?
        .create_if_missing(true)
        // WAL: readers never block the writer; NORMAL is durable across process crashes in WAL.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // SQLite has one writer at a time: the others wait for it up to the statement timeout
        // instead of failing with SQLITE_BUSY at once.
        .busy_timeout(settings.statement_timeout)
        .foreign_keys(true);
    let file = options.get_filename().to_path_buf();
    if !is_in_memory(&file) {
        create_private(&file);
    }
    let max_bytes = settings
        .sqlite_max_mib
        .map(|mib| i64::from(mib) * 1024 * 1024);
    let pool = SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(max_bytes) = max_bytes {
                    cap_sqlite_size(conn, max_bytes).await?;
                }
                Ok(())
            })
        })
        .after_release(|conn, _| Box::pin(sqlite_connection_is_clean(conn)))
        .connect_with(options)
        .await?;
    // SQLite's migrator takes no lock of its own: an exclusive lock on a file beside the
    // database serialises processes that start at once (SQLite is one host, so a file lock is
    // enough). An in-memory database has no other process to race with.
    let lock = if is_in_memory(&file) {
        None
    } else {
        Some(lock_for_migrations(file).await?)
    };
    let migrated = migrate(&sqlite_migrator(), &pool).await;
    drop(lock);
    migrated?;
    Ok(Backend::Sqlite(pool))
}

async fn connect_postgres(url: &str, settings: &StoreSettings) -> Result<Backend, StoreError> {
    let timeout = clock::duration_millis(settings.statement_timeout);
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::InvalidUrl("postgres"))?
        .options([("statement_timeout", format!("{timeout}ms"))]);
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        // A transaction whose COMMIT or ROLLBACK failed (the connection was cut) leaves sqlx's
        // depth above zero: such a connection is closed, never handed out again.
        .after_release(|conn, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
        })
        .connect_with(options)
        .await?;
    // sqlx's PostgreSQL migrator holds a session advisory lock (pg_advisory_lock on a key
    // derived from the database name) from before it creates its table until it is done.
    migrate(&postgres_migrator(), &pool).await?;
    Ok(Backend::Postgres(pool))
}

/// Caps the SQLite file at `max_bytes` on this connection (`max_page_count` is a setting of the
/// connection, not of the file): a write beyond it fails with SQLITE_FULL, as on a full disk.
async fn cap_sqlite_size(
    conn: &mut sqlx::SqliteConnection,
    max_bytes: i64,
) -> Result<(), sqlx::Error> {
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let pages = (max_bytes / page_size.max(1)).max(1);
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// May a SQLite connection go back to the pool? Not when a transaction is still open on it.
///
/// SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, ...)
/// and keeps it open after others (a COMMIT that fails with SQLITE_FULL or SQLITE_BUSY). sqlx
/// counts its transactions apart from SQLite: after the first kind its ROLLBACK fails ("no
/// transaction is active") and its count stays at one, so every later `BEGIN` on the
/// connection fails ("non-zero transaction depth"); after the second a statement run on the
/// connection would land in a transaction nobody commits. Either way the connection is closed
/// (closing rolls back) and the pool opens a new one. Both checks run on the connection's
/// worker after the rollback sqlx queued when the transaction was dropped.
async fn sqlite_connection_is_clean(
    conn: &mut sqlx::SqliteConnection,
) -> Result<bool, sqlx::Error> {
    // `BEGIN` fails inside a transaction; the empty one it opens is ended at once.
    use sqlx::Executor;
    if conn.execute("BEGIN").await.is_err() {
        return Ok(false);
    }
    conn.execute("ROLLBACK").await?;
    Ok(!sqlx::Connection::is_in_transaction(conn))
}

fn sqlite_migrator() -> Migrator {
    sqlx::migrate!("./migrations/sqlite")
}

fn postgres_migrator() -> Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// Applies `migrator`, turning "the database knows a migration this binary does not" into the
/// one-line [`StoreError::SchemaTooNew`].
async fn migrate<'a, A>(migrator: &Migrator, pool: A) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    let supported = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match migrator.run(pool).await {
        Ok(()) => Ok(()),
        Err(MigrateError::VersionMissing(found)) if found > supported => {
            Err(StoreError::SchemaTooNew { found, supported })
        }
        Err(e) => Err(StoreError::Migrate(e)),
    }
}

/// Creates the SQLite database file readable by its owner alone when it does not exist yet
/// (SQLite gives its `-wal` and `-shm` the database's mode), and reports any of the three that
/// others can read: they hold personal data.
fn create_private(file: &std::path::Path) {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = file.as_os_str().to_owned();
    shm.push("-shm");
    for path in [file, wal.as_ref(), shm.as_ref()] {
        crate::privacy::warn_if_readable_by_others(
            std::path::Path::new(path),
            "the SQLite database",
        );
    }
    // An existing file is the usual case; any other failure SQLite reports in its own words.
    let _ = crate::privacy::private_file()
        .write(true)
        .create_new(true)
        .open(file);
}

fn is_in_memory(file: &std::path::Path) -> bool {
    let name = file.to_string_lossy();
    // sqlx names `sqlite::memory:` databases `file:sqlx-in-memory-N`.
    name.is_empty()
        || name == ":memory:"
        || name.starts_with("file::memory:")
        || name.starts_with("file:sqlx-in-memory-")
}

/// Takes an exclusive lock on `<database>.migrate-lock`, waiting for another process that
/// holds it; released when the returned file is dropped.
async fn lock_for_migrations(database: PathBuf) -> Result<std::fs::File, StoreError> {
    let mut path = database.into_os_string();
    path.push(".migrate-lock");
    tokio::task::spawn_blocking(move || {
        let file = crate::privacy::private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::MigrationLock(std::io::Error::other(e)))?
    .map_err(StoreError::MigrationLock)
}
