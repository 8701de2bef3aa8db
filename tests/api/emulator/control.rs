//! The control API: accounts, stats, latency, reset.

use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::spawn_emulator;

#[tokio::test]
async fn added_account_is_unmanaged_and_visible() {
    let app = spawn_emulator().await;

    let reply = app
        .control(
            "/emulator/v1/accounts",
            json!({"email": "Zoe+Eng@example.com"}),
        )
        .await;

    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["email"], json!("Zoe+Eng@example.com"));
    assert_eq!(reply.body["state"], json!("NOT_YET_SENT"));
    assert_eq!(
        app.is_invitable("zoe+eng@example.com").await.body,
        json!({"isInvitableUser": true})
    );
    let got = app.get_invitation("zoe%2Beng%40example.com").await;
    assert_eq!(
        got.body["name"],
        json!("customers/C0demo000/userinvitations/Zoe+Eng@example.com")
    );
}

#[tokio::test]
async fn added_recent_account_with_a_state_is_hidden_from_get() {
    let app = spawn_emulator().await;

    let reply = app
        .control(
            "/emulator/v1/accounts",
            json!({"email": "new@example.com", "state": "DECLINED", "recent": true}),
        )
        .await;

    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["state"], json!("DECLINED"));
    assert_eq!(reply.body["mailsSentCount"], json!(1));
    app.get_invitation("new@example.com")
        .await
        .assert_google_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn adding_an_existing_address_is_a_conflict() {
    let app = spawn_emulator().await;

    let reply = app
        .control("/emulator/v1/accounts", json!({"email": "ADA@example.com"}))
        .await;

    assert_eq!(reply.status, 409);
}

#[tokio::test]
async fn bad_control_bodies_are_google_errors() {
    let app = spawn_emulator().await;

    for body in [
        json!({"email": "no-at"}),
        json!({"email": "a@b.c", "colour": 1}),
        json!([1]),
    ] {
        app.control("/emulator/v1/accounts", body)
            .await
            .assert_google_error(400, "INVALID_ARGUMENT");
    }
    // A wrong verb is Google's 404 "Method not found." here too (no 405 at Google).
    let reply = app.get_as(&app.url("/emulator/v1/accounts"), None).await;
    reply.assert_google_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn accepting_makes_the_account_managed() {
    let app = spawn_emulator().await;

    let reply = app
        .control(
            "/emulator/v1/accounts/accept",
            json!({"email": "ada@example.com"}),
        )
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        app.get_invitation("ada@example.com").await.body["state"],
        json!("ACCEPTED")
    );
    assert_eq!(app.is_invitable("ada@example.com").await.body, json!({}));
    app.send("ada@example.com")
        .await
        .assert_google_error(400, "FAILED_PRECONDITION");
}

#[tokio::test]
async fn declining_leaves_the_account_invitable() {
    let app = spawn_emulator().await;

    let reply = app
        .control(
            "/emulator/v1/accounts/decline",
            json!({"email": "ada@example.com"}),
        )
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        app.get_invitation("ada@example.com").await.body["state"],
        json!("DECLINED")
    );
    assert_eq!(
        app.is_invitable("ada@example.com").await.body,
        json!({"isInvitableUser": true})
    );
}

#[tokio::test]
async fn only_a_pending_invitation_can_be_answered() {
    let app = spawn_emulator().await;

    let not_invited = app
        .control(
            "/emulator/v1/accounts/accept",
            json!({"email": "donald@example.com"}),
        )
        .await;
    let unknown = app
        .control(
            "/emulator/v1/accounts/decline",
            json!({"email": "nobody@example.com"}),
        )
        .await;

    assert_eq!(not_invited.status, 409);
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn stats_count_every_routed_call_even_when_it_fails() {
    let app = spawn_emulator().await;

    app.get_as(&app.invitations(""), None).await;
    app.get(&app.invitations("")).await;
    app.get_invitation("nobody@example.com").await;
    app.is_invitable("ada@example.com").await;
    app.send("ada@example.com").await;
    app.send("ada@example.com").await;
    app.cancel("ada@example.com").await;

    let stats = app.stats().await;
    assert_eq!(
        stats["calls"],
        json!({"list": 2, "get": 1, "isInvitableUser": 1, "send": 2, "cancel": 1, "token": 1, "signJwt": 0})
    );
    assert_eq!(stats["mailsSent"], json!({"ada@example.com": 2}));
    assert_eq!(stats["tokenGrants"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn latency_slows_every_invitation_call() {
    let app = spawn_emulator().await;
    let set = app.control("/emulator/v1/latency", json!({"ms": 60})).await;
    assert_eq!(set.status, 204);

    let started = Instant::now();
    let reply = app.get_invitation("ada@example.com").await;

    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn reset_restores_the_seed_but_keeps_tokens_valid() {
    let app = spawn_emulator().await;
    app.send("donald@example.com").await;
    app.control("/emulator/v1/accounts", json!({"email": "zoe@example.com"}))
        .await;
    app.control("/emulator/v1/faults", json!({"status": 503, "count": 5}))
        .await;
    app.control("/emulator/v1/latency", json!({"ms": 5000}))
        .await;

    let reply = app.control("/emulator/v1/reset", json!({})).await;

    assert_eq!(reply.status, 204);
    let donald = app.get_invitation("donald@example.com").await;
    assert_eq!(
        donald.status, 200,
        "the token still works and no fault or latency remains"
    );
    assert_eq!(donald.body["state"], json!("NOT_YET_SENT"));
    assert_eq!(app.is_invitable("zoe@example.com").await.body, json!({}));
    let stats = app.stats().await;
    assert_eq!(stats["mailsSent"], json!({}));
    assert_eq!(stats["calls"]["send"], json!(0));
}
