//! Google's JSON on the wire: the UserInvitation resource, the Operation wrapper and the error body.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::CUSTOMER_ID;
use super::accounts::Account;

/// `@type` of the invitation inside a send/cancel Operation.
const INVITATION_TYPE: &str =
    "type.googleapis.com/google.apps.cloudidentity.userinvitations.v1.UserInvitation";

/// Google's 401 message; clients only look at `status`, but we keep the text familiar.
const UNAUTHENTICATED_MESSAGE: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// Renders one account as a proto3-JSON `UserInvitation` (int64 as string, defaults omitted).
pub fn invitation_json(account: &Account) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(
        "name".into(),
        Value::String(format!(
            "customers/{CUSTOMER_ID}/userinvitations/{}",
            account.email
        )),
    );
    map.insert("state".into(), Value::String(account.state.as_str().into()));
    if account.mails_sent_count != 0 {
        map.insert(
            "mailsSentCount".into(),
            Value::String(account.mails_sent_count.to_string()),
        );
    }
    map.insert(
        "updateTime".into(),
        Value::String(
            account
                .update_time
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    );
    map
}

/// Wraps an invitation in the already-done long-running `Operation` that send and cancel answer.
pub fn operation_json(account: &Account) -> Value {
    let mut response = Map::new();
    response.insert("@type".into(), Value::String(INVITATION_TYPE.into()));
    response.extend(invitation_json(account));
    json!({
        "name": format!("operations/{}", uuid::Uuid::new_v4().simple()),
        "done": true,
        "response": response,
    })
}

/// A failure rendered as Google's error body; every emulated Google route answers errors with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleError {
    /// HTTP status code.
    pub code: u16,
    /// Canonical status name (`INVALID_ARGUMENT`, ...); never omitted, clients classify by it.
    pub status: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `ErrorInfo.reason`.
    pub reason: Cow<'static, str>,
    /// Seconds for `Retry-After` and the `RetryInfo` detail, when set.
    pub retry_after_secs: Option<u64>,
    /// Domain of the legacy `errors[]` entry that repeats `reason`; no `errors` array when `None`.
    pub legacy_domain: Option<&'static str>,
    /// Metadata, a help link and a legacy reason of their own, for the few errors that carry
    /// them (boxed: most errors have none).
    pub extra: Option<Box<ErrorExtra>>,
}

/// The rarer parts of a Google error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorExtra {
    /// The legacy entry's own reason where Google's differs from `reason`
    /// (`accessNotConfigured` beside `SERVICE_DISABLED`).
    pub legacy_reason: Option<&'static str>,
    /// `ErrorInfo.metadata`, in order.
    pub metadata: Vec<(&'static str, String)>,
    /// A `google.rpc.Help` link after the `ErrorInfo`, when set.
    pub help_url: Option<String>,
}

/// Every canonical error status (google.rpc.Code, `OK` aside) with the HTTP code Google
/// sends it with (the mapping documented in google/rpc/code.proto).
const CANONICAL_PAIRS: [(&str, u16); 16] = [
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("CANCELLED", 499),
    ("INTERNAL", 500),
    ("UNKNOWN", 500),
    ("DATA_LOSS", 500),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
];

/// The canonical status names, for messages.
pub fn canonical_names() -> impl Iterator<Item = &'static str> {
    CANONICAL_PAIRS.iter().map(|(name, _)| *name)
}

/// The HTTP code of a canonical status name (exact spelling), `None` for anything else.
pub fn canonical_code(status: &str) -> Option<u16> {
    CANONICAL_PAIRS
        .iter()
        .find(|(name, _)| *name == status)
        .map(|(_, code)| *code)
}

/// The canonical status name itself for `status`, when it is one (`'static`, for errors).
pub fn canonical_name(status: &str) -> Option<&'static str> {
    canonical_names().find(|name| *name == status)
}

/// The status Google usually sends with an HTTP code alone; where a code has several
/// (400, 409, 500) the first in [`CANONICAL_PAIRS`]: INVALID_ARGUMENT, ABORTED, INTERNAL.
/// `None` for a code no canonical status maps to (408, 502, 405, ...).
pub fn canonical_status(code: u16) -> Option<&'static str> {
    match code {
        409 => Some("ABORTED"),
        _ => CANONICAL_PAIRS
            .iter()
            .find(|(_, pair_code)| *pair_code == code)
            .map(|(name, _)| *name),
    }
}

/// Reasons Google files under the legacy `usageLimits` domain (the others under `global`).
const USAGE_LIMIT_REASONS: [&str; 5] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
    "dailyLimitExceeded",
    "concurrentLimitExceeded",
];

impl GoogleError {
    fn new(
        code: u16,
        status: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            reason: Cow::Borrowed(reason),
            retry_after_secs: None,
            legacy_domain: None,
            extra: None,
        }
    }

    /// 400 INVALID_ARGUMENT.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", "BAD_REQUEST", message)
    }

    /// 400 FAILED_PRECONDITION: the emulator's choice where Google publishes no exact error.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(400, "FAILED_PRECONDITION", "FAILED_PRECONDITION", message)
    }

    /// 401 UNAUTHENTICATED with Google's message.
    pub fn unauthenticated(reason: &'static str) -> Self {
        Self::new(401, "UNAUTHENTICATED", reason, UNAUTHENTICATED_MESSAGE)
    }

    /// 403 PERMISSION_DENIED.
    pub fn permission_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, "PERMISSION_DENIED", reason, message)
    }

    /// 403 for a token that lacks the scope the method needs.
    pub fn insufficient_scope() -> Self {
        Self::permission_denied(
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "Request had insufficient authentication scopes.",
        )
    }

    /// 404 NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", "NOT_FOUND", message)
    }

    /// 404 for a path no method lives at.
    pub fn unknown_path() -> Self {
        Self::not_found("Method not found.")
    }

    /// 409 ALREADY_EXISTS.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(409, "ALREADY_EXISTS", "ALREADY_EXISTS", message)
    }

    /// 409 ABORTED: a control call that conflicts with the account's state.
    pub fn aborted(message: impl Into<String>) -> Self {
        Self::new(409, "ABORTED", "ABORTED", message)
    }

    /// A body over the limit. Google's own limit is many megabytes, past which its front end
    /// answers an HTML 413 page; below it, a body these methods do not take is 400
    /// INVALID_ARGUMENT, which is also what the emulator answers for a body over its limit:
    /// Google's JSON shape with a canonical pair (413 has no canonical status).
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            400,
            "INVALID_ARGUMENT",
            "REQUEST_TOO_LARGE",
            format!("Request body is larger than {limit} bytes."),
        )
    }

    /// 429 for a call past the project's per-minute quota, as Google words it: reason
    /// `RATE_LIMIT_EXCEEDED`, no `Retry-After` (Google sends none for quota).
    pub fn quota_exceeded() -> Self {
        Self::new(
            429,
            "RESOURCE_EXHAUSTED",
            "RATE_LIMIT_EXCEEDED",
            "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service \
             'cloudidentity.googleapis.com'.",
        )
    }

    /// 500 INTERNAL for a failure of the emulator itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL", "INTERNAL", message)
    }

    /// An injected fault of a canonical `status` (see [`canonical_status`] and
    /// [`canonical_code`]). A chosen `reason` (already validated) replaces the default one and is
    /// put where Google puts it: in the `ErrorInfo` detail and in the legacy `errors[]` entry,
    /// which is where Google's own Python client looks for `rateLimitExceeded` on a 403.
    pub fn from_fault(
        status: &'static str,
        chosen_reason: Option<&str>,
        retry_after_secs: Option<u64>,
    ) -> Self {
        let code = canonical_code(status).unwrap_or(500);
        let reason = match status {
            "INVALID_ARGUMENT" => "BAD_REQUEST",
            "UNAUTHENTICATED" => "ACCESS_TOKEN_EXPIRED",
            "PERMISSION_DENIED" => "IAM_PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED" => "RATE_LIMIT_EXCEEDED",
            "UNAVAILABLE" => "SERVICE_UNAVAILABLE",
            other => other,
        };
        let mut error = Self::new(code, status, reason, format!("Injected fault: {status}."));
        error.retry_after_secs = retry_after_secs;
        if let Some(reason) = chosen_reason {
            error.legacy_domain = Some(if USAGE_LIMIT_REASONS.contains(&reason) {
                "usageLimits"
            } else {
                "global"
            });
            error.reason = Cow::Owned(reason.to_owned());
        }
        error
    }

    /// The JSON body `{"error": {...}}`.
    pub fn body(&self) -> Value {
        let mut info = json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": self.reason,
            "domain": "googleapis.com",
        });
        let extra = self.extra.as_deref().cloned().unwrap_or_default();
        if let (false, Value::Object(fields)) = (extra.metadata.is_empty(), &mut info) {
            let metadata: Map<String, Value> = extra
                .metadata
                .iter()
                .map(|(key, value)| ((*key).to_string(), Value::String(value.clone())))
                .collect();
            fields.insert("metadata".into(), Value::Object(metadata));
        }
        let mut details = vec![info];
        if let Some(url) = &extra.help_url {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": url}],
            }));
        }
        if let Some(secs) = self.retry_after_secs {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{secs}s"),
            }));
        }
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "details": details,
        });
        if let (Some(domain), Value::Object(fields)) = (self.legacy_domain, &mut error) {
            fields.insert(
                "errors".into(),
                json!([{
                    "message": self.message,
                    "domain": domain,
                    "reason": extra.legacy_reason.map_or(self.reason.as_ref(), |reason| reason),
                }]),
            );
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for GoogleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.status, self.message)
    }
}

impl ResponseError for GoogleError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/json; charset=UTF-8"));
        if self.code == 401 {
            response.insert_header((
                WWW_AUTHENTICATE,
                r#"Bearer realm="https://accounts.google.com/""#,
            ));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((RETRY_AFTER, secs.to_string()));
        }
        response.body(self.body().to_string())
    }
}

/// A 200 answer with a JSON body, Google's content type.
pub fn ok_json(value: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json; charset=UTF-8"))
        .body(value.to_string())
}

/// Handler for a known path called with the wrong verb: Google's front end has no 405, it
/// answers 404 "Method not found." as for any path/verb pair no method is bound to.
pub async fn reject_method() -> HttpResponse {
    GoogleError::unknown_path().error_response()
}
