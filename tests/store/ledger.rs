//! The send ledger: one holder per (customer, email) at a time.

use crate::helpers::manual_clock;
use invitation_gateway::store::Claim;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

store_test! {
    async fn twenty_concurrent_claims_of_one_address_grant_exactly_one(db) {
        let clock = manual_clock();
        // Two replicas on one database, ten claimants each.
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store
                    .claim_address("C01", "grace@example.com", &format!("req-{i}"), LEASE)
                    .await
                    .expect("claim answers")
            }));
        }
        let mut claimed = 0;
        for task in tasks {
            match task.await.expect("task") {
                Claim::Claimed(_) => claimed += 1,
                Claim::Held { until } => assert_eq!(until, clock.now() + LEASE),
            }
        }
        assert_eq!(claimed, 1);
    }
}

store_test! {
    async fn a_released_address_can_be_claimed_again_and_others_are_independent(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let Claim::Claimed(token) = store.claim_address("C01", "ada@example.com", "r1", LEASE).await.unwrap() else {
            panic!("first claim");
        };
        assert!(store.claim_address("C01", "alan@example.com", "r2", LEASE).await.unwrap().is_claimed());
        assert!(store.claim_address("C02", "ada@example.com", "r3", LEASE).await.unwrap().is_claimed());
        assert!(!store.claim_address("C01", "ada@example.com", "r4", LEASE).await.unwrap().is_claimed());
        assert!(store.release_address(&token).await.unwrap());
        assert!(!store.release_address(&token).await.unwrap(), "released once");
        assert!(store.claim_address("C01", "ada@example.com", "r5", LEASE).await.unwrap().is_claimed());
    }
}

store_test! {
    async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_release_it(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let Claim::Claimed(crashed) = store.claim_address("C01", "ada@example.com", "r1", LEASE).await.unwrap() else {
            panic!("first claim");
        };
        clock.advance(LEASE - Duration::from_millis(1));
        assert!(!store.claim_address("C01", "ada@example.com", "r2", LEASE).await.unwrap().is_claimed());
        clock.advance(Duration::from_millis(1));
        let Claim::Claimed(_new) = store.claim_address("C01", "ada@example.com", "r2", LEASE).await.unwrap() else {
            panic!("the expired lease is taken over");
        };
        assert!(!store.release_address(&crashed).await.unwrap(), "no longer the holder");
        assert!(!store.claim_address("C01", "ada@example.com", "r3", LEASE).await.unwrap().is_claimed());
    }
}

store_test! {
    async fn pruning_removes_only_expired_claims(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        assert!(store.claim_address("C01", "ada@example.com", "r1", Duration::from_secs(10)).await.unwrap().is_claimed());
        assert!(store.claim_address("C01", "alan@example.com", "r1", Duration::from_secs(100)).await.unwrap().is_claimed());
        clock.advance(Duration::from_secs(10));
        assert_eq!(store.prune_claims().await.unwrap(), 1);
        assert!(!store.claim_address("C01", "alan@example.com", "r2", LEASE).await.unwrap().is_claimed());
    }
}

store_test! {
    async fn claims_and_audit_rows_never_show_the_address_in_debug_output(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let claim = store.claim_address("C01", "secret.person@example.com", "r1", LEASE).await.unwrap();
        let intent = invitation_gateway::store::AuditIntent {
            request_id: "r1".into(),
            caller: invitation_gateway::store::Caller::new("https://idp.example", "hr-bot"),
            action: "send".into(),
            email: "secret.person@example.com".into(),
            campaign_id: None,
            mails_before: None,
        };
        store.record_intent(&intent).await.unwrap();
        let events = store
            .search_audit(&["secret.person@example.com".to_owned()])
            .await
            .unwrap();
        assert_eq!(events.events.len(), 1);
        for shown in [format!("{claim:?}"), format!("{intent:?}"), format!("{events:?}"), format!("{store:?}")] {
            assert!(!shown.contains("secret.person"), "{shown}");
        }
    }
}
