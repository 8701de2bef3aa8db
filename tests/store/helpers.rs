//! A fresh database per test, on either backend, and the macro that runs a test on both.

use crate::pg::PgDatabase;
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::store::{Clock, Store, StoreError, StoreSettings};
use secrecy::SecretString;
use tempfile::TempDir;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A database made for one test: a SQLite file in a temporary directory, or a
/// `t_<uuid>` database on the PostgreSQL server, dropped by [`TestDb::finish`].
pub struct TestDb {
    pub kind: Kind,
    url: String,
    pg: Option<PgDatabase>,
    _dir: Option<TempDir>,
}

/// Where every manual clock of these tests starts.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .expect("a valid fixed date")
}

/// A manual clock standing at [`start`].
pub fn manual_clock() -> Clock {
    Clock::manual(start())
}

impl TestDb {
    /// A fresh database, or None when PostgreSQL is not configured outside CI (skipped).
    pub async fn new(kind: Kind) -> Option<TestDb> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                Some(TestDb {
                    kind,
                    url,
                    pg: None,
                    _dir: Some(dir),
                })
            }
            Kind::Postgres => PgDatabase::create().await.map(|pg| TestDb {
                kind,
                url: pg.url.clone(),
                pg: Some(pg),
                _dir: None,
            }),
        }
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Default settings pointing at this database.
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            database_url: SecretString::from(self.url.clone()),
            ..StoreSettings::default()
        }
    }

    /// Opens a store (a replica) on this database with default settings.
    pub async fn store(&self, clock: &Clock) -> Store {
        self.store_with(self.settings(), clock)
            .await
            .expect("the store opens")
    }

    /// Opens a store with `settings` (its URL is this database's).
    pub async fn store_with(
        &self,
        settings: StoreSettings,
        clock: &Clock,
    ) -> Result<Store, StoreError> {
        let settings = StoreSettings {
            database_url: SecretString::from(self.url.clone()),
            ..settings
        };
        Store::connect(&settings, clock.clone()).await
    }

    /// Drops the PostgreSQL database (its connections are cut); the SQLite file goes with its
    /// temporary directory.
    pub async fn finish(self) {
        if let Some(pg) = self.pg {
            pg.drop_it().await;
        }
    }
}

/// Defines one test per backend: `mod NAME { fn sqlite(); fn postgres(); }`, each on a fresh
/// database bound to `$db` (a `&TestDb`), on a multi-threaded runtime so that concurrency is real.
macro_rules! store_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: &$crate::helpers::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::helpers::TestDb::new($crate::helpers::Kind::Sqlite)
                    .await
                    .expect("SQLite always runs");
                run(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(db) = $crate::helpers::TestDb::new($crate::helpers::Kind::Postgres).await
                else {
                    return;
                };
                run(&db).await;
                db.finish().await;
            }
        }
    };
}
