//! Campaigns: create (from JSON, or from a streamed CSV roster: two operations), list, read, items, report, pause,
//! resume, cancel. A campaign is its creator's: other callers get 404 unless they hold
//! `campaigns.admin`.

use crate::auth::{Caller, Scope, scope};
use crate::campaigns::{
    CampaignError, CampaignList, CampaignSpec, CampaignView, DEFAULT_PAGE, ItemList, Lifecycle,
    MAX_PAGE, ReportFormat, Source, Viewer,
};
use crate::error::{ApiError, ErrorCode};
use crate::invitations::listing::ExportFormat;
use crate::routes::authorized::Authorized;
use crate::routes::common::{
    AuthErrors, NotAcceptableErrors, QueryErrors, Responses, StoreErrors, invalid_query, problem,
    problems,
};
use crate::routes::headers::IdempotencyKey;
use crate::routes::invitations::{accepted_format, streamed};
use crate::routes::mutations::{IdempotencyErrors, stored_campaign};
use crate::routes::query::{Query, QueryParams};
use crate::state::AppState;
use crate::vocabulary::ItemOutcome;
use crate::vocabulary::{AtDeadline, InvitationState};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use std::time::Duration;
use utoipa::{IntoParams, IntoResponses, ToSchema};

mod create;
mod run;

pub use create::{
    __path_create_campaign, __path_create_roster_campaign, create_campaign, create_roster_campaign,
};
pub use run::{__path_campaign_resolution, __path_run_campaign, campaign_resolution, run_campaign};

/// Paging of the campaign list (a parameter given twice keeps its last value).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `true`: archived dry runs are listed too (default `false`: they are left out).
    archived: Option<bool>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u32>,
    /// From the previous page's `nextPageToken`.
    page_token: Option<String>,
}

/// Filter and paging of a campaign's items.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ItemParams {
    /// Only items with these outcomes (repeat the parameter for several).
    outcome: Option<Vec<ItemOutcome>>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u32>,
    /// From the previous page's `nextPageToken`.
    page_token: Option<String>,
}

/// The detail of a bad value of a campaign listing's parameter `name` (the detail names no
/// value: a query is the caller's text).
fn invalid_listing_param(name: &str) -> String {
    match name {
        "pageSize" => format!("pageSize must be a whole number from 1 to {MAX_PAGE}"),
        "archived" => "archived must be true or false".to_owned(),
        "outcome" => "outcome must be an item outcome (pending, sent, resent, already_invited, \
                      already_accepted, not_eligible, skipped, failed, accepted, declined, \
                      would_send, cancelled, not_listed, no_answer)."
            .to_owned(),
        _ => "unknown or invalid parameter".to_owned(),
    }
}

impl QueryParams for PageParams {
    const LAST_WINS: bool = true;

    fn unknown(_name: &str) -> String {
        invalid_listing_param("")
    }

    fn invalid(name: &str) -> String {
        invalid_listing_param(name)
    }
}

impl QueryParams for ItemParams {
    const LAST_WINS: bool = true;

    fn unknown(_name: &str) -> String {
        invalid_listing_param("")
    }

    fn invalid(name: &str) -> String {
        invalid_listing_param(name)
    }
}

/// Longest page token passed on.
const MAX_PAGE_TOKEN_LEN: usize = 512;

/// The page size and token of a listing, checked.
fn paging(
    page_size: Option<u32>,
    page_token: Option<String>,
) -> Result<(u32, Option<String>), ApiError> {
    let size = page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(invalid_query(invalid_listing_param("pageSize")));
    }
    if page_token
        .as_ref()
        .is_some_and(|token| token.len() > MAX_PAGE_TOKEN_LEN)
    {
        return Err(invalid_query(invalid_listing_param("pageToken")));
    }
    Ok((size, page_token))
}

/// Errors of the operations on one campaign.
pub struct CampaignErrors;

impl IntoResponses for CampaignErrors {
    fn responses() -> Responses {
        problems([
            problem(
                ErrorCode::NotFound,
                "No such campaign, or it is another caller's (`not_found`).",
            ),
            problem(
                ErrorCode::StoreUnavailable,
                "The store cannot be reached (`store_unavailable`).",
            )
            .retry_after("Seconds to wait before trying again"),
        ])
    }
}

/// The error of a lifecycle change the campaign's state does not allow.
pub struct LifecycleErrors;

impl IntoResponses for LifecycleErrors {
    fn responses() -> Responses {
        problems([problem(
            ErrorCode::CampaignStateConflict,
            "The campaign's state does not allow it (`campaign_state_conflict`).",
        )])
    }
}

fn viewer(caller: &Caller) -> Viewer {
    Viewer {
        caller: caller.id.clone(),
        admin: caller.has_scope(Scope::CampaignsAdmin),
    }
}

/// The `Location` of campaign `id`.
pub fn location(id: &str) -> String {
    format!("/v1/campaigns/{id}")
}

/// List campaigns.
///
/// The caller's campaigns, newest first (with `campaigns.admin`: everybody's). A campaign
/// whose roster or addresses are still being stored by its create is not listed until that
/// create has answered; an archived dry run only with `archived=true`.
#[utoipa::path(
    get,
    path = "/v1/campaigns",
    tag = "campaigns",
    params(PageParams),
    responses(
        (status = 200, description = "A page of campaigns.", body = CampaignList),
        QueryErrors,
        StoreErrors,
        AuthErrors,
    )
)]
pub async fn list_campaigns(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    query: Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner()?;
    let (size, token) = paging(params.page_size, params.page_token)?;
    let list: CampaignList = state
        .campaigns
        .list(
            &viewer(caller.caller()),
            size,
            token.as_deref(),
            params.archived.unwrap_or(false),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Read a campaign.
///
/// Its state, counts per item outcome, the Google calls it used and when the rest will be done
/// (`eta`, at the background share of the project's budget; null when paused or done).
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        CampaignErrors,
        AuthErrors,
    )
)]
pub async fn get_campaign(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state.campaigns.get(&id, &viewer(caller.caller())).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// List a campaign's items.
///
/// Per-person results in the order they were added, optionally only some outcomes
/// (`?outcome=sent&outcome=failed`).
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/items",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id."), ItemParams),
    responses(
        (status = 200, description = "A page of items.", body = ItemList),
        QueryErrors,
        CampaignErrors,
        AuthErrors,
    )
)]
pub async fn list_campaign_items(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: Query<ItemParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner()?;
    let (size, token) = paging(params.page_size, params.page_token)?;
    let outcomes = params.outcome.unwrap_or_default();
    let items: ItemList = state
        .campaigns
        .items(
            &id,
            &viewer(caller.caller()),
            &outcomes,
            size,
            token.as_deref(),
        )
        .await
        .map_err(|err| match err {
            CampaignError::Invalid(detail) => invalid_query(detail),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(items))
}

/// Report every item of a campaign as CSV or NDJSON.
///
/// Streamed from the store page by page. `Accept: text/csv` (the default) gives the header
/// `email,outcome,reason,mails,lastMailAt,updatedAt,row` and a roster's other columns by
/// name, then one line per item; `Accept: application/x-ndjson` one item JSON object per line
/// (a roster's item with `row` and `columns`). A CSV cell that begins with `=`, `+`,
/// `-`, `@`, tab or carriage return is prefixed with `'` (CSV injection); NDJSON keeps values as
/// they are.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}/report",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "Every item, streamed.",
         content(
            (String = "text/csv", example = "email,outcome,reason,mails,lastMailAt,updatedAt,row,employee_id\r\nada@example.com,sent,,1,2026-12-01T09:01:00.000Z,2026-12-01T09:01:00.000Z,2,E1001\r\n"),
            (String = "application/x-ndjson", example = "{\"email\":\"ada@example.com\",\"outcome\":\"sent\",\"mails\":1,\"lastMailAt\":\"2026-12-01T09:01:00.000Z\",\"updatedAt\":\"2026-12-01T09:01:00.000Z\"}\n")
         )),
        NotAcceptableErrors,
        CampaignErrors,
        AuthErrors,
    )
)]
pub async fn campaign_report(
    caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let format = report_format(&req)?;
    let stream = state
        .campaigns
        .report(&id, &viewer(caller.caller()), format)
        .await?;
    Ok(report_response(format, stream))
}

/// The format the request accepts of a report (CSV by default).
fn report_format(req: &HttpRequest) -> Result<ReportFormat, ApiError> {
    Ok(match accepted_format(req)? {
        ExportFormat::Csv => ReportFormat::Csv,
        ExportFormat::Ndjson => ReportFormat::Ndjson,
    })
}

/// A report's lines in `format`, streamed as they are read.
fn report_response(
    format: ReportFormat,
    stream: impl futures_util::Stream<Item = Result<web::Bytes, CampaignError>> + 'static,
) -> HttpResponse {
    let content_type = match format {
        ReportFormat::Csv => ExportFormat::Csv,
        ReportFormat::Ndjson => ExportFormat::Ndjson,
    };
    streamed(
        content_type.content_type(),
        stream.map_err(|err| {
            tracing::warn!(error = %err, "campaign report ended early");
            err.to_string()
        }),
    )
}

/// A lifecycle operation on one campaign (pause, resume, cancel): its handler and its
/// documentation, which differ only in the change, the path and the words.
macro_rules! lifecycle_operation {
    ($(#[doc = $doc:tt])* $name:ident, $scope:ty, $path:tt, $answer:tt, $change:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            post,
            path = $path,
            tag = "campaigns",
            params(("id" = String, Path, description = "The campaign's id.")),
            responses(
                (status = 200, description = $answer, body = CampaignView),
                LifecycleErrors,
                CampaignErrors,
                AuthErrors,
            )
        )]
        pub async fn $name(
            caller: Authorized<$scope>,
            state: web::Data<AppState>,
            id: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            let viewer = viewer(caller.caller());
            let view = state.campaigns.change(&id, &viewer, $change).await?;
            Ok(HttpResponse::Ok().json(view))
        }
    };
}

lifecycle_operation!(
    /// Pause a campaign.
    ///
    /// No replica claims its items any more (within the workers' poll interval); an item in flight
    /// finishes. Only a scheduled, running or waiting campaign can be paused.
    pause_campaign,
    scope::Send,
    "/v1/campaigns/{id}/pause",
    "The campaign, paused.",
    Lifecycle::Pause
);

lifecycle_operation!(
    /// Resume a paused campaign.
    ///
    /// It returns to what it was: `scheduled` while its `startAt` is ahead (nobody is mailed
    /// before it), `running` after.
    resume_campaign,
    scope::Send,
    "/v1/campaigns/{id}/resume",
    "The campaign, `scheduled` again before its `startAt`, `running` after.",
    Lifecycle::Resume
);

lifecycle_operation!(
    /// Cancel a campaign.
    ///
    /// Stops all future work: mails already sent stay as they are, pending items become
    /// `cancelled`, no reminder goes out. A completed or cancelled campaign cannot be cancelled.
    cancel_campaign,
    scope::Send,
    "/v1/campaigns/{id}/cancel",
    "The campaign, cancelled.",
    Lifecycle::Cancel
);

lifecycle_operation!(
    /// Archive a finished dry run.
    ///
    /// Hides it from `GET /v1/campaigns` (listed again with `archived=true`); it stays readable
    /// by id, with its items, report and audit records. Only a completed or cancelled dry run
    /// can be archived; archiving an archived one changes nothing.
    archive_campaign,
    scope::SendOrCheck,
    "/v1/campaigns/{id}/archive",
    "The dry run, archived (`archivedAt` set).",
    Lifecycle::Archive
);

lifecycle_operation!(
    /// Unarchive a dry run.
    ///
    /// Lists it in `GET /v1/campaigns` again. Only a completed or cancelled dry run.
    unarchive_campaign,
    scope::SendOrCheck,
    "/v1/campaigns/{id}/unarchive",
    "The dry run, listed again (`archivedAt` null).",
    Lifecycle::Unarchive
);
