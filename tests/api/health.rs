use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn livez_answers_alive() {
    let app = spawn_app().await;
    let response = app.get("/livez").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "alive");
}

#[tokio::test]
async fn readyz_is_not_ready_until_credentials_and_caller_keys_are_ready() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 503, "not_ready").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("credentials"), "{detail}");
}
