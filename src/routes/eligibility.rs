//! `POST /v1/eligibility/check`: can these addresses be invited?

use crate::auth::scope;
use crate::error::ApiError;
use crate::invitations::batch::EmailBatch;
use crate::invitations::outcome::EligibilityResult;
use crate::routes::authorized::Authorized;
use crate::routes::common::{AuthErrors, BodyErrors, EmailsRequest, request_id};
use crate::routes::json::Json;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of an eligibility check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"results": [
    {"email": "grace+hr@example.com", "eligible": true, "checkedAt": "2026-11-22T03:30:00.120Z", "cached": false},
    {"email": "alan@example.com", "eligible": false, "checkedAt": "2026-11-22T03:29:12.004Z", "cached": true},
    {"email": "not an address", "error": {"code": "invalid_email", "detail": "not a valid email address: it contains white space or control characters"}}
]}))]
pub struct CheckEligibilityResponse {
    /// One result per address, in the order sent.
    pub results: Vec<EligibilityResult>,
}

/// Check whether addresses can be invited.
///
/// For each address, asks Google whether it is an unmanaged (consumer) account on one of the
/// company's verified domains, i.e. whether an invitation can be sent. Answers are cached per
/// address (eligible and not-eligible answers for their own TTLs; `cached` says where an answer
/// came from) and a send or cancel of an address clears its entry. A failing address never fails
/// the others: it gets a per-item `error`. Invalid addresses (`invalid_email`) and addresses
/// outside the allowed domains (`domain_not_allowed`) never reach Google.
#[utoipa::path(
    post,
    path = "/v1/eligibility/check",
    tag = "eligibility",
    request_body = EmailsRequest,
    responses(
        (status = 200, description = "One result per address.", body = CheckEligibilityResponse),
        BodyErrors,
        AuthErrors,
    )
)]
pub async fn check_eligibility(
    _caller: Authorized<scope::Check>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<EmailsRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(body.into_inner().emails)?;
    let results = state.invitations.check(&batch, &request_id(&req)).await;
    Ok(HttpResponse::Ok().json(CheckEligibilityResponse { results }))
}
