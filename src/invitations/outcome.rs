//! What the API answers: invitations, per-item results and errors, and whole-request failures.
//!
//! These types are the wire shapes (camelCase JSON, documented in the OpenAPI document); the
//! domain builds them and the handlers serialise them unchanged.

use crate::google::wire::{State, UserInvitation};
use crate::google::{UpstreamError, UpstreamErrorKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

use crate::vocabulary::{InvitationState, ItemErrorCode, Outcome};

impl From<State> for InvitationState {
    fn from(state: State) -> Self {
        match state {
            State::NotYetSent => InvitationState::NotYetSent,
            State::Invited => InvitationState::Invited,
            State::Accepted => InvitationState::Accepted,
            State::Declined => InvitationState::Declined,
            State::StateUnspecified => InvitationState::StateUnspecified,
        }
    }
}

/// An invitation as this API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"email": "ada@example.com", "state": "INVITED", "mailsSentCount": 2, "updateTime": "2026-03-12T16:50:14.365Z"}))]
pub struct Invitation {
    /// The person's address, as Google stores it.
    pub email: String,
    /// Where the invitation stands.
    pub state: InvitationState,
    /// How many invitation mails went out so far.
    pub mails_sent_count: i64,
    /// When Google last changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub update_time: Option<DateTime<Utc>>,
}

impl From<&UserInvitation> for Invitation {
    fn from(invitation: &UserInvitation) -> Self {
        Self {
            email: invitation.email().to_owned(),
            state: invitation.state.into(),
            mails_sent_count: invitation.mails_sent_count,
            update_time: invitation.update_time,
        }
    }
}

/// Why one item of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemError {
    /// Stable code.
    pub code: ItemErrorCode,
    /// Human explanation; never contains the address.
    pub detail: String,
    /// For `quota_exhausted`: seconds until the project's budget has a call again; for
    /// `upstream_unavailable`: the seconds Google's `Retry-After` asked for, when it did.
    #[serde(
        rename = "retryAfterSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false, example = 12)]
    pub retry_after_seconds: Option<u64>,
}

impl ItemError {
    /// An error with this code and detail.
    pub fn new(code: ItemErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }

    /// The per-item view of a failed call to Google.
    pub fn from_upstream(err: &UpstreamError) -> Self {
        let failure = Failure::from(err);
        let code = match failure {
            Failure::Unavailable { .. } => ItemErrorCode::UpstreamUnavailable,
            Failure::Timeout => ItemErrorCode::UpstreamTimeout,
            Failure::Misconfigured => ItemErrorCode::CredentialsMisconfigured,
            Failure::Rejected { .. } | Failure::InvalidPageToken => ItemErrorCode::UpstreamRejected,
            Failure::QuotaExhausted { .. } => ItemErrorCode::QuotaExhausted,
        };
        let mut error = Self::new(code, failure.detail());
        // When Google said when to come back (a spent quota, or an outage with Retry-After).
        if let Failure::QuotaExhausted { retry_after }
        | Failure::Unavailable {
            retry_after: Some(retry_after),
        } = failure
        {
            error.retry_after_seconds = Some(whole_seconds(retry_after));
        }
        error
    }
}

/// A wait in whole seconds, rounded up and at least one: a client that comes back after it
/// finds the slot there.
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// A whole request that could not be served because of Google.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Google is failing, overloaded, or the breaker is open; come back after `retry_after`.
    Unavailable {
        /// When to come back.
        retry_after: Option<Duration>,
    },
    /// Google did not answer in time.
    Timeout,
    /// Our delegation is misconfigured (an operator must act).
    Misconfigured,
    /// Google refused with this canonical status.
    Rejected {
        /// Google's status, e.g. `PERMISSION_DENIED`.
        status: String,
    },
    /// Google refused the page token (it belongs to other parameters, or is garbage).
    InvalidPageToken,
    /// The project's Google quota has no call left before the deadline; Google was not called.
    QuotaExhausted {
        /// How long until the next call is free.
        retry_after: Duration,
    },
}

impl Failure {
    /// A caller-safe explanation.
    pub fn detail(&self) -> String {
        match self {
            Failure::Unavailable { .. } => "Google is unavailable or over quota; retry later.".into(),
            Failure::Timeout => "Google did not answer in time.".into(),
            Failure::Misconfigured => {
                "The gateway's Google credentials are misconfigured; an operator has been told how to fix them.".into()
            }
            Failure::Rejected { status } => format!("Google refused the request ({status})."),
            Failure::InvalidPageToken => {
                "pageToken is not valid for these parameters; start again without it.".into()
            }
            Failure::QuotaExhausted { .. } => {
                "The project's Google quota has no call left in time; Google was not called. Retry later.".into()
            }
        }
    }
}

impl From<&UpstreamError> for Failure {
    fn from(err: &UpstreamError) -> Self {
        match err.kind {
            UpstreamErrorKind::CredentialsMisconfigured => Failure::Misconfigured,
            UpstreamErrorKind::Timeout => Failure::Timeout,
            UpstreamErrorKind::Google if matches!(err.http_status, Some(504) | Some(408)) => {
                Failure::Timeout
            }
            UpstreamErrorKind::Google
                if err.is_quota() || err.http_status.is_some_and(|c| c >= 500) =>
            {
                Failure::Unavailable {
                    retry_after: err.retry_after,
                }
            }
            UpstreamErrorKind::Google | UpstreamErrorKind::Decode => Failure::Rejected {
                status: err
                    .status
                    .unwrap_or(crate::google::Status::Unknown)
                    .to_string(),
            },
            UpstreamErrorKind::QuotaExhausted => Failure::QuotaExhausted {
                retry_after: err.retry_after.unwrap_or(Duration::from_secs(1)),
            },
            UpstreamErrorKind::Connect
            | UpstreamErrorKind::Transport
            | UpstreamErrorKind::CircuitOpen
            | UpstreamErrorKind::Overloaded
            | UpstreamErrorKind::CredentialsUnavailable
            | UpstreamErrorKind::Draining => Failure::Unavailable {
                retry_after: err.retry_after,
            },
        }
    }
}

/// One answer of an eligibility check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibilityResult {
    /// The address (normalised when valid, as sent otherwise).
    pub email: String,
    /// True when the address is an unmanaged account that can be invited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub eligible: Option<bool>,
    /// When Google answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub checked_at: Option<DateTime<Utc>>,
    /// True when the answer came from the gateway's cache (or a concurrent check of the same
    /// address) rather than from a call made for this item.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cached: Option<bool>,
    /// Why this item has no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ItemError>,
}

/// One answer of a lookup.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LookupResult {
    /// The address.
    pub email: String,
    /// The invitation, when Google has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub invitation: Option<Invitation>,
    /// Why there is none (`not_found` included).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ItemError>,
}

/// One item of a send or cancel answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MutationResult {
    /// The address.
    pub email: String,
    /// What happened.
    pub outcome: Outcome,
    /// The invitation afterwards, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub invitation: Option<Invitation>,
    /// Why the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ItemError>,
}

/// The answer of a send or cancel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MutationResponse {
    /// One result per address, in the order sent.
    pub results: Vec<MutationResult>,
    /// How many items had each outcome.
    pub summary: BTreeMap<Outcome, usize>,
}

impl MutationResponse {
    /// Builds the answer and its summary.
    pub fn new(results: Vec<MutationResult>) -> Self {
        let mut summary = BTreeMap::new();
        for result in &results {
            *summary.entry(result.outcome).or_insert(0) += 1;
        }
        Self { results, summary }
    }
}
