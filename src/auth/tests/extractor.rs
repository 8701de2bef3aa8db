//! The token matrix, scopes, rate limits and denial audits through the real middleware stack.

use super::support::*;
use crate::config::{AuditSettings, LimitSettings};
use crate::state::AppState;
use actix_web::test::TestRequest;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const SEND: &str = "invitations.send";

async fn state() -> AppState {
    app_state(settings()).await
}

/// Asserts that the default gateway refuses an HS256 token whose claim `name` is `value`
/// (`null` drops it).
async fn assert_claim_refused(name: &str, value: Value) {
    let token = hs256(&claims_with(SEND, name, value));
    assert_refused(&state().await, &token).await;
}

/// HS256 secret plus an RSA public key from a PEM file.
async fn state_with_rsa_pem() -> AppState {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.pem");
    // Two blocks: the file may hold several keys.
    let pem = format!("{}{}", rsa_keys()[1].public_pem, rsa_keys()[0].public_pem);
    std::fs::write(&path, pem).unwrap();
    let mut settings = settings();
    settings.jwt.public_key_file = Some(path);
    app_state(settings).await
}

#[actix_web::test]
async fn a_valid_token_with_the_scope_reaches_the_handler_as_its_caller() {
    let answer = call(
        &state().await,
        "/probe",
        Some(&hs256(&claims("invitations.read invitations.send"))),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["iss"], ISSUER);
    assert_eq!(answer.body["sub"], "hr-system");
    assert_eq!(answer.body["scopes"], "invitations.read invitations.send");
}

#[actix_web::test]
async fn no_token_is_401_with_a_bare_challenge() {
    call(&state().await, "/probe", None)
        .await
        .assert_no_credentials();
}

#[actix_web::test]
async fn a_non_bearer_scheme_is_401_with_a_bare_challenge() {
    let request = TestRequest::post()
        .uri("/probe")
        .insert_header(("authorization", format!("Basic {}", hs256(&claims(SEND)))));
    send(&state().await, request).await.assert_no_credentials();
}

#[actix_web::test]
async fn a_bearer_header_without_a_token_or_twice_is_an_invalid_token() {
    for value in ["Bearer", "Bearer   "] {
        let request = TestRequest::post()
            .uri("/probe")
            .insert_header(("authorization", value));
        send(&state().await, request).await.assert_invalid_token();
    }
    let token = hs256(&claims(SEND));
    let request = TestRequest::post()
        .uri("/probe")
        .append_header(("authorization", format!("Bearer {token}")))
        .append_header(("authorization", format!("Bearer {token}")));
    send(&state().await, request).await.assert_invalid_token();
}

#[actix_web::test]
async fn a_token_in_the_query_string_is_401_even_with_a_valid_header() {
    let token = hs256(&claims(SEND));
    for query in ["access_token", "token"] {
        let answer = call(
            &state().await,
            &format!("/probe?{query}={token}"),
            Some(&token),
        )
        .await;
        answer.assert_invalid_token();
    }
}

#[actix_web::test]
async fn a_string_that_is_not_a_compact_jws_is_401() {
    for garbage in ["hello", "a.b", "a.b.c.d", "eyJ.eyJ.sig=", "...."] {
        assert_refused(&state().await, garbage).await;
    }
}

#[actix_web::test]
async fn a_9_kib_header_is_refused_before_parsing() {
    let header = json!({"alg": "HS256", "typ": "JWT", "pad": "x".repeat(9 * 1024)});
    let token = raw_token(&header, &claims(SEND), "c2ln");
    assert_refused(&state().await, &token).await;
}

#[actix_web::test]
async fn alg_none_is_401() {
    let header = json!({"alg": "none", "typ": "JWT"});
    for signature in ["", "AAAA"] {
        let token = raw_token(&header, &claims(SEND), signature);
        assert_refused(&state().await, &token).await;
    }
}

#[actix_web::test]
async fn a_wrong_signature_is_401() {
    let other = EncodingKey::from_secret(b"another-secret-another-secret-!!");
    let token = sign(&claims(SEND), Algorithm::HS256, &other, None);
    assert_refused(&state().await, &token).await;
}

#[actix_web::test]
async fn a_pem_key_verifies_its_own_algorithm() {
    let key = &rsa_keys()[0];
    let token = sign(&claims(SEND), Algorithm::RS256, &key.encoding_key(), None);
    let answer = call(&state_with_rsa_pem().await, "/probe", Some(&token)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[actix_web::test]
async fn crit_header_is_refused_for_pem_keys() {
    let state = state_with_rsa_pem().await;
    let key = rsa_keys()[0].encoding_key();
    let plain = json!({"alg": "RS256", "typ": "JWT"});
    let token = sign_with_header(&plain, &claims(SEND), Algorithm::RS256, &key);
    assert_eq!(call(&state, "/probe", Some(&token)).await.status, 200);
    for crit in [json!(["x-must-understand"]), json!([]), json!(["alg"])] {
        let header = json!({"alg": "RS256", "typ": "JWT", "crit": crit, "x-must-understand": 1});
        let token = sign_with_header(&header, &claims(SEND), Algorithm::RS256, &key);
        assert_refused(&state, &token).await;
    }
}

#[actix_web::test]
async fn crit_header_is_refused_for_the_hs256_secret() {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let header = json!({"alg": "HS256", "crit": ["x-must-understand"], "x-must-understand": 1});
    let token = sign_with_header(&header, &claims(SEND), Algorithm::HS256, &key);
    assert_refused(&state().await, &token).await;
}

/// Test-only key pairs, made for these tests with `openssl genpkey` (P-256 and Ed25519).
const ES256_PRIVATE: &str = include_str!("keys/es256.key.pem");
const ES256_PUBLIC: &str = include_str!("keys/es256.pub.pem");
const ED25519_PRIVATE: &str = include_str!("keys/ed25519.key.pem");
const ED25519_PUBLIC: &str = include_str!("keys/ed25519.pub.pem");

#[actix_web::test]
async fn es256_and_eddsa_pem_keys_verify_their_own_tokens_beside_rsa_and_hs256() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.pem");
    let pem = format!("{ES256_PUBLIC}{}{ED25519_PUBLIC}", rsa_keys()[0].public_pem);
    std::fs::write(&path, pem).unwrap();
    let mut settings = settings();
    settings.jwt.public_key_file = Some(path);
    let state = app_state(settings).await;
    let es256 = EncodingKey::from_ec_pem(ES256_PRIVATE.as_bytes()).unwrap();
    let ed25519 = EncodingKey::from_ed_pem(ED25519_PRIVATE.as_bytes()).unwrap();

    for (alg, key) in [(Algorithm::ES256, &es256), (Algorithm::EdDSA, &ed25519)] {
        let token = sign(&claims(SEND), alg, key, None);
        let answer = call(&state, "/probe", Some(&token)).await;
        assert_eq!(answer.status, 200, "{alg:?}: {answer:?}");

        // The same token with another signature of the right length is refused.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        assert_refused(&state, &forged).await;
    }
    let hs256 = sign(
        &claims(SEND),
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        None,
    );
    assert_eq!(call(&state, "/probe", Some(&hs256)).await.status, 200);
}

#[actix_web::test]
async fn hs256_signed_with_the_rsa_public_key_as_secret_is_401() {
    let state = state_with_rsa_pem().await;
    for key in &rsa_keys()[..2] {
        let confused = EncodingKey::from_secret(key.public_pem.as_bytes());
        let token = sign(&claims(SEND), Algorithm::HS256, &confused, None);
        assert_refused(&state, &token).await;
    }
    // Without an HS256 secret, HS256 is not accepted at all.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    std::fs::write(&path, &rsa_keys()[0].public_pem).unwrap();
    let mut settings = settings();
    settings.jwt.hs256_secret = None;
    settings.jwt.public_key_file = Some(path);
    let rsa_only = app_state(settings).await;
    let confused = EncodingKey::from_secret(rsa_keys()[0].public_pem.as_bytes());
    let token = sign(&claims(SEND), Algorithm::HS256, &confused, None);
    assert_refused(&rsa_only, &token).await;
}

#[actix_web::test]
async fn an_rs256_token_is_not_verified_by_the_hs256_secret() {
    let token = sign(
        &claims(SEND),
        Algorithm::RS256,
        &rsa_keys()[2].encoding_key(),
        None,
    );
    assert_refused(&state().await, &token).await;
}

#[actix_web::test]
async fn expiry_is_checked_with_the_leeway() {
    let state = state().await;
    let expired = claims_with(SEND, "exp", json!(now() - 60));
    assert_refused(&state, &hs256(&expired)).await;
    let within_leeway = claims_with(SEND, "exp", json!(now() - 20));
    assert_eq!(
        call(&state, "/probe", Some(&hs256(&within_leeway)))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn a_token_without_exp_is_401() {
    assert_claim_refused("exp", Value::Null).await;
}

#[actix_web::test]
async fn nbf_in_the_future_is_401() {
    assert_claim_refused("nbf", json!(now() + 120)).await;
}

#[actix_web::test]
async fn a_wrong_issuer_is_401() {
    assert_claim_refused("iss", json!("https://evil.example.com")).await;
}

#[actix_web::test]
async fn a_wrong_or_missing_audience_is_401() {
    let state = state().await;
    for aud in [json!("someone-else"), json!(["a", "b"]), Value::Null] {
        let token = hs256(&claims_with(SEND, "aud", aud));
        assert_refused(&state, &token).await;
    }
    let listed = hs256(&claims_with(SEND, "aud", json!(["x", AUDIENCE])));
    assert_eq!(call(&state, "/probe", Some(&listed)).await.status, 200);
}

#[actix_web::test]
async fn a_missing_subject_is_401() {
    assert_claim_refused("sub", Value::Null).await;
}

#[actix_web::test]
async fn a_lifetime_over_the_maximum_is_401() {
    let now = now();
    let mut claims = claims(SEND);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 25 * 3600);
    assert_refused(&state().await, &hs256(&claims)).await;
}

#[actix_web::test]
async fn a_missing_scope_is_403_naming_the_scope() {
    let token = hs256(&claims("invitations.read invitations.check"));
    let answer = call(&state().await, "/probe", Some(&token)).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.body["code"], "insufficient_scope");
    assert_eq!(
        answer.header("www-authenticate"),
        r#"Bearer error="insufficient_scope", scope="invitations.send""#
    );
}

#[actix_web::test]
async fn scopes_can_come_from_an_array_claim() {
    let mut settings = settings();
    settings.jwt.scope_claim = "permissions".into();
    let state = app_state(settings).await;
    let mut array = claims_with("", "scope", Value::Null);
    array["permissions"] = json!(["invitations.read", "invitations.send"]);
    let answer = call(&state, "/probe", Some(&hs256(&array))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["scopes"], "invitations.read invitations.send");
    // The `scope` string is not read when another claim is configured.
    let string_only = hs256(&claims(SEND));
    assert_eq!(call(&state, "/probe", Some(&string_only)).await.status, 403);
}

#[actix_web::test]
async fn callers_from_the_same_address_are_limited_independently() {
    let mut settings = settings();
    settings.limits = LimitSettings {
        requests_per_second: 1,
        burst: 2,
        daily_mails_per_caller: 1,
    };
    let state = app_state(settings).await;
    let ada = hs256(&claims_with(SEND, "sub", json!("ada")));
    let bob = hs256(&claims_with(SEND, "sub", json!("bob")));
    assert_eq!(call(&state, "/probe", Some(&ada)).await.status, 200);
    assert_eq!(call(&state, "/probe", Some(&ada)).await.status, 200);
    let limited = call(&state, "/probe", Some(&ada)).await;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_eq!(limited.body["code"], "rate_limited");
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(call(&state, "/probe", Some(&bob)).await.status, 200);
}

#[actix_web::test]
async fn denials_are_audited_with_the_caller_when_known() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut settings = settings();
    settings.audit = AuditSettings {
        file: Some(path.clone()),
    };
    let state = app_state(settings).await;

    let request = TestRequest::post()
        .uri("/probe")
        .insert_header(("x-request-id", "denied-1"));
    assert_eq!(send(&state, request).await.status, 401);
    let read_only = hs256(&claims("invitations.read"));
    assert_eq!(call(&state, "/probe", Some(&read_only)).await.status, 403);
    assert_eq!(
        call(&state, "/probe", Some(&hs256(&claims(SEND))))
            .await
            .status,
        200
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "allowed requests are not denials: {text}");
    assert_eq!(records[0]["action"], "denied");
    assert_eq!(records[0]["outcome"], "invalid_token");
    assert_eq!(records[0]["request_id"], "denied-1");
    assert_eq!(records[0]["route"], "POST /probe");
    assert!(records[0]["caller_sub"].is_null());
    assert_eq!(records[1]["outcome"], "insufficient_scope");
    assert_eq!(records[1]["caller_iss"], ISSUER);
    assert_eq!(records[1]["caller_sub"], "hr-system");
    assert_eq!(records[1]["detail"], "missing scope invitations.send");
    assert!(
        !text.contains(&read_only),
        "tokens never reach the audit trail"
    );
}

/// The answers above are deliberately alike; these check each refusal happens for its reason.
#[actix_web::test]
async fn each_refusal_has_its_own_logged_reason() {
    use crate::auth::AuthFailure;
    use crate::auth::claims::ClaimError;
    use crate::auth::compact::ShapeError;
    let state = state_with_rsa_pem().await;
    let verify = |token: String| {
        let auth = state.auth.clone();
        async move { auth.verify(&token).await.unwrap_err() }
    };
    let big = json!({"alg": "HS256", "pad": "x".repeat(9 * 1024)});
    assert!(matches!(
        verify(raw_token(&big, &claims(SEND), "c2ln")).await,
        AuthFailure::Shape(ShapeError::Length)
    ));
    let none = json!({"alg": "none"});
    assert!(matches!(
        verify(raw_token(&none, &claims(SEND), "AAAA")).await,
        AuthFailure::Malformed
    ));
    let confused = EncodingKey::from_secret(rsa_keys()[0].public_pem.as_bytes());
    assert!(matches!(
        verify(sign(&claims(SEND), Algorithm::HS256, &confused, None)).await,
        AuthFailure::Signature(_)
    ));
    let es256 = json!({"alg": "ES256"});
    assert!(matches!(
        verify(raw_token(&es256, &claims(SEND), "AAAA")).await,
        AuthFailure::Algorithm(_)
    ));
    let late = claims_with(SEND, "nbf", json!(now() + 120));
    assert!(matches!(
        verify(hs256(&late)).await,
        AuthFailure::Claims(ClaimError::NotYetValid)
    ));
    let long = claims_with(SEND, "exp", json!(now() + 25 * 3600));
    assert!(matches!(
        verify(hs256(&long)).await,
        AuthFailure::Claims(ClaimError::LifetimeTooLong)
    ));
    let anonymous = claims_with(SEND, "sub", Value::Null);
    assert!(matches!(
        verify(hs256(&anonymous)).await,
        AuthFailure::Claims(ClaimError::Subject)
    ));
}
