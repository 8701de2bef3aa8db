//! `POST /token`: exchanges a signed JWT assertion for an access token, as Google's OAuth server does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::assertion::{Assertion, verify};
use super::bearer::TOKEN_LIFETIME_SECS;
use super::body::read_body;
use super::method::Method;
use super::state::Shared;
use super::stats::TokenGrant;
use super::wire::GoogleError;
use super::{CLOUD_PLATFORM_SCOPE, IAM_SCOPE};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's `unauthorized_client` description (delegation or scope not authorised).
pub const UNAUTHORIZED_CLIENT: &str = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";

/// An RFC 6749 error answer.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    /// A refusal a setup problem plays.
    fn refusal((code, error, description): super::setup::TokenRefusal) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, error, description)
    }

    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(json!({"error": self.error, "error_description": self.description}))
    }
}

/// `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`.
pub async fn issue_token(
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, GoogleError> {
    shared.count_call(Method::Token);
    let fault = shared.enter(Method::Token).await?;
    let body = read_body(payload).await?;
    let answer = match exchange(&body, &shared) {
        Ok(token) => HttpResponse::Ok().json(json!({
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "token_type": "Bearer",
        })),
        Err(error) => error.response(),
    };
    fault.finish(answer)
}

fn exchange(body: &[u8], shared: &Shared) -> Result<String, OAuthError> {
    let bad_request =
        |error, description: &str| OAuthError::new(StatusCode::BAD_REQUEST, error, description);
    let text = std::str::from_utf8(body)
        .map_err(|_| bad_request("invalid_request", "Invalid form body."))?;
    let form = web::Query::<Vec<(String, String)>>::from_query(text)
        .map_err(|_| bad_request("invalid_request", "Invalid form body."))?
        .into_inner();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if field("grant_type") != Some(JWT_BEARER) {
        return Err(bad_request("unsupported_grant_type", "Invalid grant_type."));
    }
    let jwt = field("assertion")
        .ok_or_else(|| bad_request("invalid_request", "Missing required parameter: assertion"))?;
    let problem = shared.world().setup_problem;
    if let Some(refusal) = problem.refuse_any_assertion() {
        return Err(OAuthError::refusal(refusal));
    }
    let now = problem.now().timestamp_millis() as f64 / 1000.0;
    let assertion = verify(jwt, &shared.account, &shared.token_url, now)
        .map_err(|description| bad_request("invalid_grant", &description))?;
    let scopes = check_scopes(&assertion, shared)?;
    let token = shared.tokens().issue(scopes);
    shared.world().stats.record_grant(TokenGrant {
        iss: assertion.iss,
        sub: assertion.sub,
        scope: assertion.scope.unwrap_or_default(),
        aud: assertion.aud,
    });
    Ok(token)
}

/// Delegated tokens get only the scopes the Admin console authorised; the account's own tokens only
/// Cloud scopes (the User Invitation API needs an impersonated admin).
fn check_scopes(assertion: &Assertion, shared: &Shared) -> Result<Vec<String>, OAuthError> {
    let scopes: Vec<String> = assertion
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Empty or missing scope not allowed.",
        ));
    }
    let problem = shared.world().setup_problem;
    if let (Some(_), Some(refusal)) = (&assertion.sub, problem.refuse_delegation()) {
        return Err(OAuthError::refusal(refusal));
    }
    let allowed: Vec<String> = match &assertion.sub {
        Some(sub) if !sub.eq_ignore_ascii_case(&shared.admin) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid email or User ID",
            ));
        }
        Some(_) => shared
            .world()
            .authorized_scopes
            .iter()
            .filter(|scope| !problem.withholds_scope(scope))
            .cloned()
            .collect(),
        None => vec![CLOUD_PLATFORM_SCOPE.into(), IAM_SCOPE.into()],
    };
    if scopes.iter().all(|scope| allowed.contains(scope)) {
        Ok(scopes)
    } else {
        Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            UNAUTHORIZED_CLIENT,
        ))
    }
}
