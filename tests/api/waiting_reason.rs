//! A waiting campaign says why it waits (`waitingReason`) and until when (`resumesAt`): the
//! Google budget and the creator's daily mail limit, on a driven store clock.

use crate::helpers::{campaign_when, on_database, spawn_app_at};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::{Seed, SeedAccount};
use serde_json::Value;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

fn ten_people() -> Seed {
    Seed::Accounts(
        (0..10)
            .map(|i| SeedAccount::new(format!("r{i:02}@corp.example.com"), None))
            .collect(),
    )
}

/// A `states` campaign on a gateway tuned by `tune`, once it waits.
async fn waiting_campaign(url: Option<String>, tune: impl FnOnce(&mut Settings)) -> Value {
    let (app, _clock) = spawn_app_at(start(), ten_people(), |s| {
        on_database(url.as_deref())(s);
        tune(s);
    })
    .await;
    let created = app.create_states_campaign("paced").await;
    assert!(created["waitingReason"].is_null(), "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    campaign_when(&app.address, &id, |c| c["state"] == "waiting").await
}

/// Each case on a fresh store (on PostgreSQL a database of its own: the budget is the store's).
async fn told(url: Option<String>, case: usize) {
    let (tune, reason, resumes): (fn(&mut Settings), _, _) = match case {
        0 => (
            |s| s.store.google_per_minute = 4,
            "google_budget",
            "2026-12-01T10:01:02.000Z",
        ),
        _ => (
            |s| s.limits.daily_mails_per_caller = 3,
            "mail_limit",
            "2026-12-02T00:00:00.000Z",
        ),
    };
    let waiting = waiting_campaign(url, tune).await;
    assert_eq!(waiting["waitingReason"], reason, "{waiting}");
    assert_eq!(waiting["resumesAt"], resumes, "{waiting}");
}

#[tokio::test]
async fn a_waiting_campaign_says_it_waits_for_the_google_budget_or_the_mail_limit() {
    told(None, 0).await;
    told(None, 1).await;
}

#[tokio::test]
async fn on_postgresql_a_waiting_campaign_says_why_it_waits() {
    crate::helpers::on_postgresql(|url| told(Some(url), 0)).await;
    crate::helpers::on_postgresql(|url| told(Some(url), 1)).await;
}
