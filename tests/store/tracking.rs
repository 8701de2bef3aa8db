//! Tracking: one walker at a time, changes recorded (and announced) once, resumable walks.

use crate::helpers::manual_clock;
use invitation_gateway::store::{
    Caller, GatewayChange, ItemUpdate, NewCampaign, NewItem, Observed, OutboxEvent, Reminders,
    Store, TrackedChange, WalkCadence, WalkPage,
};
use invitation_gateway::tracking::rules::RULES;
use invitation_gateway::vocabulary::{ChangeKind, InvitationState, ItemOutcome};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);
const INTERVAL: Duration = Duration::from_secs(900);
const TOKEN: Duration = Duration::from_secs(600);
/// Every walk of these tests is a full one (incremental walks: tests/api/tracking_incremental.rs).
const CADENCE: WalkCadence = WalkCadence {
    lease: LEASE,
    interval: INTERVAL,
    full_every: Duration::ZERO,
    token_validity: TOKEN,
};

fn seen(email: &str, state: &str, count: i64) -> Observed {
    Observed {
        email: email.to_owned(),
        state: InvitationState::from_name(state).expect("a state Google names"),
        mails_sent_count: count,
        update_time: None,
    }
}

fn announce(change: &TrackedChange) -> Option<OutboxEvent> {
    (change.kind != ChangeKind::FirstSeen).then(|| OutboxEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind: format!("dev.invitation-gateway.invitation.{}", change.kind.as_str()),
        at: change.at,
        body: format!("{{\"email\":\"{}\"}}", change.email),
    })
}

/// One whole walk of one page by `holder`; answers the kinds recorded, or None when the lease
/// is elsewhere or no walk is due.
async fn walk(store: &Store, holder: &str, people: &[Observed]) -> Option<Vec<ChangeKind>> {
    let lease = store.take_walk("C01", holder, CADENCE).await.unwrap()?;
    let page = WalkPage {
        customer: "C01",
        holder,
        walk_id: &lease.walk_id,
        next_page_token: None,
        people,
        lease: LEASE,
        newest: None,
    };
    let changes = store
        .record_walk_page(&page, &RULES, &announce)
        .await
        .unwrap()?;
    Some(changes.into_iter().map(|c| c.kind).collect())
}

async fn feed_kinds(store: &Store) -> Vec<String> {
    store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

store_test! {
    async fn one_replica_holds_the_tracker_lease_until_it_runs_out(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store.take_walk("C01", &format!("r{i}"), CADENCE).await.unwrap()
            }));
        }
        let mut holders = 0;
        for task in tasks {
            holders += usize::from(task.await.unwrap().is_some());
        }
        assert_eq!(holders, 1);
        // The holder died: after its lease another takes over, and the old holder's page is refused.
        let old = a.take_walk("C01", "old", CADENCE).await.unwrap();
        assert!(old.is_none(), "still held by the first");
        clock.advance(LEASE);
        let new = b.take_walk("C01", "new", CADENCE).await.unwrap().expect("taken over");
        let page = WalkPage { customer: "C01", holder: "r0", walk_id: &new.walk_id, next_page_token: None, people: &[seen("ada@example.com", "INVITED", 1)], lease: LEASE, newest: None };
        assert_eq!(a.record_walk_page(&page, &RULES, &announce).await.unwrap(), None, "fenced");
        assert!(a.latest_tracked("C01", &["ada@example.com".to_owned()]).await.unwrap().is_empty());
    }
}

store_test! {
    async fn a_walk_records_each_change_once_and_absence_emits_nothing(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let first = [seen("ada@example.com", "INVITED", 1), seen("alan@example.com", "NOT_YET_SENT", 0), seen("grace@example.com", "INVITED", 1)];
        assert_eq!(walk(&store, "r1", &first).await, Some(vec![ChangeKind::FirstSeen; 3]));
        assert!(feed_kinds(&store).await.is_empty(), "what happened before tracking is not announced");
        assert_eq!(walk(&store, "r1", &first).await, None, "not due before the interval");
        clock.advance(INTERVAL);
        // ada accepted, alan was mailed by someone else, grace is no longer listed.
        let second = [seen("ada@example.com", "ACCEPTED", 1), seen("alan@example.com", "INVITED", 1)];
        assert_eq!(walk(&store, "r1", &second).await, Some(vec![ChangeKind::Accepted, ChangeKind::Sent]));
        clock.advance(INTERVAL);
        assert_eq!(walk(&store, "r1", &second).await, Some(vec![]), "nothing new, nothing twice");
        assert_eq!(
            feed_kinds(&store).await,
            ["dev.invitation-gateway.invitation.accepted", "dev.invitation-gateway.invitation.sent"]
        );
        let grace = store.latest_tracked("C01", &["grace@example.com".to_owned()]).await.unwrap();
        assert_eq!(grace[0].state.as_str(), "INVITED", "absence concludes nothing");
        assert!(!grace[0].listed);
        assert!(grace[0].missing_since.is_some());
        let summary = store.tracked_summary("C01").await.unwrap().expect("a walk finished");
        assert_eq!(summary.counts, [(InvitationState::Accepted, 1), (InvitationState::Invited, 1)]);
        assert_eq!(summary.as_of, clock.now());
        let history = store.history("C01", &["ada@example.com".to_owned(), "nobody@example.com".to_owned()]).await.unwrap();
        let ada: Vec<ChangeKind> = history["ada@example.com"].iter().map(|(k, _)| *k).collect();
        assert_eq!(ada, [ChangeKind::FirstSeen, ChangeKind::Accepted]);
        assert!(!history.contains_key("nobody@example.com"));
    }
}

store_test! {
    async fn the_gateways_own_send_and_cancel_are_announced_once_whoever_sees_them_first(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        assert!(walk(&store, "r1", &[seen("ada@example.com", "NOT_YET_SENT", 0), seen("bob@example.com", "NOT_YET_SENT", 0)]).await.is_some());
        let change = |email: &str, kind: ChangeKind, count: i64| GatewayChange {
            customer: "C01".into(),
            email: email.into(),
            kind,
            mails_sent_count: count,
            update_time: None,
            event: OutboxEvent { id: uuid::Uuid::new_v4().to_string(), kind: format!("gateway.{}", kind.as_str()), at: clock.now(), body: "{}".into() },
        };
        let mut tx = store.begin().await.unwrap();
        assert!(store.record_gateway_change(&mut tx, &change("ada@example.com", ChangeKind::Sent, 1), &RULES).await.unwrap());
        tx.commit().await.unwrap();
        clock.advance(INTERVAL);
        // The walk sees ada's mail (already announced) and bob's, which it saw first.
        let listed = [seen("ada@example.com", "INVITED", 1), seen("bob@example.com", "INVITED", 1)];
        assert_eq!(walk(&store, "r1", &listed).await, Some(vec![ChangeKind::Sent]));
        let mut tx = store.begin().await.unwrap();
        assert!(!store.record_gateway_change(&mut tx, &change("bob@example.com", ChangeKind::Sent, 1), &RULES).await.unwrap(), "the walk announced it");
        assert!(store.record_gateway_change(&mut tx, &change("ada@example.com", ChangeKind::Cancelled, 1), &RULES).await.unwrap());
        tx.commit().await.unwrap();
        clock.advance(INTERVAL);
        assert_eq!(walk(&store, "r1", &[seen("ada@example.com", "NOT_YET_SENT", 1), seen("bob@example.com", "INVITED", 1)]).await, Some(vec![]));
        assert_eq!(feed_kinds(&store).await, ["gateway.sent", "dev.invitation-gateway.invitation.sent", "gateway.cancelled"]);
        let people = store.latest_tracked("C01", &["ada@example.com".to_owned(), "bob@example.com".to_owned()]).await.unwrap();
        let states: Vec<&str> = people.iter().map(|p| p.state.as_str()).collect();
        assert_eq!(states, ["NOT_YET_SENT", "INVITED"]);
    }
}

store_test! {
    async fn an_interrupted_walk_resumes_at_its_page_token_or_restarts_when_the_token_is_old(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let lease = store.take_walk("C01", "r1", CADENCE).await.unwrap().expect("a walk");
        let page = WalkPage { customer: "C01", holder: "r1", walk_id: &lease.walk_id, next_page_token: Some("page-2"), people: &[seen("ada@example.com", "INVITED", 1)], lease: LEASE, newest: None };
        assert!(store.record_walk_page(&page, &RULES, &announce).await.unwrap().is_some());
        // r1 crashed; r2 takes over after the lease and resumes at page 2.
        clock.advance(LEASE);
        let resumed = store.take_walk("C01", "r2", CADENCE).await.unwrap().expect("taken over");
        assert_eq!(resumed.walk_id, lease.walk_id);
        assert_eq!(resumed.page_token.as_deref(), Some("page-2"));
        assert_eq!(resumed.pages, 1);
        assert!(store.tracked_summary("C01").await.unwrap().is_none(), "no walk finished yet");
        // Too late for the token: the walk starts over.
        clock.advance(TOKEN);
        let restarted = store.take_walk("C01", "r2", CADENCE).await.unwrap().expect("held");
        assert_ne!(restarted.walk_id, lease.walk_id);
        assert_eq!(restarted.page_token, None);
        assert!(store.restart_walk("C01", "r2").await.unwrap());
        assert!(!store.restart_walk("C01", "r1").await.unwrap(), "not the holder");
    }
}

store_test! {
    async fn two_walkers_applying_the_same_page_record_each_change_once(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        assert!(walk(&a, "r1", &[seen("ada@example.com", "INVITED", 1)]).await.is_some());
        clock.advance(INTERVAL);
        let lease = a.take_walk("C01", "r1", CADENCE).await.unwrap().expect("a walk");
        let people = [seen("ada@example.com", "ACCEPTED", 1)];
        // Two tasks of the holder race on one page (a retried page, say): the row locks decide.
        let page = WalkPage { customer: "C01", holder: "r1", walk_id: &lease.walk_id, next_page_token: Some("p2"), people: &people, lease: LEASE, newest: None };
        let (x, y) = tokio::join!(a.record_walk_page(&page, &RULES, &announce), b.record_walk_page(&page, &RULES, &announce));
        let total = x.unwrap().unwrap().len() + y.unwrap().unwrap().len();
        assert_eq!(total, 1);
        assert_eq!(feed_kinds(&a).await, ["dev.invitation-gateway.invitation.accepted"]);
    }
}

store_test! {
    async fn funnel_rows_and_accept_delays_come_from_the_recorded_changes(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        let start = clock.now();
        assert!(walk(&store, "r1", &[seen("ada@example.com", "NOT_YET_SENT", 0), seen("bob@example.com", "NOT_YET_SENT", 0)]).await.is_some());
        clock.advance(INTERVAL);
        assert!(walk(&store, "r1", &[seen("ada@example.com", "INVITED", 1), seen("bob@example.com", "INVITED", 1)]).await.is_some());
        clock.advance(INTERVAL * 4);
        assert!(walk(&store, "r1", &[seen("ada@example.com", "ACCEPTED", 1), seen("bob@example.com", "DECLINED", 1)]).await.is_some());
        let rows = store.changes_between("C01", start, clock.now() + Duration::from_secs(1)).await.unwrap();
        let kinds: Vec<ChangeKind> = rows.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [ChangeKind::Sent, ChangeKind::Sent, ChangeKind::Accepted, ChangeKind::Declined]);
        let delays = store.accept_delays("C01", start, clock.now() + Duration::from_secs(1)).await.unwrap();
        assert_eq!(delays, [INTERVAL * 4]);
        let cohort = store.mailed_cohort("C01", start, clock.now() + Duration::from_secs(1)).await.unwrap();
        assert_eq!(cohort, (2, 1), "two mailed, one of them accepted");
        assert!(store.changes_between("C01", clock.now() + Duration::from_secs(1), clock.now() + INTERVAL).await.unwrap().is_empty());
    }
}

store_test! {
    async fn an_accept_seen_while_a_worker_holds_the_item_stays_accepted_with_no_reminder(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        store
            .create_campaign(&NewCampaign {
                id: "c1".into(),
                owner: Caller::new("https://idp.example", "hr-bot"),
                name: "wave".into(),
                dry_run: false,
                resend: false,
                check_unlisted: true,
                source_kind: invitation_gateway::vocabulary::SourceKind::Emails,
                source_states: Vec::new(),
                reminders: Some(Reminders { after: Duration::from_secs(60), max: 2 }),
                start_at: clock.now(),
                planned: true,
                terms: Default::default(),
            })
            .await
            .unwrap();
        let ada = NewItem { email: "ada@example.com".into(), skipped: None, known: None, roster: None };
        store.add_campaign_items("c1", &[ada], true).await.unwrap();
        let first = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        let sent = |due_at| ItemUpdate { mailed: true, due_at, ..ItemUpdate::new(ItemOutcome::Sent) };
        assert!(store.complete_campaign_item(&first, &sent(Some(clock.now()))).await.unwrap());
        walk(&store, "r1", &[seen("ada@example.com", "INVITED", 1)]).await.unwrap();
        // A worker holds the reminder when the next walk sees the accept.
        let held = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        clock.advance(INTERVAL);
        let changes = walk(&store, "r1", &[seen("ada@example.com", "ACCEPTED", 1)]).await.unwrap();
        assert_eq!(changes, [ChangeKind::Accepted]);
        let reminder_at = clock.now() + Duration::from_secs(60);
        assert!(store.complete_campaign_item(&held, &sent(Some(reminder_at))).await.unwrap());
        let counts = store.campaign_counts("c1").await.unwrap();
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), [(ItemOutcome::Accepted, 1)]);
        clock.advance(Duration::from_secs(120));
        assert!(store.claim_campaign_items("c1", 1, LEASE).await.unwrap().is_empty(), "no reminder");
        assert!(store.complete_campaign_if_done("c1", |_, _| announce_done()).await.unwrap());
    }
}

fn announce_done() -> OutboxEvent {
    OutboxEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind: "dev.invitation-gateway.campaign.completed".into(),
        at: chrono::Utc::now(),
        body: "{}".into(),
    }
}
