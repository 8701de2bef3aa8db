//! Reading the audit trail: `GET /v1/audit` (filtered, paged, newest first) and
//! `POST /v1/audit/search` (every record about some people; addresses travel in the body). Both
//! need `audit.read`: the answers show the addresses acted on.

use crate::auth::scope;
use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::invitations::audit::{
    AuditPage, AuditPageToken, AuditQuery, AuditSearchResponse, DEFAULT_AUDIT_PAGE_SIZE,
    MAX_AUDIT_PAGE_SIZE,
};
use crate::invitations::batch::EmailBatch;
use crate::routes::authorized::Authorized;
use crate::routes::common::{AuthErrors, BodyErrors, EmailsRequest, StoreErrors, invalid_query};
use crate::routes::json::Json;
use crate::routes::query::{Query, QueryParams};
use crate::state::AppState;
use crate::vocabulary::{Action, Outcome};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// Longest `callerIss`, `callerSub` or `campaign` filter.
const MAX_FILTER_LEN: usize = 512;

/// Longest page token accepted (the gateway's are far shorter).
const MAX_PAGE_TOKEN_LEN: usize = 64;

/// The actions the store's trail records.
const ACTIONS: [Action; 2] = [Action::Send, Action::Cancel];

/// The outcomes a record can have.
const OUTCOMES: [Outcome; 9] = [
    Outcome::Sent,
    Outcome::Resent,
    Outcome::AlreadyInvited,
    Outcome::AlreadyAccepted,
    Outcome::NotEligible,
    Outcome::Cancelled,
    Outcome::NotInvited,
    Outcome::Failed,
    Outcome::Unknown,
];

/// A filter's schema: a string type named `$name`, described as `$description`, whose values
/// are the wire names of `$values` (the list the parameter is parsed against).
macro_rules! filter_schema {
    ($(#[doc = $doc:tt])* $name:ident, $description:tt, $values:expr) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let values = $values.map(|value| value.as_str());
                string_enum($description, &values)
            }
        }

        impl ToSchema for $name {}
    };
}

filter_schema!(
    /// The schema of the `action` filter, made from [`ACTIONS`].
    AuditActionFilter,
    "An action recorded in the trail.",
    ACTIONS
);

filter_schema!(
    /// The schema of the `outcome` filter, made from [`OUTCOMES`].
    AuditOutcomeFilter,
    "An outcome recorded in the trail.",
    OUTCOMES
);

/// A string schema described as `description` whose values are `values`.
fn string_enum(description: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// The query of `GET /v1/audit`: every bad value is a `400 invalid_query` naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListAuditParams {
    /// Only records of this action.
    #[param(value_type = Option<AuditActionFilter>)]
    action: Option<String>,
    /// Only records with this outcome.
    #[param(value_type = Option<AuditOutcomeFilter>)]
    outcome: Option<String>,
    /// Only records of callers with this verified `iss` (e.g. `https://idp.example.com`).
    // No `example`: Swagger UI would fill it in on "Try it out" and filter everything away.
    #[param(min_length = 1, max_length = 512)]
    caller_iss: Option<String>,
    /// Only records of callers with this verified `sub` (e.g. `hr-onboarding`); with
    /// `callerIss`, exactly one caller (a `sub` is unique only within its issuer).
    #[param(min_length = 1, max_length = 512)]
    caller_sub: Option<String>,
    /// Only records of this campaign.
    #[param(min_length = 1, max_length = 512)]
    campaign: Option<String>,
    /// Only records written at or after this time (RFC 3339, e.g. `2026-11-01T00:00:00Z`).
    #[param(value_type = Option<DateTime<Utc>>)]
    from: Option<String>,
    /// Only records written before this time (RFC 3339, e.g. `2026-12-01T00:00:00Z`); a `to`
    /// at or before `from` lists nothing.
    #[param(value_type = Option<DateTime<Utc>>)]
    to: Option<String>,
    /// Records per page, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
    /// `nextPageToken` of the previous page; the other parameters must be the same.
    #[param(min_length = 1, max_length = 64)]
    page_token: Option<String>,
}

impl QueryParams for ListAuditParams {
    fn invalid(name: &str) -> String {
        match name {
            "action" => "action must be `send` or `cancel`".to_owned(),
            "outcome" => "outcome must be one of sent, resent, already_invited, \
                          already_accepted, not_eligible, cancelled, not_invited, failed"
                .to_owned(),
            "from" | "to" => {
                format!("{name} must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
            }
            "pageSize" => {
                format!("pageSize must be a whole number from 1 to {MAX_AUDIT_PAGE_SIZE}")
            }
            "pageToken" => "pageToken is not a nextPageToken of this listing".to_owned(),
            _ => format!("{name} must be 1 to {MAX_FILTER_LEN} characters"),
        }
    }
}

/// A read `GET /v1/audit` query.
#[derive(Debug, Default)]
struct ListRequest {
    filter: AuditQuery,
    page_size: Option<u32>,
    after: Option<AuditPageToken>,
}

fn bad(name: &str) -> ApiError {
    invalid_query(ListAuditParams::invalid(name))
}

fn text_filter(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    // Characters, as the document's maxLength counts them.
    match value {
        Some(text) if text.is_empty() || text.chars().count() > MAX_FILTER_LEN => Err(bad(name)),
        other => Ok(other),
    }
}

fn time_filter(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|_| bad(name))
        })
        .transpose()
}

/// The one of `values` whose wire name (`wire`) is `text`; a `text` that names none is bad for
/// parameter `name`.
fn one_of<T: Copy>(
    name: &str,
    values: &[T],
    wire: fn(T) -> &'static str,
    text: Option<String>,
) -> Result<Option<T>, ApiError> {
    text.map(|text| {
        values
            .iter()
            .copied()
            .find(|value| wire(*value) == text)
            .ok_or_else(|| bad(name))
    })
    .transpose()
}

impl TryFrom<ListAuditParams> for ListRequest {
    type Error = ApiError;

    fn try_from(params: ListAuditParams) -> Result<Self, ApiError> {
        let action = one_of("action", &ACTIONS, Action::as_str, params.action)?;
        let outcome = one_of("outcome", &OUTCOMES, Outcome::as_str, params.outcome)?;
        if params
            .page_size
            .is_some_and(|size| !(1..=MAX_AUDIT_PAGE_SIZE).contains(&size))
        {
            return Err(bad("pageSize"));
        }
        let after = params
            .page_token
            .map(|token| {
                (token.len() <= MAX_PAGE_TOKEN_LEN)
                    .then(|| AuditPageToken::parse(&token))
                    .flatten()
                    .ok_or_else(|| bad("pageToken"))
            })
            .transpose()?;
        Ok(ListRequest {
            filter: AuditQuery {
                action,
                outcome,
                caller_iss: text_filter("callerIss", params.caller_iss)?,
                caller_sub: text_filter("callerSub", params.caller_sub)?,
                campaign_id: text_filter("campaign", params.campaign)?,
                from: time_filter("from", params.from)?,
                to: time_filter("to", params.to)?,
            },
            page_size: params.page_size,
            after,
        })
    }
}

/// The record the examples of the listing and of the search show.
fn example_record() -> serde_json::Value {
    serde_json::json!({
        "id": "41", "recordedAt": "2026-11-22T03:30:00.120Z",
        "requestId": "0c9a6a52-4d0e-4f4c-9a55-0d0f8c3b1e7a",
        "callerIss": "https://idp.example.com", "callerSub": "hr-onboarding", "action": "send",
        "email": "grace+hr@example.com", "campaignId": null, "outcome": "sent", "googleStatus": 200,
        "completedAt": "2026-11-22T03:30:00.410Z"
    })
}

/// List the audit trail, newest first.
///
/// One record per send or cancel item that went to Google (or was about to): the real caller,
/// the request id, the action, the address, the outcome, Google's status, the campaign and the
/// times. Filters narrow the listing (all of them together); pages with `pageSize` and
/// `pageToken` (pass `nextPageToken` back with the same other parameters). Records written while
/// paging are newer than the pages already read and never shift them. Refused requests (bad
/// tokens, missing scopes, rate limits) are not listed here: they are counted, folded per
/// reason, peer and minute, and their first of each fold goes to the audit log and file.
/// Addresses are never filters here (URLs are logged on the way): search with
/// `POST /v1/audit/search`.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(ListAuditParams),
    responses(
        (status = 200, description = "One page, newest first.", body = AuditPage,
         example = json!({"records": [example_record()], "nextPageToken": "YTEuMTc2Mzc4MjIwMDEyMC40MQ"})),
        (status = 400, description = "A query parameter is invalid (`invalid_query`): an unknown or repeated parameter, an unknown action or outcome, a time that is not RFC 3339, a page size outside 1 to 500, or a page token this listing did not give.",
         body = ProblemDocument, content_type = "application/problem+json", example = json!(ErrorCode::InvalidQuery.example())),
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn list_audit(
    _caller: Authorized<scope::AuditRead>,
    state: web::Data<AppState>,
    query: Query<ListAuditParams>,
) -> Result<HttpResponse, ApiError> {
    let request = ListRequest::try_from(query.into_inner()?)?;
    let page: AuditPage = state
        .invitations
        .audit_page(
            &request.filter,
            request.page_size.unwrap_or(DEFAULT_AUDIT_PAGE_SIZE),
            request.after,
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Search the audit trail for people.
///
/// Every record about any of the addresses (1 to 100, each once, as in every batch; spellings
/// that differ only in case or surrounding white space are the same address), newest first, at
/// most 1000 (`truncated` says when older ones were left out). Addresses travel in the body,
/// never in the URL. An address that is not valid matches nothing (no record can be about it).
#[utoipa::path(
    post,
    path = "/v1/audit/search",
    tag = "audit",
    request_body = EmailsRequest,
    responses(
        (status = 200, description = "Every record about these people, newest first.", body = AuditSearchResponse,
         example = json!({"records": [example_record()], "truncated": false})),
        BodyErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn search_audit(
    _caller: Authorized<scope::AuditRead>,
    state: web::Data<AppState>,
    body: Json<EmailsRequest>,
) -> Result<HttpResponse, ApiError> {
    // An invalid address is not a whole-batch error here either (as in every batch): no
    // record can be about it, so it matches nothing.
    let batch = EmailBatch::parse(body.into_inner().emails)?;
    let found: AuditSearchResponse = state.invitations.search_audit(&batch).await?;
    Ok(HttpResponse::Ok().json(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_query(query: &str) -> Result<ListRequest, ApiError> {
        ListRequest::try_from(Query::<ListAuditParams>::parse(query)?)
    }

    fn code(query: &str) -> Option<ErrorCode> {
        parse_query(query).err().map(|err| err.code())
    }

    #[test]
    fn every_filter_parses_and_bad_values_are_invalid_query() {
        let query = parse_query(
            "action=send&outcome=failed&callerIss=https%3A%2F%2Fidp&callerSub=hr&campaign=c1\
             &from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00%2B01:00&pageSize=2",
        )
        .unwrap();
        assert_eq!(query.filter.action, Some(Action::Send));
        assert_eq!(query.filter.outcome, Some(Outcome::Failed));
        assert_eq!(query.filter.caller_iss.as_deref(), Some("https://idp"));
        assert_eq!(query.filter.caller_sub.as_deref(), Some("hr"));
        assert_eq!(query.filter.campaign_id.as_deref(), Some("c1"));
        assert_eq!(
            query.filter.to.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-30T23:00:00+00:00")
        );
        assert_eq!(query.page_size, Some(2));
        for bad in [
            "action=denied",
            "outcome=SENT",
            "from=yesterday",
            "to=2026-13-01T00:00:00Z",
            "campaign=",
            "pageSize=0",
            "pageSize=501",
            "pageToken=",
            "pageToken=42",
            "pageToken=%00%FF",
            "action=send&action=cancel",
            "email=ada%40example.com",
            "access%5Ftoken2=x",
        ] {
            assert_eq!(code(bad), Some(ErrorCode::InvalidQuery), "{bad}");
        }
        assert!(parse_query("").is_ok());
        assert!(
            parse_query("callerSub=hr").is_ok(),
            "a sub alone narrows too"
        );
        assert!(parse_query(&format!("campaign={}", "é".repeat(512))).is_ok());
    }
}
