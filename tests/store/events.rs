//! The event outbox (feed order under concurrent writers) and webhook deliveries.

use crate::helpers::manual_clock;
use invitation_gateway::store::{OutboxEvent, Store};
use std::collections::BTreeSet;
use std::time::Duration;

fn event(id: &str, store: &Store) -> OutboxEvent {
    OutboxEvent {
        id: id.to_owned(),
        kind: "dev.invitation-gateway.invitation.sent".to_owned(),
        at: store.clock().now(),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

store_test! {
    async fn concurrent_appends_reach_a_concurrent_reader_in_order_without_gaps_or_duplicates(db) {
        const WRITERS: usize = 4;
        const EACH: usize = 40;
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let mut tx = store.begin().await.expect("begin");
                    store.append_events(&mut tx, &[event(&format!("w{w}-{i}"), &store)]).await.expect("append");
                    // Hold the transaction open a moment after the insert: without serialised
                    // appends, a later position would commit first and the reader skip this one.
                    if i % 3 == w % 3 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    tx.commit().await.expect("commit");
                }
            }));
        }
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let store = a.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut cursor = 0;
                let mut seen = Vec::new();
                loop {
                    // Read once more after the writers finished: that read drains the feed.
                    let last = done.load(std::sync::atomic::Ordering::SeqCst);
                    let events = store.events_after(cursor, 7).await.expect("read");
                    for e in &events {
                        assert!(e.position > cursor, "ordered");
                        cursor = e.position;
                        seen.push(e.id.clone());
                    }
                    if events.is_empty() {
                        if last {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                seen
            })
        };
        for writer in writers {
            writer.await.expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen = reader.await.expect("reader");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates");
        assert_eq!(seen.len(), WRITERS * EACH, "no gaps: every event reached the reader");
    }
}

store_test! {
    async fn a_rolled_back_append_never_shows_and_the_feed_resumes_after_a_cursor(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        store.append_event(&event("one", &store)).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        store.append_events(&mut tx, &[event("lost", &store)]).await.unwrap();
        drop(tx);
        store.append_event(&event("two", &store)).await.unwrap();
        let all = store.events_after(0, 100).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["one", "two"]);
        let rest = store.events_after(all[0].position, 100).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].id, "two");
        assert!(store.events_after(all[1].position, 100).await.unwrap().is_empty());
    }
}

store_test! {
    async fn each_delivery_goes_to_one_holder_at_a_time_and_is_retried_then_given_up(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        a.append_event(&event("before", &a)).await.unwrap();
        // A new endpoint starts at the feed's end.
        assert_eq!(a.schedule_deliveries("ep0", 100).await.unwrap(), 0);
        assert_eq!(a.schedule_deliveries("ep1", 100).await.unwrap(), 0);
        a.append_event(&event("e1", &a)).await.unwrap();
        a.append_event(&event("e2", &a)).await.unwrap();
        let (x, y) = tokio::join!(a.schedule_deliveries("ep0", 100), b.schedule_deliveries("ep0", 100));
        assert_eq!(x.unwrap() + y.unwrap(), 2, "scheduled once");
        assert_eq!(b.schedule_deliveries("ep1", 100).await.unwrap(), 2);
        let lease = Duration::from_secs(30);
        let (x, y) = tokio::join!(a.claim_deliveries("ep0", "a", lease, 10), b.claim_deliveries("ep0", "b", lease, 10));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.len() + y.len(), 2, "each delivery leased once: {x:?} {y:?}");
        let (holder, mine) = if x.is_empty() { ("b", y) } else { ("a", x) };
        assert_eq!(mine[0].event.id, "e1");
        assert_eq!(mine[0].attempts, 0);
        assert!(a.delivery_succeeded("ep0", mine[0].event.position, holder).await.unwrap());
        assert!(!a.delivery_succeeded("ep0", mine[0].event.position, holder).await.unwrap(), "settled once");
        let retry_at = clock.now() + Duration::from_secs(10);
        assert!(a.delivery_failed("ep0", mine[1].event.position, holder, "500", Some(retry_at)).await.unwrap());
        assert!(a.claim_deliveries("ep0", "a", lease, 10).await.unwrap().is_empty(), "not due yet");
        assert_eq!(a.delivery_backlog("ep0").await.unwrap(), 1);
        assert_eq!(a.delivery_backlog("ep1").await.unwrap(), 2, "the other endpoint is independent");
        clock.advance(Duration::from_secs(10));
        let again = a.claim_deliveries("ep0", "a", lease, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
        assert!(a.delivery_failed("ep0", again[0].event.position, "a", "timeout", None).await.unwrap());
        assert_eq!(a.delivery_backlog("ep0").await.unwrap(), 0, "given up");
        // A lease that runs out (its holder died) is taken over.
        let first = b.claim_deliveries("ep1", "b", lease, 1).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(a.claim_deliveries("ep1", "a", lease, 10).await.unwrap().len(), 1, "only the other one");
        clock.advance(lease);
        assert_eq!(a.claim_deliveries("ep1", "a", lease, 10).await.unwrap().len(), 2);
        assert!(!b.delivery_succeeded("ep1", first[0].event.position, "b").await.unwrap(), "lost its lease");
    }
}

store_test! {
    async fn pruning_drops_events_and_deliveries_past_their_retention(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        store.schedule_deliveries("ep0", 10).await.unwrap();
        store.append_event(&event("old", &store)).await.unwrap();
        store.schedule_deliveries("ep0", 10).await.unwrap();
        clock.advance(Duration::from_secs(31 * 24 * 3600));
        store.append_event(&event("new", &store)).await.unwrap();
        assert!(store.prune_expired().await.unwrap() >= 2);
        let ids: Vec<String> = store.events_after(0, 10).await.unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["new"]);
        assert_eq!(store.delivery_backlog("ep0").await.unwrap(), 0);
    }
}
