//! The audit trail: who did what to which address, written before a mail's call and completed
//! after; refused requests folded per (reason, peer, interval).

use super::clock::to_millis;
use super::{Caller, Store, StoreError};
use crate::vocabulary::{Action, Outcome};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What is about to be done, recorded before Google is called.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditIntent {
    /// The request's id (as in the access log).
    pub request_id: String,
    /// The real caller.
    pub caller: Caller,
    /// What is done: `send`, `resend`, `cancel`, ...
    pub action: String,
    /// The address acted on.
    pub email: String,
    /// The campaign doing it, if any.
    pub campaign_id: Option<String>,
    /// For a send: Google's `mailsSentCount` before the call, so that an outcome left unknown
    /// can be settled later by reading the invitation again.
    pub mails_before: Option<i64>,
}

/// How an audited item ended: its outcome, Google's status when Google answered, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOutcome<'a> {
    /// `sent`, `already_invited`, `failed`, `unknown`, ...
    pub outcome: &'a str,
    /// Google's HTTP status, when Google answered.
    pub google_status: Option<u16>,
    /// Why (an error code, or what settled it); never the address.
    pub detail: Option<&'a str>,
}

impl<'a> AuditOutcome<'a> {
    /// `outcome` with no status and no reason.
    pub fn of(outcome: &'a str) -> Self {
        AuditOutcome {
            outcome,
            google_status: None,
            detail: None,
        }
    }
}

/// An intent whose outcome is not known yet (no outcome, or `unknown`), to settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsettledIntent {
    /// The row.
    pub id: AuditId,
    /// The request's id (a campaign's id for its mails).
    pub request_id: String,
    /// The real caller.
    pub caller: Caller,
    /// `send` or `cancel`.
    pub action: String,
    /// The campaign whose mail it was, if any.
    pub campaign_id: Option<String>,
    /// For a send: Google's mail count before the call, when it was known.
    pub mails_before: Option<i64>,
}

/// The outcome an intent has while nothing says how it ended: the answer was cut off.
pub const UNKNOWN_OUTCOME: &str = "unknown";

debug_fields!(AuditIntent {
    request_id,
    action,
    campaign_id
});

/// The id of an audit row, to complete it with [`Store::record_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId(pub i64);

/// One row of the audit trail.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id; ids grow with time.
    pub id: AuditId,
    /// When the intent was recorded.
    pub at: DateTime<Utc>,
    /// The request's id.
    pub request_id: String,
    /// The real caller.
    pub caller: Caller,
    /// What was done.
    pub action: String,
    /// The address acted on.
    pub email: String,
    /// The campaign, if any.
    pub campaign_id: Option<String>,
    /// The outcome, once known (None: the process died between intent and outcome).
    pub outcome: Option<String>,
    /// Google's HTTP status, when Google answered.
    pub google_status: Option<u16>,
    /// Why: the error code of a failure, what settled an outcome later, ...
    pub detail: Option<String>,
    /// When the outcome was recorded.
    pub completed_at: Option<DateTime<Utc>>,
}

debug_fields!(AuditEvent {
    id,
    at,
    request_id,
    action,
    outcome,
    google_status
});

/// Which rows [`Store::list_audit`] answers; every field narrows, None means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
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

/// Where a listing resumes: after the row recorded at `at` with id `id` (newest first, so rows
/// recorded later never shift a page). Opaque to callers: it travels as a page token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    at: i64,
    id: i64,
}

/// The version prefix of a page token, so that a later format can refuse older tokens cleanly.
const CURSOR_PREFIX: &str = "a1";

impl AuditCursor {
    /// The cursor as a page token (URL-safe base64 of its version, time and id).
    pub fn to_token(self) -> String {
        use base64::Engine;
        let plain = format!("{CURSOR_PREFIX}.{}.{}", self.at, self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
    }

    /// A page token back into a cursor; None when it is not one this store made.
    pub fn from_token(token: &str) -> Option<AuditCursor> {
        use base64::Engine;
        if token.is_empty() || token.len() > 64 {
            return None;
        }
        let plain = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let plain = std::str::from_utf8(&plain).ok()?;
        let mut parts = plain.split('.');
        let (Some(CURSOR_PREFIX), Some(at), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let at: i64 = at.parse().ok().filter(|at| *at >= 0)?;
        let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
        Some(AuditCursor { at, id })
    }
}

/// One page of [`Store::list_audit`], newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditListing {
    /// The rows.
    pub events: Vec<AuditEvent>,
    /// Where the next page starts; None on the last page.
    pub next: Option<AuditCursor>,
}

/// What [`Store::search_audit`] found, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSearch {
    /// At most [`SEARCH_LIMIT`] rows.
    pub events: Vec<AuditEvent>,
    /// True when more rows matched than [`SEARCH_LIMIT`]: the oldest were left out.
    pub truncated: bool,
}

/// Refusals of one reason from one peer within one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialRecord {
    /// Why requests were refused (an error code).
    pub reason: String,
    /// Who sent them (the peer address).
    pub peer: String,
    /// Start of the folding interval.
    pub interval_start: DateTime<Utc>,
    /// How many.
    pub count: u64,
    /// The last one.
    pub last_at: DateTime<Utc>,
}

/// Most rows one [`Store::search_audit`] answers (the newest).
pub const SEARCH_LIMIT: i64 = 1000;

const COMPLETE_AUDIT: &str = "UPDATE audit_events SET outcome = $2, google_status = $3, \
    detail = $4, completed_at = $5 WHERE id = $1";

const EVENT_COLUMNS: &str = "id, at, request_id, caller_iss, caller_sub, action, email, \
    campaign_id, outcome, google_status, detail, completed_at";

macro_rules! event_from_row {
    ($row:expr) => {{
        let row = $row;
        Ok::<_, sqlx::Error>(AuditEvent {
            id: AuditId(row.try_get("id")?),
            at: from_millis(row.try_get("at")?),
            request_id: row.try_get("request_id")?,
            caller: Caller {
                iss: row.try_get("caller_iss")?,
                sub: row.try_get("caller_sub")?,
            },
            action: row.try_get("action")?,
            email: row.try_get("email")?,
            campaign_id: row.try_get("campaign_id")?,
            outcome: row.try_get("outcome")?,
            google_status: row
                .try_get::<Option<i64>, _>("google_status")?
                .and_then(|s| u16::try_from(s).ok()),
            detail: row.try_get("detail")?,
            completed_at: row
                .try_get::<Option<i64>, _>("completed_at")?
                .map(from_millis),
        })
    }};
}

mod listing;

impl Store {
    /// Records what is about to be done; call it before Google is called. The row is committed
    /// when this answers (a single statement outside any transaction).
    pub async fn record_intent(&self, intent: &AuditIntent) -> Result<AuditId, StoreError> {
        self.insert_audit(intent, None).await
    }

    /// Records an item decided without a change at Google (`already_invited`, `not_eligible`,
    /// a failure before the call, ...): intent and outcome in one row.
    pub async fn record_decision(
        &self,
        intent: &AuditIntent,
        outcome: &AuditOutcome<'_>,
    ) -> Result<AuditId, StoreError> {
        self.insert_audit(intent, Some(outcome)).await
    }

    async fn insert_audit(
        &self,
        intent: &AuditIntent,
        outcome: Option<&AuditOutcome<'_>>,
    ) -> Result<AuditId, StoreError> {
        let now = to_millis(self.clock.now());
        let id: i64 = with_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_events (at, request_id, caller_iss, caller_sub, action, email, \
             campaign_id, mails_before, outcome, google_status, detail, completed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(now)
        .bind(&intent.request_id)
        .bind(&intent.caller.iss)
        .bind(&intent.caller.sub)
        .bind(&intent.action)
        .bind(&intent.email)
        .bind(&intent.campaign_id)
        .bind(intent.mails_before)
        .bind(outcome.map(|o| o.outcome))
        .bind(outcome.and_then(|o| o.google_status).map(i64::from))
        .bind(outcome.and_then(|o| o.detail))
        .bind(outcome.map(|_| now))
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("id")))?;
        Ok(AuditId(id))
    }

    /// Completes an intent with its outcome.
    pub async fn record_outcome(
        &self,
        id: AuditId,
        outcome: &AuditOutcome<'_>,
    ) -> Result<(), StoreError> {
        let now = to_millis(self.clock.now());
        execute!(
            self,
            COMPLETE_AUDIT,
            id.0,
            outcome.outcome,
            outcome.google_status.map(i64::from),
            outcome.detail,
            now
        )?;
        Ok(())
    }

    /// [`Store::record_outcome`], and in the same transaction the change the gateway made
    /// (its send or cancel) with its outbox event, unless a walk recorded it first.
    pub async fn record_outcome_tracked(
        &self,
        id: AuditId,
        outcome: &AuditOutcome<'_>,
        change: &super::GatewayChange,
        rules: &dyn super::ChangeRules,
    ) -> Result<(), StoreError> {
        let now = to_millis(self.clock.now());
        let mut tx = self.begin().await?;
        with_tx!(tx, conn => sqlx::query(COMPLETE_AUDIT)
            .bind(id.0)
            .bind(outcome.outcome)
            .bind(outcome.google_status.map(i64::from))
            .bind(outcome.detail)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ()))?;
        self.record_gateway_change(&mut tx, change, rules).await?;
        tx.commit().await
    }

    /// Removes an intent whose call provably never reached Google and whose item is tried
    /// again later (a campaign's wait): the attempt that decides it gets the record.
    pub async fn withdraw_intent(&self, id: AuditId) -> Result<(), StoreError> {
        execute!(
            self,
            "DELETE FROM audit_events WHERE id = $1 AND (outcome IS NULL OR outcome = $2)",
            id.0,
            UNKNOWN_OUTCOME
        )?;
        Ok(())
    }

    /// The intents about `email` (as stored) whose outcome is not known yet, oldest first.
    pub async fn unsettled_intents(&self, email: &str) -> Result<Vec<UnsettledIntent>, StoreError> {
        let rows = fetch_all!(
            self,
            "SELECT id, request_id, caller_iss, caller_sub, action, campaign_id, mails_before \
             FROM audit_events \
             WHERE email = $1 AND (outcome IS NULL OR outcome = $2) ORDER BY id",
            [email, UNKNOWN_OUTCOME],
            |row| {
                Ok(UnsettledIntent {
                    id: AuditId(row.try_get("id")?),
                    request_id: row.try_get("request_id")?,
                    caller: Caller {
                        iss: row.try_get("caller_iss")?,
                        sub: row.try_get("caller_sub")?,
                    },
                    action: row.try_get("action")?,
                    campaign_id: row.try_get("campaign_id")?,
                    mails_before: row.try_get("mails_before")?,
                })
            }
        )?;
        Ok(rows)
    }

    /// The addresses (as stored) with an intent recorded before `before` whose outcome is not
    /// known yet, at most `limit`, oldest intent first; an address whose settling failed after
    /// `failed_before` (see [`Store::settle_failed`]) waits its turn, so that a few that keep
    /// failing cannot starve the others.
    pub async fn unsettled_emails(
        &self,
        before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let emails = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT email FROM audit_events \
             WHERE (outcome IS NULL OR outcome = $1) AND at < $2 \
             GROUP BY email \
             HAVING MAX(COALESCE(settle_failed_at, 0)) < $3 \
             ORDER BY MIN(at), email LIMIT $4",
        )
        .bind(UNKNOWN_OUTCOME)
        .bind(to_millis(before))
        .bind(to_millis(failed_before))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        Ok(emails)
    }

    /// Notes that settling `email`'s open intents failed just now (Google could not be read,
    /// its claim was held): [`Store::unsettled_emails`] skips it for a while.
    pub async fn settle_failed(&self, email: &str) -> Result<(), StoreError> {
        let now = to_millis(self.clock.now());
        execute!(
            self,
            "UPDATE audit_events SET settle_failed_at = $1 \
             WHERE email = $2 AND (outcome IS NULL OR outcome = $3)",
            now,
            email,
            UNKNOWN_OUTCOME
        )?;
        Ok(())
    }

    /// Settles an intent whose outcome was not known; false when it was settled meanwhile.
    pub async fn settle_intent(
        &self,
        id: AuditId,
        outcome: &AuditOutcome<'_>,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let settled = execute!(
            self,
            "UPDATE audit_events SET outcome = $2, google_status = COALESCE($3, google_status), \
             detail = $4, completed_at = $5 \
             WHERE id = $1 AND (outcome IS NULL OR outcome = $6)",
            id.0,
            outcome.outcome,
            outcome.google_status.map(i64::from),
            outcome.detail,
            now,
            UNKNOWN_OUTCOME
        )? == 1;
        Ok(settled)
    }
}
