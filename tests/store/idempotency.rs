//! Idempotency-Keys across replicas.

use crate::helpers::manual_clock;
use invitation_gateway::store::{Caller, IdempotencyStart, StoredResponse};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(24 * 60 * 60);
const LEASE: Duration = Duration::from_secs(60);

fn caller() -> Caller {
    Caller::new("https://idp.example", "hr-bot")
}

fn answer() -> StoredResponse {
    StoredResponse {
        status: 200,
        body: br#"{"results":[]}"#.to_vec(),
    }
}

store_test! {
    async fn ten_concurrent_requests_with_one_key_execute_exactly_once(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store
                    .begin_idempotent(&caller(), "onboarding-42", "f1", TTL, LEASE)
                    .await
                    .expect("begin answers")
            }));
        }
        let mut executes = 0;
        for task in tasks {
            match task.await.expect("task") {
                IdempotencyStart::Execute(_) => executes += 1,
                IdempotencyStart::InProgress => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(executes, 1);
    }
}

store_test! {
    async fn a_completed_key_replays_its_answer_and_refuses_another_body(db) {
        let store = db.store(&manual_clock()).await;
        let IdempotencyStart::Execute(ticket) =
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("first use executes");
        };
        assert!(store.complete_idempotent(&ticket, &answer()).await.unwrap());
        assert_eq!(
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap(),
            IdempotencyStart::Replay(answer())
        );
        assert_eq!(
            store.begin_idempotent(&caller(), "k", "f2", TTL, LEASE).await.unwrap(),
            IdempotencyStart::KeyReused
        );
        let other = Caller::new("https://idp.example", "it-bot");
        assert!(matches!(
            store.begin_idempotent(&other, "k", "f2", TTL, LEASE).await.unwrap(),
            IdempotencyStart::Execute(_)
        ), "keys are per caller");
    }
}

store_test! {
    async fn an_abandoned_key_lets_the_retry_execute(db) {
        let store = db.store(&manual_clock()).await;
        let IdempotencyStart::Execute(ticket) =
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("first use executes");
        };
        assert_eq!(
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap(),
            IdempotencyStart::InProgress
        );
        store.abandon_idempotent(&ticket).await.unwrap();
        assert!(matches!(
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap(),
            IdempotencyStart::Execute(_)
        ));
    }
}

store_test! {
    async fn a_dead_executors_key_is_taken_over_after_its_lease_and_its_late_answer_is_dropped(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let IdempotencyStart::Execute(dead) =
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("first use executes");
        };
        clock.advance(LEASE);
        assert_eq!(
            store.begin_idempotent(&caller(), "k", "f2", TTL, LEASE).await.unwrap(),
            IdempotencyStart::KeyReused,
            "another body never takes a key over"
        );
        let IdempotencyStart::Execute(retry) =
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("the retry takes over");
        };
        assert!(!store.complete_idempotent(&dead, &answer()).await.unwrap());
        assert!(store.complete_idempotent(&retry, &answer()).await.unwrap());
    }
}

store_test! {
    async fn a_key_past_its_ttl_starts_afresh_and_is_pruned(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let IdempotencyStart::Execute(ticket) =
            store.begin_idempotent(&caller(), "k", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("first use executes");
        };
        store.complete_idempotent(&ticket, &answer()).await.unwrap();
        let IdempotencyStart::Execute(_) =
            store.begin_idempotent(&caller(), "old", "f1", TTL, LEASE).await.unwrap()
        else {
            panic!("another key");
        };
        clock.advance(TTL);
        assert!(matches!(
            store.begin_idempotent(&caller(), "k", "f2", TTL, LEASE).await.unwrap(),
            IdempotencyStart::Execute(_)
        ));
        assert_eq!(store.prune_idempotency().await.unwrap(), 1, "only the expired key");
    }
}
