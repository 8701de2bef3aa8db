//! The one upstream error type: what Google (or the way to it) answered, with retry hints.

use crate::google::status::Status;
use crate::google::wire::RpcStatus;
use std::fmt;
use std::time::Duration;

/// Which of the five methods (or the token path) a call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// list
    List,
    /// get
    Get,
    /// isInvitableUser
    IsInvitableUser,
    /// send
    Send,
    /// cancel
    Cancel,
}

impl Method {
    /// Google's method name (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::List => "list",
            Method::Get => "get",
            Method::IsInvitableUser => "isInvitableUser",
            Method::Send => "send",
            Method::Cancel => "cancel",
        }
    }
}

/// What kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// No connection could be made: the request provably did not reach Google.
    Connect,
    /// No answer within the attempt's timeout (the request may have been applied).
    Timeout,
    /// The connection broke after the request was sent (it may have been applied).
    Transport,
    /// Google answered with an error body.
    Google,
    /// Google answered 2xx with a body that is not what the API promises.
    Decode,
    /// The circuit breaker is open: Google was not called.
    CircuitOpen,
    /// The bulkhead would have waited past the deadline, or the call budget could not be read.
    Overloaded,
    /// The project's call budget (shared by every replica) has no slot before the deadline:
    /// Google was not called. `retry_after` says when the next slot comes.
    QuotaExhausted,
    /// The delegation is misconfigured (`unauthorized_client`, `invalid_grant`).
    CredentialsMisconfigured,
    /// A token could not be obtained for a transient reason.
    CredentialsUnavailable,
    /// The service is shutting down and starts no new calls.
    Draining,
}

/// A failed call to Google. Its `message` is scrubbed of email addresses.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    /// The method that failed.
    pub method: Method,
    /// The kind of failure.
    pub kind: UpstreamErrorKind,
    /// HTTP status, when Google answered.
    pub http_status: Option<u16>,
    /// Google's canonical status, when Google answered (from the HTTP code if the body named none).
    pub status: Option<Status>,
    /// ErrorInfo reason, when present.
    pub reason: Option<String>,
    /// Scrubbed message, safe for the log.
    pub message: String,
    /// When Google (or the breaker) said to come back.
    pub retry_after: Option<Duration>,
}

impl UpstreamError {
    /// A failure that is not an answer from Google.
    pub fn new(method: Method, kind: UpstreamErrorKind, message: impl Into<String>) -> Self {
        Self {
            method,
            kind,
            http_status: None,
            status: None,
            reason: None,
            message: scrub_emails(&message.into()),
            retry_after: None,
        }
    }

    /// Google's error answer.
    pub fn from_google(
        method: Method,
        http_status: u16,
        status: RpcStatus,
        retry_after: Option<Duration>,
    ) -> Self {
        let retry_after = retry_after.or_else(|| status.retry_delay());
        let canonical = status
            .status
            .unwrap_or_else(|| Status::from_http(http_status));
        Self {
            method,
            kind: UpstreamErrorKind::Google,
            http_status: Some(http_status),
            reason: status.reason().map(str::to_owned),
            status: Some(canonical),
            message: scrub_emails(&status.message),
            retry_after,
        }
    }

    /// Sets the retry hint.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Worth another attempt for an idempotent call: 408, 429, 5xx, quota 403s, connection
    /// problems and timeouts.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            UpstreamErrorKind::Connect
            | UpstreamErrorKind::Timeout
            | UpstreamErrorKind::Transport => true,
            UpstreamErrorKind::Google => {
                let code = self.http_status.unwrap_or_default();
                code == 408 || code == 429 || code >= 500 || self.is_quota()
            }
            _ => false,
        }
    }

    /// Google refused for quota (429, or a 403 whose reason says rate limit): the request was
    /// not applied.
    pub fn is_quota(&self) -> bool {
        // The same reason is spelled `rateLimitExceeded` (legacy errors list) and
        // `RATE_LIMIT_EXCEEDED` (ErrorInfo): compare without case and underscores.
        let is_rate_limit = |reason: &str| {
            let folded: String = reason
                .chars()
                .filter(|c| *c != '_')
                .map(|c| c.to_ascii_lowercase())
                .collect();
            folded == "ratelimitexceeded" || folded == "userratelimitexceeded"
        };
        self.http_status == Some(429)
            || (self.http_status == Some(403) && self.reason.as_deref().is_some_and(is_rate_limit))
    }

    /// The request may have been applied although no success came back: a timeout, a broken
    /// connection after sending, or a 5xx.
    pub fn is_ambiguous(&self) -> bool {
        match self.kind {
            UpstreamErrorKind::Timeout | UpstreamErrorKind::Transport => true,
            UpstreamErrorKind::Google => self.http_status.is_some_and(|c| c >= 500),
            _ => false,
        }
    }

    /// Counts against the circuit breaker: Google (or the way to it) is failing.
    pub fn is_upstream_failure(&self) -> bool {
        match self.kind {
            UpstreamErrorKind::Connect
            | UpstreamErrorKind::Timeout
            | UpstreamErrorKind::Transport => true,
            UpstreamErrorKind::Google => self.http_status.is_some_and(|c| c >= 500),
            _ => false,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "google {} failed: {:?}", self.method.as_str(), self.kind)?;
        if let Some(code) = self.http_status {
            write!(f, " HTTP {code}")?;
        }
        if let Some(status) = &self.status {
            write!(f, " {status}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for UpstreamError {}

/// Replaces anything that looks like an email address: Google's messages quote the address,
/// and logs must not carry it.
pub fn scrub_emails(text: &str) -> String {
    fn flush(out: &mut String, word: &mut String) {
        out.push_str(if word.contains('@') {
            "<email>"
        } else {
            word.as_str()
        });
        word.clear();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || "\"'<>(),;[]`".contains(c) {
            flush(&mut out, &mut word);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut out, &mut word);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_is_quota_only_when_its_reason_says_rate_limit_in_either_spelling() {
        let forbidden = |body: serde_json::Value| {
            let status: RpcStatus = serde_json::from_value(body).unwrap();
            UpstreamError::from_google(Method::Get, 403, status, None)
        };
        let info = |reason: &str| {
            serde_json::json!({"code": 403, "status": "PERMISSION_DENIED", "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]})
        };
        assert!(forbidden(info("RATE_LIMIT_EXCEEDED")).is_quota());
        assert!(forbidden(info("rateLimitExceeded")).is_quota());
        assert!(forbidden(info("USER_RATE_LIMIT_EXCEEDED")).is_quota());
        assert!(!forbidden(info("IAM_PERMISSION_DENIED")).is_quota());
        let legacy = serde_json::json!({"code": 403, "errors": [
            {"domain": "usageLimits", "reason": "userRateLimitExceeded", "message": "slow down"}]});
        assert!(forbidden(legacy).is_quota());
        assert!(!forbidden(serde_json::json!({"code": 403})).is_quota());
    }

    #[test]
    fn emails_are_scrubbed_from_messages() {
        assert_eq!(
            scrub_emails("Invitation for ada+hr@example.com is not found."),
            "Invitation for <email> is not found."
        );
        assert_eq!(
            scrub_emails("\"bob@x.org\" (cc eve@y.io)"),
            "\"<email>\" (cc <email>)"
        );
        assert_eq!(scrub_emails("no address here"), "no address here");
    }

    #[test]
    fn classification_follows_the_design() {
        let google =
            |code: u16| UpstreamError::from_google(Method::Get, code, RpcStatus::default(), None);
        assert!(google(503).is_transient() && google(503).is_ambiguous());
        assert!(
            google(429).is_transient() && !google(429).is_ambiguous() && google(429).is_quota()
        );
        assert!(!google(400).is_transient() && !google(400).is_ambiguous());
        assert_eq!(google(404).status, Some(Status::NotFound));
        let connect = UpstreamError::new(Method::Send, UpstreamErrorKind::Connect, "refused");
        assert!(connect.is_transient() && !connect.is_ambiguous());
        let timeout = UpstreamError::new(Method::Send, UpstreamErrorKind::Timeout, "slow");
        assert!(timeout.is_ambiguous());
    }
}
