use crate::helpers::{assert_problem, spawn_app};
use reqwest::Method;

#[tokio::test]
async fn unknown_path_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.get("/v1/nothing/here").await;
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_a_405_problem() {
    let app = spawn_app().await;
    let response = app.request(Method::DELETE, "/livez", None).await;
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn wrong_method_on_swagger_ui_is_a_405_problem() {
    let app = spawn_app().await;
    let response = app.request(Method::POST, "/swagger-ui/", None).await;
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn problem_bodies_never_echo_the_raw_path() {
    let app = spawn_app().await;
    let response = app.get("/v1/invitations/ada@example.com").await;
    let body = assert_problem(response, 404, "not_found").await;
    assert!(!body.to_string().contains("ada@example.com"));
}
