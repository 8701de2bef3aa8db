//! Setup problems the emulator plays on request: each way Google's setup (delegation, scope,
//! admin, API enablement, key, clock) can be wrong, answered with the body Google sends for it.
//! `docs/emulator.md` cites where each body comes from.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::key::PROJECT_ID;
use super::wire::{ErrorExtra, GoogleError};

/// How far the emulator's clock runs ahead while it plays `clock_skew`: past the hour an
/// assertion may live, so every assertion made by a correct clock is out of its timeframe.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::hours(2);

/// The Cloud Identity API's service name.
const SERVICE: &str = "cloudidentity.googleapis.com";

/// One setup mistake, or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum SetupProblem {
    /// A healthy setup.
    #[default]
    None,
    /// The client id has no domain-wide delegation in the Admin console.
    DelegationMissing,
    /// Delegation exists, but only for the read-only scope.
    ScopeMissing,
    /// The impersonated admin does not exist.
    AdminUnknown,
    /// The Cloud Identity API is not enabled for the key's project.
    ApiDisabled,
    /// The key that signs the assertion is disabled.
    KeyDisabled,
    /// The key that signs the assertion was deleted (or belongs to another account).
    KeyDeleted,
    /// The caller's clock is off (the emulator's clock runs [`CLOCK_SKEW`] ahead).
    ClockSkew,
    /// Keyless mode: the workload may not sign for the service account (it lacks the Service
    /// Account Token Creator role on it), so IAM refuses every signJwt.
    SignerDenied,
}

/// Body of `POST /emulator/v1/setup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The problem to play from now on (`none` to stop).
    pub problem: SetupProblem,
}

/// An RFC 6749 error of the token endpoint: HTTP status, `error`, `error_description`.
pub type TokenRefusal = (u16, &'static str, &'static str);

impl SetupProblem {
    /// The emulator's clock: the real one, or ahead while it plays `clock_skew`.
    pub fn now(self) -> DateTime<Utc> {
        match self {
            SetupProblem::ClockSkew => Utc::now() + CLOCK_SKEW,
            _ => Utc::now(),
        }
    }

    /// What the token endpoint answers instead of a token, before it looks at the assertion's
    /// claims (a disabled or deleted key fails whatever it signed).
    pub fn refuse_any_assertion(self) -> Option<TokenRefusal> {
        // Google's table of token errors: disabled_client, "The key used to sign the JWT
        // assertion is disabled." The HTTP status is not published; 401 like the other
        // client refusals (an inference).
        match self {
            SetupProblem::KeyDisabled => {
                Some((401, "disabled_client", "The OAuth client was disabled."))
            }
            // Google's answer to an assertion signed by a deleted key: the signature no longer
            // verifies against any of the account's keys.
            SetupProblem::KeyDeleted => Some((400, "invalid_grant", "Invalid JWT Signature.")),
            _ => None,
        }
    }

    /// What the token endpoint answers to a delegated assertion (one with `sub`).
    pub fn refuse_delegation(self) -> Option<TokenRefusal> {
        match self {
            SetupProblem::DelegationMissing => Some((
                401,
                "unauthorized_client",
                super::token::UNAUTHORIZED_CLIENT,
            )),
            SetupProblem::AdminUnknown => Some((400, "invalid_grant", "Invalid email or User ID")),
            _ => None,
        }
    }

    /// Whether the Admin console grants `scope` to the delegation while this problem plays.
    pub fn withholds_scope(self, scope: &str) -> bool {
        self == SetupProblem::ScopeMissing && scope == super::USERINVITATIONS_SCOPE
    }

    /// IAM signJwt's answer while the signer is denied.
    pub fn refuse_sign_jwt(self) -> Result<(), GoogleError> {
        match self {
            SetupProblem::SignerDenied => Err(sign_jwt_denied()),
            _ => Ok(()),
        }
    }

    /// The User Invitation API's answer while it is disabled for the project.
    pub fn refuse_api_call(self) -> Result<(), GoogleError> {
        match self {
            SetupProblem::ApiDisabled => Err(service_disabled()),
            _ => Ok(()),
        }
    }
}

/// IAM Credentials' 403 to signJwt when the caller lacks `iam.serviceAccounts.signJwt` on the
/// account (or the account does not exist: IAM does not tell them apart).
pub fn sign_jwt_denied() -> GoogleError {
    let mut error = GoogleError::permission_denied(
        "IAM_PERMISSION_DENIED",
        "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).",
    );
    error.extra = Some(Box::new(ErrorExtra {
        metadata: vec![("permission", "iam.serviceAccounts.signJwt".to_string())],
        ..ErrorExtra::default()
    }));
    error
}

/// Google's 403 for an API that is not enabled for the caller's project: message, a `Help`
/// link and an `ErrorInfo` whose metadata names the consumer and the activation URL.
fn service_disabled() -> GoogleError {
    let activation_url = format!(
        "https://console.developers.google.com/apis/api/{SERVICE}/overview?project={PROJECT_ID}"
    );
    let message = format!(
        "Cloud Identity API has not been used in project {PROJECT_ID} before or it is disabled. \
         Enable it by visiting {activation_url} then retry. If you enabled this API recently, wait \
         a few minutes for the action to propagate to our systems and retry."
    );
    let mut error = GoogleError::permission_denied("SERVICE_DISABLED", message);
    let metadata = vec![
        ("activationUrl", activation_url.clone()),
        ("consumer", format!("projects/{PROJECT_ID}")),
        ("containerInfo", PROJECT_ID.to_string()),
        ("service", SERVICE.to_string()),
        ("serviceTitle", "Cloud Identity API".to_string()),
    ];
    error.legacy_domain = Some("usageLimits");
    error.extra = Some(Box::new(ErrorExtra {
        legacy_reason: Some("accessNotConfigured"),
        metadata,
        help_url: Some(activation_url),
    }));
    error
}

/// Sets `Date` from the emulator's clock while it plays `clock_skew` (Google's `Date` is how a
/// client can tell its own clock is off); otherwise the server's own `Date` stands.
pub fn date_header(problem: SetupProblem, headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{DATE, HeaderValue, HttpDate};
    if problem != SetupProblem::ClockSkew {
        return;
    }
    let date = HttpDate::from(std::time::SystemTime::from(problem.now())).to_string();
    if let Ok(value) = HeaderValue::from_str(&date) {
        headers.insert(DATE, value);
    }
}
