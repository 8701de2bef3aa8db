//! Campaigns across real gateway processes sharing one PostgreSQL: a replica killed with
//! SIGKILL mid-campaign leaves its items to the others after their lease, and nobody gets a
//! second mail; a pause reaches every replica within the lease time. Skipped without
//! `GATEWAY_TEST_DATABASE_URL` (failed under `CI=true`), like the other multi-process tests.
//! On SQLite (one replica by design), the only process killed mid-mail and started again on
//! the same file finishes the campaign without a second mail.

use crate::helpers::{
    TestGoogle, admin_token, campaign_at, campaign_completed, eventually, sigterm, spawn_google,
    worker_passes_at,
};
use crate::pg::PgDatabase;
use crate::replicas::{Replica, control, start_replica, stats, total_mails};
use invitation_gateway::emulator::{Seed, SeedAccount};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PEOPLE: usize = 60;

/// Short leases and deadlines, a quick worker, two items at a time per replica, and a budget
/// that never holds the campaign back.
const SETTINGS: [(&str, &str); 6] = [
    ("GATEWAY_CAMPAIGN_LEASE_SECS", "2"),
    ("GATEWAY_CAMPAIGN_POLL_MILLIS", "50"),
    ("GATEWAY_BATCH_CONCURRENCY", "2"),
    ("GATEWAY_GOOGLE_CALLS_PER_MINUTE", "100000"),
    ("GATEWAY_GOOGLE_TOTAL_TIMEOUT_MS", "3000"),
    ("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS", "2500"),
];

async fn people() -> TestGoogle {
    let accounts = (0..PEOPLE)
        .map(|i| SeedAccount::new(format!("p{i:02}@corp.example.com"), None))
        .collect();
    let google = spawn_google(Seed::Accounts(accounts)).await;
    // Each call takes a while, so the campaign is still going when the test acts on it.
    control(&google, "latency", json!({"ms": 150})).await;
    google
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(admin_token())
        .json(&body)
        .send()
        .await
        .expect("the replica answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start_campaign(base: &str) -> String {
    let (status, body) = post(
        base,
        "/v1/campaigns",
        json!({"name": "everyone", "source": {"states": ["NOT_YET_SENT"]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("an id").to_owned()
}

async fn mails_reach(google: &TestGoogle, at_least: u64) {
    eventually(&format!("the campaign mails {at_least} people"), || async {
        total_mails(&stats(google).await) >= at_least
    })
    .await;
}

/// How many whole passes of every replica's worker stand for "nothing more happens" after a
/// pause: at the 50 ms poll, longer than the two-second lease.
const AFTER_PAUSE_PASSES: u64 = 50;

/// Waits until every replica's campaign worker finished `passes` whole passes begun now.
async fn every_replica_passes(replicas: &[Replica], passes: u64) {
    futures_util::future::join_all(
        replicas
            .iter()
            .map(|replica| worker_passes_at(&replica.base, passes)),
    )
    .await;
}

fn each_mailed_once(stats: &Value) {
    let mails = stats["mailsSent"].as_object().expect("mails per address");
    assert_eq!(mails.len(), PEOPLE, "{stats}");
    assert!(mails.values().all(|n| n == 1), "a second mail: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_campaign_leaves_its_items_to_the_others_and_nobody_gets_two_mails() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = people().await;
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| start_replica(&google, &db.url, &SETTINGS))
        .collect();
    let id = start_campaign(&replicas[1].base).await;

    mails_reach(&google, 10).await;
    let doomed = &mut replicas[0];
    doomed.process.0.kill().expect("SIGKILL a replica");
    let _ = doomed.process.0.wait();

    let done = campaign_completed(&replicas[1].base, &id).await;
    assert_eq!(done["counts"], json!({"sent": PEOPLE}), "{done}");
    each_mailed_once(&stats(&google).await);
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_reaches_every_replica_within_the_lease_and_a_resume_finishes_the_campaign() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = people().await;
    let replicas: Vec<Replica> = (0..3)
        .map(|_| start_replica(&google, &db.url, &SETTINGS))
        .collect();
    let id = start_campaign(&replicas[0].base).await;
    mails_reach(&google, 6).await;

    let (status, paused) = post(
        &replicas[2].base,
        &format!("/v1/campaigns/{id}/pause"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    let paused_at = Instant::now();
    // A whole pass begun after the pause: every replica has seen it (its items in flight
    // finished), and in the passes after that nobody mails anybody.
    every_replica_passes(&replicas, 1).await;
    let settled = total_mails(&stats(&google).await);
    every_replica_passes(&replicas, AFTER_PAUSE_PASSES).await;
    assert_eq!(
        total_mails(&stats(&google).await),
        settled,
        "no replica mailed anybody {:?} after the pause",
        paused_at.elapsed()
    );
    assert!(settled < PEOPLE as u64, "the pause came before the end");
    assert_eq!(campaign_at(&replicas[1].base, &id).await["state"], "paused");

    let (status, resumed) = post(
        &replicas[1].base,
        &format!("/v1/campaigns/{id}/resume"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    let done = campaign_completed(&replicas[0].base, &id).await;
    assert_eq!(done["counts"], json!({"sent": PEOPLE}), "{done}");
    each_mailed_once(&stats(&google).await);
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_stopped_with_sigterm_finishes_or_gives_back_its_items_at_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = people().await;
    // A lease far longer than the test: an item the stopped replica kept would hold the
    // campaign for a minute.
    let mut settings = SETTINGS.to_vec();
    settings.retain(|(name, _)| *name != "GATEWAY_CAMPAIGN_LEASE_SECS");
    settings.push(("GATEWAY_CAMPAIGN_LEASE_SECS", "60"));
    settings.push(("GATEWAY_SHUTDOWN_DRAIN_SECS", "1"));
    let mut replicas: Vec<Replica> = (0..2)
        .map(|_| start_replica(&google, &db.url, &settings))
        .collect();
    let id = start_campaign(&replicas[1].base).await;
    mails_reach(&google, 6).await;

    let stopping = &mut replicas[0];
    sigterm(&stopping.process.0);
    let exited = stopping.process.0.wait().expect("the replica exits");
    assert!(exited.success(), "{exited:?}");
    let stopped_at = Instant::now();

    let done = campaign_completed(&replicas[1].base, &id).await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(30),
        "the other replica did not have to wait for a lease: {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(done["counts"], json!({"sent": PEOPLE}), "{done}");
    each_mailed_once(&stats(&google).await);
    drop(replicas);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_only_replica_killed_mid_mail_on_sqlite_finishes_the_campaign_after_a_restart_mailing_nobody_twice()
 {
    let google = people().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let mut first = start_replica(&google, &url, &SETTINGS);
    let id = start_campaign(&first.base).await;
    mails_reach(&google, 10).await;

    // The next send reaches Google (the mail goes out) and its answer is slow: kill the only
    // replica while it waits for it.
    control(
        &google,
        "faults",
        json!({"method": "send", "count": 1, "latencyMs": 2000, "status": 503, "afterApply": true}),
    )
    .await;
    let before = total_mails(&stats(&google).await);
    mails_reach(&google, before + 1).await;
    first.process.0.kill().expect("SIGKILL the replica");
    let _ = first.process.0.wait();

    // A new process on the same file takes the dead one's items over once their lease ran
    // out, reads Google before mailing anyone it may have mailed, and finishes.
    let second = start_replica(&google, &url, &SETTINGS);
    let done = campaign_completed(&second.base, &id).await;
    assert_eq!(done["counts"], json!({"sent": PEOPLE}), "{done}");
    each_mailed_once(&stats(&google).await);
}
