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

#[tokio::test]
async fn a_403_fault_with_a_rate_limit_reason_is_a_quota_answer_in_google_s_shape() {
    let app = spawn_emulator().await;
    let added = app
        .control(
            "/emulator/v1/faults",
            json!({"method": "send", "status": 403, "reason": "rateLimitExceeded", "count": 1}),
        )
        .await;
    assert_eq!(added.status, 204, "{:?}", added.body);

    let reply = app.send("donald@example.com").await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
    let message = reply.body["error"]["message"].clone();
    assert_eq!(
        reply.body["error"]["errors"],
        json!([{"message": message, "domain": "usageLimits", "reason": "rateLimitExceeded"}]),
        "the legacy errors[] entry, where Google's Python client looks for it"
    );
    assert_eq!(
        reply.body["error"]["details"],
        json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "rateLimitExceeded",
            "domain": "googleapis.com",
        }])
    );
    assert_eq!(
        app.get_invitation("donald@example.com").await.body["state"],
        json!("NOT_YET_SENT"),
        "a quota answer changes nothing"
    );
}

#[tokio::test]
async fn a_chosen_reason_that_is_not_a_usage_limit_is_filed_under_global() {
    let app = spawn_emulator().await;
    app.control(
        "/emulator/v1/faults",
        json!({"status": 403, "reason": "forbidden", "count": 1, "retryAfterSecs": 1}),
    )
    .await;

    let reply = app.get(&app.invitations("")).await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
    assert_eq!(reply.body["error"]["errors"][0]["domain"], json!("global"));
    assert_eq!(
        reply.body["error"]["errors"][0]["reason"],
        json!("forbidden")
    );
    assert_eq!(
        reply.body["error"]["details"][0]["reason"],
        json!("forbidden")
    );
    assert_eq!(
        reply.body["error"]["details"][1]["@type"],
        json!("type.googleapis.com/google.rpc.RetryInfo")
    );
}

#[tokio::test]
async fn without_a_reason_a_403_fault_keeps_its_default_reason_and_has_no_errors_array() {
    let app = spawn_emulator().await;
    app.control("/emulator/v1/faults", json!({"status": 403, "count": 1}))
        .await;

    let reply = app.get(&app.invitations("")).await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
    assert_eq!(
        reply.body["error"]["details"][0]["reason"],
        json!("IAM_PERMISSION_DENIED")
    );
    assert!(
        reply.body["error"].get("errors").is_none(),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn invalid_fault_reasons_are_rejected() {
    let app = spawn_emulator().await;

    for rule in [
        json!({"status": 403, "reason": "", "count": 1}),
        json!({"status": 403, "reason": "rate limit", "count": 1}),
        json!({"status": 403, "reason": "rate\u{7}Limit", "count": 1}),
        json!({"status": 403, "reason": "r\u{e9}sum\u{e9}", "count": 1}),
        json!({"status": 403, "reason": "x".repeat(64), "count": 1}),
        json!({"status": 403, "reason": 7, "count": 1}),
        json!({"reason": "rateLimitExceeded", "count": 1}),
    ] {
        let reply = app.control("/emulator/v1/faults", rule.clone()).await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
        assert!(reply.body["error"]["message"].is_string(), "{rule}");
    }
    let longest = app
        .control(
            "/emulator/v1/faults",
            json!({"status": 403, "reason": "x".repeat(63), "count": 1}),
        )
        .await;
    assert_eq!(longest.status, 204, "{:?}", longest.body);
    assert_eq!(
        app.get(&app.invitations("")).await.body["error"]["details"][0]["reason"],
        json!("x".repeat(63))
    );
}
