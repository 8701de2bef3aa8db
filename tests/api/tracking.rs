//! The tracker black-box: walks of the emulator's list on a manual store clock, the events they
//! produce, the summary and funnel they answer, one walker among replicas.

use crate::helpers::{
    TestApp, admin_get, admin_token, eventually, spawn_app_clocked, spawn_app_on, spawn_google,
    test_settings,
};
use crate::pg::PgDatabase;
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::Seed;
use invitation_gateway::startup::Application;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The tracker's interval in these tests.
pub const INTERVAL: Duration = Duration::from_secs(900);

/// A Monday morning, where every manual clock of these tests starts.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("a valid fixed date")
}

/// Turns the tracker on in `settings`.
pub fn tracking_on(settings: &mut Settings) {
    settings.tracking.interval = INTERVAL;
}

/// A gateway with the tracker on, on the demo emulator, its store on `clock`.
pub async fn tracked_app(clock: &Clock, tune: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(clock, Seed::Demo, |settings| {
        tracking_on(settings);
        tune(settings);
    })
    .await
}

/// Waits until a walk finished at the clock's current time.
pub async fn walk_done(app: &TestApp, clock: &Clock) {
    let store = app.state.store.clone();
    let now = clock.now();
    eventually("a walk finishes", || {
        let store = store.clone();
        async move {
            store
                .tracked_summary("my_customer")
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s.as_of >= now)
        }
    })
    .await;
}

/// Every event of the feed (one page of up to 1000).
pub async fn feed(app: &TestApp) -> Vec<Value> {
    feed_at(&app.address).await
}

/// Every event of the feed of the gateway at `address`.
pub async fn feed_at(address: &str) -> Vec<Value> {
    let answer = admin_get(address, "/v1/events?limit=1000").await.body;
    answer["events"].as_array().cloned().expect("events")
}

/// Another replica with `settings` (the same emulator and database as a running one), its
/// store on `clock`: its address.
async fn spawn_replica(settings: Settings, clock: &Clock) -> String {
    let app = Application::build_with_store_clock(settings, clock.clone())
        .await
        .expect("the replica builds");
    let address = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    address
}

/// The feed's events of `kind` (without the type prefix).
pub fn of_type<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    let kind = format!("dev.invitation-gateway.{kind}");
    events
        .iter()
        .filter(|e| e["type"] == kind.as_str())
        .collect()
}

#[tokio::test]
async fn an_accept_in_google_produces_exactly_one_accepted_event_within_one_interval() {
    let clock = Clock::manual(start());
    let app = tracked_app(&clock, |_| {}).await;
    walk_done(&app, &clock).await;
    assert!(
        feed(&app).await.is_empty(),
        "the first walk announces nothing of the past"
    );
    app.control("accounts/accept", json!({"email": "ada@example.com"}))
        .await;
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    let events = feed(&app).await;
    let accepted = of_type(&events, "invitation.accepted");
    assert_eq!(accepted.len(), 1, "{events:?}");
    let event = accepted[0];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["datacontenttype"], "application/json");
    assert_eq!(event["data"]["email"], "ada@example.com");
    assert_eq!(event["data"]["state"], "ACCEPTED");
    assert_eq!(event["data"]["observedBy"], "tracker");
    let subject = event["subject"].as_str().expect("a subject");
    assert!(
        subject.starts_with("e_") && !subject.contains("ada"),
        "{subject}"
    );
    // Later walks find nothing new, and say nothing twice.
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    assert_eq!(feed(&app).await.len(), events.len());
}

#[tokio::test]
async fn the_tracker_walks_inside_the_background_share_of_the_google_budget() {
    let clock = Clock::manual(start());
    // No background share at all: the tracker may never call Google; callers still may.
    let app = tracked_app(&clock, |s| s.store.google_background_percent = 0).await;
    let list = app
        .get_as("/v1/invitations?pageSize=10", &admin_token())
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let interactive_lists = app.calls("list").await;
    // A tracker step (the background loop's, run here at once) finds no slot and calls nobody.
    app.state.tracking.track_once().await;
    assert_eq!(
        app.calls("list").await,
        interactive_lists,
        "the tracker made no call"
    );
    let store = &app.state.store;
    assert!(
        store
            .tracked_summary("my_customer")
            .await
            .unwrap()
            .is_none(),
        "no walk finished"
    );
}

#[tokio::test]
async fn a_walk_longer_than_the_background_share_waits_for_the_next_window_and_callers_still_get_through()
 {
    let clock = Clock::manual(start());
    // 1,000 people: five pages. 4 calls a minute: with no caller calling, background work gets
    // all but the callers' floor of one, 3 pages per 62 s window.
    let accounts = (0..1000)
        .map(|i| {
            invitation_gateway::emulator::SeedAccount::new(format!("t{i:04}@example.com"), None)
        })
        .collect();
    let app = spawn_app_on(&clock, Seed::Accounts(accounts), |settings| {
        tracking_on(settings);
        settings.store.google_per_minute = 4;
        settings.store.google_background_percent = 30;
    })
    .await;

    eventually("the tracker reads its share", || async {
        app.calls("list").await >= 3
    })
    .await;
    // It keeps trying (every 20 ms) but gets no fourth slot in this window: nor does a step
    // run here at once.
    app.state.tracking.track_once().await;
    assert_eq!(
        app.calls("list").await,
        3,
        "the background share is 3 calls"
    );
    // The rest of the quota is the callers'.
    let check = app.check_as_caller("fresh@example.com").await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(app.calls("isInvitableUser").await, 1);

    // The next window: the walk resumes where it stopped and finishes.
    clock.advance(Duration::from_secs(62));
    walk_done(&app, &clock).await;
    assert_eq!(app.calls("list").await, 5, "five pages, none read twice");
    let summary = app.get_as("/v1/invitations/summary", &admin_token()).await;
    assert_eq!(summary.body["total"], 1000, "{}", summary.body);
}

/// Counts per state straight from Google, page by page through the API's list.
async fn google_counts(app: &TestApp) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/v1/invitations?pageSize=200&pageToken={t}"),
            None => "/v1/invitations?pageSize=200".to_owned(),
        };
        let page = app.get_as(&path, &admin_token()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for invitation in page.body["invitations"].as_array().unwrap() {
            *counts
                .entry(invitation["state"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        match page.body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return counts,
        }
    }
}

#[tokio::test]
async fn summary_funnel_history_and_feed_agree_with_google_after_sends_accepts_declines_and_cancels()
 {
    let clock = Clock::manual(start());
    let app = tracked_app(&clock, |_| {}).await;
    walk_done(&app, &clock).await;
    let token = admin_token();
    let sent = app
        .post_json(
            "/v1/invitations/send",
            &token,
            json!({"emails": ["grace+hr@example.com", "donald@example.com"]}),
        )
        .await;
    assert_eq!(sent.body["summary"]["sent"], 2, "{}", sent.body);
    let cancelled = app
        .post_json(
            "/v1/invitations/cancel",
            &token,
            json!({"emails": ["whitfield@example.com"]}),
        )
        .await;
    assert_eq!(
        cancelled.body["results"][0]["outcome"], "cancelled",
        "{}",
        cancelled.body
    );
    app.control("accounts/accept", json!({"email": "edsger@example.com"}))
        .await;
    app.control("accounts/decline", json!({"email": "niklaus@example.com"}))
        .await;
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    let lists_before = app.calls("list").await;
    let summary = app.get_as("/v1/invitations/summary", &token).await;
    assert_eq!(summary.status, 200, "{}", summary.body);
    assert_eq!(
        app.calls("list").await,
        lists_before,
        "the summary did not walk Google"
    );
    assert_eq!(
        summary.body["asOf"],
        clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .as_str(),
        "{}",
        summary.body
    );
    let google = google_counts(&app).await;
    for (state, count) in &google {
        assert_eq!(
            summary.body["counts"][state], *count,
            "{state}: {} vs {google:?}",
            summary.body
        );
    }
    assert_eq!(summary.body["total"], google.values().sum::<u64>());

    let funnel = app
        .get_as(
            "/v1/invitations/funnel?from=2026-01-05&to=2026-01-05&bucket=day",
            &token,
        )
        .await;
    assert_eq!(funnel.status, 200, "{}", funnel.body);
    assert_eq!(
        funnel.body["buckets"],
        json!([{"start": "2026-01-05", "invited": 2, "accepted": 1, "declined": 1}]),
        "the walk did not count the gateway's own mails again"
    );
    assert_eq!(
        funnel.body["acceptanceRate"], 0.0,
        "neither mailed person accepted yet"
    );
    assert_eq!(
        funnel.body["medianSecondsToAccept"],
        Value::Null,
        "edsger's mail predates tracking"
    );
    let week = app
        .get_as(
            "/v1/invitations/funnel?from=2026-01-01&to=2026-01-11&bucket=week",
            &token,
        )
        .await;
    let starts: Vec<&str> = week.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["2025-12-29", "2026-01-05"]);

    let history = app
        .post_json(
            "/v1/invitations/history",
            &token,
            json!({"emails": ["Grace+HR@Example.com", "nobody@example.com", "bad"]}),
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    let changes: Vec<&str> = history.body["results"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["first_seen", "sent"]);
    assert_eq!(history.body["results"][1]["changes"], json!([]));
    assert_eq!(history.body["results"][2]["error"]["code"], "invalid_email");

    let events = feed(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "dev.invitation-gateway.invitation.accepted",
            "dev.invitation-gateway.invitation.cancelled",
            "dev.invitation-gateway.invitation.declined",
            "dev.invitation-gateway.invitation.sent",
            "dev.invitation-gateway.invitation.sent",
        ],
        "one event per change: {kinds:?}"
    );
}

#[tokio::test]
async fn funnel_and_feed_refuse_what_they_cannot_answer() {
    let app = tracked_app(&Clock::manual(start()), |s| {
        s.tracking.interval = Duration::ZERO
    })
    .await;
    let token = admin_token();
    for path in [
        "/v1/invitations/funnel?bucket=month",
        "/v1/invitations/funnel?from=2026-01-06&to=2026-01-05",
        "/v1/invitations/funnel?from=yesterday",
        "/v1/invitations/funnel?from=2024-01-01&to=2026-01-05",
        "/v1/invitations/funnel?bucket=day&bucket=week",
        "/v1/invitations/funnel?unknown=1",
        "/v1/events?after=-1",
        "/v1/events?after=abc",
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
    ] {
        app.get_as(path, &token)
            .await
            .assert_problem(400, "invalid_query");
    }
    let empty = app
        .get_as(
            "/v1/invitations/funnel?from=2026-01-01&to=2026-01-02",
            &token,
        )
        .await;
    assert_eq!(empty.body["acceptanceRate"], Value::Null);
    assert_eq!(empty.body["buckets"].as_array().unwrap().len(), 2);
    let feed = app.get_as("/v1/events?after=5", &token).await;
    assert_eq!(feed.body, json!({"events": [], "nextCursor": "5"}));
}

#[tokio::test]
async fn two_in_process_replicas_on_postgres_with_one_clock_record_each_change_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let clock = Clock::manual(start());
    let google = spawn_google(Seed::Demo).await;
    let mut settings = test_settings(&google);
    tracking_on(&mut settings);
    settings.store.database_url = db.url.clone().into();
    let a = spawn_app_clocked(google, settings.clone(), clock.clone()).await;
    // The second replica talks to the same emulator and database.
    let b = spawn_replica(settings, &clock).await;
    walk_done(&a, &clock).await;
    for (i, email) in ["ada@example.com", "edsger@example.com", "guido@example.com"]
        .iter()
        .enumerate()
    {
        if i == 1 {
            a.control("accounts/decline", json!({"email": email})).await;
        } else {
            a.control("accounts/accept", json!({"email": email})).await;
        }
        clock.advance(INTERVAL);
        walk_done(&a, &clock).await;
    }
    let events = feed_at(&b).await;
    assert_eq!(
        of_type(&events, "invitation.accepted").len(),
        2,
        "{events:?}"
    );
    assert_eq!(
        of_type(&events, "invitation.declined").len(),
        1,
        "{events:?}"
    );
    assert_eq!(events.len(), 3, "{events:?}");
    drop(a);
    db.drop_it().await;
}

#[tokio::test]
async fn two_gateway_processes_on_postgres_never_announce_one_change_twice() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    // A walk every second on the wall clock, by whichever replica holds the lease.
    let extra = [("GATEWAY_TRACK_INTERVAL_SECS", "1")];
    let a = crate::replicas::start_replica(&google, &db.url, &extra);
    let b = crate::replicas::start_replica(&google, &db.url, &extra);
    let lists = || async { google_stats_lists(&google).await };
    eventually("a first walk", || async { lists().await >= 1 }).await;
    // The first walk may still be recording its page: wait for one more.
    let first = lists().await;
    eventually("a second walk", || async { lists().await > first }).await;
    google
        .control("accounts/accept", json!({"email": "ada@example.com"}))
        .await;
    google
        .control("accounts/decline", json!({"email": "edsger@example.com"}))
        .await;
    eventually("both changes on the feed", || async {
        let events = feed_at(&a.base).await;
        of_type(&events, "invitation.accepted").len() == 1
            && of_type(&events, "invitation.declined").len() == 1
    })
    .await;
    // Several more walks, by either process.
    let now = lists().await;
    eventually("three more walks", || async { lists().await >= now + 3 }).await;
    for base in [&a.base, &b.base] {
        let events = feed_at(base).await;
        assert_eq!(events.len(), 2, "{events:?}");
    }
    drop((a, b));
    db.drop_it().await;
}

async fn google_stats_lists(google: &crate::helpers::TestGoogle) -> u64 {
    let stats: Value = reqwest::get(format!("{}/emulator/v1/stats", google.emulator.url()))
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("JSON stats");
    stats["calls"]["list"].as_u64().unwrap_or(0)
}
