//! Campaigns through the HTTP API, in front of the emulator, with the store on a manual clock
//! (reminders and the next day come by moving it; nothing sleeps for them). The worker polls
//! every 20 ms of real time; tests wait for what it does with a bounded poll, and for
//! "nothing more happens" with whole passes of the worker.

use crate::helpers::{
    Answer, CALLER, TestApp, admin_token, campaign_at, campaign_when, csv_records, eventually,
    ndjson_emails, on_database, spawn_app_at, token, token_for,
};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::{Seed, SeedAccount};
use invitation_gateway::store::Clock;
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

impl TestApp {
    async fn create_campaign(&self, token: &str, body: Value) -> Answer {
        self.post_json("/v1/campaigns", token, body).await
    }

    async fn campaign(&self, id: &str) -> Value {
        campaign_at(&self.address, id).await
    }

    /// Polls the campaign until `done` holds; answers it.
    async fn campaign_when(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        campaign_when(&self.address, id, done).await
    }

    async fn lifecycle(&self, id: &str, action: &str, token: &str) -> Answer {
        self.post_json(&format!("/v1/campaigns/{id}/{action}"), token, json!({}))
            .await
    }

    /// Moves `clock` on by one Google budget window at a time (at most `windows` times) until
    /// the campaign completes; answers it completed.
    async fn windows_until_completed(&self, clock: &Clock, id: &str, windows: u32) -> Value {
        for _ in 0..windows {
            if self.campaign(id).await["state"] == "completed" {
                break;
            }
            clock.advance(Duration::from_secs(63));
            self.worker_passes(2).await;
        }
        self.campaign_when(id, state_is("completed")).await
    }

    async fn mails(&self) -> Value {
        self.stats().await["mailsSent"].clone()
    }
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c["state"] == state
}

fn id_of(answer: &Answer) -> String {
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_states_campaign_over_a_thousand_accounts_mails_each_exactly_once_with_one_call_each() {
    let accounts = (0..1000)
        .map(|i| SeedAccount::new(format!("p{i:04}@corp.example.com"), None))
        .collect();
    let (app, _clock) = spawn_app_at(start(), Seed::Accounts(accounts), |s| {
        s.store.google_per_minute = 1_000_000;
    })
    .await;

    let created = app
        .create_campaign(
            &admin_token(),
            json!({"name": "all of corp", "source": {"states": ["NOT_YET_SENT"]}}),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/campaigns/{id}")
    );
    let done = app.campaign_when(&id, state_is("completed")).await;

    assert_eq!(done["total"], 1000, "{done}");
    assert_eq!(done["counts"], json!({"sent": 1000}));
    assert!(done["eta"].is_null());
    assert!(done["completedAt"].is_string());
    let stats = app.stats().await;
    assert_eq!(stats["calls"]["send"], 1000, "one send per person");
    assert_eq!(
        stats["calls"]["get"], 0,
        "the list already read every state"
    );
    assert_eq!(stats["calls"]["isInvitableUser"], 0);
    let pages = stats["calls"]["list"].as_u64().unwrap();
    let mails = stats["mailsSent"].as_object().unwrap();
    assert_eq!(mails.len(), 1000);
    assert!(
        mails.values().all(|n| n == 1),
        "each person mailed exactly once"
    );
    assert_eq!(
        done["googleCalls"],
        1000 + pages,
        "the sends and the list's pages"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("gateway_campaign_items_total{outcome=\"sent\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(sent >= 1000.0, "items by outcome are counted: {sent}");
    assert!(
        metrics.contains("gateway_campaign_backlog"),
        "the backlog gauge"
    );
    assert!(
        !metrics.contains("corp.example.com"),
        "no address in the metrics"
    );
}

#[tokio::test]
async fn a_campaign_uses_only_the_background_share_of_each_window_and_waits_for_the_next() {
    let accounts = (0..10)
        .map(|i| SeedAccount::new(format!("s{i:02}@corp.example.com"), None))
        .collect();
    // 4 calls a minute: with no caller calling, background work gets all but the callers'
    // floor of one, 3 calls per 62 s window.
    let (app, clock) = spawn_app_at(start(), Seed::Accounts(accounts), |s| {
        s.store.google_per_minute = 4;
        s.store.google_background_percent = 30;
    })
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "shared", "source": {"states": ["NOT_YET_SENT"]}}),
        )
        .await,
    );
    let waiting = app.campaign_when(&id, state_is("waiting")).await;
    assert!(waiting["resumesAt"].is_string(), "{waiting}");
    // It keeps trying (a pass every 20 ms) but gets nothing more in this window.
    app.worker_passes(3).await;
    let calls = app.api_calls().await;
    assert_eq!(
        calls,
        json!({"get": 0, "isInvitableUser": 0, "list": 1, "send": 2}),
        "the list and two sends: the share"
    );
    // The rest of the window is the callers'.
    let check = app.check_as_caller("fresh@example.com").await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["results"][0]["cached"], false, "{}", check.body);

    // Each later window: three more sends, no more.
    clock.advance(Duration::from_secs(62));
    app.campaign_when(&id, |c| c["counts"]["sent"].as_u64() == Some(5))
        .await;
    app.worker_passes(3).await;
    assert_eq!(app.calls("send").await, 5, "three in the second window");
    let done = app.windows_until_completed(&clock, &id, 10).await;
    assert_eq!(done["counts"], json!({"sent": 10}), "{done}");
    assert_eq!(app.stats().await["quotaRejections"], 0);
}

#[tokio::test]
async fn a_campaign_held_back_by_the_google_budget_still_costs_one_call_per_person() {
    // 8 background calls a 62 s window for 30 people: most items are claimed, refused a slot and
    // given back at least once before they go out; a refused item never called Google, so it
    // needs no read when it comes back.
    let accounts = (0..30)
        .map(|i| SeedAccount::new(format!("q{i:02}@corp.example.com"), None))
        .collect();
    let (app, clock) = spawn_app_at(start(), Seed::Accounts(accounts), |s| {
        s.store.google_per_minute = 10;
    })
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "paced", "source": {"states": ["NOT_YET_SENT"]}}),
        )
        .await,
    );

    let done = app.windows_until_completed(&clock, &id, 40).await;
    assert_eq!(done["counts"], json!({"sent": 30}), "{done}");
    let stats = app.stats().await;
    assert_eq!(stats["calls"]["send"], 30, "one send per person");
    assert_eq!(
        stats["calls"]["get"], 0,
        "no read for an item the budget held back"
    );
    assert_eq!(stats["quotaRejections"], 0);
}

#[tokio::test]
async fn a_paused_campaign_mails_nobody_until_it_is_resumed() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let starts = (start() + chrono::Duration::hours(1)).to_rfc3339();
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "later", "startAt": starts,
                   "source": {"emails": ["grace+hr@example.com", "donald@example.com"]}}),
        )
        .await,
    );
    assert_eq!(app.campaign(&id).await["state"], "scheduled");

    let paused = app.lifecycle(&id, "pause", &admin_token()).await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["state"], "paused");
    assert!(paused.body["eta"].is_null());
    clock.advance(Duration::from_secs(2 * 3600));
    app.worker_passes(2).await;
    assert_eq!(app.calls("send").await, 0, "paused: nobody is mailed");
    assert_eq!(app.campaign(&id).await["state"], "paused");

    let resumed = app.lifecycle(&id, "resume", &admin_token()).await;
    assert_eq!(resumed.body["state"], "running", "{}", resumed.body);
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(done["counts"], json!({"sent": 2}));
    assert_eq!(
        app.mails().await,
        json!({"donald@example.com": 1, "grace+hr@example.com": 1})
    );
    app.lifecycle(&id, "resume", &admin_token())
        .await
        .assert_problem(409, "campaign_state_conflict");
}

#[tokio::test]
async fn a_paused_scheduled_campaign_resumed_before_its_start_is_scheduled_and_mails_nobody_until_then()
 {
    resumed_before_its_start(None).await;
}

#[tokio::test]
async fn on_postgresql_a_paused_scheduled_campaign_resumed_before_its_start_waits_for_it() {
    crate::helpers::on_postgresql(|url| resumed_before_its_start(Some(url))).await;
}

/// A campaign for 2030, paused and resumed now, on the test's SQLite file or the PostgreSQL
/// database `url`.
async fn resumed_before_its_start(url: Option<String>) {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, on_database(url.as_deref())).await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "2030", "startAt": "2030-01-01T00:00:00Z",
                   "source": {"emails": ["grace+hr@example.com"]}}),
        )
        .await,
    );
    let paused = app.lifecycle(&id, "pause", &admin_token()).await;
    assert_eq!(paused.body["state"], "paused", "{}", paused.body);

    let resumed = app.lifecycle(&id, "resume", &admin_token()).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(resumed.body["state"], "scheduled", "{}", resumed.body);
    assert_eq!(resumed.body["startAt"], "2030-01-01T00:00:00.000Z");
    // A witness due now: once the worker has finished it, it has looked at the resumed
    // campaign too (due campaigns are taken oldest first), and left it alone.
    let witness = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "now", "source": {"emails": ["donald@example.com"]}}),
        )
        .await,
    );
    app.campaign_when(&witness, state_is("completed")).await;
    assert_eq!(app.mails().await, json!({"donald@example.com": 1}));
    assert_eq!(app.campaign(&id).await["state"], "scheduled");

    clock.advance(Duration::from_secs(
        u64::try_from((Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 1).unwrap() - start()).num_seconds())
            .expect("2030 is ahead"),
    ));
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(done["counts"], json!({"sent": 1}));
    assert_eq!(
        app.mails().await,
        json!({"donald@example.com": 1, "grace+hr@example.com": 1})
    );
}

const FIVE: [&str; 5] = [
    "grace+hr@example.com",
    "donald@example.com",
    "john@example.com",
    "dennis@example.com",
    "radia@example.com",
];

#[tokio::test]
async fn a_spent_daily_mail_budget_makes_a_campaign_wait_for_the_next_day_and_then_go_on() {
    waits_for_the_next_day(None).await;
}

#[tokio::test]
async fn on_postgresql_a_spent_daily_mail_budget_makes_a_campaign_wait_for_the_next_day() {
    crate::helpers::on_postgresql(|url| waits_for_the_next_day(Some(url))).await;
}

/// The budget test on the test's own SQLite file, or on the PostgreSQL database `url`.
async fn waits_for_the_next_day(url: Option<String>) {
    // One item at a time: items in flight when the budget runs out would stop before their
    // call and stay pending too, which makes the count depend on timing.
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.limits.daily_mails_per_caller = 2;
        s.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
        if let Some(url) = url {
            s.store.database_url = url.into();
        }
    })
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "budget", "source": {"emails": FIVE}}),
        )
        .await,
    );

    let waiting = app.campaign_when(&id, state_is("waiting")).await;
    assert_eq!(
        waiting["resumesAt"], "2026-12-02T00:00:00.000Z",
        "{waiting}"
    );
    // Two mails, the rest waits.
    let waiting = app
        .campaign_when(&id, |c| c["counts"]["pending"] == 3)
        .await;
    assert_eq!(waiting["counts"]["sent"], 2, "{waiting}");

    clock.advance(Duration::from_secs(14 * 3600));
    app.campaign_when(&id, |c| c["counts"]["sent"] == 4 && c["state"] == "waiting")
        .await;
    clock.advance(Duration::from_secs(24 * 3600));
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(done["counts"], json!({"sent": 5}));
    let mails = app.mails().await;
    assert!(FIVE.iter().all(|e| mails[e] == 1), "{mails}");
}

#[tokio::test]
async fn cancel_leaves_the_sent_mails_and_cancels_the_rest() {
    // One item at a time: items in flight when the budget runs out would stop before their
    // call and stay pending too, which makes the count depend on timing.
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.limits.daily_mails_per_caller = 2;
        s.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
    })
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "stop it", "source": {"emails": FIVE}}),
        )
        .await,
    );
    app.campaign_when(&id, |c| {
        c["state"] == "waiting" && c["counts"]["pending"] == 3
    })
    .await;

    let cancelled = app.lifecycle(&id, "cancel", &admin_token()).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(cancelled.body["counts"], json!({"sent": 2, "cancelled": 3}));
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    app.worker_passes(2).await;
    assert_eq!(app.calls("send").await, 2, "no mail after the cancel");
    assert_eq!(
        app.campaign(&id).await["counts"],
        json!({"sent": 2, "cancelled": 3})
    );
    app.lifecycle(&id, "cancel", &admin_token())
        .await
        .assert_problem(409, "campaign_state_conflict");
}

#[tokio::test]
async fn reminders_go_to_people_still_invited_after_the_pause_at_most_max_and_never_after_accepting()
 {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "remind", "reminders": {"afterHours": 1, "max": 2},
                   "source": {"emails": ["grace+hr@example.com", "donald@example.com"]}}),
        )
        .await,
    );
    let first = app.campaign_when(&id, |c| c["counts"]["sent"] == 2).await;
    assert_eq!(first["state"], "running", "reminders are left: {first}");
    app.control("accounts/accept", json!({"email": "donald@example.com"}))
        .await;

    clock.advance(Duration::from_secs(3600));
    let reminded = app
        .campaign_when(&id, |c| c["counts"]["accepted"] == 1)
        .await;
    assert_eq!(reminded["state"], "running", "{reminded}");
    let grace = eventually("grace gets her first reminder", || async {
        let items = app
            .get_as(
                &format!("/v1/campaigns/{id}/items?outcome=sent"),
                &admin_token(),
            )
            .await;
        let grace = items.body["items"][0].clone();
        if grace["mails"] == 2 {
            Ok(grace)
        } else {
            Err(grace.to_string())
        }
    })
    .await;
    assert_eq!(grace["email"], "grace+hr@example.com");
    assert_eq!(grace["mails"], 2, "the first reminder: {grace}");

    clock.advance(Duration::from_secs(3600));
    app.campaign_when(&id, state_is("completed")).await;
    clock.advance(Duration::from_secs(3 * 3600));
    app.worker_passes(2).await;
    assert_eq!(
        app.mails().await,
        json!({"donald@example.com": 1, "grace+hr@example.com": 3}),
        "one mail and two reminders at most; none after accepting"
    );
    // Every mail, reminders included, is in the store's audit trail: the campaign, the creator
    // as the caller, an intent completed with its outcome.
    let filter = invitation_gateway::store::AuditFilter {
        campaign_id: Some(id.clone()),
        ..Default::default()
    };
    let trail = app
        .state
        .store
        .list_audit(&filter, 100, None)
        .await
        .unwrap();
    assert_eq!(trail.events.len(), 4, "{:?}", trail.events);
    for event in &trail.events {
        assert_eq!(
            (event.action.as_str(), event.caller.sub.as_str()),
            ("send", CALLER)
        );
        assert_eq!(
            event
                .outcome
                .as_deref()
                .map(|o| o == "sent" || o == "resent"),
            Some(true),
            "{event:?}"
        );
    }
}

impl TestApp {
    /// POSTs `csv` as a roster (`text/csv`) with the campaign's fields in `query`.
    async fn create_roster(&self, token: &str, query: &str, csv: &str) -> Answer {
        let response = self
            .client
            .post(format!("{}/v1/campaigns/roster?{query}", self.address))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The emulator's count of calls per API method (not the token endpoint's).
    async fn api_calls(&self) -> Value {
        let stats = self.stats().await;
        json!({
            "get": stats["calls"]["get"], "isInvitableUser": stats["calls"]["isInvitableUser"],
            "list": stats["calls"]["list"], "send": stats["calls"]["send"]
        })
    }
}

/// HR's roster: an invalid address, a foreign domain, a duplicate (spelt differently), someone
/// who accepted (alan), someone invited (ada), an unmanaged account never mailed (grace) and an
/// address Google has no unmanaged account for (nobody).
const ROSTER: &str = "email,name\r\nnot an address,X\r\nx@other.org,Y\r\nada@example.com,Ada\r\n\
    ada@EXAMPLE.com,Ada again\r\nalan@example.com,Alan\r\ngrace+hr@example.com,Grace\r\n\
    nobody@example.com,Nobody\r\n";

#[tokio::test]
async fn a_dry_run_over_a_roster_classifies_every_address_and_mails_nobody_then_the_real_run_mails_who_it_said()
 {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.allowed_domains = vec!["example.com".into()]
    })
    .await;
    let checker = token(&[Scope::Check, Scope::Read]);
    let id = id_of(
        &app.create_roster(&checker, "name=what%20if&dryRun=true", ROSTER)
            .await,
    );
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(
        done["counts"],
        json!({"skipped": 3, "already_invited": 1, "already_accepted": 1, "would_send": 1, "not_eligible": 1}),
        "{done}"
    );
    assert_eq!(done["dryRun"], true);
    assert_eq!(app.mails().await, json!({}), "a dry run mails nobody");
    // A roster item costs a get, and an isInvitableUser when Google has no invitation.
    assert_eq!(
        app.api_calls().await,
        json!({"get": 4, "isInvitableUser": 1, "list": 0, "send": 0})
    );
    assert_eq!(done["googleCalls"], 5, "{done}");
    let skipped = app
        .get_as(
            &format!("/v1/campaigns/{id}/items?outcome=skipped"),
            &checker,
        )
        .await;
    let reasons: Vec<&str> = skipped.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["invalid_email", "domain_not_allowed", "duplicate"]
    );
    let would = app
        .get_as(
            &format!("/v1/campaigns/{id}/items?outcome=would_send"),
            &checker,
        )
        .await;
    assert_eq!(would.body["items"][0]["email"], "grace+hr@example.com");

    // The real run on the same roster mails exactly the one the dry run named.
    let real = id_of(
        &app.create_roster(&admin_token(), "name=wave%201", ROSTER)
            .await,
    );
    let done = app.campaign_when(&real, state_is("completed")).await;
    assert_eq!(
        done["counts"],
        json!({"skipped": 3, "already_invited": 1, "already_accepted": 1, "sent": 1, "not_eligible": 1}),
        "{done}"
    );
    assert_eq!(app.mails().await, json!({"grace+hr@example.com": 1}));
    assert_eq!(
        app.api_calls().await,
        json!({"get": 8, "isInvitableUser": 1, "list": 0, "send": 1}),
        "the same reads again (nobody's eligibility still cached from the dry run), one send"
    );
    assert_eq!(done["googleCalls"], 5, "{done}");
}

#[tokio::test]
async fn a_campaign_that_resends_mails_the_invited_again_and_says_resent() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let before = app.stats().await["mailsSent"]["ada@example.com"]
        .as_u64()
        .unwrap_or_default();
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "again", "resend": true,
                   "source": {"emails": ["ada@example.com", "alan@example.com"]}}),
        )
        .await,
    );
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(done["resend"], true);
    assert_eq!(
        done["counts"],
        json!({"resent": 1, "already_accepted": 1}),
        "{done}"
    );
    assert_eq!(
        app.stats().await["mailsSent"]["ada@example.com"],
        before + 1,
        "one more mail"
    );
    assert_eq!(app.calls("send").await, 1, "nobody else");
}

#[tokio::test]
async fn a_campaign_is_its_creators_and_other_callers_get_404_unless_campaigns_admin() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let owner = token(&[Scope::Send, Scope::Read]);
    let id = id_of(
        &app.create_campaign(
            &token(&[Scope::Check, Scope::Send]),
            json!({"name": "mine", "source": {"emails": ["grace+hr@example.com"]}}),
        )
        .await,
    );
    assert_eq!(
        app.get_as(&format!("/v1/campaigns/{id}"), &owner)
            .await
            .status,
        200
    );

    let other = token_for("someone-else", &[Scope::Send, Scope::Read]);
    app.get_as(&format!("/v1/campaigns/{id}"), &other)
        .await
        .assert_problem(404, "not_found");
    app.lifecycle(&id, "cancel", &other)
        .await
        .assert_problem(404, "not_found");
    app.get_as(&format!("/v1/campaigns/{id}/items"), &other)
        .await
        .assert_problem(404, "not_found");
    let theirs = app.get_as("/v1/campaigns", &other).await;
    assert_eq!(theirs.body["campaigns"], json!([]));

    let auditor = token_for("auditor", &[Scope::Read, Scope::CampaignsAdmin]);
    let seen = app.get_as(&format!("/v1/campaigns/{id}"), &auditor).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["owner"]["sub"], CALLER);
    assert_eq!(
        app.get_as("/v1/campaigns", &auditor).await.body["campaigns"][0]["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn bad_campaign_requests_are_refused_with_a_problem_and_create_nothing() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let all = admin_token();
    for body in [
        json!({"name": "x", "source": {"states": ["NOT_YET_SENT"], "emails": ["a@example.com"]}}),
        json!({"name": "x", "source": {}}),
        json!({"name": "x", "source": {"states": ["invited"]}}),
        json!({"name": "", "source": {"emails": ["a@example.com"]}}),
        json!({"name": "x", "source": {"emails": []}}),
        json!({"name": "x", "source": {"emails": ["a@example.com"]}, "color": "red"}),
        json!({"name": "x", "source": {"emails": ["a@example.com"]}, "reminders": {"afterHours": 0}}),
        json!({"name": "x", "source": {"emails": ["a@example.com"]}, "reminders": {"max": 11}}),
        json!({"name": "x", "source": {"emails": (0..10_001).map(|i| format!("p{i}@example.com")).collect::<Vec<_>>()}}),
    ] {
        app.create_campaign(&all, body.clone())
            .await
            .assert_problem(400, "invalid_request");
    }
    app.create_campaign(
        &token(&[Scope::Check]),
        json!({"name": "x", "source": {"emails": ["a@example.com"]}}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    let plain = app
        .client
        .post(format!("{}/v1/campaigns", app.address))
        .bearer_auth(&all)
        .header("content-type", "text/plain")
        .body("a@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    app.get_as("/v1/campaigns?pageSize=0", &all)
        .await
        .assert_problem(400, "invalid_query");
    let bogus = app
        .get_as(
            "/v1/campaigns/nope/items?outcome=secret.person%40example.com",
            &all,
        )
        .await;
    bogus.assert_problem(400, "invalid_query");
    assert!(
        !bogus.body.to_string().contains("secret"),
        "the query is not echoed: {}",
        bogus.body
    );
    app.get_as("/v1/campaigns/nope", &all)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get_as("/v1/campaigns", &all).await.body["campaigns"],
        json!([])
    );
}

#[tokio::test]
async fn every_campaign_mail_reaches_the_audit_file_with_its_campaign_and_creator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let (app, _clock) =
        spawn_app_at(start(), Seed::Demo, |s| s.audit.file = Some(file.clone())).await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "audited", "source": {"emails": FIVE}}),
        )
        .await,
    );
    let done = app.campaign_when(&id, state_is("completed")).await;
    let sent = done["counts"]["sent"].as_u64().unwrap_or_default();
    assert!(sent > 0, "{done}");

    let records: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mails: Vec<&Value> = records.iter().filter(|r| r["outcome"] == "sent").collect();
    assert_eq!(mails.len() as u64, sent, "one record per mail: {records:?}");
    for record in &mails {
        assert_eq!(record["action"], "send");
        assert_eq!(record["campaign_id"], id.as_str());
        assert_eq!(record["request_id"], id.as_str());
        assert_eq!(record["route"], "campaign worker");
        assert!(record["idempotency_key"].is_null(), "{record}");
        assert_eq!(record["caller_sub"], CALLER, "the creator is the caller");
        assert_eq!(record["caller_iss"], "invitation-gateway");
        assert_eq!(record["google_status"], 200);
    }
    let mailed = app.mails().await;
    for (email, count) in mailed.as_object().unwrap() {
        assert_eq!(count, 1);
        assert!(
            mails.iter().any(|r| r["email"] == email.as_str()),
            "{email} was mailed and audited"
        );
    }
}

#[tokio::test]
async fn a_campaign_waits_without_mailing_while_the_audit_file_cannot_take_records() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.audit.file = Some("/dev/full".into());
        // One mail at a time, so the write that finds the disk full comes before the next.
        s.invitations.batch_concurrency = std::num::NonZeroUsize::MIN;
    })
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "unaudited", "source": {"emails": FIVE}}),
        )
        .await,
    );
    let held = app.campaign_when(&id, state_is("waiting")).await;

    // The file refuses from its first write: no mail goes out unrecorded (at most the one
    // whose record was the write that found the disk full, as for a request).
    let mails = app.mails().await;
    assert!(mails.as_object().unwrap().len() <= 1, "{mails}");
    assert!(held["resumesAt"].is_string(), "{held}");
    assert!(
        held["counts"].get("failed").is_none(),
        "items wait, they do not fail: {held}"
    );
}

#[tokio::test]
async fn a_campaigns_google_calls_are_counted_as_its_items_finish() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    // One send is slow: the other items of the same batch finish long before it.
    app.control(
        "faults",
        json!({"method": "send", "count": 1, "latencyMs": 1500}),
    )
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "counted", "source": {"emails": FIVE}}),
        )
        .await,
    );
    let midway = app
        .campaign_when(&id, |c| c["counts"]["sent"].as_u64() == Some(4))
        .await;
    assert_eq!(midway["state"], "running", "{midway}");
    assert!(midway["eta"].is_string(), "work is left: {midway}");
    assert!(
        midway["googleCalls"].as_u64().unwrap_or_default() >= 8,
        "a read and a send for each of the four done: {midway}"
    );
    let done = app.campaign_when(&id, state_is("completed")).await;
    let stats = app.stats().await;
    let calls: u64 = ["get", "isInvitableUser", "list", "send"]
        .iter()
        .filter_map(|method| stats["calls"][method].as_u64())
        .sum();
    assert_eq!(
        done["googleCalls"], calls,
        "every API call Google saw: {stats}"
    );
}

/// The contract of `POST /v1/campaigns`: a real run needs `invitations.send`, a dry run
/// `invitations.check`; each scope alone is enough for its own kind, and refused for the other.
#[tokio::test]
async fn a_real_run_needs_the_send_scope_and_a_dry_run_the_check_scope() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let real = json!({"name": "real", "startAt": "2099-01-01T00:00:00Z",
                      "source": {"emails": ["ada@example.com"]}});
    let dry = json!({"name": "dry", "dryRun": true, "source": {"emails": ["ada@example.com"]}});
    let sender = token(&[Scope::Send]);
    let checker = token(&[Scope::Check]);

    let refused = app.create_campaign(&checker, real.clone()).await;
    refused.assert_problem(403, "insufficient_scope");
    assert_eq!(
        refused.headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="invitations.send""#
    );
    let refused = app.create_campaign(&sender, dry.clone()).await;
    refused.assert_problem(403, "insufficient_scope");
    assert_eq!(
        refused.headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="invitations.check""#
    );
    let neither = app
        .create_campaign(&token(&[Scope::Read]), dry.clone())
        .await;
    neither.assert_problem(403, "insufficient_scope");
    assert_eq!(
        neither.headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="invitations.send invitations.check""#
    );
    let all = admin_token();
    assert_eq!(
        app.get_as("/v1/campaigns", &all).await.body["campaigns"],
        json!([]),
        "a refused create leaves nothing"
    );

    let created = app.create_campaign(&sender, real).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["dryRun"], false);
    let created = app.create_campaign(&checker, dry).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["dryRun"], true);
}

#[tokio::test]
async fn a_send_that_prefers_respond_async_becomes_a_campaign() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let answer = app
        .client
        .post(format!("{}/v1/invitations/send", app.address))
        .bearer_auth(admin_token())
        .header("prefer", "respond-async")
        .json(&json!({"emails": ["grace+hr@example.com", "ada@example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.headers()["preference-applied"], "respond-async");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let id = location.trim_start_matches("/v1/campaigns/").to_owned();
    let done = app.campaign_when(&id, state_is("completed")).await;
    assert_eq!(done["counts"], json!({"sent": 1, "already_invited": 1}));
    assert_eq!(done["source"]["kind"], "emails");
}

#[tokio::test]
async fn a_roster_streamed_as_csv_becomes_items_and_its_report_lists_every_one() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let mut csv = String::from("name,email,team\r\n");
    for i in 0..1498 {
        csv.push_str(&format!("Person {i},bad{i},x\r\n"));
    }
    csv.push_str("\"Hopper, Grace\",grace+hr@example.com,hr\r\nAda,ada@example.com,eng\r\n");
    // Sent in small pieces: the gateway reads the rows as they come.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        csv.as_bytes().chunks(97).map(|c| Ok(c.to_vec())).collect();
    let answer = app
        .client
        .post(format!(
            "{}/v1/campaigns/roster?name=roster&dryRun=true",
            app.address
        ))
        .bearer_auth(admin_token())
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let created: Value = answer.json().await.unwrap();
    assert_eq!(created["source"]["kind"], "roster");
    assert_eq!(created["total"], 1500);
    let id = created["id"].as_str().unwrap();
    let done = app.campaign_when(id, state_is("completed")).await;
    assert_eq!(
        done["counts"],
        json!({"skipped": 1498, "would_send": 1, "already_invited": 1})
    );

    let report = app
        .client
        .get(format!("{}/v1/campaigns/{id}/report", app.address))
        .bearer_auth(admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(report.headers()["content-type"], "text/csv; charset=utf-8");
    let text = report.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "email,outcome,reason,mails,lastMailAt,updatedAt,row,name,team"
    );
    assert_eq!(lines.len(), 1501);
    assert!(
        lines[1].starts_with("bad0,skipped,invalid_email,0,,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1500].starts_with("ada@example.com,already_invited,,0,,"),
        "{}",
        lines[1500]
    );
    let ndjson = app
        .client
        .get(format!("{}/v1/campaigns/{id}/report", app.address))
        .bearer_auth(admin_token())
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ndjson.lines().count(), 1500);

    let missing = app
        .client
        .post(format!(
            "{}/v1/campaigns/roster?name=roster&dryRun=true",
            app.address
        ))
        .bearer_auth(admin_token())
        .header("content-type", "text/csv")
        .body("name,mail\r\nAda,ada@example.com\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(
        app.get_as("/v1/campaigns", &admin_token()).await.body["campaigns"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused roster left nothing"
    );
}

#[tokio::test]
async fn a_google_outage_makes_a_campaign_wait_without_failing_its_items() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    app.control(
        "faults",
        json!({"method": "get", "status": 503, "count": 100000}),
    )
    .await;
    let id = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "outage", "source": {"emails": ["grace+hr@example.com", "donald@example.com"]}}),
        )
        .await,
    );

    let waiting = app.campaign_when(&id, state_is("waiting")).await;
    let resumes: DateTime<Utc> = waiting["resumesAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("resumesAt while waiting");
    assert!(resumes > start(), "{waiting}");
    let waiting = app
        .campaign_when(&id, |c| c["counts"]["pending"] == 2)
        .await;
    assert_eq!(
        waiting["counts"],
        json!({"pending": 2}),
        "nothing failed: {waiting}"
    );

    let cleared = app
        .client
        .delete(format!("{}/emulator/v1/faults", app.google.emulator.url()))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    clock.advance((resumes - start()).to_std().unwrap());
    // A call refused by the breaker while its probe runs holds the campaign again, briefly:
    // each look moves the clock on by a second.
    let done = eventually("the campaign completes once Google is back", || async {
        let campaign = app.campaign(&id).await;
        if campaign["state"] == "completed" {
            return Ok(campaign);
        }
        clock.advance(Duration::from_secs(1));
        Err(campaign.to_string())
    })
    .await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["counts"], json!({"sent": 2}));
}

impl TestApp {
    /// The campaign's report as `accept` (`text/csv` or `application/x-ndjson`).
    async fn report(&self, id: &str, accept: &str) -> String {
        let response = self
            .client
            .get(format!("{}/v1/campaigns/{id}/report", self.address))
            .bearer_auth(admin_token())
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

#[tokio::test]
async fn a_report_neutralises_roster_values_a_spreadsheet_would_read_as_formulas() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let formulas = [
        "=HYPERLINK(\"http://evil.example\",\"a\")",
        "+SUM(1+1)",
        "@SUM(1)",
        "-2+3+cmd|' /C calc'!A0",
        "=1+1@example.com",
    ];
    let mut roster = String::from("email\r\n");
    for value in formulas {
        roster.push_str(&format!("\"{}\"\r\n", value.replace('"', "\"\"")));
    }
    let id = id_of(
        &app.create_roster(&admin_token(), "dryRun=true", &roster)
            .await,
    );
    app.campaign_when(&id, state_is("completed")).await;

    let records = csv_records(&app.report(&id, "text/csv").await);
    let mut emails: Vec<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
    emails.sort_unstable();
    let mut expected: Vec<String> = formulas.iter().map(|f| format!("'{f}")).collect();
    expected.sort_unstable();
    assert_eq!(emails, expected);
    // NDJSON keeps the values as they are.
    let kept = ndjson_emails(&app.report(&id, "application/x-ndjson").await);
    let mut expected: Vec<String> = formulas.iter().map(|f| (*f).to_owned()).collect();
    expected.sort_unstable();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn rosters_as_people_save_them_import_semicolon_and_tab_files_and_the_usual_header_spellings()
{
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    for (csv, separated) in [
        // Excel in most of Europe, with its byte order mark, and Google's own user CSV header.
        (
            "\u{feff}First Name [Required];\"Email Address [Required]\";Employee ID\r\n\
             Ada;ada@example.com;E1\r\nGrace;grace+hr@example.com;E2\r\nX;not an address;E3\r\n",
            "semicolon",
        ),
        (
            "name\tE-mail\nAda\tada@example.com\nGrace\tgrace+hr@example.com\nX\tnot an address\n",
            "tab",
        ),
        (
            "Email Address,name\r\nada@example.com,\"Lovelace; Ada\"\r\ngrace+hr@example.com,G\r\n\
             not an address,X\r\n",
            "comma",
        ),
    ] {
        let created = app.create_roster(&admin_token(), "dryRun=true", csv).await;
        let id = id_of(&created);
        assert_eq!(created.body["total"], 3, "{separated}: {}", created.body);
        let done = app.campaign_when(&id, state_is("completed")).await;
        assert_eq!(
            done["counts"],
            json!({"already_invited": 1, "would_send": 1, "skipped": 1}),
            "{separated}"
        );
    }
}

#[tokio::test]
async fn a_roster_without_an_email_column_is_refused_naming_the_columns_found() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let answer = app
        .create_roster(
            &admin_token(),
            "",
            "Name;Mail;Team\r\nAda;ada@example.com;eng\r\n",
        )
        .await;
    answer.assert_problem(400, "invalid_request");
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("semicolon-separated") && detail.contains(r#""Name", "Mail", "Team""#),
        "{detail}"
    );
    // A roster without a header: its first row is data, and its address is not repeated.
    let answer = app
        .create_roster(&admin_token(), "", "ada@example.com,Ada\r\n")
        .await;
    answer.assert_problem(400, "invalid_request");
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("(an address)") && !detail.contains("ada@"),
        "{detail}"
    );
    assert_eq!(
        app.get_as("/v1/campaigns", &admin_token()).await.body["campaigns"],
        json!([])
    );
}

#[tokio::test]
async fn a_report_joins_back_to_the_roster_with_row_numbers_and_its_other_columns() {
    report_joins_back(None).await;
}

#[tokio::test]
async fn on_postgresql_a_report_joins_back_to_the_roster() {
    crate::helpers::on_postgresql(|url| report_joins_back(Some(url))).await;
}

/// A roster with other columns (formulas among their values, a password column, a value over
/// two lines, a blank line, a duplicate) on SQLite or on the PostgreSQL database `url`.
async fn report_joins_back(url: Option<String>) {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, on_database(url.as_deref())).await;
    let roster = "employee_id;email;Password;notes;\r\n\
        E1;ada@example.com;secret1;\"=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\";\r\n\
        \r\n\
        E2;grace+hr@example.com;secret2;\"two\r\nlines\";\r\n\
        E3;not an address;;\t=1+1;\r\n\
        E4;ADA@example.com;;\"\r=2\";\r\n\
        E5;radia@example.com;;+1;\r\n\
        E6;john@example.com;;-1;\r\n\
        E7;donald@example.com;;@x;\r\n";
    let id = id_of(
        &app.create_roster(&admin_token(), "dryRun=true", roster)
            .await,
    );
    app.campaign_when(&id, state_is("completed")).await;

    // CSV: the fixed columns, the row, then the roster's other named columns (no password).
    let records = csv_records(&app.report(&id, "text/csv").await);
    assert_eq!(
        records[0],
        [
            "email",
            "outcome",
            "reason",
            "mails",
            "lastMailAt",
            "updatedAt",
            "row",
            "employee_id",
            "notes"
        ]
    );
    let mut joined: Vec<(String, String, String, String)> = records[1..]
        .iter()
        .map(|r| (r[6].clone(), r[7].clone(), r[0].clone(), r[8].clone()))
        .collect();
    joined.sort_unstable();
    let expected: Vec<(String, String, String, String)> = [
        (
            "2",
            "E1",
            "ada@example.com",
            "'=HYPERLINK(\"http://x\",\"a\")",
        ),
        ("4", "E2", "grace+hr@example.com", "two\r\nlines"),
        ("5", "E3", "not an address", "'\t=1+1"),
        ("6", "E4", "ADA@example.com", "'\r=2"),
        ("7", "E5", "radia@example.com", "'+1"),
        ("8", "E6", "john@example.com", "'-1"),
        ("9", "E7", "donald@example.com", "'@x"),
    ]
    .iter()
    .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
    .collect();
    assert_eq!(joined, expected);
    let report = app.report(&id, "text/csv").await;
    assert!(
        !report.contains("secret"),
        "a password column is never kept"
    );

    // NDJSON and the items API: `row` and `columns` by name, values as they were.
    let ndjson = app.report(&id, "application/x-ndjson").await;
    let items: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listed = app
        .get_as(&format!("/v1/campaigns/{id}/items"), &admin_token())
        .await
        .body["items"]
        .clone();
    for items in [json!(items), listed] {
        let e4 = items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["row"] == 6)
            .expect("row 6");
        assert_eq!(e4["columns"], json!({"employee_id": "E4", "notes": "\r=2"}));
        assert_eq!(e4["reason"], "duplicate");
        assert_eq!(items.as_array().unwrap().len(), 7);
    }
    // A campaign without a roster has neither.
    let plain = id_of(
        &app.create_campaign(
            &admin_token(),
            json!({"name": "p", "dryRun": true,
            "source": {"emails": ["ada@example.com"]}}),
        )
        .await,
    );
    app.campaign_when(&plain, state_is("completed")).await;
    let item = &app
        .get_as(&format!("/v1/campaigns/{plain}/items"), &admin_token())
        .await
        .body["items"][0];
    assert!(
        item.get("row").is_none() && item.get("columns").is_none(),
        "{item}"
    );
}

#[tokio::test]
async fn a_roster_row_whose_other_columns_are_too_large_is_refused_and_only_64_columns_are_kept() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let big = "x".repeat(2050);
    let answer = app
        .create_roster(
            &admin_token(),
            "dryRun=true",
            &format!("email,a,b\r\nada@example.com,a,b\r\ngrace+hr@example.com,{big},{big}\r\n"),
        )
        .await;
    answer.assert_problem(400, "invalid_request");
    assert_eq!(
        answer.body["detail"],
        "roster: row 3: its other columns hold more than 4096 bytes."
    );

    let names: Vec<String> = (0..70).map(|i| format!("c{i}")).collect();
    let roster = format!(
        "email,{}\r\nada@example.com,{}\r\n",
        names.join(","),
        names.join(",")
    );
    let id = id_of(
        &app.create_roster(&admin_token(), "dryRun=true", &roster)
            .await,
    );
    app.campaign_when(&id, state_is("completed")).await;
    let records = csv_records(&app.report(&id, "text/csv").await);
    assert_eq!(records[0].len(), 7 + 64, "{:?}", records[0]);
    assert_eq!(records[0][7 + 63], "c63");
    assert_eq!(records[1][7 + 63], "c63");
}

#[tokio::test]
async fn a_roster_is_its_own_operation_and_the_old_csv_create_still_works_marked_deprecated() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.allowed_domains = vec!["example.com".into()]
    })
    .await;
    let checker = token(&[Scope::Check, Scope::Read]);
    let current = app
        .create_roster(&checker, "name=current&dryRun=true", ROSTER)
        .await;
    assert!(current.headers.get("deprecation").is_none(), "{current:?}");
    let old = app
        .client
        .post(format!("{}/v1/campaigns?name=old&dryRun=true", app.address))
        .bearer_auth(&checker)
        .header("content-type", "text/csv")
        .body(ROSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 201);
    assert_eq!(old.headers()["deprecation"], "true");
    assert_eq!(
        old.headers()["link"],
        "</v1/campaigns/roster>; rel=\"successor-version\""
    );
    let old: Value = old.json().await.unwrap();
    let current = app
        .campaign_when(&id_of(&current), state_is("completed"))
        .await;
    let old = app
        .campaign_when(old["id"].as_str().unwrap(), state_is("completed"))
        .await;
    assert_eq!(old["counts"], current["counts"], "the same code reads both");

    // The roster operation takes a roster only, and refuses anything else before the store.
    let json = app
        .client
        .post(format!("{}/v1/campaigns/roster", app.address))
        .bearer_auth(&checker)
        .json(&json!({"name": "x", "source": {"emails": ["a@example.com"]}, "dryRun": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);
    let listed = app.get_as("/v1/campaigns", &checker).await;
    assert_eq!(listed.body["campaigns"].as_array().unwrap().len(), 2);

    // The document gives each operation one request shape.
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let create = &doc["paths"]["/v1/campaigns"]["post"];
    assert_eq!(
        create["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["application/json"]
    );
    assert!(
        create["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "header"),
        "the JSON create takes no query parameters"
    );
    let roster = &doc["paths"]["/v1/campaigns/roster"]["post"];
    assert_eq!(
        roster["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["text/csv"]
    );
    let query: Vec<&str> = roster["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        query,
        [
            "name",
            "resend",
            "dryRun",
            "checkUnlisted",
            "startAt",
            "reminderAfterHours",
            "reminderMax",
            "deadline",
            "atDeadline"
        ]
    );
}
