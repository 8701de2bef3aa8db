//! `POST /v1/invitations/send` with `Prefer: respond-async` and an `Idempotency-Key`: a retry
//! (sequential, concurrent, or on another replica) gets the first `202` and its `Location`,
//! never a second campaign; the key with another body, or without the preference, is `422`.

use crate::helpers::{
    admin_get, admin_token, campaign_completed, on_database, spawn_app_at, spawn_google,
};
use crate::pg::PgDatabase;
use crate::replicas::{Replica, start_replica, stats};
use chrono::Utc;
use invitation_gateway::emulator::Seed;
use serde_json::{Value, json};

/// People the demo seed has not invited yet: each campaign item is a mail.
const PEOPLE: [&str; 3] = [
    "radia@example.com",
    "john@example.com",
    "donald@example.com",
];

/// An answer to a send or a create, with what an idempotent retry is compared on.
#[derive(Debug)]
pub struct Sent {
    pub status: u16,
    pub location: Option<String>,
    pub replayed: bool,
    pub body: String,
}

impl Sent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Sends `request` and reads its answer.
    pub async fn of(request: reqwest::RequestBuilder) -> Sent {
        let response = request.send().await.expect("the gateway answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let replayed = header("idempotent-replayed").is_some_and(|v| v == "true");
        Sent {
            status: response.status().as_u16(),
            location,
            replayed,
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// The id of the campaign that every one of `answers` names, asserting `status`, one body
    /// for all and exactly one answer that is no replay (one request created it).
    pub fn one_campaign_for_all(answers: &[Sent], status: u16) -> String {
        let id = answers[0].campaign_id(status);
        for answer in answers {
            assert_eq!(answer.campaign_id(status), id, "{answers:?}");
            assert_eq!(answer.body, answers[0].body, "one answer for all");
        }
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "exactly one created the campaign: {answers:?}"
        );
        id
    }

    /// The id of the campaign its `Location` names, asserting `status`.
    pub fn campaign_id(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        self.location
            .as_deref()
            .and_then(|l| l.strip_prefix("/v1/campaigns/"))
            .expect("a Location naming the campaign")
            .to_owned()
    }
}

/// POSTs a send of `emails` to `base`, with `Prefer: respond-async` when `async_` and an
/// Idempotency-Key when given.
async fn send(base: &str, emails: &[&str], async_: bool, key: Option<&str>) -> Sent {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/invitations/send"))
        .bearer_auth(admin_token())
        .json(&json!({ "emails": emails }));
    if async_ {
        request = request.header("prefer", "respond-async");
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Sent::of(request).await
}

/// The ids of every campaign `base` lists (the admin sees everybody's).
pub async fn campaign_ids(base: &str) -> Vec<String> {
    let list = admin_get(base, "/v1/campaigns").await.body;
    list["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Asserts that every one of `people` got exactly one mail and nobody else got any.
pub fn each_mailed_once(stats: &Value, people: &[&str]) {
    let mails = stats["mailsSent"].as_object().expect("mails per address");
    assert_eq!(mails.len(), people.len(), "{stats}");
    assert!(people.iter().all(|p| mails[*p] == 1), "{stats}");
    assert_eq!(stats["calls"]["send"], people.len(), "{stats}");
}

/// The id of the campaign a `202`'s `Location` names.
fn id_of(sent: &Sent) -> String {
    sent.campaign_id(202)
}

#[tokio::test]
async fn a_respond_async_send_retried_with_its_key_gets_the_first_202_and_makes_one_campaign() {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(None)).await;
    let first = send(&app.address, &PEOPLE, true, Some("wave-7")).await;
    let id = id_of(&first);
    assert!(!first.replayed, "the first answer is no replay");
    campaign_completed(&app.address, &id).await;

    let retry = send(&app.address, &PEOPLE, true, Some("wave-7")).await;
    assert_eq!(id_of(&retry), id, "the same Location");
    assert!(retry.replayed, "Idempotent-Replayed: true");
    assert_eq!(retry.body, first.body, "the first answer, byte for byte");
    assert_eq!(retry.json()["id"], id.as_str());

    assert_eq!(campaign_ids(&app.address).await, vec![id], "one campaign");
    each_mailed_once(&app.stats().await, &PEOPLE);
}

#[tokio::test]
async fn ten_concurrent_respond_async_sends_with_one_key_make_one_campaign() {
    ten_at_once_make_one_campaign(None).await;
}

#[tokio::test]
async fn on_postgresql_ten_concurrent_respond_async_sends_with_one_key_make_one_campaign() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    ten_at_once_make_one_campaign(Some(&db.url)).await;
    db.drop_it().await;
}

async fn ten_at_once_make_one_campaign(url: Option<&str>) {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(url)).await;
    let answers = futures_util::future::join_all(
        (0..10).map(|_| send(&app.address, &PEOPLE, true, Some("wave-8"))),
    )
    .await;

    let id = Sent::one_campaign_for_all(&answers, 202);
    assert_eq!(campaign_ids(&app.address).await, vec![id.clone()]);
    campaign_completed(&app.address, &id).await;
    each_mailed_once(&app.stats().await, &PEOPLE);
}

#[tokio::test]
async fn a_respond_async_key_used_with_another_body_or_without_the_preference_is_422() {
    let (app, _clock) = spawn_app_at(Utc::now(), Seed::Demo, on_database(None)).await;
    let first = send(&app.address, &PEOPLE, true, Some("wave-9")).await;
    let id = id_of(&first);

    let other_body = send(&app.address, &PEOPLE[..2], true, Some("wave-9")).await;
    assert_eq!(other_body.status, 422, "{}", other_body.body);
    assert_eq!(other_body.json()["code"], "idempotency_key_reused");
    // The same body without the preference is another request: its answer would differ.
    let answered_at_once = send(&app.address, &PEOPLE, false, Some("wave-9")).await;
    assert_eq!(answered_at_once.status, 422, "{}", answered_at_once.body);
    assert_eq!(
        answered_at_once.json()["code"],
        "idempotency_key_reused",
        "{}",
        answered_at_once.body
    );
    // And the other way round: a key first used for a send answered at once.
    let at_once = send(
        &app.address,
        &["dennis@example.com"],
        false,
        Some("wave-10"),
    )
    .await;
    assert_eq!(at_once.status, 200, "{}", at_once.body);
    let later_async = send(&app.address, &["dennis@example.com"], true, Some("wave-10")).await;
    assert_eq!(later_async.status, 422, "{}", later_async.body);
    assert_eq!(later_async.json()["code"], "idempotency_key_reused");

    assert_eq!(campaign_ids(&app.address).await, vec![id], "one campaign");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_given_one_respond_async_key_at_once_make_one_campaign() {
    two_replicas_make_one_campaign(202, &PEOPLE, |base| async move {
        send(&base, &PEOPLE, true, Some("wave-11")).await
    })
    .await;
}

/// Two replicas sharing a fresh PostgreSQL database, in front of the demo seed, given six
/// keyed requests at once (`post` to each replica in turn, answered `status`), make one
/// campaign, which mails each of `people` once.
pub async fn two_replicas_make_one_campaign<F, Fut>(status: u16, people: &[&str], post: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Sent>,
{
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    let quick = [("GATEWAY_CAMPAIGN_POLL_MILLIS", "50")];
    let replicas: Vec<Replica> = (0..2)
        .map(|_| start_replica(&google, &db.url, &quick))
        .collect();

    let answers =
        futures_util::future::join_all((0..6).map(|i| post(replicas[i % 2].base.clone()))).await;

    let id = Sent::one_campaign_for_all(&answers, status);
    for replica in &replicas {
        assert_eq!(campaign_ids(&replica.base).await, vec![id.clone()]);
    }
    campaign_completed(&replicas[1].base, &id).await;
    each_mailed_once(&stats(&google).await, people);
    drop(replicas);
    db.drop_it().await;
}
