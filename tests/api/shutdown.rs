//! Shutdown: readiness fails at once, the listener keeps accepting for the drain pause,
//! in-flight requests finish, no Google call starts after the cutoff, the process exits 0.

use crate::helpers::{
    POLL, eventually_every, poll, poll_blocking, sigterm, spawn_app, spawn_google, test_settings,
    token,
};
use invitation_gateway::auth::Scope;
use invitation_gateway::emulator::Seed;
use invitation_gateway::google::UpstreamErrorKind;
use invitation_gateway::readiness::CheckState;
use invitation_gateway::startup::Application;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the child-process tests look at Google's counters: a send in flight is timed.
const STEP: Duration = Duration::from_millis(10);

#[tokio::test]
async fn after_the_cutoff_a_google_call_fails_with_draining_without_reaching_google() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    let before = app.google_calls().await;

    app.state
        .readiness
        .stop_upstream_calls_at(tokio::time::Instant::now());
    let err = app
        .state
        .google
        .get("grace+hr@example.com", &app.state.google.context(None))
        .await
        .expect_err("no call after the cutoff");

    assert_eq!(err.kind, UpstreamErrorKind::Draining);
    assert_eq!(app.google_calls().await, before, "Google saw no call");
}

#[tokio::test]
async fn after_the_cutoff_a_request_is_answered_503_without_calling_google() {
    let app = spawn_app().await;
    assert_eq!(app.credentials_settled().await, CheckState::Ready);
    let before = app.google_calls().await;
    app.state
        .readiness
        .stop_upstream_calls_at(tokio::time::Instant::now());

    let answer = app.get_as("/v1/invitations", &token(&[Scope::Read])).await;

    answer.assert_problem(503, "upstream_unavailable");
    assert_eq!(app.google_calls().await, before, "Google saw no call");
}

#[tokio::test]
async fn a_stop_fails_readiness_at_once_keeps_accepting_during_the_drain_then_stops() {
    let google = spawn_google(Seed::Demo).await;
    let mut settings = test_settings(&google);
    settings.http.shutdown_drain = Duration::from_millis(800);
    // The shortest the test's 2 s attempt timeout allows: 2 + 5 (settling read) + 1.
    settings.http.shutdown_timeout = Duration::from_secs(8);
    invitation_gateway::install_crypto_provider();
    let app = Application::build(settings)
        .await
        .expect("the gateway builds");
    let address = format!("http://{}", app.address());
    let readiness = app.state().readiness.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let ready = client.get(format!("{address}/livez")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    let stopping_at = Instant::now();
    stop.send(()).expect("the server listens for the stop");
    eventually_every(
        Duration::from_millis(5),
        Duration::from_secs(1),
        "the stop begins the drain",
        || async { readiness.is_draining() },
    )
    .await;
    let readyz = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    // A fresh connection: the listener still accepts during the drain pause.
    let livez = reqwest::Client::new()
        .get(format!("{address}/livez"))
        .send()
        .await
        .expect("the listener accepts during the drain");
    let drained_before = stopping_at.elapsed();

    assert_eq!(readyz.status().as_u16(), 503);
    assert_eq!(livez.status().as_u16(), 200);
    assert_eq!(
        livez.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "keep-alive clients are told to reconnect elsewhere"
    );
    assert!(
        drained_before < Duration::from_millis(800),
        "{drained_before:?}"
    );
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within drain + timeout")
        .expect("the server task ends");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        stopping_at.elapsed() >= Duration::from_millis(800),
        "the drain pause was kept"
    );
    assert!(
        reqwest::Client::new()
            .get(format!("{address}/livez"))
            .send()
            .await
            .is_err(),
        "the listener is closed once stopped"
    );
}

/// A child process of the real binary, killed when dropped, and its stdout as lines.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Spawns `command` with stdout piped; its lines arrive on the receiver.
    fn spawn(command: &mut Command) -> (Process, mpsc::Receiver<String>) {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("GATEWAY_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        (Process { child }, received)
    }

    /// Reads the lines until `take` returns something, within 60 s; later lines are drained,
    /// so a full pipe never blocks the gateway's logging.
    fn read_until<T>(lines: mpsc::Receiver<String>, mut take: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        let found = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(wait)
                .expect("the expected output within 60 s");
            if let Some(found) = take(&line) {
                break found;
            }
        };
        std::thread::spawn(move || while lines.recv().is_ok() {});
        found
    }

    fn terminate(&self) {
        sigterm(&self.child);
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        poll_blocking(
            POLL,
            within,
            || child.try_wait().expect("try_wait"),
            Option::is_some,
        )
    }
}

/// Polls `/readyz` until it answers 200 (at most 10 s).
async fn wait_ready(api: &str) -> bool {
    let client = reqwest::Client::new();
    let ready = || async {
        let answer = client.get(format!("{api}/readyz")).send().await;
        answer.is_ok_and(|a| a.status().as_u16() == 200)
    };
    poll(POLL, Duration::from_secs(10), ready, |ready| *ready).await
}

/// The real binary in sandbox mode.
struct Gateway {
    process: Process,
    api: String,
    emulator: String,
    token: String,
}

impl Gateway {
    /// Starts `serve --sandbox` on a free port and reads the URLs and the token from its banner.
    fn start(drain_secs: u64, timeout_secs: u64) -> Gateway {
        let (process, lines) = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_invitation-gateway"))
                .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
                .args(["--shutdown-drain-secs", &drain_secs.to_string()])
                .args(["--shutdown-timeout-secs", &timeout_secs.to_string()])
                // Room for the emulator latency the tests set, short enough for a 10 s timeout.
                .args(["--google-attempt-timeout-ms", "3000"])
                // No tracker: its walk is a list call of its own, which these tests would count
                // with the in-flight requests' (a loaded machine let it land in the window).
                .args(["--track-interval-secs", "0"]),
        );
        let (mut api, mut emulator) = (None, None);
        let mut token_next = false;
        let token = Process::read_until(lines, |line| {
            let trimmed = line.trim();
            if token_next {
                return Some(trimmed.to_owned());
            }
            if let Some(url) = trimmed.strip_prefix("API:") {
                api = Some(url.trim().trim_end_matches("/v1").to_owned());
            } else if let Some(rest) = trimmed.strip_prefix("Emulator:") {
                emulator = rest.split_whitespace().next().map(str::to_owned);
            } else if trimmed.starts_with("Bearer token") {
                token_next = true;
            }
            None
        });
        Gateway {
            process,
            api: api.expect("the banner names the API"),
            emulator: emulator.expect("the banner names the emulator"),
            token,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_lets_in_flight_requests_finish_and_exits_zero() {
    let (drain, timeout) = (1, 10);
    let mut gateway = Gateway::start(drain, timeout);
    let client = reqwest::Client::new();
    let ready = wait_ready(&gateway.api).await;
    assert!(ready, "the sandbox became ready");
    let latency = client
        .post(format!("{}/emulator/v1/latency", gateway.emulator))
        .json(&json!({"ms": 1500}))
        .send()
        .await
        .unwrap();
    assert!(latency.status().is_success());

    // Slow requests, each on its own connection, in flight at Google.
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{}/v1/invitations", gateway.api);
            let token = gateway.token.clone();
            tokio::spawn(async move {
                let answer = reqwest::Client::new()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await?;
                Ok::<u16, reqwest::Error>(answer.status().as_u16())
            })
        })
        .collect();
    let list_calls = || async {
        let stats: serde_json::Value = client
            .get(format!("{}/emulator/v1/stats", gateway.emulator))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["calls"]["list"].as_u64().unwrap_or(0)
    };
    let arrived = poll(STEP, Duration::from_millis(2500), list_calls, |n| *n >= 3).await;
    assert_eq!(arrived, 3, "the three list calls reached the emulator");

    let signalled = Instant::now();
    gateway.process.terminate();
    let readiness = || async {
        client
            .get(format!("{}/readyz", gateway.api))
            .send()
            .await
            .map(|a| a.status().as_u16())
            .unwrap_or(0)
    };
    let (every, at_once) = (Duration::from_millis(5), Duration::from_millis(500));
    let readyz = poll(every, at_once, readiness, |status| *status == 503).await;
    let still_in_flight = in_flight.iter().filter(|task| !task.is_finished()).count();

    assert_eq!(readyz, 503, "readiness fails at once after SIGTERM");
    assert_eq!(
        still_in_flight, 3,
        "readiness failed while the requests were in flight"
    );
    for task in in_flight {
        let status = task.await.expect("task").expect("the request is answered");
        assert_eq!(status, 200, "an in-flight request completes");
    }
    let limit = Duration::from_secs(drain + timeout + 5);
    let status = tokio::task::block_in_place(|| gateway.process.wait_exit(limit))
        .expect("the process exits within drain + timeout");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(drain),
        "the drain pause was kept"
    );
}

/// The real binary in key-file mode against an emulator of the test process, which outlives
/// it: what Google counted can be read after the gateway has exited.
struct Served {
    process: Process,
    api: String,
}

impl Served {
    fn start(google: &crate::helpers::TestGoogle, args: &[&str]) -> Served {
        let (process, lines) = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_invitation-gateway"))
                .env_clear()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(["--delegated-admin", crate::helpers::ADMIN])
                .args(["--google-api-url", google.emulator.url()])
                .arg("--google-application-credentials")
                .arg(&google.key_path)
                .arg("--database-url")
                .arg(format!(
                    "sqlite://{}",
                    google.key_dir().join("served.db").display()
                ))
                .args(args)
                .env("GATEWAY_JWT_HS256_SECRET", crate::helpers::JWT_SECRET),
        );
        let api = Process::read_until(lines, |line| {
            if !line.contains("invitation-gateway listening") {
                return None;
            }
            let at = line
                .find("127.0.0.1:")
                .expect("the bound address is logged");
            let port: String = line[at + "127.0.0.1:".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Some(format!("http://127.0.0.1:{port}"))
        });
        Served { process, api }
    }
}

async fn emulator_stats(google: &crate::helpers::TestGoogle) -> serde_json::Value {
    reqwest::get(format!("{}/emulator/v1/stats", google.emulator.url()))
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("stats are JSON")
}

/// Whether Google counted its first send within 2.5 s, looking every 10 ms (soon enough to
/// signal the gateway while that send is still in flight).
async fn first_send_reached(google: &crate::helpers::TestGoogle) -> bool {
    let one_send = || async { emulator_stats(google).await["calls"]["send"].as_u64() == Some(1) };
    poll(STEP, Duration::from_millis(2500), one_send, |sent| *sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_every_mail_google_counted_is_answered_and_audited_and_no_send_starts_that_could_not_finish()
 {
    let google = spawn_google(Seed::Demo).await;
    let audit_dir = tempfile::tempdir().expect("temporary directory");
    let audit_path = audit_dir.path().join("audit.jsonl");
    // One whole send is 4 s (attempt) + 5 s (settling read) + 1 s = the 10 s timeout: Google
    // calls stop 1 s after the signal, when the drain ends.
    let mut gateway = Served::start(
        &google,
        &[
            "--shutdown-drain-secs",
            "1",
            "--shutdown-timeout-secs",
            "10",
            "--google-attempt-timeout-ms",
            "4000",
            "--batch-concurrency",
            "1",
            "--audit-file",
            audit_path.to_str().expect("a UTF-8 path"),
        ],
    );
    let client = reqwest::Client::new();
    let ready = wait_ready(&gateway.api).await;
    assert!(ready, "the gateway became ready");
    // The first send is applied after 2.5 s (well inside the 4 s attempt, well past the 1 s
    // cutoff) and its answer is lost: only the settling read can tell that the mail went out.
    let fault = client
        .post(format!("{}/emulator/v1/faults", google.emulator.url()))
        .json(&json!({"method": "send", "status": 503, "count": 1, "latencyMs": 2500, "afterApply": true}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());

    let request = {
        let url = format!("{}/v1/invitations/send", gateway.api);
        let token = crate::helpers::token(&[Scope::Send]);
        tokio::spawn(async move {
            let answer = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"emails": ["donald@example.com", "john@example.com"]}))
                .send()
                .await?;
            let status = answer.status().as_u16();
            Ok::<_, reqwest::Error>((status, answer.json::<serde_json::Value>().await?))
        })
    };
    let started = first_send_reached(&google).await;
    assert!(started, "the first send reached Google");
    gateway.process.terminate();

    let (status, body) = request
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    let exit =
        tokio::task::block_in_place(|| gateway.process.wait_exit(Duration::from_secs(11 + 5)))
            .expect("the process exits within drain + timeout");
    let stats = emulator_stats(&google).await;
    let audit = std::fs::read_to_string(&audit_path).expect("the audit file");
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
        .collect();

    assert_eq!(status, 200, "{body}");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results[0]["outcome"], "sent", "{body}");
    assert_eq!(results[1]["outcome"], "failed", "{body}");
    assert_eq!(
        results[1]["error"]["code"], "upstream_unavailable",
        "{body}"
    );
    assert_eq!(
        stats["mailsSent"],
        json!({"donald@example.com": 1}),
        "the send after the cutoff never reached Google"
    );
    assert_eq!(stats["calls"]["send"], 1, "{stats}");
    for (email, _) in stats["mailsSent"].as_object().expect("mailsSent") {
        let recorded = records.iter().any(|r| {
            r["email"] == email.as_str() && r["action"] == "send" && r["outcome"] == "sent"
        });
        assert!(
            recorded,
            "{email} was mailed but not audited as sent: {audit}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r["email"] == "john@example.com" && r["outcome"] == "failed"),
        "the refused item is audited too: {audit}"
    );
}

/// POSTs to the emulator's fault queue.
async fn add_fault(google: &crate::helpers::TestGoogle, fault: serde_json::Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/emulator/v1/faults", google.emulator.url()))
        .json(&fault)
        .send()
        .await
        .expect("the emulator answers");
    assert!(answer.status().is_success(), "{fault}");
}

/// Every audit row of `email` in a gateway's SQLite store, as (outcome, detail), oldest first.
async fn stored_audit(db: &std::path::Path, email: &str) -> Vec<(Option<String>, Option<String>)> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the store");
    let rows: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT outcome, detail FROM audit_events WHERE email = $1 ORDER BY id")
            .bind(email)
            .fetch_all(&mut conn)
            .await
            .expect("read the audit rows");
    let _ = conn.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_sigterm_cuts_off_before_its_outcome_can_be_read_answers_and_audits_unknown_and_a_restart_settles_it()
 {
    let google = spawn_google(Seed::Demo).await;
    let audit_dir = tempfile::tempdir().expect("temporary directory");
    let audit_path = audit_dir.path().join("audit.jsonl");
    let args = [
        "--shutdown-drain-secs",
        "1",
        "--shutdown-timeout-secs",
        "10",
        "--google-attempt-timeout-ms",
        "4000",
        "--campaign-poll-millis",
        "20",
        "--audit-file",
        audit_path.to_str().expect("a UTF-8 path"),
    ];
    let mut gateway = Served::start(&google, &args);
    assert!(wait_ready(&gateway.api).await, "the gateway became ready");
    // Installed before the send, in order: the read before the send passes; the send is
    // applied after 2.5 s (past the 1 s cutoff) and its answer lost; every later read fails,
    // so nothing can tell whether the mail went out.
    add_fault(&google, json!({"method": "get", "count": 1})).await;
    add_fault(
        &google,
        json!({"method": "send", "status": 503, "count": 1, "latencyMs": 2500, "afterApply": true}),
    )
    .await;
    add_fault(
        &google,
        json!({"method": "get", "status": 503, "count": 1000}),
    )
    .await;
    let request = {
        let url = format!("{}/v1/invitations/send", gateway.api);
        let token = crate::helpers::token(&[Scope::Send]);
        tokio::spawn(async move {
            let answer = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"emails": ["donald@example.com"]}))
                .send()
                .await?;
            let status = answer.status().as_u16();
            Ok::<_, reqwest::Error>((status, answer.json::<serde_json::Value>().await?))
        })
    };
    let started = first_send_reached(&google).await;
    assert!(started, "the send reached Google");
    gateway.process.terminate();
    let (status, body) = request
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    let exit =
        tokio::task::block_in_place(|| gateway.process.wait_exit(Duration::from_secs(11 + 5)))
            .expect("the process exits within drain + timeout");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["outcome"], "unknown", "{body}");
    assert_eq!(
        emulator_stats(&google).await["mailsSent"],
        json!({"donald@example.com": 1}),
        "Google mailed"
    );
    // The store and the file say `unknown`, never `failed`.
    let db = google.key_dir().join("served.db");
    let stored = stored_audit(&db, "donald@example.com").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0.as_deref(), Some("unknown"), "{stored:?}");
    let filed = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("the audit file")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
            .filter(|r| r["email"] == "donald@example.com")
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(filed(&audit_path), ["unknown"]);

    // Google answers again; the same store restarted settles it by itself (its sweep).
    let cleared = reqwest::Client::new()
        .delete(format!("{}/emulator/v1/faults", google.emulator.url()))
        .send()
        .await
        .expect("the emulator answers");
    assert!(cleared.status().is_success());
    let mut restarted = Served::start(&google, &args);
    assert!(
        wait_ready(&restarted.api).await,
        "the restarted gateway became ready"
    );
    let rows = || stored_audit(&db, "donald@example.com");
    let all_sent = |rows: &Vec<(Option<String>, Option<String>)>| {
        rows.iter().all(|r| r.0.as_deref() == Some("sent"))
    };
    let stored = poll(POLL, Duration::from_secs(10), rows, all_sent).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0.as_deref(), Some("sent"), "{stored:?}");
    assert!(
        stored[0]
            .1
            .as_deref()
            .is_some_and(|d| d.starts_with("settled later")),
        "{stored:?}"
    );
    let lines = || async { filed(&audit_path) };
    let outcomes = poll(POLL, Duration::from_secs(10), lines, |o| o.len() == 2).await;
    assert_eq!(outcomes, ["unknown", "sent"], "the file is append-only");
    assert_eq!(
        emulator_stats(&google).await["calls"]["send"],
        1,
        "no second send"
    );
    restarted.process.terminate();
    let _ = tokio::task::block_in_place(|| restarted.process.wait_exit(Duration::from_secs(16)));
}
