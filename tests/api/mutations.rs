//! send and cancel: outcomes, no duplicate mails, idempotency, quotas, the audit trail.

use crate::helpers::{
    CALLER, TestApp, spawn_app, spawn_app_tuned, spawn_app_with, spawn_google, test_settings,
    token, token_for,
};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use serde_json::{Value, json};

async fn send(app: &TestApp, emails: &[&str], resend: bool) -> Value {
    let answer = app
        .post_json(
            "/v1/invitations/send",
            &token(&[Scope::Send]),
            json!({"emails": emails, "resend": resend}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn outcomes(body: &Value) -> Vec<&str> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

async fn mails(app: &TestApp, email: &str) -> u64 {
    app.stats().await["mailsSent"][email].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn send_reports_every_outcome_in_input_order_with_a_summary() {
    let app = spawn_app().await;

    let body = send(
        &app,
        &[
            "grace+hr@example.com",
            "ada@example.com",
            "alan@example.com",
            "barbara@example.com",
            "nobody@example.com",
            "not an address",
        ],
        false,
    )
    .await;

    assert_eq!(
        outcomes(&body),
        vec![
            "sent",
            "already_invited",
            "already_accepted",
            "sent",
            "not_eligible",
            "failed"
        ]
    );
    assert_eq!(body["results"][0]["invitation"]["state"], "INVITED");
    assert_eq!(body["results"][0]["invitation"]["mailsSentCount"], 1);
    assert_eq!(body["results"][5]["error"]["code"], "invalid_email");
    assert_eq!(
        body["summary"],
        json!({"sent": 2, "already_invited": 1, "already_accepted": 1, "not_eligible": 1, "failed": 1})
    );
    let stats = app.stats().await;
    assert_eq!(
        stats["mailsSent"],
        json!({"grace+hr@example.com": 1, "barbara@example.com": 1})
    );
}

#[tokio::test]
async fn a_second_send_without_resend_sends_no_mail() {
    let app = spawn_app().await;

    let first = send(&app, &["donald@example.com"], false).await;
    let second = send(&app, &["donald@example.com"], false).await;

    assert_eq!(outcomes(&first), vec!["sent"]);
    assert_eq!(outcomes(&second), vec!["already_invited"]);
    assert_eq!(mails(&app, "donald@example.com").await, 1);
}

#[tokio::test]
async fn resend_mails_an_invited_person_again() {
    let app = spawn_app().await;

    let body = send(&app, &["ada@example.com"], true).await;

    assert_eq!(outcomes(&body), vec!["resent"]);
    assert_eq!(body["results"][0]["invitation"]["mailsSentCount"], 3);
    assert_eq!(mails(&app, "ada@example.com").await, 1);
}

#[tokio::test]
async fn an_account_google_does_not_list_yet_is_sent_to_when_invitable() {
    let app = spawn_app().await;

    let body = send(&app, &["mary+new@example.com"], false).await;

    assert_eq!(outcomes(&body), vec!["sent"]);
    assert_eq!(mails(&app, "mary+new@example.com").await, 1);
}

#[tokio::test]
async fn send_through_lost_answers_never_mails_twice() {
    let app = spawn_app().await;
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "afterApply": true}),
    )
    .await;

    let body = send(&app, &["john@example.com"], false).await;
    let again = send(&app, &["john@example.com"], false).await;

    assert_eq!(outcomes(&body), vec!["sent"], "{body}");
    assert_eq!(outcomes(&again), vec!["already_invited"]);
    assert_eq!(mails(&app, "john@example.com").await, 1);
    assert_eq!(app.calls("send").await, 1);
}

#[tokio::test]
async fn one_failing_address_does_not_fail_the_others() {
    let app = spawn_app_tuned(|settings| {
        settings.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
    })
    .await;
    app.control(
        "faults",
        json!({"method": "send", "status": 400, "count": 1}),
    )
    .await;

    let body = send(&app, &["john@example.com", "dennis@example.com"], false).await;

    assert_eq!(outcomes(&body), vec!["failed", "sent"]);
    assert_eq!(body["results"][0]["error"]["code"], "upstream_rejected");
    assert_eq!(mails(&app, "john@example.com").await, 0);
    assert_eq!(mails(&app, "dennis@example.com").await, 1);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_answer_without_calling_google() {
    let app = spawn_app().await;
    let send_with_key = |body: Value| {
        app.client
            .post(format!("{}/v1/invitations/send", app.address))
            .bearer_auth(token(&[Scope::Send]))
            .header("idempotency-key", "onboarding-2026-11-22-batch-7")
            .json(&body)
            .send()
    };

    let first = send_with_key(json!({"emails": ["radia@example.com"]}))
        .await
        .unwrap();
    let calls_after_first = app.google_calls().await;
    let replay = send_with_key(json!({"emails": ["radia@example.com"]}))
        .await
        .unwrap();
    let different = send_with_key(json!({"emails": ["bjarne@example.com"]}))
        .await
        .unwrap();

    assert_eq!(first.status().as_u16(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first, "the first answer, as it was");
    assert_eq!(different.status().as_u16(), 422);
    assert_eq!(
        app.google_calls().await,
        calls_after_first,
        "neither the replay nor the conflict called Google"
    );
    assert_eq!(mails(&app, "radia@example.com").await, 1);
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_caller() {
    let app = spawn_app().await;
    let send_as = |subject: &'static str, email: &'static str| {
        app.client
            .post(format!("{}/v1/invitations/send", app.address))
            .bearer_auth(token_for(subject, &[Scope::Send]))
            .header("idempotency-key", "same-key")
            .json(&json!({"emails": [email]}))
            .send()
    };
    let mine = send_as("caller-a", "claude@example.com").await.unwrap();
    let theirs = send_as("caller-b", "sophie@example.com").await.unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    assert_eq!(
        theirs.status().as_u16(),
        200,
        "another caller's key does not collide"
    );
    assert_eq!(mails(&app, "sophie@example.com").await, 1);
}

#[tokio::test]
async fn every_send_item_is_audited_once_naming_the_caller() {
    let (app, _dir, audit_file) = spawn_audited_app().await;

    send(&app, &["robin@example.com", "ada@example.com"], false).await;

    let records = audit_records(&audit_file);
    assert_eq!(records.len(), 2, "{records:?}");
    let robin = records
        .iter()
        .find(|r| r["email"] == "robin@example.com")
        .unwrap();
    assert_eq!(robin["action"], "send");
    assert_eq!(robin["outcome"], "sent");
    assert_eq!(robin["caller_sub"], CALLER);
    assert_eq!(robin["caller_iss"], "invitation-gateway");
    assert_eq!(robin["google_status"], 200);
    assert!(
        robin["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let ada = records
        .iter()
        .find(|r| r["email"] == "ada@example.com")
        .unwrap();
    assert_eq!(ada["outcome"], "already_invited");
    assert!(ada["google_status"].is_null(), "no send was made");
}

#[tokio::test]
async fn a_keyed_sends_records_name_its_key_and_route_and_its_replay_writes_none() {
    let (app, _dir, audit_file) = spawn_audited_app().await;
    let send_with_key = || {
        app.client
            .post(format!("{}/v1/invitations/send", app.address))
            .bearer_auth(token(&[Scope::Send]))
            .header("idempotency-key", "audited-batch-1")
            .json(&json!({"emails": ["radia@example.com"]}))
            .send()
    };

    let first = send_with_key().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let replay = send_with_key().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");

    let records = audit_records(&audit_file);
    assert_eq!(
        records.len(),
        1,
        "the replay is not a second item: {records:?}"
    );
    let radia = &records[0];
    assert_eq!(radia["outcome"], "sent");
    assert_eq!(radia["idempotency_key"], "audited-batch-1");
    assert_eq!(radia["route"], "POST /v1/invitations/send");
    assert_eq!(radia["caller_sub"], CALLER);
    assert!(radia["campaign_id"].is_null(), "{radia}");
    assert_eq!(mails(&app, "radia@example.com").await, 1);
}

/// The records of an audit file.
fn audit_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A gateway whose audit trail is also a file in a fresh directory.
async fn spawn_audited_app() -> (TestApp, tempfile::TempDir, std::path::PathBuf) {
    let google = spawn_google(Seed::Demo).await;
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");
    let mut settings = test_settings(&google);
    settings.audit.file = Some(audit_file.clone());
    (
        spawn_app_with(google, settings).await,
        audit_dir,
        audit_file,
    )
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_audited_as_reconciled_without_a_google_status() {
    let (app, _dir, audit_file) = spawn_audited_app().await;
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "afterApply": true}),
    )
    .await;

    send(&app, &["john@example.com"], false).await;

    let records = audit_records(&audit_file);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "sent");
    assert!(records[0]["google_status"].is_null(), "{:?}", records[0]);
    assert!(
        records[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("answer was lost")),
        "{:?}",
        records[0]
    );
}

#[tokio::test]
async fn every_cancel_item_is_audited_once_naming_the_caller() {
    let (app, _dir, audit_file) = spawn_audited_app().await;

    let answer = app
        .post_json(
            "/v1/invitations/cancel",
            &token(&[Scope::Cancel]),
            json!({"emails": ["ada@example.com", "john@example.com"]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let records = audit_records(&audit_file);
    assert_eq!(records.len(), 2, "{records:?}");
    let by_email = |email: &str| records.iter().find(|r| r["email"] == email).unwrap();
    let ada = by_email("ada@example.com");
    assert_eq!(ada["action"], "cancel");
    assert_eq!(ada["outcome"], "cancelled");
    assert_eq!(ada["google_status"], 200);
    assert_eq!(ada["caller_sub"], CALLER);
    assert_eq!(ada["route"], "POST /v1/invitations/cancel");
    let john = by_email("john@example.com");
    assert_eq!(john["outcome"], "not_invited");
    assert!(john["google_status"].is_null(), "no cancel was made");
}

#[tokio::test]
async fn an_unwritable_audit_trail_refuses_mutations_before_anything_changes() {
    let app = spawn_app_tuned(|settings| {
        settings.audit.file = Some("/dev/full".into());
    })
    .await;

    // The first write fails (the device is full); from then on mutations are refused.
    let _ = app
        .post_json(
            "/v1/invitations/send",
            &token(&[Scope::Send]),
            json!({"emails": ["yukihiro@example.com"]}),
        )
        .await;
    let calls = app.google_calls().await;
    let refused = app
        .post_json(
            "/v1/invitations/send",
            &token(&[Scope::Send]),
            json!({"emails": ["claude@example.com"]}),
        )
        .await;

    refused.assert_problem(503, "audit_unavailable");
    assert_eq!(
        app.google_calls().await,
        calls,
        "nothing was done unaudited"
    );
}

#[tokio::test]
async fn a_disk_that_fills_during_a_batch_stops_the_rest_of_it_before_any_change() {
    let app = spawn_app_tuned(|settings| {
        settings.audit.file = Some("/dev/full".into());
        settings.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
    })
    .await;

    let body = send(
        &app,
        &[
            "radia@example.com",
            "bjarne@example.com",
            "james@example.com",
        ],
        false,
    )
    .await;

    // The first mail went out before its record failed; the other two were never sent.
    assert_eq!(body["results"][0]["outcome"], "sent", "{body}");
    for result in &body["results"].as_array().unwrap()[1..] {
        assert_eq!(result["outcome"], "failed", "{body}");
        assert_eq!(result["error"]["code"], "audit_unavailable", "{body}");
    }
    let stats = app.stats().await;
    assert_eq!(stats["mailsSent"].as_object().unwrap().len(), 1, "{stats}");
    assert_eq!(stats["calls"]["send"], 1, "{stats}");
}

#[tokio::test]
async fn the_daily_mail_quota_stops_mails_per_item() {
    let app = spawn_app_tuned(|settings| {
        settings.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
        settings.limits.daily_mails_per_caller = 1;
    })
    .await;

    let body = send(
        &app,
        &["john@example.com", "dennis@example.com", "ada@example.com"],
        false,
    )
    .await;

    assert_eq!(outcomes(&body), vec!["sent", "failed", "already_invited"]);
    assert_eq!(body["results"][1]["error"]["code"], "mail_quota_exceeded");
    assert_eq!(mails(&app, "dennis@example.com").await, 0);
}

#[tokio::test]
async fn cancel_withdraws_pending_invitations_and_reports_the_rest() {
    let app = spawn_app().await;

    let answer = app
        .post_json(
            "/v1/invitations/cancel",
            &token(&[Scope::Cancel]),
            json!({"emails": ["edsger@example.com", "grace+hr@example.com", "alan@example.com", "nobody@example.com"]}),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        outcomes(&answer.body),
        vec!["cancelled", "not_invited", "not_invited", "not_invited"]
    );
    assert_eq!(
        answer.body["results"][0]["invitation"]["state"],
        "NOT_YET_SENT"
    );
    assert_eq!(
        answer.body["summary"],
        json!({"cancelled": 1, "not_invited": 3})
    );
    assert_eq!(
        app.calls("cancel").await,
        1,
        "only the INVITED one was cancelled at Google"
    );
    let lookup = app
        .post_json(
            "/v1/invitations/lookup",
            &token(&[Scope::Read]),
            json!({"emails": ["edsger@example.com"]}),
        )
        .await;
    assert_eq!(
        lookup.body["results"][0]["invitation"]["state"],
        "NOT_YET_SENT"
    );
}

#[tokio::test]
async fn a_send_invalidates_the_cached_eligibility_of_the_address() {
    let app = spawn_app().await;
    let check_token = token(&[Scope::Check]);
    let check = || {
        app.post_json(
            "/v1/eligibility/check",
            &check_token,
            json!({"emails": ["hedy@example.com"]}),
        )
    };
    assert_eq!(check().await.body["results"][0]["cached"], false);
    assert_eq!(check().await.body["results"][0]["cached"], true);

    send(&app, &["hedy@example.com"], false).await;

    assert_eq!(
        check().await.body["results"][0]["cached"],
        false,
        "the send cleared it"
    );
}

#[tokio::test]
async fn a_cancel_invalidates_the_cached_eligibility_of_the_address() {
    let app = spawn_app().await;
    let check_token = token(&[Scope::Check]);
    let check = || {
        app.post_json(
            "/v1/eligibility/check",
            &check_token,
            json!({"emails": ["ada@example.com"]}),
        )
    };
    assert_eq!(check().await.body["results"][0]["cached"], false);
    assert_eq!(check().await.body["results"][0]["cached"], true);

    let cancel = app
        .post_json(
            "/v1/invitations/cancel",
            &token(&[Scope::Cancel]),
            json!({"emails": ["ada@example.com"]}),
        )
        .await;
    assert_eq!(
        cancel.body["results"][0]["outcome"], "cancelled",
        "{}",
        cancel.body
    );

    assert_eq!(
        check().await.body["results"][0]["cached"],
        false,
        "the cancel cleared it"
    );
}
