//! The command line parsed and validated as `serve` would.

use super::*;
use crate::config::{self, ConfigError, ServeArgs};
use std::time::Duration;

trait Validate {
    fn validate(self) -> Result<config::Settings, ConfigError>;
}

impl Validate for ServeArgs {
    fn validate(self) -> Result<config::Settings, ConfigError> {
        self.settings()
    }
}

fn parse(args: &[&str]) -> ServeArgs {
    let mut argv = vec!["invitation-gateway", "serve"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Serve(args) => *args,
        other => panic!("expected serve, got {other:?}"),
    }
}

const SECRET: &str = "--jwt-hs256-secret=0123456789abcdef0123456789abcdef";
const SIGNER: &str = "--signer-service-account=sa@p.iam.gserviceaccount.com";
const ADMIN: &str = "--delegated-admin=admin@example.com";

fn clap_refusal(args: &[&str]) -> String {
    let mut argv = vec!["invitation-gateway", "serve"];
    argv.extend_from_slice(args);
    parse_failure(&Cli::try_parse_from(argv).expect_err("clap refuses"))
}

#[test]
fn a_value_clap_refuses_is_one_line_naming_flag_and_env_var() {
    let line = clap_refusal(&["--listen", "nowhere"]);
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains("'nowhere'") && line.contains("--listen"),
        "{line}"
    );
    assert!(line.ends_with("(env GATEWAY_LISTEN)"), "{line}");
    assert!(!line.starts_with("error:"), "{line}");
}

#[test]
fn a_json_limit_under_one_kib_is_refused_not_clamped() {
    let line = refusal("--json-limit-bytes=100");
    assert!(line.contains("GATEWAY_JSON_LIMIT_BYTES"), "{line}");
    let mut args = VALID.to_vec();
    args.push("--json-limit-bytes=1024");
    let settings = parse(&args).validate().expect("1024 is enough");
    assert_eq!(settings.http.json_limit_bytes, 1024);
}

#[test]
fn a_store_prune_interval_of_zero_is_refused() {
    let line = refusal("--store-prune-interval-secs=0");
    assert!(line.contains("GATEWAY_STORE_PRUNE_INTERVAL_SECS"), "{line}");
    let settings = parse(&VALID).validate().expect("the default is valid");
    assert_eq!(
        settings.store.prune_interval,
        std::time::Duration::from_secs(3600)
    );
}

#[test]
fn every_serve_flag_has_its_own_environment_variable() {
    use clap::CommandFactory;
    let command = Cli::command();
    let serve = command
        .find_subcommand("serve")
        .expect("serve is a command");
    let mut seen = std::collections::HashSet::new();
    for arg in serve.get_arguments().filter(|a| a.get_long().is_some()) {
        if matches!(arg.get_long(), Some("help" | "version")) {
            continue;
        }
        let env = arg
            .get_env()
            .unwrap_or_else(|| panic!("--{} has no env", arg.get_long().unwrap_or_default()));
        assert!(seen.insert(env.to_owned()), "{env:?} twice");
    }
}

#[test]
fn an_unknown_flag_is_one_line_too() {
    let line = clap_refusal(&["--no-such-flag"]);
    assert!(
        !line.contains('\n') && line.contains("--no-such-flag"),
        "{line}"
    );
}

#[test]
fn serve_without_credentials_names_what_is_missing() {
    let err = refused(&[SECRET]);
    assert!(err.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
}

#[test]
fn serve_without_admin_names_the_setting() {
    let err = refused(&[SIGNER, SECRET]);
    assert!(err.contains("GATEWAY_DELEGATED_ADMIN"), "{err}");
}

#[test]
fn serve_without_jwt_key_source_names_the_settings() {
    let err = refused(&[SIGNER, ADMIN]);
    assert!(err.contains("GATEWAY_JWT_HS256_SECRET"), "{err}");
}

#[test]
fn short_hs256_secret_is_refused() {
    let err = refused(&[SIGNER, ADMIN, "--jwt-hs256-secret=short"]);
    assert!(err.contains("at least 32 bytes"), "{err}");
}

const VALID: [&str; 3] = [SIGNER, ADMIN, SECRET];

/// Why serve refuses to start with `args`.
fn refused(args: &[&str]) -> String {
    parse(args).validate().unwrap_err().to_string()
}

/// Why serve refuses a valid set of settings plus `extra`.
fn refusal(extra: &str) -> String {
    let mut args = VALID.to_vec();
    args.push(extra);
    refused(&args)
}

#[test]
fn auth_limits_audit_and_hash_settings_are_validated_by_name() {
    assert!(refusal("--rate-limit-per-second=0").contains("GATEWAY_RATE_LIMIT_PER_SECOND"));
    assert!(refusal("--rate-limit-burst=0").contains("GATEWAY_RATE_LIMIT_BURST"));
    assert!(refusal("--log-hash-key=short").contains("GATEWAY_LOG_HASH_KEY"));
    assert!(refusal("--jwt-leeway-secs=3600").contains("GATEWAY_JWT_LEEWAY_SECS"));
    assert!(refusal("--jwt-max-lifetime-secs=0").contains("GATEWAY_JWT_MAX_LIFETIME_SECS"));
    assert!(refusal("--jwt-scope-claim= ").contains("GATEWAY_JWT_SCOPE_CLAIM"));
    let missing_dir = refusal("--audit-file=/nonexistent-dir/audit.jsonl");
    assert!(missing_dir.contains("GATEWAY_AUDIT_FILE"), "{missing_dir}");
}

#[test]
fn values_that_were_silently_corrected_are_refused_by_name() {
    for (flag, env) in [
        ("--google-max-attempts=0", "GATEWAY_GOOGLE_MAX_ATTEMPTS"),
        (
            "--google-breaker-open-secs=0",
            "GATEWAY_GOOGLE_BREAKER_OPEN_SECS",
        ),
        ("--batch-concurrency=0", "GATEWAY_BATCH_CONCURRENCY"),
        ("--jwt-jwks-ttl-secs=29", "GATEWAY_JWT_JWKS_TTL_SECS"),
    ] {
        let line = refusal(flag);
        assert!(
            line.starts_with(env) && !line.contains('\n'),
            "{flag}: {line}"
        );
    }
}

#[test]
fn auth_settings_have_safe_defaults() {
    let settings = parse(&VALID).validate().expect("valid settings");
    assert_eq!(settings.jwt.leeway, Duration::from_secs(30));
    assert_eq!(settings.jwt.max_lifetime, Duration::from_secs(86_400));
    assert_eq!(settings.jwt.scope_claim, "scope");
    assert_eq!(settings.jwt.jwks_ttl, Duration::from_secs(600));
    assert_eq!(settings.limits.requests_per_second, 10);
    assert_eq!(settings.limits.burst, 20);
    assert_eq!(settings.limits.daily_mails_per_caller, 1000);
    assert!(settings.audit.file.is_none() && settings.log_hash_key.is_none());
}

#[test]
fn keyless_settings_are_accepted() {
    let settings = parse(&[SIGNER, ADMIN, SECRET, "--allowed-domains=Example.com"])
        .validate()
        .expect("valid settings");
    assert_eq!(settings.allowed_domains, vec!["example.com"]);
    assert!(matches!(
        settings.google.credentials,
        config::GoogleCredentials::Keyless { .. }
    ));
}
