//! Tracking across real gateway processes sharing one PostgreSQL and one emulator, with a
//! replica killed by SIGKILL: the walk of Google's list is taken over and finished by the other
//! replica, each change announced once; the webhook deliveries a replica held mid-attempt are
//! delivered by the other. Skipped without `GATEWAY_TEST_DATABASE_URL` (failed under `CI=true`),
//! like the other multi-process tests.
//!
//! Leases are `GATEWAY_TRACK_LEASE_SECS` (a few seconds here); every wait polls an observable
//! state (the emulator's call counts, a replica's metrics, the receiver's requests) with a
//! deadline.

use crate::events::{Hit, secret};
use crate::helpers::{
    TestGoogle, admin_get, admin_token, eventually, metric, sigterm, spawn_google,
};
use crate::pg::PgDatabase;
use crate::replicas::{Replica, control, start_replica, stats};
use crate::tracking::{feed_at, of_type};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{Days, Utc};
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The lease of the walk and of webhook deliveries in these tests.
const LEASE_SECS: &str = "3";

/// Five pages of Google's list (200 a page).
const PEOPLE: usize = 1000;
const PAGES: u64 = 5;

/// People (by index) invited before the gateway came who accept, or decline, between two walks:
/// at least one on each page, so the walker's metrics move with its first page.
const ACCEPTING: [usize; 5] = [10, 220, 430, 640, 850];
const DECLINING: [usize; 4] = [30, 380, 570, 990];
/// People the gateway mails between the two walks; one of them accepts too.
const MAILED: [usize; 4] = [5, 205, 605, 995];
const MAILED_THEN_ACCEPTING: usize = 605;

fn person(i: usize) -> String {
    format!("p{i:04}@corp.example.com")
}

/// A thousand unmanaged accounts; every tenth was invited before the gateway came.
async fn thousand_people() -> TestGoogle {
    let accounts = (0..PEOPLE)
        .map(|i| SeedAccount::new(person(i), (i % 10 == 0).then_some(State::Invited)))
        .collect();
    spawn_google(Seed::Accounts(accounts)).await
}

/// A tracking replica: walks every `interval` seconds, short leases, a budget that never holds
/// it back.
pub(crate) fn tracking_replica(google: &TestGoogle, db: &PgDatabase, interval: &str) -> Replica {
    start_replica(
        google,
        &db.url,
        &[
            ("GATEWAY_TRACK_INTERVAL_SECS", interval),
            ("GATEWAY_TRACK_LEASE_SECS", LEASE_SECS),
            ("GATEWAY_GOOGLE_CALLS_PER_MINUTE", "100000"),
        ],
    )
}

pub(crate) const FINISHED_WALKS: &str = "gateway_tracker_walks_total{result=\"finished\"}";
const ACCEPTS_RECORDED: &str = "gateway_tracker_changes_total{change=\"accepted\"}";

pub(crate) async fn list_calls(google: &TestGoogle) -> u64 {
    stats(google).await["calls"]["list"].as_u64().unwrap_or(0)
}

async fn get(base: &str, path: &str) -> Value {
    let answer = admin_get(base, path).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.body
}

async fn send(base: &str, emails: &[String]) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/invitations/send"))
        .bearer_auth(admin_token())
        .json(&json!({ "emails": emails }))
        .send()
        .await
        .expect("the replica answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// Every invitation as Google lists it now (through the gateway's list, page by page): state
/// by address.
async fn google_states(base: &str) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/v1/invitations?pageSize=200&pageToken={t}"),
            None => "/v1/invitations?pageSize=200".to_owned(),
        };
        let page = get(base, &path).await;
        for invitation in page["invitations"].as_array().expect("invitations") {
            states.insert(
                invitation["email"].as_str().expect("email").to_owned(),
                invitation["state"].as_str().expect("state").to_owned(),
            );
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return states,
        }
    }
}

/// Kills a replica with SIGKILL and waits until it is gone.
pub(crate) fn sigkill(replica: &mut Replica) {
    replica.process.0.kill().expect("SIGKILL a replica");
    let _ = replica.process.0.wait();
}

/// Slows Google's pages down (each takes 400 ms, so the next walk is visibly mid-way for a few
/// seconds), kills `first` (which holds the lease) with SIGKILL, waits until the next walk read
/// its second page (`before` list calls so far), and answers which of `replicas` walks: the
/// one that recorded an accept (its first page has one); the other recorded nothing.
pub(crate) async fn first_dies_mid_walk(
    google: &TestGoogle,
    first: &mut Replica,
    replicas: &[Replica],
    before: u64,
) -> usize {
    control(google, "latency", json!({"ms": 400})).await;
    sigkill(first);
    eventually("the next walk reads its second page", || async {
        list_calls(google).await >= before + 2
    })
    .await;
    let mut recorded = Vec::new();
    for replica in replicas {
        recorded.push(metric(&replica.base, ACCEPTS_RECORDED).await);
    }
    let walkers: Vec<usize> = (0..replicas.len()).filter(|&i| recorded[i] > 0.0).collect();
    assert_eq!(
        walkers.len(),
        1,
        "exactly one replica walks: accepts recorded {recorded:?}"
    );
    walkers[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_walk_leaves_the_walk_to_the_other_which_resumes_it_and_announces_each_change_once()
 {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let google = thousand_people().await;

    // A first replica makes the first walk (everybody first seen, nothing announced) and then
    // holds the lease without walking again: the two replicas under test wait behind it.
    let mut first = tracking_replica(&google, &db, "3600");
    eventually("the first walk", || async {
        metric(&first.base, FINISHED_WALKS).await >= 1.0
    })
    .await;
    let mut replicas = [
        tracking_replica(&google, &db, "5"),
        tracking_replica(&google, &db, "5"),
    ];

    // Between the walks: the gateway mails four people (announced as it does it), people
    // accept and decline in Google.
    let mailed: Vec<String> = MAILED.iter().map(|&i| person(i)).collect();
    let sent = send(&replicas[0].base, &mailed).await;
    assert_eq!(sent["summary"]["sent"], MAILED.len(), "{sent}");
    for i in ACCEPTING.into_iter().chain([MAILED_THEN_ACCEPTING]) {
        control(&google, "accounts/accept", json!({"email": person(i)})).await;
    }
    for i in DECLINING {
        control(&google, "accounts/decline", json!({"email": person(i)})).await;
    }
    let before = list_calls(&google).await;
    assert_eq!(before, PAGES, "one walk so far, by the first replica");
    let walker = first_dies_mid_walk(&google, &mut first, &replicas, before).await;
    let survivor = 1 - walker;
    sigkill(&mut replicas[walker]);
    let read_by_the_dead = list_calls(&google).await - before;
    assert!(
        read_by_the_dead < PAGES,
        "killed mid-walk: {read_by_the_dead} of {PAGES} pages asked for"
    );

    // The other replica takes the lease over once it runs out, and finishes the walk where it
    // was: it reads only the pages the dead one had not recorded.
    let base = replicas[survivor].base.clone();
    eventually("the other replica finishes the walk", || async {
        metric(&base, FINISHED_WALKS).await >= 1.0
    })
    .await;
    let read_by_the_survivor = list_calls(&google).await - before - read_by_the_dead;
    assert!(
        read_by_the_survivor <= PAGES + 1 - read_by_the_dead,
        "resumed at the dead replica's last recorded page, not from the first: {read_by_the_survivor} pages read after {read_by_the_dead}"
    );
    assert_eq!(metric(&base, FINISHED_WALKS).await, 1.0, "one walk");
    control(&google, "latency", json!({"ms": 0})).await;

    // Every change once, as Google holds it: a `sent` per mail Google sent, an `accepted` per
    // person now ACCEPTED, a `declined` per person now DECLINED; nothing else.
    let events = feed_at(&base).await;
    let mut announced: BTreeMap<(String, String), u64> = BTreeMap::new();
    for event in &events {
        let kind = event["type"].as_str().expect("a type");
        let kind = kind.trim_start_matches("dev.invitation-gateway.invitation.");
        let email = event["data"]["email"].as_str().expect("an email");
        *announced
            .entry((kind.to_owned(), email.to_owned()))
            .or_insert(0) += 1;
        let observer = if kind == "sent" { "gateway" } else { "tracker" };
        assert_eq!(event["data"]["observedBy"], observer, "{event}");
    }
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "every event id once");
    let states = google_states(&base).await;
    assert_eq!(states.len(), PEOPLE);
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    let emulator = stats(&google).await;
    for (email, mails) in emulator["mailsSent"].as_object().expect("mails") {
        expected.insert(("sent".into(), email.clone()), mails.as_u64().unwrap_or(0));
    }
    for (email, state) in &states {
        let change = match state.as_str() {
            "ACCEPTED" => "accepted",
            "DECLINED" => "declined",
            _ => continue,
        };
        expected.insert((change.into(), email.clone()), 1);
    }
    assert_eq!(announced, expected, "the feed against Google");
    assert_eq!(
        of_type(&events, "invitation.accepted").len(),
        ACCEPTING.len() + 1
    );
    assert_eq!(
        of_type(&events, "invitation.declined").len(),
        DECLINING.len()
    );

    // The summary (from the walk, no call to Google) and the funnel agree with Google.
    let summary = get(&base, "/v1/invitations/summary").await;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for state in states.values() {
        *counts.entry(state.as_str()).or_insert(0) += 1;
    }
    for (state, count) in &counts {
        assert_eq!(summary["counts"][state], *count, "{state}: {summary}");
    }
    assert_eq!(summary["total"], PEOPLE, "{summary}");
    let today = Utc::now().date_naive();
    let (from, to) = (today - Days::new(1), today + Days::new(1));
    let funnel = get(
        &base,
        &format!("/v1/invitations/funnel?from={from}&to={to}&bucket=day"),
    )
    .await;
    let total = |field: &str| -> u64 {
        funnel["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|bucket| bucket[field].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        [total("invited"), total("accepted"), total("declined")],
        [
            MAILED.len() as u64,
            ACCEPTING.len() as u64 + 1,
            DECLINING.len() as u64
        ],
        "{funnel}"
    );
    drop(replicas);
    db.drop_it().await;
}

/// A webhook endpoint on loopback that holds every request until [`HeldReceiver::open`], then
/// answers 204; it notes each request when it arrives.
struct HeldReceiver {
    url: String,
    arrivals: Arc<Mutex<Vec<(Instant, Hit)>>>,
    gate: tokio::sync::watch::Sender<bool>,
}

impl HeldReceiver {
    async fn start() -> HeldReceiver {
        let arrivals: Arc<Mutex<Vec<(Instant, Hit)>>> = Arc::default();
        let (gate, _) = tokio::sync::watch::channel(false);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let url = format!(
            "http://{}/hooks",
            listener.local_addr().expect("an address")
        );
        let (shared, opened) = (Arc::clone(&arrivals), gate.subscribe());
        let server = HttpServer::new(move || {
            let (arrivals, opened) = (Arc::clone(&shared), opened.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (arrivals, mut opened) = (Arc::clone(&arrivals), opened.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    arrivals.lock().expect("not poisoned").push((
                        Instant::now(),
                        Hit {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        },
                    ));
                    let _ = opened.wait_for(|open| *open).await;
                    HttpResponse::NoContent().finish()
                }
            }))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        HeldReceiver {
            url,
            arrivals,
            gate,
        }
    }

    fn arrivals(&self) -> Vec<(Instant, Hit)> {
        self.arrivals.lock().expect("not poisoned").clone()
    }

    /// Requests that arrived less than `within` ago (while closed: still held).
    fn recent(&self, within: Duration) -> Vec<Hit> {
        self.arrivals()
            .into_iter()
            .filter(|(at, _)| at.elapsed() < within)
            .map(|(_, hit)| hit)
            .collect()
    }

    /// From now on every request, held or new, is answered.
    fn open(&self) {
        self.gate.send_replace(true);
    }
}

/// More events than one replica takes from the store at a time (20), so both replicas take some.
const EVENTS: usize = 25;
/// One delivery attempt's timeout: longer than it takes both replicas to have one in flight.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);
const BACKLOG: &str = "gateway_webhook_backlog{endpoint=\"0\"}";

/// How the test stops a replica with deliveries in flight.
#[derive(Clone, Copy)]
enum Stop {
    /// SIGKILL: its leases stay until they run out (the test sets them short).
    Kill,
    /// SIGTERM: it gives its leases up as it stops (the test sets them far longer than itself).
    Terminate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_delivery_leaves_its_deliveries_to_the_other_which_delivers_every_event()
 {
    deliveries_outlive_a_stopped_replica(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_stopped_with_sigterm_mid_delivery_gives_its_deliveries_back_at_once() {
    deliveries_outlive_a_stopped_replica(Stop::Terminate).await;
}

/// Two replicas deliver to one held endpoint; one is stopped (`how`) with a delivery in flight;
/// the other delivers every event, the stopped one's in-flight attempt again under its id.
async fn deliveries_outlive_a_stopped_replica(how: Stop) {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let accounts = (0..EVENTS)
        .map(|i| SeedAccount::new(format!("w{i:02}@corp.example.com"), None))
        .collect();
    let google = spawn_google(Seed::Accounts(accounts)).await;
    let receiver = HeldReceiver::start().await;
    let (secret, timeout) = (secret(), WEBHOOK_TIMEOUT.as_millis().to_string());
    let settings = [
        ("GATEWAY_WEBHOOK_URLS", receiver.url.as_str()),
        ("GATEWAY_WEBHOOK_SECRET", secret.as_str()),
        ("GATEWAY_WEBHOOK_TIMEOUT_MS", timeout.as_str()),
        // Killed: the dead replica's leases must run out within the test. Stopped: they are
        // longer than the test, which passes only if they are given up.
        (
            "GATEWAY_TRACK_LEASE_SECS",
            match how {
                Stop::Kill => "4",
                Stop::Terminate => "600",
            },
        ),
        ("GATEWAY_SHUTDOWN_DRAIN_SECS", "1"),
        ("GATEWAY_GOOGLE_CALLS_PER_MINUTE", "100000"),
    ];
    let mut replicas = [
        start_replica(&google, &db.url, &settings),
        start_replica(&google, &db.url, &settings),
    ];
    // The endpoint is known to the store (it gets the events recorded from then on) once a
    // replica has looked for its deliveries.
    eventually("the endpoint is scheduled", || async {
        reqwest::get(format!("{}/metrics", replicas[0].base))
            .await
            .expect("the replica answers")
            .text()
            .await
            .is_ok_and(|text| text.contains(BACKLOG))
    })
    .await;
    let emails: Vec<String> = (0..EVENTS)
        .map(|i| format!("w{i:02}@corp.example.com"))
        .collect();
    let sent = send(&replicas[1].base, &emails).await;
    assert_eq!(sent["summary"]["sent"], EVENTS, "{sent}");

    // Each replica attempts one delivery at a time, and its next only after the last ended
    // (at the latest, timed out): two requests held that both arrived within the timeout come
    // from both replicas, each with a delivery in flight.
    let within = WEBHOOK_TIMEOUT - Duration::from_secs(1);
    eventually("both replicas have a delivery in flight", || async {
        receiver.recent(within).len() >= 2
    })
    .await;
    let in_flight: BTreeSet<String> = receiver.recent(within).into_iter().map(|h| h.id).collect();
    let arrived_before = receiver.arrivals().len();
    match how {
        Stop::Kill => sigkill(&mut replicas[0]),
        Stop::Terminate => {
            let stopping = &mut replicas[0].process.0;
            sigterm(stopping);
            // It stops while its requests are still held: nothing it had leased was finished.
            let exited = stopping.wait().expect("the replica exits");
            assert!(exited.success(), "{exited:?}");
        }
    }
    receiver.open();

    // The survivor delivers everything: its own, and the dead one's once their lease ran out.
    let base = replicas[1].base.clone();
    let events = feed_at(&base).await;
    assert_eq!(events.len(), EVENTS, "one event per mail");
    let by_id: BTreeMap<&str, &Value> = events
        .iter()
        .map(|e| (e["id"].as_str().expect("an id"), e))
        .collect();
    eventually("every event delivered", || async {
        let arrived: BTreeSet<String> =
            receiver.arrivals().into_iter().map(|(_, h)| h.id).collect();
        by_id.keys().all(|id| arrived.contains(*id)) && metric(&base, BACKLOG).await == 0.0
    })
    .await;
    let arrivals = receiver.arrivals();
    for (_, hit) in &arrivals {
        assert!(hit.verified(), "a valid signature: {hit:?}");
        let event = by_id
            .get(hit.id.as_str())
            .unwrap_or_else(|| panic!("webhook-id {} is an event of the feed", hit.id));
        assert_eq!(hit.event(), **event, "the same body as on the feed");
    }
    // The dead replica's attempt in flight arrived, but it never learnt so: the event came
    // again, from the survivor, under the same id.
    let again: BTreeSet<&str> = arrivals[arrived_before..]
        .iter()
        .map(|(_, hit)| hit.id.as_str())
        .filter(|id| in_flight.contains(*id))
        .collect();
    assert!(
        !again.is_empty(),
        "a delivery in flight at the kill is delivered again: {in_flight:?}"
    );
    assert_eq!(
        metric(
            &base,
            "gateway_webhook_deliveries_total{endpoint=\"0\",result=\"given_up\"}"
        )
        .await,
        0.0
    );
    drop(replicas);
    db.drop_it().await;
}
