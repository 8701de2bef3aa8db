use crate::helpers::spawn_app;

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_answer_gets_a_fresh_request_id() {
    let app = spawn_app().await;
    let first = request_id(&app.get("/livez").await);
    let second = request_id(&app.get("/livez").await);
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_plain_caller_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/livez", app.address))
        .header("x-request-id", "hr-sync.2026-11-22_0001")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&response), "hr-sync.2026-11-22_0001");
}

#[tokio::test]
async fn an_unsafe_caller_request_id_is_replaced() {
    let app = spawn_app().await;
    for bad in ["has space", "quote\"d", &"x".repeat(65), "ada@example.com"] {
        let response = app
            .client
            .get(format!("{}/nowhere", app.address))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = request_id(&response);
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["requestId"], id.as_str());
    }
}
