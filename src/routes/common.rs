//! What every `/v1` handler shares: the call context, batch validation, documented errors.

use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::google::CallContext;
use crate::invitations::MAX_EMAILS;
use crate::invitations::email::Email;
use crate::middleware::request_id::RequestId;
use crate::state::AppState;
use actix_web::{HttpMessage, HttpRequest};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::{IntoResponses, ToSchema};

/// A request naming addresses: check, lookup, cancel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"emails": ["ada@example.com", "grace+hr@example.com"]}))]
pub struct EmailsRequest {
    /// 1 to 100 addresses, each at most once: spellings of one valid address that differ only
    /// in case or surrounding white space count as the same address.
    // Documented as a set so that the schema says `uniqueItems`; the order is kept on the wire.
    #[schema(value_type = BTreeSet<String>, min_items = 1, max_items = 100)]
    pub emails: Vec<String>,
}

/// The request id of `req` (set by the request-id middleware).
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default()
}

/// The context of the Google calls made for `req`: its request id and the call deadline.
pub fn call_context(req: &HttpRequest, state: &AppState) -> CallContext {
    state.google.context(Some(request_id(req)))
}

/// Whole-request checks of a batch: 1 to 100 addresses, none twice. Valid addresses are
/// compared as Google compares them (after normalisation, ignoring case), so one person cannot
/// be named twice; invalid ones, which never reach Google, only when they are exactly the same
/// text (what the schema's `uniqueItems` says). Per-item problems (an invalid address) are not
/// whole-request errors.
pub fn validate_batch(emails: &[String]) -> Result<(), ApiError> {
    if emails.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "emails: at least one address is required.",
        ));
    }
    if emails.len() > MAX_EMAILS {
        return Err(ApiError::new(
            ErrorCode::TooManyEmails,
            format!(
                "emails: at most {MAX_EMAILS} addresses per request, got {}.",
                emails.len()
            ),
        ));
    }
    let mut seen: HashMap<(bool, String), usize> = HashMap::with_capacity(emails.len());
    for (index, raw) in emails.iter().enumerate() {
        let identity = Email::parse(raw)
            .map_or_else(|_| (false, raw.clone()), |email| (true, email.identity()));
        if let Some(first) = seen.insert(identity, index) {
            return Err(ApiError::new(
                ErrorCode::DuplicateEmails,
                format!("emails[{index}] repeats emails[{first}]; send each address once."),
            ));
        }
    }
    Ok(())
}

/// Errors every authenticated operation can answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum AuthErrors {
    /// No valid bearer token (`invalid_token`); `WWW-Authenticate: Bearer error="invalid_token"`.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(ProblemDocument),
    /// The token lacks the operation's scope (`insufficient_scope`).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDocument),
    /// The caller exceeded its request rate (`rate_limited`); see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(ProblemDocument),
}

/// Errors of an operation that takes a JSON body of addresses.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum BodyErrors {
    /// The body is not valid JSON, has unknown fields or wrong types, has no address, more than
    /// 100 (`too_many_emails`) or the same one twice (`duplicate_emails`). Nothing was done.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDocument),
    /// The body exceeds the size limit (`payload_too_large`).
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(ProblemDocument),
    /// The body is not `application/json` (`unsupported_media_type`).
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(ProblemDocument),
}

/// Errors of an operation whose whole answer depends on Google.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum UpstreamErrors {
    /// Google refused (`upstream_rejected`) or the gateway's credentials are misconfigured
    /// (`credentials_misconfigured`).
    #[response(status = 502, content_type = "application/problem+json")]
    BadGateway(ProblemDocument),
    /// Google is unavailable or over quota, or the circuit breaker is open
    /// (`upstream_unavailable`); see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(ProblemDocument),
    /// Google did not answer in time (`upstream_timeout`).
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(ProblemDocument),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_must_hold_one_to_a_hundred_distinct_addresses() {
        assert_eq!(
            validate_batch(&[]).unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        let many: Vec<String> = (0..101).map(|i| format!("p{i}@example.com")).collect();
        assert_eq!(
            validate_batch(&many).unwrap_err().code(),
            ErrorCode::TooManyEmails
        );
        assert!(validate_batch(&many[..100]).is_ok());
        let twice = vec!["Ada@Example.com".to_owned(), " ada@example.COM ".to_owned()];
        assert_eq!(
            validate_batch(&twice).unwrap_err().code(),
            ErrorCode::DuplicateEmails
        );
        let invalid_twice = vec!["nope".to_owned(), "nope".to_owned()];
        assert_eq!(
            validate_batch(&invalid_twice).unwrap_err().code(),
            ErrorCode::DuplicateEmails
        );
        // Distinct invalid texts are distinct items (each gets its own `invalid_email`).
        let invalid_spellings = vec!["nope".to_owned(), "NOPE".to_owned(), " nope".to_owned()];
        assert!(validate_batch(&invalid_spellings).is_ok());
    }
}
