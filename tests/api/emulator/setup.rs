//! Setup problems: the emulator answers each mistake of Google's setup as Google does.

use invitation_gateway::emulator::{USERINVITATIONS_READONLY_SCOPE, USERINVITATIONS_SCOPE};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{TestEmulator, spawn_emulator};

async fn play(app: &TestEmulator, problem: &str) {
    let reply = app
        .control("/emulator/v1/setup", json!({ "problem": problem }))
        .await;
    assert_eq!(reply.status, 204, "{problem}: {:?}", reply.body);
}

/// The token endpoint's answer to a fresh delegated assertion for `scope`.
async fn exchange(app: &TestEmulator, scope: &str) -> (u16, Value) {
    let reply = app.exchange(&app.sign(&app.claims(scope))).await;
    (reply.status, reply.body)
}

fn oauth_error(error: &str, description: &str) -> Value {
    json!({ "error": error, "error_description": description })
}

#[tokio::test]
async fn missing_delegation_refuses_every_delegated_scope_as_unauthorized_client() {
    let app = spawn_emulator().await;
    play(&app, "delegation_missing").await;

    for scope in [USERINVITATIONS_SCOPE, USERINVITATIONS_READONLY_SCOPE] {
        let (status, body) = exchange(&app, scope).await;
        assert_eq!(status, 401);
        assert_eq!(
            body,
            oauth_error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
            )
        );
    }
}

#[tokio::test]
async fn a_missing_scope_refuses_only_the_read_write_scope() {
    let app = spawn_emulator().await;
    play(&app, "scope_missing").await;

    let (status, body) = exchange(&app, USERINVITATIONS_SCOPE).await;
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("unauthorized_client"))
    );
    let (status, _) = exchange(&app, USERINVITATIONS_READONLY_SCOPE).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unknown_admin_is_invalid_grant_invalid_email_or_user_id() {
    let app = spawn_emulator().await;
    play(&app, "admin_unknown").await;

    let (status, body) = exchange(&app, USERINVITATIONS_SCOPE).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        oauth_error("invalid_grant", "Invalid email or User ID")
    );
}

#[tokio::test]
async fn a_disabled_key_is_disabled_client() {
    let app = spawn_emulator().await;
    play(&app, "key_disabled").await;

    let (status, body) = exchange(&app, USERINVITATIONS_SCOPE).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        oauth_error("disabled_client", "The OAuth client was disabled.")
    );
}

#[tokio::test]
async fn a_skewed_clock_refuses_the_assertion_and_dates_answers_two_hours_ahead() {
    let app = spawn_emulator().await;
    play(&app, "clock_skew").await;

    let reply = app
        .exchange(&app.sign(&app.claims(USERINVITATIONS_SCOPE)))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body,
        oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
        )
    );
    let date = reply.headers["date"].to_str().unwrap();
    let date = chrono::DateTime::parse_from_rfc2822(date).unwrap();
    let ahead = date.signed_duration_since(chrono::Utc::now());
    assert!(
        ahead > chrono::TimeDelta::minutes(119) && ahead < chrono::TimeDelta::minutes(121),
        "{ahead}"
    );
}

#[tokio::test]
async fn a_disabled_api_answers_service_disabled_with_the_activation_link() {
    let app = spawn_emulator().await;
    play(&app, "api_disabled").await;

    let reply = app.get(&app.invitations("?pageSize=1")).await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
    let link = "https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=emulator-project";
    let details = reply.body["error"]["details"].as_array().unwrap();
    let info = details
        .iter()
        .find(|detail| detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .unwrap();
    assert_eq!(info["reason"], json!("SERVICE_DISABLED"));
    assert_eq!(info["metadata"]["activationUrl"], json!(link));
    assert_eq!(
        info["metadata"]["consumer"],
        json!("projects/emulator-project")
    );
    assert_eq!(
        info["metadata"]["service"],
        json!("cloudidentity.googleapis.com")
    );
    let help = details
        .iter()
        .find(|detail| detail["@type"] == "type.googleapis.com/google.rpc.Help")
        .unwrap();
    assert_eq!(help["links"][0]["url"], json!(link));
    assert_eq!(
        reply.body["error"]["errors"][0]["reason"],
        json!("accessNotConfigured")
    );
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Cloud Identity API has not been used in project emulator-project before or it is disabled."), "{message}");
}

#[tokio::test]
async fn none_restores_a_healthy_setup_and_stats_name_the_problem() {
    let app = spawn_emulator().await;
    play(&app, "delegation_missing").await;
    assert_eq!(
        app.stats().await["setupProblem"],
        json!("delegation_missing")
    );

    play(&app, "none").await;

    assert_eq!(exchange(&app, USERINVITATIONS_SCOPE).await.0, 200);
    assert_eq!(app.stats().await["setupProblem"], json!("none"));
}

#[tokio::test]
async fn an_unknown_problem_is_refused_and_changes_nothing() {
    let app = spawn_emulator().await;

    let reply = app
        .control("/emulator/v1/setup", json!({ "problem": "gremlins" }))
        .await;

    reply.assert_google_error(400, "INVALID_ARGUMENT");
    assert_eq!(app.stats().await["setupProblem"], json!("none"));
}
