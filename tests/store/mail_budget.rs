//! The daily mail budget: exact across replicas.

use crate::helpers::{manual_clock, start};
use invitation_gateway::store::Caller;

store_test! {
    async fn ten_concurrent_reservations_under_a_limit_of_five_grant_exactly_five(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let caller = Caller::new("https://idp.example", "hr-bot");
        let day = start().date_naive();
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let caller = caller.clone();
            tasks.push(tokio::spawn(async move {
                store.reserve_mail(&caller, day, 5).await.expect("reserve answers")
            }));
        }
        let mut granted = 0;
        for task in tasks {
            if task.await.expect("task") {
                granted += 1;
            }
        }
        assert_eq!(granted, 5);
        assert_eq!(a.mails_used(&caller, day).await.unwrap(), 5);
    }
}

store_test! {
    async fn a_refund_frees_a_mail_and_budgets_are_per_caller_and_day(db) {
        let store = db.store(&manual_clock()).await;
        let hr = Caller::new("https://idp.example", "hr-bot");
        let other = Caller::new("https://idp.example", "it-bot");
        let day = start().date_naive();
        let next_day = day.succ_opt().expect("a next day");
        assert!(store.reserve_mail(&hr, day, 2).await.unwrap());
        assert!(store.reserve_mail(&hr, day, 2).await.unwrap());
        assert!(!store.reserve_mail(&hr, day, 2).await.unwrap());
        assert!(store.reserve_mail(&other, day, 2).await.unwrap());
        assert!(store.reserve_mail(&hr, next_day, 2).await.unwrap());
        store.refund_mail(&hr, day).await.unwrap();
        assert!(store.reserve_mail(&hr, day, 2).await.unwrap());
        assert!(!store.reserve_mail(&hr, day, 0).await.unwrap(), "a limit of 0 sends nothing");
        assert_eq!(store.prune_mail_budget(next_day).await.unwrap(), 2);
        assert_eq!(store.mails_used(&hr, day).await.unwrap(), 0);
        assert_eq!(store.mails_used(&hr, next_day).await.unwrap(), 1);
    }
}
