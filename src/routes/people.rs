//! One person, everything the gateway knows: `POST /v1/people/lookup` (the address travels in
//! the body, never in a URL).

use crate::auth::{Scope, scope};
use crate::campaigns::{PersonItemView, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::invitations::audit::AuditRecordView;
use crate::invitations::batch::EmailBatch;
use crate::routes::authorized::Authorized;
use crate::routes::common::{AuthErrors, BodyErrors, StoreErrors};
use crate::routes::json::Json;
use crate::state::AppState;
use crate::tracking::HistoryChange;
use crate::vocabulary::InvitationState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The person to look up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct LookupPersonRequest {
    /// The address (case and surrounding white space do not matter).
    pub email: String,
}

/// Everything about one person.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "email": "ada@example.com", "state": "ACCEPTED",
    "history": [{"state": "sent", "at": "2026-12-01T09:01:00.000Z"},
                {"state": "accepted", "at": "2026-12-02T10:00:00.000Z"}],
    "campaignItems": [{"campaignId": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "campaignName": "Wave 1",
        "dryRun": false, "email": "ada@example.com", "outcome": "accepted", "mails": 1,
        "lastMailAt": "2026-12-01T09:01:00.000Z", "updatedAt": "2026-12-02T10:00:00.000Z"}],
    "audit": [{"id": "41", "recordedAt": "2026-12-01T09:01:00.120Z", "requestId": "0c9a6a52-4d0e-4f4c-9a55-0d0f8c3b1e7a",
        "callerIss": "https://idp.example.com", "callerSub": "hr-onboarding", "action": "send",
        "email": "ada@example.com", "campaignId": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "outcome": "sent",
        "googleStatus": 200, "completedAt": "2026-12-01T09:01:00.410Z"}]
}))]
pub struct PersonView {
    /// The address, trimmed.
    pub email: String,
    /// The state the tracker (or the gateway's own send or cancel) last recorded; null when
    /// the gateway never saw the person.
    pub state: Option<InvitationState>,
    /// Every recorded change, oldest first (as `POST /v1/invitations/history`).
    pub history: Vec<HistoryChange>,
    /// The person's items in the campaigns the caller sees (with `campaigns.admin`: every
    /// campaign), the latest changed first, at most 200.
    pub campaign_items: Vec<PersonItemView>,
    /// The audit records about the person, newest first (at most 1000): only when the caller
    /// holds `audit.read`, left out otherwise (then `auditHidden` is true).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub audit: Option<Vec<AuditRecordView>>,
    /// True when `audit` is left out because the caller lacks `audit.read`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub audit_hidden: bool,
}

/// Look up one person.
///
/// Everything the gateway knows about one address, in one answer: the tracked state, the
/// recorded history, the person's campaign items and (with `audit.read`) the audit records.
/// The address is checked like in every batch: one that is not valid or outside the allowed
/// domains is a `400 invalid_request` (the detail says why, without the address).
#[utoipa::path(
    post,
    path = "/v1/people/lookup",
    tag = "tracking",
    request_body = LookupPersonRequest,
    responses(
        (status = 200, description = "The person.", body = PersonView),
        BodyErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn lookup_person(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    body: Json<LookupPersonRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(vec![body.into_inner().email])?;
    let history = state.tracking.history(&batch).await?;
    let Some(found) = history.results.into_iter().next() else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "email: an address is required.",
        ));
    };
    if let Some(error) = found.error {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("email: {}", error.detail),
        ));
    }
    let identity = found.email.to_lowercase();
    let tracked = state
        .tracking
        .latest_states(std::slice::from_ref(&identity))
        .await?;
    let caller = caller.caller();
    let viewer = Viewer {
        caller: caller.id.clone(),
        admin: caller.has_scope(Scope::CampaignsAdmin),
    };
    let campaign_items = state.campaigns.person_items(&identity, &viewer).await?;
    let audit = if caller.has_scope(Scope::AuditRead) {
        Some(state.invitations.search_audit(&batch).await?.records)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(PersonView {
        state: tracked.into_iter().next().map(|person| person.state),
        history: found.changes.unwrap_or_default(),
        campaign_items,
        audit_hidden: audit.is_none(),
        audit,
        email: found.email,
    }))
}
