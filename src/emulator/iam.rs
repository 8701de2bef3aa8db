//! IAM Credentials `signJwt`: signs a caller's claims with the service account's key (keyless mode).

use actix_web::http::Method as HttpMethod;
use actix_web::{HttpRequest, HttpResponse, web};
use jsonwebtoken::{Algorithm, Header};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::body::read_json;
use super::key::CLIENT_EMAIL;
use super::method::Method;
use super::path::parse_sign_jwt_path;
use super::setup::sign_jwt_denied;
use super::state::Shared;
use super::wire::{GoogleError, ok_json};

/// Body of signJwt.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignJwtRequest {
    /// The claims, as a JSON string.
    payload: String,
    /// Delegation chain; accepted as Google does, and ignored because there is one account.
    #[serde(default)]
    #[allow(dead_code)]
    delegates: Vec<String>,
}

/// `POST /v1/projects/-/serviceAccounts/{email}:signJwt`.
pub async fn sign_jwt(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, GoogleError> {
    let account_email = parse_sign_jwt_path(request.uri().path())?;
    if request.method() != HttpMethod::POST {
        return Err(GoogleError::unknown_path());
    }
    shared.count_call(Method::SignJwt);
    shared.authorize(&request, Method::SignJwt.accepted_scopes())?;
    let fault = shared.enter(Method::SignJwt).await?;
    shared.world().setup_problem.refuse_sign_jwt()?;
    if !account_email.eq_ignore_ascii_case(CLIENT_EMAIL) {
        return Err(sign_jwt_denied());
    }
    let body: SignJwtRequest = read_json(payload).await?;
    let claims: Map<String, Value> = serde_json::from_str(&body.payload)
        .map_err(|_| GoogleError::invalid_argument("payload must be a JSON object."))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(shared.account.private_key_id.clone());
    let signed = jsonwebtoken::encode(&header, &claims, &shared.account.encoding_key)
        .map_err(|_| GoogleError::internal("The JWT could not be signed."))?;
    fault.finish(ok_json(&json!({
        "keyId": shared.account.private_key_id,
        "signedJwt": signed,
    })))
}
