//! Events black-box: webhook receivers on loopback (signed deliveries, retries on the store's
//! clock, independent endpoints) and the pull feed.

use crate::helpers::eventually;
use crate::helpers::{TestApp, admin_token, metric, spawn_app_on};
use crate::tracking::{INTERVAL, feed, of_type, start, tracked_app, walk_done};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use invitation_gateway::config::Settings;
use invitation_gateway::emulator::Seed;
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The signing key of these tests (32 bytes) and its `whsec_` form.
pub(crate) const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

pub(crate) fn secret() -> String {
    format!("whsec_{}", STANDARD.encode(KEY))
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: String,
}

impl Hit {
    /// Whether the Standard Webhooks signature is the one of `KEY`.
    pub(crate) fn verified(&self) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).expect("any key length");
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }

    pub(crate) fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON CloudEvent")
    }
}

/// A webhook endpoint on loopback that answers 500 to its first `failures` requests, and
/// takes `delay` to answer each.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("not poisoned").clone()
    }
}

async fn receiver(failures: usize, delay: Duration) -> Receiver {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let shared = Arc::clone(&hits);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
    let url = format!(
        "http://{}/hooks",
        listener.local_addr().expect("an address")
    );
    let server = HttpServer::new(move || {
        let hits = Arc::clone(&shared);
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let hits = Arc::clone(&hits);
            async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                tokio::time::sleep(delay).await;
                let count = {
                    let mut hits = hits.lock().expect("not poisoned");
                    hits.push(Hit {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    hits.len()
                };
                if count <= failures {
                    HttpResponse::InternalServerError().finish()
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    Receiver { url, hits }
}

fn with_webhooks(settings: &mut Settings, receivers: &[&Receiver]) {
    settings.tracking.webhooks.urls = receivers.iter().map(|r| r.url.clone().into()).collect();
    settings.tracking.webhooks.secret = Some(secret().into());
    settings.tracking.webhooks.timeout = Duration::from_millis(500);
}

/// Waits until the first endpoint's failed attempts, as the metrics count them, reach `n`.
async fn failures_reach(app: &TestApp, n: usize) {
    let series = "gateway_webhook_deliveries_total{endpoint=\"0\",result=\"failure\"}";
    eventually("the failed try is recorded", || async {
        metric(&app.address, series).await >= n as f64
    })
    .await;
}

async fn hits_reach(receiver: &Receiver, n: usize, what: &str) {
    eventually(what, || async { receiver.hits().len() >= n }).await;
}

#[tokio::test]
async fn a_receiver_answering_500_three_times_gets_the_event_on_the_fourth_try_while_another_got_it_at_once()
 {
    let clock = Clock::manual(start());
    let (flaky, healthy) = (
        receiver(3, Duration::ZERO).await,
        receiver(0, Duration::ZERO).await,
    );
    let app = spawn_app_on(&clock, Seed::Demo, |s| {
        with_webhooks(s, &[&flaky, &healthy])
    })
    .await;
    let sent = app
        .post_json(
            "/v1/invitations/send",
            &admin_token(),
            json!({"emails": ["grace+hr@example.com"]}),
        )
        .await;
    assert_eq!(sent.body["summary"]["sent"], 1, "{}", sent.body);
    hits_reach(&healthy, 1, "the healthy receiver gets the event").await;
    hits_reach(&flaky, 1, "the flaky receiver gets a first try").await;
    // No retry before its backoff has passed on the store's clock: once the failed try is
    // recorded, a delivery round run here at once attempts nothing.
    failures_reach(&app, 1).await;
    app.delivery_rounds().await;
    assert_eq!(flaky.hits().len(), 1, "retried before the backoff");
    for attempt in 2..=4 {
        // The failed try's retry time is taken from the store's clock once its answer is in:
        // the clock moves on only after that, or the retry would be due a minute later.
        failures_reach(&app, attempt - 1).await;
        clock.advance(Duration::from_secs(60));
        hits_reach(&flaky, attempt, "the next try after the backoff").await;
    }
    clock.advance(Duration::from_secs(3600));
    app.delivery_rounds().await;
    let (flaky, healthy) = (flaky.hits(), healthy.hits());
    assert_eq!(flaky.len(), 4, "delivered on the 4th try, then never again");
    assert_eq!(
        healthy.len(),
        1,
        "the healthy endpoint got it once, at once"
    );
    let event = healthy[0].event();
    assert_eq!(event["type"], "dev.invitation-gateway.invitation.sent");
    assert_eq!(event["data"]["observedBy"], "gateway");
    for hit in flaky.iter().chain(&healthy) {
        assert_eq!(
            hit.id,
            event["id"].as_str().unwrap(),
            "webhook-id is the event id, stable across retries"
        );
        assert!(hit.verified(), "{hit:?}");
        assert_eq!(hit.body, healthy[0].body, "the same body every time");
    }
    assert_eq!(feed(&app).await, vec![event], "the feed has the same event");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_webhook_deliveries_total{endpoint=\"0\",result=\"failure\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("127.0.0.1"),
        "no endpoint URL in the metrics"
    );
}

#[tokio::test]
async fn a_dead_slow_endpoint_does_not_delay_another() {
    let clock = Clock::manual(start());
    // Answers after 3 s: every attempt times out after 500 ms.
    let (slow, healthy) = (
        receiver(0, Duration::from_secs(3)).await,
        receiver(0, Duration::ZERO).await,
    );
    let app = spawn_app_on(&clock, Seed::Demo, |s| with_webhooks(s, &[&slow, &healthy])).await;
    let sent = app
        .post_json(
            "/v1/invitations/send",
            &admin_token(),
            json!({"emails": ["grace+hr@example.com", "donald@example.com", "john@example.com"]}),
        )
        .await;
    assert_eq!(sent.body["summary"]["sent"], 3, "{}", sent.body);
    // Three attempts in a row to the slow one take 1.5 s; the healthy one has all three well before.
    hits_reach(&healthy, 3, "the healthy endpoint gets every event").await;
    assert!(
        slow.hits().len() <= 1,
        "the slow endpoint is still on its first attempt"
    );
}

#[tokio::test]
async fn an_accept_reaches_the_feed_and_the_receiver_once_within_one_interval() {
    let clock = Clock::manual(start());
    let hook = receiver(0, Duration::ZERO).await;
    let app = tracked_app(&clock, |s| with_webhooks(s, &[&hook])).await;
    walk_done(&app, &clock).await;
    app.control("accounts/accept", json!({"email": "katherine@example.com"}))
        .await;
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    hits_reach(&hook, 1, "the accept is delivered").await;
    clock.advance(INTERVAL);
    walk_done(&app, &clock).await;
    app.delivery_rounds().await;
    let hits = hook.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].verified());
    let events = feed(&app).await;
    let accepted = of_type(&events, "invitation.accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(hits[0].event(), *accepted[0]);
    assert_eq!(accepted[0]["data"]["email"], "katherine@example.com");
}

#[tokio::test]
async fn the_feed_resumes_after_its_cursor_without_gaps_or_duplicates() {
    let clock = Clock::manual(start());
    let app = spawn_app_on(&clock, Seed::Demo, |_| {}).await;
    let token = admin_token();
    let emails = [
        "grace+hr@example.com",
        "donald@example.com",
        "john@example.com",
        "dennis@example.com",
        "radia@example.com",
    ];
    let sent = app
        .post_json("/v1/invitations/send", &token, json!({"emails": emails}))
        .await;
    assert_eq!(sent.body["summary"]["sent"], 5, "{}", sent.body);
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=2&after={c}"),
            None => "/v1/events?limit=2".to_owned(),
        };
        let page = app.get_as(&path, &token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let events = page.body["events"].as_array().unwrap().clone();
        assert!(events.len() <= 2);
        cursor = Some(page.body["nextCursor"].as_str().unwrap().to_owned());
        if events.is_empty() {
            break;
        }
        seen.extend(events);
    }
    let ids: std::collections::BTreeSet<&str> =
        seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "{seen:?}");
    let mut mailed: Vec<&str> = seen
        .iter()
        .map(|e| e["data"]["email"].as_str().unwrap())
        .collect();
    mailed.sort_unstable();
    let mut expected = emails.to_vec();
    expected.sort_unstable();
    assert_eq!(mailed, expected);
    // Nothing new: the same cursor comes back.
    let again = app
        .get_as(
            &format!("/v1/events?after={}", cursor.clone().unwrap()),
            &token,
        )
        .await;
    assert_eq!(again.body["nextCursor"].as_str(), cursor.as_deref());
}
