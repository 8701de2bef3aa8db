//! Reading the audit trail over HTTP: `GET /v1/audit` (filters, pages newest first) and
//! `POST /v1/audit/search`, both with the scope `audit.read`.

use crate::helpers::{
    Answer, CALLER, TestApp, admin_token, spawn_app, spawn_app_tuned, token, token_for,
};
use crate::pg::PgDatabase;
use chrono::{DateTime, Utc};
use invitation_gateway::auth::Scope;
use serde_json::{Value, json};

/// The second caller (the first is the helpers' `CALLER`).
const OTHER: &str = "it-bot";

/// One record as the tests compare them: (caller sub, action, email, outcome).
type Row = (String, String, String, String);

fn row(record: &Value) -> Row {
    let text = |name: &str| record[name].as_str().unwrap_or("<none>").to_owned();
    (
        text("callerSub"),
        text("action"),
        text("email"),
        text("outcome"),
    )
}

fn expected(rows: &[(&str, &str, &str, &str)]) -> Vec<Row> {
    rows.iter()
        .map(|(sub, action, email, outcome)| {
            (
                (*sub).to_owned(),
                (*action).to_owned(),
                (*email).to_owned(),
                (*outcome).to_owned(),
            )
        })
        .collect()
}

/// Sends and cancels by two callers, one send failing at Google; answers each request's id,
/// oldest first.
async fn two_callers_at_work(app: &TestApp) -> Vec<String> {
    let first = admin_token();
    let other = token_for(OTHER, &Scope::ALL);
    let mut request_ids = Vec::new();
    let mut act = async |token: &str, path: &str, email: &str, outcome: &str| {
        let answer = app.post_json(path, token, json!({"emails": [email]})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.body["results"][0]["outcome"], outcome,
            "{}",
            answer.body
        );
        request_ids.push(answer.headers["x-request-id"].to_str().unwrap().to_owned());
    };
    act(&first, "/v1/invitations/send", "radia@example.com", "sent").await;
    act(
        &other,
        "/v1/invitations/send",
        "grace+hr@example.com",
        "sent",
    )
    .await;
    // Google refuses this one send (not retried): the record says failed, with Google's 403.
    app.control(
        "faults",
        json!({"method": "send", "status": "PERMISSION_DENIED", "count": 1}),
    )
    .await;
    act(
        &first,
        "/v1/invitations/send",
        "donald@example.com",
        "failed",
    )
    .await;
    act(
        &other,
        "/v1/invitations/cancel",
        "katherine@example.com",
        "cancelled",
    )
    .await;
    act(
        &first,
        "/v1/invitations/cancel",
        "radia@example.com",
        "cancelled",
    )
    .await;
    act(&first, "/v1/invitations/send", "john@example.com", "sent").await;
    request_ids
}

/// Every record `query` lists, walking pages of two; asserts every page but the last is full.
async fn list_all(app: &TestApp, query: &str) -> Vec<Value> {
    let token = token(&[Scope::AuditRead]);
    let mut records = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..50 {
        let mut path = format!("/v1/audit?pageSize=2{query}");
        if let Some(page_token) = &page_token {
            path.push_str(&format!("&pageToken={page_token}"));
        }
        let page = app.get_as(&path, &token).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let got = page.body["records"].as_array().unwrap().clone();
        assert!(got.len() <= 2, "{}", page.body);
        records.extend(got.iter().cloned());
        match page.body["nextPageToken"].as_str() {
            Some(next) => {
                assert_eq!(got.len(), 2, "only the last page is short");
                page_token = Some(next.to_owned());
            }
            None => return records,
        }
    }
    panic!("the listing never ended");
}

async fn list_rows(app: &TestApp, query: &str) -> Vec<Row> {
    list_all(app, query).await.iter().map(row).collect()
}

fn recorded_at(record: &Value) -> DateTime<Utc> {
    record["recordedAt"].as_str().unwrap().parse().unwrap()
}

/// What the whole scenario leaves, newest first.
const SCENARIO: [(&str, &str, &str, &str); 6] = [
    (CALLER, "send", "john@example.com", "sent"),
    (CALLER, "cancel", "radia@example.com", "cancelled"),
    (OTHER, "cancel", "katherine@example.com", "cancelled"),
    (CALLER, "send", "donald@example.com", "failed"),
    (OTHER, "send", "grace+hr@example.com", "sent"),
    (CALLER, "send", "radia@example.com", "sent"),
];

async fn check_listing_and_search(app: &TestApp) {
    let request_ids = two_callers_at_work(app).await;

    let all = list_all(app, "").await;
    assert_eq!(all.iter().map(row).collect::<Vec<_>>(), expected(&SCENARIO));
    // Each record carries the real caller, the request id and Google's status.
    let newest_request_first: Vec<&str> = request_ids.iter().rev().map(String::as_str).collect();
    for (record, request_id) in all.iter().zip(newest_request_first) {
        assert_eq!(record["requestId"], request_id, "{record}");
        assert_eq!(record["callerIss"], "invitation-gateway", "{record}");
        assert_eq!(record["campaignId"], Value::Null, "{record}");
        assert!(record["completedAt"].is_string(), "{record}");
    }
    assert_eq!(all[3]["googleStatus"], 403, "{}", all[3]);
    assert_eq!(all[0]["googleStatus"], 200, "{}", all[0]);

    assert_eq!(
        list_rows(app, "&action=cancel").await,
        expected(&[SCENARIO[1], SCENARIO[2]])
    );
    assert_eq!(
        list_rows(app, "&outcome=failed").await,
        expected(&[SCENARIO[3]])
    );
    assert_eq!(
        list_rows(app, "&action=send&outcome=sent").await,
        expected(&[SCENARIO[0], SCENARIO[4], SCENARIO[5]])
    );
    assert_eq!(
        list_rows(
            app,
            &format!("&callerIss=invitation-gateway&callerSub={OTHER}")
        )
        .await,
        expected(&[SCENARIO[2], SCENARIO[4]])
    );
    assert_eq!(
        list_rows(app, &format!("&callerSub={OTHER}")).await,
        expected(&[SCENARIO[2], SCENARIO[4]])
    );
    assert!(
        list_rows(app, "&callerIss=someone-else&callerSub=it-bot")
            .await
            .is_empty()
    );
    // An empty window lists nothing.
    assert!(
        list_rows(app, "&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert!(list_rows(app, "&campaign=spring").await.is_empty());

    // A window [from, to) from the records' own times: exactly the records inside it.
    let (from, to) = (recorded_at(&all[4]), recorded_at(&all[1]));
    let inside: Vec<Row> = all
        .iter()
        .filter(|r| recorded_at(r) >= from && recorded_at(r) < to)
        .map(row)
        .collect();
    assert!(inside.contains(&row(&all[4])), "from is inclusive");
    assert!(!inside.contains(&row(&all[1])), "to is exclusive");
    let query = format!(
        "&from={}&to={}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert_eq!(list_rows(app, &query).await, inside);

    // Search: that person's records only, newest first; the address as any batch spells it.
    let search = app
        .post_json(
            "/v1/audit/search",
            &token(&[Scope::AuditRead]),
            json!({"emails": [" radia@EXAMPLE.com ", "nobody@example.com"]}),
        )
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(
        search.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(row)
            .collect::<Vec<_>>(),
        expected(&[SCENARIO[1], SCENARIO[5]])
    );
    assert_eq!(search.body["truncated"], false);
}

#[tokio::test]
async fn the_trail_lists_by_action_outcome_caller_and_time_newest_first_and_searches_by_person() {
    let app = spawn_app().await;
    check_listing_and_search(&app).await;
}

#[tokio::test]
async fn the_trail_lists_and_searches_the_same_on_postgresql() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let app = spawn_app_tuned(|settings| settings.store.database_url = url.into()).await;
    check_listing_and_search(&app).await;
    db.drop_it().await;
}

#[tokio::test]
async fn records_written_while_paging_never_shift_the_pages() {
    let app = spawn_app().await;
    let token = token(&[Scope::AuditRead]);
    let sender = admin_token();
    for email in [
        "radia@example.com",
        "john@example.com",
        "donald@example.com",
    ] {
        let sent = app
            .post_json("/v1/invitations/send", &sender, json!({"emails": [email]}))
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    let first = app.get_as("/v1/audit?pageSize=2", &token).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let next = first.body["nextPageToken"].as_str().unwrap().to_owned();

    // A new record arrives between the pages: it is newer than both and shifts neither.
    let sent = app
        .post_json(
            "/v1/invitations/send",
            &sender,
            json!({"emails": ["bjarne@example.com"]}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let second = app
        .get_as(&format!("/v1/audit?pageSize=2&pageToken={next}"), &token)
        .await;
    assert_eq!(second.status, 200, "{}", second.body);

    let emails = |page: &Answer| -> Vec<String> {
        page.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emails(&first), ["donald@example.com", "john@example.com"]);
    assert_eq!(emails(&second), ["radia@example.com"]);
    assert!(
        second.body.get("nextPageToken").is_none(),
        "{}",
        second.body
    );
}

#[tokio::test]
async fn reading_the_trail_needs_the_audit_read_scope() {
    let app = spawn_app().await;
    let every_other: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|s| *s != Scope::AuditRead)
        .collect();
    let without = token(&every_other);

    app.get_as("/v1/audit", &without)
        .await
        .assert_problem(403, "insufficient_scope");
    app.post_json(
        "/v1/audit/search",
        &without,
        json!({"emails": ["radia@example.com"]}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    let listing = app.get_as("/v1/audit", &token(&[Scope::AuditRead])).await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert_eq!(listing.body, json!({"records": []}));
}

#[tokio::test]
async fn bad_filters_and_page_tokens_are_400_and_never_500() {
    let app = spawn_app().await;
    let token = token(&[Scope::AuditRead]);
    for query in [
        "pageToken=not-a-token",
        "pageToken=NDI",
        "pageToken=YTEuMS4w",
        "from=yesterday",
        "to=2026-02-30T00:00:00Z",
        "outcome=maybe",
        "action=denied",
        "pageSize=0",
        "pageSize=501",
        "pageSize=2&pageSize=3",
        "email=radia%40example.com",
    ] {
        let answer = app.get_as(&format!("/v1/audit?{query}"), &token).await;
        answer.assert_problem(400, "invalid_query");
        assert!(
            !answer.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("radia"),
            "{}",
            answer.body
        );
    }
    let search =
        |emails: Value| app.post_json("/v1/audit/search", &token, json!({"emails": emails}));
    // Not a whole-batch error, as in every batch: an invalid address matches nothing.
    let invalid = search(json!(["not an address", ""])).await;
    assert_eq!(invalid.status, 200, "{}", invalid.body);
    assert_eq!(invalid.body, json!({"records": [], "truncated": false}));
    search(json!([]))
        .await
        .assert_problem(400, "invalid_request");
    let too_many: Vec<String> = (0..101).map(|i| format!("p{i}@example.com")).collect();
    search(json!(too_many))
        .await
        .assert_problem(400, "too_many_emails");
    search(json!(["ada@example.com", "ADA@example.com "]))
        .await
        .assert_problem(400, "duplicate_emails");
}

#[tokio::test]
async fn with_the_store_down_reading_the_trail_is_503_with_retry_after() {
    let app = spawn_app().await;
    let token = token(&[Scope::AuditRead]);
    app.state.store.close().await;

    let listing = app.get_as("/v1/audit", &token).await;
    listing.assert_problem(503, "store_unavailable");
    assert!(
        listing.headers.contains_key("retry-after"),
        "{:?}",
        listing.headers
    );
    let search = app
        .post_json(
            "/v1/audit/search",
            &token,
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    search.assert_problem(503, "store_unavailable");
    assert!(
        search.headers.contains_key("retry-after"),
        "{:?}",
        search.headers
    );
}
