//! What every `/v1` handler shares: the call context, batch validation, documented errors.

use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::middleware::request_id::RequestId;
use actix_web::{HttpMessage, HttpRequest};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

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

/// The documented answers of an operation, by status.
pub type Responses = BTreeMap<String, RefOr<Response>>;

/// A documented problem answer: the status of `code`, a `ProblemDocument` body with the code's
/// example, and `description`; headers are added with [`ProblemResponse::retry_after`] and
/// [`ProblemResponse::www_authenticate`]. One builder for every error set below, so that each
/// says only what differs.
pub fn problem(code: ErrorCode, description: &str) -> ProblemResponse {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ProblemDocument::name())))
        .example(Some(json!(code.example())))
        .build();
    ProblemResponse {
        code,
        response: ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", content),
    }
}

/// One documented problem answer (see [`problem`]).
pub struct ProblemResponse {
    code: ErrorCode,
    response: ResponseBuilder,
}

impl ProblemResponse {
    /// Adds the `Retry-After` header (seconds), described as `description`.
    pub fn retry_after(self, description: &str) -> Self {
        self.header("Retry-After", u64::schema(), description)
    }

    /// Adds the `WWW-Authenticate` header, described as `description`.
    pub fn www_authenticate(self, description: &str) -> Self {
        self.header("WWW-Authenticate", String::schema(), description)
    }

    fn header(mut self, name: &str, schema: RefOr<Schema>, description: &str) -> Self {
        self.response = self.response.header(name, header(schema, description));
        self
    }
}

/// A documented response header of `schema`, described as `description`.
pub fn header(schema: RefOr<Schema>, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// The documented answers `problems`, by status.
pub fn problems<const N: usize>(problems: [ProblemResponse; N]) -> Responses {
    problems
        .into_iter()
        .map(|p| {
            (
                p.code.status().as_str().to_owned(),
                p.response.build().into(),
            )
        })
        .collect()
}

/// Errors every authenticated operation can answer.
pub struct AuthErrors;

impl IntoResponses for AuthErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::InvalidToken,
                "No valid bearer token (`invalid_token`). `WWW-Authenticate` is `Bearer` alone \
                 when the\n\
                 request had no bearer credentials, `Bearer error=\"invalid_token\"` when its \
                 token was\n\
                 refused (RFC 6750 section 3.1).",
            )
            .www_authenticate(
                "`Bearer` when the request has no bearer credentials (no `Authorization` \
                 header, or another scheme); `Bearer error=\"invalid_token\"` when a token is \
                 present but refused",
            ),
            problem(
                ErrorCode::InsufficientScope,
                "The token lacks the operation's scope (`insufficient_scope`).",
            )
            .www_authenticate(
                "`Bearer error=\"insufficient_scope\", scope=\"...\"`, naming the scope",
            ),
            problem(
                ErrorCode::RateLimited,
                "The caller exceeded its request rate (`rate_limited`), or (list, summary, \
                 export) the\n\
                 project's Google quota, shared by every replica, has no call left before the \
                 request's\n\
                 deadline (`quota_exhausted`; in batches that is a per-item error); see \
                 `Retry-After`.",
            )
            .retry_after(
                "Seconds to wait before the next request (for `quota_exhausted`: until the \
                 next Google call is free)",
            ),
        ])
    }
}

/// Errors of an operation that takes a JSON body of addresses.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::DuplicateEmails,
                "The body is not valid JSON, has unknown fields or wrong types, has no \
                 address, more than\n\
                 100 (`too_many_emails`) or the same one twice (`duplicate_emails`). Nothing \
                 was done.",
            ),
            problem(
                ErrorCode::RequestTimeout,
                "The body did not arrive within `GATEWAY_BODY_READ_TIMEOUT_SECS` \
                 (`request_timeout`); the\n\
                 connection is closed.",
            ),
            problem(
                ErrorCode::PayloadTooLarge,
                "The body exceeds the size limit (`payload_too_large`).",
            ),
            problem(
                ErrorCode::UnsupportedMediaType,
                "The body is not `application/json` (`unsupported_media_type`).",
            ),
        ])
    }
}

/// Errors of an operation whose whole answer depends on Google.
pub struct UpstreamErrors;

impl IntoResponses for UpstreamErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::UpstreamRejected,
                "Google refused (`upstream_rejected`) or the gateway's credentials are \
                 misconfigured\n\
                 (`credentials_misconfigured`).",
            ),
            problem(
                ErrorCode::UpstreamUnavailable,
                "Google is unavailable or over quota, or the circuit breaker is open\n\
                 (`upstream_unavailable`); see `Retry-After`.",
            )
            .retry_after("Seconds to wait before trying again"),
            problem(
                ErrorCode::UpstreamTimeout,
                "Google did not answer in time (`upstream_timeout`).",
            ),
        ])
    }
}

/// The store answers these operations: its outage is theirs.
pub struct StoreErrors;

impl IntoResponses for StoreErrors {
    fn responses() -> Responses {
        problems([problem(
            ErrorCode::StoreUnavailable,
            "The gateway's store cannot be reached (`store_unavailable`); see `Retry-After`.",
        )
        .retry_after("Seconds to wait before trying again")])
    }
}

/// A query parameter is wrong.
pub struct QueryErrors;

impl IntoResponses for QueryErrors {
    fn responses() -> Responses {
        problems([problem(
            ErrorCode::InvalidQuery,
            "A query parameter is unknown, repeated or invalid (`invalid_query`).",
        )])
    }
}

/// A download the caller cannot take.
pub struct NotAcceptableErrors;

impl IntoResponses for NotAcceptableErrors {
    fn responses() -> Responses {
        problems([problem(
            ErrorCode::NotAcceptable,
            "The caller accepts neither CSV nor NDJSON (`not_acceptable`).",
        )])
    }
}

/// A 400 `invalid_query` problem saying what is wrong with the query.
pub fn invalid_query(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, detail)
}
