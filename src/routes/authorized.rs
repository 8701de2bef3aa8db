//! `Authorized<S>`: the extractor that puts an endpoint's required scope in its signature.
//!
//! ```ignore
//! async fn send_invitations(caller: Authorized<scope::Send>, ...) -> ... { caller.id.sub ... }
//! ```
//!
//! It refuses, in order: a token in the query string (even next to a valid header), a missing
//! or non-Bearer `Authorization`, an invalid token (401 `invalid_token`); a caller over its
//! request rate (429 `rate_limited`); a caller without the scope (403 `insufficient_scope`).
//! Every refusal is counted in the store, folded per reason, peer and interval; only the first
//! of a fold is logged (with its reason) and written to the audit log target and file, so a
//! flood of bad tokens writes a handful of lines, with the store down too (a fold kept in this
//! process stands in). The answer names only the code. The
//! 401 challenge follows RFC 6750 section 3.1: `Bearer` alone when the request had no bearer
//! credentials, `Bearer error="invalid_token"` when it had a token that was refused.

use crate::audit::{AuditAction, AuditRecord};
use crate::auth::caller::Caller;
use crate::auth::scopes::{RequiredScope, Scope};
use crate::auth::verifier::AuthFailure;
use crate::error::{ApiError, ErrorCode};
use crate::middleware::request_id::RequestId;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use percent_encoding::percent_decode_str;
use std::marker::PhantomData;
use std::ops::Deref;

/// Query parameters that would carry a token (RFC 6750 §2.3); refused, never read.
const QUERY_TOKEN_NAMES: [&str; 2] = ["access_token", "token"];

/// The `WWW-Authenticate` challenge of a 401 for a token that is present but refused.
pub const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer error="invalid_token""#;

/// The `WWW-Authenticate` challenge of a 401 for a request without bearer credentials: no
/// error code, since no token was wrong (RFC 6750 section 3.1).
pub const NO_CREDENTIALS_CHALLENGE: &str = "Bearer";

/// A verified caller holding the scope `S` requires; derefs to [`Caller`].
#[derive(Debug)]
pub struct Authorized<S: RequiredScope> {
    caller: Caller,
    scope: PhantomData<S>,
}

impl<S: RequiredScope> Authorized<S> {
    /// The verified caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Takes the verified caller out.
    pub fn into_caller(self) -> Caller {
        self.caller
    }
}

impl<S: RequiredScope> Authorized<S> {
    /// Demands `scope` of a caller admitted for one of several (`S::ANY_OF`), once the request
    /// shows which one it needs; refused like the extractor refuses (403, audited, counted).
    pub async fn require(&self, scope: Scope, req: &HttpRequest) -> Result<(), ApiError> {
        if self.caller.has_scope(scope) {
            return Ok(());
        }
        match req.app_data::<web::Data<AppState>>() {
            Some(state) => Err(refuse_scope(req, state, &self.caller, &[scope]).await),
            None => Err(ApiError::internal(anyhow::anyhow!(
                "AppState is not registered with the app"
            ))),
        }
    }
}

impl<S: RequiredScope> Deref for Authorized<S> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "AppState is not registered with the app"
                )));
            };
            let caller = match authenticate(&req, &state).await {
                Ok(caller) => caller,
                Err(failure) => {
                    audit_denial(
                        &req,
                        &state,
                        None,
                        ErrorCode::InvalidToken,
                        &failure.to_string(),
                    )
                    .await;
                    let challenge = if failure.lacks_credentials() {
                        NO_CREDENTIALS_CHALLENGE
                    } else {
                        INVALID_TOKEN_CHALLENGE
                    };
                    return Err(ApiError::new(
                        ErrorCode::InvalidToken,
                        "A valid bearer token is required in the Authorization header.",
                    )
                    .with_www_authenticate(challenge));
                }
            };
            if let Err(err) = state.limits.check_request(&caller).map_err(ApiError::from) {
                audit_denial(
                    &req,
                    &state,
                    Some(&caller),
                    err.code(),
                    "request rate exceeded",
                )
                .await;
                return Err(err);
            }
            if !S::ANY_OF.iter().any(|scope| caller.has_scope(*scope)) {
                return Err(refuse_scope(&req, &state, &caller, S::ANY_OF).await);
            }
            Ok(Self {
                caller,
                scope: PhantomData,
            })
        })
    }
}

/// The refusal of a caller that holds none of `scopes`: audited, and answered 403 with the
/// scopes in the challenge (RFC 6750 section 3: space separated).
async fn refuse_scope(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    scopes: &[Scope],
) -> ApiError {
    let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    let (reason, detail) = match names.as_slice() {
        [one] => (
            format!("missing scope {one}"),
            format!("This operation requires the scope {one}."),
        ),
        many => (
            format!("missing any of the scopes {}", many.join(", ")),
            format!(
                "This operation requires one of the scopes {}.",
                many.join(", ")
            ),
        ),
    };
    audit_denial(
        req,
        state,
        Some(caller),
        ErrorCode::InsufficientScope,
        &reason,
    )
    .await;
    ApiError::new(ErrorCode::InsufficientScope, detail).with_www_authenticate(format!(
        r#"Bearer error="insufficient_scope", scope="{}""#,
        names.join(" ")
    ))
}

/// Finds and verifies the bearer token.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, AuthFailure> {
    if has_query_token(req.query_string()) {
        return Err(AuthFailure::TokenInQuery);
    }
    let token = bearer_token(req)?;
    state.auth.verify(&token).await
}

/// The token of the one `Authorization: Bearer` header. No header, or one of another scheme,
/// is a request without bearer credentials; several headers, or a Bearer one without a
/// token, are refused as a bad token.
fn bearer_token(req: &HttpRequest) -> Result<String, AuthFailure> {
    let mut values = req.headers().get_all(AUTHORIZATION);
    let value = values.next().ok_or(AuthFailure::Missing)?;
    if values.next().is_some() {
        return Err(AuthFailure::BadHeader);
    }
    let value = value.to_str().map_err(|_| AuthFailure::BadHeader)?;
    let value = value.trim_start();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::OtherScheme);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::BadHeader);
    }
    Ok(token.to_owned())
}

/// True when the query string has a parameter named like a token, however it is encoded.
fn has_query_token(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or_default().replace('+', " ");
        let name = percent_decode_str(&name).decode_utf8_lossy();
        QUERY_TOKEN_NAMES
            .iter()
            .any(|token_name| name.eq_ignore_ascii_case(token_name))
    })
}

/// Counts a refusal, and logs and audits it when it is the first of its fold (reason, peer,
/// interval), so a flood adds one log line and one audit record per fold, whether or not the
/// store can count it. A failing audit file cannot un-refuse it, so that is only logged.
async fn audit_denial(
    req: &HttpRequest,
    state: &AppState,
    caller: Option<&Caller>,
    code: ErrorCode,
    reason: &str,
) {
    // The connection's address, not X-Forwarded-For: a forged header would spread a flood over
    // as many folds as it likes.
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string());
    let fold = state.invitations.record_denial(code.as_str(), &peer).await;
    if !fold.first {
        // Folded into a record the other sinks already have: a flood writes a handful.
        return;
    }
    tracing::info!(
        code = code.as_str(),
        reason,
        caller_sub = caller.map(|c| c.id.sub.as_str()),
        counted_in_store = fold.stored,
        "request denied (first of its fold; the rest of the interval's are only counted)"
    );
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let detail = if fold.stored {
        reason.to_owned()
    } else {
        format!("{reason} (the store could not count this fold: its later denials go unrecorded)")
    };
    let mut record = AuditRecord::new(AuditAction::Denied, request_id, code.as_str())
        .route(format!("{} {route}", req.method()))
        .detail(detail);
    if let Some(caller) = caller {
        record = record.caller(caller);
    }
    if let Err(err) = state.audit.record(&record) {
        tracing::error!(error = %err, "audit record of a denial could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_are_found_however_they_are_spelled() {
        assert!(has_query_token("access_token=x"));
        assert!(has_query_token("a=1&token"));
        assert!(has_query_token("a=1&Access%5Ftoken=x"));
        assert!(!has_query_token("state=INVITED&pageToken=abc"));
        assert!(!has_query_token(""));
    }
}
