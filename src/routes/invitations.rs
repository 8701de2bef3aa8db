//! Reading invitations: lookup, list, summary, export.

use crate::auth::scope;
use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::invitations::batch::EmailBatch;
use crate::invitations::listing::{
    ExportFormat, InvitationPage, ListQuery, MAX_PAGE_SIZE, OrderBy, Summary,
};
use crate::invitations::outcome::LookupResult;
use crate::routes::authorized::Authorized;
use crate::routes::common::{
    AuthErrors, BodyErrors, EmailsRequest, NotAcceptableErrors, UpstreamErrors, invalid_query,
    request_id,
};
use crate::routes::json::Json;
use crate::routes::query::{Query, QueryParams};
use crate::state::AppState;
use crate::vocabulary::InvitationState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest page token passed through (Google's are far shorter).
const MAX_PAGE_TOKEN_LEN: usize = 2048;

/// The answer of a lookup.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"results": [
    {"email": "ada@example.com", "invitation": {"email": "ada@example.com", "state": "INVITED", "mailsSentCount": 2, "updateTime": "2026-01-05T09:00:00Z"}},
    {"email": "nobody@example.com", "error": {"code": "not_found", "detail": "Google has no invitation for this address (accounts created in the last 48 hours are not listed yet)."}}
]}))]
pub struct LookupInvitationsResponse {
    /// One result per address, in the order sent.
    pub results: Vec<LookupResult>,
}

/// Look invitations up by address.
///
/// Returns the invitation of each address. An address Google has no invitation for gets the
/// per-item error `not_found` (accounts created in the last 48 hours are not listed by Google
/// yet, although they can already be checked and invited). Addresses travel in the body, never
/// in the URL.
#[utoipa::path(
    post,
    path = "/v1/invitations/lookup",
    tag = "invitations",
    request_body = EmailsRequest,
    responses(
        (status = 200, description = "One result per address.", body = LookupInvitationsResponse),
        BodyErrors,
        AuthErrors,
    )
)]
pub async fn lookup_invitations(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<EmailsRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(body.into_inner().emails)?;
    let results = state.invitations.lookup(&batch, &request_id(&req)).await;
    Ok(HttpResponse::Ok().json(LookupInvitationsResponse { results }))
}

/// A state that list and export filter by, spelled exactly so (`STATE_UNSPECIFIED` is never a
/// filter).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateFilter {
    /// Found, no mail sent.
    NotYetSent,
    /// Mailed, waiting for the person.
    Invited,
    /// The person joined.
    Accepted,
    /// The person declined.
    Declined,
}

impl From<StateFilter> for InvitationState {
    fn from(filter: StateFilter) -> Self {
        match filter {
            StateFilter::NotYetSent => InvitationState::NotYetSent,
            StateFilter::Invited => InvitationState::Invited,
            StateFilter::Accepted => InvitationState::Accepted,
            StateFilter::Declined => InvitationState::Declined,
        }
    }
}

/// The query of list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListInvitationsParams {
    /// Only invitations in these states (repeat the parameter for several); all when absent.
    state: Option<Vec<StateFilter>>,
    /// `email` (default) or `updateTime`, optionally followed by ` asc` or ` desc`.
    #[param(
        example = "updateTime desc",
        pattern = r"^(email|updateTime)( (asc|desc))?$"
    )]
    order_by: Option<String>,
    /// Invitations per page, 1 to 200 (Google's default, 100, when absent).
    #[param(minimum = 1, maximum = 200)]
    page_size: Option<u32>,
    /// `nextPageToken` of the previous page; the other parameters must be the same.
    #[param(min_length = 1, max_length = 2048)]
    page_token: Option<String>,
}

/// The detail of a bad value of list's or export's parameter `name`.
fn invalid_param(name: &str) -> String {
    match name {
        "state" => "state must be NOT_YET_SENT, INVITED, ACCEPTED or DECLINED".to_owned(),
        "orderBy" => {
            "orderBy must be `email` or `updateTime`, optionally with ` asc` or ` desc`".to_owned()
        }
        "pageSize" => format!("pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}"),
        _ => format!("pageToken must be 1 to {MAX_PAGE_TOKEN_LEN} characters"),
    }
}

impl QueryParams for ListInvitationsParams {
    fn invalid(name: &str) -> String {
        invalid_param(name)
    }
}

/// The query of export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ExportInvitationsParams {
    /// Only invitations in these states (repeat the parameter for several); all when absent.
    state: Option<Vec<StateFilter>>,
}

impl QueryParams for ExportInvitationsParams {
    fn invalid(name: &str) -> String {
        invalid_param(name)
    }
}

/// The states of a filter, each once, in the order given.
fn states(filter: Option<Vec<StateFilter>>) -> Vec<InvitationState> {
    let mut states: Vec<InvitationState> = Vec::new();
    for state in filter
        .unwrap_or_default()
        .into_iter()
        .map(InvitationState::from)
    {
        if !states.contains(&state) {
            states.push(state);
        }
    }
    states
}

impl TryFrom<ListInvitationsParams> for ListQuery {
    type Error = ApiError;

    fn try_from(params: ListInvitationsParams) -> Result<Self, ApiError> {
        let bad = |name: &str| invalid_query(invalid_param(name));
        let order_by = match params.order_by {
            Some(text) => OrderBy::parse(&text).ok_or_else(|| bad("orderBy"))?,
            None => OrderBy::default(),
        };
        if params
            .page_size
            .is_some_and(|size| !(1..=MAX_PAGE_SIZE).contains(&size))
        {
            return Err(bad("pageSize"));
        }
        if params
            .page_token
            .as_ref()
            .is_some_and(|token| token.is_empty() || token.len() > MAX_PAGE_TOKEN_LEN)
        {
            return Err(bad("pageToken"));
        }
        Ok(ListQuery {
            states: states(params.state),
            order_by,
            page_size: params.page_size,
            page_token: params.page_token,
        })
    }
}

/// List invitations, one page at a time.
///
/// Filters by state (repeat `state` for several), orders by email or last update, and pages with
/// `pageSize` and `pageToken` (pass `nextPageToken` back with the same other parameters). New
/// accounts take up to 48 hours to appear here.
#[utoipa::path(
    get,
    path = "/v1/invitations",
    tag = "invitations",
    params(ListInvitationsParams),
    responses(
        (status = 200, description = "One page.", body = InvitationPage,
         example = json!({"invitations": [{"email": "ada@example.com", "state": "INVITED", "mailsSentCount": 2, "updateTime": "2026-01-05T09:00:00Z"}], "nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA"})),
        (status = 400, description = "A query parameter is invalid (`invalid_query`), including a page token that does not belong to these parameters.",
         body = ProblemDocument, content_type = "application/problem+json", example = json!(ErrorCode::InvalidQuery.example())),
        AuthErrors,
        UpstreamErrors,
    )
)]
pub async fn list_invitations(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<ListInvitationsParams>,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::try_from(query.into_inner()?)?;
    let page = state.invitations.list(&query, &request_id(&req)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Count invitations by state.
///
/// With the tracker on (`GATEWAY_TRACK_INTERVAL_SECS` > 0), answers from its latest walk of
/// Google's list, with this gateway's own sends and cancels since (`asOf` is when that walk
/// ended): no call to Google. Otherwise, and before the first walk ended, walks every page of
/// Google's list and counts invitations per state; that answer is reused for a short while
/// (`GATEWAY_SUMMARY_TTL_SECS`; `asOf` says when it was computed) and concurrent requests share
/// one walk.
#[utoipa::path(
    get,
    path = "/v1/invitations/summary",
    tag = "invitations",
    responses(
        (status = 200, description = "Counts per state.", body = Summary),
        AuthErrors,
        UpstreamErrors,
    )
)]
pub async fn summarize_invitations(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let summary = state.tracking.summary(&request_id(&req)).await?;
    Ok(HttpResponse::Ok().json(summary.as_ref()))
}

/// Which format the caller accepts: CSV unless it asks for NDJSON; `not_acceptable` when it
/// accepts neither.
pub(crate) fn accepted_format(req: &HttpRequest) -> Result<ExportFormat, ApiError> {
    export_format(req).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotAcceptable,
            "Accept text/csv or application/x-ndjson.",
        )
    })
}

/// A download streamed as it is made: `content_type`, never cached; a stream that fails part
/// way ends the transfer early (its error is the reason, already logged).
pub(crate) fn streamed(
    content_type: &str,
    stream: impl Stream<Item = Result<Bytes, String>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream.map_err(std::io::Error::other))
}

/// CSV unless the caller asks for NDJSON; `None` when it accepts neither.
fn export_format(req: &HttpRequest) -> Option<ExportFormat> {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(ExportFormat::Csv);
    };
    let media: Vec<String> = accept
        .split(',')
        .map(|part| {
            part.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    if media.iter().any(|m| m == "application/x-ndjson") {
        Some(ExportFormat::Ndjson)
    } else if media
        .iter()
        .any(|m| m == "text/csv" || m == "text/*" || m == "*/*")
    {
        Some(ExportFormat::Csv)
    } else {
        None
    }
}

/// Export every invitation as CSV or NDJSON.
///
/// Streams all invitations (optionally only some states), page by page, in email order: memory
/// stays constant however many there are. `Accept: text/csv` (the default) gives a header line
/// `email,state,mailsSentCount,updateTime` then one line per invitation; `Accept:
/// application/x-ndjson` gives one Invitation JSON object per line. If Google fails after the
/// first page, the transfer ends early and incomplete, which HTTP clients report as an error.
/// A CSV cell that begins with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'`
/// (CSV injection); NDJSON keeps values as they are.
#[utoipa::path(
    get,
    path = "/v1/invitations/export",
    tag = "invitations",
    params(ExportInvitationsParams),
    responses(
        (status = 200, description = "Every invitation, streamed.",
         content(
            (String = "text/csv", example = "email,state,mailsSentCount,updateTime\r\nada@example.com,INVITED,2,2026-01-05T09:00:00.000Z\r\n"),
            (String = "application/x-ndjson", example = "{\"email\":\"ada@example.com\",\"state\":\"INVITED\",\"mailsSentCount\":2,\"updateTime\":\"2026-01-05T09:00:00Z\"}\n")
         )),
        (status = 400, description = "A query parameter is invalid (`invalid_query`).",
         body = ProblemDocument, content_type = "application/problem+json", example = json!(ErrorCode::InvalidQuery.example())),
        NotAcceptableErrors,
        AuthErrors,
        UpstreamErrors,
    )
)]
pub async fn export_invitations(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<ExportInvitationsParams>,
) -> Result<HttpResponse, ApiError> {
    let states = states(query.into_inner()?.state);
    let format = accepted_format(&req)?;
    let stream = state
        .invitations
        .export(states, format, &request_id(&req))
        .await?;
    Ok(streamed(
        format.content_type(),
        stream.map_err(|failure| {
            tracing::warn!(detail = %failure.detail(), "export ended early: Google failed mid-stream");
            failure.detail()
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_query(query: &str) -> Result<ListQuery, ApiError> {
        ListQuery::try_from(Query::<ListInvitationsParams>::parse(query)?)
    }

    #[test]
    fn list_query_parses_repeated_states_and_the_rest() {
        let query = parse_query(
            "state=INVITED&state=DECLINED&orderBy=updateTime%20desc&pageSize=50&pageToken=abc",
        )
        .unwrap();
        assert_eq!(
            query.states,
            vec![InvitationState::Invited, InvitationState::Declined]
        );
        assert_eq!(query.order_by, OrderBy::UpdateTimeDesc);
        assert_eq!(query.page_size, Some(50));
        assert_eq!(query.page_token.as_deref(), Some("abc"));
    }

    #[test]
    fn bad_list_queries_are_refused() {
        for bad in [
            "state=GONE",
            "pageSize=0",
            "pageSize=201",
            "pageSize=x",
            "orderBy=email,updateTime",
            "bogus=1",
            "pageSize=5&pageSize=6",
            "pageToken=",
            "state=invited",
            "state=STATE_UNSPECIFIED",
            "orderBy=email%20%20desc",
            "orderBy=email%20DESC",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
        assert!(
            Query::<ExportInvitationsParams>::parse("orderBy=email").is_err(),
            "export takes state only"
        );
    }
}
