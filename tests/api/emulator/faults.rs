//! Injected faults: failures, delays, and lost answers.

use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::spawn_emulator;

#[tokio::test]
async fn a_503_fault_fails_the_next_matching_calls_then_clears() {
    let app = spawn_emulator().await;
    let added = app
        .control(
            "/emulator/v1/faults",
            json!({"method": "get", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(added.status, 204);

    let listed = app.get(&app.invitations("")).await;
    let first = app.get_invitation("ada@example.com").await;
    let second = app.get_invitation("ada@example.com").await;
    let third = app.get_invitation("ada@example.com").await;

    assert_eq!(listed.status, 200, "a fault for get leaves list alone");
    first.assert_google_error(503, "UNAVAILABLE");
    second.assert_google_error(503, "UNAVAILABLE");
    assert_eq!(third.status, 200);
}

#[tokio::test]
async fn a_429_fault_carries_retry_after_and_retry_info() {
    let app = spawn_emulator().await;
    app.control(
        "/emulator/v1/faults",
        json!({"status": 429, "count": 1, "retryAfterSecs": 2}),
    )
    .await;

    let reply = app.get(&app.invitations("")).await;

    reply.assert_google_error(429, "RESOURCE_EXHAUSTED");
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_eq!(
        reply.body["error"]["details"][1],
        json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"})
    );
}

#[tokio::test]
async fn an_after_apply_fault_sends_once_and_loses_the_answer() {
    let app = spawn_emulator().await;
    app.control(
        "/emulator/v1/faults",
        json!({"method": "send", "status": 504, "count": 1, "afterApply": true}),
    )
    .await;

    let reply = app.send("donald@example.com").await;

    reply.assert_google_error(504, "DEADLINE_EXCEEDED");
    let donald = app.get_invitation("donald@example.com").await;
    assert_eq!(donald.body["state"], json!("INVITED"));
    assert_eq!(donald.body["mailsSentCount"], json!("1"));
    assert_eq!(
        app.stats().await["mailsSent"],
        json!({"donald@example.com": 1})
    );
}

#[tokio::test]
async fn a_fault_before_apply_changes_nothing() {
    let app = spawn_emulator().await;
    app.control(
        "/emulator/v1/faults",
        json!({"method": "send", "status": 500, "count": 1}),
    )
    .await;

    app.send("donald@example.com")
        .await
        .assert_google_error(500, "INTERNAL");

    assert_eq!(
        app.get_invitation("donald@example.com").await.body["state"],
        json!("NOT_YET_SENT")
    );
    assert_eq!(app.stats().await["mailsSent"], json!({}));
}

#[tokio::test]
async fn a_fault_without_status_only_delays() {
    let app = spawn_emulator().await;
    app.control("/emulator/v1/faults", json!({"count": 1, "latencyMs": 80}))
        .await;

    let started = Instant::now();
    let reply = app.is_invitable("ada@example.com").await;

    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(80));
}

#[tokio::test]
async fn rules_are_consumed_in_order() {
    let app = spawn_emulator().await;
    app.control("/emulator/v1/faults", json!({"status": 503, "count": 1}))
        .await;
    app.control("/emulator/v1/faults", json!({"status": 500, "count": 1}))
        .await;

    let first = app.get(&app.invitations("")).await;
    let second = app.get(&app.invitations("")).await;

    assert_eq!((first.status, second.status), (503, 500));
}

#[tokio::test]
async fn deleting_faults_clears_every_rule() {
    let app = spawn_emulator().await;
    app.control("/emulator/v1/faults", json!({"status": 503, "count": 10}))
        .await;

    let deleted = app
        .http
        .delete(app.url("/emulator/v1/faults"))
        .send()
        .await
        .expect("answers");

    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(app.get(&app.invitations("")).await.status, 200);
}

#[tokio::test]
async fn a_token_endpoint_fault_fails_the_exchange() {
    let app = spawn_emulator().await;
    app.control(
        "/emulator/v1/faults",
        json!({"method": "token", "status": 503, "count": 1}),
    )
    .await;

    let reply = app
        .exchange(&app.sign(&app.claims(invitation_gateway::emulator::USERINVITATIONS_SCOPE)))
        .await;

    assert_eq!(reply.status, 503);
}

#[tokio::test]
async fn invalid_fault_rules_are_rejected() {
    let app = spawn_emulator().await;

    for rule in [
        json!({"status": 200, "count": 1}),
        json!({"status": 503, "count": 0}),
        json!({"method": "delete", "count": 1}),
        json!({"status": 503}),
    ] {
        app.control("/emulator/v1/faults", rule)
            .await
            .assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn delays_over_two_minutes_are_rejected() {
    let app = spawn_emulator().await;

    let rule = app
        .control(
            "/emulator/v1/faults",
            json!({"count": 1, "latencyMs": 120_001}),
        )
        .await;
    let latency = app
        .control("/emulator/v1/latency", json!({"ms": 120_001}))
        .await;

    rule.assert_google_error(400, "INVALID_ARGUMENT");
    latency.assert_google_error(400, "INVALID_ARGUMENT");
}
