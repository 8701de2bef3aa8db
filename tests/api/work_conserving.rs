//! A work-conserving Google budget (issue 24): with no caller calling, a campaign uses all but
//! the callers' small floor of each window (at least 95 % of the quota), a caller's check during
//! it still gets a slot at once, and callers' own calls grow the reserve kept for them. Calls are
//! counted by the emulator; the store's clock is driven, so a window passes only when the test
//! moves it.

use crate::helpers::{TestApp, admin_token, on_database, spawn_app_at};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::emulator::{Seed, SeedAccount};
use serde_json::json;
use std::time::{Duration, Instant};

const PER_MINUTE: u64 = 100;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// A caller's check of a fresh address: served (not from the cache) within a second.
async fn prompt_check(app: &TestApp, email: &str) {
    let started = Instant::now();
    let check = app.check_as_caller(email).await;
    let took = started.elapsed();
    assert_eq!(check.status, 200, "{}", check.body);
    let result = &check.body["results"][0];
    assert!(result["error"].is_null(), "{}", check.body);
    assert_eq!(result["cached"], false, "{}", check.body);
    assert!(took < Duration::from_secs(1), "served in {took:?}");
}

async fn a_campaign_uses_the_window_and_callers_still_get_theirs(url: Option<String>) {
    // 400 people: two list pages and a send each, more than three windows' worth.
    let accounts = (0..400)
        .map(|i| SeedAccount::new(format!("w{i:03}@corp.example.com"), None))
        .collect();
    let (app, clock) = spawn_app_at(start(), Seed::Accounts(accounts), |s| {
        on_database(url.as_deref())(s);
        s.store.google_per_minute = PER_MINUTE as u32;
    })
    .await;
    let created = app.create_states_campaign("everyone").await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let campaign = format!("/v1/campaigns/{id}");

    // Window 1, nobody checking: the campaign takes all it may, then waits.
    crate::helpers::campaign_when(&app.address, &id, |c| c["state"] == "waiting").await;
    app.worker_passes(3).await;
    let used = app.google_calls().await;
    assert!(
        used * 100 >= 95 * PER_MINUTE,
        "the campaign used {used} of {PER_MINUTE} calls"
    );
    assert_eq!(used, 98, "all but the callers' floor (2 %)");
    // A caller's check during it finds its slot at once, and so does a second.
    prompt_check(&app, "first@example.com").await;
    prompt_check(&app, "second@example.com").await;
    assert_eq!(app.calls("isInvitableUser").await, 2);
    app.worker_passes(3).await;
    assert_eq!(
        app.google_calls().await,
        100,
        "the campaign took none of theirs"
    );

    // Window 2: callers are busy before the campaign resumes; their reserve grows with them.
    let paused = app
        .post_json(&format!("{campaign}/pause"), &admin_token(), json!({}))
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    clock.advance(Duration::from_secs(63));
    for n in 0..10 {
        prompt_check(&app, &format!("busy{n}@example.com")).await;
    }
    let resumed = app
        .post_json(&format!("{campaign}/resume"), &admin_token(), json!({}))
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    crate::helpers::campaign_when(&app.address, &id, |c| c["state"] == "waiting").await;
    app.worker_passes(3).await;
    let window = app.google_calls().await - 100;
    assert_eq!(
        window,
        10 + 78,
        "the callers' 10 and the campaign's 100 - (floor 2 + their 10)"
    );
    // What the callers' demand reserved is theirs at once.
    for n in 0..12 {
        prompt_check(&app, &format!("more{n}@example.com")).await;
    }
    assert_eq!(app.google_calls().await - 100, 100, "the window is full");
    assert_eq!(app.stats().await["quotaRejections"], 0);
}

#[tokio::test]
async fn with_no_callers_a_campaign_uses_95_percent_of_a_window_and_a_check_is_still_served() {
    a_campaign_uses_the_window_and_callers_still_get_theirs(None).await;
}

#[tokio::test]
async fn on_postgresql_a_campaign_uses_95_percent_of_a_window_and_a_check_is_still_served() {
    crate::helpers::on_postgresql(|url| {
        a_campaign_uses_the_window_and_callers_still_get_theirs(Some(url))
    })
    .await;
}
