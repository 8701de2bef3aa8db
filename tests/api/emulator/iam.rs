//! IAM signJwt: keyless delegation through the emulator.

use invitation_gateway::emulator::{CLOUD_PLATFORM_SCOPE, USERINVITATIONS_SCOPE};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{TestEmulator, spawn_emulator};

fn sign_jwt_url(app: &TestEmulator, account: &str) -> String {
    app.url(&format!("/v1/projects/-/serviceAccounts/{account}:signJwt"))
}

fn payload_body(app: &TestEmulator) -> String {
    json!({"payload": app.claims(USERINVITATIONS_SCOPE).to_string()}).to_string()
}

#[tokio::test]
async fn a_jwt_signed_by_iam_is_exchanged_at_the_token_endpoint() {
    let app = spawn_emulator().await;
    let own = app.own_token(CLOUD_PLATFORM_SCOPE).await;

    let signed = app
        .post_as(
            &sign_jwt_url(&app, &app.client_email()),
            Some(&own),
            &payload_body(&app),
        )
        .await;

    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["keyId"], json!(app.private_key_id()));
    let jwt = signed.body["signedJwt"].as_str().expect("signedJwt");
    let header = jsonwebtoken::decode_header(jwt).expect("a JWT");
    assert_eq!(header.kid, Some(app.private_key_id()));
    let exchanged = app.exchange(jwt).await;
    assert_eq!(exchanged.status, 200, "{:?}", exchanged.body);
    let token = exchanged.body["access_token"].as_str().expect("token");
    assert_eq!(
        app.get_as(&app.invitations(""), Some(token)).await.status,
        200
    );
    assert_eq!(app.stats().await["calls"]["signJwt"], json!(1));
}

#[tokio::test]
async fn the_account_may_be_percent_encoded_in_the_path() {
    let app = spawn_emulator().await;
    let own = app.own_token(CLOUD_PLATFORM_SCOPE).await;
    let encoded = app.client_email().replace('@', "%40");

    let reply = app
        .post_as(
            &sign_jwt_url(&app, &encoded),
            Some(&own),
            &payload_body(&app),
        )
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn sign_jwt_needs_a_cloud_platform_token() {
    let app = spawn_emulator().await;
    let url = sign_jwt_url(&app, &app.client_email());

    app.post_as(&url, None, &payload_body(&app))
        .await
        .assert_google_error(401, "UNAUTHENTICATED");
    app.post_as(&url, Some(&app.token), &payload_body(&app))
        .await
        .assert_google_error(403, "PERMISSION_DENIED");
}

#[tokio::test]
async fn signing_for_another_account_is_permission_denied() {
    let app = spawn_emulator().await;
    let own = app.own_token(CLOUD_PLATFORM_SCOPE).await;

    let reply = app
        .post_as(
            &sign_jwt_url(&app, "other@emulator-project.iam.gserviceaccount.com"),
            Some(&own),
            &payload_body(&app),
        )
        .await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
}

#[tokio::test]
async fn the_payload_must_be_a_json_object_string() {
    let app = spawn_emulator().await;
    let own = app.own_token(CLOUD_PLATFORM_SCOPE).await;
    let url = sign_jwt_url(&app, &app.client_email());

    for body in [
        json!({"payload": "[1]"}),
        json!({"payload": "nope"}),
        json!({"payload": {}}),
        json!({}),
        Value::Null,
    ] {
        let reply = app.post_as(&url, Some(&own), &body.to_string()).await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}
