//! list: filter, orderBy, pageSize and pageToken.

use std::collections::HashSet;

use invitation_gateway::emulator::{Seed, SeedAccount};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{TestEmulator, emails, spawn_emulator, spawn_with_seed};

/// Visible demo accounts (the three recent ones are not indexed yet).
const DEMO_VISIBLE: usize = 32;

fn states(body: &Value) -> HashSet<String> {
    body["userInvitations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn list(app: &TestEmulator, query: &str) -> Value {
    let reply = app.get(&app.invitations(&format!("?{query}"))).await;
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
    reply.body
}

/// Walks every page, asserting each call succeeds.
async fn list_all(app: &TestEmulator, query: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let body = list(app, &format!("{query}&pageToken={token}")).await;
        all.extend(emails(&body));
        match body["nextPageToken"].as_str() {
            Some(next) => token = next.to_string(),
            None => return all,
        }
    }
}

fn many_accounts(count: usize) -> Seed {
    Seed::Accounts(
        (0..count)
            .map(|i| SeedAccount::new(format!("user{i:04}@example.com"), None))
            .collect(),
    )
}

#[tokio::test]
async fn list_defaults_to_email_order_without_recent_accounts() {
    let app = spawn_emulator().await;

    let body = list(&app, "").await;

    let listed = emails(&body);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed.len(), DEMO_VISIBLE);
    assert_eq!(listed, sorted);
    assert!(body.get("nextPageToken").is_none());
    assert!(
        !listed
            .iter()
            .any(|email| email == "annie@example.com" || email == "mary+new@example.com")
    );
}

#[tokio::test]
async fn empty_list_is_an_empty_object() {
    let app = spawn_with_seed(Seed::Empty).await;

    assert_eq!(list(&app, "").await, json!({}));
}

#[tokio::test]
async fn filter_matches_state_values_case_insensitively() {
    let app = spawn_emulator().await;

    let lower = list(&app, "filter=state%3D%3D'invited'").await;
    let upper = list(&app, "filter=state%3D%3D'INVITED'").await;

    assert_eq!(states(&lower), HashSet::from(["INVITED".to_string()]));
    assert_eq!(emails(&lower).len(), 8);
    assert_eq!(emails(&lower), emails(&upper));
}

#[tokio::test]
async fn filter_ors_states_and_tolerates_spaces() {
    let app = spawn_emulator().await;

    let body = list(
        &app,
        "filter=state%20%3D%3D%20'accepted'%20%7C%7C%20state%3D%3D'declined'",
    )
    .await;

    assert_eq!(
        states(&body),
        HashSet::from(["ACCEPTED".to_string(), "DECLINED".to_string()])
    );
    assert_eq!(emails(&body).len(), 7 + 5);
}

#[tokio::test]
async fn empty_filter_lists_every_state() {
    let app = spawn_emulator().await;

    let body = list(&app, "filter=").await;

    assert_eq!(emails(&body).len(), DEMO_VISIBLE);
}

#[tokio::test]
async fn malformed_filters_are_invalid_argument() {
    let app = spawn_emulator().await;

    for filter in [
        "state%3D%3D'sleeping'",
        "email%3D%3D'a'",
        "state%3D'invited'",
        "state%3D%3Dinvited",
        "%7C%7C",
    ] {
        let reply = app
            .get(&app.invitations(&format!("?filter={filter}")))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn order_by_email_ascending_and_descending() {
    let app = spawn_emulator().await;
    let ascending = emails(&list(&app, "orderBy=email").await);

    assert_eq!(emails(&list(&app, "orderBy=email%20asc").await), ascending);
    assert_eq!(emails(&list(&app, "orderBy=").await), ascending);
    let mut descending = ascending.clone();
    descending.reverse();
    assert_eq!(
        emails(&list(&app, "orderBy=email%20desc").await),
        descending
    );
}

#[tokio::test]
async fn order_by_update_time_ascending_and_descending() {
    let app = spawn_emulator().await;

    let ascending = list(&app, "orderBy=update_time").await;
    let explicit = list(&app, "orderBy=update_time+asc").await;
    let descending = list(&app, "orderBy=update_time%20desc").await;

    let times: Vec<&str> = ascending["userInvitations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["updateTime"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert_eq!(emails(&ascending)[0], "ada@example.com");
    assert_eq!(emails(&explicit), emails(&ascending));
    let mut reversed = emails(&ascending);
    reversed.reverse();
    assert_eq!(emails(&descending), reversed);
}

#[tokio::test]
async fn ordering_by_two_fields_or_unknown_fields_is_rejected() {
    let app = spawn_emulator().await;

    for order in [
        "email,%20update_time",
        "name",
        "email%20sideways",
        "email%20asc%20desc",
    ] {
        let reply = app
            .get(&app.invitations(&format!("?orderBy={order}")))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn page_size_defaults_to_100_and_up_to_i32_max_is_clamped_to_200() {
    let app = spawn_with_seed(many_accounts(250)).await;

    assert_eq!(emails(&list(&app, "").await).len(), 100);
    assert_eq!(emails(&list(&app, "pageSize=150").await).len(), 150);
    assert_eq!(emails(&list(&app, "pageSize=200").await).len(), 200);
    assert_eq!(emails(&list(&app, "pageSize=201").await).len(), 200);
    assert_eq!(emails(&list(&app, "pageSize=1000").await).len(), 200);
    assert_eq!(emails(&list(&app, "pageSize=2147483647").await).len(), 200);
}

#[tokio::test]
async fn page_sizes_beyond_int32_are_invalid_argument_not_clamped() {
    let app = spawn_emulator().await;

    for size in ["2147483648", "3000000000", "99999999999999999"] {
        let reply = app
            .get(&app.invitations(&format!("?pageSize={size}")))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn invalid_page_sizes_are_rejected() {
    let app = spawn_emulator().await;

    for size in [
        "0",
        "-1",
        "-2147483649",
        "ten",
        "1.5",
        "999999999999999999999999",
        "",
    ] {
        let reply = app
            .get(&app.invitations(&format!("?pageSize={size}")))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn paging_visits_every_invitation_exactly_once_in_each_order() {
    let app = spawn_emulator().await;

    for order in ["email", "email%20desc", "update_time", "update_time%20desc"] {
        let one_page = emails(&list(&app, &format!("orderBy={order}&pageSize=200")).await);
        let paged = list_all(&app, &format!("orderBy={order}&pageSize=7")).await;
        assert_eq!(paged, one_page, "{order}");
    }
}

#[tokio::test]
async fn paging_with_ties_in_update_time_is_stable() {
    let app = spawn_with_seed(many_accounts(23)).await;

    let paged = list_all(&app, "orderBy=update_time&pageSize=5").await;

    let unique: HashSet<&String> = paged.iter().collect();
    assert_eq!(paged.len(), 23);
    assert_eq!(unique.len(), 23);
}

#[tokio::test]
async fn page_token_with_a_different_filter_or_order_is_rejected() {
    let app = spawn_emulator().await;
    let first = list(&app, "pageSize=5").await;
    let token = first["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_string();

    let other_order = app
        .get(&app.invitations(&format!(
            "?pageSize=5&orderBy=email%20desc&pageToken={token}"
        )))
        .await;
    let other_filter = app
        .get(&app.invitations(&format!(
            "?pageSize=5&filter=state%3D%3D'invited'&pageToken={token}"
        )))
        .await;
    let same = app
        .get(&app.invitations(&format!("?pageSize=10&pageToken={token}")))
        .await;

    other_order.assert_google_error(400, "INVALID_ARGUMENT");
    other_filter.assert_google_error(400, "INVALID_ARGUMENT");
    assert_eq!(same.status, 200);
}

#[tokio::test]
async fn garbage_page_tokens_are_rejected() {
    let app = spawn_emulator().await;

    for token in ["not-base64!", "eyJ4IjoxfQ", "%00%ff"] {
        let reply = app
            .get(&app.invitations(&format!("?pageToken={token}")))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn page_tokens_do_not_reveal_addresses() {
    use base64::Engine as _;
    let app = spawn_emulator().await;

    let body = list(&app, "pageSize=1").await;

    let token = body["nextPageToken"].as_str().expect("a next page");
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded);
    assert!(
        !token.contains("ada") && !text.contains("ada") && !text.contains("example"),
        "{text}"
    );
}

/// The first `n` addresses of `update_time desc`.
async fn newest(app: &TestEmulator, n: usize) -> Vec<String> {
    let mut listed = emails(&list(app, "orderBy=update_time%20desc").await);
    listed.truncate(n);
    listed
}

#[tokio::test]
async fn every_state_change_stamps_update_time_and_leads_update_time_desc() {
    let app = spawn_emulator().await;
    // send, a repeat send, cancel, accept, decline: each puts its account first.
    assert_eq!(app.send("donald@example.com").await.status, 200);
    assert_eq!(newest(&app, 1).await, ["donald@example.com"]);
    assert_eq!(app.send("ada@example.com").await.status, 200);
    assert_eq!(newest(&app, 1).await, ["ada@example.com"]);
    assert_eq!(app.cancel("edsger@example.com").await.status, 200);
    assert_eq!(newest(&app, 1).await, ["edsger@example.com"]);
    for (path, email) in [
        ("/emulator/v1/accounts/accept", "katherine@example.com"),
        ("/emulator/v1/accounts/decline", "niklaus@example.com"),
    ] {
        let answer = app.control(path, json!({ "email": email })).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(newest(&app, 1).await, [email], "{path}");
    }
    assert_eq!(
        newest(&app, 5).await,
        [
            "niklaus@example.com",
            "katherine@example.com",
            "edsger@example.com",
            "ada@example.com",
            "donald@example.com"
        ]
    );
}

#[tokio::test]
async fn a_late_account_appears_in_list_with_its_old_update_time() {
    let app = spawn_emulator().await;
    let added = app
        .control(
            "/emulator/v1/accounts",
            json!({"email": "late@example.com", "state": "INVITED", "recent": true,
                   "updateTime": "2025-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(app.get_invitation("late@example.com").await.status, 404);
    let appeared = app
        .control(
            "/emulator/v1/accounts/appear",
            json!({"email": "late@example.com"}),
        )
        .await;
    assert_eq!(appeared.status, 200, "{:?}", appeared.body);
    assert_eq!(appeared.body["updateTime"], "2025-06-01T00:00:00.000Z");
    let listed = emails(&list(&app, "orderBy=update_time%20desc&pageSize=200").await);
    assert_eq!(
        listed.last().map(String::as_str),
        Some("late@example.com"),
        "older than every other account"
    );
    let unknown = app
        .control(
            "/emulator/v1/accounts/appear",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
}
