use crate::helpers::{assert_problem, spawn_app};
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

    let body = assert_problem(app.get("/readyz").await, 503, "not_ready").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("credentials: failed"),
        "{body}"
    );
}
