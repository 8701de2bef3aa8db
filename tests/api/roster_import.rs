//! A `text/csv` roster upload that does not finish leaves nothing behind: neither a client that
//! goes away mid-body, nor a body past the read timeout, nor a malformed row after thousands of
//! rows were stored leaves a campaign (listed or not) or a single item row; the import of a
//! gateway that died mid-upload is swept once it is older than any upload can take.

use crate::helpers::{TestApp, admin_token, eventually, spawn_app_at};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::emulator::Seed;
use invitation_gateway::store::{Caller, Clock, NewCampaign, NewItem};
use serde_json::Value;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the manual clock of these tests starts.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// The gateway's SQLite file.
fn database(app: &TestApp) -> PathBuf {
    app.google.key_dir().join("gateway.db")
}

/// Campaign rows and item rows in the gateway's SQLite file, whatever their state.
async fn rows(app: &TestApp) -> (i64, i64) {
    rows_in(&database(app)).await
}

async fn rows_in(path: &Path) -> (i64, i64) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the gateway's SQLite file");
    let count = async |conn: &mut sqlx::SqliteConnection, table: &str| -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(conn)
            .await
            .expect("count rows")
    };
    let campaigns = count(&mut conn, "campaigns").await;
    let items = count(&mut conn, "campaign_items").await;
    let _ = conn.close().await;
    (campaigns, items)
}

/// Waits until at least `items` item rows are stored in `path`.
async fn items_stored(path: &Path, items: i64) {
    rows_reach(path, "the roster's rows are stored", |(_, stored)| {
        stored >= items
    })
    .await;
}

/// Waits until no campaign and no item row is left; answers what is left.
async fn nothing_left(app: &TestApp) -> (i64, i64) {
    rows_reach(&database(app), "nothing is left", |rows| rows == (0, 0)).await
}

/// Waits until the (campaign, item) rows in `path` satisfy `done`; answers them.
async fn rows_reach(path: &Path, what: &str, done: impl Fn((i64, i64)) -> bool) -> (i64, i64) {
    eventually(what, || async {
        let rows = rows_in(path).await;
        if done(rows) {
            Ok(rows)
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await
}

async fn listed(app: &TestApp) -> Value {
    let list = app.get_as("/v1/campaigns", &admin_token()).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["campaigns"].clone()
}

/// A roster's header and `n` rows of people nobody knows (a dry run: nobody is mailed).
fn roster(n: usize) -> String {
    let mut csv = String::from("name,email\r\n");
    for i in 0..n {
        csv.push_str(&format!("Person {i},p{i:05}@corp.example.com\r\n"));
    }
    csv
}

/// Opens a connection and sends a roster upload's head (announcing `length` bytes) and `body`.
async fn start_upload(app: &TestApp, length: usize, body: &str) -> TcpStream {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /v1/campaigns/roster?name=cut&dryRun=true HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n",
        admin_token()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    stream
}

#[tokio::test]
async fn a_roster_upload_cut_off_mid_body_leaves_no_campaign_and_no_rows() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let body = roster(2500);
    let stream = start_upload(&app, body.len() * 4, &body).await;
    // Two chunks of a thousand rows are in the store: the import is half-way.
    items_stored(&database(&app), 2000).await;
    // Until its creation answers, an import is nobody's campaign.
    assert_eq!(
        listed(&app).await,
        serde_json::json!([]),
        "listed mid-import"
    );

    drop(stream);

    assert_eq!(nothing_left(&app).await, (0, 0), "campaigns and items left");
    assert_eq!(listed(&app).await, serde_json::json!([]));
}

#[tokio::test]
async fn a_roster_upload_past_the_body_read_timeout_is_408_and_leaves_no_campaign_and_no_rows() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.http.body_read_timeout = Duration::from_secs(2)
    })
    .await;
    let body = roster(1500);
    let mut stream = start_upload(&app, body.len() * 4, &body).await;
    items_stored(&database(&app), 1000).await;

    // The rest never comes: the gateway answers once the body read timeout is past.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the gateway answers and closes")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");

    assert_eq!(nothing_left(&app).await, (0, 0), "campaigns and items left");
    assert_eq!(listed(&app).await, serde_json::json!([]));
}

#[tokio::test]
async fn a_roster_malformed_after_a_thousand_stored_rows_is_400_and_leaves_nothing() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let good = roster(1500);
    // Not UTF-8, on line 1502 (the header is line 1): sent once the first rows are stored.
    let bad = b"Person X,p\xff@corp.example.com\r\nPerson Y,py@corp.example.com\r\n".to_vec();
    let path = database(&app);
    let pieces = futures_util::stream::unfold(0, move |sent| {
        let (good, bad, path) = (good.clone(), bad.clone(), path.clone());
        async move {
            match sent {
                0 => Some((Ok::<_, std::io::Error>(good.into_bytes()), 1)),
                1 => {
                    items_stored(&path, 1000).await;
                    Some((Ok(bad), 2))
                }
                _ => None,
            }
        }
    });
    let request = app
        .client
        .post(format!(
            "{}/v1/campaigns/roster?name=bad&dryRun=true",
            app.address
        ))
        .bearer_auth(admin_token())
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(pieces))
        .send();
    let answer = request.await.expect("the gateway answers");

    assert_eq!(answer.status(), 400);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let problem: Value = answer.json().await.expect("a problem document");
    assert_eq!(problem["code"], "invalid_request", "{problem}");
    assert_eq!(
        problem["detail"], "roster: line 1502: it is not UTF-8.",
        "{problem}"
    );
    assert_eq!(nothing_left(&app).await, (0, 0), "campaigns and items left");
    assert_eq!(listed(&app).await, serde_json::json!([]));
}

/// What a gateway killed mid-upload leaves: a campaign never planned, with some items.
async fn half_imported(app: &TestApp, clock: &Clock, id: &str) {
    let store = &app.state.store;
    store
        .create_campaign(&NewCampaign {
            id: id.into(),
            owner: Caller::new("invitation-gateway", "hr-onboarding"),
            name: "Roster".into(),
            dry_run: true,
            resend: false,
            check_unlisted: true,
            source_kind: invitation_gateway::vocabulary::SourceKind::Roster,
            source_states: Vec::new(),
            reminders: None,
            start_at: clock.now(),
            planned: false,
            terms: Default::default(),
        })
        .await
        .expect("the campaign is stored");
    let items: Vec<NewItem> = (0..10)
        .map(|i| NewItem {
            email: format!("p{i}@corp.example.com"),
            skipped: None,
            known: None,
            roster: None,
        })
        .collect();
    store
        .add_campaign_items(id, &items, true)
        .await
        .expect("the items are stored");
}

#[tokio::test]
async fn the_import_of_a_gateway_that_died_mid_upload_is_swept_once_older_than_any_upload() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    half_imported(&app, &clock, "dead0000000000000000000000000000").await;
    // Younger than an upload may take: it may still be going on, on another replica. A sweep
    // (the worker's, run here at once) keeps it.
    app.state
        .campaigns
        .sweep_abandoned_imports()
        .await
        .expect("the sweep reads the store");
    assert_eq!(rows(&app).await, (1, 10), "an import in progress is kept");

    clock.advance(Duration::from_secs(3600));
    half_imported(&app, &clock, "live0000000000000000000000000000").await;

    let left = rows_reach(&database(&app), "the old import is swept", |rows| {
        rows == (1, 10)
    })
    .await;
    assert_eq!(left, (1, 10), "only the young import is left");
    let path = database(&app);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the gateway's SQLite file");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM campaigns")
        .fetch_all(&mut conn)
        .await
        .expect("read the campaigns");
    let _ = conn.close().await;
    assert_eq!(ids, vec!["live0000000000000000000000000000".to_owned()]);
}
