//! Creating campaigns: from JSON (`POST /v1/campaigns`), from a streamed CSV roster
//! (`POST /v1/campaigns/roster`); a send with `Prefer: respond-async` becomes one in
//! `mutations.rs`.

use super::*;
use crate::routes::common::header;
use utoipa::PartialSchema;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// Largest JSON body of a create (10,000 addresses and their quotes).
const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// A new campaign, as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Wave 1", "source": {"states": ["NOT_YET_SENT"]}, "reminders": {"afterHours": 168, "max": 2}}))]
pub struct CreateCampaignRequest {
    /// A name for people (1 to 200 characters, not all spaces).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// Where its people come from: exactly one of `states` and `emails`.
    pub source: SourceRequest,
    /// Mail people who are already INVITED again.
    #[serde(default)]
    pub resend: bool,
    /// Classify every person and mail nobody (needs only `invitations.check`).
    #[serde(default)]
    pub dry_run: bool,
    /// For an `emails` source: when the tracker's snapshot is fresh, ask isInvitableUser about
    /// the people it does not show (accounts younger than Google's list lag); `false` ends them
    /// `not_listed` with no call. Default `true`.
    #[serde(
        default = "default_check_unlisted",
        deserialize_with = "check_unlisted_flag"
    )]
    pub check_unlisted: bool,
    /// Remind people still INVITED.
    #[serde(default)]
    pub reminders: Option<RemindersRequest>,
    /// When work starts (RFC 3339); now when absent.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
    /// When the people still INVITED by the campaign become `no_answer` (RFC 3339): after
    /// `startAt` and the last reminder; not on a dry run. None when absent.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    /// At the deadline, `keep` (default) or `cancel` the invitations of the people still
    /// INVITED.
    #[serde(default)]
    pub at_deadline: AtDeadline,
}

/// A campaign's source: `states` or `emails`, exactly one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"states": ["NOT_YET_SENT"]}))]
pub struct SourceRequest {
    /// Every unmanaged account in these states when the campaign starts (`NOT_YET_SENT`,
    /// `INVITED`, `ACCEPTED`, `DECLINED`).
    #[serde(default)]
    pub states: Option<Vec<String>>,
    /// These addresses (1 to 10,000); invalid, foreign and repeated ones become `skipped`.
    #[serde(default)]
    pub emails: Option<Vec<String>>,
}

/// Reminders.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemindersRequest {
    /// Hours after the last mail (1 to 8760).
    #[serde(default = "default_after_hours")]
    #[schema(minimum = 1, maximum = 8760)]
    pub after_hours: u64,
    /// Most reminders per person (0 to 10).
    #[serde(default = "default_max")]
    #[schema(minimum = 0, maximum = 10)]
    pub max: u32,
}

fn default_check_unlisted() -> bool {
    true
}

/// `checkUnlisted` as a boolean, or a detail that names it (serde's own says only where).
fn check_unlisted_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    <bool as Deserialize>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("checkUnlisted must be true or false"))
}

fn default_after_hours() -> u64 {
    168
}

fn default_max() -> u32 {
    2
}

/// The campaign's fields on a roster upload (`POST /v1/campaigns/roster`), as query parameters
/// (a parameter given twice keeps its last value).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RosterParams {
    /// The campaign's name, 1 to 200 characters, not all spaces; `Roster` when absent.
    #[param(min_length = 1, max_length = 200, pattern = "\\S")]
    name: Option<String>,
    /// `true` to mail INVITED people again.
    resend: Option<bool>,
    /// `true` for a dry run.
    dry_run: Option<bool>,
    /// `false` to end the people the tracker's fresh snapshot does not show `not_listed`
    /// instead of asking isInvitableUser about each (`true` when absent).
    check_unlisted: Option<bool>,
    /// When work starts (RFC 3339).
    #[param(format = DateTime)]
    start_at: Option<String>,
    /// Hours between reminders (1 to 8760; 168 when only `reminderMax` is given).
    #[param(minimum = 1, maximum = 8760)]
    reminder_after_hours: Option<u64>,
    /// Most reminders per person (0 to 10; 2 when only `reminderAfterHours` is given).
    #[param(minimum = 0, maximum = 10)]
    reminder_max: Option<u32>,
    /// When the people still INVITED become `no_answer` (RFC 3339; after `startAt` and the
    /// last reminder).
    #[param(format = DateTime)]
    deadline: Option<String>,
    /// `keep` (default) or `cancel` the open invitations at the deadline.
    at_deadline: Option<AtDeadline>,
}

impl QueryParams for RosterParams {
    const LAST_WINS: bool = true;

    fn unknown(_name: &str) -> String {
        "unknown parameter".to_owned()
    }

    fn invalid(name: &str) -> String {
        match name {
            "startAt" | "deadline" => format!("{name} must be an RFC 3339 time"),
            "atDeadline" => "atDeadline must be keep or cancel".to_owned(),
            "resend" | "dryRun" | "checkUnlisted" => format!("{name} must be true or false"),
            _ => format!("{name} must be a whole number"),
        }
    }
}

/// A roster: a CSV file, sent as its bytes (generated clients take it as a file).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub struct RosterFile(Vec<u8>);

/// The `201` of both creates: the campaign, and where it is.
pub struct CampaignCreated;

impl IntoResponses for CampaignCreated {
    fn responses() -> Responses {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(CampaignView::name())))
            .build();
        let response = ResponseBuilder::new()
            .description(
                "The campaign; `Location` names it (for a repeated Idempotency-Key, as it was \
                 created).",
            )
            .header("Location", header(String::schema(), "`/v1/campaigns/{id}`"))
            .header(
                "Idempotent-Replayed",
                header(
                    String::schema(),
                    "`true` when this is the stored answer to a repeated Idempotency-Key",
                ),
            )
            .content("application/json", body);
        Responses::from([("201".to_owned(), response.build().into())])
    }
}

/// Errors only the JSON create answers.
pub struct CreateErrors;

impl IntoResponses for CreateErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::InvalidRequest,
                "The body or the query is invalid: unknown fields, no name, both or neither \
                 source, more\n\
                 than 10,000 addresses, any query parameter (`invalid_request` or \
                 `invalid_query`).\n\
                 Nothing was created.",
            ),
            problem(
                ErrorCode::RequestTimeout,
                "The body did not arrive within `GATEWAY_BODY_READ_TIMEOUT_SECS` \
                 (`request_timeout`); the\n\
                 connection is closed. Nothing was created.",
            ),
            problem(
                ErrorCode::PayloadTooLarge,
                "The JSON body is larger than 4 MiB, or a roster uploaded with an \
                 `Idempotency-Key` is\n\
                 larger than `GATEWAY_CAMPAIGN_ROSTER_MAX_MIB` (`payload_too_large`).",
            ),
            problem(
                ErrorCode::UnsupportedMediaType,
                "The body is not `application/json` (`unsupported_media_type`).",
            ),
            problem(
                ErrorCode::StoreUnavailable,
                "The store cannot be reached (`store_unavailable`): nothing was created.",
            )
            .retry_after("Seconds to wait before trying again"),
        ])
    }
}

/// Errors only the roster upload answers.
pub struct RosterErrors;

impl IntoResponses for RosterErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::InvalidRequest,
                "The query or the roster is invalid: an unknown or malformed parameter, a \
                 roster without\n\
                 an email column (the detail names the columns found), with more than 100,000 \
                 rows, a row\n\
                 whose other columns exceed 4096 bytes or a malformed line (`invalid_request` \
                 or\n\
                 `invalid_query`, naming the line). Nothing was created: the rows already \
                 stored are\n\
                 deleted with the campaign.",
            ),
            problem(
                ErrorCode::RequestTimeout,
                "The roster did not arrive within `GATEWAY_BODY_READ_TIMEOUT_SECS` \
                 (`request_timeout`);\n\
                 the connection is closed. Nothing was created: the rows already stored are \
                 deleted with\n\
                 the campaign.",
            ),
            problem(
                ErrorCode::UnsupportedMediaType,
                "The body is not `text/csv` (`unsupported_media_type`).",
            ),
            problem(
                ErrorCode::StoreUnavailable,
                "The store cannot be reached (`store_unavailable`): nothing was created.",
            )
            .retry_after("Seconds to wait before trying again"),
        ])
    }
}

/// The most reminders one person can get (more would be harassment, not a reminder).
const MAX_REMINDERS: u32 = 10;

pub(super) fn reminders(
    after_hours: u64,
    max: u32,
) -> Result<crate::campaigns::Reminders, ApiError> {
    if after_hours == 0 || after_hours > 24 * 365 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "reminders.afterHours must be from 1 to 8760.",
        ));
    }
    if max > MAX_REMINDERS {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "reminders.max must be from 0 to 10.",
        ));
    }
    Ok(crate::campaigns::Reminders {
        after: Duration::from_secs(after_hours * 3600),
        max,
    })
}

fn parse_states(states: &[String]) -> Result<Vec<InvitationState>, ApiError> {
    states
        .iter()
        .map(|s| {
            InvitationState::parse(s).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "source.states: each must be NOT_YET_SENT, INVITED, ACCEPTED or DECLINED.",
                )
            })
        })
        .collect()
}

/// The name of a roster campaign created without one.
const DEFAULT_ROSTER_NAME: &str = "Roster";

/// The campaign fields of a roster upload, from the query.
fn roster_spec(query: &str) -> Result<CampaignSpec, ApiError> {
    let params = Query::<RosterParams>::parse(query)?;
    let time = |name: &str, text: Option<String>| {
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|time| time.to_utc())
                .map_err(|_| invalid_query(RosterParams::invalid(name)))
        })
        .transpose()
    };
    let start_at = time("startAt", params.start_at)?;
    let deadline = time("deadline", params.deadline)?;
    let reminders = match (params.reminder_after_hours, params.reminder_max) {
        (None, None) => None,
        (after, max) => Some(reminders(
            after.unwrap_or_else(default_after_hours),
            max.unwrap_or_else(default_max),
        )?),
    };
    Ok(CampaignSpec {
        // A roster's name is optional (the upload is what matters); the list still needs one.
        name: params
            .name
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| DEFAULT_ROSTER_NAME.to_owned()),
        resend: params.resend.unwrap_or(false),
        dry_run: params.dry_run.unwrap_or(false),
        check_unlisted: params.check_unlisted.unwrap_or_else(default_check_unlisted),
        reminders,
        start_at,
        deadline,
        at_deadline: params.at_deadline.unwrap_or_default(),
    })
}

/// The spec and source of a JSON create.
fn json_spec(body: &[u8]) -> Result<(CampaignSpec, Source), ApiError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, "Invalid JSON body: not UTF-8."))?;
    let request: CreateCampaignRequest = crate::routes::json::parse(body)?;
    let source = match (request.source.states, request.source.emails) {
        (Some(states), None) => Source::States(parse_states(&states)?),
        (None, Some(emails)) => Source::Emails(emails),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "source: exactly one of states and emails is required.",
            ));
        }
    };
    let reminders = request
        .reminders
        .map(|r| reminders(r.after_hours, r.max))
        .transpose()?;
    Ok((
        CampaignSpec {
            name: request.name,
            resend: request.resend,
            dry_run: request.dry_run,
            check_unlisted: request.check_unlisted,
            reminders,
            start_at: request.start_at,
            deadline: request.deadline,
            at_deadline: request.at_deadline,
        },
        source,
    ))
}

/// Create a campaign.
///
/// A campaign invites a set of people at the pace the project's Google budget allows (its
/// calls are background work: waiting callers come first), survives restarts and the loss of
/// a replica, and mails each person at most once per intended mail. The body is JSON with a
/// `source` of `states` (every unmanaged account in those states when the campaign starts;
/// the list is walked once, by the worker) or `emails` (up to 10,000); the request takes no
/// query parameters. To invite the people of a roster (a CSV file), use
/// `POST /v1/campaigns/roster`. Invalid addresses, domains outside the allowed ones and
/// repeated addresses become `skipped` items; they never fail the campaign. A dry run
/// (`dryRun: true`) mails nobody and ends each item in `would_send`, `already_invited`,
/// `already_accepted`, `not_eligible`, `not_listed` or `skipped`. While the tracker's last walk
/// is fresh (within two `GATEWAY_TRACK_INTERVAL_SECS`), the people of an `emails` source or a
/// roster are taken as its snapshot shows them, with no read (a dry run costs nothing for
/// them, a real run one send per mailed person); people it does not show are asked
/// isInvitableUser, or end `not_listed` with no call when `checkUnlisted` is `false`. Someone
/// invited by another caller since that walk is mailed again (as by a `states` campaign). A
/// real run needs the scope
/// `invitations.send`, a dry run `invitations.check` (a token with neither is refused before
/// the body is read; with the other one, after). Each mail counts against the creator's daily
/// mail budget; when it is spent the campaign is `waiting` until the next UTC day. With an
/// `Idempotency-Key`, a retry with the same key and body within 24 hours, on any replica, gets
/// the first `201` again (the campaign as it was created, the same `Location`,
/// `Idempotent-Replayed: true`) and makes no second campaign; the same key with another body is
/// `422`.
#[utoipa::path(
    post,
    path = "/v1/campaigns",
    tag = "campaigns",
    params(IdempotencyKey),
    request_body(content((CreateCampaignRequest = "application/json"))),
    responses(
        CampaignCreated,
        CreateErrors,
        IdempotencyErrors,
        AuthErrors,
    )
)]
pub async fn create_campaign(
    caller: Authorized<scope::SendOrCheck>,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: IdempotencyKey,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (spec, source) = match media_type(&req).as_str() {
        "application/json" => {
            let bytes = json_body(body).await?;
            if !req.query_string().is_empty() {
                return Err(invalid_query(
                    "a JSON body takes no query parameters; put the fields in the body",
                ));
            }
            json_spec(&bytes)?
        }
        // Deprecated: the roster upload's first home, before it was its own operation. Still
        // served (to the same code) so that existing clients keep working; not documented.
        ROSTER_MEDIA_TYPE => roster_source(&req, body)?,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The request body must be application/json (a roster goes to POST /v1/campaigns/roster).",
            ));
        }
    };
    let deprecated = matches!(source, Source::Roster(_));
    let mut answer = create(caller, &state, (&req, &key), spec, source).await?;
    if deprecated {
        let headers = answer.headers_mut();
        headers.insert(
            header::HeaderName::from_static("deprecation"),
            header::HeaderValue::from_static("true"),
        );
        headers.insert(
            header::LINK,
            header::HeaderValue::from_static("</v1/campaigns/roster>; rel=\"successor-version\""),
        );
    }
    Ok(answer)
}

/// Create a campaign from a roster.
///
/// The body is a roster, `text/csv` (comma-, semicolon- or tab-separated, as the header row
/// shows; a header row naming the email column `email`, `E-mail`, `Email Address` or `Email
/// Address [Required]`; up to 100,000 rows, read as they stream in; a UTF-8 byte order mark and
/// CRLF line ends are fine); the campaign's other fields are query parameters:
/// `POST /v1/campaigns/roster?name=Wave%201&dryRun=true`. The roster's other columns (the first
/// 64 with a name, none naming a password, at most 4096 bytes a row) are kept with each item,
/// with its row number, and come back in the items and the report. An upload that does not
/// finish (the client goes away, the body read timeout passes, a line is malformed) leaves no
/// campaign and no row behind. Everything else is as for `POST /v1/campaigns`: invalid,
/// foreign and repeated addresses become `skipped` items, a real run needs `invitations.send`
/// and a dry run `invitations.check`, and with an `Idempotency-Key` a retry with the same key,
/// roster bytes and query gets the first `201` again (a keyed roster is read whole, to a
/// temporary file, before the key is taken).
#[utoipa::path(
    post,
    path = "/v1/campaigns/roster",
    tag = "campaigns",
    params(RosterParams, IdempotencyKey),
    request_body(content(
        (RosterFile = "text/csv", example = "email,name,employee_id\r\nada@example.com,Ada,E1001\r\ngrace@example.com,Grace,E1002\r\n")
    )),
    responses(
        CampaignCreated,
        RosterErrors,
        IdempotencyErrors,
        AuthErrors,
    )
)]
pub async fn create_roster_campaign(
    caller: Authorized<scope::SendOrCheck>,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: IdempotencyKey,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if media_type(&req) != ROSTER_MEDIA_TYPE {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "The request body must be text/csv.",
        ));
    }
    let (spec, source) = roster_source(&req, body)?;
    create(caller, &state, (&req, &key), spec, source).await
}

/// The media type of a roster upload.
const ROSTER_MEDIA_TYPE: &str = "text/csv";

/// The request's media type, lower case, without parameters (empty when it has none).
pub(super) fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A JSON create's body, at most [`MAX_JSON_BODY`] bytes.
pub(super) async fn json_body(mut body: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                "The request body could not be read.",
            )
        })?;
        if bytes.len() + chunk.len() > MAX_JSON_BODY {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The request body exceeds {MAX_JSON_BODY} bytes."),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The spec (from the query) and the streamed source of a roster upload.
fn roster_source(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(CampaignSpec, Source), ApiError> {
    let spec = roster_spec(req.query_string())?;
    let stream = body
        .map_err(|_| "roster: the request body could not be read.".to_owned())
        .boxed_local();
    Ok((spec, Source::Roster(stream)))
}

/// Creates the campaign once the caller holds the scope its kind needs (keyed: once per key).
async fn create(
    caller: Authorized<scope::SendOrCheck>,
    state: &AppState,
    (req, key): (&HttpRequest, &IdempotencyKey),
    spec: CampaignSpec,
    source: Source,
) -> Result<HttpResponse, ApiError> {
    // A real run mails people; a dry run only checks them.
    let needed = if spec.dry_run {
        Scope::Check
    } else {
        Scope::Send
    };
    caller.require(needed, req).await?;
    let key = key.get()?;
    // Once per key (across replicas): a retried upload gets the first 201 and its Location.
    let answer = state
        .campaigns
        .create_once(&caller.caller().id, spec, source, key)
        .await?;
    Ok(stored_campaign(HttpResponse::Created(), answer))
}
