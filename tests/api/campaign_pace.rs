//! A campaign with reminders tells its timeline on a driven store clock: when its first mails
//! finished, its next reminder, when its last one is due; and its ETA is that end, not "any
//! moment", while reminders remain.

use crate::helpers::{admin_token, campaign_when, on_database, spawn_app_at};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::emulator::{Seed, SeedAccount};
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn three() -> Vec<String> {
    (0..3).map(|i| format!("m{i}@corp.example.com")).collect()
}

async fn reminders_told(url: Option<String>) {
    let seed = Seed::Accounts(
        three()
            .into_iter()
            .map(|e| SeedAccount::new(e, None))
            .collect(),
    );
    let (app, clock) = spawn_app_at(start(), seed, on_database(url.as_deref())).await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "reminded", "reminders": {"afterHours": 24, "max": 2},
                   "source": {"emails": three()}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let before = &created.body;
    assert!(before["initialMailsFinishedAt"].is_null(), "{before}");
    assert!(before["nextReminderAt"].is_null(), "{before}");
    // Before the first mails: their ETA (a moment from now) and two days of reminders.
    assert!(
        before["endsAt"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-12-03T10:00")),
        "{before}"
    );
    assert_eq!(before["eta"], before["endsAt"], "{before}");
    let id = before["id"].as_str().expect("an id").to_owned();

    // The first mails go out at 10:00 (the store clock stands still).
    // Both reads of the view agree: every first mail out, and the reminder due.
    let when =
        |c: &Value, next: &str| c["nextReminderAt"] == next && c["counts"] == json!({"sent": 3});
    let first = campaign_when(&app.address, &id, |c| when(c, "2026-12-02T10:00:00.000Z")).await;
    assert_eq!(first["state"], "running", "reminders are left: {first}");
    assert_eq!(first["counts"], json!({"sent": 3}), "{first}");
    assert_eq!(
        first["initialMailsFinishedAt"], "2026-12-01T10:00:00.000Z",
        "{first}"
    );
    assert_eq!(first["endsAt"], "2026-12-03T10:00:00.000Z", "{first}");
    assert_eq!(first["eta"], first["endsAt"], "not 'any moment': {first}");

    // A day later the first reminders go out: the next one moves a day on.
    clock.advance(DAY);
    let during = campaign_when(&app.address, &id, |c| when(c, "2026-12-03T10:00:00.000Z")).await;
    assert_eq!(during["state"], "running", "{during}");
    assert_eq!(
        during["initialMailsFinishedAt"], "2026-12-01T10:00:00.000Z",
        "{during}"
    );
    assert_eq!(during["endsAt"], "2026-12-03T10:00:00.000Z", "{during}");
    assert_eq!(during["eta"], during["endsAt"], "{during}");
    let mails = app.stats().await["mailsSent"].clone();
    for email in three() {
        assert_eq!(mails[&email], 2, "a first mail and a reminder: {mails}");
    }

    // The last reminders: none is left, the campaign is done.
    clock.advance(DAY);
    let after = campaign_when(&app.address, &id, |c| c["state"] == "completed").await;
    assert!(after["nextReminderAt"].is_null(), "{after}");
    assert!(after["eta"].is_null(), "{after}");
    assert_eq!(
        after["initialMailsFinishedAt"], "2026-12-01T10:00:00.000Z",
        "{after}"
    );
    assert_eq!(after["endsAt"], "2026-12-03T10:00:00.000Z", "{after}");
    let mails = app.stats().await["mailsSent"].clone();
    for email in three() {
        assert_eq!(mails[&email], 3, "a first mail and two reminders: {mails}");
    }
}

#[tokio::test]
async fn a_campaign_with_reminders_tells_its_first_mails_next_reminder_and_end() {
    reminders_told(None).await;
}

#[tokio::test]
async fn on_postgresql_a_campaign_with_reminders_tells_its_timeline() {
    crate::helpers::on_postgresql(|url| reminders_told(Some(url))).await;
}
