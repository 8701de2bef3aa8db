//! Rosters from the tracker's snapshot, black-box: the real gateway, the emulator (its stats
//! count every call), the store's manual clock, on SQLite and on PostgreSQL. While the last
//! walk is fresh, the people the snapshot shows cost a campaign no read: a dry run decides
//! without a call, a real run sends with one; people it does not show are asked
//! isInvitableUser, or end `not_listed` with `checkUnlisted: false`. A stale snapshot stands in
//! for nothing: each person is read, as before.

use crate::helpers::{
    TestApp, admin_token, assert_problem, campaign_when, on_database, on_postgresql, quick_worker,
    spawn_app, spawn_app_on,
};
use crate::tracking::{INTERVAL, start, tracking_on, walk_done};
use invitation_gateway::emulator::Seed;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

/// A gateway on the demo customer with the tracker on, its store on `database` (its SQLite
/// file when None), after its first walk. Its tracker looks for due walks at start and then
/// only after an hour of real time: within a test, that one walk is the snapshot, and moving
/// the clock makes it stale.
async fn walked(clock: &Clock, database: Option<&str>) -> TestApp {
    let app = spawn_app_on(clock, Seed::Demo, |settings| {
        tracking_on(settings);
        settings.tracking.poll_every = Duration::from_secs(3600);
        quick_worker(settings);
        on_database(database)(settings);
    })
    .await;
    walk_done(&app, clock).await;
    app
}

/// The emulator's calls of the methods a campaign makes.
async fn calls(app: &TestApp) -> Value {
    let mut calls = json!({});
    for method in ["get", "isInvitableUser", "list", "send"] {
        calls[method] = json!(app.calls(method).await);
    }
    calls
}

/// The difference of two [`calls`].
fn difference(before: &Value, after: &Value) -> Value {
    let mut made = json!({});
    for (method, n) in after.as_object().expect("calls") {
        made[method] = json!(n.as_u64().unwrap_or(0) - before[method].as_u64().unwrap_or(0));
    }
    made
}

/// Uploads a roster of `emails` with `query`; answers the campaign created.
async fn upload(app: &TestApp, query: &str, emails: &[&str]) -> Value {
    let mut csv = String::from("email\r\n");
    for email in emails {
        csv.push_str(email);
        csv.push_str("\r\n");
    }
    let answer = app
        .client
        .post(format!("{}/v1/campaigns/roster?{query}", app.address))
        .bearer_auth(admin_token())
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("the upload is answered");
    assert_eq!(answer.status(), 201);
    answer.json().await.expect("a campaign")
}

/// Uploads a roster of `emails` with `query`, waits for the campaign to complete; answers it
/// and the Google calls it made.
async fn roster(app: &TestApp, query: &str, emails: &[&str]) -> (Value, Value) {
    let before = calls(app).await;
    let created = upload(app, query, emails).await;
    let id = created["id"].as_str().expect("an id");
    let done = campaign_when(&app.address, id, |c| c["state"] == "completed").await;
    (done, difference(&before, &calls(app).await))
}

/// The emulator calls of a campaign: reads, isInvitableUser checks and sends (never a list).
fn cost(get: u64, checks: u64, send: u64) -> Value {
    json!({"get": get, "isInvitableUser": checks, "list": 0, "send": send})
}

/// Asserts a completed campaign's counts and the Google calls it made.
fn assert_run((done, made): &(Value, Value), counts: Value, calls: Value, why: &str) {
    assert_eq!(done["counts"], counts, "{done}");
    assert_eq!(made, &calls, "{why}");
}

/// Listed, unlisted and `checkUnlisted: false`, on one fresh snapshot.
async fn from_a_fresh_snapshot(database: Option<String>) {
    let clock = Clock::manual(start());
    let app = walked(&clock, database.as_deref()).await;
    // Listed: invited, never mailed, accepted, declined, never mailed.
    let listed = [
        "ada@example.com",
        "grace+hr@example.com",
        "alan@example.com",
        "barbara@example.com",
        "donald@example.com",
    ];
    let run = roster(&app, "dryRun=true", &listed).await;
    assert_run(
        &run,
        json!({"already_invited": 1, "would_send": 3, "already_accepted": 1}),
        cost(0, 0, 0),
        "a dry run of listed people costs no call",
    );
    assert_eq!(run.0["googleCalls"], 0);
    assert_eq!(run.0["checkUnlisted"], true, "the default");

    let run = roster(&app, "name=wave", &listed).await;
    assert_run(
        &run,
        json!({"already_invited": 1, "sent": 3, "already_accepted": 1}),
        cost(0, 0, 3),
        "a real run costs one call per mailed person",
    );
    assert_eq!(run.0["googleCalls"], 3);
    assert_eq!(
        app.stats().await["mailsSent"],
        json!({"grace+hr@example.com": 1, "barbara@example.com": 1, "donald@example.com": 1})
    );

    // Not listed: an account younger than the list's lag and an address with no account.
    let unlisted = ["annie@example.com", "nobody@example.com"];
    let run = roster(&app, "dryRun=true", &unlisted).await;
    assert_run(
        &run,
        json!({"would_send": 1, "not_eligible": 1}),
        cost(0, 2, 0),
        "one isInvitableUser per unlisted person",
    );
    let run = roster(&app, "checkUnlisted=false", &["mary+new@example.com"]).await;
    assert_run(
        &run,
        json!({"not_listed": 1}),
        cost(0, 0, 0),
        "checkUnlisted=false: no call at all, nobody mailed",
    );
    assert_eq!(run.0["checkUnlisted"], false);
    let run = roster(&app, "name=new", &["evelyn@example.com"]).await;
    assert_run(
        &run,
        json!({"sent": 1}),
        cost(0, 1, 1),
        "an unlisted person mailed: the check and the send",
    );

    // An `emails` source uses the snapshot too, and checkUnlisted is a JSON field.
    let before = calls(&app).await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "json", "dryRun": true, "checkUnlisted": false,
                   "source": {"emails": ["katherine@example.com", "annie@example.com"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id");
    let done = campaign_when(&app.address, id, |c| c["state"] == "completed").await;
    let made = difference(&before, &calls(&app).await);
    assert_run(
        &(done, made),
        json!({"already_invited": 1, "not_listed": 1}),
        cost(0, 0, 0),
        "emails",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fresh_snapshot_a_roster_costs_no_read_listed_people_one_send_and_unlisted_one_check()
 {
    from_a_fresh_snapshot(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_with_a_fresh_snapshot_a_roster_costs_no_read() {
    on_postgresql(|url| from_a_fresh_snapshot(Some(url))).await;
}

/// Past two tracker intervals without a walk, each person is read again.
async fn from_a_stale_snapshot(database: Option<String>) {
    let clock = Clock::manual(start());
    let app = walked(&clock, database.as_deref()).await;
    clock.advance(INTERVAL * 2 + Duration::from_secs(1));
    let people = [
        "ada@example.com",
        "grace+hr@example.com",
        "annie@example.com",
    ];
    assert_run(
        &roster(&app, "dryRun=true&checkUnlisted=false", &people).await,
        json!({"already_invited": 1, "would_send": 2}),
        cost(3, 1, 0),
        "a read per person, and isInvitableUser where Google has none (checkUnlisted applies \
         to a fresh snapshot only)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_stands_in_for_nothing_each_person_is_read() {
    from_a_stale_snapshot(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_stale_snapshot_stands_in_for_nothing() {
    on_postgresql(|url| from_a_stale_snapshot(Some(url))).await;
}

#[tokio::test]
async fn a_check_unlisted_that_is_not_a_boolean_is_a_clear_400_and_creates_nothing() {
    let app = spawn_app().await;
    let answer = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "x", "checkUnlisted": "no", "source": {"emails": ["ada@example.com"]}}),
        )
        .await;
    answer.assert_problem(400, "invalid_request");
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("checkUnlisted"), "{detail}");
    let response = app
        .client
        .post(format!(
            "{}/v1/campaigns/roster?checkUnlisted=maybe",
            app.address
        ))
        .bearer_auth(admin_token())
        .header("content-type", "text/csv")
        .body("email\r\nada@example.com\r\n")
        .send()
        .await
        .expect("an answer");
    let problem = assert_problem(response, 400, "invalid_query").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("checkUnlisted must be true or false"),
        "{problem}"
    );
    let list = app.get_as("/v1/campaigns", &admin_token()).await;
    assert_eq!(list.body["campaigns"], json!([]), "nothing was created");
}

/// Milliseconds from a scheduled campaign's start to its ETA.
async fn eta_span(app: &TestApp, emails: &[&str]) -> i64 {
    let created = upload(
        app,
        "checkUnlisted=false&startAt=2099-01-01T00:00:00Z",
        emails,
    )
    .await;
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(created[field].as_str().expect(field))
            .expect("a time")
            .timestamp_millis()
    };
    at("eta") - at("startAt")
}

/// A roster's ETA counts what the worker will call: with a fresh snapshot one send per listed
/// person and nothing for an unlisted one (`checkUnlisted: false`); with a stale one a read and
/// a send each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rosters_eta_counts_the_calls_the_snapshot_saves() {
    let clock = Clock::manual(start());
    let app = walked(&clock, None).await;
    let people = [
        "ada@example.com",
        "grace+hr@example.com",
        "alan@example.com",
        "barbara@example.com",
        "donald@example.com",
        "annie@example.com",
        "nobody@example.com",
    ];
    let fresh = eta_span(&app, &people).await;
    clock.advance(INTERVAL * 2 + Duration::from_secs(1));
    let stale = eta_span(&app, &people).await;
    // Five listed sends against seven reads and seven sends, each span rounded up to a ms.
    assert!(fresh > 0, "{fresh}");
    assert!(
        (stale * 5 - fresh * 14).abs() <= 14,
        "fresh {fresh} ms, stale {stale} ms"
    );
}
