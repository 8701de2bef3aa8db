//! The token endpoint: RS256 assertions, delegation, scopes, and the key file.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gcp_auth::TokenProvider as _;
use invitation_gateway::emulator::{
    CLOUD_PLATFORM_SCOPE, USERINVITATIONS_READONLY_SCOPE, USERINVITATIONS_SCOPE,
};
use jsonwebtoken::{Algorithm, Header};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::helpers::{ADMIN, GOOGLE_TOKEN_URL, spawn_emulator};

#[tokio::test]
async fn a_signed_assertion_is_exchanged_for_a_bearer_token() {
    let app = spawn_emulator().await;

    let reply = app
        .exchange(&app.sign(&app.claims(USERINVITATIONS_SCOPE)))
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.body["access_token"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    assert_eq!(reply.body["expires_in"], json!(3599));
    assert_eq!(reply.body["token_type"], json!("Bearer"));
    let grants = &app.stats().await["tokenGrants"];
    assert_eq!(grants[1]["sub"], json!(ADMIN));
    assert_eq!(grants[1]["scope"], json!(USERINVITATIONS_SCOPE));
}

#[tokio::test]
async fn google_audience_and_the_emulator_audience_are_both_accepted() {
    let app = spawn_emulator().await;

    for aud in [GOOGLE_TOKEN_URL.to_string(), app.emulator.token_url()] {
        let mut claims = app.claims(USERINVITATIONS_SCOPE);
        claims["aud"] = json!(aud);
        assert_eq!(app.exchange(&app.sign(&claims)).await.status, 200, "{aud}");
    }
    let mut claims = app.claims(USERINVITATIONS_SCOPE);
    claims["aud"] = json!("https://elsewhere.example/token");
    assert_eq!(
        app.exchange(&app.sign(&claims)).await.body["error"],
        json!("invalid_grant")
    );
}

#[tokio::test]
async fn a_tampered_assertion_has_a_bad_signature() {
    let app = spawn_emulator().await;
    let signed = app.sign(&app.claims(USERINVITATIONS_READONLY_SCOPE));
    let parts: Vec<&str> = signed.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(app.claims(USERINVITATIONS_SCOPE).to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);

    let reply = app.exchange(&forged).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn malformed_assertions_are_invalid_grant() {
    let app = spawn_emulator().await;

    for assertion in [
        "",
        "a.b",
        "a.b.c",
        "!!!.???.***",
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        let reply = app.exchange(assertion).await;
        assert_eq!(
            (reply.status, reply.body["error"].clone()),
            (400, json!("invalid_grant")),
            "{assertion}"
        );
    }
}

#[tokio::test]
async fn a_subject_other_than_the_admin_is_invalid_grant() {
    let app = spawn_emulator().await;
    let mut claims = app.claims(USERINVITATIONS_SCOPE);
    claims["sub"] = json!("mallory@example.com");

    let reply = app.exchange(&app.sign(&claims)).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn a_scope_not_authorised_for_delegation_is_unauthorized_client() {
    let app = spawn_emulator().await;
    let set = app
        .control(
            "/emulator/v1/delegation",
            json!({"authorizedScopes": [USERINVITATIONS_READONLY_SCOPE]}),
        )
        .await;
    assert_eq!(set.status, 204);

    let refused = app
        .exchange(&app.sign(&app.claims(USERINVITATIONS_SCOPE)))
        .await;
    let allowed = app
        .exchange(&app.sign(&app.claims(USERINVITATIONS_READONLY_SCOPE)))
        .await;

    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"], json!("unauthorized_client"));
    assert!(
        refused.body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Client is unauthorized"))
    );
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn user_invitation_scopes_without_a_subject_are_unauthorized_client() {
    let app = spawn_emulator().await;
    let mut claims = app.claims(USERINVITATIONS_SCOPE);
    claims.as_object_mut().expect("object").remove("sub");

    let reply = app.exchange(&app.sign(&claims)).await;

    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["error"], json!("unauthorized_client"));
}

#[tokio::test]
async fn expired_or_too_long_assertions_are_invalid_grant() {
    let app = spawn_emulator().await;
    let now = chrono::Utc::now().timestamp();

    for (iat, exp) in [(now - 7200, now - 3600), (now, now + 7200), (now, now - 10)] {
        let mut claims = app.claims(USERINVITATIONS_SCOPE);
        claims["iat"] = json!(iat);
        claims["exp"] = json!(exp);
        let reply = app.exchange(&app.sign(&claims)).await;
        assert_eq!(
            reply.body["error"],
            json!("invalid_grant"),
            "iat {iat} exp {exp}"
        );
    }
}

#[tokio::test]
async fn an_assertion_without_exp_is_invalid_grant() {
    let app = spawn_emulator().await;
    let mut claims = app.claims(USERINVITATIONS_SCOPE);
    claims.as_object_mut().expect("object").remove("exp");

    let reply = app.exchange(&app.sign(&claims)).await;

    assert_eq!(reply.body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn a_header_without_kid_is_accepted_and_a_wrong_kid_is_not() {
    let app = spawn_emulator().await;
    let signed = app.sign(&app.claims(USERINVITATIONS_SCOPE));
    let no_kid = app.sign_with_header(
        &Header::new(Algorithm::RS256),
        &app.claims(USERINVITATIONS_SCOPE),
    );
    let mut wrong = Header::new(Algorithm::RS256);
    wrong.kid = Some("0000".into());
    let wrong_kid = app.sign_with_header(&wrong, &app.claims(USERINVITATIONS_SCOPE));

    assert_eq!(app.exchange(&signed).await.status, 200);
    assert_eq!(app.exchange(&no_kid).await.status, 200);
    assert_eq!(
        app.exchange(&wrong_kid).await.body["error"],
        json!("invalid_grant")
    );
}

#[tokio::test]
async fn a_grant_type_other_than_jwt_bearer_is_unsupported() {
    let app = spawn_emulator().await;

    let response = app
        .http
        .post(app.emulator.token_url())
        .form(&[("grant_type", "client_credentials"), ("assertion", "x")])
        .send()
        .await
        .expect("answers");

    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], json!("unsupported_grant_type"));
}

#[tokio::test]
async fn the_key_file_is_a_complete_google_service_account_key() {
    let app = spawn_emulator().await;
    let key: Value = serde_json::from_str(app.emulator.service_account_key_json()).expect("json");

    assert_eq!(key["type"], json!("service_account"));
    assert_eq!(key["project_id"], json!("emulator-project"));
    assert_eq!(key["client_email"], json!(app.emulator.client_email()));
    assert_eq!(
        key["client_email"],
        json!("invitation-gateway@emulator-project.iam.gserviceaccount.com")
    );
    assert_eq!(key["token_uri"], json!(app.emulator.token_url()));
    assert_eq!(key["universe_domain"], json!("googleapis.com"));
    assert!(
        key["private_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("-----BEGIN PRIVATE KEY-----"))
    );
    assert!(
        key["private_key_id"]
            .as_str()
            .is_some_and(|id| id.chars().all(|c| c.is_ascii_hexdigit()))
    );
    assert!(
        key["client_id"]
            .as_str()
            .is_some_and(|id| id.chars().all(|c| c.is_ascii_digit()))
    );
    for field in [
        "auth_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
    ] {
        assert!(key[field].is_string(), "{field}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn write_key_writes_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = spawn_emulator().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("key.json");

    app.emulator.write_key(&path).expect("written");

    let mode = std::fs::metadata(&path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_to_string(&path).expect("readable"),
        app.emulator.service_account_key_json()
    );
}

#[tokio::test]
async fn gcp_auth_obtains_a_delegated_token_that_the_api_accepts() {
    let app = spawn_emulator().await;
    let provider =
        gcp_auth::CustomServiceAccount::from_json(app.emulator.service_account_key_json())
            .expect("gcp_auth loads the key")
            .with_subject(ADMIN.to_string());

    let token = provider
        .token(&[USERINVITATIONS_SCOPE])
        .await
        .expect("a token");

    let reply = app
        .get_as(&app.invitations("/ada@example.com"), Some(token.as_str()))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn gcp_auth_obtains_the_accounts_own_cloud_platform_token() {
    let app = spawn_emulator().await;
    let provider =
        gcp_auth::CustomServiceAccount::from_json(app.emulator.service_account_key_json())
            .expect("key loads");

    let token = provider.token(&[CLOUD_PLATFORM_SCOPE]).await;

    assert!(token.is_ok(), "{token:?}");
}
