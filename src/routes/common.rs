//! What every `/v1` handler shares: the call context, batch validation, documented errors.

use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::middleware::request_id::RequestId;
use actix_web::{HttpMessage, HttpRequest};
use serde::Deserialize;
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

/// Errors every authenticated operation can answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum AuthErrors {
    /// No valid bearer token (`invalid_token`). `WWW-Authenticate` is `Bearer` alone when the
    /// request had no bearer credentials, `Bearer error="invalid_token"` when its token was
    /// refused (RFC 6750 section 3.1).
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = r#"`Bearer` when the request has no bearer credentials (no `Authorization` header, or another scheme); `Bearer error="invalid_token"` when a token is present but refused"#)),
        example = json!(ErrorCode::InvalidToken.example())
    )]
    Unauthorized(ProblemDocument),
    /// The token lacks the operation's scope (`insufficient_scope`).
    #[response(
        status = 403,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = r#"`Bearer error="insufficient_scope", scope="..."`, naming the scope"#)),
        example = json!(ErrorCode::InsufficientScope.example())
    )]
    Forbidden(ProblemDocument),
    /// The caller exceeded its request rate (`rate_limited`), or (list, summary, export) the
    /// project's Google quota, shared by every replica, has no call left before the request's
    /// deadline (`quota_exhausted`; in batches that is a per-item error); see `Retry-After`.
    #[response(
        status = 429,
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait before the next request (for `quota_exhausted`: until the next Google call is free)")),
        example = json!(ErrorCode::RateLimited.example())
    )]
    TooManyRequests(ProblemDocument),
}

/// Errors of an operation that takes a JSON body of addresses.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum BodyErrors {
    /// The body is not valid JSON, has unknown fields or wrong types, has no address, more than
    /// 100 (`too_many_emails`) or the same one twice (`duplicate_emails`). Nothing was done.
    #[response(
        status = 400,
        content_type = "application/problem+json",
        example = json!(ErrorCode::DuplicateEmails.example())
    )]
    BadRequest(ProblemDocument),
    /// The body did not arrive within `GATEWAY_BODY_READ_TIMEOUT_SECS` (`request_timeout`); the
    /// connection is closed.
    #[response(
        status = 408,
        content_type = "application/problem+json",
        example = json!(ErrorCode::RequestTimeout.example())
    )]
    RequestTimeout(ProblemDocument),
    /// The body exceeds the size limit (`payload_too_large`).
    #[response(
        status = 413,
        content_type = "application/problem+json",
        example = json!(ErrorCode::PayloadTooLarge.example())
    )]
    PayloadTooLarge(ProblemDocument),
    /// The body is not `application/json` (`unsupported_media_type`).
    #[response(
        status = 415,
        content_type = "application/problem+json",
        example = json!(ErrorCode::UnsupportedMediaType.example())
    )]
    UnsupportedMediaType(ProblemDocument),
}

/// Errors of an operation whose whole answer depends on Google.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum UpstreamErrors {
    /// Google refused (`upstream_rejected`) or the gateway's credentials are misconfigured
    /// (`credentials_misconfigured`).
    #[response(
        status = 502,
        content_type = "application/problem+json",
        example = json!(ErrorCode::UpstreamRejected.example())
    )]
    BadGateway(ProblemDocument),
    /// Google is unavailable or over quota, or the circuit breaker is open
    /// (`upstream_unavailable`); see `Retry-After`.
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        example = json!(ErrorCode::UpstreamUnavailable.example())
    )]
    Unavailable(ProblemDocument),
    /// Google did not answer in time (`upstream_timeout`).
    #[response(
        status = 504,
        content_type = "application/problem+json",
        example = json!(ErrorCode::UpstreamTimeout.example())
    )]
    Timeout(ProblemDocument),
}

/// The store answers these operations: its outage is theirs.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum StoreErrors {
    /// The gateway's store cannot be reached (`store_unavailable`); see `Retry-After`.
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
        example = json!(ErrorCode::StoreUnavailable.example())
    )]
    StoreUnavailable(ProblemDocument),
}

/// A query parameter is wrong.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum QueryErrors {
    /// A query parameter is unknown, repeated or invalid (`invalid_query`).
    #[response(
        status = 400,
        content_type = "application/problem+json",
        example = json!(ErrorCode::InvalidQuery.example())
    )]
    BadRequest(ProblemDocument),
}

/// A 400 `invalid_query` problem saying what is wrong with the query.
pub fn invalid_query(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}
