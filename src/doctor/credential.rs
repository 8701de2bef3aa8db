//! The credential half of `doctor`: the key file (or keyless signing) and the token exchange
//! for the delegated admin, each refusal read for what it means and how to fix it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::Deserialize;

use super::Setup;
use super::report::{CheckName, CheckStatus, Problem, Report};
use crate::config::AmbientCredentials;
use crate::google::credentials::ambient_provider;
use crate::google::wire::{
    ASSERTION_AUDIENCE, JWT_BEARER_GRANT, OAuthError, READONLY_SCOPE, SCOPE, SignJwtResponse,
    TokenResponse,
};

/// A key older than this is flagged for rotation.
const KEY_ROTATION_DAYS: u64 = 90;
/// Clock difference that passes; past [`CLOCK_FAIL_SECS`] Google refuses assertions.
const CLOCK_WARN_SECS: i64 = 30;
/// Clock difference past which Google refuses assertions (its timeframe check).
const CLOCK_FAIL_SECS: i64 = 60;
/// The Admin console page that manages domain-wide delegation.
const DELEGATION_PAGE: &str = "https://admin.google.com/ac/owl/domainwidedelegation";

/// The parts of a key file doctor reads. The private key is only ever used to sign.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    private_key: SecretString,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: String,
    #[serde(default)]
    project_id: String,
}

/// Who signs the delegated assertion.
enum Signer {
    /// The key file's own key.
    Key {
        key: EncodingKey,
        kid: String,
        iss: String,
    },
    /// IAM signJwt, authorised by the workload's ambient identity.
    Iam {
        signer: String,
        ambient: SecretString,
    },
}

/// A token the API checks can use, and whether it may send.
pub struct Granted {
    /// The bearer token (never printed).
    pub token: SecretString,
    /// The read-write scope was granted.
    pub write: bool,
    /// The service account's project (the key's `project_id`, or the signer's domain), for
    /// when Google's error does not name it.
    pub project: Option<String>,
}

/// What a token endpoint answered.
enum Exchange {
    Granted(SecretString),
    Refused { error: String, description: String },
    Unreachable(String),
}

/// Checks the key file, then the exchange; the token when one was granted.
pub async fn key_file(setup: &Setup, path: &Path, report: &mut Report) -> Option<Granted> {
    let key = read_key_file(path, report)?;
    key_age(path, report);
    let encoding_key = match EncodingKey::from_rsa_pem(
        secrecy::ExposeSecret::expose_secret(&key.private_key).as_bytes(),
    ) {
        Ok(encoding_key) => encoding_key,
        Err(_) => {
            report.flag(
                CheckName::KeyFile,
                CheckStatus::Fail,
                "the private_key is not an RSA key in PEM",
                Some(Problem::KeyInvalid),
                "download a new JSON key for the service account (IAM > Service accounts > Keys > Add key)",
            );
            return None;
        }
    };
    let signer = Signer::Key {
        key: encoding_key,
        kid: key.private_key_id,
        iss: key.client_email.clone(),
    };
    let client = ClientId::Known(key.client_id);
    let project = Some(key.project_id).filter(|project| !project.is_empty());
    let granted = exchange_and_judge(setup, &signer, &key.token_uri, &client, report).await;
    granted.map(|granted| Granted { project, ..granted })
}

/// Keyless mode: names the signer, gets the workload's identity, then the exchange.
pub async fn keyless(
    setup: &Setup,
    signer: &str,
    ambient: &AmbientCredentials,
    report: &mut Report,
) -> Option<Granted> {
    // Either way the workload has no identity of its own to ask IAM to sign with.
    let no_identity = |report: &mut Report, detail: String, fix: &str| -> Option<Granted> {
        report.flag(
            CheckName::SignJwt,
            CheckStatus::Fail,
            detail,
            Some(Problem::SignerDenied),
            fix,
        );
        None
    };
    let ambient = match ambient_provider(ambient).await {
        Ok(provider) => provider,
        Err(error) => {
            return no_identity(
                report,
                format!(
                    "keyless mode signs as {signer}, but this workload has no Google identity of its own ({error})"
                ),
                "give the workload an identity (GKE Workload Identity, or run on Google Cloud with a service account attached)",
            );
        }
    };
    let ambient = match ambient
        .token(&[crate::google::wire::CLOUD_PLATFORM_SCOPE])
        .await
    {
        Ok(token) => SecretString::from(token.as_str().to_owned()),
        Err(error) => {
            return no_identity(
                report,
                format!("the workload's own identity has no token ({error})"),
                "check the workload identity binding (GKE Workload Identity) of this pod",
            );
        }
    };
    let iam = Signer::Iam {
        signer: signer.to_owned(),
        ambient,
    };
    let client = ClientId::Unknown(signer.to_owned());
    // name@PROJECT.iam.gserviceaccount.com
    let project = signer
        .rsplit_once('@')
        .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"))
        .map(str::to_owned);
    let granted = exchange_and_judge(setup, &iam, &setup.token_url, &client, report).await;
    granted.map(|granted| Granted { project, ..granted })
}

/// The client id the Admin console authorises: known from a key file, else only by name.
enum ClientId {
    Known(String),
    Unknown(String),
}

impl ClientId {
    /// The one action that grants `scope` to this client.
    fn delegation_fix(&self, scope: &str) -> String {
        match self {
            ClientId::Known(id) => format!(
                "as a super admin open {DELEGATION_PAGE}?clientScopeToAdd={scope}&clientIdToAdd={id}&overwriteClientId=true and authorise (delegation can take minutes to apply)"
            ),
            ClientId::Unknown(signer) => format!(
                "as a super admin authorise the client id of {signer} (gcloud iam service-accounts describe {signer} --format='value(oauth2ClientId)') for scope {scope} at {DELEGATION_PAGE}"
            ),
        }
    }
}

fn read_key_file(path: &Path, report: &mut Report) -> Option<KeyFile> {
    let shown = path.display();
    let fail = |report: &mut Report, detail: String, fix: &str| {
        report.flag(
            CheckName::KeyFile,
            CheckStatus::Fail,
            detail,
            Some(Problem::KeyInvalid),
            fix,
        );
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            fail(
                report,
                format!("{shown} cannot be read: {error}"),
                "mount the service-account key there, readable by the gateway's user",
            );
            return None;
        }
    };
    let key: KeyFile = match serde_json::from_str(&text) {
        Ok(key) => key,
        Err(_) => {
            fail(
                report,
                format!("{shown} is not JSON"),
                "use the JSON key downloaded from IAM > Service accounts > Keys (not a P12 file)",
            );
            return None;
        }
    };
    if key.kind != "service_account" {
        let what = match key.kind.as_str() {
            "authorized_user" => "a user credential (gcloud auth application-default login), not a service-account key".to_string(),
            "" => "not a service-account key (no \"type\")".to_string(),
            other => format!("a credential of type \"{other}\", not a service-account key"),
        };
        fail(
            report,
            format!("{shown} is {what}"),
            "create a key for the service account that holds domain-wide delegation (IAM > Service accounts > Keys > Add key > JSON)",
        );
        return None;
    }
    let missing: Vec<&str> = [
        ("client_email", key.client_email.is_empty()),
        ("client_id", key.client_id.is_empty()),
        (
            "private_key",
            secrecy::ExposeSecret::expose_secret(&key.private_key).is_empty(),
        ),
        ("token_uri", key.token_uri.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, empty)| empty.then_some(field))
    .collect();
    if !missing.is_empty() {
        fail(
            report,
            format!("{shown} lacks {}", missing.join(", ")),
            "download the key again: a complete key file has all of them",
        );
        return None;
    }
    report.pass(
        CheckName::KeyFile,
        format!(
            "{shown}: service account {}, client id {}",
            key.client_email, key.client_id
        ),
    );
    Some(key)
}

/// Warns about a key file older than the rotation period (its modification time: the key file
/// itself carries no creation date).
fn key_age(path: &Path, report: &mut Report) {
    let age = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    let Some(age) = age else {
        report.add(
            CheckName::KeyAge,
            CheckStatus::Warn,
            "the key file's age is unknown",
        );
        return;
    };
    let days = age.as_secs() / 86_400;
    if days > KEY_ROTATION_DAYS {
        report.flag(
            CheckName::KeyAge,
            CheckStatus::Warn,
            format!("the key file is {days} days old (more than {KEY_ROTATION_DAYS})"),
            None,
            "rotate the key: add a new key, deploy it, then delete the old one (or go keyless: GATEWAY_SIGNER_SERVICE_ACCOUNT)",
        );
    } else {
        report.pass(CheckName::KeyAge, format!("{days} days old"));
    }
}

/// Exchanges an assertion for the scope the gateway uses, reads Google's answer (and `Date`),
/// and asks again for the read-only scope when the first was unauthorised, to tell a missing
/// scope from missing delegation.
async fn exchange_and_judge(
    setup: &Setup,
    signer: &Signer,
    token_url: &str,
    client: &ClientId,
    report: &mut Report,
) -> Option<Granted> {
    let wanted = if setup.readonly {
        READONLY_SCOPE
    } else {
        SCOPE
    };
    let (answer, date) = match sign(setup, signer, wanted, report).await {
        Some(assertion) => exchange(setup, token_url, &assertion).await,
        None => return None,
    };
    let skew = date.map(|date| date.signed_duration_since(Utc::now()).num_seconds());
    let granted = match answer {
        Exchange::Granted(token) => {
            report.pass(
                CheckName::TokenExchange,
                format!("a token for {} acting as {}", wanted, setup.admin),
            );
            Some(Granted {
                token,
                write: !setup.readonly,
                project: None,
            })
        }
        Exchange::Unreachable(why) => {
            report.flag(
                CheckName::TokenExchange,
                CheckStatus::Fail,
                format!("the token endpoint {token_url} cannot be reached: {why}"),
                None,
                "allow outbound HTTPS to oauth2.googleapis.com (proxy, firewall, DNS)",
            );
            None
        }
        Exchange::Refused { error, description } if error == "unauthorized_client" => {
            let readonly = if wanted == SCOPE {
                match sign(setup, signer, READONLY_SCOPE, report).await {
                    Some(assertion) => exchange(setup, token_url, &assertion).await.0,
                    None => return None,
                }
            } else {
                Exchange::Unreachable(String::new())
            };
            if let Exchange::Granted(token) = readonly {
                report.flag(
                    CheckName::TokenExchange,
                    CheckStatus::Fail,
                    format!("Google said unauthorized_client for {SCOPE}, but granted {READONLY_SCOPE}: the delegation lacks the read-write scope"),
                    Some(Problem::ScopeMissing),
                    client.delegation_fix(SCOPE),
                );
                Some(Granted {
                    token,
                    write: false,
                    project: None,
                })
            } else {
                report.flag(
                    CheckName::TokenExchange,
                    CheckStatus::Fail,
                    format!("Google said {error} ({description}): the service account has no domain-wide delegation for {wanted}"),
                    Some(Problem::DelegationMissing),
                    client.delegation_fix(wanted),
                );
                None
            }
        }
        Exchange::Refused { error, description } => {
            let (problem, fix) = judge_refusal(&error, &description, setup, skew);
            report.flag(
                CheckName::TokenExchange,
                CheckStatus::Fail,
                format!("Google said {error} ({description})"),
                problem,
                fix,
            );
            None
        }
    };
    clock(skew, report);
    granted
}

/// The mistake and the fix behind an `invalid_grant`, `disabled_client`, ... answer.
fn judge_refusal(
    error: &str,
    description: &str,
    setup: &Setup,
    skew: Option<i64>,
) -> (Option<Problem>, String) {
    let admin = &setup.admin;
    match (error, description) {
        ("invalid_grant", d) if d.contains("Invalid email or User ID") || d.contains("Not a valid email") => (
            Some(Problem::AdminUnknown),
            format!("{admin} is not a user of this Workspace: set GATEWAY_DELEGATED_ADMIN to the address of an existing admin"),
        ),
        ("invalid_grant", d) if d.contains("short-lived token") || d.contains("reasonable timeframe") => (
            Some(Problem::ClockSkew),
            match skew {
                Some(skew) => format!("this machine's clock is {skew:+} s off Google's: synchronise it (NTP), then run doctor again"),
                None => "this machine's clock is off: synchronise it (NTP), then run doctor again".into(),
            },
        ),
        ("invalid_grant", d) if d.contains("Invalid JWT Signature") => (
            Some(Problem::KeyDeleted),
            "the key was deleted, disabled or belongs to another service account: add a new key (IAM > Service accounts > Keys) and mount it".into(),
        ),
        ("disabled_client", _) => (
            Some(Problem::KeyDisabled),
            "the key (or its service account) is disabled: enable it in IAM > Service accounts, or add a new key and mount it".into(),
        ),
        ("invalid_grant", _) => (
            None,
            format!("check that {admin} exists and is an admin, and that this machine's clock is right"),
        ),
        _ => (
            None,
            "see Google's answer above; docs/operating.md's \"Running against Google\" walks through the setup".into(),
        ),
    }
}

/// Judges the skew seen on the token endpoint's `Date`.
fn clock(skew: Option<i64>, report: &mut Report) {
    match skew {
        None => report.add(
            CheckName::Clock,
            CheckStatus::Warn,
            "Google's answer had no Date header to compare with",
        ),
        Some(skew) if skew.abs() <= CLOCK_WARN_SECS => {
            report.pass(CheckName::Clock, format!("{skew:+} s off Google's Date"))
        }
        Some(skew) => {
            let status = if skew.abs() > CLOCK_FAIL_SECS {
                CheckStatus::Fail
            } else {
                CheckStatus::Warn
            };
            report.flag(
                CheckName::Clock,
                status,
                format!("{skew:+} s off Google's Date"),
                Some(Problem::ClockSkew),
                "synchronise this machine's clock (NTP): Google refuses assertions outside its timeframe",
            );
        }
    }
}

/// The delegated assertion for `scope`, signed by the key or by IAM (a refusal is reported).
async fn sign(setup: &Setup, signer: &Signer, scope: &str, report: &mut Report) -> Option<String> {
    let now = Utc::now().timestamp();
    let iss = match signer {
        Signer::Key { iss, .. } => iss.as_str(),
        Signer::Iam { signer, .. } => signer.as_str(),
    };
    let claims = serde_json::json!({
        "iss": iss, "sub": setup.admin, "scope": scope, "aud": ASSERTION_AUDIENCE,
        "iat": now, "exp": now + 3600,
    });
    match signer {
        Signer::Key { key, kid, .. } => {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.clone());
            match jsonwebtoken::encode(&header, &claims, key) {
                Ok(assertion) => Some(assertion),
                Err(error) => {
                    report.flag(
                        CheckName::KeyFile,
                        CheckStatus::Fail,
                        format!("the key cannot sign: {error}"),
                        Some(Problem::KeyInvalid),
                        "download a new JSON key for the service account",
                    );
                    None
                }
            }
        }
        Signer::Iam { signer, ambient } => {
            sign_with_iam(setup, signer, ambient, &claims, report).await
        }
    }
}

async fn sign_with_iam(
    setup: &Setup,
    signer: &str,
    ambient: &SecretString,
    claims: &serde_json::Value,
    report: &mut Report,
) -> Option<String> {
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{}:signJwt",
        setup.iam_url,
        percent_encoding::utf8_percent_encode(signer, percent_encoding::NON_ALPHANUMERIC)
    );
    let answer = setup
        .http
        .post(url)
        .bearer_auth(secrecy::ExposeSecret::expose_secret(ambient))
        .json(&serde_json::json!({ "payload": claims.to_string() }))
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            report.flag(
                CheckName::SignJwt,
                CheckStatus::Fail,
                format!("IAM Credentials cannot be reached: {error}"),
                None,
                "allow outbound HTTPS to iamcredentials.googleapis.com",
            );
            return None;
        }
    };
    let status = response.status().as_u16();
    if status == 403 || status == 404 {
        let said = response
            .json::<crate::google::wire::ErrorBody>()
            .await
            .map(|body| format!(": {}", body.error.message))
            .unwrap_or_default();
        report.flag(
            CheckName::SignJwt,
            CheckStatus::Fail,
            format!("IAM answered {status} to signJwt for {signer}{said}"),
            Some(Problem::SignerDenied),
            format!("grant the workload's identity the Service Account Token Creator role (roles/iam.serviceAccountTokenCreator) on {signer}"),
        );
        return None;
    }
    match response.json::<SignJwtResponse>().await {
        Ok(signed) if (200..300).contains(&status) => {
            if !report.checks.iter().any(|c| c.name == CheckName::SignJwt) {
                report.pass(CheckName::SignJwt, format!("IAM signs for {signer}"));
            }
            Some(signed.signed_jwt)
        }
        _ => {
            report.flag(
                CheckName::SignJwt,
                CheckStatus::Fail,
                format!("IAM answered {status} to signJwt for {signer}"),
                None,
                "see IAM's answer; check that the signer service account exists",
            );
            None
        }
    }
}

/// The JWT-bearer exchange and Google's `Date`.
async fn exchange(
    setup: &Setup,
    token_url: &str,
    assertion: &str,
) -> (Exchange, Option<DateTime<Utc>>) {
    let answer = setup
        .http
        .post(token_url)
        .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)])
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => return (Exchange::Unreachable(error.without_url().to_string()), None),
    };
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| DateTime::parse_from_rfc2822(value).ok())
        .map(|date| date.with_timezone(&Utc));
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    if status.is_success() {
        return match serde_json::from_slice::<TokenResponse>(&body) {
            Ok(token) => (
                Exchange::Granted(SecretString::from(token.access_token)),
                date,
            ),
            Err(_) => (
                Exchange::Unreachable("the token endpoint answered without access_token".into()),
                date,
            ),
        };
    }
    let answer = match serde_json::from_slice::<OAuthError>(&body) {
        Ok(error) => Exchange::Refused {
            error: error.error,
            description: error.error_description.unwrap_or_default(),
        },
        Err(_) => Exchange::Unreachable(format!("the token endpoint answered {status}")),
    };
    (answer, date)
}
