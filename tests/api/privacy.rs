//! No personal data in application logs: a full scenario at TRACE, and not one test email,
//! token or key in the gateway's output (the `audit` stream is the one place emails belong).

use crate::helpers::{JWT_SECRET, admin_token, shared_key, start_binary};
use invitation_gateway::emulator::{Emulator, EmulatorSettings};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_full_scenario_at_trace_logs_no_email_token_or_key() {
    invitation_gateway::install_crypto_provider();
    let emulator = Emulator::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        EmulatorSettings {
            key: Some(shared_key()),
            ..EmulatorSettings::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    emulator.write_key(&key_path).unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("gateway.db").display());

    let database = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let (running, rx) = start_binary(
        &["serve", "--listen", "127.0.0.1:0"],
        [
            ("GATEWAY_DATABASE_URL", database.as_str()),
            ("RUST_LOG", "trace"),
            ("GATEWAY_LOG_FORMAT", "json"),
            ("GOOGLE_APPLICATION_CREDENTIALS", key_path.to_str().unwrap()),
            ("GATEWAY_DELEGATED_ADMIN", "admin@example.com"),
            ("GATEWAY_GOOGLE_API_URL", emulator.url()),
            ("GATEWAY_JWT_HS256_SECRET", JWT_SECRET),
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "1000"),
            ("GATEWAY_DATABASE_URL", store_url.as_str()),
        ],
        true,
    );

    let mut lines = Vec::new();
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the gateway logs its address");
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        lines.push(line);
        if parsed["message"] == "invitation-gateway listening" {
            break parsed["address"].as_str().unwrap().to_owned();
        }
    };
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let token = admin_token();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let emails = [
        "grace+hr@example.com",
        "ada@example.com",
        "edsger@example.com",
        "nobody@elsewhere.org",
    ];

    // Wait until the gateway has its Google token, so the scenario exercises the real path.
    crate::helpers::eventually("the gateway has its Google token", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    })
    .await;
    reqwest::Client::new()
        .post(format!("{}/emulator/v1/faults", emulator.url()))
        .json(&json!({"method": "send", "status": 503, "count": 1, "afterApply": true}))
        .send()
        .await
        .unwrap();
    post("/v1/eligibility/check", json!({"emails": emails}))
        .await
        .unwrap();
    post("/v1/invitations/lookup", json!({"emails": emails}))
        .await
        .unwrap();
    post("/v1/invitations/send", json!({"emails": emails}))
        .await
        .unwrap();
    post(
        "/v1/invitations/cancel",
        json!({"emails": ["edsger@example.com"]}),
    )
    .await
    .unwrap();
    post(
        "/v1/invitations/send",
        json!({"emails": ["ada@example.com", "ada@example.com"]}),
    )
    .await
    .unwrap();
    post("/v1/invitations/send", json!({"emails": "ada@example.com"}))
        .await
        .unwrap();
    client
        .get(format!("{base}/v1/invitations?state=INVITED"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    client
        .get(format!("{base}/v1/invitations/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .get(format!("{base}/v1/invitations/ada@example.com"))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/v1/invitations/send"))
        .bearer_auth("not-a-token")
        .json(&json!({"emails": ["ada@example.com"]}))
        .send()
        .await
        .unwrap();

    drop(running);
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }

    let key: Value = serde_json::from_str(emulator.service_account_key_json()).unwrap();
    let private_key_lines: Vec<String> = key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    let application: Vec<&String> = lines
        .iter()
        .filter(|l| !l.contains("\"target\":\"audit\""))
        .collect();
    assert!(
        application.len() > 50,
        "TRACE produced a real log: {} lines",
        application.len()
    );
    assert!(
        application
            .iter()
            .any(|l| l.contains("invitation item done") && l.contains("\"email\":\"e_")),
        "items are logged by their keyed hash"
    );
    for line in &application {
        for email in emails.iter().chain(["edsger@example.com"].iter()) {
            assert!(
                !line.contains(email),
                "an email in the application log: {line}"
            );
            let encoded = email.replace('@', "%40").replace('+', "%2B");
            assert!(
                !line.contains(&encoded),
                "an encoded email in the application log: {line}"
            );
        }
        assert!(
            !line.contains(&token),
            "the caller token in the log: {line}"
        );
        assert!(
            !line.contains(JWT_SECRET),
            "the JWT secret in the log: {line}"
        );
        for key_line in &private_key_lines {
            assert!(
                !line.contains(key_line.as_str()),
                "private key material in the log: {line}"
            );
        }
    }
    let audit: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"target\":\"audit\""))
        .collect();
    assert!(
        audit.iter().any(|l| l.contains("grace+hr@example.com")),
        "the audit stream names the person"
    );
}
