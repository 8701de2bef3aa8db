//! The `token` command, black box: run the binary, decode what it prints.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::process::Command;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_invitation-gateway"));
    command.env_clear();
    command
}

/// `token --sub s --scope <scope>`, then `--ttl <ttl>` when given, with `secret` as the HS256
/// secret when given (more settings may be added before it runs).
fn mint(scope: &str, ttl: Option<&str>, secret: Option<&str>) -> Command {
    let mut command = gateway();
    command.args(["token", "--sub", "s", "--scope", scope]);
    if let Some(ttl) = ttl {
        command.args(["--ttl", ttl]);
    }
    if let Some(secret) = secret {
        command.env("GATEWAY_JWT_HS256_SECRET", secret);
    }
    command
}

#[test]
fn token_prints_only_an_hs256_jwt_with_the_requested_claims() {
    let output = gateway()
        .args([
            "token",
            "--sub",
            "hr-system",
            "--scope",
            "invitations.check invitations.read",
            "--ttl",
            "30m",
        ])
        .env("GATEWAY_JWT_HS256_SECRET", SECRET)
        .env("GATEWAY_JWT_ISSUER", "https://idp.example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim_end();

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["https://idp.example.com"]);
    validation.set_audience(&["invitation-gateway"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("the token verifies with the same secret");
    let claims = data.claims;
    assert_eq!(data.header.alg, Algorithm::HS256);
    assert_eq!(claims["sub"], "hr-system");
    assert_eq!(claims["scope"], "invitations.check invitations.read");
    assert_eq!(claims["iss"], "https://idp.example.com");
    assert_eq!(claims["aud"], "invitation-gateway");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 30 * 60);
    let now = chrono::Utc::now().timestamp();
    assert!((claims["iat"].as_i64().unwrap() - now).abs() < 60);
}

#[test]
fn token_without_a_secret_names_the_setting() {
    let output = mint("invitations.read", None, None).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("GATEWAY_JWT_HS256_SECRET"), "{stderr}");
}

#[test]
fn token_refuses_a_short_secret_and_unknown_scopes() {
    let short = mint("invitations.read", None, Some("short"))
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 bytes"));
    let unknown = mint("invitations.admin", None, Some(SECRET))
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("invitations.admin"));
}

#[test]
fn token_refuses_a_bad_ttl() {
    let output = mint("invitations.read", Some("1w"), Some(SECRET))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn token_refuses_a_ttl_the_gateway_would_refuse_naming_the_setting() {
    let mint_for = |ttl: &str, max: Option<&str>| {
        let mut command = mint("invitations.read", Some(ttl), Some(SECRET));
        if let Some(max) = max {
            command.env("GATEWAY_JWT_MAX_LIFETIME_SECS", max);
        }
        command.output().unwrap()
    };
    // Past the gateway's default of 24 h.
    let refused = mint_for("2d", None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty());
    let line = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    assert!(line.contains("GATEWAY_JWT_MAX_LIFETIME_SECS"), "{line}");
    assert!(line.contains("86400"), "{line}");

    assert!(
        mint_for("1d", None).status.success(),
        "24 h is the limit itself"
    );
    // A gateway configured for longer tokens: the same setting lets the command mint them.
    assert!(mint_for("2d", Some("172800")).status.success());
}
