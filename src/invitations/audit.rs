//! Reading the audit trail the store keeps: one filtered page at a time, or every row about some
//! people. Written by send and cancel (see `mutation`); read here for holders of `audit.read`.
//!
//! The reading has types of its own (the query, the page token, the record as answered), each
//! converted once from or into the store's rows here, so that no store type reaches a handler.

use super::Invitations;
use super::batch::EmailBatch;
use super::durable::StoreUnavailable;
use crate::store::{AuditCursor, AuditEvent, AuditFilter};
use crate::vocabulary::{Action, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most rows one page of the audit listing may hold.
pub const MAX_AUDIT_PAGE_SIZE: u32 = 500;

/// Rows per page when the caller does not say.
pub const DEFAULT_AUDIT_PAGE_SIZE: u32 = 100;

/// Which records a listing answers; every field narrows, None means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<Action>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only callers with this verified `iss`.
    pub caller_iss: Option<String>,
    /// Only callers with this verified `sub`.
    pub caller_sub: Option<String>,
    /// Only this campaign.
    pub campaign_id: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

impl From<&AuditQuery> for AuditFilter {
    fn from(query: &AuditQuery) -> Self {
        AuditFilter {
            action: query.action,
            outcome: query.outcome,
            caller_iss: query.caller_iss.clone(),
            caller_sub: query.caller_sub.clone(),
            campaign_id: query.campaign_id.clone(),
            from: query.from,
            to: query.to,
        }
    }
}

/// Where a listing resumes: opaque to callers, it travels as the text of `nextPageToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPageToken(AuditCursor);

impl AuditPageToken {
    /// A `nextPageToken` back into where its page ends; None when this listing did not give it.
    pub fn parse(token: &str) -> Option<Self> {
        AuditCursor::from_token(token).map(AuditPageToken)
    }
}

/// One record of the audit trail: a send or cancel of one address, written before its call to
/// Google and completed after it.
// No Debug: a record that strays into a log must not carry the address there.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "41", "recordedAt": "2026-11-22T03:30:00.120Z", "requestId": "0c9a6a52-4d0e-4f4c-9a55-0d0f8c3b1e7a",
    "callerIss": "https://idp.example.com", "callerSub": "hr-onboarding", "action": "send",
    "email": "grace+hr@example.com", "campaignId": null, "outcome": "sent", "googleStatus": 200,
    "detail": null, "completedAt": "2026-11-22T03:30:00.410Z"
}))]
pub struct AuditRecordView {
    /// The record's id (ids grow with time within one store).
    pub id: String,
    /// When the intent was written, right before the call to Google (for an item decided
    /// without a change at Google, such as `already_invited`: when it was decided).
    pub recorded_at: DateTime<Utc>,
    /// The request's id (`x-request-id`, also in the access log).
    pub request_id: String,
    /// The caller's verified `iss`.
    pub caller_iss: String,
    /// The caller's verified `sub`.
    pub caller_sub: String,
    /// `send` or `cancel`.
    pub action: String,
    /// The address acted on.
    pub email: String,
    /// The campaign that did it, if any.
    pub campaign_id: Option<String>,
    /// The item's outcome (as in the send or cancel answer). `unknown`: the answer was cut
    /// off before Google's outcome was known (the mail may have gone out); null: the process
    /// or the store failed between the intent and the outcome. Both are settled later by
    /// reading the invitation again (`sent` or `not_sent`, `cancelled` or `not_cancelled`).
    pub outcome: Option<String>,
    /// Google's HTTP status for the change, when Google answered.
    pub google_status: Option<u16>,
    /// Why: the error code of a failed item, or how a lost outcome was settled.
    pub detail: Option<String>,
    /// When the outcome was written.
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<AuditEvent> for AuditRecordView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.0.to_string(),
            recorded_at: event.at,
            request_id: event.request_id,
            caller_iss: event.caller.iss,
            caller_sub: event.caller.sub,
            action: event.action,
            email: event.email,
            campaign_id: event.campaign_id,
            outcome: event.outcome,
            google_status: event.google_status,
            detail: event.detail,
            completed_at: event.completed_at,
        }
    }
}

/// One page of the audit trail, newest first.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// The records of this page.
    pub records: Vec<AuditRecordView>,
    /// Pass as `pageToken` (with the same other parameters) for the next page; absent on the
    /// last. Records written meanwhile are newer than the page and never shift it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_page_token: Option<String>,
}

/// Every record about the addresses searched for, newest first.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSearchResponse {
    /// At most 1000 records.
    pub records: Vec<AuditRecordView>,
    /// True when more than 1000 records matched: the oldest were left out (search for fewer
    /// addresses, or list with `GET /v1/audit` and a time range).
    pub truncated: bool,
}

/// The store's rows as records.
fn records(events: Vec<AuditEvent>) -> Vec<AuditRecordView> {
    events.into_iter().map(AuditRecordView::from).collect()
}

impl Invitations {
    /// One page of the audit trail matching `query`, newest first, at most `page_size` rows
    /// (1 to [`MAX_AUDIT_PAGE_SIZE`]), resuming where `after` says.
    pub async fn audit_page(
        &self,
        query: &AuditQuery,
        page_size: u32,
        after: Option<AuditPageToken>,
    ) -> Result<AuditPage, StoreUnavailable> {
        let page_size = page_size.clamp(1, MAX_AUDIT_PAGE_SIZE);
        let filter = AuditFilter::from(query);
        let cursor = after.map(|token| token.0);
        let page = self
            .durable
            .call(|s| s.list_audit(&filter, page_size, cursor))
            .await?;
        Ok(AuditPage {
            records: records(page.events),
            next_page_token: page.next.map(AuditCursor::to_token),
        })
    }

    /// Every audit record about the valid addresses of `batch` (compared as stored:
    /// normalised), newest first, at most [`crate::store::SEARCH_LIMIT`]. Invalid addresses can have no row
    /// and are skipped.
    pub async fn search_audit(
        &self,
        batch: &EmailBatch,
    ) -> Result<AuditSearchResponse, StoreUnavailable> {
        let emails: Vec<String> = batch
            .entries()
            .iter()
            .filter_map(|entry| entry.parsed().as_ref().ok().map(ToString::to_string))
            .collect();
        let found = self.durable.call(|s| s.search_audit(&emails)).await?;
        Ok(AuditSearchResponse {
            records: records(found.events),
            truncated: found.truncated,
        })
    }
}
