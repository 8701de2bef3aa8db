//! Changing invitations: send and cancel, audited, quota-checked and idempotent.

use crate::audit::AuditTrail;
use crate::auth::{Caller, scope};
use crate::error::{ApiError, ErrorCode};
use crate::invitations::batch::EmailBatch;
use crate::invitations::idempotency::{Answer, Asked};
use crate::invitations::outcome::MutationResponse;
use crate::routes::authorized::Authorized;
use crate::routes::common::{
    AuthErrors, BodyErrors, EmailsRequest, Responses, problem, problems, request_id,
};
use crate::routes::headers::{IdempotencyKey, Prefer};
use crate::routes::json::Json;
use crate::state::AppState;
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

/// Set on an answer replayed for a repeated Idempotency-Key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A send request.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"emails": ["grace+hr@example.com", "ada@example.com"], "resend": false}))]
pub struct SendInvitationsRequest {
    /// 1 to 100 addresses, each at most once: spellings of one valid address that differ only
    /// in case or surrounding white space count as the same address.
    // Documented as a set so that the schema says `uniqueItems`; the order is kept on the wire.
    #[schema(value_type = BTreeSet<String>, min_items = 1, max_items = 100)]
    pub emails: Vec<String>,
    /// Mail again addresses that are already INVITED (otherwise they are `already_invited` and
    /// get no mail).
    #[serde(default)]
    pub resend: bool,
}

/// The id of the campaign in a stored `202` answer.
#[derive(Deserialize)]
struct StoredCampaign {
    id: String,
}

/// Errors of a request with an `Idempotency-Key` (send, cancel, campaign create).
pub struct IdempotencyErrors;

impl IntoResponses for IdempotencyErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::IdempotencyKeyReused,
                "The Idempotency-Key was used with a different request \
                 (`idempotency_key_reused`).",
            ),
            problem(
                ErrorCode::IdempotencyKeyInProgress,
                "A request with this Idempotency-Key is still running \
                 (`idempotency_key_in_progress`).",
            )
            .retry_after("Seconds to wait before asking again"),
        ])
    }
}

/// Errors only mutations answer.
pub struct MutationErrors;

impl IntoResponses for MutationErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::AuditUnavailable,
                "The audit trail cannot be written (`audit_unavailable`): nothing was changed.",
            )
            .retry_after("Seconds to wait before trying again"),
            problem(
                ErrorCode::StoreUnavailable,
                "The store cannot be reached (`store_unavailable`): nothing was changed.",
            )
            .retry_after("Seconds to wait before trying again"),
        ])
    }
}

/// Runs a send or cancel through the domain: the request's audit trail, its Idempotency-Key,
/// and its answer (the stored bytes for a replay).
async fn mutate(
    state: &AppState,
    caller: &Caller,
    (req, key): (&HttpRequest, &IdempotencyKey),
    route: &'static str,
    run: impl AsyncFnOnce(Asked<'_>) -> Result<Answer, crate::invitations::idempotency::MutationRefused>,
) -> Result<HttpResponse, ApiError> {
    let key = key.get()?;
    let request_id = request_id(req);
    let caller = &caller.id;
    let sinks = (&*state.audit, &state.emails);
    let observer = AuditTrail::request(sinks, caller, &request_id, route, key);
    let answer = run(Asked {
        caller,
        request_id: &request_id,
        idempotency_key: key,
        observer: &observer,
    })
    .await?;
    let mut response = HttpResponse::Ok();
    response.content_type("application/json");
    if answer.replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    }
    // The stored bytes: a replay is the first answer exactly.
    Ok(response.body(answer.body))
}

/// A send with `Prefer: respond-async`: a campaign made of its addresses, answered `202`, once
/// per Idempotency-Key (a retry gets the first answer and its `Location`, not a second campaign).
async fn send_as_campaign(
    state: &AppState,
    caller: &Caller,
    (req, key): (&HttpRequest, &IdempotencyKey),
    emails: Vec<String>,
    resend: bool,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(emails)?;
    let key = key.get()?;
    let request_id = request_id(req);
    let asked = (&caller.id, request_id.as_str(), key);
    let answer = state
        .campaigns
        .create_from_send_once(asked, &batch, resend)
        .await?;
    let mut response = HttpResponse::Accepted();
    response.insert_header(("Preference-Applied", "respond-async"));
    Ok(stored_campaign(response, answer))
}

/// A keyed campaign creation's answer: `response` with the stored bytes (a replay is the first
/// answer exactly), the `Location` of the campaign they name and, for a replay,
/// `Idempotent-Replayed: true`.
pub(crate) fn stored_campaign(mut response: HttpResponseBuilder, answer: Answer) -> HttpResponse {
    // The stored answer is the campaign as first answered: its id gives the Location again.
    match serde_json::from_slice::<StoredCampaign>(&answer.body) {
        Ok(stored) => {
            response.insert_header((LOCATION, crate::routes::campaigns::location(&stored.id)));
        }
        Err(_) => tracing::error!("a stored campaign creation names no campaign"),
    }
    response.content_type("application/json");
    if answer.replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    }
    response.body(answer.body)
}

/// Send invitations, never twice by accident.
///
/// For each address, reads the invitation first: INVITED without `resend` is `already_invited`
/// and gets no mail; ACCEPTED is `already_accepted`; an address that is not an unmanaged account
/// is `not_eligible`; otherwise the invitation is mailed (`sent`, or `resent` with `resend`).
/// Accounts created in the last 48 hours, which Google does not list yet, are mailed when Google
/// says they can be invited. If Google's answer to a send is lost, the invitation is read again
/// to learn whether the mail went out; a send is never repeated blindly. An item that fails does
/// not fail the others (`failed` with an `error`). Every item is written to the audit trail, with
/// the caller, before the answer. With an `Idempotency-Key`, the same key from the same caller
/// within 24 hours returns the first answer (header `Idempotent-Replayed: true`) without calling
/// Google again; the same key with a different body is `422`. With `Prefer: respond-async`
/// (RFC 7240) the addresses become a campaign instead: `202` with the campaign, its
/// `Location` and `Preference-Applied: respond-async`; see `POST /v1/campaigns`. The
/// `Idempotency-Key` holds there too: a retry with the same key and body gets the first `202`
/// again (the campaign as it was created, the same `Location`, `Idempotent-Replayed: true`)
/// and makes no second campaign. The preference is part of the request: a key first used
/// without `respond-async` and then with it (or the other way round) is `422`.
#[utoipa::path(
    post,
    path = "/v1/invitations/send",
    tag = "invitations",
    request_body = SendInvitationsRequest,
    params(IdempotencyKey, Prefer),
    responses(
        (status = 200, description = "One result per address, and counts per outcome.", body = MutationResponse,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to a repeated Idempotency-Key")),
         example = json!({"results": [
            {"email": "grace+hr@example.com", "outcome": "sent", "invitation": {"email": "grace+hr@example.com", "state": "INVITED", "mailsSentCount": 1, "updateTime": "2026-11-22T03:30:00.120Z"}},
            {"email": "ada@example.com", "outcome": "already_invited", "invitation": {"email": "ada@example.com", "state": "INVITED", "mailsSentCount": 2, "updateTime": "2026-01-05T09:00:00Z"}}
         ], "summary": {"sent": 1, "already_invited": 1}})),
        (status = 202, description = "With `Prefer: respond-async`: the campaign made of the addresses (for a repeated Idempotency-Key, as it was created).", body = crate::campaigns::CampaignView,
         headers(("Location" = String, description = "`/v1/campaigns/{id}`"),
                 ("Preference-Applied" = String, description = "`respond-async`"),
                 ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to a repeated Idempotency-Key"))),
        BodyErrors,
        AuthErrors,
        MutationErrors,
        IdempotencyErrors,
    )
)]
pub async fn send_invitations(
    caller: Authorized<scope::Send>,
    state: web::Data<AppState>,
    req: HttpRequest,
    (key, prefer): (IdempotencyKey, Prefer),
    body: Json<SendInvitationsRequest>,
) -> Result<HttpResponse, ApiError> {
    let SendInvitationsRequest { emails, resend } = body.into_inner();
    let asked = (&req, &key);
    if prefer.respond_async() {
        // RFC 7240: the work becomes a campaign; its Location is where to watch it.
        return send_as_campaign(&state, caller.caller(), asked, emails, resend).await;
    }
    let batch = EmailBatch::parse(emails)?;
    let route = "POST /v1/invitations/send";
    mutate(&state, caller.caller(), asked, route, async |asked| {
        state.invitations.send_once(&batch, resend, asked).await
    })
    .await
}

/// Cancel pending invitations.
///
/// For each address, withdraws an INVITED invitation (`cancelled`; no mail goes out, and the
/// invitation returns to NOT_YET_SENT). Anything else is `not_invited`. Audited, per item, like
/// send, and idempotent with an `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/v1/invitations/cancel",
    tag = "invitations",
    request_body = EmailsRequest,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "One result per address, and counts per outcome.", body = MutationResponse,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to a repeated Idempotency-Key")),
         example = json!({"results": [
            {"email": "ada@example.com", "outcome": "cancelled", "invitation": {"email": "ada@example.com", "state": "NOT_YET_SENT", "mailsSentCount": 2, "updateTime": "2026-11-22T03:31:00.004Z"}},
            {"email": "grace+hr@example.com", "outcome": "not_invited", "invitation": {"email": "grace+hr@example.com", "state": "NOT_YET_SENT", "updateTime": "2026-01-05T10:00:00Z", "mailsSentCount": 0}}
         ], "summary": {"cancelled": 1, "not_invited": 1}})),
        BodyErrors,
        AuthErrors,
        MutationErrors,
        IdempotencyErrors,
    )
)]
pub async fn cancel_invitations(
    caller: Authorized<scope::Cancel>,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: IdempotencyKey,
    body: Json<EmailsRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(body.into_inner().emails)?;
    let route = "POST /v1/invitations/cancel";
    mutate(
        &state,
        caller.caller(),
        (&req, &key),
        route,
        async |asked| state.invitations.cancel_once(&batch, asked).await,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invitations::idempotency::SendFingerprint;

    #[test]
    fn a_sends_fingerprint_is_taken_over_the_request_as_sent() {
        let emails = vec![" Ada@Example.com".to_owned(), "nope".to_owned()];
        let request = SendInvitationsRequest {
            emails: emails.clone(),
            resend: true,
        };
        let batch = EmailBatch::parse(emails).unwrap();
        let fingerprint = SendFingerprint {
            emails: &batch,
            resend: true,
        };
        assert_eq!(
            serde_json::to_vec(&fingerprint).unwrap(),
            serde_json::to_vec(&request).unwrap()
        );
    }
}
