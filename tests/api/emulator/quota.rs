//! The project quota: calls of the five User Invitation methods per minute, as Google counts
//! them, and the 429 past it.

use invitation_gateway::emulator::EmulatorSettings;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{Reply, TestEmulator, spawn_emulator, spawn_with};

async fn with_quota(per_minute: u32) -> TestEmulator {
    spawn_with(EmulatorSettings {
        quota_per_minute: Some(per_minute),
        ..EmulatorSettings::default()
    })
    .await
}

#[track_caller]
fn assert_quota_exceeded(reply: &Reply) {
    reply.assert_google_error(429, "RESOURCE_EXHAUSTED");
    assert_eq!(
        reply.body["error"]["details"][0],
        json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
        })
    );
    assert!(
        reply.headers.get("retry-after").is_none(),
        "Google sends no Retry-After for quota"
    );
}

#[tokio::test]
async fn calls_past_the_quota_are_resource_exhausted_rate_limit_exceeded() {
    let app = with_quota(3).await;

    let listed = app.get(&app.invitations("")).await;
    let got = app.get_invitation("ada@example.com").await;
    let checked = app.is_invitable("grace+hr@example.com").await;
    let refused = app.send("grace+hr@example.com").await;
    let again = app.get(&app.invitations("")).await;

    assert_eq!((listed.status, got.status, checked.status), (200, 200, 200));
    assert_quota_exceeded(&refused);
    assert_quota_exceeded(&again);
    let stats = app.stats().await;
    assert_eq!(stats["quotaRejections"], json!(2));
    assert_eq!(stats["quotaPerMinute"], json!(3));
    assert_eq!(stats["mailsSent"], json!({}), "a refused send mails no one");
    assert_eq!(
        stats["calls"]["send"],
        json!(1),
        "refused calls still count as calls"
    );
}

#[tokio::test]
async fn token_control_and_unauthenticated_calls_use_no_quota() {
    let app = with_quota(1).await;
    for _ in 0..3 {
        app.own_token("https://www.googleapis.com/auth/cloud-platform")
            .await;
        app.stats().await;
        let anonymous = app.get_as(&app.invitations(""), None).await;
        anonymous.assert_google_error(401, "UNAUTHENTICATED");
    }

    assert_eq!(app.get(&app.invitations("")).await.status, 200);
    assert_quota_exceeded(&app.get(&app.invitations("")).await);
}

#[tokio::test]
async fn the_in_process_emulator_has_no_quota_unless_asked() {
    let app = spawn_emulator().await;
    for _ in 0..70 {
        assert_eq!(app.get_invitation("ada@example.com").await.status, 200);
    }
    let stats = app.stats().await;
    assert_eq!(stats["quotaPerMinute"], Value::Null);
    assert_eq!(stats["quotaRejections"], json!(0));
}

#[tokio::test]
async fn the_control_api_sets_and_lifts_the_quota() {
    let app = spawn_emulator().await;

    let set = app
        .control("/emulator/v1/quota", json!({"perMinute": 2}))
        .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    assert_eq!(app.get(&app.invitations("")).await.status, 200);
    assert_eq!(app.get(&app.invitations("")).await.status, 200);
    assert_quota_exceeded(&app.get(&app.invitations("")).await);

    let lifted = app
        .control("/emulator/v1/quota", json!({"perMinute": null}))
        .await;
    assert_eq!(lifted.status, 204);
    assert_eq!(app.get(&app.invitations("")).await.status, 200);

    for bad in [
        json!({"perMinute": 0}),
        json!({"perMinute": -1}),
        json!({"perMinute": "60"}),
        json!({}),
        json!({"perMinute": 5, "burst": 1}),
    ] {
        app.control("/emulator/v1/quota", bad)
            .await
            .assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn reset_restores_the_started_quota_and_clears_its_count() {
    let app = with_quota(1).await;
    assert_eq!(app.get(&app.invitations("")).await.status, 200);
    assert_quota_exceeded(&app.get(&app.invitations("")).await);
    app.control("/emulator/v1/quota", json!({"perMinute": 100}))
        .await;

    let reset = app.control("/emulator/v1/reset", json!({})).await;

    assert_eq!(reset.status, 204);
    let stats = app.stats().await;
    assert_eq!(stats["quotaPerMinute"], json!(1));
    assert_eq!(stats["quotaRejections"], json!(0));
    assert_eq!(
        app.get(&app.invitations("")).await.status,
        200,
        "a reset opens a new window"
    );
    assert_quota_exceeded(&app.get(&app.invitations("")).await);
}
