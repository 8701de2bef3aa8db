//! The five User Invitation methods, reached through one catch-all route on the raw path.

use actix_web::http::Method as HttpMethod;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::body::read_body;
use super::list::ListQuery;
use super::method::Method;
use super::path::{ApiPath, parse_api_path};
use super::state::Shared;
use super::wire::{GoogleError, invitation_json, ok_json, operation_json};
use super::{CUSTOMER_ID, iam};

/// Customer alias Google accepts in practice (the admin CLI's default).
const MY_CUSTOMER: &str = "my_customer";

/// Google's system parameters (the discovery document's global `parameters`): accepted on every
/// method. `access_token` and `oauth_token` are read as the credential by the bearer check; the
/// others are ignored.
const SYSTEM_PARAMETERS: [&str; 11] = [
    "$.xgafv",
    "access_token",
    "alt",
    "callback",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "uploadType",
    "upload_protocol",
];

/// Every path outside the control API and `/token`: Google's routes, else Google's 404.
pub async fn route_google(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, GoogleError> {
    let path = request.uri().path();
    if path.starts_with("/v1/projects/") {
        iam::sign_jwt(request, payload, shared).await
    } else if path.starts_with("/v1/customers/") {
        call_invitations(request, payload, shared).await
    } else {
        Err(GoogleError::unknown_path())
    }
}

async fn call_invitations(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, GoogleError> {
    let ApiPath {
        customer,
        method,
        email,
    } = parse_api_path(request.uri().path())?;
    let verb = if method.is_write() {
        HttpMethod::POST
    } else {
        HttpMethod::GET
    };
    if request.method() != verb {
        return Err(GoogleError::unknown_path());
    }
    shared.count_call(method);
    shared.authorize(&request, method.accepted_scopes())?;
    shared.world().setup_problem.refuse_api_call()?;
    // Google charges the quota to the caller's project, which only a valid token names.
    shared.check_quota()?;
    let fault = shared.enter(method).await?;
    if customer != CUSTOMER_ID && customer != MY_CUSTOMER {
        return Err(GoogleError::permission_denied(
            "PERMISSION_DENIED",
            "The caller does not have permission",
        ));
    }
    let params = query_params(request.query_string())?;
    let list = match method {
        Method::List => Some(ListQuery::parse(&params)?),
        _ => {
            reject_unknown_params(&params)?;
            None
        }
    };
    if method.is_write() {
        check_empty_request(&read_body(payload).await?)?;
    }
    let answer = {
        let mut world = shared.world();
        let email = email.as_deref().unwrap_or_default();
        match (method, list) {
            (Method::List, Some(list)) => list.run(&world.directory, &shared.page_tokens)?,
            (Method::Get, _) => Value::Object(invitation_json(world.directory.get(email)?)),
            (Method::IsInvitableUser, _) if world.directory.is_invitable(email) => {
                json!({"isInvitableUser": true})
            }
            (Method::IsInvitableUser, _) => Value::Object(Map::new()),
            (Method::Send, _) => {
                let account = world.directory.send(email, Utc::now())?;
                world.stats.record_mail(&account.email);
                operation_json(&account)
            }
            (Method::Cancel, _) => operation_json(&world.directory.cancel(email, Utc::now())?),
            _ => return Err(GoogleError::unknown_path()),
        }
    };
    fault.finish(ok_json(&answer))
}

/// Parses the query string (form-encoded: `+` is a space there) and drops the system parameters.
fn query_params(query: &str) -> Result<Vec<(String, String)>, GoogleError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| GoogleError::invalid_argument("Invalid query string."))?
        .into_inner();
    Ok(params
        .into_iter()
        .filter(|(name, _)| !SYSTEM_PARAMETERS.contains(&name.as_str()))
        .collect())
}

/// Methods other than list take no parameters; Google rejects names it does not know.
fn reject_unknown_params(params: &[(String, String)]) -> Result<(), GoogleError> {
    match params.first() {
        Some((name, _)) => Err(GoogleError::invalid_argument(format!(
            "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter."
        ))),
        None => Ok(()),
    }
}

/// send and cancel take an empty request message: no body, or `{}`.
fn check_empty_request(body: &[u8]) -> Result<(), GoogleError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => match fields.keys().next() {
            None => Ok(()),
            Some(name) => Err(GoogleError::invalid_argument(format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
            ))),
        },
        _ => Err(GoogleError::invalid_argument(
            "Invalid JSON payload received. The body must be a JSON object.",
        )),
    }
}
