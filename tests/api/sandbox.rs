//! `serve --sandbox` as a new user runs it: the real binary, no settings, no network.

use crate::helpers::{Running, start_binary};
use std::time::Duration;

/// Starts the sandbox on a free port and returns it with its banner lines.
fn start_sandbox() -> (Running, Vec<String>) {
    start_sandbox_with(&[])
}

/// [`start_sandbox`] with more settings in its environment.
fn start_sandbox_with(env: &[(&str, &str)]) -> (Running, Vec<String>) {
    let mut env = env.to_vec();
    env.extend([("RUST_LOG", "warn"), ("GATEWAY_LOG_FORMAT", "json")]);
    let (running, rx) = start_binary(
        &["serve", "--sandbox", "--listen", "127.0.0.1:0"],
        env,
        false,
    );
    let mut banner = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        // The banner ends with the bearer token.
        let done = line.trim_start().starts_with("eyJ");
        banner.push(line);
        if done {
            return (running, banner);
        }
    }
    panic!("the sandbox printed no banner: {banner:?}");
}

fn field<'a>(banner: &'a [String], label: &str) -> &'a str {
    banner
        .iter()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default())
        .unwrap_or_else(|| panic!("no {label} in {banner:?}"))
}

#[tokio::test]
async fn the_sandbox_serves_swagger_ui_against_its_own_emulator() {
    let (_sandbox, banner) = start_sandbox();
    let swagger = field(&banner, "Swagger UI:");
    let emulator = field(&banner, "Emulator:");
    invitation_gateway::install_crypto_provider();
    let client = reqwest::Client::new();

    let page = client.get(swagger).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);

    let stats: serde_json::Value = client
        .get(format!("{emulator}/emulator/v1/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["calls"].is_object(), "{stats}");

    // The gateway obtains its token from the emulator through the real credential path.
    let gateway = swagger.trim_end_matches("/swagger-ui/");
    crate::helpers::eventually("the gateway has its Google token", || async {
        let body: serde_json::Value = client
            .get(format!("{gateway}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let detail = body["detail"].as_str().unwrap_or("ready").to_owned();
        if detail.contains("credentials") {
            Err(detail)
        } else {
            Ok(())
        }
    })
    .await;
    let grants: serde_json::Value = client
        .get(format!("{emulator}/emulator/v1/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(grants["tokenGrants"][0]["sub"], "admin@example.com");
}

#[tokio::test]
async fn the_printed_token_works_for_every_operation() {
    let (_sandbox, banner) = start_sandbox();
    let gateway = field(&banner, "API:").trim_end_matches("/v1").to_owned();
    let token = banner.last().unwrap().trim().to_owned();
    invitation_gateway::install_crypto_provider();
    let client = reqwest::Client::new();
    let emails = serde_json::json!({"emails": ["grace+hr@example.com"]});

    for (method, path, body) in [
        ("POST", "/v1/eligibility/check", Some(&emails)),
        ("POST", "/v1/invitations/lookup", Some(&emails)),
        ("GET", "/v1/invitations?state=INVITED", None),
        ("GET", "/v1/invitations/summary", None),
        ("GET", "/v1/invitations/export", None),
        ("POST", "/v1/invitations/send", Some(&emails)),
        ("POST", "/v1/invitations/cancel", Some(&emails)),
        ("GET", "/v1/audit?action=send", None),
        ("POST", "/v1/audit/search", Some(&emails)),
    ] {
        let mut request = client
            .request(method.parse().unwrap(), format!("{gateway}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{method} {path}");
    }
}

#[tokio::test]
async fn the_sandbox_behaves_like_google_with_its_quota_of_sixty_calls_a_minute() {
    let (_sandbox, banner) = start_sandbox();
    let emulator = field(&banner, "Emulator:");
    invitation_gateway::install_crypto_provider();

    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!("{emulator}/emulator/v1/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(stats["quotaPerMinute"], 60, "{stats}");
}

#[tokio::test]
async fn the_sandbox_banner_names_the_console() {
    let (_sandbox, banner) = start_sandbox();
    let console = field(&banner, "Console:");
    let swagger = field(&banner, "Swagger UI:");
    assert_eq!(
        console,
        format!("{}/console/", swagger.trim_end_matches("/swagger-ui/"))
    );
    invitation_gateway::install_crypto_provider();
    let page = reqwest::get(console).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

#[tokio::test]
async fn the_sandbox_keeps_its_store_where_gateway_database_url_says() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("sandbox.db");
    let url = format!("sqlite://{}", database.display());
    let env = [("GATEWAY_DATABASE_URL", url.as_str())];
    invitation_gateway::install_crypto_provider();
    let client = reqwest::Client::new();
    let campaign = serde_json::json!({
        "name": "Kept", "dryRun": true, "source": {"emails": ["grace+hr@example.com"]}
    });

    let (first, banner) = start_sandbox_with(&env);
    let gateway = field(&banner, "API:").to_owned();
    let created = client
        .post(format!("{gateway}/campaigns"))
        .bearer_auth(banner.last().unwrap().trim())
        .json(&campaign)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    drop(first);
    assert!(database.exists(), "the store is in the named file");

    // A second sandbox on the same database sees what the first one made.
    let (_second, banner) = start_sandbox_with(&env);
    let gateway = field(&banner, "API:").to_owned();
    let listed: serde_json::Value = client
        .get(format!("{gateway}/campaigns"))
        .bearer_auth(banner.last().unwrap().trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["campaigns"][0]["name"], "Kept", "{listed}");
}

/// The migration guide's worked example (the `sh` block after its introduction).
fn migration_guide_worked_example() -> String {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/migration.md"))
        .expect("docs/migration.md");
    let intro = guide
        .find("A worked example against the sandbox")
        .expect("the migration guide has its worked example");
    let start = intro + guide[intro..].find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + guide[start..].find("```\n").expect("the block ends");
    guide[start..end].to_owned()
}

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn the_migration_guides_worked_example_runs_as_printed_against_the_sandbox() {
    if !(have("curl") && have("jq")) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the migration guide's example needs curl and jq"
        );
        eprintln!("skipped: the migration guide's example needs curl and jq");
        return;
    }
    let (_sandbox, banner) = start_sandbox();
    let api = field(&banner, "API:").trim_end_matches("/v1").to_owned();
    let token = banner.last().unwrap().trim().to_owned();
    // From a copy of the repository's root: the example reads examples/roster.csv and writes.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("examples")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/roster.csv"),
        root.path().join("examples/roster.csv"),
    )
    .expect("the repository ships examples/roster.csv");

    // The sandbox is its own process: this one may block while the example runs.
    let output = std::process::Command::new("timeout")
        .args(["120", "bash", "-e", "-o", "pipefail", "-c"])
        .arg(migration_guide_worked_example())
        .current_dir(root.path())
        .env("TOKEN", &token)
        .env("API", &api)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("/problems/"),
        "no problem answer: {stdout}"
    );

    // The dry run saw each kind of person in the roster once (two would be mailed).
    let counts: serde_json::Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        counts,
        serde_json::json!({"would_send": 2, "already_invited": 1, "already_accepted": 1,
                           "not_eligible": 1, "skipped": 1}),
        "{stdout}"
    );
    let report = std::fs::read_to_string(root.path().join("dry-run.csv")).unwrap();
    assert_eq!(report.matches("would_send").count(), 2, "{report}");
    // The real run waits for Monday; it was paused and resumed; its report has every person.
    assert!(stdout.contains("\"paused\""), "{stdout}");
    assert!(stdout.contains("\"scheduled\""), "{stdout}");
    assert_eq!(stdout.matches("\"email\":").count(), 6, "{stdout}");
}
