//! A transaction the database fails (SQLite full: its size cap reaches SQLITE_FULL as a full
//! disk would; PostgreSQL: the transaction's backend terminated before its COMMIT) leaves no
//! pooled connection inside a transaction: the next write on the same pool commits, and
//! another connection sees it.

use crate::helpers::{Kind, manual_clock};
use invitation_gateway::store::{OutboxEvent, Store, StoreSettings};
use sqlx::Connection;

fn event(id: &str, store: &Store, body_bytes: usize) -> OutboxEvent {
    OutboxEvent {
        id: id.to_owned(),
        kind: "dev.invitation-gateway.invitation.sent".to_owned(),
        at: store.clock().now(),
        body: format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(body_bytes)),
    }
}

/// The database fails a transaction of `store` under way (SQLite: the space is taken before
/// it begins, its writer lock would keep the filler out).
async fn fail_a_transaction(db: &crate::helpers::TestDb, store: &Store) {
    let failed = match db.kind {
        Kind::Sqlite => {
            // Another connection, under the same size cap, takes every free page; then the
            // transaction writes more.
            let mut other = sqlx::SqliteConnection::connect(db.url())
                .await
                .expect("a second connection");
            let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut other)
                .await
                .unwrap();
            sqlx::query(&format!("PRAGMA max_page_count = {}", 1024 * 1024 / page))
                .execute(&mut other)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE test_filler (data BLOB NOT NULL)")
                .execute(&mut other)
                .await
                .unwrap();
            for size in [65_536_i64, 4096, 512, 64] {
                while sqlx::query("INSERT INTO test_filler (data) VALUES (zeroblob($1))")
                    .bind(size)
                    .execute(&mut other)
                    .await
                    .is_ok()
                {}
            }
            let mut tx = store.begin().await.expect("begin");
            let mut failed = false;
            for i in 0..64 {
                if let Err(err) = store
                    .append_events(&mut tx, &[event(&format!("fill-{i}"), store, 8192)])
                    .await
                {
                    assert!(err.to_string().contains("full"), "{err}");
                    failed = true;
                    break;
                }
            }
            drop(tx);
            sqlx::query("DELETE FROM test_filler")
                .execute(&mut other)
                .await
                .unwrap();
            failed
        }
        Kind::Postgres => {
            let mut other = sqlx::PgConnection::connect(db.url())
                .await
                .expect("a second connection");
            let mut tx = store.begin().await.expect("begin");
            store
                .append_events(&mut tx, &[event("cut", store, 16)])
                .await
                .expect("append");
            let cut: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut other)
            .await
            .unwrap();
            assert!(!cut.is_empty(), "no backend to cut");
            tx.commit().await.is_err()
        }
    };
    assert!(failed, "the transaction did not fail");
}

store_test! {
    async fn after_a_transaction_the_database_failed_the_next_write_commits_and_is_seen_elsewhere(db) {
        let clock = manual_clock();
        // One connection: the next write gets the very connection the failure met.
        let settings = StoreSettings {
            max_connections: 1,
            sqlite_max_mib: Some(1),
            ..StoreSettings::default()
        };
        let store = db.store_with(settings, &clock).await.expect("the store opens");
        fail_a_transaction(db, &store).await;

        for i in 0..3 {
            let mut tx = match store.begin().await {
                Ok(tx) => tx,
                // PostgreSQL: the pool may meet the cut connection once more, and drops it.
                Err(_) if db.kind == Kind::Postgres && i == 0 => continue,
                Err(err) => panic!("begin after the failure: {err}"),
            };
            store.append_events(&mut tx, &[event(&format!("after-{i}"), &store, 16)]).await.expect("append after the failure");
            tx.commit().await.expect("commit after the failure");
        }
        let elsewhere = db.store(&clock).await;
        let seen: Vec<String> = elsewhere.events_after(0, 100).await.unwrap().into_iter().map(|e| e.id).collect();
        assert!(seen.contains(&"after-2".to_owned()), "{seen:?}");
        assert!(!seen.iter().any(|id| id.starts_with("fill-") || id == "cut"), "{seen:?}");
    }
}
