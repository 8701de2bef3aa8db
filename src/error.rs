//! The one error type of the public API, its table of stable codes, and problem+json rendering.
//!
//! Every error answer, whatever produced it (a handler, an extractor, the router, a middleware),
//! leaves the server as an RFC 9457 problem document:
//! `{"type", "title", "status", "detail", "code", "requestId"}`. Handlers return [`ApiError`]; its
//! [`ResponseError`] impl only attaches a [`Problem`] to the response, and the
//! `render_problems` middleware writes the body, because only the middleware knows the request
//! id. Internal causes are logged there and never serialised.

use crate::vocabulary::ItemErrorCode;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// Base URI of the problem `type` links; the code is appended, so each code has its own type.
pub const PROBLEM_TYPE_BASE: &str = "https://invitation-gateway.dev/problems/";

/// The media type of every error answer.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The request id every example problem document shows.
pub const EXAMPLE_REQUEST_ID: &str = "3f1b0c1e-8a52-4c1e-9b7e-0d6f2f0f4b11";

macro_rules! error_codes {
    ($($variant:ident => $code:expr, $status:ident, $title:literal, $example:literal;)+) => {
        /// Stable, machine-readable error codes: the contract callers program against. A code that
        /// is also a per-item error takes its name from [`ItemErrorCode`], so each name is
        /// spelled once.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)+ }

        impl ErrorCode {
            /// Every code, in table order (the OpenAPI document and tests enumerate them).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The snake_case name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)+ }
            }

            /// A short, human-readable summary that never changes between occurrences.
            pub fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)+ }
            }

            /// A detail this code is typically answered with, for documentation.
            pub fn example_detail(self) -> &'static str {
                match self { $(ErrorCode::$variant => $example,)+ }
            }
        }
    };
}

error_codes! {
    InvalidRequest => "invalid_request", BAD_REQUEST, "The request is invalid", "emails: at least one address is required.";
    InvalidQuery => "invalid_query", BAD_REQUEST, "A query parameter is invalid", "pageSize must be a whole number from 1 to 200";
    TooManyEmails => "too_many_emails", BAD_REQUEST, "Too many emails in one request", "emails: at most 100 addresses per request, got 101.";
    DuplicateEmails => "duplicate_emails", BAD_REQUEST, "The same email appears twice", "emails[1] repeats emails[0]; send each address once.";
    InvalidToken => "invalid_token", UNAUTHORIZED, "The bearer token is missing or invalid", "A valid bearer token is required in the Authorization header.";
    InsufficientScope => "insufficient_scope", FORBIDDEN, "The token lacks the required scope", "This operation requires the scope invitations.send.";
    NotFound => ItemErrorCode::NotFound.as_str(), NOT_FOUND, "No such resource", "There is nothing at this path.";
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed on this resource", "DELETE is not allowed on this path.";
    NotAcceptable => "not_acceptable", NOT_ACCEPTABLE, "No acceptable representation", "Accept text/csv or application/x-ndjson.";
    IdempotencyKeyReused => "idempotency_key_reused", UNPROCESSABLE_ENTITY, "The idempotency key was used with a different request", "This Idempotency-Key was used for a different request; use a new key for a new request.";
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE, "The request body is too large", "The request body exceeds 16384 bytes.";
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported content type", "The request body must be application/json.";
    RateLimited => "rate_limited", TOO_MANY_REQUESTS, "Too many requests", "Too many requests from this caller; retry after the time in Retry-After.";
    MailQuotaExceeded => ItemErrorCode::MailQuotaExceeded.as_str(), TOO_MANY_REQUESTS, "The daily mail quota is used up", "Your daily mail quota is used up; no mail was sent.";
    QuotaExhausted => ItemErrorCode::QuotaExhausted.as_str(), TOO_MANY_REQUESTS, "The Google quota is used up for now", "The project's Google quota has no call left in time; Google was not called. Retry later.";
    Internal => "internal", INTERNAL_SERVER_ERROR, "Internal error", "An internal error occurred; see the request id in the service logs.";
    UpstreamRejected => ItemErrorCode::UpstreamRejected.as_str(), BAD_GATEWAY, "Google rejected the request", "Google refused the request (PERMISSION_DENIED).";
    CredentialsMisconfigured => ItemErrorCode::CredentialsMisconfigured.as_str(), BAD_GATEWAY, "The Google credentials are misconfigured", "The gateway's Google credentials are misconfigured; an operator has been told how to fix them.";
    UpstreamUnavailable => ItemErrorCode::UpstreamUnavailable.as_str(), SERVICE_UNAVAILABLE, "Google is unavailable", "Google is unavailable or over quota; retry later.";
    NotReady => "not_ready", SERVICE_UNAVAILABLE, "The service is not ready", "not ready: credentials: pending";
    AuditUnavailable => ItemErrorCode::AuditUnavailable.as_str(), SERVICE_UNAVAILABLE, "The audit trail cannot be written", "The audit trail cannot be written, so no change is made; retry later.";
    StoreUnavailable => ItemErrorCode::StoreUnavailable.as_str(), SERVICE_UNAVAILABLE, "The store cannot be reached", "The gateway's store cannot be reached, so no change is made; retry later.";
    IdempotencyKeyInProgress => "idempotency_key_in_progress", CONFLICT, "A request with this idempotency key is still running", "A request with this Idempotency-Key is still running; retry after the time in Retry-After to get its answer.";
    RequestTimeout => "request_timeout", REQUEST_TIMEOUT, "The request body did not arrive in time", "The request body did not arrive within 10 s.";
    UpstreamTimeout => ItemErrorCode::UpstreamTimeout.as_str(), GATEWAY_TIMEOUT, "Google did not answer in time", "Google did not answer in time.";
    CampaignStateConflict => "campaign_state_conflict", CONFLICT, "The campaign's state does not allow this", "Only a paused campaign can be resumed.";
    DryRunStale => "dry_run_stale", CONFLICT, "The dry run is too old to run", "The dry run completed more than 24 hours ago (GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS): people's states may have changed; start a new dry run.";
    CampaignNotResolved => "campaign_not_resolved", CONFLICT, "The campaign has no resolution yet", "The campaign's deadline has not been reached yet: its resolution exists from then on.";
    CampaignBacklogFull => "campaign_backlog_full", TOO_MANY_REQUESTS, "Too many pending campaign items", "This caller has 200000 pending campaign items and may have at most 200000; nothing was created. Retry after the time in Retry-After, when earlier campaigns have progressed.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// The example problem document of this code (its table row, the example request id).
    pub fn example(self) -> ProblemDocument {
        ProblemDocument::new(
            &Problem {
                code: self,
                detail: self.example_detail().to_owned(),
            },
            EXAMPLE_REQUEST_ID,
        )
    }

    /// The code used when an error answer with this status was produced outside our handlers
    /// (actix's router or payload layer).
    pub fn for_status(status: StatusCode) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.status() == status)
            .unwrap_or(if status.is_server_error() {
                ErrorCode::Internal
            } else {
                ErrorCode::InvalidRequest
            })
    }
}

/// An error answer: a code, a caller-safe detail, and optionally the internal cause and
/// headers the code calls for.
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    cause: Option<anyhow::Error>,
    retry_after_secs: Option<u64>,
    www_authenticate: Option<String>,
}

impl ApiError {
    /// An error with a detail that is safe to show the caller (no emails, tokens or internals).
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            cause: None,
            retry_after_secs: None,
            www_authenticate: None,
        }
    }

    /// An internal error: the cause is logged, the caller sees only a generic detail.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(
            ErrorCode::Internal,
            "An internal error occurred; see the request id in the service logs.",
        )
        .with_cause(cause)
    }

    /// The problem for a NUL character (U+0000) in `place` (a JSON field, a query parameter,
    /// the path): the store cannot hold one in text, so it is refused before.
    pub fn nul_in(code: ErrorCode, place: &str) -> Self {
        Self::new(
            code,
            format!("`{place}` must not contain a NUL character (U+0000)."),
        )
    }

    /// Attaches the internal cause, for the log only.
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Adds `Retry-After` (seconds) to the answer.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds a `WWW-Authenticate` header value to the answer.
    pub fn with_www_authenticate(mut self, value: impl Into<String>) -> Self {
        self.www_authenticate = Some(value.into());
        self
    }

    /// What the caller is told.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl fmt::Debug for ApiError {
    // The whole cause chain, for the log; the body never contains it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)?;
        if let Some(cause) = &self.cause {
            write!(f, " (cause: {cause:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            // A caller's mistake is not an incident: only server-side failures are errors.
            let cause = format!("{cause:#}");
            if self.code.status().is_server_error() {
                tracing::error!(code = %self.code, %cause, "request failed");
            } else {
                tracing::debug!(code = %self.code, %cause, "request refused");
            }
        }
        let mut response = HttpResponse::build(self.code.status());
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        } else if matches!(
            self.code.status(),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            // 429 and 503 always tell the caller when to come back.
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if let Some(challenge) = &self.www_authenticate
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        let problem = Problem {
            code: self.code,
            detail: self.detail.clone(),
        };
        // The `render_problems` middleware re-renders this with the request id; this body is the
        // fallback for the rare answer that never passes through it.
        let body = serde_json::to_vec(&ProblemDocument::new(&problem, "")).unwrap_or_default();
        let mut response = response.content_type(PROBLEM_CONTENT_TYPE).body(body);
        response.extensions_mut().insert(problem);
        response
    }
}

impl From<crate::invitations::outcome::Failure> for ApiError {
    fn from(failure: crate::invitations::outcome::Failure) -> Self {
        use crate::invitations::outcome::Failure;
        let detail = failure.detail();
        match failure {
            Failure::Unavailable { retry_after } => {
                let secs = retry_after.map_or(1, |d| d.as_secs().max(1));
                ApiError::new(ErrorCode::UpstreamUnavailable, detail).with_retry_after(secs)
            }
            Failure::Timeout => ApiError::new(ErrorCode::UpstreamTimeout, detail),
            Failure::Misconfigured => ApiError::new(ErrorCode::CredentialsMisconfigured, detail),
            Failure::Rejected { .. } => ApiError::new(ErrorCode::UpstreamRejected, detail),
            Failure::InvalidPageToken => ApiError::new(ErrorCode::InvalidQuery, detail),
            Failure::QuotaExhausted { retry_after } => {
                ApiError::new(ErrorCode::QuotaExhausted, detail)
                    .with_retry_after(crate::invitations::outcome::whole_seconds(retry_after))
            }
        }
    }
}

impl From<crate::invitations::durable::StoreUnavailable> for ApiError {
    fn from(_: crate::invitations::durable::StoreUnavailable) -> Self {
        ApiError::new(
            ErrorCode::StoreUnavailable,
            ErrorCode::StoreUnavailable.example_detail(),
        )
        .with_retry_after(crate::invitations::durable::STORE_RETRY_AFTER_SECS)
    }
}

impl From<crate::invitations::idempotency::IdempotencyError> for ApiError {
    fn from(error: crate::invitations::idempotency::IdempotencyError) -> Self {
        use crate::invitations::idempotency::IdempotencyError;
        match error {
            IdempotencyError::KeyReused => {}
            IdempotencyError::InProgress => {
                return ApiError::new(
                    ErrorCode::IdempotencyKeyInProgress,
                    ErrorCode::IdempotencyKeyInProgress.example_detail(),
                )
                .with_retry_after(1);
            }
            IdempotencyError::Unavailable => {
                return crate::invitations::durable::StoreUnavailable.into();
            }
        }
        ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        )
    }
}

/// A batch refused as a whole is a 400 problem; nothing is done for any of its addresses.
impl From<crate::invitations::batch::BatchError> for ApiError {
    fn from(error: crate::invitations::batch::BatchError) -> Self {
        use crate::invitations::batch::BatchError;
        let code = match error {
            BatchError::Empty => ErrorCode::InvalidRequest,
            BatchError::TooMany { .. } => ErrorCode::TooManyEmails,
            BatchError::Duplicate { .. } => ErrorCode::DuplicateEmails,
        };
        ApiError::new(code, error.to_string())
    }
}

/// The audit trail cannot be written: nothing is changed; the caller comes back when the
/// sink retries.
/// A send or cancel refused as a whole: the audit trail's own `503` beside the idempotency
/// flow's answers.
impl From<crate::invitations::idempotency::MutationRefused> for ApiError {
    fn from(refused: crate::invitations::idempotency::MutationRefused) -> Self {
        use crate::invitations::idempotency::MutationRefused;
        match refused {
            MutationRefused::AuditUnavailable => ApiError::new(
                ErrorCode::AuditUnavailable,
                ErrorCode::AuditUnavailable.example_detail(),
            )
            .with_retry_after(crate::audit::RETRY_AFTER_FAILURE.as_secs()),
            MutationRefused::Idempotency(error) => error.into(),
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(err: crate::audit::AuditError) -> Self {
        ApiError::new(
            ErrorCode::AuditUnavailable,
            ErrorCode::AuditUnavailable.example_detail(),
        )
        .with_retry_after(crate::audit::RETRY_AFTER_FAILURE.as_secs())
        .with_cause(err)
    }
}

/// A caller over its request rate: 429 with the wait in `Retry-After`.
impl From<crate::auth::rate_limit::RateLimited> for ApiError {
    fn from(limited: crate::auth::rate_limit::RateLimited) -> Self {
        ApiError::new(
            ErrorCode::RateLimited,
            ErrorCode::RateLimited.example_detail(),
        )
        .with_retry_after(limited.retry_after_secs)
    }
}

/// A campaign operation that did nothing, as its problem.
impl From<crate::campaigns::CampaignError> for ApiError {
    fn from(error: crate::campaigns::CampaignError) -> Self {
        use crate::campaigns::CampaignError;
        match error {
            CampaignError::NotFound => {
                ApiError::new(ErrorCode::NotFound, "There is no such campaign.")
            }
            CampaignError::Invalid(detail) => ApiError::new(ErrorCode::InvalidRequest, detail),
            CampaignError::TooLarge(detail) => ApiError::new(ErrorCode::PayloadTooLarge, detail),
            CampaignError::Conflict(detail) => {
                ApiError::new(ErrorCode::CampaignStateConflict, detail)
            }
            CampaignError::Stale(detail) => ApiError::new(ErrorCode::DryRunStale, detail),
            CampaignError::NotResolved(detail) => {
                ApiError::new(ErrorCode::CampaignNotResolved, detail)
            }
            CampaignError::StoreUnavailable => crate::invitations::durable::StoreUnavailable.into(),
            CampaignError::AuditUnavailable(err) => err.into(),
            CampaignError::Idempotency(error) => error.into(),
            CampaignError::BacklogFull {
                detail,
                retry_after_secs,
            } => ApiError::new(ErrorCode::CampaignBacklogFull, detail)
                .with_retry_after(retry_after_secs),
        }
    }
}

/// What an error answer says, attached to the response until the body is rendered.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The stable code.
    pub code: ErrorCode,
    /// Caller-safe explanation of this occurrence.
    pub detail: String,
}

/// The RFC 9457 problem document every error answer carries.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!(ErrorCode::InvalidRequest.example()))]
pub struct ProblemDocument {
    /// A URI naming the kind of problem (one per code).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, safe to show to a person.
    pub detail: String,
    /// Stable snake_case code to program against.
    pub code: String,
    /// The request id, also in the `x-request-id` header and in every log line of the request.
    pub request_id: String,
}

impl ProblemDocument {
    /// Builds the document for a problem answered to the request `request_id`.
    pub fn new(problem: &Problem, request_id: &str) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_BASE}{}", problem.code),
            title: problem.code.title().to_owned(),
            status: problem.code.status().as_u16(),
            detail: problem.detail.clone(),
            code: problem.code.as_str().to_owned(),
            request_id: request_id.to_owned(),
        }
    }
}

/// Rewrites a serde/JSON error message so that it can go into an error body: values the
/// caller sent (which may be emails) are elided, field names and positions stay.
pub fn sanitize_parse_error(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '`' {
            let mut quoted = String::new();
            for q in chars.by_ref() {
                if q == c {
                    break;
                }
                quoted.push(q);
            }
            let is_identifier = quoted.len() <= 64
                && !quoted.is_empty()
                && quoted
                    .chars()
                    .all(|q| q.is_ascii_alphanumeric() || q == '_' || q == '-');
            out.push(c);
            out.push_str(if is_identifier && c == '`' {
                &quoted
            } else {
                "…"
            });
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code} is not snake_case"
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn sanitize_elides_values_but_keeps_field_names() {
        let message =
            r#"invalid type: string "ada@example.com", expected a sequence at line 1 column 28"#;
        assert_eq!(
            sanitize_parse_error(message),
            r#"invalid type: string "…", expected a sequence at line 1 column 28"#
        );
        let unknown = "unknown field `sendd`, expected `emails` or `resend`";
        assert_eq!(sanitize_parse_error(unknown), unknown);
        assert_eq!(
            sanitize_parse_error("unknown field `ada@example.com`"),
            "unknown field `…`"
        );
    }

    #[test]
    fn refused_batches_answer_their_own_codes() {
        use crate::invitations::batch::EmailBatch;
        let refused = |emails: &[&str]| {
            let batch = EmailBatch::parse(emails.iter().map(|e| (*e).to_owned()).collect());
            ApiError::from(batch.unwrap_err()).code()
        };
        assert_eq!(refused(&[]), ErrorCode::InvalidRequest);
        assert_eq!(refused(&["a@example.com"; 101]), ErrorCode::TooManyEmails);
        assert_eq!(refused(&["nope", "nope"]), ErrorCode::DuplicateEmails);
    }

    #[test]
    fn status_without_own_code_falls_back_by_class() {
        assert_eq!(
            ErrorCode::for_status(StatusCode::NOT_FOUND),
            ErrorCode::NotFound
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_GATEWAY),
            ErrorCode::UpstreamRejected
        );
    }
}
