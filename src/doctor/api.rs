//! The API half of `doctor`: the Cloud Identity API enabled, the customer id, isInvitableUser.
//! Reads only: one list page and one isInvitableUser; never send or cancel.

use secrecy::ExposeSecret as _;

use super::Setup;
use super::credential::Granted;
use super::report::{CheckName, CheckStatus, Problem, Report};
use crate::google::wire::{ErrorBody, RpcStatus, SCOPE};

/// What one read answered: success, Google's error, or nothing.
enum Read {
    Ok(serde_json::Value),
    Refused(u16, RpcStatus),
    Unreachable(String),
}

/// Runs the API checks with a granted token.
pub async fn check(setup: &Setup, granted: &Granted, probe: &str, report: &mut Report) {
    let base = format!(
        "{}/v1/customers/{}/userinvitations",
        setup.api_url,
        utf8(&setup.customer)
    );
    match read(setup, granted, &format!("{base}?pageSize=1")).await {
        Read::Ok(page) => {
            report.pass(CheckName::ApiEnabled, "the API answered");
            let shown = page["userInvitations"].as_array().map_or(0, Vec::len);
            report.pass(
                CheckName::Customer,
                format!(
                    "customer {}: list answered ({shown} invitation(s) on a page of one)",
                    setup.customer
                ),
            );
        }
        Read::Refused(403, error) if is_service_disabled(&error) => {
            let (project, link) = activation(&error, granted.project.as_deref());
            report.flag(
                CheckName::ApiEnabled,
                CheckStatus::Fail,
                format!("the Cloud Identity API is disabled for project {project} (403 SERVICE_DISABLED)"),
                Some(Problem::ApiDisabled),
                format!("enable it: {link} (takes a few minutes to apply)"),
            );
            report.skip(CheckName::Customer, "the API is disabled");
            report.skip(CheckName::IsInvitableUser, "the API is disabled");
            write_scope(granted, setup, report);
            return;
        }
        Read::Refused(code, error) => {
            report.pass(CheckName::ApiEnabled, "the API answered");
            report.flag(
                CheckName::Customer,
                CheckStatus::Fail,
                format!(
                    "list for customer {} answered {code} {}",
                    setup.customer,
                    status_name(&error)
                ),
                Some(Problem::CustomerRefused),
                format!(
                    "set GATEWAY_CUSTOMER to my_customer or your C0... id (Admin console > Account > Account settings), and make sure {} is a super admin",
                    setup.admin
                ),
            );
        }
        Read::Unreachable(why) => {
            report.flag(
                CheckName::ApiEnabled,
                CheckStatus::Fail,
                format!("{} cannot be reached: {why}", setup.api_url),
                None,
                "allow outbound HTTPS to cloudidentity.googleapis.com",
            );
            report.skip(CheckName::Customer, "the API cannot be reached");
            report.skip(CheckName::IsInvitableUser, "the API cannot be reached");
            write_scope(granted, setup, report);
            return;
        }
    }
    let url = format!("{base}/{}:isInvitableUser", utf8(probe));
    match read(setup, granted, &url).await {
        Read::Ok(answer) => report.pass(
            CheckName::IsInvitableUser,
            format!(
                "answered for {probe} (invitable: {})",
                answer["isInvitableUser"].as_bool().unwrap_or(false)
            ),
        ),
        Read::Refused(code, error) => report.flag(
            CheckName::IsInvitableUser,
            CheckStatus::Fail,
            format!("answered {code} {} for {probe}", status_name(&error)),
            None,
            "give --probe-email an address in one of the Workspace's domains",
        ),
        Read::Unreachable(why) => report.flag(
            CheckName::IsInvitableUser,
            CheckStatus::Fail,
            format!("no answer: {why}"),
            None,
            "allow outbound HTTPS to cloudidentity.googleapis.com",
        ),
    }
    write_scope(granted, setup, report);
}

/// Whether the token may send and cancel: judged from the scope granted, never by sending.
pub fn write_scope(granted: &Granted, setup: &Setup, report: &mut Report) {
    if setup.readonly {
        report.add(
            CheckName::WriteScope,
            CheckStatus::Warn,
            "GATEWAY_GOOGLE_READONLY is set: the gateway reads but can never send or cancel",
        );
    } else if granted.write {
        report.pass(
            CheckName::WriteScope,
            format!("{SCOPE} granted: send and cancel allowed (not tried)"),
        );
    } else {
        report.add(
            CheckName::WriteScope,
            CheckStatus::Fail,
            "only the read-only scope is granted: send and cancel would be refused",
        );
    }
}

async fn read(setup: &Setup, granted: &Granted, url: &str) -> Read {
    let answer = setup
        .http
        .get(url)
        .bearer_auth(granted.token.expose_secret())
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => return Read::Unreachable(error.without_url().to_string()),
    };
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return Read::Ok(serde_json::from_slice(&body).unwrap_or_default());
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) => Read::Refused(status, body.error),
        Err(_) => Read::Refused(status, RpcStatus::default()),
    }
}

fn utf8(segment: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
}

fn status_name(error: &RpcStatus) -> String {
    error
        .status
        .map(|status| status.as_str().to_string())
        .unwrap_or_default()
}

/// SERVICE_DISABLED in the `ErrorInfo`, or the legacy `accessNotConfigured`.
fn is_service_disabled(error: &RpcStatus) -> bool {
    error.reason() == Some("SERVICE_DISABLED")
        || error
            .errors
            .iter()
            .any(|entry| entry["reason"] == "accessNotConfigured")
}

/// The project and the enable link, from Google's error details (ErrorInfo metadata, else the
/// Help link), else the link in its message (the older body, with only `accessNotConfigured`),
/// else built from the project named in the metadata or, failing that, the key's.
fn activation(error: &RpcStatus, key_project: Option<&str>) -> (String, String) {
    let info = error
        .details
        .iter()
        .find(|detail| {
            detail["@type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("google.rpc.ErrorInfo"))
        })
        .map(|info| &info["metadata"]);
    let link_in_message = error
        .message
        .split_whitespace()
        .find(|word| word.starts_with("https://console.developers.google.com/apis/api/"));
    let project = info
        .and_then(|metadata| metadata["consumer"].as_str())
        .map(|consumer| consumer.trim_start_matches("projects/"))
        .or_else(|| link_in_message.and_then(|link| link.split("project=").nth(1)))
        .or(key_project)
        .unwrap_or("(unnamed)")
        .to_string();
    let help = error.details.iter().find_map(|detail| {
        detail["links"]
            .as_array()
            .and_then(|links| links.first())
            .and_then(|link| link["url"].as_str())
    });
    let link = info
        .and_then(|metadata| metadata["activationUrl"].as_str())
        .or(help)
        .or(link_in_message)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!("https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project={project}")
        });
    (project, link)
}
