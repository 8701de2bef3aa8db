//! The test harness: the real server on port 0, with test settings, and typed helpers.

use invitation_gateway::cli::LogFormat;
use invitation_gateway::config::{
    AuditSettings, GoogleCredentials, GoogleSettings, HttpSettings, JwtSettings, LimitSettings,
    Settings,
};
use invitation_gateway::startup::Application;
use invitation_gateway::{install_crypto_provider, telemetry};
use reqwest::Response;
use std::sync::Once;

static TRACING: Once = Once::new();

/// Tracing is initialised once per test process and printed only with `TEST_LOG=1`.
fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            telemetry::init_with_writer(LogFormat::Text, std::io::stdout);
        } else {
            telemetry::init_with_writer(LogFormat::Text, std::io::sink);
        }
    });
}

/// Settings for a test gateway: loopback, port 0, an HS256 secret, nothing reachable upstream.
pub fn test_settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        customer: "my_customer".into(),
        google: GoogleSettings {
            credentials: GoogleCredentials::KeyFile {
                path: "/nonexistent/key.json".into(),
                delegated_admin: "admin@example.com".into(),
            },
            api_url: "http://127.0.0.1:9".into(),
            iam_url: "http://127.0.0.1:9".into(),
            token_url: "http://127.0.0.1:9/token".into(),
        },
        jwt: JwtSettings {
            hs256_secret: Some("test-secret-test-secret-test-secret!".into()),
            ..JwtSettings::default()
        },
        allowed_domains: Vec::new(),
        http: HttpSettings {
            workers: 1,
            ..HttpSettings::default()
        },
        limits: LimitSettings::default(),
        audit: AuditSettings::default(),
        log_hash_key: None,
    }
}

/// A running gateway and a client to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Plain HTTP client (no redirects followed, so redirects can be asserted).
    pub client: reqwest::Client,
}

/// Starts the real server with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings()).await
}

/// Starts the real server with the given settings.
pub async fn spawn_app_with(settings: Settings) -> TestApp {
    init_tracing();
    install_crypto_provider();
    let app = Application::build(settings)
        .await
        .expect("the gateway builds");
    let address = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("test HTTP client");
    TestApp { address, client }
}

impl TestApp {
    /// GET a path.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the gateway")
    }

    /// Sends a request with any method and an optional raw body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request.send().await.expect("request reaches the gateway")
    }
}

/// Asserts that an answer is a problem document with this status and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("x-request-id on every answer");
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert_eq!(
        body["requestId"],
        request_id.as_str(),
        "body and header carry the same id"
    );
    assert!(body["type"].as_str().unwrap_or_default().ends_with(code));
    assert!(!body["title"].as_str().unwrap_or_default().is_empty());
    assert!(!body["detail"].as_str().unwrap_or_default().is_empty());
    body
}
