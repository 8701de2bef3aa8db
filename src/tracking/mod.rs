//! Tracking and events: who accepted and when. Google has no push for invitations, so the
//! tracker walks Google's list every `GATEWAY_TRACK_INTERVAL_SECS` (one replica at a time) and
//! records every change; the summary, the funnel and the history answer from those records,
//! and every change is announced as a CloudEvent on the feed and to the webhooks. No actix-web
//! inside: the handlers in `routes` call this service.

pub mod funnel;
pub mod overview;
pub mod rules;
pub mod tracker;
pub mod webhooks;

use crate::config::Settings;
use crate::config::TrackingSettings;
use crate::invitations::Invitations;
use crate::invitations::batch::EmailBatch;
use crate::invitations::durable::StoreUnavailable;
use crate::invitations::email::DomainPolicy;
use crate::invitations::listing::Summary;
use crate::invitations::outcome::{Failure, ItemError};
use crate::store::Gate;
use crate::vocabulary::{ChangeKind, InvitationState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Most events one page of the feed holds.
pub const MAX_FEED_LIMIT: u32 = 1000;
/// Events per page of the feed when `limit` is not given.
pub const DEFAULT_FEED_LIMIT: u32 = 100;

/// The tracking service: one per process, shared by the handlers and the background tasks.
pub struct Tracking {
    invitations: Arc<Invitations>,
    /// Every store call of tracking goes through it.
    gate: Arc<Gate>,
    settings: TrackingSettings,
    policy: DomainPolicy,
    /// This replica's name in leases (the tracker's walk, webhook deliveries).
    holder: String,
    /// The webhook endpoints and their client.
    webhooks: webhooks::Webhooks,
}

/// One change in a person's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryChange {
    /// What happened.
    #[schema(example = "accepted")]
    pub state: ChangeKind,
    /// When the gateway learned it (the tracker: within one walk interval).
    pub at: DateTime<Utc>,
}

/// One address of a history request: its changes, or why it was refused.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResult {
    /// The address as normalised (or as given, when invalid).
    pub email: String,
    /// Oldest first; empty when the gateway never saw the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub changes: Option<Vec<HistoryChange>>,
    /// Why the address was refused (`invalid_email`, `domain_not_allowed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ItemError>,
}

/// The answer of a history request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"results": [
    {"email": "ada@example.com", "changes": [
        {"state": "first_seen", "at": "2026-11-20T09:00:00Z"},
        {"state": "sent", "at": "2026-11-20T09:05:00Z"},
        {"state": "accepted", "at": "2026-11-21T14:15:00Z"}]},
    {"email": "not-an-address", "error": {"code": "invalid_email", "detail": "not an email address"}}
]}))]
pub struct HistoryResponse {
    /// One result per address, in input order.
    pub results: Vec<HistoryResult>,
}

/// One page of the event feed.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events' CloudEvent JSON, in feed order.
    pub events: Vec<String>,
    /// Where the next page starts: pass as `after` (also when `events` is empty: nothing new
    /// yet, ask again later with the same cursor).
    pub next_cursor: String,
}

/// A feed cursor that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("after must be a cursor this feed returned (nextCursor)")]
pub struct InvalidCursor;

/// Why the feed could not answer.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum FeedError {
    /// `after` is not a cursor.
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    /// The store cannot be reached.
    #[error(transparent)]
    StoreUnavailable(#[from] StoreUnavailable),
}

impl Tracking {
    /// The service over `invitations` (its Google list and event factory) and the store's
    /// `gate`. Fails when the webhooks' HTTP client cannot be built.
    pub fn new(
        invitations: Arc<Invitations>,
        gate: Arc<Gate>,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            invitations,
            gate,
            settings: settings.tracking.clone(),
            policy: DomainPolicy::new(settings.allowed_domains.clone()),
            holder: format!("replica-{}", uuid::Uuid::new_v4().simple()),
            webhooks: webhooks::Webhooks::new(&settings.tracking.webhooks)?,
        })
    }

    /// Whether the tracker walks Google's list (interval > 0).
    pub fn enabled(&self) -> bool {
        !self.settings.interval.is_zero()
    }

    /// The webhook endpoints, each delivered to by [`Tracking::deliver_once`] rounds (a test
    /// runs one itself to show that a round delivers nothing more).
    pub fn webhook_endpoints(&self) -> &[webhooks::Endpoint] {
        self.webhooks.endpoints()
    }

    /// The settings.
    pub fn settings(&self) -> &TrackingSettings {
        &self.settings
    }

    fn customer(&self) -> &str {
        self.invitations.customer()
    }

    /// Counts of every invitation by state. With the tracker on, from its latest finished walk
    /// (`asOf` is that walk's end; no call to Google); before the first walk finished, with
    /// the tracker off, or when the store cannot be read, by walking Google's list (reused for
    /// `GATEWAY_SUMMARY_TTL_SECS`).
    pub async fn summary(&self, request_id: &str) -> Result<Arc<Summary>, Failure> {
        if self.enabled()
            && let Ok(Some(tracked)) = self.gate.call(|s| s.tracked_summary(self.customer())).await
        {
            let mut counts: BTreeMap<InvitationState, u64> = InvitationState::FILTERABLE
                .into_iter()
                .map(|s| (s, 0))
                .collect();
            for (state, count) in tracked.counts {
                *counts.entry(state).or_insert(0) += count;
            }
            let total = counts.values().sum();
            return Ok(Arc::new(Summary {
                counts,
                total,
                as_of: tracked.as_of,
            }));
        }
        self.invitations.summary(request_id).await
    }

    /// The recorded changes of every address of `batch`, oldest first. Addresses are parsed
    /// like every batch: an invalid one or one outside the allowed domains is a per-item error.
    pub async fn history(&self, batch: &EmailBatch) -> Result<HistoryResponse, StoreUnavailable> {
        let mut keys = Vec::new();
        let admitted: Vec<Result<(String, String), ItemError>> = batch
            .entries()
            .iter()
            .map(|entry| {
                let email = entry.parsed().as_ref().map_err(ItemError::clone)?;
                let email = self.policy.admit(email)?;
                keys.push(email.identity());
                Ok((email.to_string(), email.identity()))
            })
            .collect();
        let mut history = self
            .gate
            .call(|s| s.history(self.customer(), &keys))
            .await
            .map_err(|_| StoreUnavailable)?;
        let results = batch
            .entries()
            .iter()
            .zip(admitted)
            .map(|(entry, admitted)| match admitted {
                Ok((email, key)) => HistoryResult {
                    email,
                    changes: Some(
                        history
                            .remove(&key)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(kind, at)| HistoryChange { state: kind, at })
                            .collect(),
                    ),
                    error: None,
                },
                Err(error) => HistoryResult {
                    email: entry.raw().trim().to_owned(),
                    changes: None,
                    error: Some(error),
                },
            })
            .collect();
        Ok(HistoryResponse { results })
    }

    /// Events after `after` (a `nextCursor`; from the oldest kept when None), at most `limit`.
    pub async fn events(&self, after: Option<&str>, limit: u32) -> Result<EventPage, FeedError> {
        let cursor = match after {
            None => 0,
            Some(text) => parse_cursor(text)?,
        };
        let events = self
            .gate
            .call(|s| s.events_after(cursor, limit.clamp(1, MAX_FEED_LIMIT)))
            .await
            .map_err(|_| StoreUnavailable)?;
        let next = events.last().map_or(cursor, |e| e.position);
        Ok(EventPage {
            events: events.into_iter().map(|e| e.body).collect(),
            next_cursor: next.to_string(),
        })
    }

    /// The latest tracked state of each of `emails` (normalised identities) that the gateway
    /// knows: the accepted and declined signal campaigns use.
    pub async fn latest_states(
        &self,
        emails: &[String],
    ) -> Result<Vec<crate::store::TrackedPerson>, StoreUnavailable> {
        self.gate
            .call(|s| s.latest_tracked(self.customer(), emails))
            .await
            .map_err(|_| StoreUnavailable)
    }
}

/// A feed cursor: the position of the last event seen, as decimal digits.
fn parse_cursor(text: &str) -> Result<i64, InvalidCursor> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidCursor);
    }
    text.parse().map_err(|_| InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_digits_only() {
        assert_eq!(parse_cursor("0"), Ok(0));
        assert_eq!(parse_cursor("42"), Ok(42));
        for bad in ["", "-1", "4 2", "x", "99999999999999999999", "+3"] {
            assert_eq!(parse_cursor(bad), Err(InvalidCursor), "{bad}");
        }
    }
}
