//! The verified-token cache: it saves work, never validity.

use super::support::*;
use crate::auth::AuthFailure;
use crate::auth::claims::ClaimError;
use serde_json::json;

const READ: &str = "invitations.read";

#[actix_web::test]
async fn a_verified_token_is_kept_and_answers_the_same_caller() {
    let state = app_state(settings()).await;
    let token = hs256(&claims(READ));
    let first = state.auth.verify(&token).await.unwrap();
    assert_eq!(state.auth.token_cache().len(), 1);
    let again = state.auth.verify(&token).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(again.id.sub, "hr-system");
    assert_eq!(state.auth.token_cache().len(), 1);
}

#[actix_web::test]
async fn a_kept_token_still_expires() {
    let state = app_state(settings()).await;
    let token = hs256(&claims(READ));
    let now = now();
    state.auth.verify_at(&token, now).await.unwrap();
    assert_eq!(state.auth.token_cache().len(), 1);
    // exp is now + 600; the leeway is 30 s.
    let failure = state.auth.verify_at(&token, now + 631).await.unwrap_err();
    assert!(
        matches!(failure, AuthFailure::Claims(ClaimError::Expired)),
        "{failure:?}"
    );
    // And every time-dependent rule runs again: before nbf/iat (minus the leeway) it is refused.
    let failure = state.auth.verify_at(&token, now - 31).await.unwrap_err();
    assert!(
        matches!(failure, AuthFailure::Claims(ClaimError::NotYetValid)),
        "{failure:?}"
    );
}

#[actix_web::test]
async fn refused_tokens_are_never_kept() {
    let state = app_state(settings()).await;
    let good = hs256(&claims(READ));
    let (body, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{body}.{}", "A".repeat(43));
    let wrong_issuer = hs256(&claims_with(READ, "iss", json!("https://evil.example")));
    for token in [&forged, &wrong_issuer, &"not.a.token".to_owned()] {
        assert!(state.auth.verify(token).await.is_err());
    }
    assert!(state.auth.token_cache().is_empty());
    // A forged signature on the claims of a token that is kept is still refused.
    state.auth.verify(&good).await.unwrap();
    assert!(state.auth.verify(&forged).await.is_err());
    assert_eq!(state.auth.token_cache().len(), 1);
}

#[actix_web::test]
async fn capacity_zero_keeps_nothing() {
    let mut settings = settings();
    settings.jwt.verified_cache_capacity = 0;
    let state = app_state(settings).await;
    let token = hs256(&claims(READ));
    state.auth.verify(&token).await.unwrap();
    state.auth.verify(&token).await.unwrap();
    assert!(state.auth.token_cache().is_empty());
}
