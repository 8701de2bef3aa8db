//! Archiving finished dry runs, and one person's whole story (`POST /v1/people/lookup`), through
//! the HTTP API in front of the emulator; on the test's SQLite file and on PostgreSQL.

use crate::helpers::{
    TestApp, admin_token, campaign_when, on_database, spawn_app_at, token, token_for,
};
use chrono::{DateTime, TimeZone, Utc};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use serde_json::{Value, json};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// Creates a campaign with `body` as `token`; answers its id.
async fn created(app: &TestApp, token: &str, body: Value) -> String {
    let answer = app.post_json("/v1/campaigns", token, body).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("an id").to_owned()
}

/// The ids `GET /v1/campaigns{query}` lists for `token`.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let answer = app.get_as(&format!("/v1/campaigns{query}"), token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["campaigns"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_finished_dry_run_is_archived_out_of_the_list_and_back() {
    archive_and_back(None).await;
}

#[tokio::test]
async fn on_postgresql_a_finished_dry_run_is_archived_out_of_the_list_and_back() {
    crate::helpers::on_postgresql(|url| archive_and_back(Some(url))).await;
}

async fn archive_and_back(url: Option<String>) {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, on_database(url.as_deref())).await;
    // The dry run's creator holds only the scopes of a dry run (and reading).
    let checker = token(&[Scope::Check, Scope::Read]);
    let dry = created(
        &app,
        &checker,
        json!({"name": "dry", "dryRun": true,
               "source": {"emails": ["grace+hr@example.com", "donald@example.com"]}}),
    )
    .await;
    let scheduled = created(
        &app,
        &admin_token(),
        json!({"name": "later", "dryRun": true, "startAt": "2099-01-01T00:00:00Z",
               "source": {"emails": ["john@example.com"]}}),
    )
    .await;
    let done = campaign_when(&app.address, &dry, |c| c["state"] == "completed").await;
    assert!(done["archivedAt"].is_null(), "{done}");

    // Only a finished dry run: not one still scheduled, nor a real run.
    let refused = app
        .post_json(
            &format!("/v1/campaigns/{scheduled}/archive"),
            &checker,
            json!({}),
        )
        .await;
    refused.assert_problem(409, "campaign_state_conflict");
    let real = created(
        &app,
        &admin_token(),
        json!({"name": "real", "source": {"emails": ["dennis@example.com"]}}),
    )
    .await;
    campaign_when(&app.address, &real, |c| c["state"] == "completed").await;
    let refused = app
        .post_json(
            &format!("/v1/campaigns/{real}/archive"),
            &admin_token(),
            json!({}),
        )
        .await;
    refused.assert_problem(409, "campaign_state_conflict");
    // Another caller's dry run does not exist for them; nor does an unknown id.
    let stranger = token_for("someone-else", &[Scope::Check, Scope::Send]);
    app.post_json(
        &format!("/v1/campaigns/{dry}/archive"),
        &stranger,
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post_json("/v1/campaigns/nope/archive", &checker, json!({}))
        .await
        .assert_problem(404, "not_found");
    assert!(listed(&app, &checker, "").await.contains(&dry));

    let archived = app
        .post_json(&format!("/v1/campaigns/{dry}/archive"), &checker, json!({}))
        .await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    let at = archived.body["archivedAt"]
        .as_str()
        .expect("archivedAt")
        .to_owned();
    assert_eq!(archived.body["state"], "completed");
    assert_eq!(
        archived.body["counts"], done["counts"],
        "nothing else changes"
    );
    assert!(!listed(&app, &checker, "").await.contains(&dry), "hidden");
    assert!(
        listed(&app, &checker, "?archived=false")
            .await
            .contains(&scheduled)
    );
    let all = listed(&app, &checker, "?archived=true").await;
    assert!(all.contains(&dry) && all.contains(&scheduled), "{all:?}");
    let read = app.get_as(&format!("/v1/campaigns/{dry}"), &checker).await;
    assert_eq!(read.body["archivedAt"], at.as_str(), "readable by id");
    let items = app
        .get_as(&format!("/v1/campaigns/{dry}/items"), &checker)
        .await;
    assert_eq!(items.body["items"].as_array().map(Vec::len), Some(2));
    let again = app
        .post_json(&format!("/v1/campaigns/{dry}/archive"), &checker, json!({}))
        .await;
    assert_eq!(
        again.body["archivedAt"],
        at.as_str(),
        "archiving twice keeps the first time"
    );

    let back = app
        .post_json(
            &format!("/v1/campaigns/{dry}/unarchive"),
            &checker,
            json!({}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body["archivedAt"].is_null(), "{}", back.body);
    assert!(
        listed(&app, &checker, "").await.contains(&dry),
        "listed again"
    );
    app.get_as("/v1/campaigns?archived=maybe", &checker)
        .await
        .assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn a_person_lookup_gathers_state_history_campaign_items_and_audit() {
    person_lookup(None).await;
}

#[tokio::test]
async fn on_postgresql_a_person_lookup_gathers_state_history_campaign_items_and_audit() {
    crate::helpers::on_postgresql(|url| person_lookup(Some(url))).await;
}

async fn person_lookup(url: Option<String>) {
    let (app, _clock) = spawn_app_at(start(), Seed::Demo, on_database(url.as_deref())).await;
    let dry = created(
        &app,
        &admin_token(),
        json!({"name": "look first", "dryRun": true, "source": {"emails": ["grace+hr@example.com"]}}),
    )
    .await;
    campaign_when(&app.address, &dry, |c| c["state"] == "completed").await;
    let real = created(
        &app,
        &admin_token(),
        json!({"name": "wave 1", "source": {"emails": ["grace+hr@example.com", "donald@example.com"]}}),
    )
    .await;
    campaign_when(&app.address, &real, |c| c["state"] == "completed").await;

    let reader = token(&[Scope::Read]);
    // Case and white space do not matter: the address is trimmed and found in any case.
    let person = app
        .post_json(
            "/v1/people/lookup",
            &reader,
            json!({"email": " Grace+HR@example.com "}),
        )
        .await;
    assert_eq!(person.status, 200, "{}", person.body);
    let body = &person.body;
    assert_eq!(body["email"], "Grace+HR@example.com", "trimmed: {body}");
    assert_eq!(body["state"], "INVITED", "{body}");
    let history: Vec<&str> = body["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| c["state"].as_str().unwrap_or_default())
        .collect();
    assert!(history.contains(&"sent"), "{body}");
    let items = body["campaignItems"].as_array().expect("campaignItems");
    assert_eq!(
        items.len(),
        2,
        "the dry run's item and the real run's: {body}"
    );
    let item = |id: &str| {
        items
            .iter()
            .find(|i| i["campaignId"] == id)
            .unwrap_or_else(|| panic!("an item of {id}: {body}"))
    };
    assert_eq!(item(&real)["campaignName"], "wave 1");
    assert_eq!(item(&real)["dryRun"], false);
    assert_eq!(item(&real)["outcome"], "sent");
    assert_eq!(item(&real)["mails"], 1);
    assert_eq!(item(&dry)["dryRun"], true);
    assert_eq!(item(&dry)["outcome"], "would_send");
    assert_eq!(item(&dry)["mails"], 0);
    assert!(
        body.get("audit").is_none(),
        "no audit without audit.read: {body}"
    );
    assert_eq!(body["auditHidden"], true);

    // With audit.read: the audit records about the person, and only theirs.
    let auditor = token(&[Scope::Read, Scope::AuditRead]);
    let person = app
        .post_json(
            "/v1/people/lookup",
            &auditor,
            json!({"email": "grace+hr@example.com"}),
        )
        .await;
    let audit = person.body["audit"].as_array().expect("audit");
    assert!(!audit.is_empty(), "{}", person.body);
    assert!(
        audit.iter().all(|r| r["email"] == "grace+hr@example.com"),
        "{}",
        person.body
    );
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "send" && r["campaignId"] == real.as_str()),
        "{}",
        person.body
    );
    assert!(person.body.get("auditHidden").is_none(), "{}", person.body);

    // Another caller sees the tracked state and history, not the campaigns of others.
    let stranger = token_for("someone-else", &[Scope::Read]);
    let person = app
        .post_json(
            "/v1/people/lookup",
            &stranger,
            json!({"email": "grace+hr@example.com"}),
        )
        .await;
    assert_eq!(person.body["campaignItems"], json!([]), "{}", person.body);
    assert_eq!(person.body["state"], "INVITED");

    // Somebody the gateway never saw: no state, no history, nothing.
    let nobody = app
        .post_json(
            "/v1/people/lookup",
            &reader,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(nobody.status, 200, "{}", nobody.body);
    assert!(nobody.body["state"].is_null(), "{}", nobody.body);
    assert_eq!(nobody.body["history"], json!([]));
    assert_eq!(nobody.body["campaignItems"], json!([]));

    // Bad input: a problem that does not echo the address, and nothing changes.
    for bad in [
        json!({"email": "not an address"}),
        json!({"email": "ada@@example.com"}),
        json!({"email": ""}),
        json!({"emails": ["grace+hr@example.com"]}),
        json!({}),
    ] {
        let refused = app
            .post_json("/v1/people/lookup", &reader, bad.clone())
            .await;
        refused.assert_problem(400, "invalid_request");
        assert!(
            !refused.body.to_string().contains("ada@"),
            "{}",
            refused.body
        );
    }
    app.post_json(
        "/v1/people/lookup",
        &token(&[Scope::Check]),
        json!({"email": "a@example.com"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
}
