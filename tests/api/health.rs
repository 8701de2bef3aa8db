use crate::helpers::{assert_problem, spawn_app, spawn_app_tuned};
use invitation_gateway::readiness::CheckState;

#[tokio::test]
async fn livez_answers_alive() {
    let app = spawn_app().await;
    let response = app.get("/livez").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "alive");
}

#[tokio::test]
async fn readyz_is_ready_once_a_token_was_obtained_and_caller_keys_loaded() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readyz_names_failed_credentials() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    app.control("delegation", serde_json::json!({"authorizedScopes": []}))
        .await;
    app.control("tokens/revoke", serde_json::json!({})).await;
    let _ = app
        .state
        .google
        .get("ada@example.com", &app.state.google.context(None))
        .await;

    let response = app.get("/readyz").await;
    // Documented in the OpenAPI document, like every 503.
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 503, "not_ready").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("credentials: failed"),
        "{body}"
    );
}

#[tokio::test]
async fn readyz_fails_while_draining_and_livez_stays_alive() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);

    app.state.readiness.start_draining();

    let body = assert_problem(app.get("/readyz").await, 503, "not_ready").await;
    assert!(
        body["detail"].as_str().unwrap().contains("draining"),
        "{body}"
    );
    assert_eq!(app.get("/livez").await.status().as_u16(), 200);
}

#[tokio::test]
async fn readyz_waits_for_the_caller_keys_of_a_jwks_that_cannot_be_fetched() {
    let app = spawn_app_tuned(|settings| {
        settings.jwt.hs256_secret = None;
        // Nothing listens on the discard port: the JWKS never loads.
        settings.jwt.jwks_url = Some("http://127.0.0.1:9/jwks.json".into());
    })
    .await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);

    let body = assert_problem(app.get("/readyz").await, 503, "not_ready").await;

    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("caller_keys: pending"),
        "{body}"
    );
}
