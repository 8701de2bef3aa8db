//! OTLP traces (`GATEWAY_OTLP_ENDPOINT`): the real binary exports a span per request, in the
//! caller's trace, and per Google call, to an OTLP/HTTP receiver this test runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::helpers::{Running, poll, start_binary};

/// The caller's trace and span (W3C `traceparent`).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// What the receiver got: the bodies POSTed to `/v1/traces` (OTLP protobuf).
type Received = Arc<Mutex<Vec<web::Bytes>>>;

/// An OTLP/HTTP receiver on a free loopback port; answers every export with an empty success.
fn start_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(body);
                    HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    (url, received)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Starts the sandbox exporting to `endpoint`; returns it with its API base URL and token.
fn start_traced_sandbox(endpoint: &str) -> (Running, String, String) {
    let (running, lines) = start_binary(
        &["serve", "--sandbox", "--listen", "127.0.0.1:0"],
        [
            ("RUST_LOG", "info"),
            ("GATEWAY_LOG_FORMAT", "json"),
            ("GATEWAY_OTLP_ENDPOINT", endpoint),
        ],
        false,
    );
    let mut api = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("API:") {
            api = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("eyJ") {
            let api = api.expect("the banner names the API");
            return (running, api, line.to_owned());
        }
    }
    panic!("the sandbox printed no banner");
}

#[tokio::test]
async fn a_request_and_its_google_call_reach_the_receiver_in_the_callers_trace() {
    let (endpoint, received) = start_receiver();
    let (_sandbox, api, token) = start_traced_sandbox(&endpoint);
    invitation_gateway::install_crypto_provider();

    let response = reqwest::Client::new()
        .post(format!("{api}/eligibility/check"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .json(&serde_json::json!({"emails": ["traced@example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // The batch exporter sends within seconds; wait for the spans to arrive (or give up).
    let (trace_id, parent) = (hex(TRACE_ID), hex(CALLER_SPAN_ID));
    let spans = || async { received.lock().unwrap().concat() };
    let complete = |exported: &Vec<u8>| {
        contains(exported, &trace_id)
            && contains(exported, b"google_call")
            && contains(exported, b"http_request")
    };
    let (every, within) = (Duration::from_millis(100), Duration::from_secs(30));
    let exported = poll(every, within, spans, complete).await;
    assert!(
        contains(&exported, &trace_id),
        "no span in the caller's trace"
    );
    assert!(
        contains(&exported, &parent),
        "the caller's span is not a parent"
    );
    assert!(contains(&exported, b"http_request"), "no request span");
    assert!(contains(&exported, b"google_call"), "no Google call span");
    assert!(
        contains(&exported, b"invitation-gateway"),
        "no service name"
    );
}
