//! A NUL character (U+0000) is client input, not a store outage: PostgreSQL refuses it in text,
//! so every JSON string, query parameter and path that could reach the store is refused with a
//! 400 naming where it was (a roster address becomes a `skipped` item, a path is not found), the same on
//! SQLite and PostgreSQL, and `/readyz` stays as it was.

use crate::helpers::{Answer, TestApp, admin_token, spawn_app_tuned, token_for};
use crate::pg::PgDatabase;
use invitation_gateway::auth::Scope;
use invitation_gateway::readiness::CheckState;
use reqwest::Method;
use serde_json::{Value, json};

/// JSON bodies with a NUL in one string, and the field the problem must name.
fn json_cases() -> Vec<(&'static str, Value, &'static str)> {
    let emails = json!({"emails": ["ada@example.com", "a\u{0}b@example.com"]});
    vec![
        ("/v1/eligibility/check", emails.clone(), "emails[1]"),
        ("/v1/invitations/lookup", emails.clone(), "emails[1]"),
        ("/v1/invitations/history", emails.clone(), "emails[1]"),
        ("/v1/invitations/send", emails.clone(), "emails[1]"),
        ("/v1/invitations/cancel", emails.clone(), "emails[1]"),
        ("/v1/audit/search", emails, "emails[1]"),
        (
            "/v1/campaigns",
            json!({"name": "Wave\u{0}1", "source": {"emails": ["ada@example.com"]}}),
            "name",
        ),
        (
            "/v1/campaigns",
            json!({"name": "Wave 1", "source": {"emails": ["ada@example.com", "\u{0}"]}}),
            "source.emails[1]",
        ),
        (
            "/v1/campaigns",
            json!({"name": "Wave 1", "source": {"states": ["NOT_YET_SENT\u{0}"]}}),
            "source.states[0]",
        ),
    ]
}

/// Query strings (and paths) with a NUL, and the parameter the problem must name (`path`: the
/// path has it).
const QUERY_CASES: [(&str, &str, &str); 13] = [
    ("GET", "/v1/audit?callerSub=a%00b", "callerSub"),
    ("GET", "/v1/audit?callerIss=a%00b", "callerIss"),
    ("GET", "/v1/audit?campaign=a%00b", "campaign"),
    ("GET", "/v1/audit?pageToken=a%00b", "pageToken"),
    ("GET", "/v1/campaigns?pageToken=%00", "pageToken"),
    ("GET", "/v1/campaigns/c1/items?outcome=sent%00", "outcome"),
    ("GET", "/v1/invitations?state=INVITED%00", "state"),
    ("GET", "/v1/invitations?pageToken=%00", "pageToken"),
    ("GET", "/v1/invitations/funnel?bucket=day%00", "bucket"),
    ("GET", "/v1/events?after=a%00b", "after"),
    ("GET", "/v1/campaigns/a%00b", "path"),
    ("POST", "/v1/campaigns/a%00b/pause", "path"),
    (
        "POST",
        "/v1/campaigns/roster?name=Wave%001&dryRun=true",
        "name",
    ),
];

async fn send(app: &TestApp, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Answer {
    let mut request = app
        .client
        .request(
            Method::from_bytes(method.as_bytes()).expect("a method"),
            format!("{}{path}", app.address),
        )
        .bearer_auth(admin_token());
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.expect("request reaches the gateway");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Asserts a 400 naming `field`, with the store still ready and `/readyz` still 200.
async fn assert_refused(app: &TestApp, answer: &Answer, code: &str, field: &str, what: &str) {
    answer.assert_problem(400, code);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("`{field}`")),
        "{what}: the detail names {field}: {detail}"
    );
    assert!(!detail.contains('\u{0}'), "{what}: echoes no NUL: {detail}");
    assert_ready(app, what).await;
}

async fn assert_ready(app: &TestApp, what: &str) {
    assert_eq!(
        app.state.readiness.store.get(),
        CheckState::Ready,
        "{what}: the store is still ready"
    );
    let readyz = app.get("/readyz").await;
    assert_eq!(
        readyz.status().as_u16(),
        200,
        "{what}: /readyz is still ready"
    );
}

async fn nul_is_refused_before_the_store(database_url: Option<String>) {
    let app = spawn_app_tuned(|settings| {
        if let Some(url) = database_url {
            settings.store.database_url = url.into();
        }
    })
    .await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    assert_ready(&app, "at start").await;
    let calls = app.google_calls().await;

    for (path, body, field) in json_cases() {
        let what = format!("POST {path} {body}");
        let answer = send(
            &app,
            "POST",
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await;
        assert_refused(&app, &answer, "invalid_request", field, &what).await;
    }
    for (method, path, field) in QUERY_CASES {
        let what = format!("{method} {path}");
        let body = (method == "POST" && path.contains('?'))
            .then(|| ("text/csv", b"email\r\nada@example.com\r\n".to_vec()));
        let answer = send(&app, method, path, body).await;
        if field == "path" {
            // No resource has such a name.
            answer.assert_problem(404, "not_found");
            assert_ready(&app, &what).await;
        } else {
            assert_refused(&app, &answer, "invalid_query", field, &what).await;
        }
    }
    // The caller's `sub` reaches the store too (audit rows, budgets, campaign owners).
    let refused = app
        .client
        .get(format!("{}/v1/campaigns", app.address))
        .bearer_auth(token_for("hr\u{0}system", &Scope::ALL))
        .send()
        .await
        .expect("request reaches the gateway");
    assert_eq!(
        refused.status().as_u16(),
        401,
        "a sub with a NUL is no caller"
    );
    assert_ready(&app, "a sub with a NUL").await;
    assert_eq!(app.google_calls().await, calls, "nothing reached Google");
    let listed = send(&app, "GET", "/v1/campaigns", None).await;
    assert_eq!(listed.body["campaigns"], json!([]), "no campaign was made");

    // A roster row is an item: a NUL in its address makes it a skipped item with its reason.
    let roster = b"email,name\r\nada@example.com,Ada\r\nb\0b@example.com,B\0b\r\n".to_vec();
    let created = send(
        &app,
        "POST",
        "/v1/campaigns/roster?name=Wave%201&dryRun=true",
        Some(("text/csv", roster)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let items = send(&app, "GET", &format!("/v1/campaigns/{id}/items"), None).await;
    assert_eq!(items.status, 200, "{}", items.body);
    let skipped: Vec<&Value> = items.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{}", items.body);
    assert_eq!(skipped[0]["reason"], "invalid_email", "{}", items.body);
    assert!(
        !skipped[0].to_string().contains("\\u0000"),
        "{}",
        items.body
    );
    assert_ready(&app, "a roster with a NUL").await;
}

#[tokio::test]
async fn a_nul_in_any_input_is_a_client_error_on_sqlite() {
    nul_is_refused_before_the_store(None).await;
}

#[tokio::test]
async fn a_nul_in_any_input_is_a_client_error_on_postgres() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    nul_is_refused_before_the_store(Some(db.url.clone())).await;
    db.drop_it().await;
}
