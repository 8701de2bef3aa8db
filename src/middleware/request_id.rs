//! Request ids, the access log and the request metrics: everything recorded once per request.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is a plain token
//! (`^[A-Za-z0-9._-]{1,64}$`), a fresh UUID otherwise. The id is stored in the request
//! extensions (error bodies and handlers read it), set on a span that encloses all of the
//! request's work (so every log line carries it), and echoed in `x-request-id` on every answer.
//! A valid W3C `traceparent` puts `trace_id`, `span_id` and `trace_sampled` on the same span
//! (the JSON log format turns them into Cloud Logging's trace fields). The access log line
//! carries an `httpRequest` object in Cloud Logging's shape, with the route template as its URL;
//! the same route template, method and status label the request metrics (never the raw path:
//! paths may carry anything a caller typed, and every distinct path would be a new series).

use crate::middleware::trace_context::TraceContext;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Version;
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

    /// A fresh random id: a UUID v4 from the thread-local generator (`Uuid::new_v4` would make
    /// a `getrandom` system call per request).
    pub fn generate() -> Self {
        Self(
            uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
        )
    }
}

/// The `route` of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Assigns the request id, logs one line per request, counts it, echoes the id.
pub async fn observe_request(
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
    let method = crate::metrics::method_label(req.method().as_str());
    let protocol = protocol_name(req.version());

    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id.0,
        method,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        trace_sampled = tracing::field::Empty,
    );
    if let Some(trace) = TraceContext::from_headers(req.headers()) {
        span.record("trace_id", trace.trace_id.as_str());
        span.record("span_id", trace.span_id.as_str());
        span.record("trace_sampled", trace.sampled);
        crate::traces::continue_trace(&span, &trace.trace_id, &trace.span_id, trace.sampled);
    }
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
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::http_request(&route, method, status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let latency = format!("{:.6}s", elapsed.as_secs_f64());
    span.in_scope(|| {
        // `httpRequest.*` become Cloud Logging's `httpRequest` object (see `telemetry`).
        macro_rules! answered {
            ($level:ident) => {
                tracing::$level!(
                    status,
                    latency_ms,
                    route = %route,
                    httpRequest.requestMethod = method,
                    httpRequest.requestUrl = %route,
                    httpRequest.status = status,
                    httpRequest.latency = %latency,
                    httpRequest.protocol = protocol,
                    "request answered"
                )
            };
        }
        if response.status().is_server_error() {
            answered!(warn);
        } else {
            answered!(info);
        }
    });

    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// The protocol as Cloud Logging's `httpRequest.protocol` names it.
fn protocol_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::json_subscriber;
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    /// The access log line of one request through the middleware, logged as JSON.
    async fn access_log_line(headers: &[(&str, &str)], path: &str) -> serde_json::Value {
        let (subscriber, buffer) = json_subscriber(Some("my-project"));
        let _default = tracing::subscriber::set_default(subscriber);
        let app = actix_test::init_service(
            App::new()
                .route(
                    "/v1/invitations/{email}",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .wrap(from_fn(observe_request)),
        )
        .await;
        let mut request = actix_test::TestRequest::get().uri(path);
        for header in headers {
            request = request.insert_header(*header);
        }
        let response = actix_test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status().as_u16(), 200);
        buffer
            .lines()
            .into_iter()
            .find(|line| line["message"] == "request answered")
            .expect("an access log line")
    }

    #[actix_web::test]
    async fn a_valid_traceparent_links_the_log_line_to_its_trace() {
        let line = access_log_line(
            &[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
            "/v1/invitations/ada@example.com",
        )
        .await;
        assert_eq!(
            line["logging.googleapis.com/trace"],
            "projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(line["logging.googleapis.com/spanId"], "00f067aa0ba902b7");
        assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
        assert_eq!(line["httpRequest"]["requestMethod"], "GET");
        assert_eq!(line["httpRequest"]["requestUrl"], "/v1/invitations/{email}");
        assert_eq!(line["httpRequest"]["status"], 200);
        assert_eq!(line["httpRequest"]["protocol"], "HTTP/1.1");
        assert_eq!(line["route"], "/v1/invitations/{email}");
        assert!(
            line["httpRequest"]["latency"]
                .as_str()
                .unwrap()
                .ends_with('s'),
            "{line}"
        );
        assert!(!line.to_string().contains("ada@example.com"), "{line}");
    }

    #[actix_web::test]
    async fn a_malformed_traceparent_is_ignored() {
        let line = access_log_line(
            &[(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            )],
            "/v1/invitations/x",
        )
        .await;
        assert!(line.get("logging.googleapis.com/trace").is_none(), "{line}");
        assert!(line.get("trace_id").is_none(), "{line}");
        assert_eq!(line["status"], 200);
    }

    #[test]
    fn caller_ids_are_accepted_only_when_plain() {
        assert!(RequestId::from_caller("abc-123_X.y").is_some());
        assert!(RequestId::from_caller(&"a".repeat(64)).is_some());
        assert!(RequestId::from_caller(&"a".repeat(65)).is_none());
        assert!(RequestId::from_caller("").is_none());
        assert!(RequestId::from_caller("a b").is_none());
        assert!(RequestId::from_caller("a\"b").is_none());
    }

    #[test]
    fn generated_ids_are_distinct_uuid_v4s() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a.0).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert!(RequestId::from_caller(&a.0).is_some());
    }
}
