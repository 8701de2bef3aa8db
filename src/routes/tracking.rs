//! Tracking and events: the funnel, a person's history, the event feed; and the documented
//! schema of every event type.

use crate::auth::scope;
use crate::campaigns::Pace;
use crate::error::ApiError;
use crate::invitations::batch::EmailBatch;
use crate::routes::authorized::Authorized;
use crate::routes::common::{
    AuthErrors, BodyErrors, EmailsRequest, QueryErrors, StoreErrors, invalid_query,
};
use crate::routes::json::Json;
use crate::routes::query::{Query, QueryParams};
use crate::state::AppState;
use crate::tracking::funnel::{Funnel, FunnelQuery};
use crate::tracking::overview::{DEFAULT_OVERVIEW_DAYS, MAX_OVERVIEW_DAYS, Overview};
use crate::tracking::{DEFAULT_FEED_LIMIT, FeedError, HistoryResponse, MAX_FEED_LIMIT};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The query of the funnel.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// First day (UTC), inclusive; 30 days ending with `to` when absent.
    #[param(value_type = Option<String>, format = Date, example = "2026-11-01")]
    from: Option<String>,
    /// Last day (UTC), inclusive; today when absent. At most 366 days after `from`.
    #[param(value_type = Option<String>, format = Date, example = "2026-11-30")]
    to: Option<String>,
    /// `day` (default) or `week` (ISO weeks, Monday first).
    #[param(value_type = Option<String>, pattern = "^(day|week)$", example = "week")]
    bucket: Option<String>,
}

impl QueryParams for FunnelParams {
    fn invalid(name: &str) -> String {
        format!("{name} is not valid")
    }
}

/// The invitation funnel over time.
///
/// Mails sent (`invited`), acceptances and declines per day or ISO week, from the changes the
/// tracker and the gateway recorded (no call to Google), every bucket of the range included.
/// `acceptanceRate` is the share of the people mailed in the range who accepted after that
/// mail; `medianSecondsToAccept` the median time from a person's last mail to their acceptance,
/// over the acceptances in the range; either is `null` when there is nothing to measure.
/// Changes found by the tracker are dated when the walk saw them (within
/// `GATEWAY_TRACK_INTERVAL_SECS`).
#[utoipa::path(
    get,
    path = "/v1/invitations/funnel",
    tag = "tracking",
    params(FunnelParams),
    responses(
        (status = 200, description = "The funnel.", body = Funnel),
        QueryErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn invitation_funnel(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    query: Query<FunnelParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner()?;
    let query = FunnelQuery::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        params.bucket.as_deref(),
        state.tracking.today(),
    )
    .map_err(|err| invalid_query(err.0))?;
    let funnel = state.tracking.funnel(&query).await?;
    Ok(HttpResponse::Ok().json(funnel))
}

/// The query of the overview.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewParams {
    /// Days covered, ending today (UTC): 1 to 366, default 30.
    #[param(minimum = 1, maximum = 366, example = 30)]
    days: Option<u32>,
}

impl QueryParams for OverviewParams {
    fn invalid(name: &str) -> String {
        format!("{name} must be a whole number from 1 to {MAX_OVERVIEW_DAYS}")
    }
}

/// The overview and the pace campaigns go at.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverviewResponse {
    /// The migration as a whole.
    #[serde(flatten)]
    overview: Overview,
    /// The pace campaigns go at (what the settings allow).
    pace: Pace,
}

/// The migration as a whole.
///
/// People by state at the end of each UTC day of the range (replayed from the changes the
/// tracker and the gateway recorded, no call to Google; within the tracking retention), the
/// share resolved (accepted or declined), the pace at which people were resolved over the range
/// and the day everybody will be resolved at that pace, and the pace campaigns go at.
#[utoipa::path(
    get,
    path = "/v1/tracking/overview",
    tag = "tracking",
    params(OverviewParams),
    responses(
        (status = 200, description = "The overview.", body = OverviewResponse),
        QueryErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn tracking_overview(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    query: Query<OverviewParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner()?;
    let days = params.days.unwrap_or(DEFAULT_OVERVIEW_DAYS);
    if !(1..=MAX_OVERVIEW_DAYS).contains(&days) {
        return Err(invalid_query(OverviewParams::invalid("days")));
    }
    let overview = state.tracking.overview(days).await?;
    Ok(HttpResponse::Ok().json(OverviewResponse {
        overview,
        pace: state.campaigns.pace(),
    }))
}

/// The history of invitations, person by person.
///
/// Every change the gateway recorded for each address, oldest first: `first_seen` (the tracker
/// met the person), `sent`, `accepted`, `declined`, `cancelled`, each with when the gateway
/// learned it. An address the gateway never saw has no changes. Addresses are checked like in
/// every batch: an invalid one or one outside the allowed domains is a per-item error.
#[utoipa::path(
    post,
    path = "/v1/invitations/history",
    tag = "tracking",
    request_body = EmailsRequest,
    responses(
        (status = 200, description = "One result per address, in input order.", body = HistoryResponse),
        BodyErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn invitation_history(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    body: Json<EmailsRequest>,
) -> Result<HttpResponse, ApiError> {
    let batch = EmailBatch::parse(body.into_inner().emails)?;
    let history = state.tracking.history(&batch).await?;
    Ok(HttpResponse::Ok().json(history))
}

/// The query of the feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// `nextCursor` of the previous page; from the oldest event kept (30 days) when absent.
    #[param(value_type = Option<String>, pattern = "^[0-9]{1,18}$", example = "1042")]
    after: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<u32>,
}

impl QueryParams for EventsParams {
    fn invalid(name: &str) -> String {
        if name == "limit" {
            return format!("limit must be a whole number from 1 to {MAX_FEED_LIMIT}");
        }
        format!("{name} is not valid")
    }
}

/// One page of the event feed (the `events` are the CloudEvents exactly as delivered to
/// webhooks).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only read by the OpenAPI derive: the handler writes the stored JSON.
#[schema(example = json!({
    "events": [{
        "specversion": "1.0",
        "type": "dev.invitation-gateway.invitation.accepted",
        "source": "//invitation-gateway/customers/my_customer",
        "id": "9b2f3c1e-6a55-4a8e-9d1b-0f6f3f0c2a11",
        "time": "2026-11-21T14:15:00.000Z",
        "subject": "e_3f9a1c2b7d4e5f60",
        "datacontenttype": "application/json",
        "data": {"email": "ada@example.com", "state": "ACCEPTED", "change": "accepted", "mailsSentCount": 1,
                 "observedAt": "2026-11-21T14:15:00.000Z", "observedBy": "tracker", "updateTime": "2026-11-21T14:03:12.000Z"}
    }],
    "nextCursor": "1042"
}))]
pub struct EventFeed {
    /// The events after the cursor, oldest first.
    events: Vec<CloudEvent>,
    /// Pass as `after` for the next page; the same cursor when there is nothing new yet.
    #[schema(example = "1042")]
    next_cursor: String,
}

/// The events of the feed and the webhooks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum CloudEvent {
    /// A mail went out.
    Sent(InvitationSentEvent),
    /// A person accepted.
    Accepted(InvitationAcceptedEvent),
    /// A person declined.
    Declined(InvitationDeclinedEvent),
    /// A pending invitation was withdrawn.
    Cancelled(InvitationCancelledEvent),
    /// A campaign completed.
    CampaignCompleted(CampaignCompletedEvent),
    /// A campaign's deadline passed.
    CampaignDeadlineReached(CampaignDeadlineReachedEvent),
}

/// `data` of the `invitation.*` events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub struct InvitationEventData {
    /// The person's address (lower case).
    #[schema(example = "ada@example.com")]
    email: String,
    /// Google's state after the change.
    #[schema(example = "ACCEPTED")]
    state: String,
    /// `sent`, `accepted`, `declined` or `cancelled`.
    #[schema(example = "accepted")]
    change: String,
    /// Google's `mailsSentCount` after the change.
    mails_sent_count: i64,
    /// When the gateway learned of the change.
    observed_at: chrono::DateTime<chrono::Utc>,
    /// `gateway` (a send or cancel through this API) or `tracker` (seen on Google's list).
    #[schema(example = "tracker")]
    observed_by: String,
    /// Google's `updateTime`, when known.
    #[schema(nullable = false)]
    update_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// `data` of `campaign.completed`: the campaign and its item counts when it completed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub struct CampaignCompletedData {
    /// The campaign (also the event's `subject`).
    campaign_id: String,
    /// Its name.
    name: String,
    /// Whether it was a dry run (nobody was mailed).
    dry_run: bool,
    /// Its items.
    total: u64,
    /// Items per outcome (outcomes with none are absent); accepts and declines the tracker
    /// sees later still change the campaign's own counts.
    #[schema(example = json!({"sent": 2, "skipped": 1}))]
    counts: std::collections::BTreeMap<String, u64>,
}

/// The CloudEvents `type` `dev.invitation-gateway.invitation.sent`.
// Written out, not generated by `event_schema!`: utoipa does not see a `serde(rename)` whose
// value comes from a macro argument (the schema said `Only`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum InvitationSentType {
    /// `dev.invitation-gateway.invitation.sent`
    #[serde(rename = "dev.invitation-gateway.invitation.sent")]
    Only,
}

/// The CloudEvents `type` `dev.invitation-gateway.invitation.accepted`.
// Written out, not generated by `event_schema!`: utoipa does not see a `serde(rename)` whose
// value comes from a macro argument (the schema said `Only`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum InvitationAcceptedType {
    /// `dev.invitation-gateway.invitation.accepted`
    #[serde(rename = "dev.invitation-gateway.invitation.accepted")]
    Only,
}

/// The CloudEvents `type` `dev.invitation-gateway.invitation.declined`.
// Written out, not generated by `event_schema!`: utoipa does not see a `serde(rename)` whose
// value comes from a macro argument (the schema said `Only`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum InvitationDeclinedType {
    /// `dev.invitation-gateway.invitation.declined`
    #[serde(rename = "dev.invitation-gateway.invitation.declined")]
    Only,
}

/// The CloudEvents `type` `dev.invitation-gateway.invitation.cancelled`.
// Written out, not generated by `event_schema!`: utoipa does not see a `serde(rename)` whose
// value comes from a macro argument (the schema said `Only`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum InvitationCancelledType {
    /// `dev.invitation-gateway.invitation.cancelled`
    #[serde(rename = "dev.invitation-gateway.invitation.cancelled")]
    Only,
}

/// `data` of `campaign.deadline_reached`: the campaign and its people per final outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub struct CampaignDeadlineReachedData {
    /// The campaign (also the event's `subject`).
    campaign_id: String,
    /// Its name.
    name: String,
    /// `keep` or `cancel`: what happens to the invitations of the `no_answer` people.
    #[schema(example = "cancel")]
    at_deadline: String,
    /// Its items.
    total: u64,
    /// Items per final outcome at the deadline (`no_answer`: still INVITED then).
    #[schema(example = json!({"accepted": 80, "declined": 3, "no_answer": 17}))]
    counts: std::collections::BTreeMap<String, u64>,
}

/// The CloudEvents `type` `dev.invitation-gateway.campaign.deadline_reached`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum CampaignDeadlineReachedType {
    /// `dev.invitation-gateway.campaign.deadline_reached`
    #[serde(rename = "dev.invitation-gateway.campaign.deadline_reached")]
    Only,
}

/// The CloudEvents `type` `dev.invitation-gateway.campaign.completed`.
// Written out, not generated by `event_schema!`: utoipa does not see a `serde(rename)` whose
// value comes from a macro argument (the schema said `Only`).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum CampaignCompletedType {
    /// `dev.invitation-gateway.campaign.completed`
    #[serde(rename = "dev.invitation-gateway.campaign.completed")]
    Only,
}

macro_rules! event_schema {
    ($(#[$doc:meta])* $name:ident, $type_enum:ident, $data:ty, $subject:literal) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        #[allow(dead_code)] // Only read by the OpenAPI derive.
        pub struct $name {
            /// Always `1.0`.
            #[schema(example = "1.0")]
            specversion: String,
            /// The event type.
            #[serde(rename = "type")]
            kind: $type_enum,
            /// `//invitation-gateway/customers/{customer}`.
            #[schema(example = "//invitation-gateway/customers/my_customer")]
            source: String,
            /// Unique per event (also the `webhook-id` header): deduplicate by it.
            id: String,
            /// When the change was recorded.
            time: chrono::DateTime<chrono::Utc>,
            #[doc = $subject]
            subject: String,
            /// Always `application/json`.
            #[schema(example = "application/json")]
            datacontenttype: String,
            /// What happened.
            data: $data,
        }
    };
}

event_schema!(
    /// `dev.invitation-gateway.invitation.sent`: an invitation mail went out (through this
    /// gateway, or seen on Google's list when someone else sent it).
    InvitationSentEvent, InvitationSentType,
    InvitationEventData, "The keyed hash of the address (`e_` and 16 hex digits)."
);
event_schema!(
    /// `dev.invitation-gateway.invitation.accepted`: the person joined.
    InvitationAcceptedEvent, InvitationAcceptedType,
    InvitationEventData, "The keyed hash of the address (`e_` and 16 hex digits)."
);
event_schema!(
    /// `dev.invitation-gateway.invitation.declined`: the person declined.
    InvitationDeclinedEvent, InvitationDeclinedType,
    InvitationEventData, "The keyed hash of the address (`e_` and 16 hex digits)."
);
event_schema!(
    /// `dev.invitation-gateway.invitation.cancelled`: the pending invitation was withdrawn.
    InvitationCancelledEvent, InvitationCancelledType,
    InvitationEventData, "The keyed hash of the address (`e_` and 16 hex digits)."
);
event_schema!(
    /// `dev.invitation-gateway.campaign.completed`: a campaign finished.
    CampaignCompletedEvent, CampaignCompletedType,
    CampaignCompletedData, "The campaign's id."
);
event_schema!(
    /// `dev.invitation-gateway.campaign.deadline_reached`: a campaign's deadline passed; its
    /// people still INVITED became `no_answer` (written once, with that change).
    CampaignDeadlineReachedEvent, CampaignDeadlineReachedType,
    CampaignDeadlineReachedData, "The campaign's id."
);

/// The event feed.
///
/// Every event (CloudEvents 1.0, structured JSON) in the order its change was recorded, after
/// `after`: resume with `nextCursor`, and no event is skipped or repeated. An empty page keeps
/// the cursor: ask again later. Events are kept 30 days. The same events go to the webhooks
/// (`GATEWAY_WEBHOOK_URLS`); deduplicate by `id`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "tracking",
    params(EventsParams),
    responses(
        (status = 200, description = "One page of events.", body = EventFeed),
        QueryErrors,
        AuthErrors,
        StoreErrors,
    )
)]
pub async fn list_events(
    _caller: Authorized<scope::Read>,
    state: web::Data<AppState>,
    query: Query<EventsParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner()?;
    let limit = params.limit.unwrap_or(DEFAULT_FEED_LIMIT);
    if !(1..=MAX_FEED_LIMIT).contains(&limit) {
        return Err(invalid_query(EventsParams::invalid("limit")));
    }
    let page = state
        .tracking
        .events(params.after.as_deref(), limit)
        .await
        .map_err(|err| match err {
            FeedError::InvalidCursor(err) => invalid_query(err.to_string()),
            FeedError::StoreUnavailable(err) => err.into(),
        })?;
    // The stored events are JSON already: written as they are, byte for byte.
    let body = format!(
        "{{\"events\":[{}],\"nextCursor\":{}}}",
        page.events.join(","),
        serde_json::Value::String(page.next_cursor)
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
