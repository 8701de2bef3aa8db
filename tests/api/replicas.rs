//! Several gateway processes on one PostgreSQL database, in front of one emulator: the send
//! ledger, the daily mail budget and Idempotency-Keys hold across replicas, and a replica
//! killed mid-send leaves no way to a second mail.
//!
//! Each test creates a fresh database on the server named by `GATEWAY_TEST_DATABASE_URL` and
//! drops it after; without the variable the tests are skipped, except under `CI=true`, where
//! they fail (as the store's own tests do).

use crate::helpers::{
    ADMIN, JWT_SECRET, Running, TestGoogle, admin_token, eventually, eventually_every,
    spawn_google, start_binary,
};
use crate::pg::PgDatabase;
use invitation_gateway::emulator::Seed;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

/// One gateway process.
pub struct Replica {
    pub process: Running,
    pub base: String,
}

/// Starts `serve` against `google` and the database `url`, with `extra` settings.
pub fn start_replica(google: &TestGoogle, url: &str, extra: &[(&str, &str)]) -> Replica {
    let env = replica_env(google, url, extra);
    let (process, lines) = start_binary(&["serve", "--listen", "127.0.0.1:0"], env, true);
    let address = listening_address(&lines, |_| {});
    // The lines keep coming; nobody needs them.
    std::thread::spawn(move || while lines.recv().is_ok() {});
    Replica {
        process,
        base: format!("http://{address}"),
    }
}

/// Reads a replica's (JSON) log lines until it says where it listens, handing each earlier
/// line to `seen`; answers the address.
pub fn listening_address(
    lines: &std::sync::mpsc::Receiver<String>,
    mut seen: impl FnMut(&Value),
) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the gateway logs its address");
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if parsed["message"] == "invitation-gateway listening" {
            return parsed["address"].as_str().unwrap().to_owned();
        }
        seen(&parsed);
    }
}

/// The environment of a `serve` process against `google` and the database `url`, with `extra`
/// settings.
pub fn replica_env(
    google: &TestGoogle,
    url: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("GATEWAY_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
        ("GATEWAY_DATABASE_URL", url),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            google.key_path.to_str().unwrap(),
        ),
        ("GATEWAY_DELEGATED_ADMIN", ADMIN),
        ("GATEWAY_GOOGLE_API_URL", google.emulator.url()),
        ("GATEWAY_JWT_HS256_SECRET", JWT_SECRET),
        ("GATEWAY_RATE_LIMIT_PER_SECOND", "1000"),
        ("GATEWAY_RATE_LIMIT_BURST", "1000"),
        ("GATEWAY_WORKERS", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// POSTs a send of `emails` to `replica`, with an Idempotency-Key when given.
async fn send(replica_base: &str, emails: &[&str], key: Option<&str>) -> (u16, bool, Value) {
    send_owned(
        replica_base.to_owned(),
        emails.iter().map(|e| (*e).to_owned()).collect(),
        key,
    )
    .await
}

async fn send_owned(
    replica_base: String,
    emails: Vec<String>,
    key: Option<&str>,
) -> (u16, bool, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{replica_base}/v1/invitations/send"))
        .bearer_auth(admin_token())
        .json(&json!({ "emails": emails }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("the replica answers");
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body = response.json().await.unwrap_or(Value::Null);
    (status, replayed, body)
}

pub(crate) async fn stats(google: &TestGoogle) -> Value {
    reqwest::get(format!("{}/emulator/v1/stats", google.emulator.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn control(google: &TestGoogle, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/emulator/v1/{path}", google.emulator.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "control {path}");
}

pub(crate) fn total_mails(stats: &Value) -> u64 {
    stats["mailsSent"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_sends_of_one_address_spread_over_three_replicas_mail_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    let replicas: Vec<Replica> = (0..3)
        .map(|_| start_replica(&google, &db.url, &[]))
        .collect();
    control(&google, "latency", json!({"ms": 50})).await;

    let answers = futures_util::future::join_all(
        (0..20).map(|i| send(&replicas[i % 3].base, &["radia@example.com"], None)),
    )
    .await;

    let mut outcomes: Vec<String> = answers
        .iter()
        .map(|(status, _, body)| {
            assert_eq!(*status, 200, "{body}");
            body["results"][0]["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    outcomes.sort();
    let stats = stats(&google).await;
    assert_eq!(stats["mailsSent"]["radia@example.com"], 1, "{stats}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "sent").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "already_invited").count(),
        19,
        "{outcomes:?}"
    );
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_limit_of_five_holds_across_three_replicas() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    let limit = [("GATEWAY_DAILY_MAIL_LIMIT", "5")];
    let replicas: Vec<Replica> = (0..3)
        .map(|_| start_replica(&google, &db.url, &limit))
        .collect();
    let people = [
        "john@example.com",
        "dennis@example.com",
        "radia@example.com",
        "bjarne@example.com",
        "james@example.com",
        "claude@example.com",
        "sophie@example.com",
        "robin@example.com",
        "yukihiro@example.com",
    ];

    let answers = futures_util::future::join_all(people.iter().enumerate().map(|(i, email)| {
        send_owned(
            replicas[i % 3].base.clone(),
            vec![(*email).to_owned()],
            None,
        )
    }))
    .await;

    let outcome = |(_, _, body): &(u16, bool, Value)| {
        body["results"][0]["error"]["code"]
            .as_str()
            .unwrap_or(body["results"][0]["outcome"].as_str().unwrap_or_default())
            .to_owned()
    };
    let outcomes: Vec<String> = answers.iter().map(outcome).collect();
    let stats = stats(&google).await;
    assert_eq!(total_mails(&stats), 5, "{stats}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "sent").count(),
        5,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| *o == "mail_quota_exceeded")
            .count(),
        4,
        "{outcomes:?}"
    );
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_sent_to_two_replicas_at_once_executes_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    let replicas: Vec<Replica> = (0..2)
        .map(|_| start_replica(&google, &db.url, &[]))
        .collect();
    // Slow enough that the second request arrives while the first is executing.
    control(&google, "latency", json!({"ms": 200})).await;
    let emails = ["radia@example.com", "john@example.com"];

    let (first, second) = tokio::join!(
        send(&replicas[0].base, &emails, Some("onboarding-42")),
        send(&replicas[1].base, &emails, Some("onboarding-42")),
    );

    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(second.0, 200, "{}", second.2);
    assert_eq!(first.2, second.2, "both answers are the one execution's");
    assert!(first.1 != second.1, "exactly one answer is a replay");
    let stats = stats(&google).await;
    assert_eq!(stats["calls"]["get"], 2, "one read per address: {stats}");
    assert_eq!(stats["calls"]["send"], 2, "one send per address: {stats}");
    assert_eq!(total_mails(&stats), 2, "{stats}");
    drop(replicas);
    db.drop_it().await;
}

/// Two replicas on `db`; the first is killed with SIGKILL while its send of radia (with
/// Idempotency-Key `key`, when given) is at Google, the mail made and the answer not yet back.
/// Answers the emulator and the survivor.
async fn a_send_killed_at_google(
    db: &PgDatabase,
    key: Option<&'static str>,
) -> (TestGoogle, Replica) {
    let google = spawn_google(Seed::Demo).await;
    // Short deadlines: the dead replica's claim (and key) run out within seconds.
    let timing = [
        ("GATEWAY_GOOGLE_TOTAL_TIMEOUT_MS", "3000"),
        ("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS", "2500"),
    ];
    let mut doomed = start_replica(&google, &db.url, &timing);
    let survivor = start_replica(&google, &db.url, &timing);
    control(
        &google,
        "faults",
        // The mail goes out at once; the answer takes long and is lost with the replica.
        json!({"method": "send", "count": 1, "latencyMs": 1500, "status": 503, "afterApply": true}),
    )
    .await;

    // Its connection dies with the replica: the answer is an error, which nobody reads.
    let first = tokio::spawn(send_owned(
        doomed.base.clone(),
        vec!["radia@example.com".to_owned()],
        key,
    ));
    // The send is at Google (it waits there): kill the replica now.
    eventually("the send started", || async {
        stats(&google).await["calls"]["send"] == 1
    })
    .await;
    doomed.process.0.kill().expect("SIGKILL the replica");
    let _ = doomed.process.0.wait();
    first.abort();
    (google, survivor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_send_leaves_no_second_mail_when_the_batch_is_retried_elsewhere() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (google, survivor) = a_send_killed_at_google(&db, None).await;

    // The dead replica's claim outlives it: a retry at once is refused without any call.
    let (status, _, body) = send(&survivor.base, &["radia@example.com"], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["error"]["code"], "address_busy",
        "{body}"
    );
    // Retried on the survivor until the dead replica's claim has run out.
    let outcome = eventually_every(
        Duration::from_millis(250),
        Duration::from_secs(15),
        "the dead replica's claim runs out",
        || async {
            let (status, _, body) = send(&survivor.base, &["radia@example.com"], None).await;
            assert_eq!(status, 200, "{body}");
            let item = &body["results"][0];
            (item["error"]["code"] != "address_busy")
                .then(|| item["outcome"].as_str().unwrap().to_owned())
        },
    )
    .await;

    let stats = stats(&google).await;
    assert_eq!(stats["mailsSent"]["radia@example.com"], 1, "{stats}");
    assert_eq!(outcome, "already_invited", "the retry read first");
    // The mail that went out with the dead replica is on record: its intent, written before
    // the call, settled as `sent` by the retry's read (the replica did not live to write it).
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("connect to the test database");
    let intents: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT outcome FROM audit_events WHERE email = $1 AND action = 'send' ORDER BY id",
    )
    .bind("radia@example.com")
    .fetch_all(&mut conn)
    .await
    .expect("read the audit trail");
    let _ = conn.close().await;
    assert_eq!(
        intents.first(),
        Some(&(Some("sent".to_owned()),)),
        "the killed replica's send has its intent, settled by the retry: {intents:?}"
    );
    drop(survivor);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_left_pending_by_a_killed_replica_is_taken_over_and_its_retry_mails_nobody_again() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (google, survivor) = a_send_killed_at_google(&db, Some("onboarding-killed")).await;

    // The dead replica's pending key outlives it for its lease: a retry with the key waits
    // for it, then either is told it is still in progress or takes the key over.
    let (replayed, body) = eventually_every(
        Duration::from_millis(250),
        Duration::from_secs(15),
        "the key is taken over within its lease",
        || async {
            let (status, replayed, body) = send(
                &survivor.base,
                &["radia@example.com"],
                Some("onboarding-killed"),
            )
            .await;
            match status {
                409 => assert_eq!(body["code"], "idempotency_key_in_progress", "{body}"),
                200 if body["results"][0]["error"]["code"] == "address_busy" => {}
                200 => return Some((replayed, body)),
                other => panic!("unexpected {other}: {body}"),
            }
            None
        },
    )
    .await;
    assert!(
        !replayed,
        "nothing was stored to replay: the retry executed"
    );
    assert_eq!(
        body["results"][0]["outcome"], "already_invited",
        "the retry read Google first: {body}"
    );
    let stats = stats(&google).await;
    assert_eq!(stats["mailsSent"]["radia@example.com"], 1, "{stats}");
    assert_eq!(stats["calls"]["send"], 1, "no second send: {stats}");

    // From now on the key replays that answer.
    let (status, replayed, again) = send(
        &survivor.base,
        &["radia@example.com"],
        Some("onboarding-killed"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert!(replayed, "{again}");
    assert_eq!(again, body);
    drop(survivor);
    db.drop_it().await;
}

/// Sends radia an invitation through the gateway at `base`.
async fn invite_radia(base: &str) {
    let (status, _, body) = send(base, &["radia@example.com"], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["outcome"], "sent", "{body}");
}

/// Cancels radia's invitation through the gateway at `base`; answers the subjects of the
/// events its feed then shows for her (the send's and the cancel's).
async fn cancel_radia_for_subjects(base: &str) -> Vec<String> {
    let cancelled = reqwest::Client::new()
        .post(format!("{base}/v1/invitations/cancel"))
        .bearer_auth(admin_token())
        .json(&json!({"emails": ["radia@example.com"]}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(cancelled.status(), 200);
    let events = crate::tracking::feed_at(base).await;
    let subjects: Vec<String> = events
        .iter()
        .filter(|e| e["data"]["email"] == "radia@example.com")
        .map(|e| e["subject"].as_str().expect("a subject").to_owned())
        .collect();
    assert_eq!(subjects.len(), 2, "sent and cancelled: {events:?}");
    assert!(subjects[0].starts_with("e_"), "{subjects:?}");
    subjects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_configured_hash_key_two_replicas_give_one_person_one_event_subject() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = spawn_google(Seed::Demo).await;
    // Neither sets GATEWAY_LOG_HASH_KEY: they share the key the first one made in the store.
    let replicas: Vec<Replica> = (0..2)
        .map(|_| start_replica(&google, &db.url, &[]))
        .collect();

    invite_radia(&replicas[0].base).await;
    let subjects = cancel_radia_for_subjects(&replicas[1].base).await;

    assert_eq!(subjects[0], subjects[1], "one person, one subject");
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_configured_hash_key_a_restart_keeps_a_persons_event_subject() {
    let google = spawn_google(Seed::Demo).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let before = start_replica(&google, &url, &[]);
    invite_radia(&before.base).await;
    drop(before);
    let after = start_replica(&google, &url, &[]);

    let subjects = cancel_radia_for_subjects(&after.base).await;

    assert_eq!(subjects[0], subjects[1], "the same subject after a restart");
}
