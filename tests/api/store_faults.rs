//! The store failing under the gateway's feet: SQLite full (its size cap, `PRAGMA
//! max_page_count`, reaches the same SQLITE_FULL as a full disk), a PostgreSQL connection cut
//! mid-transaction. Whatever fails, every person Google mailed ends with exactly one audit
//! record carrying its outcome, and the gateway works again by itself once the store can write.

use crate::helpers::{
    PATIENCE, TestApp, admin_token, campaign_at, campaign_completed, eventually, eventually_every,
    spawn_app_at, spawn_app_clocked, spawn_google, start_binary, test_settings,
};
use crate::pg::PgDatabase;
use crate::replicas::{listening_address, replica_env};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::{Seed, SeedAccount};
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::time::Duration;

/// The size cap of the gateway's SQLite file in these tests.
const CAP_MIB: u32 = 2;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

fn people(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}{i:03}@corp.example.com"))
        .collect()
}

/// `n` people the emulator knows and has not invited (`people(prefix, n)`), and a gateway in
/// front of them on a manual clock with a quick campaign worker, its settings changed by
/// `tune`; answers the people, the gateway, its clock and its campaign lease.
async fn people_and_app(
    prefix: &str,
    n: usize,
    tune: impl FnOnce(&mut Settings),
) -> (Vec<String>, TestApp, Clock, Duration) {
    let who = people(prefix, n);
    let accounts = who.iter().map(|e| SeedAccount::new(e.clone(), None));
    let (app, clock) = spawn_app_at(start(), Seed::Accounts(accounts.collect()), tune).await;
    let lease = app.state.settings.invitations.campaigns.lease;
    (who, app, clock, lease)
}

/// A second connection to the gateway's SQLite file, under the same size cap: it takes the
/// free space (`fill`) and gives it back (`free`), as another tenant of a small disk would.
struct Filler(sqlx::SqliteConnection);

impl Filler {
    async fn open(app: &TestApp) -> Filler {
        Filler::open_file(&app.google.key_dir().join("gateway.db")).await
    }

    async fn open_file(path: &std::path::Path) -> Filler {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open the gateway's file");
        let page: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let pages = i64::from(CAP_MIB) * 1024 * 1024 / page;
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS test_filler (data BLOB NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        Filler(conn)
    }

    /// Inserts blobs, smaller and smaller, until not even a page is left.
    async fn fill(&mut self) {
        for size in [65_536_usize, 4096, 512, 64] {
            loop {
                let inserted = sqlx::query("INSERT INTO test_filler (data) VALUES (zeroblob($1))")
                    .bind(i64::try_from(size).unwrap())
                    .execute(&mut self.0)
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(err) => {
                        assert!(err.to_string().contains("full"), "{err}");
                        break;
                    }
                }
            }
        }
    }

    async fn free(&mut self) {
        sqlx::query("DELETE FROM test_filler")
            .execute(&mut self.0)
            .await
            .unwrap();
    }
}

/// Every audit record of `email` in the store.
async fn audit_of(app: &TestApp, email: &str) -> Vec<Value> {
    let found = app
        .post_json(
            "/v1/audit/search",
            &admin_token(),
            json!({"emails": [email]}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many mails the emulator sent to each person.
async fn mails(app: &TestApp) -> BTreeMap<String, u64> {
    let stats = app.stats().await;
    stats["mailsSent"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

async fn campaign(app: &TestApp, id: &str) -> Value {
    campaign_at(&app.address, id).await
}

async fn store_failed(app: &TestApp) -> bool {
    let ready: Value = app.get("/readyz").await.json().await.unwrap_or_default();
    ready["degraded"]
        .as_array()
        .is_some_and(|d| d.iter().any(|c| c == "store: failed"))
}

/// Each person Google mailed has exactly one audit record, and it says `sent`; nobody else has
/// a `sent` record. Answers how many were mailed, or what is not so yet.
async fn each_mail_recorded_once(app: &TestApp, who: &[String]) -> Result<usize, String> {
    let mailed = mails(app).await;
    let mut count = 0;
    for email in who {
        let records = audit_of(app, email).await;
        match mailed.get(email).copied().unwrap_or(0) {
            0 if records.iter().all(|r| r["outcome"] != "sent") => {}
            1 if records.len() == 1 && records[0]["outcome"] == "sent" => count += 1,
            n => return Err(format!("{email} was mailed {n} times: {records:?}")),
        }
    }
    Ok(count)
}

/// [`each_mail_recorded_once`], once the outcomes nobody could record are settled (a background
/// sweep reads Google again; waiting at most [`PATIENCE`]).
async fn assert_each_mail_recorded_once(app: &TestApp, who: &[String]) -> usize {
    eventually_every(
        Duration::from_millis(100),
        PATIENCE,
        "each mail is recorded once",
        || each_mail_recorded_once(app, who),
    )
    .await
}

#[tokio::test]
async fn a_store_that_fills_mid_campaign_loses_no_record_and_works_again_within_a_lease() {
    let (who, app, clock, lease) =
        people_and_app("full", 60, |s| s.store.sqlite_max_mib = Some(CAP_MIB)).await;

    // The campaign is stored while there is room; it starts once the disk is full.
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "full disk", "source": {"emails": who},
                   "startAt": (start() + chrono::Duration::minutes(5)).to_rfc3339()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut filler = Filler::open(&app).await;
    filler.fill().await;
    clock.advance(Duration::from_secs(6 * 60));

    // The worker meets the full store (its writes fail): wait until the gateway saw it (the
    // campaign waits for the store, or a call failed just now).
    eventually("the store fails", || async {
        campaign(&app, &id).await["state"] == "waiting" || store_failed(&app).await
    })
    .await;

    // Space comes back. Within one lease (and the outage wait, shorter) it goes on by itself:
    // a wait for the store is dated from the claim that met the failure, so the clock moves
    // on by one lease and no more.
    filler.free().await;
    clock.advance(lease + Duration::from_secs(1));
    let done = campaign_completed(&app.address, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["counts"], json!({"sent": 60}), "{done}");
    assert_eq!(
        assert_each_mail_recorded_once(&app, &who).await,
        60,
        "everybody mailed once"
    );
    // And a request's send works on the pooled connections again.
    let again = app
        .post_json(
            "/v1/invitations/send",
            &admin_token(),
            json!({"emails": who[..10]}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    for result in again.body["results"].as_array().unwrap() {
        assert_eq!(result["outcome"], "already_invited", "{}", again.body);
    }
}

#[tokio::test]
async fn postgres_connections_cut_mid_campaign_lose_no_record_and_the_campaign_completes() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let (who, app, clock, lease) =
        people_and_app("cut", 40, |s| s.store.database_url = db.url.clone().into()).await;
    // Slow enough that the cuts below meet transactions and calls in flight.
    app.control("latency", json!({"ms": 20})).await;
    let created = app
        .post_json(
            "/v1/campaigns",
            &admin_token(),
            json!({"name": "cut", "source": {"emails": who}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Every connection of the gateway is cut, again and again, for a while (whatever each cut
    // meets: a transaction, a COMMIT, an idle connection).
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut cuts = 0;
    for _ in 0..60 {
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        cuts += cut.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cuts > 0, "no connection was cut");

    // No more cuts: within one lease the campaign goes on by itself and completes.
    clock.advance(lease + Duration::from_secs(1));
    let done = campaign_completed(&app.address, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["counts"], json!({"sent": 40}), "{done}");
    assert_eq!(assert_each_mail_recorded_once(&app, &who).await, 40);

    let _ = admin.close().await;
    db.drop_it().await;
}

#[tokio::test]
async fn sends_into_a_full_store_answer_sent_only_with_a_record_and_work_again_once_it_has_room() {
    let who = people("req", 150);
    let google = spawn_google(Seed::Accounts(
        who.iter()
            .map(|e| SeedAccount::new(e.clone(), None))
            .collect(),
    ))
    .await;
    let mut settings = test_settings(&google);
    settings.store.sqlite_max_mib = Some(CAP_MIB);
    // The sweep that settles unrecorded outcomes runs every 60 polls of the campaign worker.
    settings.invitations.campaigns.poll = Duration::from_millis(20);
    let app = spawn_app_clocked(google, settings, Clock::system()).await;
    let mut filler = Filler::open(&app).await;

    // One person per request, so that each answer is about one mail. The first ones while
    // there is room, the others once the store is full.
    let mut answered_sent = Vec::new();
    let mut refused = 0;
    for (i, email) in who.iter().enumerate() {
        if i == 5 {
            assert_eq!(answered_sent.len(), 5, "sent while there was room");
            filler.fill().await;
        }
        let answer = app
            .post_json(
                "/v1/invitations/send",
                &admin_token(),
                json!({"emails": [email]}),
            )
            .await;
        match answer.body["results"][0]["outcome"].as_str() {
            Some("sent") => answered_sent.push(email.clone()),
            _ => refused += 1,
        }
    }
    assert!(refused > 0, "the full store refused nothing");
    // While the store is still full (searching it works): every person Google mailed has
    // exactly one record (its outcome, or an intent whose outcome could not be written yet),
    // and every `sent` answer has its record (`sent` once settled, below).
    let mailed = mails(&app).await;
    assert!(mailed.len() >= 5, "{mailed:?}");
    for email in mailed.keys() {
        let records = audit_of(&app, email).await;
        assert_eq!(records.len(), 1, "{email}: {records:?}");
        assert_eq!(mailed[email], 1, "{email}");
    }
    for email in &answered_sent {
        let records = audit_of(&app, email).await;
        assert_eq!(records.len(), 1, "{email} answered sent: {records:?}");
        assert!(
            records[0]["outcome"] == "sent" || records[0]["outcome"].is_null(),
            "{email} answered sent: {records:?}"
        );
    }
    // Space comes back: what could not be written is settled.
    filler.free().await;
    assert_each_mail_recorded_once(&app, &who).await;
    for email in &answered_sent {
        let records = audit_of(&app, email).await;
        assert!(
            records.iter().any(|r| r["outcome"] == "sent"),
            "{email} answered sent: {records:?}"
        );
    }
    // With room again, the others are sent at once.
    let rest: Vec<&String> = who.iter().filter(|e| !answered_sent.contains(e)).collect();
    for chunk in rest.chunks(100) {
        let again = app
            .post_json(
                "/v1/invitations/send",
                &admin_token(),
                json!({"emails": chunk}),
            )
            .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["summary"]["sent"], chunk.len(), "{}", again.body);
    }
    assert_eq!(assert_each_mail_recorded_once(&app, &who).await, 150);
}

/// POSTs a send of `emails` to the gateway at `base`; answers the body.
async fn send_at(base: &str, emails: &[String]) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/invitations/send"))
        .bearer_auth(admin_token())
        .json(&json!({ "emails": emails }))
        .send()
        .await
        .expect("the gateway answers");
    answer.json().await.expect("JSON")
}

#[tokio::test]
async fn the_real_binary_logs_no_non_zero_transaction_depth_after_a_full_store_has_room_again() {
    let who = people("log", 40);
    let google = spawn_google(Seed::Accounts(
        who.iter()
            .map(|e| SeedAccount::new(e.clone(), None))
            .collect(),
    ))
    .await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("gateway.db");
    let url = format!("sqlite://{}", db.display());
    let mib = CAP_MIB.to_string();
    let env = replica_env(
        &google,
        &url,
        &[
            ("GATEWAY_DATABASE_SQLITE_MAX_MIB", &mib),
            ("GATEWAY_CAMPAIGN_POLL_MILLIS", "20"),
            ("GATEWAY_GOOGLE_CALLS_PER_MINUTE", "100000"),
            ("GATEWAY_SHUTDOWN_DRAIN_SECS", "0"),
        ],
    );
    let (mut process, lines) = start_binary(&["serve", "--listen", "127.0.0.1:0"], env, true);
    let base = format!("http://{}", listening_address(&lines, |_| {}));

    let mut filler = Filler::open_file(&db).await;
    let first = send_at(&base, &who[..3]).await;
    assert_eq!(first["summary"]["sent"], 3, "{first}");
    filler.fill().await;
    for email in &who[3..20] {
        send_at(&base, std::slice::from_ref(email)).await;
    }
    filler.free().await;
    // Room again: every send on the pooled connections works.
    for email in &who[20..] {
        let answer = send_at(&base, std::slice::from_ref(email)).await;
        assert_eq!(answer["results"][0]["outcome"], "sent", "{answer}");
    }
    // The full store was met and logged (so the log is read), and no connection went back to
    // the pool inside a transaction (sqlx's "non-zero transaction depth"), up to the process's
    // last line: it is stopped, and its whole log read.
    let logged = process.stop_and_read(lines);
    assert!(
        logged.iter().any(|line| line.contains("full")),
        "the full store was logged: {logged:#?}"
    );
    let depth: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("non-zero transaction depth"))
        .collect();
    assert!(depth.is_empty(), "{depth:#?}");
}
