//! The read operations of /v1: eligibility, lookup, list, summary, export.

use crate::helpers::{
    TestApp, admin_token, eventually, ndjson_emails, spawn_app, spawn_app_tuned, spawn_app_with,
    spawn_google, test_settings, token,
};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::{Seed, SeedAccount, State};
use serde_json::{Value, json};

async fn check(app: &TestApp, emails: &[&str]) -> Value {
    let answer = app
        .post_json(
            "/v1/eligibility/check",
            &token(&[Scope::Check]),
            json!({ "emails": emails }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn eligibility_answers_per_address_and_caches_the_second_time() {
    let app = spawn_app().await;

    let first = check(
        &app,
        &[
            "grace+hr@example.com",
            "alan@example.com",
            "nobody@example.com",
        ],
    )
    .await;
    let second = check(&app, &["grace+hr@example.com"]).await;

    let results = &first["results"];
    assert_eq!(results[0]["email"], "grace+hr@example.com");
    assert_eq!(results[0]["eligible"], true);
    assert_eq!(results[0]["cached"], false);
    assert!(results[0]["checkedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        results[1]["eligible"], false,
        "ACCEPTED accounts are managed"
    );
    assert_eq!(results[2]["eligible"], false, "unknown addresses");
    assert_eq!(second["results"][0]["cached"], true);
    assert_eq!(second["results"][0]["checkedAt"], results[0]["checkedAt"]);
    assert_eq!(app.calls("isInvitableUser").await, 3);
}

#[tokio::test]
async fn eligibility_of_a_recent_account_is_true_though_google_does_not_list_it() {
    let app = spawn_app().await;
    let body = check(&app, &["annie@example.com"]).await;
    assert_eq!(body["results"][0]["eligible"], true);
}

#[tokio::test]
async fn invalid_addresses_and_other_domains_are_per_item_errors_that_never_reach_google() {
    let app = spawn_app_tuned(|settings| {
        settings.allowed_domains = vec!["example.com".into()];
    })
    .await;

    let body = check(
        &app,
        &[
            "not an address",
            "someone@other.org",
            " Grace+hr@EXAMPLE.com ",
        ],
    )
    .await;

    let results = &body["results"];
    assert_eq!(results[0]["error"]["code"], "invalid_email");
    assert_eq!(results[0]["email"], "not an address");
    assert_eq!(results[1]["error"]["code"], "domain_not_allowed");
    assert_eq!(
        results[2]["email"], "Grace+hr@example.com",
        "trimmed, domain lower-cased"
    );
    assert_eq!(results[2]["eligible"], true);
    assert_eq!(
        app.calls("isInvitableUser").await,
        1,
        "only the valid, allowed address"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_checks_of_one_uncached_address_make_one_upstream_call() {
    let app = spawn_app().await;
    // Every check waits for Google long enough that all thousand overlap.
    app.control("latency", json!({"ms": 300})).await;
    let token = token(&[Scope::Check]);

    let requests = (0..1000).map(|_| {
        app.post_json(
            "/v1/eligibility/check",
            &token,
            json!({"emails": ["donald@example.com"]}),
        )
    });
    let answers = futures_util::future::join_all(requests).await;

    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["results"][0]["eligible"], true);
    }
    let fresh = answers
        .iter()
        .filter(|a| a.body["results"][0]["cached"] == false)
        .count();
    assert_eq!(fresh, 1, "exactly one request asked Google itself");
    assert_eq!(app.calls("isInvitableUser").await, 1);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let app = spawn_app().await;
    app.control(
        "faults",
        json!({"method": "isInvitableUser", "status": 400, "count": 1}),
    )
    .await;

    let failed = check(&app, &["john@example.com"]).await;
    let retried = check(&app, &["john@example.com"]).await;

    assert_eq!(failed["results"][0]["error"]["code"], "upstream_rejected");
    assert_eq!(retried["results"][0]["eligible"], true);
    assert_eq!(retried["results"][0]["cached"], false);
}

#[tokio::test]
async fn lookup_returns_invitations_and_not_found_per_item() {
    let app = spawn_app().await;

    let answer = app
        .post_json(
            "/v1/invitations/lookup",
            &token(&[Scope::Read]),
            json!({"emails": ["ada@example.com", "annie@example.com", "grace+hr@example.com"]}),
        )
        .await;

    assert_eq!(answer.status, 200);
    let results = &answer.body["results"];
    assert_eq!(
        results[0]["invitation"],
        json!({"email": "ada@example.com", "state": "INVITED", "mailsSentCount": 2, "updateTime": "2026-01-05T09:00:00Z"})
    );
    assert_eq!(
        results[1]["error"]["code"], "not_found",
        "recent accounts are not listed yet"
    );
    assert_eq!(results[2]["invitation"]["state"], "NOT_YET_SENT");
    assert_eq!(results[2]["invitation"]["mailsSentCount"], 0);
}

#[tokio::test]
async fn list_filters_orders_and_pages() {
    let app = spawn_app().await;
    let token = token(&[Scope::Read]);
    let mut emails = Vec::new();
    let mut path =
        "/v1/invitations?state=INVITED&state=DECLINED&orderBy=updateTime%20desc&pageSize=4"
            .to_owned();
    let mut pages = 0;
    loop {
        let answer = app.get_as(&path, &token).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        pages += 1;
        let invitations = answer.body["invitations"].as_array().unwrap().clone();
        assert!(invitations.len() <= 4);
        for invitation in &invitations {
            let state = invitation["state"].as_str().unwrap();
            assert!(state == "INVITED" || state == "DECLINED", "{state}");
            emails.push((
                invitation["updateTime"].as_str().unwrap().to_owned(),
                invitation["email"].as_str().unwrap().to_owned(),
            ));
        }
        match answer.body["nextPageToken"].as_str() {
            Some(next) => {
                path = format!(
                    "/v1/invitations?state=INVITED&state=DECLINED&orderBy=updateTime%20desc&pageSize=4&pageToken={next}"
                )
            }
            None => break,
        }
    }
    assert_eq!(emails.len(), 13, "8 INVITED + 5 DECLINED demo accounts");
    assert_eq!(pages, 4);
    let mut sorted = emails.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0));
    assert_eq!(
        emails.iter().map(|e| &e.0).collect::<Vec<_>>(),
        sorted.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_page_token_of_other_parameters_is_a_400() {
    let app = spawn_app().await;
    let token = token(&[Scope::Read]);
    let first = app.get_as("/v1/invitations?pageSize=2", &token).await;
    let next = first.body["nextPageToken"].as_str().unwrap().to_owned();

    let answer = app
        .get_as(
            &format!("/v1/invitations?pageSize=2&orderBy=email%20desc&pageToken={next}"),
            &token,
        )
        .await;

    answer.assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn summary_counts_every_invitation_by_state() {
    let app = spawn_app().await;

    let answer = app
        .get_as("/v1/invitations/summary", &token(&[Scope::Read]))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body["counts"],
        json!({"NOT_YET_SENT": 12, "INVITED": 8, "ACCEPTED": 7, "DECLINED": 5})
    );
    assert_eq!(answer.body["total"], 32);
    assert!(answer.body["asOf"].is_string());
}

#[tokio::test]
async fn concurrent_and_repeated_summaries_share_one_walk_of_the_pages() {
    let app = spawn_app().await;
    let reader = token(&[Scope::Read]);

    let answers = futures_util::future::join_all(
        (0..5).map(|_| app.get_as("/v1/invitations/summary", &reader)),
    )
    .await;
    let walked = app.calls("list").await;
    let again = app.get_as("/v1/invitations/summary", &reader).await;

    assert_eq!(
        walked, 1,
        "one walk (32 invitations fit one page) for all five"
    );
    for answer in answers.iter().chain([&again]) {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["total"], 32);
        assert_eq!(answer.body["asOf"], answers[0].body["asOf"], "one summary");
    }
    assert_eq!(
        app.calls("list").await,
        walked,
        "the repeat within GATEWAY_SUMMARY_TTL_SECS called nobody"
    );
}

fn many_accounts(n: usize) -> Seed {
    let states = [
        State::NotYetSent,
        State::Invited,
        State::Accepted,
        State::Declined,
    ];
    Seed::Accounts(
        (0..n)
            .map(|i| SeedAccount::new(format!("person{i:05}@example.com"), Some(states[i % 4])))
            .collect(),
    )
}

#[tokio::test]
async fn export_streams_five_thousand_invitations_as_csv() {
    let google = spawn_google(many_accounts(5_000)).await;
    let settings = test_settings(&google);
    let app = spawn_app_with(google, settings).await;

    let response = app
        .client
        .get(format!("{}/v1/invitations/export", app.address))
        .bearer_auth(token(&[Scope::Read]))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "email,state,mailsSentCount,updateTime");
    assert_eq!(lines.len(), 5_001);
    assert!(
        lines[1].starts_with("person00000@example.com,NOT_YET_SENT,0,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[5_000].starts_with("person04999@example.com,DECLINED,1,"),
        "{}",
        lines[5_000]
    );
    assert_eq!(
        app.calls("list").await,
        25,
        "5,000 invitations in pages of 200"
    );
}

#[tokio::test]
async fn export_writes_ndjson_for_the_states_asked() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!(
            "{}/v1/invitations/export?state=ACCEPTED",
            app.address
        ))
        .bearer_auth(admin_token())
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let invitations: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(invitations.len(), 7);
    assert!(invitations.iter().all(|i| i["state"] == "ACCEPTED"));
    assert_eq!(invitations[0]["email"], "alan@example.com");
}

#[tokio::test]
async fn export_refuses_formats_it_cannot_write() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/v1/invitations/export", app.address))
        .bearer_auth(admin_token())
        .header("accept", "application/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 406);
    assert_eq!(app.calls("list").await, 0);
}

#[tokio::test]
async fn a_failing_google_is_a_503_with_retry_after_for_list() {
    let app = spawn_app().await;
    app.control(
        "faults",
        json!({"method": "list", "status": 503, "count": 100}),
    )
    .await;

    let answer = app.get_as("/v1/invitations", &token(&[Scope::Read])).await;

    answer.assert_problem(503, "upstream_unavailable");
    assert!(answer.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn eligible_and_not_eligible_answers_live_for_their_own_ttls() {
    let app = spawn_app_tuned(|settings| {
        settings.invitations.eligibility.eligible_ttl = std::time::Duration::from_secs(600);
        settings.invitations.eligibility.not_eligible_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    // ada is invitable; nobody is not an account Google knows.
    let emails = ["ada@example.com", "nobody@example.com"];
    let cached = |body: &Value| {
        let results = body["results"].as_array().unwrap();
        (results[0]["cached"].clone(), results[1]["cached"].clone())
    };
    let first = check(&app, &emails).await;
    assert_eq!(first["results"][0]["eligible"], true, "{first}");
    assert_eq!(first["results"][1]["eligible"], false, "{first}");
    assert_eq!(cached(&first), (json!(false), json!(false)));
    assert_eq!(
        cached(&check(&app, &emails).await),
        (json!(true), json!(true))
    );

    // Past the not-eligible TTL (moka's own clock: real time), far inside the eligible one:
    // until then every check is answered from the cache, without a call.
    let after_ttl = eventually("the not-eligible answer expires", || async {
        let answer = cached(&check(&app, &emails).await);
        if answer == (json!(true), json!(true)) {
            Err(format!("{answer:?}"))
        } else {
            Ok(answer)
        }
    })
    .await;
    assert_eq!(after_ttl, (json!(true), json!(false)));
    assert_eq!(
        app.calls("isInvitableUser").await,
        3,
        "two misses, then one"
    );
}

#[tokio::test]
async fn export_neutralises_addresses_a_spreadsheet_would_read_as_formulas() {
    // Valid addresses, as Google lists them: each begins with a formula character.
    let emails = [
        "=1+1@example.com",
        "+sum@example.com",
        "-2+3@example.com",
        "plain@example.com",
    ];
    let seed = Seed::Accounts(
        emails
            .iter()
            .map(|e| SeedAccount::new(*e, Some(State::Invited)))
            .collect(),
    );
    let google = spawn_google(seed).await;
    let settings = test_settings(&google);
    let app = spawn_app_with(google, settings).await;

    let export = |accept: &'static str| {
        let request = app
            .client
            .get(format!("{}/v1/invitations/export", app.address))
            .bearer_auth(admin_token())
            .header("accept", accept);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let csv = export("text/csv").await;
    let mut cells: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    cells.sort_unstable();
    assert_eq!(
        cells,
        [
            "'+sum@example.com",
            "'-2+3@example.com",
            "'=1+1@example.com",
            "plain@example.com"
        ],
        "{csv}"
    );
    // NDJSON keeps the values as they are.
    let listed = ndjson_emails(&export("application/x-ndjson").await);
    assert_eq!(
        listed,
        [
            "+sum@example.com",
            "-2+3@example.com",
            "=1+1@example.com",
            "plain@example.com"
        ]
    );
}
