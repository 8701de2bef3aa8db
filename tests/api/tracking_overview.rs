//! `GET /v1/tracking/overview` black-box: the pace counts only the changes to accepted or
//! declined the tracker saw, not people first seen already resolved, and says its span; on a
//! driven store clock, on SQLite and on PostgreSQL.

use crate::helpers::{TestApp, admin_get, on_database, on_postgresql, spawn_app_at};
use crate::tracking::{INTERVAL, start, tracking_on, walk_done};
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn overview(app: &TestApp) -> Value {
    let answer = admin_get(&app.address, "/v1/tracking/overview?days=7").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn next_walk(app: &TestApp, clock: &Clock, by: Duration) {
    clock.advance(by);
    walk_done(app, clock).await;
}

async fn paced(url: Option<String>) {
    let seed = Seed::Accounts(vec![
        SeedAccount::new("ada@example.com", Some(State::Accepted)),
        SeedAccount::new("bob@example.com", Some(State::Declined)),
        SeedAccount::new("cy@example.com", Some(State::Invited)),
        SeedAccount::new("dee@example.com", Some(State::Invited)),
    ]);
    let (app, clock) = spawn_app_at(start(), seed, |s| {
        tracking_on(s);
        on_database(url.as_deref())(s);
    })
    .await;
    walk_done(&app, &clock).await;
    // First seen: two already resolved, which is no pace at all.
    let first = overview(&app).await;
    assert_eq!(first["people"], 4, "{first}");
    assert_eq!(first["resolved"], 2, "{first}");
    assert_eq!(first["resolvedPerDay"], 0.0, "{first}");
    assert_eq!(first["paceSince"], "2026-01-05", "{first}");
    assert_eq!(first["paceDays"], 1, "{first}");
    assert!(first["projectedCompletion"].is_null(), "{first}");

    // Cy accepts the same day: one resolution over the one day.
    app.control("accounts/accept", json!({"email": "cy@example.com"}))
        .await;
    next_walk(&app, &clock, INTERVAL).await;
    let second = overview(&app).await;
    assert_eq!(second["resolved"], 3, "{second}");
    assert_eq!(second["resolvedPerDay"], 1.0, "{second}");
    assert_eq!(second["paceDays"], 1, "{second}");
    assert_eq!(second["projectedCompletion"], "2026-01-06", "{second}");

    // Two days later, nothing more: the same one resolution over three days.
    next_walk(&app, &clock, 2 * DAY).await;
    let third = overview(&app).await;
    assert_eq!(third["paceSince"], "2026-01-05", "{third}");
    assert_eq!(third["paceDays"], 3, "{third}");
    let per_day = third["resolvedPerDay"].as_f64().expect("a pace");
    assert!((per_day - 1.0 / 3.0).abs() < 1e-9, "{third}");
    assert_eq!(third["projectedCompletion"], "2026-01-10", "{third}");
}

#[tokio::test]
async fn the_overview_paces_only_changes_to_resolved_and_says_its_span() {
    paced(None).await;
}

#[tokio::test]
async fn on_postgresql_the_overview_paces_only_changes_to_resolved() {
    on_postgresql(|url| paced(Some(url))).await;
}
