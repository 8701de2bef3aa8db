//! The JWKS source against a tiny local JWKS server that counts its fetches.

use super::support::*;
use crate::auth::claims::ClaimRules;
use crate::auth::jwks::JwksSource;
use crate::auth::{Authenticator, scope};
use crate::readiness::CheckState;
use crate::state::AppState;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SEND: &str = "invitations.send";

/// What the fake issuer serves, and what it saw.
#[derive(Default)]
struct Issuer {
    keys: Vec<Value>,
    failing: bool,
    /// Bytes of filler added to the document (to make it too large).
    padding: usize,
    fetches: usize,
    no_cache_fetches: usize,
}

type Shared = Arc<Mutex<Issuer>>;

async fn serve_jwks(req: HttpRequest, issuer: web::Data<Shared>) -> HttpResponse {
    let mut issuer = issuer.lock().unwrap();
    issuer.fetches += 1;
    if req
        .headers()
        .get("cache-control")
        .is_some_and(|v| v == "no-cache")
    {
        issuer.no_cache_fetches += 1;
    }
    if issuer.failing {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().json(json!({ "keys": issuer.keys, "filler": "x".repeat(issuer.padding) }))
}

/// Starts the fake issuer on 127.0.0.1:0; returns its JWKS URL.
fn start_issuer(issuer: &Shared) -> String {
    let data = web::Data::new(issuer.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/jwks", web::get().to(serve_jwks))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{address}/jwks")
}

fn issuer_with(keys: Vec<Value>) -> Shared {
    Arc::new(Mutex::new(Issuer {
        keys,
        ..Issuer::default()
    }))
}

/// App state whose only key source is the fake issuer's JWKS (not fetched yet).
/// An issuer publishing RSA key `a`, and a gateway that has fetched it once.
async fn fetched_key_a() -> (Shared, AppState) {
    let issuer = issuer_with(vec![rsa_keys()[0].jwk("a")]);
    let state = jwks_state(&start_issuer(&issuer)).await;
    jwks(&state).fetch(false).await.unwrap();
    (issuer, state)
}

async fn jwks_state(url: &str) -> AppState {
    let mut settings = settings();
    settings.jwt.hs256_secret = None;
    settings.jwt.jwks_url = Some(url.to_owned());
    app_state(settings).await
}

fn jwks(state: &AppState) -> &Arc<JwksSource> {
    state.auth.jwks().expect("a JWKS source is configured")
}

fn rs256(kid: &str, key: usize) -> String {
    sign(
        &claims(SEND),
        Algorithm::RS256,
        &rsa_keys()[key].encoding_key(),
        Some(kid),
    )
}

/// Waits (briefly, polling) until `condition` holds.
async fn eventually(mut condition: impl FnMut() -> bool) {
    for _ in 0..300 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 3 s");
}

#[actix_web::test]
async fn readiness_is_pending_until_the_first_successful_fetch() {
    let issuer = issuer_with(vec![rsa_keys()[0].jwk("a")]);
    issuer.lock().unwrap().failing = true;
    let state = jwks_state(&start_issuer(&issuer)).await;
    state.auth.start(state.readiness.clone());
    eventually(|| issuer.lock().unwrap().fetches >= 1).await;
    assert_eq!(state.readiness.caller_keys.get(), CheckState::Pending);
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        401
    );

    issuer.lock().unwrap().failing = false;
    // The background task retries after a second.
    eventually(|| state.readiness.caller_keys.get() == CheckState::Ready).await;
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        200
    );
}

#[actix_web::test]
async fn secret_and_pem_sources_are_ready_at_once() {
    let state = app_state(settings()).await;
    assert_eq!(state.readiness.caller_keys.get(), CheckState::Pending);
    state.auth.start(state.readiness.clone());
    assert_eq!(state.readiness.caller_keys.get(), CheckState::Ready);
}

#[actix_web::test]
async fn a_thousand_unknown_kids_cause_at_most_one_refetch() {
    let tokens: Vec<String> = (0..1000)
        .map(|_| rs256(&uuid::Uuid::new_v4().to_string(), 1))
        .collect();
    let (issuer, state) = fetched_key_a().await;

    let answers = send_all(&state, tokens.iter().map(|t| probe_request(t)).collect()).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|a| a.status)
        .filter(|s| *s != 401)
        .collect();
    assert!(statuses.is_empty(), "{statuses:?}");

    let issuer = issuer.lock().unwrap();
    assert_eq!(issuer.fetches, 2, "the start fetch and one refetch");
    assert_eq!(issuer.no_cache_fetches, 1, "the refetch bypasses caches");
    assert_eq!(jwks(&state).fetch_count(), 2);
}

#[actix_web::test]
async fn forged_tokens_never_cause_a_fetch() {
    let (issuer, state) = fetched_key_a().await;
    let key = rsa_keys()[1].encoding_key();
    for claims in [
        claims_with(SEND, "iss", json!("https://evil.example.com")),
        claims_with(SEND, "aud", json!("other")),
        claims_with(SEND, "exp", json!(now() - 3600)),
    ] {
        let token = sign(&claims, Algorithm::RS256, &key, Some("unknown"));
        assert_refused(&state, &token).await;
    }
    let token = sign(
        &claims(SEND),
        Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        Some("unknown"),
    );
    assert_refused(&state, &token).await;
    assert_eq!(issuer.lock().unwrap().fetches, 1, "only the start fetch");
}

#[actix_web::test]
async fn a_rotated_key_is_picked_up_without_restart() {
    let (issuer, state) = fetched_key_a().await;
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        200
    );

    issuer.lock().unwrap().keys = vec![rsa_keys()[1].jwk("b")];
    let answer = call(&state, "/probe", Some(&rs256("b", 1))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        401,
        "a is retired"
    );

    // A second rotation within the cooldown waits for the next scheduled refresh.
    issuer.lock().unwrap().keys = vec![rsa_keys()[2].jwk("c")];
    assert_eq!(
        call(&state, "/probe", Some(&rs256("c", 2))).await.status,
        401
    );
    assert_eq!(issuer.lock().unwrap().fetches, 2);
}

#[actix_web::test]
async fn a_key_removed_from_the_set_stops_verifying_tokens_it_verified_before() {
    let (issuer, state) = fetched_key_a().await;
    let token = rs256("a", 0);
    assert_eq!(call(&state, "/probe", Some(&token)).await.status, 200);
    assert_eq!(
        state.auth.token_cache().len(),
        1,
        "the verified token is kept"
    );

    // The scheduled refresh loads a set without `a`: the kept token is verified again, and fails.
    issuer.lock().unwrap().keys = vec![rsa_keys()[1].jwk("b")];
    jwks(&state).fetch(false).await.unwrap();
    assert_refused(&state, &token).await;
}

#[actix_web::test]
async fn a_failing_jwks_keeps_the_last_good_keys() {
    let (issuer, state) = fetched_key_a().await;

    issuer.lock().unwrap().failing = true;
    assert!(jwks(&state).fetch(false).await.is_err());
    // An unknown kid forces a refetch, which fails too.
    assert_eq!(
        call(&state, "/probe", Some(&rs256("new", 1))).await.status,
        401
    );
    assert_eq!(issuer.lock().unwrap().fetches, 3);
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        200
    );
}

#[actix_web::test]
async fn a_jwks_document_over_the_size_limit_is_refused_and_the_last_good_keys_stay() {
    let issuer = issuer_with(vec![rsa_keys()[0].jwk("a")]);
    issuer.lock().unwrap().padding = crate::auth::jwks::MAX_JWKS_BYTES;
    let state = jwks_state(&start_issuer(&issuer)).await;
    let err = jwks(&state).fetch(false).await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        401,
        "no key was taken from the oversized document"
    );

    issuer.lock().unwrap().padding = 0;
    jwks(&state).fetch(false).await.unwrap();
    issuer.lock().unwrap().padding = crate::auth::jwks::MAX_JWKS_BYTES;
    assert!(jwks(&state).fetch(false).await.is_err());
    assert_eq!(
        call(&state, "/probe", Some(&rs256("a", 0))).await.status,
        200,
        "the last good keys stay"
    );
}

#[actix_web::test]
async fn unusable_keys_in_the_set_are_skipped() {
    let issuer = issuer_with(vec![
        json!({"kty": "oct", "kid": "sym", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa_keys()[1].n, "e": rsa_keys()[1].e}),
        json!({"kty": "weird"}),
        rsa_keys()[0].jwk("a"),
    ]);
    let url = start_issuer(&issuer);
    let source = Arc::new(JwksSource::new(url, Duration::from_secs(600)).unwrap());
    assert_eq!(source.fetch(false).await.unwrap(), 1);
    let auth = Authenticator::from_sources(
        ClaimRules::from_settings(&settings().jwt),
        Vec::new(),
        Some(source),
    );
    let caller = auth.verify(&rs256("a", 0)).await.unwrap();
    assert!(caller.has_scope(<scope::Send as crate::auth::RequiredScope>::ANY_OF[0]));
}

#[actix_web::test]
async fn crit_header_is_refused_for_jwks_keys() {
    let (_issuer, state) = fetched_key_a().await;
    let key = rsa_keys()[0].encoding_key();
    let plain = json!({"alg": "RS256", "kid": "a"});
    let token = sign_with_header(&plain, &claims(SEND), Algorithm::RS256, &key);
    assert_eq!(call(&state, "/probe", Some(&token)).await.status, 200);
    let header = json!({"alg": "RS256", "kid": "a", "crit": ["x-must-understand"],
        "x-must-understand": 1});
    let token = sign_with_header(&header, &claims(SEND), Algorithm::RS256, &key);
    assert_refused(&state, &token).await;
}
