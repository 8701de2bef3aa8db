//! The project's Google quota, kept in the store and shared by every replica: a burst past it
//! never reaches Google (the excess fails fast with `quota_exhausted`), a Google 429 stops every
//! call for a while, and several gateway processes on one PostgreSQL stay under it together.

use crate::helpers::{
    ADMIN, JWT_SECRET, TestApp, admin_token, spawn_app_tuned, start_binary, token,
};
use crate::pg::PgDatabase;
use invitation_gateway::auth::Scope;
use invitation_gateway::google::{CallKind, UpstreamErrorKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A gateway allowed `per_minute` Google calls, in front of an emulator that enforces the same.
async fn app_with_quota(per_minute: u32) -> TestApp {
    let app = spawn_app_tuned(|settings| settings.store.google_per_minute = per_minute).await;
    app.control("quota", json!({ "perMinute": per_minute }))
        .await;
    app
}

fn addresses(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{prefix}{i:02}@example.com"))
        .collect()
}

#[tokio::test]
async fn a_burst_past_the_quota_reaches_google_at_most_quota_times_and_the_rest_fails_fast() {
    let app = app_with_quota(5).await;

    let started = Instant::now();
    let answer = app
        .post_json(
            "/v1/eligibility/check",
            &token(&[Scope::Check]),
            json!({ "emails": addresses("burst", 8) }),
        )
        .await;
    let took = started.elapsed();

    assert_eq!(answer.status, 200, "{}", answer.body);
    let results = answer.body["results"].as_array().expect("results");
    let answered = results.iter().filter(|r| r["error"].is_null()).count();
    let exhausted: Vec<&Value> = results
        .iter()
        .filter(|r| r["error"]["code"] == "quota_exhausted")
        .collect();
    assert_eq!((answered, exhausted.len()), (5, 3), "{}", answer.body);
    // The burst's calls count in the quota's window for 62 s: the next slot is that far away.
    for item in exhausted {
        let retry_after = item["error"]["retryAfterSeconds"].as_u64().unwrap_or(0);
        assert!((1..=62).contains(&retry_after), "{item}");
    }
    assert!(
        took < Duration::from_secs(3),
        "the excess is refused at once, not after the 5 s deadline: {took:?}"
    );
    let stats = app.stats().await;
    assert_eq!(stats["calls"]["isInvitableUser"], 5, "{stats}");
    assert_eq!(stats["quotaRejections"], 0, "{stats}");

    // A whole-request read gets the same answer as a problem, with Retry-After.
    let listed = app.get_as("/v1/invitations", &admin_token()).await;
    listed.assert_problem(429, "quota_exhausted");
    let retry_after: u64 = listed.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=62).contains(&retry_after), "{retry_after}");
    assert_eq!(app.calls("list").await, 0, "the refused list never left");
}

#[tokio::test]
async fn background_calls_leave_the_callers_floor_and_interactive_ones_still_get_it() {
    let app = app_with_quota(10).await;
    let google = &app.state.google;
    let context = |kind| google.context(Some("budget-test".into())).with_kind(kind);

    let mut background = 0;
    let refused = loop {
        match google
            .get("ada@example.com", &context(CallKind::Background))
            .await
        {
            Ok(_) => background += 1,
            Err(err) => break err,
        }
        assert!(background <= 10, "background work took the whole quota");
    };
    let mut interactive = 0;
    while google
        .get("ada@example.com", &context(CallKind::Interactive))
        .await
        .is_ok()
    {
        interactive += 1;
        assert!(interactive <= 10, "more calls than the quota");
    }

    assert_eq!(refused.kind, UpstreamErrorKind::QuotaExhausted, "{refused}");
    assert_eq!(
        (background, interactive),
        (9, 1),
        "no caller called: background work takes all but the callers' floor (one call of 10)"
    );
    assert_eq!(app.calls("get").await, 10);
    assert_eq!(app.stats().await["quotaRejections"], 0);
    let metrics = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.lines().any(|line| line.starts_with(
            r#"gateway_google_budget_refusals_total{kind="background",reason="exhausted"} "#
        ) && !line.ends_with(" 0")),
        "the refusal is counted"
    );
}

#[tokio::test]
async fn a_google_quota_refusal_makes_the_next_calls_wait_instead_of_hammering() {
    let app = spawn_app_tuned(|_| {}).await;
    // One 429 without Retry-After: every call stops for the default 10 s, past the 5 s deadline.
    app.control(
        "faults",
        json!({"method": "isInvitableUser", "status": 429, "count": 1}),
    )
    .await;

    let first = app
        .post_json(
            "/v1/eligibility/check",
            &token(&[Scope::Check]),
            json!({ "emails": ["first@example.com"] }),
        )
        .await;
    let started = Instant::now();
    let next = app
        .post_json(
            "/v1/eligibility/check",
            &token(&[Scope::Check]),
            json!({ "emails": ["second@example.com", "third@example.com"] }),
        )
        .await;

    assert_eq!(
        first.body["results"][0]["error"]["code"], "quota_exhausted",
        "the retry waits for the backoff, which ends past the deadline: {}",
        first.body
    );
    for result in next.body["results"].as_array().expect("results") {
        assert_eq!(result["error"]["code"], "quota_exhausted", "{result}");
        let retry_after = result["error"]["retryAfterSeconds"].as_u64().unwrap_or(0);
        assert!((5..=11).contains(&retry_after), "{result}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    assert_eq!(
        app.calls("isInvitableUser").await,
        1,
        "nothing reached Google after its 429"
    );
}

#[tokio::test]
async fn three_gateway_processes_on_one_postgresql_stay_under_the_quota_together() {
    const QUOTA: u32 = 10;
    let Some(database) = PgDatabase::create().await else {
        return;
    };
    let google = crate::helpers::spawn_google(invitation_gateway::emulator::Seed::Demo).await;
    let control = reqwest::Client::new();
    control
        .post(format!("{}/emulator/v1/quota", google.emulator.url()))
        .json(&json!({ "perMinute": QUOTA }))
        .send()
        .await
        .expect("the emulator answers")
        .error_for_status()
        .expect("the quota is set");

    let key = google.key_path.to_str().expect("a UTF-8 path").to_owned();
    let quota = QUOTA.to_string();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let (running, lines) = start_binary(
            &["serve", "--listen", "127.0.0.1:0"],
            [
                ("RUST_LOG", "info"),
                ("GATEWAY_LOG_FORMAT", "json"),
                ("GOOGLE_APPLICATION_CREDENTIALS", key.as_str()),
                ("GATEWAY_DELEGATED_ADMIN", ADMIN),
                ("GATEWAY_GOOGLE_API_URL", google.emulator.url()),
                ("GATEWAY_JWT_HS256_SECRET", JWT_SECRET),
                ("GATEWAY_RATE_LIMIT_PER_SECOND", "1000"),
                ("GATEWAY_RATE_LIMIT_BURST", "1000"),
                ("GATEWAY_DATABASE_URL", database.url.as_str()),
                ("GATEWAY_GOOGLE_CALLS_PER_MINUTE", quota.as_str()),
                // A slot every 6 s never comes within 2 s: the excess is refused at once.
                ("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS", "1000"),
                ("GATEWAY_GOOGLE_TOTAL_TIMEOUT_MS", "2000"),
                // No tracker: its walk would take one of the quota's slots.
                ("GATEWAY_TRACK_INTERVAL_SECS", "0"),
            ],
            false,
        );
        let address = tokio::task::spawn_blocking(move || {
            loop {
                let line = lines
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the gateway logs its address");
                let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if parsed["message"] == "invitation-gateway listening" {
                    break parsed["address"].as_str().expect("an address").to_owned();
                }
            }
        })
        .await
        .expect("the reader thread ends");
        replicas.push((running, format!("http://{address}")));
    }

    let client = reqwest::Client::new();
    let token = token(&[Scope::Check]);
    let bursts = replicas.iter().enumerate().map(|(i, (_, base))| {
        let request = client
            .post(format!("{base}/v1/eligibility/check"))
            .bearer_auth(&token)
            .json(&json!({ "emails": addresses(&format!("replica{i}-"), 10) }));
        async move {
            let answer: Value = request
                .send()
                .await
                .expect("the replica answers")
                .json()
                .await
                .expect("a JSON answer");
            answer
        }
    });
    let answers = futures_util::future::join_all(bursts).await;

    let stats: Value = control
        .get(format!("{}/emulator/v1/stats", google.emulator.url()))
        .send()
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("stats are JSON");
    drop(replicas);
    database.drop_it().await;
    let results: Vec<Value> = answers
        .iter()
        .flat_map(|a| a["results"].as_array().cloned().unwrap_or_default())
        .collect();
    let answered = results.iter().filter(|r| r["error"].is_null()).count();
    let exhausted = results
        .iter()
        .filter(|r| r["error"]["code"] == "quota_exhausted")
        .count();
    assert_eq!(stats["quotaRejections"], 0, "{stats}");
    assert!(
        stats["calls"]["isInvitableUser"]
            .as_u64()
            .unwrap_or(u64::MAX)
            <= u64::from(QUOTA),
        "{stats}"
    );
    assert_eq!(
        (answered, exhausted),
        (QUOTA as usize, 30 - QUOTA as usize),
        "{answers:?}"
    );
}
