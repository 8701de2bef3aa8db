//! The audit trail tells the truth: a send cut off before its outcome could be known answers
//! and audits `unknown` (never `failed`) and is settled later; a campaign's wait for a Google
//! budget slot is no record at all; the store and the file hold the same records, each with
//! its reason.

use crate::helpers::{
    TestApp, admin_token, campaign_completed, campaign_when, eventually, spawn_app_clocked,
    spawn_app_with, spawn_google, test_settings, token,
};
use invitation_gateway::auth::Scope;
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use invitation_gateway::startup::Application;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

/// Google answers again: clears the faults and moves the clock past the campaign's lease (and
/// on by a lease whenever the campaign waits for Google, whose breaker closes after a moment of
/// real time) until the campaign `id` completed; asserts that `email` was mailed once and has
/// one audit record, `sent`; answers the outcomes the audit `file` holds for `email`, in
/// order, and the file's text.
async fn google_back_mails_once(
    app: &TestApp,
    clock: &Clock,
    id: &str,
    lease: Duration,
    email: &str,
    file: &std::path::Path,
) -> (Vec<String>, String) {
    app.clear_faults().await;
    clock.advance(lease + Duration::from_secs(1));
    let done = app
        .completed_moving(clock, id, lease, |c| c["state"] == "waiting")
        .await;
    assert_eq!(done["counts"], json!({"sent": 1}), "{done}");
    assert_eq!(app.stats().await["mailsSent"][email], 1);
    let records = audit_at(&app.address, email).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "sent", "{records:?}");
    let text = std::fs::read_to_string(file).expect("the audit file");
    let outcomes = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|r| r["email"] == email)
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
        .collect();
    (outcomes, text)
}

/// Every audit record of `email` in the store, newest first, via `address`.
async fn audit_at(address: &str, email: &str) -> Vec<Value> {
    let answer = reqwest::Client::new()
        .post(format!("{address}/v1/audit/search"))
        .bearer_auth(admin_token())
        .json(&json!({"emails": [email]}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("JSON");
    body["records"].as_array().cloned().unwrap_or_default()
}

/// Another gateway on the same store and emulator (the next replica, or the same one
/// restarted); answers its address.
async fn another_gateway(settings: Settings) -> String {
    let app = Application::build_with_store_clock(settings, Clock::system())
        .await
        .expect("the gateway builds");
    let address = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    address
}

#[tokio::test]
async fn a_send_cut_off_before_its_outcome_is_known_answers_and_audits_unknown_and_is_settled_later()
 {
    let google = spawn_google(Seed::Demo).await;
    let settings = test_settings(&google);
    let app: TestApp = spawn_app_with(google, settings.clone()).await;
    // Google applies the send after a while and its answer is lost; the read that would
    // settle it fails too (as when shutdown cuts it off). All queued before the send, in
    // order: the read before the send passes, every read after it fails.
    app.control("faults", json!({"method": "get", "count": 1}))
        .await;
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "latencyMs": 300, "afterApply": true}),
    )
    .await;
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 100}),
    )
    .await;
    let send = {
        let (client, url) = (
            app.client.clone(),
            format!("{}/v1/invitations/send", app.address),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token(&[Scope::Send]))
                .json(&json!({"emails": ["donald@example.com"]}))
                .send()
                .await
                .expect("answered")
                .json::<Value>()
                .await
                .expect("JSON")
        })
    };
    app.calls_reach("send", 1).await;
    let body = send.await.expect("the request task");
    app.clear_faults().await;

    let result = &body["results"][0];
    assert_eq!(result["outcome"], "unknown", "{body}");
    assert_eq!(result["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(
        app.stats().await["mailsSent"]["donald@example.com"],
        1,
        "Google mailed"
    );
    let records = audit_at(&app.address, "donald@example.com").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "unknown", "{records:?}");
    assert_eq!(records[0]["detail"], "upstream_unavailable", "{records:?}");

    // The next claim of that person (on another replica) reads Google and settles it.
    let other = another_gateway(settings).await;
    let again: Value = reqwest::Client::new()
        .post(format!("{other}/v1/invitations/send"))
        .bearer_auth(token(&[Scope::Send]))
        .json(&json!({"emails": ["donald@example.com"]}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(again["results"][0]["outcome"], "already_invited", "{again}");
    let records = audit_at(&other, "donald@example.com").await;
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or("null"))
        .collect();
    assert_eq!(outcomes, ["already_invited", "sent"], "{records:?}");
    assert!(
        records[1]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("settled later")),
        "{records:?}"
    );
    assert_eq!(
        app.stats().await["mailsSent"]["donald@example.com"],
        1,
        "no second mail"
    );
}

#[tokio::test]
async fn a_campaign_paced_by_the_google_budget_leaves_one_record_per_person_the_same_in_store_and_file()
 {
    let mut accounts: Vec<SeedAccount> = (0..6)
        .map(|i| SeedAccount::new(format!("w{i}@corp.example.com"), None))
        .collect();
    accounts.push(SeedAccount::new(
        "inv@corp.example.com",
        Some(State::Invited),
    ));
    accounts.push(SeedAccount::new(
        "acc@corp.example.com",
        Some(State::Accepted),
    ));
    let emails: Vec<String> = accounts.iter().map(|a| a.email.clone()).collect();
    let google = spawn_google(Seed::Accounts(accounts)).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    // Four background calls a window: most items wait for a slot, some after their intent.
    settings.store.google_per_minute = 5;
    settings.invitations.campaigns.poll = Duration::from_millis(20);
    settings.audit.file = Some(file.clone());
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date");
    let clock = Clock::manual(start);
    let app = spawn_app_clocked(google, settings, clock.clone()).await;

    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "paced", "source": {"emails": emails}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let waited = std::cell::Cell::new(false);
    let done = app
        .completed_moving(&clock, &id, Duration::from_secs(63), |c| {
            waited.set(waited.get() || c["state"] == "waiting");
            true
        })
        .await;
    let waited = waited.get();
    assert_eq!(done["state"], "completed", "{done}");
    assert!(waited, "the campaign waited for budget slots");
    assert_eq!(
        done["counts"],
        json!({"sent": 6, "already_invited": 1, "already_accepted": 1}),
        "{done}"
    );

    // The store: one record per person, none `failed` (a wait is not a failure).
    let page = app
        .get_as(
            &format!("/v1/audit?campaign={id}&pageSize=100"),
            &admin_token(),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut stored: Vec<(String, String, Value)> = page.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["email"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or("null").to_owned(),
                r["detail"].clone(),
            )
        })
        .collect();
    stored.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(stored.len(), 8, "{stored:?}");
    assert!(stored.iter().all(|r| r.1 != "failed"), "{stored:?}");
    // The file holds the same records, with the same reasons.
    let text = std::fs::read_to_string(&file).expect("the audit file");
    let mut filed: Vec<(String, String, Value)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|r| r["campaign_id"] == id.as_str())
        .map(|r| {
            (
                r["email"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
                r["detail"].clone(),
            )
        })
        .collect();
    filed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(stored, filed, "{text}");
    // A person the campaign skipped as already invited is found by a search.
    let found = audit_at(&app.address, "inv@corp.example.com").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["outcome"], "already_invited", "{found:?}");
    assert_eq!(found[0]["campaignId"], id.as_str(), "{found:?}");
}

#[tokio::test]
async fn a_campaign_mail_cut_off_before_its_outcome_is_known_is_never_failed_and_is_settled_by_the_next_attempt()
 {
    let google = spawn_google(Seed::Accounts(vec![SeedAccount::new(
        "cut@corp.example.com",
        None,
    )]))
    .await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.invitations.campaigns.poll = Duration::from_millis(20);
    settings.audit.file = Some(file.clone());
    let lease = settings.invitations.campaigns.lease;
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date");
    let clock = Clock::manual(start);
    let app = spawn_app_clocked(google, settings, clock.clone()).await;
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "latencyMs": 300, "afterApply": true}),
    )
    .await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "cut", "source": {"emails": ["cut@corp.example.com"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    app.calls_reach("send", 1).await;
    // The read that would settle the lost answer fails too.
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 100}),
    )
    .await;
    let waiting = campaign_when(&app.address, &id, |c| c["state"] == "waiting").await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(
        waiting["counts"],
        json!({"pending": 1}),
        "never failed: {waiting}"
    );
    let records = audit_at(&app.address, "cut@corp.example.com").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "unknown", "{records:?}");

    // Google answers again: the next attempt reads first, finds the mail out, sends nothing.
    let (outcomes, text) =
        google_back_mails_once(&app, &clock, &id, lease, "cut@corp.example.com", &file).await;
    assert_eq!(
        outcomes,
        ["unknown", "sent"],
        "the file is append-only: {text}"
    );
}

#[tokio::test]
async fn a_campaign_mail_whose_unknown_outcome_proves_to_be_no_mail_is_withdrawn_in_the_file_too() {
    let google = spawn_google(Seed::Accounts(vec![SeedAccount::new(
        "lost@corp.example.com",
        None,
    )]))
    .await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.invitations.campaigns.poll = Duration::from_millis(20);
    settings.audit.file = Some(file.clone());
    let lease = settings.invitations.campaigns.lease;
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date");
    let clock = Clock::manual(start);
    let app = spawn_app_clocked(google, settings, clock.clone()).await;
    // The send fails without taking effect, and no read can tell: the outcome is unknown.
    app.control("faults", json!({"method": "get", "count": 1}))
        .await;
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1}),
    )
    .await;
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 1000}),
    )
    .await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "lost", "source": {"emails": ["lost@corp.example.com"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let records = eventually("the lost answer's outcome is recorded", || async {
        let records = audit_at(&app.address, "lost@corp.example.com").await;
        if records.iter().any(|r| !r["outcome"].is_null()) {
            Ok(records)
        } else {
            Err(format!("{records:?}"))
        }
    })
    .await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "unknown", "{records:?}");
    // The campaign item is not decided: pending (never failed).
    let items = app
        .get_as(&format!("/v1/campaigns/{id}/items"), &admin_token())
        .await;
    assert_eq!(
        items.body["items"][0]["outcome"], "pending",
        "{}",
        items.body
    );

    // Google answers again: the next attempt reads first, finds no mail out, withdraws the
    // intent and mails.
    let (outcomes, text) =
        google_back_mails_once(&app, &clock, &id, lease, "lost@corp.example.com", &file).await;
    // The file, append-only, says the unknown came to nothing before the mail's record.
    assert_eq!(outcomes, ["unknown", "withdrawn", "sent"], "{text}");
}

/// (email, outcome, detail) of a record, from the store's or the file's field names.
fn reasoned(record: &Value, campaign_key: &str) -> (String, String, Value, Value) {
    (
        record["email"].as_str().unwrap_or_default().to_owned(),
        record["outcome"].as_str().unwrap_or("null").to_owned(),
        record["detail"].clone(),
        record[campaign_key].clone(),
    )
}

#[tokio::test]
async fn store_and_file_give_the_same_reasons_for_a_campaign_s_decisions() {
    reasons_agree(None).await;
}

#[tokio::test]
async fn on_postgresql_store_and_file_give_the_same_reasons_for_a_campaign_s_decisions() {
    crate::helpers::on_postgresql(|url| async move { reasons_agree(Some(url)).await }).await;
}

async fn reasons_agree(url: Option<String>) {
    let accounts = vec![
        SeedAccount::new("a@corp.example.com", None),
        SeedAccount::new("b@corp.example.com", None),
        SeedAccount::new("inv@corp.example.com", Some(State::Invited)),
    ];
    let google = spawn_google(Seed::Accounts(accounts)).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.invitations.campaigns.poll = Duration::from_millis(20);
    settings.audit.file = Some(file.clone());
    if let Some(url) = url {
        settings.store.database_url = url.into();
    }
    let app = spawn_app_with(google, settings).await;
    // One send is refused by Google for good: a failure with its reason.
    app.control(
        "faults",
        json!({"method": "send", "status": 400, "count": 1}),
    )
    .await;
    let emails = [
        "a@corp.example.com",
        "b@corp.example.com",
        "inv@corp.example.com",
        "nobody@corp.example.com",
    ];
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "reasons", "source": {"emails": emails}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let done = campaign_completed(&app.address, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        done["counts"],
        json!({"sent": 1, "failed": 1, "already_invited": 1, "not_eligible": 1}),
        "{done}"
    );
    let page = app
        .get_as(
            &format!("/v1/audit?campaign={id}&pageSize=100"),
            &admin_token(),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut stored: Vec<_> = page.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| reasoned(r, "campaignId"))
        .collect();
    stored.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let text = std::fs::read_to_string(&file).expect("the audit file");
    let mut filed: Vec<_> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|r| r["campaign_id"] == id.as_str())
        .map(|r| reasoned(&r, "campaign_id"))
        .collect();
    filed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(stored, filed, "{text}");
    // Not vacuous: the failure carries its reason (a not-eligible decision has none yet, in
    // either sink).
    let failure = stored.iter().find(|r| r.1 == "failed").expect("a failure");
    assert!(
        failure.2.as_str().is_some_and(|d| !d.is_empty()),
        "a failure without a reason: {stored:?}"
    );
}
