//! The OpenAPI document and the handlers agree: what the document calls valid is accepted, and
//! what it calls invalid is refused. Each test pins a disagreement API fuzzing found
//! (`tests/fuzz/run.sh`), so it stays fixed without the fuzzer.

use crate::helpers::{admin_token, spawn_app};
use invitation_gateway::routes::openapi::document;
use serde_json::{Value, json};

/// The document as JSON.
fn spec() -> Value {
    serde_json::to_value(document()).expect("the document serialises")
}

/// The parameters of one operation, by name.
fn parameter(spec: &Value, method: &str, path: &str, name: &str) -> Value {
    spec["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} documents `{name}`"))
        .clone()
}

#[tokio::test]
async fn list_documents_its_query_parameters_as_the_handler_reads_them() {
    let spec = spec();
    let names: Vec<&str> = spec["paths"]["/v1/invitations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["state", "orderBy", "pageSize", "pageToken"]);

    let app = spawn_app().await;
    let first = app
        .get_as(
            "/v1/invitations?orderBy=updateTime%20desc&pageSize=2",
            &admin_token(),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let next = first.body["nextPageToken"].as_str().expect("a next page");
    let second = app
        .get_as(
            &format!("/v1/invitations?orderBy=updateTime%20desc&pageSize=2&pageToken={next}"),
            &admin_token(),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
}

#[tokio::test]
async fn every_documented_state_filter_is_accepted_and_only_those() {
    let spec = spec();
    let states: Vec<String> = spec["components"]["schemas"]["StateFilter"]["enum"]
        .as_array()
        .expect("the state filter is an enum")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["NOT_YET_SENT", "INVITED", "ACCEPTED", "DECLINED"]);
    for path in ["/v1/invitations", "/v1/invitations/export"] {
        assert_eq!(
            parameter(&spec, "get", path, "state")["schema"]["items"]["$ref"],
            "#/components/schemas/StateFilter"
        );
    }

    let app = spawn_app().await;
    for path in ["/v1/invitations", "/v1/invitations/export"] {
        for state in &states {
            let answer = app
                .get_as(&format!("{path}?state={state}"), &admin_token())
                .await;
            assert_eq!(answer.status, 200, "{path}?state={state}: {}", answer.body);
        }
        // An answer's state, and other spellings, are not filters.
        for state in ["STATE_UNSPECIFIED", "invited", "Declined"] {
            app.get_as(&format!("{path}?state={state}"), &admin_token())
                .await
                .assert_problem(400, "invalid_query");
        }
    }
}

#[tokio::test]
async fn order_by_accepts_only_the_documented_spelling() {
    let spec = spec();
    assert_eq!(
        parameter(&spec, "get", "/v1/invitations", "orderBy")["schema"]["pattern"],
        "^(email|updateTime)( (asc|desc))?$"
    );
    let app = spawn_app().await;
    for good in ["email", "email%20asc", "updateTime%20desc"] {
        let answer = app
            .get_as(&format!("/v1/invitations?orderBy={good}"), &admin_token())
            .await;
        assert_eq!(answer.status, 200, "{good}: {}", answer.body);
    }
    for bad in [
        "email%20%20desc",
        "%20email",
        "email%20",
        "email%09desc",
        "email%20DESC",
    ] {
        app.get_as(&format!("/v1/invitations?orderBy={bad}"), &admin_token())
            .await
            .assert_problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn distinct_invalid_strings_are_separate_items_and_only_exact_repeats_are_duplicates() {
    let spec = spec();
    assert_eq!(
        spec["components"]["schemas"]["EmailsRequest"]["properties"]["emails"]["uniqueItems"],
        true
    );
    let app = spawn_app().await;
    let answer = app
        .post_json(
            "/v1/eligibility/check",
            &admin_token(),
            json!({"emails": ["", " ", "nope", "NOPE"]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let codes: Vec<&Value> = answer.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["error"]["code"])
        .collect();
    assert_eq!(codes, ["invalid_email"; 4]);

    app.post_json(
        "/v1/eligibility/check",
        &admin_token(),
        json!({"emails": ["nope", "nope"]}),
    )
    .await
    .assert_problem(400, "duplicate_emails");
    // Two spellings of one valid address still name one person twice.
    app.post_json(
        "/v1/eligibility/check",
        &admin_token(),
        json!({"emails": ["ada@example.com", " Ada@EXAMPLE.com"]}),
    )
    .await
    .assert_problem(400, "duplicate_emails");
}

#[tokio::test]
async fn the_idempotency_key_is_documented_as_the_handler_checks_it() {
    let spec = spec();
    for path in ["/v1/invitations/send", "/v1/invitations/cancel"] {
        let header = parameter(&spec, "post", path, "Idempotency-Key");
        assert_eq!(header["in"], "header");
        assert_eq!(header["required"], false);
        assert_eq!(
            header["schema"],
            json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"})
        );
    }
    let app = spawn_app().await;
    for (key, status) in [
        ("k".repeat(255), 200),
        ("k".repeat(256), 400),
        ("two words".to_owned(), 400),
    ] {
        let response = app
            .client
            .post(format!("{}/v1/invitations/cancel", app.address))
            .bearer_auth(admin_token())
            .header("idempotency-key", &key)
            .json(&json!({"emails": ["nobody@example.com"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            status,
            "key of {} bytes",
            key.len()
        );
    }
}

#[tokio::test]
async fn every_event_on_the_feed_matches_exactly_one_documented_event_schema_by_its_type() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let app = spawn_app().await;
    let token = admin_token();
    let sent = app
        .post_json(
            "/v1/invitations/send",
            &token,
            json!({"emails": ["grace+hr@example.com"]}),
        )
        .await;
    assert_eq!(sent.body["summary"]["sent"], 1, "{}", sent.body);
    let cancelled = app
        .post_json(
            "/v1/invitations/cancel",
            &token,
            json!({"emails": ["grace+hr@example.com"]}),
        )
        .await;
    assert_eq!(
        cancelled.body["results"][0]["outcome"], "cancelled",
        "{}",
        cancelled.body
    );
    let feed = app.get_as("/v1/events", &token).await;
    let events = feed.body["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "{}", feed.body);
    let variants: Vec<String> = schemas["CloudEvent"]["oneOf"]
        .as_array()
        .expect("CloudEvent is a oneOf")
        .iter()
        .map(|v| {
            v["$ref"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    for event in events {
        let matching: Vec<&String> = variants
            .iter()
            .filter(|name| {
                let kind = schemas[name.as_str()]["properties"]["type"]["$ref"]
                    .as_str()
                    .map(|r| r.rsplit('/').next().unwrap().to_owned())
                    .unwrap_or_default();
                schemas[kind.as_str()]["enum"]
                    .as_array()
                    .is_some_and(|values| values.contains(&event["type"]))
            })
            .collect();
        assert_eq!(matching.len(), 1, "{} matches {matching:?}", event["type"]);
    }
}
