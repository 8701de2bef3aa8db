//! Opening the store: migrations, concurrent starts, a schema from the future.

use crate::helpers::{Kind, manual_clock};
use invitation_gateway::store::{StoreError, StoreSettings};
use secrecy::SecretString;
use sqlx::Connection;

store_test! {
    async fn three_replicas_starting_at_once_migrate_once(db) {
        let clock = manual_clock();
        let (a, b, c) = tokio::join!(
            db.store_with(db.settings(), &clock),
            db.store_with(db.settings(), &clock),
            db.store_with(db.settings(), &clock),
        );
        for store in [a, b, c] {
            let store = store.expect("every replica opens");
            store.ping().await.expect("and answers");
            store.close().await;
        }
        // A fourth start finds everything applied.
        db.store(&clock).await.close().await;
    }
}

store_test! {
    async fn a_schema_newer_than_the_binary_is_refused_with_one_line(db) {
        let clock = manual_clock();
        db.store(&clock).await.close().await;
        let insert = "INSERT INTO _sqlx_migrations \
            (version, description, success, checksum, execution_time) \
            VALUES (99990101000000, 'from the future', TRUE, $1, 0)";
        let checksum = vec![0u8; 48];
        match db.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(db.url()).await.expect("connect");
                sqlx::query(insert).bind(checksum).execute(&mut conn).await.expect("insert");
                let _ = conn.close().await;
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(db.url()).await.expect("connect");
                sqlx::query(insert).bind(checksum).execute(&mut conn).await.expect("insert");
                let _ = conn.close().await;
            }
        }
        let err = db
            .store_with(db.settings(), &clock)
            .await
            .expect_err("a newer schema is refused");
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99990101000000, .. }),
            "{err:?}"
        );
        let line = err.to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains("newer"), "{line}");
    }
}

#[tokio::test]
async fn an_unknown_database_scheme_is_refused_without_echoing_the_url() {
    let settings = StoreSettings {
        database_url: SecretString::from("mysql://admin:hunter2@db/gateway"),
        ..StoreSettings::default()
    };
    let err = invitation_gateway::store::Store::connect(&settings, manual_clock())
        .await
        .expect_err("only sqlite and postgres");
    assert!(matches!(err, StoreError::UnsupportedUrl), "{err:?}");
    assert!(!err.to_string().contains("hunter2"));
}

store_test! {
    async fn only_a_refused_value_is_a_data_error_not_an_outage(db) {
        // Real errors from the real database: SQLSTATE 22xxx on PostgreSQL is the input's fault.
        async fn error(db: &crate::helpers::TestDb, sql: &str) -> StoreError {
            let failed = match db.kind {
                Kind::Sqlite => {
                    let mut conn = sqlx::SqliteConnection::connect(db.url()).await.expect("connect");
                    sqlx::query(sql).execute(&mut conn).await.map(|_| ())
                }
                Kind::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(db.url()).await.expect("connect");
                    sqlx::query(sql).execute(&mut conn).await.map(|_| ())
                }
            };
            StoreError::Database(failed.expect_err("the statement fails"))
        }
        db.store(&manual_clock()).await.close().await;
        let missing_table = error(db, "SELECT * FROM no_such_table").await;
        assert!(!missing_table.is_refused_value(), "{missing_table}");
        if db.kind == Kind::Postgres {
            let nul = error(db, "SELECT convert_from('\\x00'::bytea, 'UTF8')").await;
            assert!(nul.is_refused_value(), "{nul}");
            let zero = error(db, "SELECT 1 / 0").await;
            assert!(zero.is_refused_value(), "{zero}");
        }
        let unreachable = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(!unreachable.is_refused_value());
    }
}
