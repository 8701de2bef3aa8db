use crate::helpers::{POLL, poll_blocking};
use std::process::Command;

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_invitation-gateway"));
    // Only what a test sets: the caller's environment must not leak settings in.
    command.env_clear();
    command
}

#[test]
fn serve_without_credentials_refuses_to_start_with_one_clear_line() {
    let output = gateway()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "GATEWAY_JWT_HS256_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{stderr}"
    );
}

#[test]
fn a_value_from_the_environment_that_does_not_parse_is_one_line_naming_the_variable() {
    let output = gateway()
        .arg("serve")
        .env("GATEWAY_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("invitation-gateway: error: "),
        "{stderr}"
    );
    assert!(stderr.contains("GATEWAY_LISTEN"), "{stderr}");
}

#[test]
fn a_bad_url_setting_is_named() {
    let output = gateway()
        .args([
            "serve",
            "--signer-service-account",
            "sa@p.iam.gserviceaccount.com",
        ])
        .env("GATEWAY_DELEGATED_ADMIN", "admin@example.com")
        .env(
            "GATEWAY_JWT_HS256_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .env("GATEWAY_GOOGLE_API_URL", "ftp://example.com")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("GATEWAY_GOOGLE_API_URL"), "{stderr}");
}

#[test]
fn help_documents_every_setting_with_its_env_var_and_hides_secrets() {
    let output = gateway()
        .args(["serve", "--help"])
        .env(
            "GATEWAY_JWT_HS256_SECRET",
            "super-secret-value-that-must-not-print",
        )
        .env(
            "GATEWAY_LOG_HASH_KEY",
            "super-secret-hash-key-that-must-not-print",
        )
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for env in [
        "GATEWAY_LISTEN",
        "GATEWAY_CUSTOMER",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GATEWAY_DELEGATED_ADMIN",
        "GATEWAY_SIGNER_SERVICE_ACCOUNT",
        "GATEWAY_GOOGLE_API_URL",
        "GATEWAY_GOOGLE_IAM_URL",
        "GATEWAY_GOOGLE_TOKEN_URL",
        "GATEWAY_JWT_HS256_SECRET",
        "GATEWAY_JWT_PUBLIC_KEY_FILE",
        "GATEWAY_JWT_JWKS_URL",
        "GATEWAY_JWT_ISSUER",
        "GATEWAY_JWT_AUDIENCE",
        "GATEWAY_ALLOWED_DOMAINS",
        "GATEWAY_LOG_FORMAT",
        "GATEWAY_JWT_LEEWAY_SECS",
        "GATEWAY_JWT_MAX_LIFETIME_SECS",
        "GATEWAY_JWT_SCOPE_CLAIM",
        "GATEWAY_JWT_JWKS_TTL_SECS",
        "GATEWAY_RATE_LIMIT_PER_SECOND",
        "GATEWAY_RATE_LIMIT_BURST",
        "GATEWAY_DAILY_MAIL_LIMIT",
        "GATEWAY_AUDIT_FILE",
        "GATEWAY_LOG_HASH_KEY",
        "GATEWAY_BATCH_CONCURRENCY",
        "GATEWAY_JSON_LIMIT_BYTES",
        "GATEWAY_BODY_READ_TIMEOUT_SECS",
        "GATEWAY_SHUTDOWN_DRAIN_SECS",
        "GATEWAY_SHUTDOWN_TIMEOUT_SECS",
        "GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS",
        "GATEWAY_TRACK_LEASE_SECS",
    ] {
        assert!(help.contains(env), "--help does not mention {env}");
    }
    assert!(!help.contains("super-secret-value"), "a secret was printed");
}

#[test]
fn docs_settings_table_is_the_one_help_renders() {
    const START: &str = "<!-- settings-table:start -->\n";
    const END: &str = "<!-- settings-table:end -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/settings.md");
    let doc = std::fs::read_to_string(&path).expect("docs/settings.md exists");
    let (head, rest) = doc
        .split_once(START)
        .expect("docs/settings.md has the start marker");
    let (table, tail) = rest
        .split_once(END)
        .expect("docs/settings.md has the end marker");
    // What `invitation-gateway settings-table` prints: every serve flag, env, help, default.
    let output = gateway().arg("settings-table").output().unwrap();
    assert!(output.status.success());
    let rendered = String::from_utf8(output.stdout).unwrap();
    assert!(rendered.contains("| `GATEWAY_DATABASE_URL` | `--database-url` |"));
    assert!(rendered.contains("| `GATEWAY_LOG_FORMAT` | `--log-format` |"));
    if table == rendered {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{head}{START}{rendered}{END}{tail}")).unwrap();
        return;
    }
    panic!(
        "docs/settings.md's table differs from the flags' help (src/config/): regenerate it with \
         `UPDATE_DOCS=1 cargo test --test api settings_table`"
    );
}

#[test]
fn a_shutdown_timeout_too_short_to_finish_and_record_a_send_is_refused_at_start() {
    // The sandbox needs no credentials: only the timing settings can stop it from starting.
    let mut child = gateway()
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .env("GATEWAY_SHUTDOWN_TIMEOUT_SECS", "5")
        .env("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS", "10000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let within = std::time::Duration::from_secs(20);
    let exited = || child.try_wait().unwrap();
    let status = poll_blocking(POLL, within, exited, Option::is_some);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = status.expect("the gateway refuses to start instead of running");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("GATEWAY_SHUTDOWN_TIMEOUT_SECS")
            && stderr.contains("GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS"),
        "{stderr}"
    );
}

#[test]
fn a_tracker_lease_of_zero_too_long_or_shorter_than_a_webhook_attempt_is_refused_with_one_line() {
    let webhooks = [
        ("GATEWAY_WEBHOOK_URLS", "http://127.0.0.1:9/hooks"),
        (
            "GATEWAY_WEBHOOK_SECRET",
            "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        ("GATEWAY_WEBHOOK_TIMEOUT_MS", "10000"),
    ];
    for (lease, extra, names) in [
        ("0", &[][..], &["GATEWAY_TRACK_LEASE_SECS"][..]),
        ("3601", &[][..], &["GATEWAY_TRACK_LEASE_SECS"][..]),
        (
            "10",
            &webhooks[..],
            &["GATEWAY_TRACK_LEASE_SECS", "GATEWAY_WEBHOOK_TIMEOUT_MS"][..],
        ),
    ] {
        let output = gateway()
            .args([
                "serve",
                "--signer-service-account",
                "sa@p.iam.gserviceaccount.com",
            ])
            .env("GATEWAY_DELEGATED_ADMIN", "admin@example.com")
            .env(
                "GATEWAY_JWT_HS256_SECRET",
                "0123456789abcdef0123456789abcdef",
            )
            .env("GATEWAY_TRACK_LEASE_SECS", lease)
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{lease}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        for name in names {
            assert!(stderr.contains(name), "{lease}: {stderr}");
        }
        assert!(!stderr.contains("127.0.0.1"), "no webhook URL: {stderr}");
    }
}

#[tokio::test]
async fn migrate_applies_the_schema_and_a_newer_schema_stops_it_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let migrate = || {
        gateway()
            .arg("migrate")
            .env("GATEWAY_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let first = migrate();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert!(dir.path().join("gateway.db").is_file());

    // A later binary's migration, as a newer release would leave it.
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut db)
        .await
        .unwrap();
        db.close().await.unwrap();
    }
    let refused = migrate();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("9999"), "{stderr}");
    assert!(!stderr.contains(&url), "the URL is never printed: {stderr}");
}
