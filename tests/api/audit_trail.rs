//! The audit trail in the store: every send and cancel writes its intent before the call to
//! Google and its outcome after, so no mail goes out unrecorded.

use crate::helpers::{
    CALLER, admin_token, eventually, spawn_app, spawn_app_tuned, spawn_app_with, spawn_google,
    test_settings,
};
use chrono::{TimeZone, Utc};
use futures_util::StreamExt;
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use invitation_gateway::invitations::batch::EmailBatch;
use invitation_gateway::invitations::mutation::{Done, MutationObserver};
use invitation_gateway::invitations::outcome::ItemError;
use invitation_gateway::store::{AuditEvent, AuditFilter, AuditIntent, Caller, Store};
use invitation_gateway::vocabulary::Action;
use serde_json::json;
use std::time::Duration;

async fn trail(store: &Store) -> Vec<AuditEvent> {
    store
        .list_audit(&AuditFilter::default(), 1000, None)
        .await
        .expect("the store answers")
        .events
}

#[tokio::test]
async fn a_send_and_a_cancel_leave_their_intent_and_outcome_in_the_store() {
    let app = spawn_app().await;
    let token = admin_token();

    let send = app
        .post_json(
            "/v1/invitations/send",
            &token,
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    assert_eq!(send.status, 200, "{}", send.body);
    let cancel = app
        .post_json(
            "/v1/invitations/cancel",
            &token,
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    assert_eq!(
        cancel.body["results"][0]["outcome"], "cancelled",
        "{}",
        cancel.body
    );

    let events = trail(&app.state.store).await;
    // Newest first.
    let [cancelled, sent] = events.as_slice() else {
        panic!("one row per change: {events:?}");
    };
    for (event, action, outcome, answer) in [
        (sent, "send", "sent", &send),
        (cancelled, "cancel", "cancelled", &cancel),
    ] {
        assert_eq!(event.action, action, "{event:?}");
        assert_eq!(event.email, "radia@example.com", "{event:?}");
        assert_eq!(event.caller.sub, CALLER, "{event:?}");
        assert_eq!(event.campaign_id, None, "{event:?}");
        assert_eq!(event.outcome.as_deref(), Some(outcome), "{event:?}");
        assert_eq!(event.google_status, Some(200), "{event:?}");
        assert!(event.completed_at.is_some(), "{event:?}");
        let request_id = answer.headers["x-request-id"].to_str().unwrap();
        assert_eq!(event.request_id, request_id, "{event:?}");
    }
}

/// Audits nothing itself: the store's trail is under test.
struct Silent;

impl MutationObserver for Silent {
    fn allow_change(&self) -> Result<(), ItemError> {
        Ok(())
    }

    fn record(&self, _: Action, _: &Done) {}
}

#[tokio::test]
async fn a_send_cut_off_during_its_google_call_leaves_its_intent_without_outcome() {
    let app = spawn_app().await;
    // The send's call is still in flight when the work is cut off.
    app.control(
        "faults",
        json!({"method": "send", "count": 1, "latencyMs": 5000}),
    )
    .await;
    let batch = EmailBatch::parse(vec!["radia@example.com".into()]).unwrap();
    let caller = Caller::new("invitation-gateway", CALLER);
    let work = app
        .state
        .invitations
        .send(&batch, false, &caller, &Silent, "cut-off-send");
    let store = &app.state.store;
    // Waits until the send call is at Google, then answers what the store holds.
    let in_flight = async {
        app.calls_reach("send", 1).await;
        trail(store).await
    };
    // The work is dropped mid-call, as a shutdown's cut-off or a crash would leave it.
    let events = tokio::select! {
        events = in_flight => events,
        answer = work => panic!("the send finished despite the slow call: {answer:?}"),
    };
    assert_eq!(app.calls("send").await, 1, "the send call is in flight");

    let [event] = events.as_slice() else {
        panic!("one intent: {events:?}");
    };
    assert_eq!(event.action, "send", "{event:?}");
    assert_eq!(event.request_id, "cut-off-send", "{event:?}");
    let events = trail(store).await;
    let [event] = events.as_slice() else {
        panic!("still one row: {events:?}");
    };
    assert_eq!(event.outcome, None, "{event:?}");
    assert_eq!(event.completed_at, None, "{event:?}");
}

#[tokio::test]
async fn a_flood_of_bad_tokens_is_counted_folded_and_stops_no_send() {
    let google = spawn_google(Seed::Demo).await;
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.audit.file = Some(audit_file.clone());
    let app = spawn_app_with(google, settings).await;

    let url = format!("{}/v1/invitations/send", app.address);
    let statuses: Vec<u16> = futures_util::stream::iter(0..10_000)
        .map(|_| async {
            app.client
                .post(&url)
                .bearer_auth("not-a-token")
                .json(&json!({"emails": ["radia@example.com"]}))
                .send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16()
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 401), "every one refused");

    let send = app
        .post_json(
            "/v1/invitations/send",
            &admin_token(),
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    assert_eq!(send.status, 200, "{}", send.body);
    assert_eq!(send.body["results"][0]["outcome"], "sent", "{}", send.body);
    assert_eq!(app.stats().await["mailsSent"]["radia@example.com"], 1);

    let denied = std::fs::read_to_string(&audit_file)
        .unwrap()
        .lines()
        .filter(|line| line.contains(r#""action":"denied""#))
        .count();
    // One per folding interval (a minute): the flood may straddle a boundary or two.
    assert!(
        (1..=3).contains(&denied),
        "{denied} denial records in the file"
    );
    let folds = app
        .state
        .store
        .list_denials(
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(
        folds.iter().map(|f| f.count).sum::<u64>(),
        10_000,
        "{folds:?}"
    );
    assert!(
        folds
            .iter()
            .all(|f| f.reason == "invalid_token" && f.peer == "127.0.0.1")
    );
}

#[tokio::test]
async fn with_the_store_down_a_bad_token_is_still_refused_with_401() {
    let app = spawn_app().await;
    app.state.store.close().await;

    let answer = app
        .post_json(
            "/v1/invitations/send",
            "not-a-token",
            json!({"emails": ["radia@example.com"]}),
        )
        .await;

    answer.assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn the_pruning_task_deletes_rows_past_their_retention() {
    let app = spawn_app_tuned(|settings| {
        settings.store.audit_retention = Duration::from_millis(1);
        settings.store.prune_interval = Duration::from_millis(50);
    })
    .await;
    let store = &app.state.store;
    store
        .record_intent(&AuditIntent {
            request_id: "old".into(),
            caller: Caller::new("invitation-gateway", CALLER),
            action: "send".into(),
            email: "radia@example.com".into(),
            campaign_id: None,
            mails_before: None,
        })
        .await
        .unwrap();

    // Written, then expired at once: the next run of the task (every 50 ms) deletes it.
    eventually("the expired row is pruned", || async {
        trail(store).await.is_empty()
    })
    .await;
}

/// Reads the gateway's JSON log lines from `rx` until one satisfies `stop`; answers them all.
fn lines_until(
    rx: &std::sync::mpsc::Receiver<String>,
    stop: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the gateway logs the awaited line");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let done = stop(&parsed);
        lines.push(parsed);
        if done {
            return lines;
        }
    }
}

fn is_denial_log(line: &serde_json::Value, code: &str) -> bool {
    line["target"] != "audit"
        && line["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("request denied"))
        && line.to_string().contains(code)
}

fn is_denial_audit(line: &serde_json::Value, code: &str) -> bool {
    line["target"] == "audit" && line["action"] == "Denied" && line["outcome"] == code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_denials_logs_one_line_per_fold_with_the_store_up_or_failing() {
    use invitation_gateway::emulator::{Emulator, EmulatorSettings};
    use sqlx::Connection;
    invitation_gateway::install_crypto_provider();
    let emulator = Emulator::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        EmulatorSettings {
            key: Some(crate::helpers::shared_key()),
            ..EmulatorSettings::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    emulator.write_key(&key_path).unwrap();
    let database = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let (_running, rx) = crate::helpers::start_binary(
        &["serve", "--listen", "127.0.0.1:0"],
        [
            ("GATEWAY_DATABASE_URL", database.as_str()),
            ("RUST_LOG", "info"),
            ("GATEWAY_LOG_FORMAT", "json"),
            ("GOOGLE_APPLICATION_CREDENTIALS", key_path.to_str().unwrap()),
            ("GATEWAY_DELEGATED_ADMIN", crate::helpers::ADMIN),
            ("GATEWAY_GOOGLE_API_URL", emulator.url()),
            ("GATEWAY_JWT_HS256_SECRET", crate::helpers::JWT_SECRET),
        ],
        false,
    );
    let listening = lines_until(&rx, |l| l["message"] == "invitation-gateway listening");
    let address = listening.last().unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("http://{address}/v1/invitations/send");
    let client = reqwest::Client::new();
    let flood = async || {
        let statuses: Vec<u16> = futures_util::stream::iter(0..300)
            .map(|_| async {
                client
                    .post(&url)
                    .bearer_auth("not-a-token")
                    .json(&json!({"emails": ["radia@example.com"]}))
                    .send()
                    .await
                    .expect("the gateway answers")
                    .status()
                    .as_u16()
            })
            .buffer_unordered(20)
            .collect()
            .await;
        assert!(statuses.iter().all(|s| *s == 401), "every one refused");
    };
    // A denial of another reason: a fold of its own, logged after every line of the flood
    // (each denial is logged before its answer leaves), so it marks the end of the flood's lines.
    let marker = async || {
        let answer = client
            .post(&url)
            .bearer_auth(crate::helpers::token(&[Scope::Read]))
            .json(&json!({"emails": ["radia@example.com"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 403);
    };

    // The store up: one log line and one audit record per fold, however many denials.
    flood().await;
    marker().await;
    let lines = lines_until(&rx, |l| is_denial_log(l, "insufficient_scope"));
    let mut db = sqlx::SqliteConnection::connect(&database).await.unwrap();
    let folds: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_denials WHERE reason = 'invalid_token'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    let logged = lines
        .iter()
        .filter(|l| is_denial_log(l, "invalid_token"))
        .count();
    let audited = lines
        .iter()
        .filter(|l| is_denial_audit(l, "invalid_token"))
        .count();
    assert!((1..=2).contains(&folds), "{folds} folds");
    assert_eq!(
        logged,
        usize::try_from(folds).unwrap(),
        "log lines per fold"
    );
    assert_eq!(audited, logged, "audit records per fold");

    // The store fails (its denial table is gone): still refused with 401, never a 500, and the
    // first denial of each fold still leaves one log line and one audit record; no flood.
    sqlx::query("ALTER TABLE audit_denials RENAME TO audit_denials_gone")
        .execute(&mut db)
        .await
        .unwrap();
    flood().await;
    marker().await;
    let lines = lines_until(&rx, |l| is_denial_log(l, "insufficient_scope"));
    let logged = lines
        .iter()
        .filter(|l| is_denial_log(l, "invalid_token"))
        .count();
    let audited = lines
        .iter()
        .filter(|l| is_denial_audit(l, "invalid_token"))
        .count();
    assert!(
        (1..=2).contains(&logged),
        "{logged} log lines for 300 denials"
    );
    assert_eq!(audited, logged, "one audit record per logged fold");
}

#[tokio::test]
async fn with_the_store_down_a_flood_of_bad_tokens_writes_one_audit_record_per_fold() {
    let google = spawn_google(Seed::Demo).await;
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.audit.file = Some(audit_file.clone());
    let app = spawn_app_with(google, settings).await;
    app.state.store.close().await;

    let url = format!("{}/v1/invitations/send", app.address);
    let statuses: Vec<u16> = futures_util::stream::iter(0..1000)
        .map(|_| async {
            app.client
                .post(&url)
                .bearer_auth("not-a-token")
                .json(&json!({"emails": ["radia@example.com"]}))
                .send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16()
        })
        .buffer_unordered(50)
        .collect()
        .await;

    assert!(
        statuses.iter().all(|s| *s == 401),
        "every one refused, none a 500"
    );
    let denied = std::fs::read_to_string(&audit_file)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(r#""action":"denied""#))
        .count();
    // One per folding interval (a minute): the flood may straddle a boundary.
    assert!(
        (1..=2).contains(&denied),
        "{denied} denial records in the file"
    );
}

/// Makes the store refuse audit intents, and only them: a trigger aborts every insert into the
/// audit table of the running gateway (claims, budgets, pruning and reads still work).
async fn break_audit_intents(app: &crate::helpers::TestApp) {
    use sqlx::Connection;
    let path = app.google.key_dir().join("gateway.db");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_intents BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'intents refused by the test'); END",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_send_whose_intent_cannot_be_written_fails_store_unavailable_and_mails_no_one() {
    let app = spawn_app_tuned(|settings| settings.limits.daily_mails_per_caller = 1).await;
    break_audit_intents(&app).await;

    // radia would be mailed; ada is already invited (no change, so no intent).
    let send = app
        .post_json(
            "/v1/invitations/send",
            &admin_token(),
            json!({"emails": ["radia@example.com", "ada@example.com"]}),
        )
        .await;

    assert_eq!(send.status, 200, "{}", send.body);
    let results = &send.body["results"];
    assert_eq!(results[0]["outcome"], "failed", "{}", send.body);
    assert_eq!(
        results[0]["error"]["code"], "store_unavailable",
        "{}",
        send.body
    );
    assert_eq!(results[1]["outcome"], "already_invited", "{}", send.body);
    assert_eq!(app.calls("send").await, 0, "no intent, no call");
    // The mail reserved for radia was given back: the day's one mail is still there.
    let store = &app.state.store;
    let today = store.clock().now().date_naive();
    assert!(
        store
            .reserve_mail(&Caller::new("invitation-gateway", CALLER), today, 1)
            .await
            .unwrap(),
        "the reserved mail was refunded"
    );
}

#[tokio::test]
async fn a_cancel_whose_intent_cannot_be_written_fails_store_unavailable_and_cancels_nothing() {
    let app = spawn_app().await;
    break_audit_intents(&app).await;

    // katherine's invitation would be withdrawn; radia has none (no change, so no intent).
    let cancel = app
        .post_json(
            "/v1/invitations/cancel",
            &admin_token(),
            json!({"emails": ["katherine@example.com", "radia@example.com"]}),
        )
        .await;

    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let results = &cancel.body["results"];
    assert_eq!(results[0]["outcome"], "failed", "{}", cancel.body);
    assert_eq!(
        results[0]["error"]["code"], "store_unavailable",
        "{}",
        cancel.body
    );
    assert_eq!(results[1]["outcome"], "not_invited", "{}", cancel.body);
    assert_eq!(app.calls("cancel").await, 0, "no intent, no call");
}
