//! `invitation-gateway emulator`, the standalone command, as a caller's CI starts it.

use std::time::Duration;

use invitation_gateway::emulator::USERINVITATIONS_SCOPE;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{ADMIN, GOOGLE_TOKEN_URL};
use crate::helpers::{Running, start_binary};

/// Starts the command with these extra arguments on a free port; returns it and its URL, read
/// from the first stdout line as scripts do.
fn start(args: &[&str]) -> (Running, String) {
    let mut argv = vec!["emulator", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(args);
    let (running, rx) = start_binary(&argv, [("RUST_LOG", "warn")], false);
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the emulator prints its URL");
    let url = line
        .strip_prefix("emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (running, url)
}

/// A delegated read-write token, obtained with the key file the command wrote.
async fn token(http: &reqwest::Client, key: &Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": key["client_email"],
        "sub": ADMIN,
        "scope": USERINVITATIONS_SCOPE,
        "aud": GOOGLE_TOKEN_URL,
        "iat": now,
        "exp": now + 3600,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key["private_key_id"].as_str().map(str::to_owned);
    let pem = key["private_key"].as_str().expect("private_key");
    let signing = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the key loads");
    let assertion = jsonwebtoken::encode(&header, &claims, &signing).expect("signs");
    let answer: Value = http
        .post(key["token_uri"].as_str().expect("token_uri"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .expect("the token endpoint answers")
        .json()
        .await
        .expect("JSON");
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token: {answer}"))
        .to_owned()
}

#[tokio::test]
async fn the_command_with_seed_empty_lists_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let key_path = dir.path().join("key.json");
    let key_arg = key_path.to_str().expect("a UTF-8 path");
    let (_emulator, url) = start(&["--seed", "empty", "--write-key", key_arg]);
    let key: Value =
        serde_json::from_slice(&std::fs::read(&key_path).expect("the key file")).expect("JSON");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let token = token(&http, &key).await;
    let invitations = format!("{url}/v1/customers/my_customer/userinvitations");

    let listed = http
        .get(format!("{invitations}?pageSize=200"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list answers");
    let status = listed.status().as_u16();
    let body: Value = listed.json().await.expect("JSON");
    let demo_account = http
        .get(format!("{invitations}/ada@example.com:isInvitableUser"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("isInvitableUser answers");
    let demo_account: Value = demo_account.json().await.expect("JSON");

    assert_eq!((status, body), (200, json!({})));
    assert_eq!(
        demo_account,
        json!({}),
        "no demo account behind an empty seed"
    );
}

#[tokio::test]
async fn the_command_enforces_a_quota_of_60_per_minute_unless_told_otherwise() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for (args, expected) in [
        (&[][..], json!(60)),
        (&["--quota-per-minute", "5"][..], json!(5)),
        (&["--quota-per-minute", "0"][..], Value::Null),
    ] {
        let (_emulator, url) = start(args);
        let stats: Value = http
            .get(format!("{url}/emulator/v1/stats"))
            .send()
            .await
            .expect("stats answer")
            .json()
            .await
            .expect("JSON");
        assert_eq!(stats["quotaPerMinute"], expected, "{args:?}");
    }
}
