//! `doctor` in keyless mode, in-process through the library: the settings are serve's (parsed
//! from flags), with the workload's own identity a key file for the emulator's account (what
//! `serve --sandbox` and the gateway's keyless tests use), since no CLI path names one.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::doctor::{KEYLESS_CALLS, assert_only_read, stats};
use crate::helpers::{ADMIN, TestGoogle, spawn_google};
use clap::Parser;
use invitation_gateway::cli::{Cli, Command};
use invitation_gateway::config::AmbientCredentials;
use invitation_gateway::doctor::{self, CheckName, CheckStatus, Problem, Report};
use invitation_gateway::emulator::Seed;

/// Doctor with serve's keyless settings against `google`, signing as `signer`.
async fn keyless_doctor(google: &TestGoogle, signer: &str) -> Report {
    let url = google.emulator.url();
    let token_url = google.emulator.token_url();
    let cli = Cli::try_parse_from([
        "invitation-gateway",
        "doctor",
        "--signer-service-account",
        signer,
        "--delegated-admin",
        ADMIN,
        "--google-api-url",
        url,
        "--google-iam-url",
        url,
        "--google-token-url",
        &token_url,
    ])
    .expect("doctor's flags parse");
    let Command::Doctor(args) = cli.command else {
        panic!("not doctor");
    };
    let raw = args.serve.into();
    let ambient = AmbientCredentials::KeyFile(google.key_path.clone());
    doctor::run(&raw, &ambient, None).await
}

fn check(report: &Report, name: CheckName) -> &doctor::Check {
    report
        .checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no {name:?}: {}", report.to_text()))
}

#[tokio::test]
async fn keyless_doctor_names_the_signer_and_signs_through_iam() {
    let google = spawn_google(Seed::Demo).await;
    let signer = google.emulator.client_email().to_owned();

    let report = keyless_doctor(&google, &signer).await;

    let text = report.to_text();
    assert!(report.ok, "{text}");
    assert_eq!(report.mode, "keyless");
    let sign = check(&report, CheckName::SignJwt);
    assert_eq!(sign.status, CheckStatus::Pass, "{text}");
    assert!(sign.detail.contains(&signer), "{text}");
    assert!(
        text.lines().any(|line| line.starts_with("PASS")
            && line.contains("IAM signJwt")
            && line.contains(&signer)),
        "{text}"
    );
    assert_eq!(
        check(&report, CheckName::WriteScope).status,
        CheckStatus::Pass
    );
    let stats = stats(google.emulator.url()).await;
    assert!(stats["calls"]["signJwt"].as_u64().unwrap() > 0, "{stats}");
    assert_only_read(google.emulator.url(), KEYLESS_CALLS).await;
    assert!(
        !text.contains("ya29.") && !report.to_json().contains("ya29."),
        "{text}"
    );
}

#[tokio::test]
async fn a_signer_denied_by_iam_names_the_token_creator_role_and_the_signer() {
    let google = spawn_google(Seed::Demo).await;
    google
        .control("setup", json!({ "problem": "signer_denied" }))
        .await;
    let signer = google.emulator.client_email().to_owned();

    let report = keyless_doctor(&google, &signer).await;

    assert!(!report.ok);
    let sign = check(&report, CheckName::SignJwt);
    assert_eq!(sign.status, CheckStatus::Fail, "{}", report.to_text());
    assert_eq!(sign.problem, Some(Problem::SignerDenied));
    assert!(
        sign.detail
            .contains("Permission 'iam.serviceAccounts.signJwt' denied"),
        "{}",
        sign.detail
    );
    let fix = sign.fix.as_deref().unwrap();
    for part in [
        "Service Account Token Creator",
        "roles/iam.serviceAccountTokenCreator",
        signer.as_str(),
    ] {
        assert!(fix.contains(part), "{part}: {fix}");
    }
    assert_eq!(
        check(&report, CheckName::Customer).status,
        CheckStatus::Skip
    );
    let stats: Value = stats(google.emulator.url()).await;
    assert_eq!(stats["calls"]["signJwt"], json!(1), "{stats}");
    assert_only_read(google.emulator.url(), KEYLESS_CALLS).await;
}

#[tokio::test]
async fn keyless_missing_scope_takes_the_longest_path_within_its_call_bound() {
    // The longest keyless path: the workload's token, signJwt + exchange for both scopes.
    let google = spawn_google(Seed::Demo).await;
    google
        .control("setup", json!({ "problem": "scope_missing" }))
        .await;
    let signer = google.emulator.client_email().to_owned();

    let report = keyless_doctor(&google, &signer).await;

    let exchange = check(&report, CheckName::TokenExchange);
    assert_eq!(
        exchange.problem,
        Some(Problem::ScopeMissing),
        "{}",
        report.to_text()
    );
    assert!(exchange.fix.as_deref().unwrap().contains(&signer));
    let stats = stats(google.emulator.url()).await;
    assert_eq!(stats["calls"]["signJwt"], json!(2), "{stats}");
    let calls = assert_only_read(google.emulator.url(), KEYLESS_CALLS).await;
    assert_eq!(
        calls, KEYLESS_CALLS,
        "the longest keyless path reaches the bound"
    );
}
