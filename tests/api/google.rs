//! The gateway's Google client against the emulator over real HTTP: the real gcp_auth token
//! exchange, keyless signing, retries, reconciliation and the circuit breaker.

use crate::helpers::{
    ADMIN, TestApp, eventually, spawn_app, spawn_app_tuned, spawn_app_with, spawn_google,
    test_settings,
};
use invitation_gateway::config::{AmbientCredentials, GoogleCredentials};
use invitation_gateway::emulator::Seed;
use invitation_gateway::google::breaker::BreakerState;
use invitation_gateway::google::wire::{SCOPE, State};
use invitation_gateway::google::{CallContext, ListParams, Status, UpstreamErrorKind};
use invitation_gateway::readiness::CheckState;
use serde_json::json;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

fn ctx(app: &TestApp) -> invitation_gateway::google::CallContext {
    app.state.google.context(Some("test-request".into()))
}

#[tokio::test]
async fn the_token_exchange_carries_the_admin_as_subject_and_the_full_scope() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);

    let invitation = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap();

    assert_eq!(invitation.state, State::Invited);
    assert_eq!(invitation.mails_sent_count, 2);
    let grants = app.stats().await["tokenGrants"].clone();
    let grant = &grants[0];
    assert_eq!(grant["sub"], ADMIN);
    assert_eq!(grant["scope"], SCOPE);
    assert_eq!(grant["iss"], app.google.emulator.client_email());
    assert_eq!(grant["aud"], "https://oauth2.googleapis.com/token");
}

#[tokio::test]
async fn keyless_mode_signs_through_iam_and_works_end_to_end() {
    let google = spawn_google(Seed::Demo).await;
    let mut settings = test_settings(&google);
    settings.google.credentials = GoogleCredentials::Keyless {
        signer_service_account: google.emulator.client_email().to_owned(),
        delegated_admin: ADMIN.into(),
        ambient: AmbientCredentials::KeyFile(google.key_path.clone()),
    };
    let app = spawn_app_with(google, settings).await;

    let invitable = app
        .state
        .google
        .is_invitable("grace+hr@example.com", &ctx(&app))
        .await
        .unwrap();

    assert!(invitable);
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    let stats = app.stats().await;
    assert!(stats["calls"]["signJwt"].as_u64().unwrap() >= 1, "{stats}");
    let delegated: Vec<_> = stats["tokenGrants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|grant| grant["sub"] == ADMIN)
        .collect();
    assert!(
        !delegated.is_empty(),
        "a delegated token was granted: {stats}"
    );
    assert_eq!(delegated[0]["scope"], SCOPE);
}

#[tokio::test]
async fn emails_with_plus_reach_the_right_invitation() {
    let app = spawn_app().await;
    let invitation = app
        .state
        .google
        .get("grace+hr@example.com", &ctx(&app))
        .await
        .unwrap();
    assert_eq!(invitation.email(), "grace+hr@example.com");
    assert_eq!(invitation.state, State::NotYetSent);
}

#[tokio::test]
async fn list_passes_filter_order_and_paging_through() {
    let app = spawn_app().await;
    let mut params = ListParams {
        filter: Some("state=='invited'".into()),
        order_by: Some("email desc".into()),
        page_size: Some(3),
        page_token: None,
    };
    let mut emails = Vec::new();
    loop {
        let page = app.state.google.list(&params, &ctx(&app)).await.unwrap();
        assert!(page.user_invitations.len() <= 3);
        emails.extend(page.user_invitations.iter().map(|i| {
            assert_eq!(i.state, State::Invited);
            i.email().to_owned()
        }));
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(token) => params.page_token = Some(token),
            None => break,
        }
    }
    let mut sorted = emails.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(emails, sorted, "email desc");
    assert_eq!(emails.len(), 8, "every INVITED demo account");
}

#[tokio::test]
async fn reads_succeed_through_injected_503s() {
    let app = spawn_app().await;
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 2}),
    )
    .await;

    let invitation = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap();

    assert_eq!(invitation.state, State::Invited);
    assert_eq!(app.calls("get").await, 3, "two failures, then success");
}

#[tokio::test]
async fn a_quota_403_is_retried_like_a_429_but_a_permission_403_is_not() {
    let app = spawn_app().await;
    app.control(
        "faults",
        // A quota answer stops every replica: for its Retry-After, else 10 s (past this deadline).
        json!({"method": "get", "status": 403, "reason": "rateLimitExceeded", "count": 1, "retryAfterSecs": 1}),
    )
    .await;
    let invitation = app.state.google.get("ada@example.com", &ctx(&app)).await;
    assert_eq!(invitation.unwrap().state, State::Invited);
    assert_eq!(app.calls("get").await, 2, "the quota answer, then success");

    app.control(
        "faults",
        json!({"method": "get", "status": 403, "count": 1}),
    )
    .await;
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();
    assert_eq!(err.http_status, Some(403));
    assert!(!err.is_quota());
    assert_eq!(app.calls("get").await, 3, "a permission 403 is final");
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_retry_after() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    app.control(
        "faults",
        json!({"method": "isInvitableUser", "status": 429, "count": 1, "retryAfterSecs": 1}),
    )
    .await;

    let started = Instant::now();
    let invitable = app
        .state
        .google
        .is_invitable("donald@example.com", &ctx(&app))
        .await
        .unwrap();

    assert!(invitable);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(app.calls("isInvitableUser").await, 2);
}

#[tokio::test]
async fn a_400_is_never_retried() {
    let app = spawn_app().await;

    let err = app
        .state
        .google
        .send("nobody@elsewhere.org", None, &ctx(&app))
        .await
        .unwrap_err();

    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.status, Some(Status::FailedPrecondition), "{err}");
    assert!(
        !err.message.contains("nobody@elsewhere.org"),
        "emails are scrubbed: {err}"
    );
    assert_eq!(app.calls("send").await, 1);
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_reconciled_without_a_second_mail() {
    let app = spawn_app().await;
    let before = app
        .state
        .google
        .get("donald@example.com", &ctx(&app))
        .await
        .unwrap();
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1, "afterApply": true}),
    )
    .await;

    let sent = app
        .state
        .google
        .send("donald@example.com", Some(&before), &ctx(&app))
        .await
        .unwrap();

    assert!(sent.reconciled);
    assert_eq!(sent.invitation.unwrap().mails_sent_count, 1);
    let stats = app.stats().await;
    assert_eq!(stats["mailsSent"]["donald@example.com"], 1, "{stats}");
    assert_eq!(stats["calls"]["send"], 1, "the send was not repeated");
}

#[tokio::test]
async fn a_send_refused_with_503_is_sent_again_once_a_read_proves_no_mail_went_out() {
    let app = spawn_app().await;
    let before = app
        .state
        .google
        .get("john@example.com", &ctx(&app))
        .await
        .unwrap();
    app.control(
        "faults",
        json!({"method": "send", "status": 503, "count": 1}),
    )
    .await;

    let sent = app
        .state
        .google
        .send("john@example.com", Some(&before), &ctx(&app))
        .await
        .unwrap();

    assert!(!sent.reconciled);
    let stats = app.stats().await;
    assert_eq!(stats["calls"]["send"], 2, "sent again after the read");
    assert_eq!(
        stats["calls"]["get"], 2,
        "the read before, and the reconciling read"
    );
    assert_eq!(stats["mailsSent"]["john@example.com"], 1, "{stats}");
}

#[tokio::test]
async fn a_send_that_times_out_is_never_repeated_because_it_may_still_land() {
    let app = spawn_app_tuned(|settings| {
        settings.google.timeouts.attempt = Duration::from_millis(150);
    })
    .await;
    let before = app
        .state
        .google
        .get("john@example.com", &ctx(&app))
        .await
        .unwrap();
    // The send is applied only after 400 ms: long after the gateway stopped waiting and read.
    app.control(
        "faults",
        json!({"method": "send", "count": 1, "latencyMs": 400}),
    )
    .await;

    let err = app
        .state
        .google
        .send("john@example.com", Some(&before), &ctx(&app))
        .await
        .unwrap_err();

    assert_eq!(err.kind, UpstreamErrorKind::Timeout, "{err}");
    assert_eq!(app.calls("send").await, 1, "not repeated");
}

#[tokio::test]
async fn a_send_refused_with_429_is_retried() {
    let app = spawn_app().await;
    app.control(
        "faults",
        // A quota answer stops every replica: for its Retry-After, else 10 s (past this deadline).
        json!({"method": "send", "status": 429, "count": 1, "retryAfterSecs": 1}),
    )
    .await;

    let sent = app
        .state
        .google
        .send("dennis@example.com", None, &ctx(&app))
        .await
        .unwrap();

    assert!(!sent.reconciled);
    assert_eq!(sent.invitation.unwrap().state, State::Invited);
    assert_eq!(app.stats().await["mailsSent"]["dennis@example.com"], 1);
}

#[tokio::test]
async fn a_cancel_whose_answer_is_lost_is_confirmed_by_a_read() {
    let app = spawn_app().await;
    app.control(
        "faults",
        json!({"method": "cancel", "status": 503, "count": 1, "afterApply": true}),
    )
    .await;

    let cancelled = app
        .state
        .google
        .cancel("edsger@example.com", &ctx(&app))
        .await
        .unwrap();

    assert_eq!(cancelled.unwrap().state, State::NotYetSent);
    assert_eq!(
        app.calls("cancel").await,
        2,
        "retried once, then confirmed by a get"
    );
}

#[tokio::test]
async fn the_breaker_opens_on_repeated_failures_and_closes_after_a_good_probe() {
    let app = spawn_app_tuned(|settings| {
        // Long enough that the steps below happen well inside it, on a busy machine too.
        settings.google.protection.breaker_open_for = Duration::from_millis(1500);
    })
    .await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 1000}),
    )
    .await;

    // Five consecutive upstream failures (threshold 5) open it.
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();
    assert_eq!(err.http_status, Some(503));
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();
    assert_eq!(app.state.google.breaker().state(), BreakerState::Open);
    assert_eq!(err.kind, UpstreamErrorKind::CircuitOpen, "{err}");
    assert!(err.retry_after.is_some());
    let calls_when_opened = app.calls("get").await;
    assert_eq!(calls_when_opened, 5);

    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::CircuitOpen);
    assert_eq!(
        app.calls("get").await,
        calls_when_opened,
        "an open breaker calls nobody"
    );

    // Google recovers; after the open period one probe closes it again.
    app.clear_faults().await;
    eventually("the breaker closes again", || async {
        match app.state.google.get("ada@example.com", &ctx(&app)).await {
            Ok(_) => true,
            Err(err) => {
                assert_eq!(err.kind, UpstreamErrorKind::CircuitOpen, "{err}");
                false
            }
        }
    })
    .await;
    assert_eq!(app.state.google.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn misconfigured_delegation_is_reported_fast_and_fails_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    app.control("delegation", json!({"authorizedScopes": []}))
        .await;
    app.control("tokens/revoke", json!({})).await;

    let started = Instant::now();
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();

    assert_eq!(
        err.kind,
        UpstreamErrorKind::CredentialsMisconfigured,
        "{err}"
    );
    assert!(err.message.contains("unauthorized_client"), "{err}");
    assert!(
        err.message.contains("Admin console"),
        "the fix is named: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(app.state.readiness.credentials.get(), CheckState::Failed);

    // Within the cool-down the token endpoint is not asked again.
    let token_calls = app.calls("token").await;
    let again = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();
    assert_eq!(again.kind, UpstreamErrorKind::CredentialsMisconfigured);
    assert_eq!(app.calls("token").await, token_calls);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_transparently() {
    let app = spawn_app().await;
    app.state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap();
    app.control("tokens/revoke", json!({})).await;

    let invitation = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap();

    assert_eq!(invitation.state, State::Invited);
    let grants = app.stats().await["tokenGrants"].as_array().unwrap().len();
    assert_eq!(grants, 2, "a second token was obtained");
}

#[tokio::test]
async fn the_project_budget_refuses_a_call_whose_slot_would_come_past_its_deadline() {
    let app = spawn_app_tuned(|settings| {
        // One call a minute: the second call of this test would wait a minute.
        settings.store.google_per_minute = 1;
    })
    .await;
    app.state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap();

    let started = Instant::now();
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();

    assert_eq!(err.kind, UpstreamErrorKind::QuotaExhausted, "{err}");
    assert!(
        err.retry_after
            .is_some_and(|wait| wait > Duration::from_secs(50)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert_eq!(app.calls("get").await, 1, "the refused call never left");
}

#[tokio::test]
async fn the_bulkhead_holds_back_calls_beyond_its_limit() {
    let app = spawn_app_tuned(|settings| {
        settings.google.protection.max_concurrent_calls = NonZeroUsize::MIN;
    })
    .await;
    app.control("latency", json!({"ms": 1500})).await;
    let slow = {
        let state = app.state.clone();
        tokio::spawn(async move {
            let ctx = state.google.context(None);
            state.google.get("ada@example.com", &ctx).await
        })
    };
    // The slow call holds the only place once the emulator has it.
    app.calls_reach("get", 1).await;
    assert_eq!(app.calls("get").await, 1, "the slow call is in flight");

    let hurried = CallContext::new(None, Duration::from_millis(200));
    let err = app
        .state
        .google
        .get("john@example.com", &hurried)
        .await
        .unwrap_err();

    assert_eq!(err.kind, UpstreamErrorKind::Overloaded, "{err}");
    assert!(slow.await.unwrap().is_ok(), "the call in flight finished");
    assert_eq!(app.calls("get").await, 1, "the held-back call never left");
}

#[tokio::test]
async fn a_token_endpoint_that_hangs_is_given_up_on_at_the_token_timeout() {
    let app = spawn_app_tuned(|settings| {
        settings.google.timeouts.token = Duration::from_millis(300);
    })
    .await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    // Every token request from now on takes 3 s; the gateway's token is revoked, so the next
    // call needs a new one.
    app.control(
        "faults",
        json!({"method": "token", "count": 1000, "latencyMs": 3000}),
    )
    .await;
    app.control("tokens/revoke", json!({})).await;

    let started = Instant::now();
    let err = app
        .state
        .google
        .get("ada@example.com", &ctx(&app))
        .await
        .unwrap_err();

    assert_eq!(err.kind, UpstreamErrorKind::CredentialsUnavailable, "{err}");
    // Waiting for the token endpoint would take 3 s per attempt.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
}
