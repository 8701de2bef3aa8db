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

/// Why `value` does not conform to `schema` (a subset of JSON Schema: `$ref`, `type`, `enum`,
/// `required`, `properties`, `additionalProperties: false`, `items`, `oneOf`, `nullable`), or
/// `Ok` when it does; `schemas` resolves references.
fn conforms(schemas: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return conforms(schemas, &schemas[name], value, at);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        let matching = variants
            .iter()
            .filter(|v| conforms(schemas, v, value, at).is_ok())
            .count();
        if matching != 1 {
            return Err(format!("{at}: matches {matching} of oneOf, not one"));
        }
    }
    if value.is_null()
        && (schema["nullable"] == true
            || schema["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null"))))
    {
        return Ok(());
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let type_ok = |t: &&str| match *t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(type_ok) {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: {name} is required"));
            }
        }
        for (name, field) in object {
            match schema["properties"].get(name) {
                Some(property) => conforms(schemas, property, field, &format!("{at}.{name}"))?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{at}: {name} is not documented"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            conforms(schemas, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_kind_of_event_on_the_feed_conforms_to_exactly_one_documented_event_schema() {
    use crate::helpers::spawn_app_at;
    use crate::tracking::{start, tracking_on, walk_done};
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let (app, clock) = spawn_app_at(
        start(),
        invitation_gateway::emulator::Seed::Demo,
        tracking_on,
    )
    .await;
    let token = admin_token();
    walk_done(&app, &clock).await;

    // sent and cancelled by the gateway; accepted and declined seen by the tracker; a campaign
    // completed.
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
    assert_eq!(cancelled.body["results"][0]["outcome"], "cancelled");
    app.control("accounts/accept", json!({"email": "ada@example.com"}))
        .await;
    app.control("accounts/decline", json!({"email": "niklaus@example.com"}))
        .await;
    clock.advance(crate::tracking::INTERVAL);
    walk_done(&app, &clock).await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &token,
            json!({"name": "one", "source": {"emails": ["donald@example.com"]}}),
        )
        .await;
    assert_eq!(campaign.status, 201, "{}", campaign.body);

    let events = crate::helpers::eventually("the campaign's completion is in the feed", || async {
        let feed = app.get_as("/v1/events?limit=1000", &token).await;
        assert!(
            conforms(schemas, &schemas["EventFeed"], &feed.body, "feed").is_ok(),
            "{:?}",
            conforms(schemas, &schemas["EventFeed"], &feed.body, "feed")
        );
        let events = feed.body["events"].as_array().expect("events").clone();
        events
            .iter()
            .any(|e| e["type"] == "dev.invitation-gateway.campaign.completed")
            .then_some(events)
    })
    .await;
    let mut kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "dev.invitation-gateway.campaign.completed",
            "dev.invitation-gateway.invitation.accepted",
            "dev.invitation-gateway.invitation.cancelled",
            "dev.invitation-gateway.invitation.declined",
            "dev.invitation-gateway.invitation.sent",
        ],
        "every kind of event"
    );
    for event in &events {
        if let Err(why) = conforms(schemas, &schemas["CloudEvent"], event, "event") {
            panic!("{why}: {event}");
        }
    }
    // The check can fail: an undocumented field or a wrong type does not conform.
    let mut wrong = events[0].clone();
    wrong["data"]["mailsSentCount"] = json!("two");
    assert!(conforms(schemas, &schemas["CloudEvent"], &wrong, "event").is_err());
}

#[tokio::test]
async fn a_campaign_name_is_what_the_document_says_one_to_200_characters_not_all_spaces() {
    let spec = spec();
    let name = &spec["components"]["schemas"]["CreateCampaignRequest"]["properties"]["name"];
    assert_eq!(name["minLength"], 1, "{name}");
    assert_eq!(name["maxLength"], 200, "{name}");
    assert_eq!(name["pattern"], "\\S", "{name}");
    let app = spawn_app().await;
    let create = |name: String| {
        let app = &app;
        async move {
            app.post_json(
                "/v1/campaigns",
                &admin_token(),
                json!({"name": name, "dryRun": true, "startAt": "2099-01-01T00:00:00Z",
                       "source": {"emails": ["ada@example.com"]}}),
            )
            .await
        }
    };
    // Schemathesis sent "" when the document allowed it; counted in bytes, 200 characters of
    // two bytes each were refused.
    create(String::new())
        .await
        .assert_problem(400, "invalid_request");
    create("   ".into())
        .await
        .assert_problem(400, "invalid_request");
    create("é".repeat(201))
        .await
        .assert_problem(400, "invalid_request");
    let longest = create("é".repeat(200)).await;
    assert_eq!(longest.status, 201, "{}", longest.body);
}
