//! `POST /v1/campaigns` with an `Idempotency-Key`: a retried upload (sequential, concurrent,
//! or on another replica; JSON or a CSV roster) gets the first `201` and its `Location`, never
//! a second campaign; the key with another body is `422`.

use crate::helpers::{admin_token, campaign_completed, on_database, spawn_app_at};
use crate::send_async::{Sent, campaign_ids, each_mailed_once, two_replicas_make_one_campaign};
use chrono::Utc;
use invitation_gateway::emulator::Seed;
use serde_json::json;

/// People the demo seed has not invited yet: each campaign item is a mail.
const PEOPLE: [&str; 3] = [
    "radia@example.com",
    "john@example.com",
    "donald@example.com",
];

/// A roster of [`PEOPLE`] with a column the gateway does not read.
const ROSTER: &str = "email,employee_id\r\nradia@example.com,E1\r\njohn@example.com,E2\r\n\
    donald@example.com,E3\r\n";

/// What a create sends.
#[derive(Clone, Copy)]
enum Body<'a> {
    Json(&'a [&'a str]),
    Roster(&'a str),
}

/// POSTs a create of `body` to `base` with the Idempotency-Key `key`.
async fn create(base: &str, body: Body<'_>, key: &str) -> Sent {
    let client = reqwest::Client::new();
    let request = match body {
        Body::Json(emails) => client
            .post(format!("{base}/v1/campaigns"))
            .json(&json!({"name": "wave", "source": {"emails": emails}})),
        Body::Roster(csv) => client
            .post(format!("{base}/v1/campaigns/roster?name=wave"))
            .header("content-type", "text/csv")
            .body(csv.to_owned()),
    };
    let request = request
        .bearer_auth(admin_token())
        .header("idempotency-key", key);
    Sent::of(request).await
}

#[tokio::test]
async fn a_create_retried_with_its_key_gets_the_first_201_and_makes_one_campaign() {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(None)).await;
    for (key, body) in [
        ("json-1", Body::Json(&PEOPLE)),
        ("roster-1", Body::Roster(ROSTER)),
    ] {
        let first = create(&app.address, body, key).await;
        let id = first.campaign_id(201);
        assert!(!first.replayed, "the first answer is no replay");
        campaign_completed(&app.address, &id).await;

        let retry = create(&app.address, body, key).await;
        assert_eq!(retry.campaign_id(201), id, "the same Location");
        assert!(retry.replayed, "Idempotent-Replayed: true");
        assert_eq!(retry.body, first.body, "the first answer, byte for byte");
    }
    assert_eq!(
        campaign_ids(&app.address).await.len(),
        2,
        "one campaign per key"
    );
    // The roster's people were mailed by the first campaign: the second found them invited.
    each_mailed_once(&app.stats().await, &PEOPLE);
}

#[tokio::test]
async fn a_create_key_used_with_another_body_is_422_and_creates_nothing() {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(None)).await;
    let id = create(&app.address, Body::Json(&PEOPLE), "wave-1")
        .await
        .campaign_id(201);
    let roster = create(&app.address, Body::Roster(ROSTER), "wave-2")
        .await
        .campaign_id(201);

    for (key, other) in [
        ("wave-1", Body::Json(&PEOPLE[..2])),
        ("wave-1", Body::Roster(ROSTER)),
        ("wave-2", Body::Roster("email\r\nradia@example.com\r\n")),
    ] {
        let answer = create(&app.address, other, key).await;
        assert_eq!(answer.status, 422, "{}", answer.body);
        assert_eq!(answer.json()["code"], "idempotency_key_reused");
    }
    let mut ids = campaign_ids(&app.address).await;
    ids.sort_unstable();
    let mut expected = vec![id, roster];
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn ten_concurrent_roster_uploads_with_one_key_make_one_campaign() {
    ten_at_once_make_one_campaign(None).await;
}

#[tokio::test]
async fn on_postgresql_ten_concurrent_roster_uploads_with_one_key_make_one_campaign() {
    crate::helpers::on_postgresql(
        |url| async move { ten_at_once_make_one_campaign(Some(&url)).await },
    )
    .await;
}

async fn ten_at_once_make_one_campaign(url: Option<&str>) {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(url)).await;
    let answers = futures_util::future::join_all(
        (0..10).map(|_| create(&app.address, Body::Roster(ROSTER), "upload-1")),
    )
    .await;

    let id = Sent::one_campaign_for_all(&answers, 201);
    assert_eq!(campaign_ids(&app.address).await, vec![id.clone()]);
    campaign_completed(&app.address, &id).await;
    each_mailed_once(&app.stats().await, &PEOPLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_given_one_create_key_at_once_make_one_campaign() {
    two_replicas_make_one_campaign(201, &PEOPLE, |base| async move {
        create(&base, Body::Roster(ROSTER), "upload-2").await
    })
    .await;
}

#[tokio::test]
async fn a_keyed_roster_over_its_byte_cap_is_413_and_creates_nothing() {
    let cap = ROSTER.len() - 1;
    let app = crate::helpers::spawn_app_tuned(|s| {
        s.invitations.campaigns.roster_max_bytes = u64::try_from(cap).unwrap();
    })
    .await;
    let answer = create(&app.address, Body::Roster(ROSTER), "too-big").await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    let problem = answer.json();
    assert_eq!(problem["code"], "payload_too_large", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&cap.to_string()),
        "{problem}"
    );
    assert!(
        campaign_ids(&app.address).await.is_empty(),
        "nothing created"
    );
    // A roster within the cap, under the same key (the refused upload did not take it).
    let small = "email\r\nradia@example.com\r\n";
    let answer = create(&app.address, Body::Roster(small), "too-big").await;
    answer.campaign_id(201);
    assert_eq!(campaign_ids(&app.address).await.len(), 1);
}
