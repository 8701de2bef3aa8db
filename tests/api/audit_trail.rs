//! The audit trail in the store: every send and cancel writes its intent before the call to
//! Google and its outcome after, so no mail goes out unrecorded.

use crate::helpers::{CALLER, admin_token, spawn_app};
use invitation_gateway::invitations::batch::EmailBatch;
use invitation_gateway::invitations::mutation::{Action, Done, MutationObserver};
use invitation_gateway::invitations::outcome::ItemError;
use invitation_gateway::store::{AuditEvent, AuditFilter, Caller, Store};
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

    let events = trail(app.state.invitations.store()).await;
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
    let store = app.state.invitations.store();
    // Waits until the send call is at Google, then answers what the store holds.
    let in_flight = async {
        for _ in 0..500 {
            if app.calls("send").await == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
