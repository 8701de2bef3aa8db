//! A waiting campaign says why it waits (`waitingReason`) and until when (`resumesAt`): the
//! Google budget and the creator's daily mail limit, on a driven store clock.

use crate::helpers::{admin_token, campaign_when, on_database, spawn_app_at};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::emulator::{Seed, SeedAccount};
use serde_json::{Value, json};

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
async fn waiting_campaign(
    url: Option<String>,
    tune: impl FnOnce(&mut invitation_gateway::config::Settings),
) -> Value {
    let (app, _clock) = spawn_app_at(start(), ten_people(), |s| {
        on_database(url.as_deref())(s);
        tune(s);
    })
    .await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "paced", "source": {"states": ["NOT_YET_SENT"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body["waitingReason"].is_null(), "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    campaign_when(&app.address, &id, |c| c["state"] == "waiting").await
}

async fn the_google_budget_and_the_mail_limit_are_told(url: Option<String>) {
    let budget = waiting_campaign(url.clone(), |s| s.store.google_per_minute = 4).await;
    assert_eq!(budget["waitingReason"], "google_budget", "{budget}");
    assert_eq!(budget["resumesAt"], "2026-12-01T10:01:02.000Z", "{budget}");

    let mails = waiting_campaign(url, |s| s.limits.daily_mails_per_caller = 3).await;
    assert_eq!(mails["waitingReason"], "mail_limit", "{mails}");
    assert_eq!(mails["resumesAt"], "2026-12-02T00:00:00.000Z", "{mails}");
}

#[tokio::test]
async fn a_waiting_campaign_says_it_waits_for_the_google_budget_or_the_mail_limit() {
    the_google_budget_and_the_mail_limit_are_told(None).await;
}

#[tokio::test]
async fn on_postgresql_a_waiting_campaign_says_why_it_waits() {
    crate::helpers::on_postgresql(|url| the_google_budget_and_the_mail_limit_are_told(Some(url)))
        .await;
}
