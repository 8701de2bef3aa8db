//! The audit trail: intents, outcomes, folded denials, listing and search.

use crate::helpers::{manual_clock, start};
use invitation_gateway::store::{
    AuditCursor, AuditFilter, AuditIntent, AuditOutcome, Caller, StoreSettings,
};
use invitation_gateway::vocabulary::{Action, Outcome};
use std::time::Duration;

fn intent(email: &str, action: &str, campaign: Option<&str>) -> AuditIntent {
    AuditIntent {
        request_id: format!("req-{email}"),
        caller: Caller::new("https://idp.example", "hr-bot"),
        action: action.into(),
        email: email.into(),
        campaign_id: campaign.map(str::to_owned),
        mails_before: None,
    }
}

store_test! {
    async fn ten_thousand_denials_fold_into_a_handful_of_rows_that_count_them_all(db) {
        let clock = manual_clock();
        let settings = StoreSettings { denial_interval: Duration::from_secs(60), ..StoreSettings::default() };
        let (a, b) = (
            db.store_with(settings.clone(), &clock).await.unwrap(),
            db.store_with(settings, &clock).await.unwrap(),
        );
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let store = if worker % 2 == 0 { a.clone() } else { b.clone() };
            let clock = clock.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..1250 {
                    store.record_denial("invalid_token", "203.0.113.7").await.expect("denial");
                    if worker == 0 && i % 250 == 249 {
                        // The flood spans a few intervals.
                        clock.advance(Duration::from_secs(30));
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let rows = a.list_denials(start(), start() + Duration::from_secs(3600)).await.unwrap();
        assert!((1..=5).contains(&rows.len()), "{} rows", rows.len());
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 10_000);
        assert!(rows.iter().all(|r| r.reason == "invalid_token" && r.peer == "203.0.113.7"));
    }
}

store_test! {
    async fn the_first_denial_of_a_reason_peer_and_interval_is_told_apart_from_those_folded_into_it(db) {
        let clock = manual_clock();
        let settings = StoreSettings { denial_interval: Duration::from_secs(60), ..StoreSettings::default() };
        let store = db.store_with(settings, &clock).await.unwrap();
        assert!(store.record_denial("invalid_token", "203.0.113.7").await.unwrap());
        assert!(!store.record_denial("invalid_token", "203.0.113.7").await.unwrap());
        assert!(store.record_denial("invalid_token", "203.0.113.8").await.unwrap());
        assert!(store.record_denial("insufficient_scope", "203.0.113.7").await.unwrap());
        clock.advance(Duration::from_secs(60));
        assert!(store.record_denial("invalid_token", "203.0.113.7").await.unwrap());
        assert!(!store.record_denial("invalid_token", "203.0.113.7").await.unwrap());
    }
}

store_test! {
    async fn intents_get_outcomes_and_list_newest_first_by_filter_and_page(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let mut ids = Vec::new();
        for (i, email) in ["ada@example.com", "alan@example.com", "grace@example.com"].iter().enumerate() {
            let campaign = (i == 2).then_some("spring");
            let id = store.record_intent(&intent(email, "send", campaign)).await.unwrap();
            ids.push(id);
            clock.advance(Duration::from_secs(1));
        }
        let cancel = store.record_intent(&intent("ada@example.com", "cancel", None)).await.unwrap();
        store.record_outcome(ids[0], &AuditOutcome { google_status: Some(200), ..AuditOutcome::of("sent") }).await.unwrap();
        store.record_outcome(ids[1], &AuditOutcome { google_status: Some(503), ..AuditOutcome::of("failed") }).await.unwrap();

        let all = store.list_audit(&AuditFilter::default(), 2, None).await.unwrap();
        assert_eq!(all.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![cancel, ids[2]]);
        assert_eq!(all.events[1].outcome, None, "the process may die between intent and outcome");
        let next = all.next.expect("a second page");
        let rest = store.list_audit(&AuditFilter::default(), 2, Some(next)).await.unwrap();
        assert_eq!(rest.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[1], ids[0]]);
        assert_eq!(rest.next, None);
        assert_eq!(rest.events[1].outcome.as_deref(), Some("sent"));
        assert_eq!(rest.events[1].google_status, Some(200));
        assert_eq!(rest.events[1].email, "ada@example.com");

        let sends = AuditFilter { action: Some(Action::Send), ..AuditFilter::default() };
        assert_eq!(store.list_audit(&sends, 10, None).await.unwrap().events.len(), 3);
        let failed = AuditFilter { outcome: Some(Outcome::Failed), ..AuditFilter::default() };
        assert_eq!(store.list_audit(&failed, 10, None).await.unwrap().events[0].id, ids[1]);
        let spring = AuditFilter { campaign_id: Some("spring".into()), ..AuditFilter::default() };
        assert_eq!(store.list_audit(&spring, 10, None).await.unwrap().events[0].id, ids[2]);
        let someone_else = AuditFilter {
            caller_iss: Some("https://idp.example".into()),
            caller_sub: Some("it-bot".into()),
            ..AuditFilter::default()
        };
        assert!(store.list_audit(&someone_else, 10, None).await.unwrap().events.is_empty());
        let same_sub_elsewhere = AuditFilter {
            caller_iss: Some("https://other-idp.example".into()),
            caller_sub: Some("hr-bot".into()),
            ..AuditFilter::default()
        };
        assert!(store.list_audit(&same_sub_elsewhere, 10, None).await.unwrap().events.is_empty());
        let by_sub = AuditFilter { caller_sub: Some("hr-bot".into()), ..AuditFilter::default() };
        assert_eq!(store.list_audit(&by_sub, 10, None).await.unwrap().events.len(), 4);
        let window = AuditFilter {
            from: Some(start() + Duration::from_secs(1)),
            to: Some(start() + Duration::from_secs(3)),
            ..AuditFilter::default()
        };
        assert_eq!(
            store.list_audit(&window, 10, None).await.unwrap().events.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );

        let found = store
            .search_audit(&["ada@example.com".to_owned(), "grace@example.com".to_owned()])
            .await
            .unwrap();
        assert_eq!(found.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![cancel, ids[2], ids[0]]);
        assert!(!found.truncated);
    }
}

store_test! {
    async fn listing_pages_by_time_then_id_even_when_replica_clocks_disagree(db) {
        // Replica A's clock is ten seconds ahead of B's: A's row (the smaller id) is the newer.
        let ahead = manual_clock();
        ahead.advance(Duration::from_secs(10));
        let behind = manual_clock();
        let a = db.store_with(StoreSettings::default(), &ahead).await.unwrap();
        let b = db.store_with(StoreSettings::default(), &behind).await.unwrap();
        let newer = a.record_intent(&intent("ada@example.com", "send", None)).await.unwrap();
        // Three rows in the same millisecond: the id orders them.
        let mut same_time = Vec::new();
        for email in ["alan@example.com", "grace@example.com", "edsger@example.com"] {
            same_time.push(b.record_intent(&intent(email, "send", None)).await.unwrap());
        }

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = b.list_audit(&AuditFilter::default(), 1, cursor).await.unwrap();
            seen.extend(page.events.iter().map(|e| e.id));
            // A row written between pages is newer than the cursor: it never shifts a page.
            if seen.len() == 2 {
                a.record_intent(&intent("barbara@example.com", "send", None)).await.unwrap();
            }
            let Some(next) = page.next else { break };
            let token = next.to_token();
            cursor = Some(AuditCursor::from_token(&token).expect("a token it made parses"));
        }
        assert_eq!(seen, vec![newer, same_time[2], same_time[1], same_time[0]]);
    }
}

#[test]
fn page_tokens_that_the_store_did_not_make_are_refused() {
    for bad in [
        "",
        "1",
        "abc",
        "YTEuMS4w",
        "YTIuMS4x",
        "YTEuLTEuMQ",
        "YTEuMS4xLjE",
        &"A".repeat(100),
    ] {
        assert_eq!(AuditCursor::from_token(bad), None, "{bad}");
    }
}

store_test! {
    async fn pruning_drops_audit_rows_and_denials_older_than_the_cutoff(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        store.record_intent(&intent("ada@example.com", "send", None)).await.unwrap();
        store.record_denial("invalid_token", "203.0.113.7").await.unwrap();
        clock.advance(Duration::from_secs(3600));
        let kept = store.record_intent(&intent("alan@example.com", "send", None)).await.unwrap();
        assert_eq!(store.prune_audit(clock.now()).await.unwrap(), 2);
        let left = store.list_audit(&AuditFilter::default(), 10, None).await.unwrap();
        assert_eq!(left.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![kept]);
    }
}

store_test! {
    async fn prune_expired_applies_each_tables_retention(db) {
        let clock = manual_clock();
        let settings = StoreSettings {
            audit_retention: Duration::from_secs(400 * 24 * 3600),
            mail_budget_retention_days: 7,
            ..StoreSettings::default()
        };
        let store = db.store_with(settings, &clock).await.unwrap();
        let caller = Caller::new("https://idp.example", "hr-bot");
        store.record_intent(&intent("ada@example.com", "send", None)).await.unwrap();
        assert!(store.reserve_mail(&caller, start().date_naive(), 10).await.unwrap());
        clock.advance(Duration::from_secs(8 * 24 * 3600));
        assert_eq!(store.prune_expired().await.unwrap(), 1, "the mail budget of 8 days ago");
        clock.advance(Duration::from_secs(392 * 24 * 3600));
        assert_eq!(store.prune_expired().await.unwrap(), 0, "kept for exactly 400 days");
        clock.advance(Duration::from_millis(1));
        assert_eq!(store.prune_expired().await.unwrap(), 1, "then it goes");
    }
}

store_test! {
    async fn the_settling_sweep_takes_the_oldest_first_and_skips_those_that_failed_a_moment_ago(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        // 60 open intents, one a second, newest first in the alphabet.
        let who: Vec<String> = (0..60).map(|i| format!("p{:03}@example.com", 99 - i)).collect();
        for email in &who {
            store.record_intent(&intent(email, "send", None)).await.unwrap();
            clock.advance(Duration::from_secs(1));
        }
        let retry = Duration::from_secs(300);
        let now = clock.now();
        let first = store.unsettled_emails(now, now - retry, 50).await.unwrap();
        assert_eq!(first, who[..50], "oldest first");
        // The 50 taken fail to settle: the next sweep takes the 10 others, not them again.
        for email in &first {
            store.settle_failed(email).await.unwrap();
        }
        clock.advance(Duration::from_secs(1));
        let now = clock.now();
        let second = store.unsettled_emails(now, now - retry, 50).await.unwrap();
        assert_eq!(second, who[50..], "the others get their turn");
        // Once the failure is old enough, they come back, oldest first.
        clock.advance(retry);
        let now = clock.now();
        let third = store.unsettled_emails(now, now - retry, 5).await.unwrap();
        assert_eq!(third, who[..5]);
    }
}
