//! The store wired in: the send ledger, the daily mail budget and idempotency keys hold across
//! requests (and, with PostgreSQL, across gateway processes); a store outage refuses mutations.

use crate::helpers::{admin_token, eventually, spawn_app};
use serde_json::json;

#[tokio::test]
async fn twenty_concurrent_sends_of_one_address_mail_that_person_exactly_once() {
    let app = spawn_app().await;
    // Long enough that every request reads before the first send is done.
    app.control("latency", json!({"ms": 50})).await;
    let token = admin_token();
    let body = json!({"emails": ["radia@example.com"]});
    let answers = futures_util::future::join_all(
        (0..20).map(|_| app.post_json("/v1/invitations/send", &token, body.clone())),
    )
    .await;

    let mut outcomes: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.body["results"][0]["outcome"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    outcomes.sort();
    let stats = app.stats().await;
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
}

#[tokio::test]
async fn with_the_store_down_send_and_cancel_are_refused_with_503_and_checks_go_on() {
    let app = spawn_app().await;
    let token = admin_token();
    // Every connection is gone and none can be made: the store is down.
    app.state.store.close().await;

    let send = app
        .post_json(
            "/v1/invitations/send",
            &token,
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    send.assert_problem(503, "store_unavailable");
    assert!(
        send.headers.contains_key("retry-after"),
        "{:?}",
        send.headers
    );
    let cancel = app
        .post_json(
            "/v1/invitations/cancel",
            &token,
            json!({"emails": ["katherine@example.com"]}),
        )
        .await;
    cancel.assert_problem(503, "store_unavailable");
    let check = app
        .post_json(
            "/v1/eligibility/check",
            &token,
            json!({"emails": ["radia@example.com"]}),
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["results"][0]["eligible"], true, "{}", check.body);

    let stats = app.stats().await;
    assert_eq!(stats["calls"]["send"], 0, "{stats}");
    assert_eq!(stats["calls"]["cancel"], 0, "{stats}");
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["degraded"], json!(["store: failed"]), "{ready}");
}

#[tokio::test]
async fn a_store_outage_met_by_tracking_or_campaigns_marks_the_store_failed_at_once() {
    // Campaigns and tracking reach the store through the gate, which reports every failure to
    // readiness: `/readyz` learns of the outage from the first call that meets it, not from
    // the next ping (tracking used to drop the error).
    for path in ["/v1/events", "/v1/campaigns"] {
        let app = spawn_app().await;
        let token = admin_token();
        eventually("the gateway is ready", || async {
            let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
            ready["status"] == "ready"
        })
        .await;
        app.state.store.close().await;

        app.get_as(path, &token)
            .await
            .assert_problem(503, "store_unavailable");
        let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        assert_eq!(
            ready["degraded"],
            json!(["store: failed"]),
            "{path}: {ready}"
        );
    }
}
