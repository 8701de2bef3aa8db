//! Campaigns meet tracking: the events a campaign produces (one `invitation.sent` per mail, one
//! `campaign.completed`), and the tracker's accepts and declines reaching campaign items.
//! In-process gateways on a manual store clock; nothing sleeps for the clock.

use crate::helpers::{
    TestApp, admin_get, admin_token, campaign_completed, eventually, quick_worker, spawn_app_at,
    spawn_app_clocked, spawn_google, test_settings, worker_passes,
};
use crate::pg::PgDatabase;
use crate::tracking::{INTERVAL, feed, feed_at, of_type, start, tracking_on, walk_done};
use invitation_gateway::emulator::Seed;
use invitation_gateway::startup::Application;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

/// Demo people a campaign can mail (not yet invited, eligible).
const PEOPLE: [&str; 2] = ["grace+hr@example.com", "donald@example.com"];

async fn get(address: &str, path: &str) -> Value {
    admin_get(address, path).await.body
}

async fn create(app: &TestApp, body: Value) -> String {
    let answer = app.post_json("/v1/campaigns", &admin_token(), body).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_campaign_announces_one_invitation_sent_per_mail_and_one_campaign_completed_with_its_counts()
 {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let id = create(
        &app,
        json!({"name": "wave 1", "source": {"emails": [PEOPLE[0], PEOPLE[1], "not an address"]}}),
    )
    .await;
    let done = campaign_completed(&app.address, &id).await;
    assert_eq!(done["counts"], json!({"sent": 2, "skipped": 1}), "{done}");
    let events = feed(&app).await;
    let sent = of_type(&events, "invitation.sent");
    assert_eq!(sent.len(), 2, "one per mail: {events:?}");
    let mut emails: Vec<&str> = sent
        .iter()
        .map(|e| e["data"]["email"].as_str().expect("an email"))
        .collect();
    emails.sort_unstable();
    assert_eq!(emails, ["donald@example.com", "grace+hr@example.com"]);
    for event in &sent {
        assert_eq!(event["data"]["observedBy"], "gateway");
        assert!(
            event["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("e_"))
        );
    }
    let completed = of_type(&events, "campaign.completed");
    assert_eq!(completed.len(), 1, "{events:?}");
    let event = completed[0];
    assert_eq!(event["subject"], id.as_str());
    assert_eq!(event["data"]["campaignId"], id.as_str());
    assert_eq!(event["data"]["name"], "wave 1");
    assert_eq!(event["data"]["counts"], json!({"sent": 2, "skipped": 1}));
    // The completion is the last change of the campaign: it comes after its mails.
    assert_eq!(events.last(), Some(event), "{events:?}");
}

#[tokio::test]
async fn a_dry_run_announces_no_mail_only_its_completion() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let id = create(
        &app,
        json!({"name": "what if", "dryRun": true, "source": {"emails": PEOPLE}}),
    )
    .await;
    campaign_completed(&app.address, &id).await;
    let events = feed(&app).await;
    assert!(of_type(&events, "invitation.sent").is_empty(), "{events:?}");
    assert_eq!(
        of_type(&events, "campaign.completed").len(),
        1,
        "{events:?}"
    );
}

/// Two replicas (PostgreSQL when a test server is set, else one SQLite file) work one campaign
/// with several workers each and both see its last items finish: one `campaign.completed`.
#[tokio::test]
async fn replicas_finishing_a_campaign_together_announce_its_completion_once() {
    let db = PgDatabase::create().await;
    let google = spawn_google(Seed::Demo).await;
    let mut settings = test_settings(&google);
    quick_worker(&mut settings);
    if let Some(db) = &db {
        settings.store.database_url = db.url.clone().into();
    }
    let clock = Clock::manual(start());
    let a = spawn_app_clocked(google, settings.clone(), clock.clone()).await;
    let b = Application::build_with_store_clock(settings, clock.clone())
        .await
        .expect("the replica builds");
    let b_address = format!("http://{}", b.address());
    let b_state = b.state().clone();
    tokio::spawn(b.run_until_stopped());
    // One after the other: two campaigns mailing one person at once would wait on its ledger
    // claim for a lease of the manual clock.
    let mut ids = Vec::new();
    for wave in 0..4 {
        let id = create(
            &a,
            json!({"name": format!("wave {wave}"),
                   "source": {"emails": [PEOPLE[0], PEOPLE[1], "ada@example.com", "alan@example.com"]}}),
        )
        .await;
        campaign_completed(&b_address, &id).await;
        ids.push(id);
    }
    // Both replicas keep polling: a few more whole passes of each (not) announce it again.
    a.worker_passes(2).await;
    worker_passes(&b_state, 2).await;
    let events = feed_at(&b_address).await;
    let announced = of_type(&events, "campaign.completed");
    for id in &ids {
        let of_id = announced
            .iter()
            .filter(|e| e["subject"] == id.as_str())
            .count();
        assert_eq!(of_id, 1, "{id}: {announced:?}");
    }
    drop(a);
    if let Some(db) = db {
        db.drop_it().await;
    }
}

#[tokio::test]
async fn a_person_the_tracker_sees_accept_is_accepted_in_the_campaign_and_never_reminded() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, tracking_on).await;
    walk_done(&app, &clock).await;
    let id = create(
        &app,
        json!({"name": "remind", "reminders": {"afterHours": 1, "max": 2},
               "source": {"emails": PEOPLE}}),
    )
    .await;
    let path = format!("/v1/campaigns/{id}");
    eventually("both are mailed", || {
        let path = path.clone();
        let address = app.address.clone();
        async move { get(&address, &path).await["counts"]["sent"] == 2 }
    })
    .await;
    app.control("accounts/accept", json!({"email": PEOPLE[1]}))
        .await;
    app.control("accounts/decline", json!({"email": PEOPLE[0]}))
        .await;
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    // The walk that saw them changed the items, before any reminder was due.
    let campaign = get(&app.address, &path).await;
    assert_eq!(
        campaign["counts"],
        json!({"accepted": 1, "declined": 1}),
        "{campaign}"
    );
    let items = get(&app.address, &format!("{path}/items")).await;
    let outcomes: Vec<(&str, &str)> = items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["email"].as_str().unwrap(), i["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [(PEOPLE[0], "declined"), (PEOPLE[1], "accepted")],
        "{items}"
    );
    // Nothing is left to do: the campaign completes without waiting for the reminders.
    let done = campaign_completed(&app.address, &id).await;
    assert_eq!(done["counts"], json!({"accepted": 1, "declined": 1}));
    clock.advance(Duration::from_secs(2 * 3600));
    app.worker_passes(2).await;
    assert_eq!(
        app.stats().await["mailsSent"],
        json!({PEOPLE[0]: 1, PEOPLE[1]: 1}),
        "no reminder after accepting or declining"
    );
}
