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
    async fn background_work_leaves_callers_their_floor_and_the_window_frees_its_calls(db) {
        let clock = manual_clock();
        let settings = StoreSettings { google_per_minute: 10, ..StoreSettings::default() };
        let store = db.store_with(settings, &clock).await.unwrap();
        // No caller called: background work takes all but the callers' floor (one call of 10).
        for _ in 0..9 {
            assert_eq!(store.take_google_slot(SlotKind::Background).await.unwrap(), GoogleSlot::Granted);
        }
        let GoogleSlot::WaitUntil(at) = store.take_google_slot(SlotKind::Background).await.unwrap() else {
            panic!("background stops at the floor");
        };
        // The calls of the first second leave the window of 62 s.
        assert_eq!(at, crate::helpers::start() + Duration::from_secs(62));
        assert_eq!(store.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::Granted);
        assert!(matches!(store.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::WaitUntil(_)));
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
        clock.advance(Duration::from_millis(29_999));
        assert_eq!(b.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::WaitUntil(until));
        clock.sleep_until(until).await;
        assert_eq!(b.take_google_slot(SlotKind::Interactive).await.unwrap(), GoogleSlot::Granted);
    }
}

store_test! {
    async fn under_continuous_demand_no_sixty_seconds_ever_see_more_calls_than_the_quota(db) {
        // Google counts a project's calls per minute in windows it opens itself: the budget
        // must keep every 60 s interval, wherever it starts, under the quota.
        const QUOTA: usize = 10;
        let clock = manual_clock();
        let settings = StoreSettings { google_per_minute: QUOTA as u32, ..StoreSettings::default() };
        let store = db.store_with(settings, &clock).await.unwrap();
        let mut granted = Vec::new();
        for _ in 0..3 * 60 * 10 {
            while store.take_google_slot(SlotKind::Interactive).await.unwrap() == GoogleSlot::Granted {
                granted.push(clock.now());
            }
            clock.advance(Duration::from_millis(100));
        }
        for (i, first) in granted.iter().enumerate() {
            let within = granted[i..].iter().take_while(|at| **at - *first < chrono::Duration::seconds(60)).count();
            assert!(within <= QUOTA, "{within} calls in the 60 s from {first}");
        }
        assert!(granted.len() >= 3 * QUOTA * 9 / 10, "the quota is used: {} calls in 3 minutes", granted.len());
    }
}
