//! A waiting campaign says why it waits (`waitingReason`) and until when (`resumesAt`), on a
//! driven store clock: the Google budget, the creator's daily mail limit, an open breaker
//! (until it lets a probe through), Google unavailable, the audit sink failing; and the reason
//! clears once the campaign runs again.

use crate::helpers::{
    TestApp, admin_token, campaign_at, campaign_when, eventually, on_database, spawn_app_at,
};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::{Seed, SeedAccount};
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::time::Duration;

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

fn ten_emails() -> Vec<String> {
    (0..10)
        .map(|i| format!("r{i:02}@corp.example.com"))
        .collect()
}

/// An `emails` campaign of the ten people (a read and a send each) on a gateway tuned by
/// `tune`, with the emulator's `fault` in place first; answers the gateway, its clock, the
/// campaign's id and its first wait.
async fn emails_campaign_waiting(
    tune: impl FnOnce(&mut Settings),
    fault: Option<Value>,
) -> (TestApp, Clock, String, Value) {
    let (app, clock) = spawn_app_at(start(), ten_people(), tune).await;
    if let Some(fault) = fault {
        app.control("faults", fault).await;
    }
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "told", "source": {"emails": ten_emails()}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let waiting = campaign_when(&app.address, &id, |c| c["state"] == "waiting").await;
    (app, clock, id, waiting)
}

/// Once the cause is gone, the campaign runs again and completes, its reason and its
/// `resumesAt` cleared; each look moves the store clock on by `step`.
async fn runs_again(app: &TestApp, clock: &Clock, id: &str, step: Duration) -> Value {
    let done = eventually("the campaign runs again and completes", || async {
        let campaign = campaign_at(&app.address, id).await;
        if campaign["state"] == "completed" {
            return Ok(campaign);
        }
        clock.advance(step);
        Err(campaign.to_string())
    })
    .await;
    assert_eq!(done["counts"], json!({"sent": 10}), "{done}");
    assert!(done["waitingReason"].is_null(), "{done}");
    assert!(done["resumesAt"].is_null(), "{done}");
    done
}

fn at(text: &Value) -> DateTime<Utc> {
    text.as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {text}"))
}

#[tokio::test]
async fn an_open_breaker_holds_a_campaign_until_the_breaker_lets_a_probe_through() {
    let open_for = Duration::from_secs(3);
    let (app, clock, id, waiting) = emails_campaign_waiting(
        |s| {
            s.google.protection.breaker_failure_threshold = NonZeroU32::MIN;
            s.google.protection.breaker_open_for = open_for;
        },
        Some(json!({"method": "get", "status": 503, "count": 100000})),
    )
    .await;
    assert_eq!(waiting["waitingReason"], "breaker_open", "{waiting}");
    // The breaker opened a moment ago (real time) and half-opens `open_for` later: the store
    // clock stands still, so resumesAt is at most that far from the start.
    let resumes = at(&waiting["resumesAt"]);
    assert!(resumes > start(), "{waiting}");
    assert!(resumes <= start() + open_for, "{waiting}");
    assert_eq!(waiting["counts"], json!({"pending": 10}), "{waiting}");
    app.clear_faults().await;
    runs_again(&app, &clock, &id, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_google_outage_holds_a_campaign_for_the_outage_wait_and_then_it_runs_again() {
    let (app, clock, id, waiting) = emails_campaign_waiting(
        // A breaker that never opens: the outage itself is the reason.
        |s| s.google.protection.breaker_failure_threshold = NonZeroU32::MAX,
        Some(json!({"method": "get", "status": 503, "count": 100000})),
    )
    .await;
    assert_eq!(waiting["waitingReason"], "google_unavailable", "{waiting}");
    // Google said no Retry-After: the worker's outage wait, 30 s on the store clock.
    assert_eq!(
        waiting["resumesAt"], "2026-12-01T10:00:30.000Z",
        "{waiting}"
    );
    app.clear_faults().await;
    runs_again(&app, &clock, &id, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn google_saying_when_to_come_back_sets_resumes_at() {
    let (_app, _clock, _id, waiting) = emails_campaign_waiting(
        |s| s.google.protection.breaker_failure_threshold = NonZeroU32::MAX,
        Some(json!({"method": "get", "status": 503, "count": 100000, "retryAfterSecs": 120})),
    )
    .await;
    assert_eq!(waiting["waitingReason"], "google_unavailable", "{waiting}");
    assert_eq!(
        waiting["resumesAt"], "2026-12-01T10:02:00.000Z",
        "{waiting}"
    );
}

#[tokio::test]
async fn an_audit_sink_that_cannot_write_holds_a_campaign() {
    let (app, _clock, _id, waiting) = emails_campaign_waiting(
        |s| {
            s.audit.file = Some("/dev/full".into());
            s.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
        },
        None,
    )
    .await;
    assert_eq!(waiting["waitingReason"], "audit_unavailable", "{waiting}");
    assert_eq!(
        waiting["resumesAt"], "2026-12-01T10:00:30.000Z",
        "{waiting}"
    );
    let mails = app.stats().await["mailsSent"].clone();
    assert!(
        mails.as_object().is_none_or(|m| m.len() <= 1),
        "no mail goes out unrecorded: {mails}"
    );
}

/// The mail limit: the view says the pace, the ETA counts the days, the campaign waits until
/// the next UTC day and then runs again (five a day, ten people).
async fn paced_by_the_mail_limit(url: Option<String>) {
    let (app, clock, id, waiting) = emails_campaign_waiting(
        |s| {
            on_database(url.as_deref())(s);
            s.limits.daily_mails_per_caller = 5;
        },
        None,
    )
    .await;
    assert_eq!(waiting["waitingReason"], "mail_limit", "{waiting}");
    assert_eq!(
        waiting["resumesAt"], "2026-12-02T00:00:00.000Z",
        "{waiting}"
    );
    // The batch that met the limit has finished: five mailed, five left.
    let waiting = campaign_when(&app.address, &id, |c| c["counts"]["pending"] == 5).await;
    assert_eq!(waiting["mailsPerDay"], 5, "{waiting}");
    // Five mails left, on tomorrow's allowance: done a moment after midnight.
    let eta = at(&waiting["eta"]);
    let tomorrow = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
    assert!(
        eta >= tomorrow && eta < tomorrow + chrono::Duration::minutes(1),
        "{waiting}"
    );
    runs_again(&app, &clock, &id, Duration::from_secs(14 * 3600)).await;
}

#[tokio::test]
async fn a_campaign_over_the_mail_limit_says_its_pace_and_runs_again_the_next_day() {
    paced_by_the_mail_limit(None).await;
}

#[tokio::test]
async fn on_postgresql_a_campaign_over_the_mail_limit_runs_again_the_next_day() {
    crate::helpers::on_postgresql(|url| paced_by_the_mail_limit(Some(url))).await;
}
