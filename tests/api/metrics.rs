//! `/metrics`: Prometheus text with route templates only and no personal data.
//!
//! Every test of this binary records into the one recorder of the process, so these tests
//! assert on series their own scenario moves (at least by what it did) and on families.

use crate::helpers::{
    TestApp, eventually, spawn_app, spawn_app_tuned, spawn_app_with, spawn_google, test_settings,
    token, token_for,
};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use invitation_gateway::readiness::CheckState;
use serde_json::json;

/// Every family the gateway exports.
const FAMILIES: [&str; 14] = [
    "gateway_http_requests_total",
    "gateway_http_request_duration_seconds",
    "gateway_google_attempts_total",
    "gateway_google_attempt_duration_seconds",
    "gateway_google_retries_total",
    "gateway_google_breaker_state",
    "gateway_google_breaker_transitions_total",
    "gateway_google_token_refreshes_total",
    "gateway_rate_limited_total",
    "gateway_audit_write_failures_total",
    "gateway_jwks_refreshes_total",
    "gateway_eligibility_lookups_total",
    "gateway_eligibility_cache_entries",
    "gateway_http_request_duration_seconds_bucket",
];

/// The value of the sample `name{labels...}` (every given label must match), if scraped.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(k, v)| {
                    series_labels
                        .split(',')
                        .any(|l| l == format!("{k}=\"{v}\""))
                });
            if matches { value.parse().ok() } else { None }
        })
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_scrape_after_a_scenario_shows_every_family_with_route_templates_and_no_personal_data() {
    let app = spawn_app_tuned(|settings| {
        // One request per second, no burst: a caller's second quick request is refused.
        settings.limits.requests_per_second = 1;
        settings.limits.burst = 1;
    })
    .await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    let before = scrape(&app).await;
    let list_503 = [("method", "list"), ("status", "503"), ("attempt", "1")];
    let list_ok_2 = [("method", "list"), ("status", "ok"), ("attempt", "2")];

    // A Google call that fails once with 503 and succeeds on its retry.
    app.control(
        "faults",
        json!({"method": "list", "status": 503, "count": 1}),
    )
    .await;
    let reader = token(&[Scope::Read]);
    let answer = app.get_as("/v1/invitations", &reader).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.calls("list").await, 2, "one failure, one retry");
    // The same address checked twice (by two callers: this test's rate is one per second): a
    // miss, then a hit.
    for caller in ["metrics-checker-1", "metrics-checker-2"] {
        let check = app
            .post_json(
                "/v1/eligibility/check",
                &token_for(caller, &[Scope::Check]),
                json!({"emails": ["ken@example.com"]}),
            )
            .await;
        assert_eq!(check.status, 200, "{}", check.body);
    }
    // Unknown paths, one with an address in it.
    let nothing = app.get_as("/v1/nothing/here", &reader).await;
    assert_eq!(nothing.status, 404);
    let email_path = app.get("/v1/invitations/ada@example.com/x").await;
    assert_eq!(email_path.status().as_u16(), 404);
    // A caller over its request rate.
    let hasty = token_for("metrics-hasty-caller", &[Scope::Read]);
    let mut limited = false;
    for _ in 0..5 {
        if app.get_as("/v1/invitations", &hasty).await.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the hasty caller was never limited");

    let text = scrape(&app).await;
    for family in FAMILIES {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family} missing:\n{text}"
        );
    }
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or(0.0) - sample(&before, name, labels).unwrap_or(0.0)
    };
    let list_route = [
        ("route", "/v1/invitations"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(
        delta("gateway_http_requests_total", &list_route) >= 1.0,
        "{text}"
    );
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(
        delta("gateway_http_requests_total", &unmatched) >= 2.0,
        "{text}"
    );
    let limited_route = [("route", "/v1/invitations"), ("status", "429")];
    assert!(
        delta("gateway_http_requests_total", &limited_route) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_google_attempts_total", &list_503) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_eligibility_lookups_total", &[("result", "miss")]) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_eligibility_lookups_total", &[("result", "hit")]) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "gateway_eligibility_cache_entries", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_google_attempts_total", &list_ok_2) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_google_retries_total", &[("method", "list")]) >= 1.0,
        "{text}"
    );
    assert!(
        delta("gateway_rate_limited_total", &[("limit", "requests")]) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_google_token_refreshes_total",
            &[("result", "success")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_google_breaker_state",
            &[("state", "closed")]
        )
        .is_some(),
        "{text}"
    );

    // Route templates only: no raw path, no address, no token, no caller.
    for secret in [
        "/v1/nothing/here",
        "ada@example.com",
        "@",
        reader.as_str(),
        hasty.as_str(),
        "metrics-hasty-caller",
    ] {
        assert!(!text.contains(secret), "`{secret}` leaked into /metrics");
    }
}

#[tokio::test]
async fn metrics_need_no_token_and_are_not_in_the_openapi_document() {
    let app = spawn_app().await;
    assert_eq!(app.get("/livez").await.status().as_u16(), 200);
    let text = scrape(&app).await;
    assert!(
        sample(&text, "gateway_http_requests_total", &[("route", "/livez")]).is_some(),
        "{text}"
    );
    let document: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(document["paths"].get("/metrics").is_none());
}

/// A JWKS document serving `jwk`, on a loopback port of its own; the URL of the document.
async fn serve_jwks(jwk: serde_json::Value) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let document = json!({ "keys": [jwk] });
    let server = HttpServer::new(move || {
        let document = document.clone();
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let document = document.clone();
                async move { HttpResponse::Ok().json(document) }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind the JWKS server");
    let address = server.addrs()[0];
    tokio::spawn(server.run());
    format!("http://{address}/jwks.json")
}

#[tokio::test]
async fn a_jwks_deployment_exports_its_fetches_and_the_age_of_its_keys() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;

    // The emulator's service-account key stands in for the identity provider's signing key.
    let google = spawn_google(Seed::Demo).await;
    let key_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&google.key_path).unwrap()).unwrap();
    let pem = key_file["private_key"].as_str().unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let signing_key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "idp-key-1",
        "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
    });
    let mut settings = test_settings(&google);
    settings.jwt.hs256_secret = None;
    settings.jwt.jwks_url = Some(serve_jwks(jwk).await);
    let app = spawn_app_with(google, settings).await;
    eventually("the JWKS loaded", || async {
        app.get("/readyz").await.status().as_u16() == 200
    })
    .await;
    let before = scrape(&app).await;

    let sign = |kid: &str| {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": "invitation-gateway", "aud": "invitation-gateway", "sub": "jwks-caller",
            "iat": now, "exp": now + 300, "scope": "invitations.check",
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &signing_key).unwrap()
    };
    let body = json!({"emails": ["ken@example.com"]});
    let known = app
        .post_json("/v1/eligibility/check", &sign("idp-key-1"), body.clone())
        .await;
    assert_eq!(known.status, 200, "{}", known.body);
    // An unknown kid makes the gateway look for a rotated key: one forced fetch.
    let unknown = app
        .post_json("/v1/eligibility/check", &sign("idp-key-2"), body)
        .await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);

    let text = scrape(&app).await;
    let age = sample(&text, "gateway_jwks_key_age_seconds", &[]);
    assert!(age.is_some_and(|age| (0.0..60.0).contains(&age)), "{text}");
    let scheduled = [("trigger", "scheduled"), ("result", "success")];
    assert!(
        sample(&text, "gateway_jwks_refreshes_total", &scheduled).is_some_and(|v| v >= 1.0),
        "the fetch at start: {text}"
    );
    let forced = [("trigger", "unknown_kid"), ("result", "success")];
    let delta = sample(&text, "gateway_jwks_refreshes_total", &forced).unwrap_or(0.0)
        - sample(&before, "gateway_jwks_refreshes_total", &forced).unwrap_or(0.0);
    assert!(delta >= 1.0, "the fetch for the unknown kid: {text}");
}
