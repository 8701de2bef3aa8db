//! Requests wrong as a whole get a 4xx problem document and nothing reaches Google; every
//! operation of the OpenAPI document requires its scope (deny by default).

use crate::helpers::{Answer, TestApp, admin_token, spawn_app, token};
use invitation_gateway::auth::Scope;
use invitation_gateway::routes::openapi::document;
use invitation_gateway::routes::security::declared_scopes;
use reqwest::Method;
use serde_json::json;

const BATCH_PATHS: [&str; 4] = [
    "/v1/eligibility/check",
    "/v1/invitations/lookup",
    "/v1/invitations/send",
    "/v1/invitations/cancel",
];

async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: &str) -> Answer {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(admin_token())
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn malformed_batches_are_refused_whole_and_reach_nobody() {
    let app = spawn_app().await;
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("p{i}@example.com")).collect();
    let oversized = format!("{{\"emails\": [\"{}\"]}}", "a".repeat(20_000));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "application/json",
            "{\"emails\": [".into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"emails\": \"ada@example.com\"}".into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"emails\": [1, 2]}".into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            "{\"emails\": [\"ada@example.com\"], \"sendAll\": true}".into(),
            400,
            "invalid_request",
        ),
        ("application/json", "{}".into(), 400, "invalid_request"),
        (
            "application/json",
            "{\"emails\": []}".into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            json!({ "emails": hundred_and_one }).to_string(),
            400,
            "too_many_emails",
        ),
        (
            "application/json",
            "{\"emails\": [\"ada@example.com\", \"ADA@example.com\"]}".into(),
            400,
            "duplicate_emails",
        ),
        ("application/json", oversized, 413, "payload_too_large"),
        (
            "text/plain",
            "{\"emails\": [\"ada@example.com\"]}".into(),
            415,
            "unsupported_media_type",
        ),
    ];
    for path in BATCH_PATHS {
        for (content_type, body, status, code) in &cases {
            let answer = post_raw(&app, path, content_type, body).await;
            assert_eq!(answer.status, *status, "{path} {body:.60}: {}", answer.body);
            assert_eq!(answer.body["code"], *code, "{path} {body:.60}");
            assert!(
                !answer.body.to_string().contains("ada@example.com"),
                "the body echoes an address: {}",
                answer.body
            );
        }
    }
    assert_eq!(app.google_calls().await, 0, "nothing reached Google");
}

#[tokio::test]
async fn bad_query_values_are_refused_and_reach_nobody() {
    let app = spawn_app().await;
    for query in [
        "state=SOMETHING",
        "orderBy=email%2CupdateTime",
        "orderBy=update_time",
        "pageSize=0",
        "pageSize=201",
        "pageSize=ten",
        "pageSize=1&pageSize=2",
        "email=ada@example.com",
    ] {
        let answer = app
            .get_as(&format!("/v1/invitations?{query}"), &admin_token())
            .await;
        answer.assert_problem(400, "invalid_query");
    }
    let export = app
        .get_as("/v1/invitations/export?pageSize=5", &admin_token())
        .await;
    export.assert_problem(400, "invalid_query");
    assert_eq!(app.google_calls().await, 0);
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/invitations/send", app.address))
        .bearer_auth(admin_token())
        .header("idempotency-key", "x".repeat(256))
        .json(&json!({"emails": ["john@example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(app.google_calls().await, 0);
}

/// What to send to an operation so that only authorisation can refuse it, for a caller that
/// holds `scope` (creating a campaign: a real run for `invitations.send`, a dry run otherwise).
/// The body of one walked request.
enum WalkBody {
    Json(serde_json::Value),
    Csv(&'static str),
}

fn request_for(method: &str, path: &str, scope: Scope) -> (Method, String, Option<WalkBody>) {
    let dry_run = scope != Scope::Send;
    match method {
        "post" if path == "/v1/campaigns" => (
            Method::POST,
            path.to_owned(),
            Some(WalkBody::Json(
                json!({"name": "scope walk", "dryRun": dry_run,
                        "startAt": "2099-01-01T00:00:00Z",
                        "source": {"emails": ["ada@example.com"]}}),
            )),
        ),
        "post" if path == "/v1/campaigns/roster" => (
            Method::POST,
            format!("{path}?name=scope%20walk&dryRun={dry_run}&startAt=2099-01-01T00:00:00Z"),
            Some(WalkBody::Csv("email\nada@example.com\n")),
        ),
        "post" if path == "/v1/people/lookup" => (
            Method::POST,
            path.to_owned(),
            Some(WalkBody::Json(json!({"email": "ada@example.com"}))),
        ),
        "post" if path.ends_with("/run") => (
            Method::POST,
            path.to_owned(),
            Some(WalkBody::Json(json!({}))),
        ),
        "post" => (
            Method::POST,
            path.to_owned(),
            Some(WalkBody::Json(json!({"emails": ["ada@example.com"]}))),
        ),
        "get" => (Method::GET, path.to_owned(), None),
        other => panic!("no request for {other} {path}"),
    }
}

#[tokio::test]
async fn every_operation_requires_its_scope_and_refuses_tokens_without_it() {
    let app = spawn_app().await;
    let spec = serde_json::to_value(document()).unwrap();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, _) in operations.as_object().unwrap() {
            let operation = document().paths.paths[path.as_str()].clone();
            let operation = match method.as_str() {
                "get" => operation.get,
                "post" => operation.post,
                _ => None,
            }
            .unwrap_or_else(|| panic!("{method} {path} in the document"));
            let scopes = declared_scopes(&operation);
            if !path.starts_with("/v1/") {
                assert!(scopes.is_empty(), "{path} is a public probe");
                continue;
            }
            // Several declared scopes are alternatives: any one of them admits the caller.
            let admitted: Vec<Scope> = scopes
                .iter()
                .map(|name| Scope::parse(name).expect("a known scope"))
                .collect();
            assert!(!admitted.is_empty(), "{method} {path} names a scope");
            let others: Vec<Scope> = Scope::ALL
                .into_iter()
                .filter(|s| !admitted.contains(s))
                .collect();
            let names = scopes.join(" ");

            // A campaign of the test caller's, in a state the operation accepts.
            let path = &if path.contains("{id}") {
                // A run, an archive and an unarchive need a completed dry run; the others a real
                // campaign not started.
                let run = ["/run", "/archive", "/unarchive"]
                    .iter()
                    .any(|end| path.ends_with(end));
                let body = if run {
                    json!({"name": "walked", "dryRun": true,
                           "source": {"emails": ["ada@example.com"]}})
                } else {
                    json!({"name": "walked", "startAt": "2099-01-01T00:00:00Z",
                           "source": {"emails": ["ada@example.com"]}})
                };
                let created = app.post_json("/v1/campaigns", &admin_token(), body).await;
                let id = created.body["id"].as_str().expect("created").to_owned();
                if run {
                    crate::helpers::campaign_completed(&app.address, &id).await;
                }
                // A campaign without a deadline is resolved once finished.
                if path.ends_with("/resolution") {
                    app.post_json(
                        &format!("/v1/campaigns/{id}/cancel"),
                        &admin_token(),
                        json!({}),
                    )
                    .await;
                }
                if path.ends_with("/resume") {
                    app.post_json(
                        &format!("/v1/campaigns/{id}/pause"),
                        &admin_token(),
                        json!({}),
                    )
                    .await;
                }
                path.replace("{id}", &id)
            } else {
                path.clone()
            };
            let send = |scope: Scope, bearer: Option<String>| {
                let (http_method, target, body) = request_for(method, path, scope);
                let mut request = app
                    .client
                    .request(http_method, format!("{}{target}", app.address));
                if let Some(bearer) = bearer {
                    request = request.bearer_auth(bearer);
                }
                match &body {
                    Some(WalkBody::Json(body)) => request = request.json(body),
                    Some(WalkBody::Csv(csv)) => {
                        request = request.header("content-type", "text/csv").body(*csv);
                    }
                    None => {}
                }
                request.send()
            };

            let anonymous = send(admitted[0], None).await.unwrap();
            assert_eq!(
                anonymous.status().as_u16(),
                401,
                "{method} {path} without a token"
            );
            // No credentials: a challenge without an error code (RFC 6750 section 3.1).
            assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

            let without = send(admitted[0], Some(token(&others))).await.unwrap();
            assert_eq!(
                without.status().as_u16(),
                403,
                "{method} {path} without {names}"
            );
            let challenge = without.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                challenge.contains(&format!("scope=\"{names}\"")),
                "{challenge}"
            );

            for required in admitted {
                let with = send(required, Some(token(&[required]))).await.unwrap();
                assert!(
                    with.status().is_success(),
                    "{method} {path} with {required}: {}",
                    with.status()
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 27, "every /v1 operation was walked");
}
