//! `invitation-gateway doctor`, the real binary against the emulator playing each setup problem.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestGoogle, spawn_google, start_binary};
use invitation_gateway::emulator::Seed;

const WRITE_SCOPE: &str = "https://www.googleapis.com/auth/cloud-identity.userinvitations";

/// What one run of doctor printed and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The check of this name in the JSON report.
    fn check(&self, name: &str) -> Value {
        self.json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|check| check["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {}", self.stdout))
    }
}

/// Runs doctor with serve's settings pointing at `url` and this key file.
async fn doctor_at(url: &str, key: &std::path::Path, args: &[&str]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_invitation-gateway"));
    command
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("GOOGLE_APPLICATION_CREDENTIALS", key)
        .env("GATEWAY_DELEGATED_ADMIN", ADMIN)
        .env("GATEWAY_GOOGLE_API_URL", url);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the doctor thread")
        .expect("doctor runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
    }
}

async fn doctor(google: &TestGoogle, args: &[&str]) -> Run {
    doctor_at(google.emulator.url(), &google.key_path, args).await
}

/// Most calls to Google doctor makes with a key file: two token exchanges (the read-write
/// scope, then the read-only one to tell a missing scope from missing delegation), one list page
/// and one isInvitableUser.
pub const KEY_FILE_CALLS: u64 = 4;
/// Most calls keyless: the workload's own token, signJwt + exchange for each of the two scopes,
/// one list page and one isInvitableUser.
pub const KEYLESS_CALLS: u64 = 7;

pub async fn stats(url: &str) -> Value {
    // Run alone, no other test has installed the process-wide rustls provider yet.
    invitation_gateway::install_crypto_provider();
    reqwest::get(format!("{url}/emulator/v1/stats"))
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("stats are JSON")
}

/// Doctor made at most `bound` calls to Google and never sent or cancelled; the calls made.
pub async fn assert_only_read(url: &str, bound: u64) -> u64 {
    let stats = stats(url).await;
    assert_eq!(stats["calls"]["send"], json!(0));
    assert_eq!(stats["calls"]["cancel"], json!(0));
    assert!(stats["mailsSent"].as_object().is_some_and(|m| m.is_empty()));
    let calls: u64 = stats["calls"]
        .as_object()
        .expect("calls")
        .values()
        .map(|count| count.as_u64().unwrap_or(0))
        .sum();
    assert!(calls <= bound, "{calls} > {bound}: {stats}");
    calls
}

fn client_id(google: &TestGoogle) -> String {
    let key: Value = serde_json::from_str(google.emulator.service_account_key_json()).unwrap();
    key["client_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_healthy_setup_passes_every_check_and_exits_zero() {
    let google = spawn_google(Seed::Demo).await;

    let run = doctor(&google, &[]).await;

    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
    for label in [
        "key file",
        "token exchange",
        "clock",
        "Cloud Identity API",
        "customer",
        "isInvitableUser",
        "write scope",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|line| line.starts_with("PASS") && line.contains(label)),
            "{label}: {}",
            run.stdout
        );
    }
    assert_only_read(google.emulator.url(), KEY_FILE_CALLS).await;
    // The emulator's access tokens are `ya29.emulator.<random>`, as Google's start `ya29.`.
    assert!(!run.stdout.contains("ya29."), "{}", run.stdout);
}

#[tokio::test]
async fn json_is_one_document_with_every_check() {
    let google = spawn_google(Seed::Demo).await;

    let run = doctor(&google, &["--json"]).await;

    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["ok"], json!(true));
    assert_eq!(report["mode"], json!("key_file"));
    assert!(!run.stdout.contains("ya29."), "{}", run.stdout);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "settings",
            "key_file",
            "key_age",
            "token_exchange",
            "clock",
            "api_enabled",
            "customer",
            "is_invitable_user",
            "write_scope"
        ]
    );
}

/// Plays `problem`, runs doctor, and returns the failed check naming it (after checking the
/// exit code and that nothing was sent).
async fn diagnose(problem: &str, failing_check: &str) -> (TestGoogle, Run, Value) {
    let google = spawn_google(Seed::Demo).await;
    google.control("setup", json!({ "problem": problem })).await;

    let run = doctor(&google, &["--json"]).await;

    assert_eq!(run.code, Some(1), "{problem}: {}", run.stdout);
    assert_eq!(run.json()["ok"], json!(false));
    let check = run.check(failing_check);
    assert_eq!(check["status"], json!("FAIL"), "{problem}: {check}");
    assert_eq!(check["problem"], json!(problem), "{check}");
    assert_only_read(google.emulator.url(), KEY_FILE_CALLS).await;
    (google, run, check)
}

#[tokio::test]
async fn missing_delegation_prints_the_admin_console_link_with_client_id_and_scope() {
    let (google, run, check) = diagnose("delegation_missing", "token_exchange").await;

    let fix = check["fix"].as_str().unwrap();
    let link = format!(
        "https://admin.google.com/ac/owl/domainwidedelegation?clientScopeToAdd={WRITE_SCOPE}&clientIdToAdd={}&overwriteClientId=true",
        client_id(&google)
    );
    assert!(fix.contains(&link), "{fix}");
    assert_eq!(run.check("customer")["status"], json!("SKIP"));
}

#[tokio::test]
async fn a_missing_scope_is_told_from_missing_delegation_and_blocks_writing() {
    let (google, run, check) = diagnose("scope_missing", "token_exchange").await;

    let fix = check["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("clientScopeToAdd={WRITE_SCOPE}&")),
        "{fix}"
    );
    assert!(fix.contains(&client_id(&google)), "{fix}");
    assert_eq!(run.check("write_scope")["status"], json!("FAIL"));
    // The longest key-file path reaches the bound docs/doctor.md states.
    let calls = assert_only_read(google.emulator.url(), KEY_FILE_CALLS).await;
    assert_eq!(calls, KEY_FILE_CALLS);
    // The read-only token still reads: the rest of the setup is checked.
    assert_eq!(run.check("customer")["status"], json!("PASS"));
}

#[tokio::test]
async fn an_unknown_admin_names_the_setting_to_change() {
    let (_google, _run, check) = diagnose("admin_unknown", "token_exchange").await;

    let fix = check["fix"].as_str().unwrap();
    assert!(
        fix.contains("GATEWAY_DELEGATED_ADMIN") && fix.contains(ADMIN),
        "{fix}"
    );
}

#[tokio::test]
async fn a_disabled_api_prints_the_enable_link_of_the_project() {
    let (_google, run, check) = diagnose("api_disabled", "api_enabled").await;

    let fix = check["fix"].as_str().unwrap();
    assert!(
        fix.contains("https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=emulator-project"),
        "{fix}"
    );
    assert_eq!(run.check("token_exchange")["status"], json!("PASS"));
}

#[tokio::test]
async fn a_disabled_key_says_to_enable_or_replace_it() {
    let (_google, _run, check) = diagnose("key_disabled", "token_exchange").await;

    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .contains("IAM > Service accounts")
    );
}

#[tokio::test]
async fn clock_skew_is_measured_against_googles_date() {
    let (_google, run, check) = diagnose("clock_skew", "token_exchange").await;

    assert!(check["fix"].as_str().unwrap().contains("NTP"), "{check}");
    let clock = run.check("clock");
    assert_eq!(clock["status"], json!("FAIL"), "{clock}");
    let detail = clock["detail"].as_str().unwrap();
    let skew: i64 = detail.split_whitespace().next().unwrap().parse().unwrap();
    assert!((7190..=7210).contains(&skew), "{detail}");
}

#[tokio::test]
async fn text_output_names_the_problem_and_its_fix_under_the_failed_line() {
    let google = spawn_google(Seed::Demo).await;
    google
        .control("setup", json!({ "problem": "delegation_missing" }))
        .await;

    let run = doctor(&google, &[]).await;

    assert_eq!(run.code, Some(1));
    let lines: Vec<&str> = run.stdout.lines().collect();
    let failed = lines
        .iter()
        .position(|line| line.starts_with("FAIL") && line.contains("token exchange"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        lines[failed + 1].trim() == "problem: delegation_missing",
        "{}",
        run.stdout
    );
    assert!(
        lines[failed + 2]
            .trim()
            .starts_with("fix: as a super admin open https://admin.google.com/")
    );
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stdout.contains("private_key"));
}

#[tokio::test]
async fn a_user_credential_instead_of_a_key_fails_before_calling_google() {
    let google = spawn_google(Seed::Demo).await;
    let path = google.key_dir().join("user.json");
    std::fs::write(
        &path,
        r#"{"type": "authorized_user", "client_id": "1.apps.googleusercontent.com", "client_secret": "x", "refresh_token": "y"}"#,
    )
    .unwrap();

    let run = doctor_at(google.emulator.url(), &path, &["--json"]).await;

    assert_eq!(run.code, Some(1));
    let check = run.check("key_file");
    assert_eq!(check["problem"], json!("key_invalid"));
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("user credential")
    );
    assert!(!run.stdout.contains("refresh_token") && !run.stdout.contains("\"y\""));
    assert_eq!(
        stats(google.emulator.url()).await["calls"]["token"],
        json!(0)
    );
}

#[tokio::test]
async fn the_standalone_emulator_plays_the_problem_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    let (_emulator, lines) = start_binary(
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--write-key",
            key.to_str().unwrap(),
            "--setup-problem",
            "api_disabled",
        ],
        [("GATEWAY_EMULATOR_ADMIN", ADMIN)],
        false,
    );
    let first =
        tokio::task::spawn_blocking(move || lines.recv_timeout(std::time::Duration::from_secs(30)))
            .await
            .unwrap()
            .expect("the emulator prints its URL");
    let url = first
        .strip_prefix("emulator listening on ")
        .expect("the URL line")
        .to_string();

    let run = doctor_at(&url, &key, &["--json"]).await;

    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(run.check("api_enabled")["problem"], json!("api_disabled"));
    assert_eq!(stats(&url).await["setupProblem"], json!("api_disabled"));
}

#[tokio::test]
async fn setting_the_problem_none_plays_a_healthy_setup_again() {
    let google = spawn_google(Seed::Demo).await;
    google
        .control("setup", json!({ "problem": "delegation_missing" }))
        .await;
    google.control("setup", json!({ "problem": "none" })).await;

    let run = doctor(&google, &[]).await;

    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(
        stats(google.emulator.url()).await["setupProblem"],
        json!("none")
    );
}

#[tokio::test]
async fn a_key_file_older_than_ninety_days_is_a_warning_not_a_failure() {
    let google = spawn_google(Seed::Demo).await;
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(100 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&google.key_path)
        .and_then(|file| file.set_modified(old))
        .expect("the key file's mtime is set");

    let run = doctor(&google, &["--json"]).await;

    assert_eq!(run.code, Some(0), "a warning does not fail: {}", run.stdout);
    let age = run.check("key_age");
    assert_eq!(age["status"], json!("WARN"), "{age}");
    assert!(
        age["detail"].as_str().unwrap().contains("100 days old"),
        "{age}"
    );
    assert!(
        age["fix"].as_str().unwrap().starts_with("rotate the key"),
        "{age}"
    );
}

#[tokio::test]
async fn a_deleted_key_says_to_add_a_new_one() {
    let (_google, _run, check) = diagnose("key_deleted", "token_exchange").await;

    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid JWT Signature."),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("add a new key"),
        "{check}"
    );
}

#[tokio::test]
async fn a_disabled_api_answering_only_access_not_configured_links_the_keys_project() {
    // Google's older body: no SERVICE_DISABLED ErrorInfo, no metadata, no Help link; only the
    // legacy reason.
    let google = spawn_google(Seed::Demo).await;
    google
        .control(
            "faults",
            json!({"method": "list", "status": 403, "reason": "accessNotConfigured", "count": 1}),
        )
        .await;

    let run = doctor(&google, &["--json"]).await;

    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let check = run.check("api_enabled");
    assert_eq!(check["problem"], json!("api_disabled"), "{check}");
    assert!(
        check["fix"].as_str().unwrap().contains(
            "https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=emulator-project"
        ),
        "{check}"
    );
}
