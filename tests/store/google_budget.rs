//! The cluster-wide Google bucket.

use crate::helpers::manual_clock;
use invitation_gateway::store::{GoogleSlot, SlotKind, StoreSettings};
use std::time::Duration;

store_test! {
    async fn n_tokens_and_three_n_concurrent_takers_grant_exactly_n(db) {
        const N: u32 = 10;
        let clock = manual_clock();
        let settings = StoreSettings { google_per_minute: N, ..StoreSettings::default() };
        let a = db.store_with(settings.clone(), &clock).await.unwrap();
        let b = db.store_with(settings, &clock).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..3 * N {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store.take_google_slot(SlotKind::Interactive).await.expect("take answers")
            }));
        }
        let mut granted = 0;
        for task in tasks {
            match task.await.expect("task") {
                GoogleSlot::Granted => granted += 1,
                GoogleSlot::WaitUntil(at) => assert!(at > clock.now()),
            }
        }
        assert_eq!(granted, N);
    }
}

store_test! {
    async fn background_work_keeps_a_fifth_for_interactive_and_the_bucket_refills(db) {
        let clock = manual_clock();
        let settings = StoreSettings { google_per_minute: 10, ..StoreSettings::default() };
        let store = db.store_with(settings, &clock).await.unwrap();
        for _ in 0..8 {
            assert_eq!(store.take_google_slot(SlotKind::Background).await.unwrap(), GoogleSlot::Granted);
        }
        let GoogleSlot::WaitUntil(at) = store.take_google_slot(SlotKind::Background).await.unwrap() else {
            panic!("background stops at 80%");
        };
        assert_eq!(store.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::Granted);
        assert_eq!(store.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::Granted);
        assert!(matches!(store.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::WaitUntil(_)));
        // The bucket is empty: background waits for three calls' worth (one plus the reserve
        // of two) at 10 a minute.
        clock.sleep_until(at).await;
        let GoogleSlot::WaitUntil(at) = store.take_google_slot(SlotKind::Background).await.unwrap() else {
            panic!("still short");
        };
        assert_eq!(at, crate::helpers::start() + Duration::from_secs(18));
        clock.sleep_until(at).await;
        assert_eq!(store.take_google_slot(SlotKind::Background).await.unwrap(), GoogleSlot::Granted);
    }
}

store_test! {
    async fn a_google_429_backs_every_replica_off_until_its_end(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let until = clock.now() + Duration::from_secs(30);
        a.google_backoff(until).await.unwrap();
        a.google_backoff(until - Duration::from_secs(10)).await.unwrap();
        assert_eq!(b.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::WaitUntil(until));
        clock.sleep_until(until).await;
        // The bucket restarts empty at the backoff's end: the next call refills in a second.
        assert_eq!(
            b.take_google_slot(SlotKind::Interactive).await.unwrap(),
            GoogleSlot::WaitUntil(until + Duration::from_secs(1))
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::Granted);
    }
}
