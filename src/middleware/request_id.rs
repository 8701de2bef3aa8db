//! Request ids and the access log.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is a plain token
//! (`^[A-Za-z0-9._-]{1,64}$`), a fresh UUID otherwise. The id is stored in the request
//! extensions (error bodies and handlers read it), set on a span that encloses all of the
//! request's work (so every log line carries it), and echoed in `x-request-id` on every answer.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing::Instrument;

/// The request-id header, in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// Accepts a caller-supplied id only if it is safe to log and echo.
    pub fn from_caller(value: &str) -> Option<Self> {
        let valid = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| Self(value.to_owned()))
    }

    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

/// Assigns the request id, logs one line per request, echoes the id.
pub async fn assign_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::from_caller)
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(request_id.clone());

    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id.0,
        method = %req.method(),
        route = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = match next.call(req).instrument(span.clone()).await {
        Ok(response) => response,
        Err(err) => {
            span.in_scope(|| tracing::error!(error = %err, "request failed inside the middleware"));
            return Err(err);
        }
    };

    // The route template, never the raw path: paths may carry anything a caller typed.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("route", route.as_str());
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if response.status().is_server_error() {
            tracing::warn!(status, latency_ms, "request answered");
        } else {
            tracing::info!(status, latency_ms, "request answered");
        }
    });

    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_are_accepted_only_when_plain() {
        assert!(RequestId::from_caller("abc-123_X.y").is_some());
        assert!(RequestId::from_caller(&"a".repeat(64)).is_some());
        assert!(RequestId::from_caller(&"a".repeat(65)).is_none());
        assert!(RequestId::from_caller("").is_none());
        assert!(RequestId::from_caller("a b").is_none());
        assert!(RequestId::from_caller("a\"b").is_none());
    }
}
