//! Incremental walks, black-box: the real gateway, the emulator (its stats count list calls),
//! the store's manual clock driving the tracker, on SQLite and on PostgreSQL. Between full
//! walks a walk reads only what changed (newest first, down to the watermark less the margin);
//! a full walk, every `GATEWAY_TRACK_FULL_WALK_HOURS`, finds the accounts Google lists late.
//! Each change is announced once whichever walk sees it.

use crate::helpers::{
    TestApp, admin_token, eventually, metric, on_database, on_postgresql, spawn_app_on,
    spawn_google,
};
use crate::pg::PgDatabase;
use crate::replicas::control;
use crate::tracking::{INTERVAL, feed, feed_at, of_type, start, tracking_on, walk_done};
use crate::tracking_crash::{
    FINISHED_WALKS, first_dies_mid_walk, list_calls, sigkill, tracking_replica,
};
use chrono::{DateTime, Utc};
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Two days before the test ran: when the seeded people last changed in Google.
fn two_days_ago() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(2)
}

fn person(i: usize) -> String {
    format!("p{i:05}@corp.example.com")
}

/// `people` accounts, every other one INVITED, none changed in the last two days: person `i`
/// last changed `i` minutes before that.
fn population(people: usize) -> Seed {
    let at = two_days_ago();
    Seed::Accounts(
        (0..people)
            .map(|i| SeedAccount {
                update_time: Some(at - chrono::Duration::minutes(i as i64)),
                ..SeedAccount::new(person(i), (i % 2 == 0).then_some(State::Invited))
            })
            .collect(),
    )
}

/// A tracking gateway on `seed` and `database` (its SQLite file when None), full walks every
/// `full_every` intervals; its first (full) walk done.
async fn tracked(clock: &Clock, seed: Seed, database: Option<&str>, full_every: u32) -> TestApp {
    let app = spawn_app_on(clock, seed, |settings| {
        tracking_on(settings);
        settings.tracking.full_walk = INTERVAL * full_every;
        on_database(database)(settings);
    })
    .await;
    walk_done(&app, clock).await;
    app
}

/// The list calls of the next walk: moves the clock one interval and waits for the walk.
async fn next_walk(app: &TestApp, clock: &Clock) -> u64 {
    let before = app.calls("list").await;
    clock.advance(INTERVAL);
    walk_done(app, clock).await;
    app.calls("list").await - before
}

/// Idle walks cost one call whatever the population; N changes about N/200.
async fn cost_follows_the_changes(people: usize, database: Option<String>) {
    let clock = Clock::manual(start());
    let app = tracked(&clock, population(people), database.as_deref(), 96).await;
    let full = app.calls("list").await;
    assert_eq!(full, people.div_ceil(200) as u64, "the first walk is full");
    for _ in 0..2 {
        assert_eq!(
            next_walk(&app, &clock).await,
            1,
            "{people} people, nobody changed: one call"
        );
    }
    // 400 people accept: two pages of changes, and the page that reaches the watermark.
    let accepting: Vec<usize> = (0..people).step_by(2).take(400).collect();
    for &i in &accepting {
        app.control("accounts/accept", json!({"email": person(i)}))
            .await;
    }
    let changed = accepting.len() as u64;
    let calls = next_walk(&app, &clock).await;
    assert!(
        calls <= changed / 200 + 1,
        "{people} people, {changed} changes: {calls} calls"
    );
    let events = feed(&app).await;
    assert_eq!(
        of_type(&events, "invitation.accepted").len() as u64,
        changed,
        "{people} people: every accept announced once"
    );
    // The margin re-reads the changes of the ten minutes below the watermark (all of them
    // here: they were made a moment ago), and announces none of them again.
    let again = next_walk(&app, &clock).await;
    assert!(again <= changed / 200 + 1, "{people}: {again} calls");
    assert_eq!(feed(&app).await.len(), events.len(), "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_walk_an_idle_walk_costs_one_call_whatever_the_population_and_changes_cost_one_call_per_200()
 {
    for people in [200, 2000] {
        cost_follows_the_changes(people, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_an_idle_walk_costs_one_call_and_changes_one_call_per_200() {
    for people in [200, 2000] {
        on_postgresql(|url| cost_follows_the_changes(people, Some(url))).await;
    }
}

/// How many times each (change, address) the feed announced, and by whom.
fn announced(events: &[Value]) -> BTreeMap<(String, String), Vec<String>> {
    let mut announced: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for event in events {
        let kind = event["type"].as_str().expect("a type");
        let kind = kind.trim_start_matches("dev.invitation-gateway.invitation.");
        let email = event["data"]["email"].as_str().expect("an email");
        announced
            .entry((kind.to_owned(), email.to_owned()))
            .or_default()
            .push(
                event["data"]["observedBy"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
    }
    announced
}

/// Accepts, declines and cancels across incremental and full walks: each announced once.
async fn each_change_once_across_walk_kinds(database: Option<String>) {
    let clock = Clock::manual(start());
    // Full walks every third interval: walks 1 and 4 are full, 2, 3 and 5 incremental.
    let app = tracked(&clock, population(600), database.as_deref(), 3).await;
    let token = admin_token();
    app.control("accounts/accept", json!({"email": person(0)}))
        .await;
    app.control("accounts/decline", json!({"email": person(2)}))
        .await;
    let cancelled = app
        .post_json(
            "/v1/invitations/cancel",
            &token,
            json!({"emails": [person(4)]}),
        )
        .await;
    assert_eq!(
        cancelled.body["results"][0]["outcome"], "cancelled",
        "{}",
        cancelled.body
    );
    assert_eq!(next_walk(&app, &clock).await, 1, "incremental");
    app.control("accounts/accept", json!({"email": person(6)}))
        .await;
    assert_eq!(next_walk(&app, &clock).await, 1, "incremental");
    // Changes the next walk, a full one, sees first.
    app.control("accounts/decline", json!({"email": person(8)}))
        .await;
    app.control("accounts/accept", json!({"email": person(10)}))
        .await;
    assert_eq!(next_walk(&app, &clock).await, 3, "full: every page");
    assert_eq!(next_walk(&app, &clock).await, 1, "incremental, nothing new");
    let expected: BTreeMap<(String, String), Vec<String>> = [
        ("accepted", 0, "tracker"),
        ("declined", 2, "tracker"),
        ("cancelled", 4, "gateway"),
        ("accepted", 6, "tracker"),
        ("declined", 8, "tracker"),
        ("accepted", 10, "tracker"),
    ]
    .into_iter()
    .map(|(kind, i, by)| ((kind.to_owned(), person(i)), vec![by.to_owned()]))
    .collect();
    assert_eq!(announced(&feed(&app).await), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_declines_and_cancels_are_each_announced_once_across_incremental_and_full_walks() {
    each_change_once_across_walk_kinds(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_each_change_is_announced_once_across_incremental_and_full_walks() {
    on_postgresql(|url| each_change_once_across_walk_kinds(Some(url))).await;
}

/// The recorded changes of `email` (the history).
async fn history(app: &TestApp, email: &str) -> Vec<String> {
    let answer = app
        .post_json(
            "/v1/invitations/history",
            &admin_token(),
            json!({ "emails": [email] }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["results"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["state"].as_str().expect("a state").to_owned())
        .collect()
}

/// An account Google lists late, with an update time older than changes already seen.
async fn a_late_account_waits_for_the_full_walk(database: Option<String>) {
    let clock = Clock::manual(start());
    let app = tracked(&clock, population(300), database.as_deref(), 4).await;
    let late = "late.comer@corp.example.com";
    app.control(
        "accounts",
        json!({"email": late, "state": "INVITED", "recent": true,
               "updateTime": (Utc::now() - chrono::Duration::days(3)).to_rfc3339()}),
    )
    .await;
    // A change newer than the late account's: the watermark moves past it.
    app.control("accounts/accept", json!({"email": person(0)}))
        .await;
    assert_eq!(next_walk(&app, &clock).await, 1);
    // Google's index catches up: the account is listed from now on, with its old update time.
    app.control("accounts/appear", json!({"email": late})).await;
    for walk in 2..4 {
        assert_eq!(next_walk(&app, &clock).await, 1, "walk {walk}: incremental");
        assert!(
            history(&app, late).await.is_empty(),
            "walk {walk}: an incremental walk stops before it"
        );
    }
    assert_eq!(next_walk(&app, &clock).await, 2, "the full walk");
    assert_eq!(history(&app, late).await, ["first_seen"]);
    // From now on its changes are the incremental walks'.
    app.control("accounts/accept", json!({"email": late})).await;
    assert_eq!(next_walk(&app, &clock).await, 1);
    assert_eq!(history(&app, late).await, ["first_seen", "accepted"]);
    let accepted = of_type(&feed(&app).await, "invitation.accepted").len();
    assert_eq!(accepted, 2, "person 0 and the late account, once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_listed_late_with_an_older_update_time_is_found_by_the_next_full_walk_and_not_before()
 {
    a_late_account_waits_for_the_full_walk(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_late_account_is_found_by_the_next_full_walk() {
    on_postgresql(|url| a_late_account_waits_for_the_full_walk(Some(url))).await;
}

/// A thousand people, all INVITED, none changed in the last two days; the changes of the
/// crash test are made to people 0 to 499.
const CRASH_PEOPLE: usize = 1000;
const CANCELLED: std::ops::Range<usize> = 0..50;
const ANSWERING: std::ops::Range<usize> = 50..500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_incremental_walk_leaves_it_to_the_other_and_each_change_is_announced_once()
 {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let at = two_days_ago();
    let google = spawn_google(Seed::Accounts(
        (0..CRASH_PEOPLE)
            .map(|i| SeedAccount {
                update_time: Some(at - chrono::Duration::minutes(i as i64)),
                ..SeedAccount::new(person(i), Some(State::Invited))
            })
            .collect(),
    ))
    .await;
    // The first replica makes the full walk and then holds the lease without walking again.
    let mut first = tracking_replica(&google, &db, "3600");
    eventually("the full walk", || async {
        metric(&first.base, FINISHED_WALKS).await >= 1.0
    })
    .await;
    let mut replicas = [
        tracking_replica(&google, &db, "5"),
        tracking_replica(&google, &db, "5"),
    ];
    // 500 changes, newest first: two pages and a half for the incremental walk. The gateway
    // cancels (and announces) 50; then people accept, or decline, in Google.
    let cancelled: Vec<String> = CANCELLED.map(person).collect();
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/invitations/cancel", replicas[0].base))
        .bearer_auth(admin_token())
        .json(&json!({ "emails": cancelled }))
        .send()
        .await
        .expect("the replica answers");
    assert_eq!(answer.status(), 200);
    for i in ANSWERING {
        let path = if i % 3 == 0 {
            "accounts/decline"
        } else {
            "accounts/accept"
        };
        control(&google, path, json!({"email": person(i)})).await;
    }
    let before = list_calls(&google).await;
    assert_eq!(before, 5, "the full walk: five pages");
    let walker = first_dies_mid_walk(&google, &mut first, &replicas, before).await;
    let survivor = 1 - walker;
    sigkill(&mut replicas[walker]);
    let base = replicas[survivor].base.clone();
    eventually("the other replica finishes the walk", || async {
        metric(&base, FINISHED_WALKS).await >= 1.0
    })
    .await;
    let read = list_calls(&google).await - before;
    assert!(
        read <= 4,
        "three pages of changes, one of them read twice at most: {read} calls"
    );
    control(&google, "latency", json!({"ms": 0})).await;

    let mut expected: BTreeMap<(String, String), Vec<String>> = CANCELLED
        .map(|i| {
            (
                ("cancelled".to_owned(), person(i)),
                vec!["gateway".to_owned()],
            )
        })
        .collect();
    for i in ANSWERING {
        let kind = if i % 3 == 0 { "declined" } else { "accepted" };
        expected.insert((kind.to_owned(), person(i)), vec!["tracker".to_owned()]);
    }
    assert_eq!(announced(&feed_at(&base).await), expected);
    db.drop_it().await;
}
