//! End to end with a misbehaving Google: about a fifth of all calls fail (503, 429 with
//! Retry-After, answers lost after the call took effect) and every call is slow. Batches still
//! end with every eligible person mailed exactly once, every outcome right, every item audited.

use crate::helpers::{TestApp, TestGoogle, spawn_app_with, spawn_google, test_settings, token};
use invitation_gateway::auth::Scope;
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

/// 100 addresses: 80 invitable, 10 already invited, 5 managed, 5 unknown to Google.
fn scenario() -> (Seed, Vec<String>, BTreeMap<String, &'static str>) {
    let mut accounts = Vec::new();
    let mut emails = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 0..100 {
        let email = format!("employee{i:03}@example.com");
        let (state, outcome) = match i {
            0..80 => (Some(State::NotYetSent), "sent"),
            80..90 => (Some(State::Invited), "already_invited"),
            90..95 => (Some(State::Accepted), "already_accepted"),
            _ => (None, "not_eligible"),
        };
        if let Some(state) = state {
            accounts.push(SeedAccount::new(email.clone(), Some(state)));
        }
        expected.insert(email.clone(), outcome);
        emails.push(email);
    }
    (Seed::Accounts(accounts), emails, expected)
}

/// Settings for a Google that fails about one call in five.
///
/// With the default four attempts, an item whose every attempt lands on a fault fails: at a
/// fault rate of 2/15 per attempt that is about 3e-4 per item, a few percent per 100-item batch,
/// which is a flaky test, not a finding. Eight attempts (1e-7 per item) and a deadline that fits
/// several one-second `Retry-After` waits make the outcome certain, whatever the machine's load.
fn settings_for_faults(google: &TestGoogle) -> Settings {
    let mut settings = test_settings(google);
    settings.google.retry.max_attempts = NonZeroU32::new(8).expect("not zero");
    settings.google.timeouts.total = Duration::from_secs(30);
    // Wide fan-out, so the one-second Retry-After waits overlap instead of adding up.
    settings.invitations.batch_concurrency =
        std::num::NonZeroUsize::new(25).expect("25 is not zero");
    settings
}

/// About a fifth of calls fail: each rule takes every 15th call the rules before it passed on.
async fn misbehave(app: &TestApp) {
    app.control("latency", json!({"ms": 10})).await;
    for rule in [
        json!({"status": 503, "count": 10_000, "every": 15}),
        json!({"status": 429, "count": 10_000, "every": 15, "retryAfterSecs": 1}),
        json!({"method": "send", "status": 503, "count": 10_000, "every": 4, "afterApply": true}),
    ] {
        app.control("faults", rule).await;
    }
}

#[tokio::test]
async fn a_send_batch_through_faults_mails_every_eligible_person_exactly_once() {
    let (seed, emails, expected) = scenario();
    let google = spawn_google(seed).await;
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");
    let mut settings = settings_for_faults(&google);
    settings.audit.file = Some(audit_file.clone());
    let app = spawn_app_with(google, settings).await;
    misbehave(&app).await;

    let answer = app
        .post_json(
            "/v1/invitations/send",
            &token(&[Scope::Send]),
            json!({ "emails": emails }),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    for (result, email) in results.iter().zip(&emails) {
        assert_eq!(result["email"], email.as_str(), "input order");
        assert_eq!(result["outcome"], expected[email], "{result}");
    }
    let stats = app.stats().await;
    let mails = stats["mailsSent"].as_object().unwrap();
    assert_eq!(
        mails.len(),
        80,
        "every eligible person, and no one else: {stats}"
    );
    assert!(
        mails.values().all(|n| n == 1),
        "each exactly once: {mails:?}"
    );
    let faults_hit =
        stats["calls"]["get"].as_u64().unwrap() + stats["calls"]["send"].as_u64().unwrap();
    assert!(
        faults_hit > 100 + 80,
        "faults forced retries and reconciliation: {stats}"
    );

    let records: Vec<Value> = std::fs::read_to_string(&audit_file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 100, "one audit record per item");
    for record in &records {
        let email = record["email"].as_str().unwrap();
        assert_eq!(record["outcome"], expected[email], "{record}");
        assert_eq!(record["caller_sub"], crate::helpers::CALLER);
    }
}

#[tokio::test]
async fn a_check_batch_through_faults_answers_every_address_correctly() {
    let (seed, emails, expected) = scenario();
    let google = spawn_google(seed).await;
    let settings = settings_for_faults(&google);
    let app = spawn_app_with(google, settings).await;
    misbehave(&app).await;

    let answer = app
        .post_json(
            "/v1/eligibility/check",
            &token(&[Scope::Check]),
            json!({ "emails": emails }),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    for (result, email) in answer.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&emails)
    {
        let invitable = matches!(expected[email], "sent" | "already_invited");
        assert_eq!(result["eligible"], invitable, "{result}");
    }
    assert!(
        app.calls("isInvitableUser").await > 100,
        "faults forced retries"
    );
}
