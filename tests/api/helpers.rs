//! The test harness: the real server on port 0, with test settings, and typed helpers.

use invitation_gateway::auth::Scope;
use invitation_gateway::auth::mint::{self, TokenRequest};
use invitation_gateway::config::{
    AuditSettings, GoogleCredentials, GoogleSettings, GoogleTimeouts, HttpSettings, JwtSettings,
    LimitSettings, ProtectionSettings, RetrySettings, Settings, StoreSettings, TrackingSettings,
};
use invitation_gateway::emulator::{Emulator, EmulatorKey, EmulatorSettings, Seed};
use invitation_gateway::readiness::CheckState;
use invitation_gateway::startup::Application;
use invitation_gateway::state::AppState;
use invitation_gateway::store::Clock;
use invitation_gateway::telemetry::LogFormat;
use invitation_gateway::{install_crypto_provider, telemetry};
use reqwest::Response;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::{Once, OnceLock};
use std::time::Duration;

mod wait;
pub use wait::{
    PATIENCE, POLL, campaign_at, campaign_completed, campaign_when, eventually, eventually_every,
    poll, poll_blocking, worker_passes, worker_passes_at,
};

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

/// The HS256 secret of test callers.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
/// The `sub` of the test caller.
pub const CALLER: &str = "hr-onboarding";

/// The admin the emulator's token endpoint accepts.
pub const ADMIN: &str = "admin@example.com";

/// A started emulator with its key written to a private temporary directory.
pub struct TestGoogle {
    /// The running emulator.
    pub emulator: Emulator,
    /// Holds the key file for as long as the test runs (removed on drop).
    _key_dir: tempfile::TempDir,
    /// Path of the service-account key the emulator issued.
    pub key_path: PathBuf,
}

/// One service-account key for every emulator of the test process: generating a 2048-bit RSA
/// key per test would cost most of the suite's time.
pub fn shared_key() -> EmulatorKey {
    static KEY: OnceLock<EmulatorKey> = OnceLock::new();
    KEY.get_or_init(|| EmulatorKey::generate().expect("generate an RSA key"))
        .clone()
}

impl TestGoogle {
    /// The emulator's control API: POST `path` (under `/emulator/v1/`) with a JSON body; the
    /// call must succeed.
    pub async fn control(&self, path: &str, body: serde_json::Value) {
        let status = reqwest::Client::new()
            .post(format!("{}/emulator/v1/{path}", self.emulator.url()))
            .json(&body)
            .send()
            .await
            .expect("the emulator answers")
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }

    /// The test's private temporary directory (the key, the gateway's SQLite file).
    pub fn key_dir(&self) -> &std::path::Path {
        self._key_dir.path()
    }
}

/// Starts an emulator with the given seed on a loopback port.
pub async fn spawn_google(seed: Seed) -> TestGoogle {
    install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the emulator");
    let emulator = Emulator::start(
        listener,
        EmulatorSettings {
            seed,
            admin: ADMIN.into(),
            key: Some(shared_key()),
            // Tests that are about the quota set their own.
            quota_per_minute: None,
            ..EmulatorSettings::default()
        },
    )
    .await
    .expect("the emulator starts");
    let key_dir = tempfile::tempdir().expect("temporary directory");
    let key_path = key_dir.path().join("key.json");
    emulator.write_key(&key_path).expect("write the key");
    TestGoogle {
        emulator,
        _key_dir: key_dir,
        key_path,
    }
}

/// Settings for a test gateway against `google`: loopback, port 0, an HS256 secret, short
/// timeouts and a quick breaker so failure tests stay fast.
pub fn test_settings(google: &TestGoogle) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        customer: "my_customer".into(),
        google: GoogleSettings {
            credentials: GoogleCredentials::KeyFile {
                path: google.key_path.clone(),
                delegated_admin: ADMIN.into(),
            },
            api_url: google.emulator.url().to_owned(),
            iam_url: google.emulator.url().to_owned(),
            token_url: google.emulator.token_url(),
            readonly: false,
            timeouts: GoogleTimeouts {
                connect: Duration::from_secs(2),
                attempt: Duration::from_secs(2),
                total: Duration::from_secs(5),
                token: Duration::from_secs(5),
            },
            retry: RetrySettings {
                max_attempts: NonZeroU32::new(4).expect("not zero"),
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            protection: ProtectionSettings {
                max_concurrent_calls: NonZeroUsize::new(64).expect("not zero"),
                breaker_failure_threshold: NonZeroU32::new(5).expect("not zero"),
                breaker_open_for: Duration::from_millis(300),
            },
        },
        jwt: JwtSettings {
            hs256_secret: Some(JWT_SECRET.into()),
            ..JwtSettings::default()
        },
        allowed_domains: Vec::new(),
        http: HttpSettings {
            workers: 1,
            ..HttpSettings::default()
        },
        // Generous: tests that are about limits set their own.
        limits: LimitSettings {
            requests_per_second: 100_000,
            burst: 100_000,
            daily_mails_per_caller: 10_000,
        },
        audit: AuditSettings::default(),
        log_hash_key: None,
        invitations: Default::default(),
        // Every test gateway has its own SQLite file, beside its emulator's key.
        store: StoreSettings {
            database_url: format!("sqlite://{}", google.key_dir().join("gateway.db").display())
                .into(),
            // A generous Google budget: tests that are about the budget set their own.
            google_per_minute: 100_000,
            ..StoreSettings::default()
        },
        // No tracker unless a test turns it on: most tests count Google's calls.
        tracking: TrackingSettings {
            interval: Duration::ZERO,
            poll_every: Duration::from_millis(20),
            ..TrackingSettings::default()
        },
        gcp_project: None,
    }
}

/// A running gateway, the emulator behind it, and a client to talk to both.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Plain HTTP client (no redirects followed, so redirects can be asserted).
    pub client: reqwest::Client,
    /// The emulator standing in for Google.
    pub google: TestGoogle,
    /// The gateway's shared state (its Google client, readiness).
    pub state: AppState,
}

/// Starts an emulator with the demo seed and the real server in front of it.
pub async fn spawn_app() -> TestApp {
    spawn_app_tuned(|_| {}).await
}

/// A gateway against the demo emulator, with test settings changed by `tune` first.
pub async fn spawn_app_tuned(tune: impl FnOnce(&mut Settings)) -> TestApp {
    let google = spawn_google(Seed::Demo).await;
    let mut settings = test_settings(&google);
    tune(&mut settings);
    spawn_app_with(google, settings).await
}

/// The one app builder of tests that drive time: a gateway on `seed` whose store reads a
/// manual clock standing at `at`, with a quick campaign worker, settings changed by `tune`
/// last; answers the clock to move.
pub async fn spawn_app_at(
    at: chrono::DateTime<chrono::Utc>,
    seed: Seed,
    tune: impl FnOnce(&mut Settings),
) -> (TestApp, Clock) {
    let clock = Clock::manual(at);
    let app = spawn_app_on(&clock, seed, |settings| {
        quick_worker(settings);
        tune(settings);
    })
    .await;
    (app, clock)
}

/// A gateway on `seed` whose store reads `clock` (a test's own), settings changed by `tune`.
pub async fn spawn_app_on(clock: &Clock, seed: Seed, tune: impl FnOnce(&mut Settings)) -> TestApp {
    let google = spawn_google(seed).await;
    let mut settings = test_settings(&google);
    tune(&mut settings);
    spawn_app_clocked(google, settings, clock.clone()).await
}

/// A campaign worker that looks for due work every 20 ms of real time.
pub fn quick_worker(settings: &mut Settings) {
    settings.invitations.campaigns.poll = Duration::from_millis(20);
}

/// Settings on the PostgreSQL database `url`, or on the test's own SQLite file when None.
pub fn on_database(url: Option<&str>) -> impl FnOnce(&mut Settings) {
    let url = url.map(str::to_owned);
    move |s| {
        if let Some(url) = url {
            s.store.database_url = url.into();
        }
    }
}

/// Starts the real server with the given settings in front of `google`.
pub async fn spawn_app_with(google: TestGoogle, settings: Settings) -> TestApp {
    spawn_app_clocked(google, settings, Clock::system()).await
}

/// Starts the real server with the given settings in front of `google`, its store reading
/// `clock` (a manual one drives the tracker and webhook retries).
pub async fn spawn_app_clocked(google: TestGoogle, settings: Settings, clock: Clock) -> TestApp {
    init_tracing();
    install_crypto_provider();
    let app = Application::build_with_store_clock(settings, clock)
        .await
        .expect("the gateway builds");
    let address = format!("http://{}", app.address());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("test HTTP client");
    TestApp {
        address,
        client,
        google,
        state,
    }
}

/// An answer with its JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Answer {
    pub async fn read(response: Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Asserts a problem document with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.headers["content-type"], "application/problem+json");
    }
}

/// A caller token with these scopes, signed with the test secret.
pub fn token(scopes: &[Scope]) -> String {
    token_for(CALLER, scopes)
}

/// A token for another caller.
pub fn token_for(subject: &str, scopes: &[Scope]) -> String {
    mint::mint_hs256(
        &JWT_SECRET.into(),
        &TokenRequest {
            issuer: "invitation-gateway".into(),
            audience: "invitation-gateway".into(),
            subject: subject.into(),
            scopes: scopes.to_vec(),
            ttl: Duration::from_secs(600),
        },
    )
    .expect("mint a test token")
}

/// A token with every scope.
pub fn admin_token() -> String {
    token(&Scope::ALL)
}

/// GET `path` of the gateway at `base` (a replica's, or a [`TestApp`]'s address) as an admin.
pub async fn admin_get(base: &str, path: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(admin_token())
        .send()
        .await
        .expect("the gateway answers");
    Answer::read(response).await
}

impl TestApp {
    /// POST JSON with a bearer token.
    pub async fn post_json(&self, path: &str, token: &str, body: serde_json::Value) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request reaches the gateway");
        Answer::read(response).await
    }

    /// Creates an admin's campaign over every `NOT_YET_SENT` account; answers its view (201).
    pub async fn create_states_campaign(&self, name: &str) -> serde_json::Value {
        let created = self
            .post_json(
                "/v1/campaigns",
                &admin_token(),
                serde_json::json!({"name": name, "source": {"states": ["NOT_YET_SENT"]}}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the gateway");
        Answer::read(response).await
    }

    /// The calls of every Google method together.
    pub async fn google_calls(&self) -> u64 {
        let stats = self.stats().await;
        ["list", "get", "isInvitableUser", "send", "cancel"]
            .iter()
            .map(|m| stats["calls"][m].as_u64().unwrap_or(0))
            .sum()
    }

    /// The emulator's control API: POST `path` (under `/emulator/v1/`) with a JSON body.
    pub async fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}/emulator/v1/{path}", self.google.emulator.url()))
            .json(&body)
            .send()
            .await
            .expect("the emulator answers");
        assert!(
            response.status().is_success(),
            "control {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(serde_json::Value::Null)
    }

    /// Clears every fault injected into the emulator: Google answers again.
    pub async fn clear_faults(&self) {
        let response = self
            .client
            .delete(format!("{}/emulator/v1/faults", self.google.emulator.url()))
            .send()
            .await
            .expect("the emulator answers");
        assert!(
            response.status().is_success(),
            "clear faults: {}",
            response.status()
        );
    }

    /// The emulator's statistics.
    pub async fn stats(&self) -> serde_json::Value {
        self.client
            .get(format!("{}/emulator/v1/stats", self.google.emulator.url()))
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("stats are JSON")
    }

    /// An interactive eligibility check of `email` by the admin: a caller's Google call.
    pub async fn check_as_caller(&self, email: &str) -> Answer {
        self.post_json(
            "/v1/eligibility/check",
            &admin_token(),
            serde_json::json!({ "emails": [email] }),
        )
        .await
    }

    /// How many calls of a method reached the emulator.
    pub async fn calls(&self, method: &str) -> u64 {
        self.stats().await["calls"][method].as_u64().unwrap_or(0)
    }

    /// Waits (bounded) until the credentials check has a verdict other than pending.
    pub async fn credentials_settled(&self) -> CheckState {
        eventually("the credentials check has a verdict", || async {
            let state = self.state.readiness.credentials.get();
            (state != CheckState::Pending).then_some(state)
        })
        .await
    }

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

/// A child process of a test, killed when the test ends, whatever happens.
pub struct Running(pub std::process::Child);

/// Sends SIGTERM to `child` (the signal a deployment stops a replica with).
pub fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "SIGTERM reaches the process");
}

impl Running {
    /// Stops the process with SIGTERM and answers every line it printed (`lines`, from
    /// [`start_binary`]) until it exited: the end of its output, not a quiet window, says that
    /// nothing more comes.
    pub fn stop_and_read(&mut self, lines: std::sync::mpsc::Receiver<String>) -> Vec<String> {
        use std::sync::mpsc::RecvTimeoutError;
        sigterm(&self.0);
        let until = std::time::Instant::now() + PATIENCE;
        let mut read = Vec::new();
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => read.push(line),
                Err(RecvTimeoutError::Disconnected) => return read,
                Err(RecvTimeoutError::Timeout) => panic!("the process did not stop: {read:#?}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the `invitation-gateway` binary with `args` and an environment of only `env`; every
/// line it prints on stdout (and, `with_stderr`, on stderr) arrives on the returned channel.
pub fn start_binary<K, V>(
    args: &[&str],
    env: impl IntoIterator<Item = (K, V)>,
    with_stderr: bool,
) -> (Running, std::sync::mpsc::Receiver<String>)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_invitation-gateway"));
    command.args(args);
    start_lines(command, env, with_stderr)
}

/// [`start_binary`] under the file-creation mask `umask` (octal, as `sh` takes it).
pub fn start_binary_with_umask<K, V>(
    umask: &str,
    args: &[&str],
    env: impl IntoIterator<Item = (K, V)>,
    with_stderr: bool,
) -> (Running, std::sync::mpsc::Receiver<String>)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let mut command = std::process::Command::new("/bin/sh");
    command
        .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_invitation-gateway"))
        .args(args);
    start_lines(command, env, with_stderr)
}

fn start_lines<K, V>(
    mut command: std::process::Command,
    env: impl IntoIterator<Item = (K, V)>,
    with_stderr: bool,
) -> (Running, std::sync::mpsc::Receiver<String>)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = command
        .env_clear()
        // The tracker's first walk would be a Google call no test counts on; tests that track
        // set the interval themselves (their value comes after this one and wins).
        .env("GATEWAY_TRACK_INTERVAL_SECS", "0")
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(if with_stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start invitation-gateway");
    let mut streams: Vec<Box<dyn Read + Send>> =
        vec![Box::new(child.stdout.take().expect("piped stdout"))];
    if let Some(stderr) = child.stderr.take() {
        streams.push(Box::new(stderr));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in streams {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (Running(child), rx)
}

/// The value of one series (`name{labels}`, as printed) of the replica's `/metrics`; 0 when the
/// series is not there (yet).
pub async fn metric(base: &str, series: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("the replica answers")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// The `email` of every line of an NDJSON text, sorted.
pub fn ndjson_emails(text: &str) -> Vec<String> {
    let mut emails: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["email"]
                .as_str()
                .expect("an email")
                .to_owned()
        })
        .collect();
    emails.sort_unstable();
    emails
}

/// The records of a CSV text as RFC 4180 reads them (quoted fields may hold commas, quotes and
/// line ends), for tests that read a CSV the gateway wrote.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Runs `test` on a fresh PostgreSQL database (its URL), then drops it; skipped like
/// [`crate::pg::PgDatabase::create`].
pub async fn on_postgresql<F: std::future::Future<Output = ()>>(test: impl FnOnce(String) -> F) {
    let Some(db) = crate::pg::PgDatabase::create().await else {
        return;
    };
    test(db.url.clone()).await;
    db.drop_it().await;
}
