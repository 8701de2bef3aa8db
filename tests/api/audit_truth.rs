//! The audit trail tells the truth: a send cut off before its outcome could be known answers
//! and audits `unknown` (never `failed`) and is settled later; a campaign's wait for a Google
//! budget slot is no record at all; the store and the file hold the same records, each with
//! its reason.

use crate::helpers::{TestApp, admin_token, spawn_app_with, spawn_google, test_settings, token};
use invitation_gateway::auth::Scope;
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::Seed;
use invitation_gateway::startup::Application;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

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
    // settle it fails too (as when shutdown cuts it off).
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "latencyMs": 300, "afterApply": true}),
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
    let mut started = false;
    for _ in 0..500 {
        if app.calls("send").await == 1 {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started, "the send reached Google");
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 100}),
    )
    .await;
    let body = send.await.expect("the request task");
    app.client
        .delete(format!("{}/emulator/v1/faults", app.google.emulator.url()))
        .send()
        .await
        .expect("the emulator answers");

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
