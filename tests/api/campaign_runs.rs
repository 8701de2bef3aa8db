//! `POST /v1/campaigns/{id}/run`: a completed dry run becomes the real run of exactly its
//! `would_send` people, with their roster rows, once per Idempotency-Key; the emulator counts
//! the mails. The store is on a manual clock (a dry run goes stale by moving it).

use crate::helpers::{
    Answer, TestApp, admin_token, campaign_when, csv_records, on_database, spawn_app_at, token,
    token_for,
};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use serde_json::{Value, json};
use std::time::Duration;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// HR's roster (rows 2 to 8): an invalid address, a foreign domain, someone invited (ada), a
/// duplicate, someone who accepted (alan), an unmanaged account never mailed (grace, row 7)
/// and an address Google has no unmanaged account for.
const ROSTER: &str = "email,name\r\nnot an address,X\r\nx@other.org,Y\r\nada@example.com,Ada\r\n\
    ada@EXAMPLE.com,Ada again\r\nalan@example.com,Alan\r\ngrace+hr@example.com,Grace\r\n\
    nobody@example.com,Nobody\r\n";

impl TestApp {
    /// A completed dry run of [`ROSTER`] by the test caller; answers its id.
    async fn completed_dry_run(&self) -> String {
        let response = self
            .client
            .post(format!(
                "{}/v1/campaigns/roster?name=wave&dryRun=true",
                self.address
            ))
            .bearer_auth(admin_token())
            .header("content-type", "text/csv")
            .body(ROSTER)
            .send()
            .await
            .unwrap();
        let created = Answer::read(response).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let done = campaign_when(&self.address, &id, |c| c["state"] == "completed").await;
        assert_eq!(done["counts"]["would_send"], 1, "{done}");
        id
    }

    /// `POST /v1/campaigns/{id}/run` with `body` (none when Null) and an optional key.
    async fn run(&self, id: &str, tok: &str, key: Option<&str>, body: Value) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/v1/campaigns/{id}/run", self.address))
            .bearer_auth(tok);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    async fn mails_sent(&self) -> Value {
        self.stats().await["mailsSent"].clone()
    }
}

#[tokio::test]
async fn a_dry_run_run_mails_exactly_its_would_send_people_once_keeping_their_roster_rows() {
    runs_its_would_send_people(None).await;
}

#[tokio::test]
async fn on_postgresql_a_dry_run_run_mails_exactly_its_would_send_people_once() {
    crate::helpers::on_postgresql(|url| runs_its_would_send_people(Some(url))).await;
}

async fn runs_its_would_send_people(url: Option<String>) {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.allowed_domains = vec!["example.com".into()];
        on_database(url.as_deref())(s);
    })
    .await;
    let dry = app.completed_dry_run().await;
    assert_eq!(app.mails_sent().await, json!({}));

    // Four concurrent POSTs with one key: one campaign, the same answer four times.
    let admin = admin_token();
    let answers = futures_util::future::join_all(
        (0..4).map(|_| app.run(&dry, &admin, Some("run-1"), json!({"name": "wave 1"}))),
    )
    .await;
    let mut ids: Vec<String> = Vec::new();
    for answer in &answers {
        if answer.status == 409 {
            answer.assert_problem(409, "idempotency_key_in_progress");
            continue;
        }
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(answer.body["fromDryRun"], dry.as_str(), "{}", answer.body);
        assert_eq!(answer.body["dryRun"], false);
        assert_eq!(answer.body["name"], "wave 1");
        assert_eq!(answer.body["source"]["kind"], "roster");
        let id = answer.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            answer.headers["location"],
            format!("/v1/campaigns/{id}").as_str()
        );
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one campaign for one key: {answers:?}");
    let real = ids.remove(0);
    let done = campaign_when(&app.address, &real, |c| c["state"] == "completed").await;
    assert_eq!(done["counts"], json!({"sent": 1}), "{done}");
    assert_eq!(app.mails_sent().await, json!({"grace+hr@example.com": 1}));
    let replay = app
        .run(&dry, &admin, Some("run-1"), json!({"name": "wave 1"}))
        .await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.body["id"], real.as_str());
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let reused = app
        .run(&dry, &admin, Some("run-1"), json!({"name": "other"}))
        .await;
    reused.assert_problem(422, "idempotency_key_reused");

    // The real run's items and report keep the roster's row numbers and columns.
    let items = app
        .get_as(&format!("/v1/campaigns/{real}/items"), &admin)
        .await;
    assert_eq!(
        items.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        items.body
    );
    let grace = &items.body["items"][0];
    assert_eq!(
        (
            &grace["email"],
            &grace["row"],
            &grace["columns"],
            &grace["mails"]
        ),
        (
            &json!("grace+hr@example.com"),
            &json!(7),
            &json!({"name": "Grace"}),
            &json!(1)
        ),
        "{grace}"
    );
    let report = app
        .client
        .get(format!("{}/v1/campaigns/{real}/report", app.address))
        .bearer_auth(&admin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let records = csv_records(&report);
    assert_eq!(records[0][6], "row");
    assert_eq!(records.len(), 2, "{report}");
    assert_eq!(
        (records[1][0].as_str(), records[1][6].as_str()),
        ("grace+hr@example.com", "7")
    );

    // Without a key, two POSTs make two campaigns, and still nobody is mailed twice: each
    // person is read under the ledger's claim first, and grace is INVITED now.
    let second = app.run(&dry, &admin, None, Value::Null).await;
    let third = app.run(&dry, &admin, None, Value::Null).await;
    for answer in [&second, &third] {
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_ne!(answer.body["id"], real.as_str());
        let id = answer.body["id"].as_str().unwrap();
        let done = campaign_when(&app.address, id, |c| c["state"] == "completed").await;
        assert_eq!(done["counts"], json!({"already_invited": 1}), "{done}");
    }
    assert_ne!(second.body["id"], third.body["id"]);
    assert_eq!(app.mails_sent().await, json!({"grace+hr@example.com": 1}));
}

#[tokio::test]
async fn a_run_is_refused_unless_it_is_a_fresh_completed_dry_run_of_the_caller() {
    let (app, clock) = spawn_app_at(start(), Seed::Demo, |s| {
        s.allowed_domains = vec!["example.com".into()];
    })
    .await;
    let admin = admin_token();
    let dry = app.completed_dry_run().await;

    // Not found, another caller's, the check scope only, a bad body: nothing created.
    app.run("nope", &admin, None, json!({}))
        .await
        .assert_problem(404, "not_found");
    let stranger = token_for("someone-else", &[Scope::Send, Scope::Read]);
    app.run(&dry, &stranger, None, json!({}))
        .await
        .assert_problem(404, "not_found");
    let checker = token(&[Scope::Check, Scope::Read]);
    assert_eq!(app.run(&dry, &checker, None, json!({})).await.status, 403);
    app.run(&dry, &admin, None, json!({"dryRun": true}))
        .await
        .assert_problem(400, "invalid_request");
    app.run(
        &dry,
        &admin,
        None,
        json!({"deadline": "2026-12-01T09:00:00Z"}),
    )
    .await
    .assert_problem(400, "invalid_request");

    // A real campaign is not a dry run; a scheduled dry run is not completed.
    let real = app
        .post_json(
            "/v1/campaigns",
            &admin,
            json!({"name": "real", "source": {"emails": ["grace+hr@example.com"]},
                   "startAt": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let real = real.body["id"].as_str().unwrap().to_owned();
    app.run(&real, &admin, None, json!({}))
        .await
        .assert_problem(409, "campaign_state_conflict");
    let later = app
        .post_json(
            "/v1/campaigns",
            &admin,
            json!({"name": "later", "dryRun": true, "source": {"emails": ["grace+hr@example.com"]},
                   "startAt": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let later = later.body["id"].as_str().unwrap().to_owned();
    app.run(&later, &admin, None, json!({}))
        .await
        .assert_problem(409, "campaign_state_conflict");

    // Older than GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS (24) since it completed: stale.
    clock.advance(Duration::from_secs(25 * 3600));
    app.run(&dry, &admin, None, json!({}))
        .await
        .assert_problem(409, "dry_run_stale");
    assert_eq!(app.mails_sent().await, json!({}), "nobody was mailed");
    let list = app.get_as("/v1/campaigns", &admin).await;
    assert_eq!(
        list.body["campaigns"].as_array().unwrap().len(),
        3,
        "{}",
        list.body
    );
}

#[tokio::test]
async fn a_deadline_not_after_the_start_and_the_last_reminder_or_on_a_dry_run_is_refused() {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, |_| {}).await;
    let admin = admin_token();
    let emails = json!({"emails": ["grace+hr@example.com"]});
    for (body, says) in [
        (
            json!({"name": "a", "source": emails, "deadline": "2026-12-01T09:00:00Z"}),
            "startAt",
        ),
        (
            json!({"name": "a", "source": emails, "startAt": "2026-12-02T00:00:00Z",
                   "deadline": "2026-12-02T00:00:00Z"}),
            "startAt",
        ),
        (
            json!({"name": "a", "source": emails, "reminders": {"afterHours": 24, "max": 2},
                   "deadline": "2026-12-02T12:00:00Z"}),
            "last reminder",
        ),
        (
            json!({"name": "a", "source": emails, "dryRun": true,
                   "deadline": "2026-12-20T00:00:00Z"}),
            "dry run",
        ),
        (
            json!({"name": "a", "source": emails, "atDeadline": "cancel"}),
            "needs a deadline",
        ),
        (
            json!({"name": "a", "source": emails, "atDeadline": "later",
                "deadline": "2026-12-20T00:00:00Z"}),
            "",
        ),
        (
            json!({"name": "a", "source": emails, "deadline": "soon"}),
            "",
        ),
    ] {
        let answer = app.post_json("/v1/campaigns", &admin, body.clone()).await;
        answer.assert_problem(400, "invalid_request");
        assert!(
            answer.body["detail"].as_str().unwrap().contains(says),
            "{body}: {}",
            answer.body
        );
    }
    let roster = app
        .client
        .post(format!(
            "{}/v1/campaigns/roster?deadline=2026-12-01T09:00:00Z",
            app.address
        ))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("email\r\ngrace+hr@example.com\r\n")
        .send()
        .await
        .unwrap();
    Answer::read(roster)
        .await
        .assert_problem(400, "invalid_request");
    let list = app.get_as("/v1/campaigns", &admin).await;
    assert_eq!(list.body["campaigns"], json!([]), "nothing was created");

    // One after the last reminder is taken, and shown.
    let ok = app
        .post_json(
            "/v1/campaigns",
            &admin,
            json!({"name": "a", "source": emails, "reminders": {"afterHours": 24, "max": 2},
                   "deadline": "2026-12-03T10:00:01Z", "atDeadline": "cancel"}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(
        (
            &ok.body["deadline"],
            &ok.body["atDeadline"],
            &ok.body["deadlineReachedAt"]
        ),
        (
            &json!("2026-12-03T10:00:01.000Z"),
            &json!("cancel"),
            &Value::Null
        )
    );
}
