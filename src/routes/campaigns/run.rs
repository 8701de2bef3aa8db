//! A campaign's second start and its end: the real run of a completed dry run
//! (`POST /v1/campaigns/{id}/run`) and the resolution (`GET /v1/campaigns/{id}/resolution`).

use super::create::{RemindersRequest, json_body, media_type, reminders};
use super::*;
use crate::campaigns::{ResolutionLine, RunSpec};
use crate::routes::common::header as doc_header;
use utoipa::PartialSchema;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// What a real run may set; everything is optional (an empty body, or none, takes the dry
/// run's name and no reminders or deadline).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Wave 1", "reminders": {"afterHours": 168, "max": 2},
    "deadline": "2026-12-22T17:00:00Z", "atDeadline": "cancel"}))]
pub struct RunCampaignRequest {
    /// A name for people (1 to 200 characters, not all spaces); the dry run's when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    /// Remind people still INVITED.
    #[serde(default)]
    pub reminders: Option<RemindersRequest>,
    /// When work starts (RFC 3339); now when absent.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
    /// When the people still INVITED become `no_answer` (RFC 3339): after `startAt` and the
    /// last reminder.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    /// At the deadline, `keep` (default) or `cancel` the open invitations.
    #[serde(default)]
    pub at_deadline: AtDeadline,
}

/// The `201` of a run: the new campaign, and where it is.
pub struct RunCreated;

impl IntoResponses for RunCreated {
    fn responses() -> Responses {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(CampaignView::name())))
            .build();
        let response = ResponseBuilder::new()
            .description(
                "The real campaign, `fromDryRun` naming the dry run; `Location` names it (for \
                 a repeated Idempotency-Key, as it was created).",
            )
            .header(
                "Location",
                doc_header(String::schema(), "`/v1/campaigns/{id}`"),
            )
            .header(
                "Idempotent-Replayed",
                doc_header(
                    String::schema(),
                    "`true` when this is the stored answer to a repeated Idempotency-Key",
                ),
            )
            .content("application/json", body);
        Responses::from([("201".to_owned(), response.build().into())])
    }
}

/// Errors only a run answers.
pub struct RunErrors;

impl IntoResponses for RunErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::InvalidRequest,
                "The body is invalid: unknown fields, a bad name, reminders or deadline \
                 (`invalid_request`). Nothing was created.",
            ),
            problem(
                ErrorCode::UnsupportedMediaType,
                "A body that is not `application/json` (`unsupported_media_type`).",
            ),
            problem(
                ErrorCode::DryRunStale,
                "Refused, nothing created: the campaign is not a dry run or not completed \
                 (`campaign_state_conflict`), the dry run completed longer ago than \
                 `GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS` (`dry_run_stale`), or a request with \
                 this Idempotency-Key is still running (`idempotency_key_in_progress`, with \
                 `Retry-After`).",
            ),
            problem(
                ErrorCode::IdempotencyKeyReused,
                "The Idempotency-Key was used with a different request \
                 (`idempotency_key_reused`).",
            ),
            problem(
                ErrorCode::AuditUnavailable,
                "The audit trail cannot be written (`audit_unavailable`): nothing was created.",
            )
            .retry_after("Seconds to wait before trying again"),
        ])
    }
}

/// Start a dry run as the real run.
///
/// Creates a real campaign whose people are exactly the completed dry run's `would_send`
/// items, each with its roster row number and columns, so the real run's items and report
/// join back to the same roster; nobody else is mailed and nothing is uploaded again. Its
/// `resend` and `checkUnlisted` are the dry run's; the body (optional JSON) may set its name,
/// reminders, `startAt`, `deadline` and `atDeadline`. Each person is mailed through the same
/// safe send as any campaign (ledger claim, a fresh read first, the audit trail), so a person
/// invited since the dry run ends `already_invited` and is not mailed again. Only the dry run's
/// creator (or a caller with `campaigns.admin`) may run it; the real campaign is the caller's.
/// Refused with 409 unless the campaign is a completed dry run (`campaign_state_conflict`)
/// that completed within `GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS` (`dry_run_stale`: states
/// change; start a new dry run). With an `Idempotency-Key`, as for `POST /v1/campaigns`: a
/// retry with the same key and body, on any replica, gets the first `201` again and creates
/// nothing; the same key with another body is `422`.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/run",
    tag = "campaigns",
    params(("id" = String, Path, description = "The dry run's id."), IdempotencyKey),
    request_body(content((RunCampaignRequest = "application/json"))),
    responses(
        RunCreated,
        RunErrors,
        CampaignErrors,
        AuthErrors,
    )
)]
pub async fn run_campaign(
    caller: Authorized<scope::Send>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    (req, key): (HttpRequest, IdempotencyKey),
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = json_body(body).await?;
    if !req.query_string().is_empty() {
        return Err(invalid_query("this operation takes no query parameters"));
    }
    let request = if bytes.iter().all(u8::is_ascii_whitespace) {
        RunCampaignRequest::default()
    } else {
        if media_type(&req) != "application/json" {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The request body must be application/json.",
            ));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            ApiError::new(ErrorCode::InvalidRequest, "Invalid JSON body: not UTF-8.")
        })?;
        crate::routes::json::parse(text)?
    };
    if let Some(name) = &request.name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "name: 1 to 200 characters, not all spaces.",
        ));
    }
    let spec = RunSpec {
        name: request.name,
        reminders: request
            .reminders
            .map(|r| reminders(r.after_hours, r.max))
            .transpose()?,
        start_at: request.start_at,
        deadline: request.deadline,
        at_deadline: request.at_deadline,
    };
    let key = key.get()?;
    let answer = state
        .campaigns
        .run(&id, &viewer(caller.caller()), spec, key)
        .await?;
    Ok(stored_campaign(HttpResponse::Created(), answer))
}

/// The error of a resolution asked for too early.
pub struct ResolutionErrors;

impl IntoResponses for ResolutionErrors {
    fn responses() -> Responses {
        problems([problem(
            ErrorCode::CampaignNotResolved,
            "The campaign's deadline has not been passed yet, or a campaign without a deadline \
             is not completed or cancelled yet (`campaign_not_resolved`).",
        )])
    }
}

/// Read a campaign's resolution: every person's final outcome.
///
/// One line per person of the campaign, in the order they were added: the roster `row` (empty
/// or null for a person not from a roster), `email`, the final `outcome` (`accepted`,
/// `declined`, `no_answer` for people still INVITED at the deadline, `not_eligible`,
/// `already_accepted`, `skipped`, `failed`, `cancelled`, ...) and its `reason` (`deadline`
/// for a person never mailed before it; `invitation_cancelled` for a `no_answer` whose
/// invitation `atDeadline: cancel` withdrew). The `declined` and `no_answer` lines are the
/// hand-off to whoever creates the managed accounts (see the migration guide). Available once
/// the campaign's deadline has passed (`deadlineReachedAt`), or, for a campaign without a
/// deadline, once it is completed or cancelled; 409 `campaign_not_resolved` before.
/// `Accept: text/csv` (the default; header `row,email,outcome,reason`; a cell that begins
/// with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'`) or
/// `application/x-ndjson` (one JSON object per line).
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/resolution",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "Every person's final outcome, streamed.",
         content(
            (String = "text/csv", example = "row,email,outcome,reason\r\n2,ada@example.com,accepted,\r\n3,grace@example.com,no_answer,\r\n4,not an address,skipped,invalid_email\r\n"),
            (ResolutionLine = "application/x-ndjson", example = "{\"row\":2,\"email\":\"ada@example.com\",\"outcome\":\"accepted\",\"reason\":null}\n")
         )),
        ResolutionErrors,
        NotAcceptableErrors,
        CampaignErrors,
        AuthErrors,
    )
)]
pub async fn campaign_resolution(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let format = report_format(&req)?;
    let stream = state
        .campaigns
        .resolution(&id, &viewer(caller.caller()), format)
        .await?;
    Ok(report_response(format, stream))
}
