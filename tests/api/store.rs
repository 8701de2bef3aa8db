//! The store wired in: the send ledger, the daily mail budget and idempotency keys hold across
//! requests (and, with PostgreSQL, across gateway processes); a store outage refuses mutations.

use crate::helpers::{admin_token, spawn_app};
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
