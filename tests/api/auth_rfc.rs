//! Caller JWTs tried as an attacker (or a strict RFC reader) would: hand-built tokens with
//! headers and claims the minting code never makes, and the challenge of each refusal.

use crate::helpers::{CALLER, JWT_SECRET, TestApp, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const PATH: &str = "/v1/eligibility/check";

/// Claims the test gateway accepts, with `exp`/`nbf`/`iat` as given (any JSON number).
fn claims_at(iat: Value, nbf: Value, exp: Value) -> Value {
    json!({
        "iss": "invitation-gateway", "aud": "invitation-gateway", "sub": CALLER,
        "scope": "invitations.check", "iat": iat, "nbf": nbf, "exp": exp,
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn valid_claims() -> Value {
    let now = now();
    claims_at(json!(now), json!(now), json!(now + 600))
}

/// A token with exactly this header and these claims, correctly HS256-signed with the test
/// secret: only what is under test can make the gateway refuse it.
fn hs256_token(header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HS256 signs anything");
    format!("{signing_input}.{signature}")
}

async fn check(app: &TestApp, token: &str) -> crate::helpers::Answer {
    app.post_json(PATH, token, json!({"emails": ["ada@example.com"]}))
        .await
}

#[track_caller]
fn assert_invalid_token(answer: &crate::helpers::Answer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {}", answer.body);
    assert_eq!(answer.body["code"], "invalid_token", "{what}");
    assert_eq!(
        answer.headers["www-authenticate"], r#"Bearer error="invalid_token""#,
        "{what}"
    );
}

#[tokio::test]
async fn hand_built_token_without_crit_is_accepted() {
    // The control for the refusals below: the builder itself makes acceptable tokens.
    let app = spawn_app().await;
    let token = hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &valid_claims());
    let answer = check(&app, &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn crit_header_with_unknown_extension_is_refused() {
    let app = spawn_app().await;
    let header = json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1});
    let answer = check(&app, &hs256_token(&header, &valid_claims())).await;
    assert_invalid_token(&answer, "crit naming an extension");
    let header = json!({"alg": "HS256", "crit": ["http://example.com/must-understand"],
        "http://example.com/must-understand": true});
    let answer = check(&app, &hs256_token(&header, &valid_claims())).await;
    assert_invalid_token(&answer, "crit naming a URI extension");
}

#[tokio::test]
async fn malformed_crit_headers_are_refused() {
    let app = spawn_app().await;
    for (what, crit) in [
        ("an empty crit list", json!([])),
        ("crit naming a standard header", json!(["alg"])),
        ("crit that is not an array", json!("b64")),
        ("crit set to null", Value::Null),
    ] {
        let header = json!({"alg": "HS256", "typ": "JWT", "crit": crit});
        let answer = check(&app, &hs256_token(&header, &valid_claims())).await;
        assert_invalid_token(&answer, what);
    }
}

#[tokio::test]
async fn request_without_credentials_gets_a_challenge_without_an_error_code() {
    let app = spawn_app().await;
    let anonymous = app
        .client
        .post(format!("{}{PATH}", app.address))
        .json(&json!({"emails": ["ada@example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

    // Another authentication scheme is no bearer credential either (RFC 6750 section 3.1).
    let basic = app
        .client
        .post(format!("{}{PATH}", app.address))
        .basic_auth("hr", Some("secret"))
        .json(&json!({"emails": ["ada@example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_present_but_bad_token_keeps_the_invalid_token_challenge() {
    let app = spawn_app().await;
    let answer = check(&app, "not-a-token").await;
    assert_invalid_token(&answer, "garbage token");
}

#[tokio::test]
async fn fractional_numeric_dates_are_accepted() {
    let app = spawn_app().await;
    let now = now() as f64;
    let claims = claims_at(json!(now - 0.25), json!(now - 0.5), json!(now + 600.5));
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let answer = check(&app, &hs256_token(&header, &claims)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_fractional_exp_in_the_past_still_expires() {
    let app = spawn_app().await;
    let now = now() as f64;
    // Past the default 30 s leeway by half a second and more.
    let claims = claims_at(
        json!(now - 120.5),
        json!(now - 120.5),
        json!(now - 30.5 - 1.0),
    );
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let answer = check(&app, &hs256_token(&header, &claims)).await;
    assert_invalid_token(&answer, "fractional exp in the past");
}

#[tokio::test]
async fn a_fractional_nbf_in_the_future_is_refused() {
    let app = spawn_app().await;
    let now = now() as f64;
    let claims = claims_at(json!(now), json!(now + 60.5), json!(now + 600.5));
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let answer = check(&app, &hs256_token(&header, &claims)).await;
    assert_invalid_token(&answer, "fractional nbf in the future");
}
