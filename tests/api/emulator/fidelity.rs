//! The emulator answers as Google does where clients can tell: HTTP codes always paired with
//! their canonical status (google.rpc.Code's HTTP mapping), unknown methods as Google's front end
//! answers them.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::{TestEmulator, spawn_emulator};

/// Every canonical error status and the HTTP code Google sends it with.
const CANONICAL: [(&str, u16); 16] = [
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("CANCELLED", 499),
    ("INTERNAL", 500),
    ("UNKNOWN", 500),
    ("DATA_LOSS", 500),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
];

/// The status an HTTP code alone gets, where a code has several: Google's usual one.
const BY_CODE: [(u16, &str); 11] = [
    (400, "INVALID_ARGUMENT"),
    (401, "UNAUTHENTICATED"),
    (403, "PERMISSION_DENIED"),
    (404, "NOT_FOUND"),
    (409, "ABORTED"),
    (429, "RESOURCE_EXHAUSTED"),
    (499, "CANCELLED"),
    (500, "INTERNAL"),
    (501, "UNIMPLEMENTED"),
    (503, "UNAVAILABLE"),
    (504, "DEADLINE_EXCEEDED"),
];

async fn fail_next_list(app: &TestEmulator, status: serde_json::Value) {
    let added = app
        .control(
            "/emulator/v1/faults",
            json!({"method": "list", "status": status, "count": 1}),
        )
        .await;
    assert_eq!(added.status, 204, "{status}: {:?}", added.body);
}

#[tokio::test]
async fn fault_named_by_canonical_status_answers_with_its_http_code() {
    let app = spawn_emulator().await;
    for (status, code) in CANONICAL {
        fail_next_list(&app, json!(status)).await;
        let reply = app.get(&app.invitations("")).await;
        reply.assert_google_error(code, status);
    }
}

#[tokio::test]
async fn fault_given_an_http_code_answers_with_its_canonical_status() {
    let app = spawn_emulator().await;
    for (code, status) in BY_CODE {
        fail_next_list(&app, json!(code)).await;
        let reply = app.get(&app.invitations("")).await;
        reply.assert_google_error(code, status);
    }
}

#[tokio::test]
async fn fault_codes_and_names_without_a_canonical_pair_are_refused() {
    let app = spawn_emulator().await;
    for status in [
        json!(408),
        json!(502),
        json!(405),
        json!(413),
        json!(418),
        json!(599),
        json!("OK"),
        json!("TIMEOUT"),
        json!("deadline_exceeded"),
    ] {
        let reply = app
            .control("/emulator/v1/faults", json!({"status": status, "count": 1}))
            .await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("canonical") && message.contains("DEADLINE_EXCEEDED"),
            "{status}: {message}"
        );
    }
    // Nothing was queued: the next call succeeds.
    assert_eq!(app.get(&app.invitations("")).await.status, 200);
}

#[tokio::test]
async fn unknown_method_suffix_is_googles_method_not_found() {
    let app = spawn_emulator().await;
    for reply in [
        app.post(&app.invitations("/a@b.c:frobnicate")).await,
        app.get(&app.invitations("/a@b.c:frobnicate")).await,
        app.get_as(&app.invitations("/a@b.c:frobnicate"), None)
            .await,
    ] {
        reply.assert_google_error(404, "NOT_FOUND");
        assert_eq!(reply.body["error"]["message"], "Method not found.");
    }
}

#[tokio::test]
async fn a_known_method_with_the_wrong_verb_is_googles_method_not_found() {
    let app = spawn_emulator().await;
    for reply in [
        app.get(&app.invitations("/ada@example.com:send")).await,
        app.post(&app.invitations("")).await,
        app.post(&app.invitations("/ada@example.com")).await,
        app.get_as(&app.url("/token"), None).await,
        app.get_as(
            &app.url("/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:signJwt"),
            None,
        )
        .await,
        app.get_as(&app.url("/emulator/v1/faults"), None).await,
    ] {
        reply.assert_google_error(404, "NOT_FOUND");
        assert_eq!(reply.body["error"]["message"], "Method not found.");
    }
}

#[tokio::test]
async fn an_oversized_body_is_invalid_argument_in_googles_shape() {
    let app = spawn_emulator().await;
    let body = format!("{{\"x\": \"{}\"}}", "a".repeat(70 * 1024));
    let reply = app
        .post_as(
            &app.invitations("/ada@example.com:send"),
            Some(&app.token),
            &body,
        )
        .await;
    reply.assert_google_error(400, "INVALID_ARGUMENT");
    let control = app
        .post_as(&app.url("/emulator/v1/accounts"), None, &body)
        .await;
    control.assert_google_error(400, "INVALID_ARGUMENT");
}
