//! A campaign's deadline: people still INVITED become `no_answer` (their invitations kept, or
//! cancelled), the campaign completes with `deadlineReachedAt`, its resolution lists every
//! person's final outcome with roster rows, and one `campaign.deadline_reached` event is written
//! even with two replicas passing it at once. The store clock is driven; nothing sleeps.

use crate::helpers::{
    Answer, TestApp, admin_token, campaign_when, csv_records, eventually, on_database,
    quick_worker, spawn_app_at, spawn_app_clocked, spawn_google, test_settings, worker_passes,
};
use crate::pg::PgDatabase;
use crate::tracking::{feed_at, of_type};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::emulator::Seed;
use invitation_gateway::startup::Application;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// Rows 2 to 7: three people the campaign mails (radia will accept, bjarne decline, james
/// never answers), one invited already (guido), one who accepted long ago (vint), and a cell a
/// spreadsheet would read as a formula.
const ROSTER: &str = "email,name\r\nradia@example.com,Radia\r\nbjarne@example.com,Bjarne\r\n\
    james@example.com,James\r\nguido@example.com,Guido\r\nvint@example.com,Vint\r\n=1+2,Formula\r\n";

const HOUR: Duration = Duration::from_secs(3600);

impl TestApp {
    /// A roster campaign over [`ROSTER`], one reminder after 24 h, its deadline 48 h after the
    /// start, doing `at_deadline` then; answers its id.
    async fn campaign_with_deadline(&self, at_deadline: &str) -> String {
        let response = self
            .client
            .post(format!(
                "{}/v1/campaigns/roster?name=wave&reminderAfterHours=24&reminderMax=1\
                 &deadline=2026-12-03T10:00:00Z&atDeadline={at_deadline}",
                self.address
            ))
            .bearer_auth(admin_token())
            .header("content-type", "text/csv")
            .body(ROSTER)
            .send()
            .await
            .unwrap();
        let created = Answer::read(response).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["deadline"], "2026-12-03T10:00:00.000Z");
        assert_eq!(created.body["atDeadline"], at_deadline);
        created.body["id"].as_str().unwrap().to_owned()
    }

    async fn resolution(&self, id: &str, accept: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}/v1/campaigns/{id}/resolution", self.address))
            .bearer_auth(admin_token())
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn deadline_mails(&self) -> Value {
        self.stats().await["mailsSent"].clone()
    }

    /// The invitation states Google has of `emails`, by address.
    async fn google_states(&self, emails: &[&str]) -> Value {
        let answer = self
            .post_json(
                "/v1/invitations/lookup",
                &admin_token(),
                json!({"emails": emails}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let mut states = serde_json::Map::new();
        for result in answer.body["results"].as_array().unwrap() {
            states.insert(
                result["email"].as_str().unwrap().to_owned(),
                result["invitation"]["state"].clone(),
            );
        }
        Value::Object(states)
    }
}

/// Everything up to the day before the deadline: the first mails, an accept and a decline,
/// james's one reminder; the campaign completed, not resolved yet.
async fn up_to_the_deadline(app: &TestApp, clock: &Clock, at_deadline: &str) -> String {
    let id = app.campaign_with_deadline(at_deadline).await;
    campaign_when(&app.address, &id, |c| c["counts"]["sent"] == 3).await;
    app.control("accounts/accept", json!({"email": "radia@example.com"}))
        .await;
    app.control("accounts/decline", json!({"email": "bjarne@example.com"}))
        .await;
    let (status, body) = app.resolution(&id, "text/csv").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("campaign_not_resolved"), "{body}");
    clock.advance(24 * HOUR);
    let done = campaign_when(&app.address, &id, |c| c["state"] == "completed").await;
    assert_eq!(
        done["counts"],
        json!({"accepted": 1, "declined": 1, "sent": 1, "already_invited": 1,
               "already_accepted": 1, "skipped": 1}),
        "{done}"
    );
    assert_eq!(done["deadlineReachedAt"], Value::Null);
    let mails = json!({"radia@example.com": 1, "bjarne@example.com": 1, "james@example.com": 2});
    assert_eq!(
        app.deadline_mails().await,
        mails,
        "one reminder, to james only"
    );
    id
}

/// What the resolution must say once the deadline passed.
const RESOLVED: &str = "row,email,outcome,reason\r\n2,radia@example.com,accepted,\r\n\
    3,bjarne@example.com,declined,\r\n4,james@example.com,no_answer,REASON\r\n\
    5,guido@example.com,no_answer,REASON\r\n6,vint@example.com,already_accepted,\r\n\
    7,'=1+2,skipped,invalid_email\r\n";

#[tokio::test]
async fn at_the_deadline_people_still_invited_become_no_answer_and_keep_their_invitations() {
    passes_the_deadline(None, "keep").await;
}

#[tokio::test]
async fn on_postgresql_at_the_deadline_people_still_invited_become_no_answer() {
    crate::helpers::on_postgresql(|url| passes_the_deadline(Some(url), "keep")).await;
}

#[tokio::test]
async fn at_the_deadline_with_at_deadline_cancel_their_invitations_are_cancelled_and_audited() {
    passes_the_deadline(None, "cancel").await;
}

#[tokio::test]
async fn on_postgresql_at_the_deadline_with_at_deadline_cancel_invitations_are_cancelled() {
    crate::helpers::on_postgresql(|url| passes_the_deadline(Some(url), "cancel")).await;
}

async fn passes_the_deadline(url: Option<String>, at_deadline: &str) {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, on_database(url.as_deref())).await;
    let id = up_to_the_deadline(&app, &clock, at_deadline).await;
    clock.advance(24 * HOUR);
    let done = campaign_when(&app.address, &id, |c| !c["deadlineReachedAt"].is_null()).await;
    assert_eq!(done["state"], "completed");
    assert_eq!(
        done["deadlineReachedAt"], "2026-12-03T10:00:00.000Z",
        "{done}"
    );
    let counts = json!({"accepted": 1, "declined": 1, "no_answer": 2, "already_accepted": 1,
                        "skipped": 1});
    assert_eq!(done["counts"], counts, "{done}");
    let reason = if at_deadline == "cancel" {
        "invitation_cancelled"
    } else {
        ""
    };
    let expected = RESOLVED.replace("REASON", reason);
    let csv = eventually("the resolution says every final outcome", || async {
        let (status, csv) = app.resolution(&id, "text/csv").await;
        if status == 200 && csv == expected {
            Ok(csv)
        } else {
            Err(format!("{status} {csv}"))
        }
    })
    .await;
    assert_eq!(csv_records(&csv).len(), 7);
    let (status, ndjson) = app.resolution(&id, "application/x-ndjson").await;
    assert_eq!(status, 200);
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        json!({"row": 2, "email": "radia@example.com", "outcome": "accepted", "reason": null})
    );
    assert_eq!(lines[5]["email"], "=1+2", "NDJSON keeps values as they are");

    let events = feed_at(&app.address).await;
    let reached = of_type(&events, "campaign.deadline_reached");
    assert_eq!(reached.len(), 1, "{events:?}");
    assert_eq!(reached[0]["subject"], id.as_str());
    assert_eq!(
        reached[0]["data"],
        json!({"campaignId": id, "name": "wave", "atDeadline": at_deadline, "total": 6,
               "counts": counts})
    );
    // No reminder or mail after the deadline, whatever time passes.
    clock.advance(72 * HOUR);
    app.worker_passes(3).await;
    let mails = json!({"radia@example.com": 1, "bjarne@example.com": 1, "james@example.com": 2});
    assert_eq!(app.deadline_mails().await, mails);
    let states = app
        .google_states(&[
            "james@example.com",
            "guido@example.com",
            "radia@example.com",
        ])
        .await;
    let open = if at_deadline == "cancel" {
        "NOT_YET_SENT"
    } else {
        "INVITED"
    };
    // Each withdrawal is in the audit trail, by the campaign's creator, like any cancel.
    let filter = invitation_gateway::store::AuditFilter {
        action: Some(invitation_gateway::vocabulary::Action::Cancel),
        ..Default::default()
    };
    let trail = app
        .state
        .store
        .list_audit(&filter, 100, None)
        .await
        .unwrap();
    let cancels = if at_deadline == "cancel" { 2 } else { 0 };
    assert_eq!(trail.events.len(), cancels, "{:?}", trail.events);
    for event in &trail.events {
        assert_eq!(event.outcome.as_deref(), Some("cancelled"), "{event:?}");
    }
    assert_eq!(
        states,
        json!({"james@example.com": open, "guido@example.com": open,
               "radia@example.com": "ACCEPTED"})
    );
}

/// Two gateways on one database (PostgreSQL when a test server is set) pass one deadline at
/// the same moment: one `campaign.deadline_reached`, the people changed once.
#[tokio::test]
async fn two_replicas_passing_one_deadline_at_once_write_its_event_once() {
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
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = a.campaign_with_deadline("keep").await;
        campaign_when(&b_address, &id, |c| c["counts"].get("pending").is_none()).await;
        ids.push(id);
    }
    // Both replicas' workers see all three deadlines come at once.
    clock.advance(48 * HOUR);
    for id in &ids {
        let done = campaign_when(&b_address, id, |c| !c["deadlineReachedAt"].is_null()).await;
        assert_eq!(done["counts"]["no_answer"], 4, "{done}");
    }
    a.worker_passes(2).await;
    worker_passes(&b_state, 2).await;
    let events = feed_at(&b_address).await;
    let reached = of_type(&events, "campaign.deadline_reached");
    for id in &ids {
        let of_id = reached
            .iter()
            .filter(|e| e["subject"] == id.as_str())
            .count();
        assert_eq!(of_id, 1, "{id}: {reached:?}");
    }
    drop(a);
    if let Some(db) = db {
        db.drop_it().await;
    }
}

/// james accepts after his reminder and before the deadline, while nothing has read Google
/// since: with `atDeadline: cancel`, the withdrawal finds him ACCEPTED and records his answer,
/// and his invitation is not touched; the mails stay what they were.
#[tokio::test]
async fn an_accept_found_by_the_deadline_cancel_is_recorded_as_accepted() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let id = up_to_the_deadline(&app, &clock, "cancel").await;
    app.control("accounts/accept", json!({"email": "james@example.com"}))
        .await;
    clock.advance(24 * HOUR);
    let expected = "row,email,outcome,reason\r\n2,radia@example.com,accepted,\r\n\
        3,bjarne@example.com,declined,\r\n4,james@example.com,accepted,\r\n\
        5,guido@example.com,no_answer,invitation_cancelled\r\n\
        6,vint@example.com,already_accepted,\r\n7,'=1+2,skipped,invalid_email\r\n";
    eventually("the resolution shows james's answer", || async {
        let (status, csv) = app.resolution(&id, "text/csv").await;
        if status == 200 && csv == expected {
            Ok(())
        } else {
            Err(format!("{status} {csv}"))
        }
    })
    .await;
    let states = app
        .google_states(&["james@example.com", "guido@example.com"])
        .await;
    assert_eq!(
        states,
        json!({"james@example.com": "ACCEPTED", "guido@example.com": "NOT_YET_SENT"})
    );
    let mails = json!({"radia@example.com": 1, "bjarne@example.com": 1, "james@example.com": 2});
    assert_eq!(app.deadline_mails().await, mails);
}

/// The same late accept with `atDeadline: keep` and a tracker whose next walk comes after the
/// deadline: james is `no_answer` at the deadline, and `accepted` once the walk sees him.
#[tokio::test]
async fn an_accept_the_tracker_sees_after_the_deadline_replaces_no_answer() {
    let walks = 72 * HOUR;
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |s| s.tracking.interval = walks).await;
    crate::tracking::walk_done(&app, &clock).await;
    let id = up_to_the_deadline(&app, &clock, "keep").await;
    app.control("accounts/accept", json!({"email": "james@example.com"}))
        .await;
    clock.advance(24 * HOUR);
    let of_james = |outcome: &'static str| {
        let app = &app;
        let id = &id;
        async move {
            eventually("james's outcome in the resolution", || async {
                let (status, csv) = app.resolution(id, "text/csv").await;
                if status == 200 && csv.contains(&format!("4,james@example.com,{outcome},")) {
                    Ok(())
                } else {
                    Err(format!("{status} {csv}"))
                }
            })
            .await
        }
    };
    of_james("no_answer").await;
    clock.advance(24 * HOUR);
    crate::tracking::walk_done(&app, &clock).await;
    of_james("accepted").await;
    let done = campaign_when(&app.address, &id, |c| c["counts"]["accepted"] == 2).await;
    assert_eq!(done["counts"]["no_answer"], 1, "guido only: {done}");
}
