//! Campaigns: items claimed with a lease, never by two claimers at once; lifecycle and pages.

use crate::helpers::manual_clock;
use invitation_gateway::store::{
    Caller, CampaignTerms, ItemUpdate, KnownInvitation, NewCampaign, NewItem, OutboxEvent,
    Reminders, Store,
};
use invitation_gateway::vocabulary::{
    CampaignState, InvitationState, ItemErrorCode, ItemOutcome, SourceKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);

fn owner() -> Caller {
    Caller::new("https://idp.example", "hr-bot")
}

async fn campaign(store: &Store, id: &str) {
    campaign_with(store, id, CampaignTerms::default()).await;
}

async fn campaign_with(store: &Store, id: &str, terms: CampaignTerms) {
    store
        .create_campaign(&NewCampaign {
            id: id.into(),
            owner: owner(),
            name: format!("campaign {id}"),
            dry_run: false,
            resend: false,
            check_unlisted: true,
            source_kind: SourceKind::Emails,
            source_states: Vec::new(),
            reminders: Some(Reminders {
                after: Duration::from_secs(3600),
                max: 2,
            }),
            start_at: store.clock().now(),
            planned: true,
            terms,
        })
        .await
        .expect("the campaign is created");
}

/// The completion event of a campaign `name` with `counts` (its body says both).
fn announce(name: &str, counts: &BTreeMap<ItemOutcome, u64>) -> OutboxEvent {
    OutboxEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind: "campaign.completed".into(),
        at: chrono::Utc::now(),
        body: serde_json::json!({"name": name, "counts": counts}).to_string(),
    }
}

fn pending(email: &str) -> NewItem {
    NewItem {
        email: email.into(),
        skipped: None,
        known: None,
        roster: None,
    }
}

fn sent() -> ItemUpdate {
    ItemUpdate {
        mailed: true,
        ..ItemUpdate::new(ItemOutcome::Sent)
    }
}

store_test! {
    async fn items_are_added_in_chunks_and_a_repeated_person_is_a_skipped_duplicate(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        campaign(&store, "c1").await;
        let first: Vec<NewItem> = (0..3).map(|i| pending(&format!("p{i}@example.com"))).collect();
        let second = vec![
            pending("p1@example.com"),
            NewItem { skipped: Some("invalid_email".into()), ..pending("not an address") },
            NewItem {
                known: Some(KnownInvitation { state: InvitationState::NotYetSent, mails_sent: 0, updated: None }),
                ..pending("p9@example.com")
            },
            pending("P9@example.com"),
        ];
        assert_eq!(store.add_campaign_items("c1", &first, true).await.unwrap(), 3);
        assert_eq!(store.add_campaign_items("c1", &second, true).await.unwrap(), 4);
        let again = [pending("P0@example.com")];
        assert_eq!(store.add_campaign_items("c1", &again, false).await.unwrap(), 0, "a walk that starts over adds nobody twice");

        let counts = store.campaign_counts("c1").await.unwrap();
        assert_eq!(counts.get(&ItemOutcome::Pending), Some(&4));
        assert_eq!(counts.get(&ItemOutcome::Skipped), Some(&3), "a repeat within one call too");
        let skipped = store.campaign_items("c1", &[ItemOutcome::Skipped], 10, None).await.unwrap();
        let reasons: Vec<_> = skipped.items.iter().map(|i| i.reason.clone().unwrap_or_default()).collect();
        assert_eq!(reasons, ["invalid_email", "duplicate", "duplicate"], "repeats follow their chunk");
        let page = store.campaign_items("c1", &[], 4, None).await.unwrap();
        assert_eq!(page.items.len(), 4);
        let rest = store.campaign_items("c1", &[], 4, page.next).await.unwrap();
        assert_eq!(rest.items.len(), 3);
        assert_eq!(rest.next, None);
        let claimed = store.claim_campaign_items("c1", 10, LEASE).await.unwrap();
        let known: Vec<_> = claimed.iter().filter_map(|i| i.known.clone()).collect();
        assert_eq!(known.len(), 1, "the list's state travels with its item");
        assert_eq!(claimed.len(), 4, "skipped items are never claimed");
    }
}

store_test! {
    async fn concurrent_claimers_on_two_replicas_never_get_the_same_item(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        campaign(&a, "c1").await;
        let items: Vec<NewItem> = (0..200).map(|i| pending(&format!("p{i}@example.com"))).collect();
        for chunk in items.chunks(50) {
            a.add_campaign_items("c1", chunk, true).await.unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim_campaign_items("c1", 7, LEASE).await.expect("claim answers");
                    if claimed.is_empty() {
                        return mine;
                    }
                    for item in claimed {
                        assert!(store.complete_campaign_item(&item, &sent()).await.unwrap());
                        mine.push(item.id);
                    }
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("task"));
        }
        let distinct: BTreeSet<_> = all.iter().copied().collect();
        assert_eq!(all.len(), 200, "every item claimed once");
        assert_eq!(distinct.len(), 200);
        assert!(a.complete_campaign_if_done("c1", announce).await.unwrap());
        assert_eq!(a.campaign_state("c1").await.unwrap(), Some(CampaignState::Completed));
    }
}

store_test! {
    async fn an_expired_lease_is_claimed_again_and_its_old_holder_can_no_longer_complete_it(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        campaign(&store, "c1").await;
        store.add_campaign_items("c1", &[pending("ada@example.com")], true).await.unwrap();
        let first = store.claim_campaign_items("c1", 5, LEASE).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempts, 0);
        assert!(store.mark_item_mailing(&first[0]).await.unwrap());
        clock.advance(LEASE - Duration::from_millis(1));
        assert!(store.claim_campaign_items("c1", 5, LEASE).await.unwrap().is_empty(), "held");
        assert!(!store.complete_campaign_if_done("c1", announce).await.unwrap(), "work is left");
        clock.advance(Duration::from_millis(1));
        let second = store.claim_campaign_items("c1", 5, LEASE).await.unwrap();
        assert_eq!(second.len(), 1, "the lease ran out: the item is claimable again");
        assert!(second[0].mailing, "the next holder learns a mail may have gone out");
        assert_eq!(second[0].attempts, 1);
        assert!(!store.complete_campaign_item(&first[0], &sent()).await.unwrap(), "no longer the holder");
        assert!(!store.mark_item_mailing(&first[0]).await.unwrap());
        assert!(store.complete_campaign_item(&second[0], &sent()).await.unwrap());
        let item = &store.campaign_items("c1", &[], 10, None).await.unwrap().items[0];
        assert_eq!((item.outcome.as_str(), item.mails), ("sent", 1));
        assert_eq!(item.last_mail_at, Some(clock.now()));
    }
}

store_test! {
    async fn a_released_item_is_due_again_at_its_time_and_a_reminder_at_its_time(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        campaign(&store, "c1").await;
        store.add_campaign_items("c1", &[pending("ada@example.com")], true).await.unwrap();
        let item = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        let later = clock.now() + Duration::from_secs(30);
        assert!(store.release_campaign_item(&item, later, Some((ItemErrorCode::UpstreamUnavailable, "x")), false).await.unwrap());
        assert!(store.claim_campaign_items("c1", 1, LEASE).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(30));
        let item = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        let remind_at = clock.now() + Duration::from_secs(3600);
        assert!(store.complete_campaign_item(&item, &ItemUpdate { due_at: Some(remind_at), ..sent() }).await.unwrap());
        assert!(!store.complete_campaign_if_done("c1", announce).await.unwrap(), "a reminder is left");
        clock.advance(Duration::from_secs(3599));
        assert!(store.claim_campaign_items("c1", 1, LEASE).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(1));
        let reminder = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        assert_eq!((reminder.outcome.as_str(), reminder.mails, reminder.reminders), ("sent", 1, 0));
        let update = ItemUpdate { reminder: true, ..sent() };
        assert!(store.complete_campaign_item(&reminder, &update).await.unwrap());
        let item = &store.campaign_items("c1", &[ItemOutcome::Sent], 10, None).await.unwrap().items[0];
        assert_eq!(item.mails, 2);
        assert!(store.complete_campaign_if_done("c1", announce).await.unwrap());
    }
}

store_test! {
    async fn pause_hides_a_campaign_from_workers_and_cancel_closes_its_pending_items(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        campaign(&store, "c1").await;
        store.add_campaign_items("c1", &[pending("a@example.com"), pending("b@example.com"), pending("c@example.com")], true).await.unwrap();
        let first = store.claim_campaign_items("c1", 1, LEASE).await.unwrap().remove(0);
        assert!(store.complete_campaign_item(&first, &sent()).await.unwrap());
        assert_eq!(store.due_campaigns().await.unwrap().len(), 1);

        assert!(store.set_campaign_state("c1", &[CampaignState::Running], CampaignState::Paused, None).await.unwrap());
        assert!(store.due_campaigns().await.unwrap().is_empty());
        assert!(!store.set_campaign_state("c1", &[CampaignState::Running], CampaignState::Paused, None).await.unwrap(), "paused once");
        let resume = clock.now() + Duration::from_secs(60);
        assert!(store.set_campaign_state("c1", &[CampaignState::Paused], CampaignState::Waiting, Some(resume)).await.unwrap());
        assert!(store.due_campaigns().await.unwrap().is_empty(), "waiting until resumesAt");
        clock.advance(Duration::from_secs(60));
        assert_eq!(store.due_campaigns().await.unwrap().len(), 1);

        assert!(store.cancel_campaign("c1").await.unwrap());
        assert!(!store.cancel_campaign("c1").await.unwrap(), "cancelled once");
        let record = store.campaign("c1").await.unwrap().expect("the campaign");
        assert_eq!(record.state, CampaignState::Cancelled);
        assert_eq!(record.completed_at, Some(clock.now()));
        let counts = store.campaign_counts("c1").await.unwrap();
        assert_eq!((counts.get(&ItemOutcome::Sent), counts.get(&ItemOutcome::Cancelled)), (Some(&1), Some(&2)));
        assert!(store.claim_campaign_items("c1", 5, LEASE).await.unwrap().is_empty());
    }
}

store_test! {
    async fn campaigns_are_listed_newest_first_per_owner_in_pages_and_count_their_calls(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        for id in ["c1", "c2", "c3"] {
            campaign(&store, id).await;
            clock.advance(Duration::from_secs(1));
        }
        store
            .create_campaign(&NewCampaign {
                id: "other".into(),
                owner: Caller::new("https://idp.example", "someone-else"),
                name: "theirs".into(),
                dry_run: true,
                resend: true,
                check_unlisted: true,
                source_kind: SourceKind::States,
                source_states: vec![InvitationState::NotYetSent, InvitationState::Declined],
                reminders: None,
                start_at: clock.now() + Duration::from_secs(600),
                planned: false,
                terms: Default::default(),
            })
            .await
            .unwrap();
        let page = store.list_campaigns(Some(&owner()), 2, None, false).await.unwrap();
        let ids: Vec<_> = page.campaigns.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c3", "c2"]);
        let rest = store.list_campaigns(Some(&owner()), 2, page.next.as_deref(), false).await.unwrap();
        assert_eq!(rest.campaigns.len(), 1);
        assert_eq!(rest.next, None);
        assert_eq!(store.list_campaigns(None, 10, None, false).await.unwrap().campaigns.len(), 4);

        let other = store.campaign("other").await.unwrap().expect("stored");
        assert_eq!(other.state, CampaignState::Scheduled);
        assert_eq!(other.source_states, [InvitationState::NotYetSent, InvitationState::Declined]);
        assert!(other.dry_run && other.resend && !other.planned);
        assert!(store.claim_campaign_planning("other", LEASE).await.unwrap());
        assert!(!store.claim_campaign_planning("other", LEASE).await.unwrap(), "one walker at a time");
        store.finish_campaign_planning("other").await.unwrap();
        assert!(store.campaign("other").await.unwrap().expect("stored").planned);

        store.add_campaign_calls("c1", 3).await.unwrap();
        store.add_campaign_calls("c1", 2).await.unwrap();
        assert_eq!(store.campaign("c1").await.unwrap().expect("stored").google_calls, 5);
    }
}

store_test! {
    async fn prune_expired_keeps_finished_campaigns_as_long_as_the_audit_trail_and_active_ones_always(db) {
        let clock = manual_clock();
        let settings = invitation_gateway::store::StoreSettings {
            audit_retention: Duration::from_secs(30 * 24 * 3600),
            event_retention: Duration::from_secs(365 * 24 * 3600),
            ..invitation_gateway::store::StoreSettings::default()
        };
        let store = db.store_with(settings, &clock).await.unwrap();
        for id in ["done", "cancelled", "active"] {
            campaign(&store, id).await;
        }
        store.add_campaign_items("done", &[pending("ada@example.com")], true).await.unwrap();
        store.add_campaign_items("cancelled", &[pending("ada@example.com")], true).await.unwrap();
        store.add_campaign_items("active", &[pending("alan@example.com")], true).await.unwrap();
        let item = store.claim_campaign_items("done", 1, LEASE).await.unwrap().remove(0);
        assert!(store.complete_campaign_item(&item, &sent()).await.unwrap());
        assert!(store.complete_campaign_if_done("done", announce).await.unwrap());
        assert!(store.cancel_campaign("cancelled").await.unwrap());
        clock.advance(Duration::from_secs(30 * 24 * 3600));
        assert_eq!(store.prune_expired().await.unwrap(), 0, "kept for exactly the retention");
        clock.advance(Duration::from_millis(1));
        assert_eq!(store.prune_expired().await.unwrap(), 4, "two campaigns and their items");
        assert!(store.campaign("done").await.unwrap().is_none());
        assert!(store.campaign("cancelled").await.unwrap().is_none());
        assert_eq!(store.campaign_counts("done").await.unwrap(), BTreeMap::new());
        assert!(store.campaign("active").await.unwrap().is_some(), "an active campaign is never pruned");
        assert_eq!(store.campaign_counts("active").await.unwrap().get(&ItemOutcome::Pending), Some(&1));
    }
}

/// A campaign created unplanned, as a creation writing its items (or a `states` campaign
/// waiting for its walk) leaves it.
async fn unplanned(store: &Store, id: &str, source_kind: SourceKind) {
    store
        .create_campaign(&NewCampaign {
            id: id.into(),
            owner: owner(),
            name: format!("import {id}"),
            dry_run: true,
            resend: false,
            check_unlisted: true,
            source_kind,
            source_states: if source_kind == SourceKind::States {
                vec![InvitationState::NotYetSent]
            } else {
                Vec::new()
            },
            reminders: None,
            start_at: store.clock().now(),
            planned: false,
            terms: Default::default(),
        })
        .await
        .expect("the campaign is created");
}

store_test! {
    async fn imports_never_finished_are_unlisted_and_deleted_with_their_items_once_old(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        unplanned(&store, "old-roster", SourceKind::Roster).await;
        unplanned(&store, "old-emails", SourceKind::Emails).await;
        unplanned(&store, "walk", SourceKind::States).await;
        campaign(&store, "done").await;
        for id in ["old-roster", "old-emails", "done"] {
            store.add_campaign_items(id, &[pending("ada@example.com"), pending("alan@example.com")], true).await.unwrap();
        }
        let listed = |page: invitation_gateway::store::CampaignPage| -> BTreeSet<String> {
            page.campaigns.into_iter().map(|c| c.id).collect()
        };
        // An import in progress is nobody's campaign yet; a states campaign awaiting its walk is.
        assert_eq!(
            listed(store.list_campaigns(None, 10, None, false).await.unwrap()),
            BTreeSet::from(["walk".to_owned(), "done".to_owned()])
        );
        // Nor is it the worker's backlog: only the planned campaign's two items are.
        assert_eq!(store.campaign_backlog().await.unwrap(), 2);

        clock.advance(Duration::from_secs(60));
        unplanned(&store, "young-roster", SourceKind::Roster).await;
        store.add_campaign_items("young-roster", &[pending("ada@example.com")], true).await.unwrap();
        assert_eq!(store.delete_abandoned_imports(clock.now() - Duration::from_secs(60)).await.unwrap(), 0, "created at the cut-off: kept");
        assert_eq!(
            store.delete_abandoned_imports(clock.now() - Duration::from_secs(30)).await.unwrap(),
            6,
            "two imports and their four items"
        );
        for gone in ["old-roster", "old-emails"] {
            assert!(store.campaign(gone).await.unwrap().is_none(), "{gone}");
            assert_eq!(store.campaign_counts(gone).await.unwrap(), BTreeMap::new(), "{gone}");
        }
        for kept in ["young-roster", "walk", "done"] {
            assert!(store.campaign(kept).await.unwrap().is_some(), "{kept}");
        }
        assert_eq!(store.campaign_counts("done").await.unwrap().get(&ItemOutcome::Pending), Some(&2));
        assert_eq!(store.campaign_counts("young-roster").await.unwrap().get(&ItemOutcome::Pending), Some(&1));

        store.delete_campaign("young-roster").await.unwrap();
        assert!(store.campaign("young-roster").await.unwrap().is_none());
        assert_eq!(store.campaign_counts("young-roster").await.unwrap(), BTreeMap::new());
    }
}

store_test! {
    async fn the_backlog_counts_only_work_that_is_due(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        campaign(&store, "now").await;
        store
            .create_campaign(&NewCampaign {
                id: "later".into(),
                owner: owner(),
                name: "scheduled for later".into(),
                dry_run: false,
                resend: false,
                check_unlisted: true,
                source_kind: SourceKind::Emails,
                source_states: Vec::new(),
                reminders: None,
                start_at: clock.now() + Duration::from_secs(7200),
                planned: true,
                terms: Default::default(),
            })
            .await
            .unwrap();
        for id in ["now", "later"] {
            store.add_campaign_items(id, &[pending("ada@example.com"), pending("alan@example.com")], true).await.unwrap();
        }
        assert_eq!(store.campaign_backlog().await.unwrap(), 2, "the scheduled campaign is not due yet");

        // Paused, or waiting for its resumesAt: held on purpose, not stalled.
        assert!(store.set_campaign_state("now", &[CampaignState::Running], CampaignState::Paused, None).await.unwrap());
        assert_eq!(store.campaign_backlog().await.unwrap(), 0);
        let resumes_at = clock.now() + Duration::from_secs(3600);
        assert!(store.set_campaign_state("now", &[CampaignState::Paused], CampaignState::Waiting, Some(resumes_at)).await.unwrap());
        assert_eq!(store.campaign_backlog().await.unwrap(), 0);

        clock.advance(Duration::from_secs(3600));
        assert_eq!(store.campaign_backlog().await.unwrap(), 2, "waiting past its resumesAt: due");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(store.campaign_backlog().await.unwrap(), 4, "past its start: due");
    }
}

store_test! {
    async fn an_item_held_when_the_deadline_passes_is_marked_for_no_mail_and_keeps_its_end(db) {
        let clock = manual_clock();
        let store = db.store(&clock).await;
        const HELD: Duration = Duration::from_secs(7200);
        let deadline = clock.now() + Duration::from_secs(600);
        let terms = CampaignTerms { deadline: Some(deadline), ..Default::default() };
        campaign_with(&store, "c1", terms).await;
        let people = [pending("ada@example.com"), pending("bob@example.com")];
        store.add_campaign_items("c1", &people, true).await.unwrap();
        let ada = store.claim_campaign_items("c1", 1, HELD).await.unwrap().remove(0);
        let in_an_hour = clock.now() + Duration::from_secs(3600);
        assert!(store.mark_item_mailing(&ada).await.unwrap());
        let update = ItemUpdate { due_at: Some(in_an_hour), ..sent() };
        assert!(store.complete_campaign_item(&ada, &update).await.unwrap());
        // Both held (bob's first mail, ada's reminder a while later) when the deadline passes.
        let bob = store.claim_campaign_items("c1", 1, HELD).await.unwrap().remove(0);
        clock.advance(Duration::from_secs(3600));
        let ada = store.claim_campaign_items("c1", 1, HELD).await.unwrap().remove(0);
        assert!(store.reach_campaign_deadline("c1", |n, _, c| announce(n, c)).await.unwrap());
        assert!(!store.mark_item_mailing(&bob).await.unwrap(), "cancelled: no mail");
        assert!(!store.mark_item_mailing(&ada).await.unwrap(), "no_answer: no reminder");
        // A holder that stores a result anyway changes neither end.
        assert!(store.complete_campaign_item(&bob, &sent()).await.unwrap());
        assert!(store.complete_campaign_item(&ada, &sent()).await.unwrap());
        let counts = store.campaign_counts("c1").await.unwrap();
        assert_eq!(counts.get(&ItemOutcome::Cancelled), Some(&1), "{counts:?}");
        assert_eq!(counts.get(&ItemOutcome::NoAnswer), Some(&1), "{counts:?}");
        assert_eq!(counts.len(), 2, "{counts:?}");
    }
}
