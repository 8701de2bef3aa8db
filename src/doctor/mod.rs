//! `invitation-gateway doctor`: checks every step of Google's setup with `serve`'s settings,
//! PASS/WARN/FAIL each, with the one action that fixes a failure. Calls Google at most 4 times
//! with a key file (two token exchanges, one list page, one isInvitableUser), 7 keyless (the
//! workload's token, then signJwt with each exchange); never sends or cancels; prints no secret.

mod api;
mod credential;
mod report;

use std::time::Duration;

pub use report::{Check, CheckName, CheckStatus, Problem, Report};

use crate::config::{AmbientCredentials, RawSettings, env};

/// The settings the checks use, as given to `serve` (validated here, so that a mistake is a
/// FAIL line rather than a refusal to start).
struct Setup {
    customer: String,
    admin: String,
    api_url: String,
    iam_url: String,
    token_url: String,
    readonly: bool,
    http: reqwest::Client,
}

/// Runs every check; `ambient` is the workload's own identity in keyless mode (as `serve` would
/// use it), `probe` the address isInvitableUser is asked about (never mailed), by default
/// `doctor-probe@` the admin's domain.
pub async fn run(raw: &RawSettings, ambient: &AmbientCredentials, probe: Option<&str>) -> Report {
    let mode = match (
        &raw.google_application_credentials,
        &raw.signer_service_account,
    ) {
        (Some(_), _) => "key_file",
        (None, Some(_)) => "keyless",
        (None, None) => "none",
    };
    let mut report = Report::new(mode);
    let Some(setup) = setup(raw, &mut report) else {
        return report;
    };
    let granted = match (
        &raw.google_application_credentials,
        &raw.signer_service_account,
    ) {
        (Some(path), _) => credential::key_file(&setup, path, &mut report).await,
        (None, Some(signer)) => credential::keyless(&setup, signer, ambient, &mut report).await,
        (None, None) => None,
    };
    let Some(granted) = granted else {
        for name in [
            CheckName::ApiEnabled,
            CheckName::Customer,
            CheckName::IsInvitableUser,
            CheckName::WriteScope,
        ] {
            report.skip(name, "no token");
        }
        return report;
    };
    let domain = setup.admin.rsplit('@').next().unwrap_or_default();
    let probe = probe
        .map(str::to_owned)
        .unwrap_or_else(|| format!("doctor-probe@{domain}"));
    api::check(&setup, &granted, &probe, &mut report).await;
    report
}

/// The settings check: credentials and admin named, URLs usable.
fn setup(raw: &RawSettings, report: &mut Report) -> Option<Setup> {
    let admin = raw.delegated_admin.as_deref().unwrap_or_default().trim();
    let missing =
        if raw.google_application_credentials.is_none() && raw.signer_service_account.is_none() {
            Some(format!(
                "set {} (a key file) or {} (keyless)",
                env::GOOGLE_APPLICATION_CREDENTIALS,
                env::SIGNER_SERVICE_ACCOUNT
            ))
        } else if !admin.contains('@') {
            Some(format!(
                "set {} to the address of the Workspace admin the service account acts as",
                env::DELEGATED_ADMIN
            ))
        } else {
            None
        };
    if let Some(fix) = missing {
        report.flag(
            CheckName::Settings,
            CheckStatus::Fail,
            "the Google credentials are incomplete",
            None,
            fix,
        );
        return None;
    }
    let http = reqwest::Client::builder()
        .user_agent(concat!(
            "invitation-gateway-doctor/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_millis(raw.google_connect_timeout_ms.max(1)))
        .timeout(Duration::from_millis(raw.google_attempt_timeout_ms.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let http = match http {
        Ok(http) => http,
        Err(error) => {
            report.flag(
                CheckName::Settings,
                CheckStatus::Fail,
                format!("no HTTP client: {error}"),
                None,
                "check the system's TLS setup",
            );
            return None;
        }
    };
    let mode = match &raw.signer_service_account {
        Some(signer) if raw.google_application_credentials.is_none() => {
            format!("keyless, signing as {signer}")
        }
        _ => "key file".to_string(),
    };
    report.pass(
        CheckName::Settings,
        format!("{mode}, acting as {admin}, customer {}", raw.customer),
    );
    Some(Setup {
        customer: raw.customer.clone(),
        admin: admin.to_owned(),
        api_url: raw.google_api_url.trim_end_matches('/').to_owned(),
        iam_url: raw.google_iam_url.trim_end_matches('/').to_owned(),
        token_url: raw.google_token_url.clone(),
        readonly: raw.google_readonly,
        http,
    })
}
