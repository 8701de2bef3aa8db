//! The events the gateway publishes: CloudEvents 1.0 in structured JSON, written to the store's
//! outbox in the transaction of the change they announce (the feed and the webhooks read them
//! from there).
//!
//! `subject` is the keyed hash of the person's address (the same tag as in the logs, stable
//! across replicas and restarts: the key is configured or shared through the store) or the campaign's
//! id; `data` carries the address itself, for the consumers that act on it.

use crate::privacy::EmailHasher;
use crate::store::OutboxEvent;
use crate::vocabulary::ChangeKind;
use crate::vocabulary::InvitationState;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

/// Every event type starts with this.
pub const TYPE_PREFIX: &str = "dev.invitation-gateway.";

/// The CloudEvents `specversion`.
pub const SPEC_VERSION: &str = "1.0";

/// One change of one person, to announce.
#[derive(Clone, Copy)]
pub struct InvitationChange<'a> {
    /// What happened.
    pub kind: ChangeKind,
    /// The address.
    pub email: &'a str,
    /// Google's state after it.
    pub state: InvitationState,
    /// Google's `mailsSentCount` after it.
    pub mails_sent_count: i64,
    /// Google's `updateTime`, when known.
    pub update_time: Option<DateTime<Utc>>,
    /// When the gateway learned it.
    pub at: DateTime<Utc>,
    /// Who made it: `gateway` (a send or cancel through this API) or `tracker` (seen on
    /// Google's list).
    pub observed_by: &'a str,
}

/// Builds the gateway's CloudEvents; cheap to clone.
#[derive(Clone)]
pub struct EventFactory {
    source: String,
    emails: EmailHasher,
}

debug_fields!(EventFactory { source });

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl EventFactory {
    /// Events of `customer`, subjects hashed with `emails`.
    pub fn new(customer: &str, emails: EmailHasher) -> Self {
        Self {
            source: format!("//invitation-gateway/customers/{customer}"),
            emails,
        }
    }

    /// The hasher of subjects.
    pub fn emails(&self) -> &EmailHasher {
        &self.emails
    }

    /// The CloudEvent `source` of every event.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The event announcing `change`; None for a change that is not announced (first seen).
    pub fn invitation(&self, change: &InvitationChange<'_>) -> Option<OutboxEvent> {
        let name = match change.kind {
            ChangeKind::FirstSeen => return None,
            ChangeKind::Sent => "invitation.sent",
            ChangeKind::Accepted => "invitation.accepted",
            ChangeKind::Declined => "invitation.declined",
            ChangeKind::Cancelled => "invitation.cancelled",
        };
        let mut data = json!({
            "email": change.email,
            "state": change.state,
            "change": change.kind.as_str(),
            "mailsSentCount": change.mails_sent_count,
            "observedAt": rfc3339(change.at),
            "observedBy": change.observed_by,
        });
        if let Some(update_time) = change.update_time {
            data["updateTime"] = json!(rfc3339(update_time));
        }
        Some(self.event(name, &self.emails.tag(change.email), change.at, data))
    }

    /// `campaign.completed` for `campaign_id`, with `data` (the campaign's counts etc.; the
    /// campaign code decides). Append it with `Store::append_events` in the transaction that
    /// completes the campaign.
    pub fn campaign_completed(
        &self,
        campaign_id: &str,
        at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> OutboxEvent {
        self.campaign_event("campaign.completed", campaign_id, at, data)
    }

    /// `campaign.deadline_reached` for `campaign_id`, with `data` (its counts by final
    /// outcome etc.). Append it in the transaction that passes the deadline.
    pub fn campaign_deadline_reached(
        &self,
        campaign_id: &str,
        at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> OutboxEvent {
        self.campaign_event("campaign.deadline_reached", campaign_id, at, data)
    }

    /// The campaign event `name` about `campaign_id`: `data` with its `campaignId`.
    fn campaign_event(
        &self,
        name: &str,
        campaign_id: &str,
        at: DateTime<Utc>,
        mut data: serde_json::Value,
    ) -> OutboxEvent {
        if let Some(object) = data.as_object_mut() {
            object.insert("campaignId".into(), json!(campaign_id));
        }
        self.event(name, campaign_id, at, data)
    }

    fn event(
        &self,
        name: &str,
        subject: &str,
        at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> OutboxEvent {
        let id = uuid::Uuid::new_v4().to_string();
        let kind = format!("{TYPE_PREFIX}{name}");
        let body = json!({
            "specversion": SPEC_VERSION,
            "type": kind,
            "source": self.source,
            "id": id,
            "time": rfc3339(at),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
        });
        OutboxEvent {
            id,
            kind,
            at,
            body: body.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_is_a_structured_cloudevent_whose_subject_is_the_hash_not_the_address() {
        let factory = EventFactory::new("C01", EmailHasher::with_key(b"0123456789abcdef"));
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time");
        let event = factory
            .invitation(&InvitationChange {
                kind: ChangeKind::Accepted,
                email: "ada@example.com",
                state: InvitationState::Accepted,
                mails_sent_count: 1,
                update_time: None,
                at,
                observed_by: "tracker",
            })
            .expect("announced");
        let body: serde_json::Value = serde_json::from_str(&event.body).expect("JSON");
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["type"], "dev.invitation-gateway.invitation.accepted");
        assert_eq!(body["id"], event.id.as_str());
        assert_eq!(body["datacontenttype"], "application/json");
        assert_eq!(body["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["data"]["email"], "ada@example.com");
        let subject = body["subject"].as_str().expect("a subject");
        assert!(subject.starts_with("e_") && !subject.contains("ada"));
        let first_seen = InvitationChange {
            kind: ChangeKind::FirstSeen,
            email: "ada@example.com",
            state: InvitationState::Invited,
            mails_sent_count: 1,
            update_time: None,
            at,
            observed_by: "tracker",
        };
        assert!(factory.invitation(&first_seen).is_none());
    }
}
