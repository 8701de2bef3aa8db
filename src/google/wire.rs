//! Google's JSON, exactly as on the wire (proto3 JSON: int64 as a string, defaults omitted).

use crate::google::status::Status;
use serde::{Deserialize, Deserializer, Serialize};

/// The full-access scope of the User Invitation API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-identity.userinvitations";
/// The read-only scope (get, list, isInvitableUser).
pub const READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/cloud-identity.userinvitations.readonly";
/// The scope the workload's own credentials need to call IAM signJwt.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The `aud` of every delegation assertion: Google's token URL, whatever `token_uri` says.
pub const ASSERTION_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// The OAuth grant type of the JWT-bearer exchange.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// State of a UserInvitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", from = "String")]
pub enum State {
    /// Omitted or unknown on the wire (a state Google adds later reads as this).
    StateUnspecified,
    /// Found, no mail sent yet (or the invitation was cancelled).
    NotYetSent,
    /// Mailed; waiting for the person.
    Invited,
    /// The person joined: the account is managed now.
    Accepted,
    /// The person declined.
    Declined,
}

impl From<String> for State {
    fn from(name: String) -> Self {
        [
            State::NotYetSent,
            State::Invited,
            State::Accepted,
            State::Declined,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
        .unwrap_or(State::StateUnspecified)
    }
}

impl State {
    /// Google's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            State::StateUnspecified => "STATE_UNSPECIFIED",
            State::NotYetSent => "NOT_YET_SENT",
            State::Invited => "INVITED",
            State::Accepted => "ACCEPTED",
            State::Declined => "DECLINED",
        }
    }
}

/// One invitation (`customers/{customer}/userinvitations/{email}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInvitation {
    /// Resource name; the email is its last segment.
    #[serde(default)]
    pub name: String,
    /// Omitted means STATE_UNSPECIFIED.
    #[serde(default = "unspecified")]
    pub state: State,
    /// int64 as a JSON string; omitted means 0.
    #[serde(default, deserialize_with = "int64")]
    pub mails_sent_count: i64,
    /// RFC 3339; omitted when never updated.
    #[serde(default)]
    pub update_time: Option<chrono::DateTime<chrono::Utc>>,
}

fn unspecified() -> State {
    State::StateUnspecified
}

impl UserInvitation {
    /// The email address: the last segment of `name`.
    pub fn email(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }
}

/// proto3 int64: a string on the wire, but accept a number too (lenient reader).
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(i64),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// Answer of list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUserInvitationsResponse {
    /// Omitted when empty.
    #[serde(default)]
    pub user_invitations: Vec<UserInvitation>,
    /// Absent or empty on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// Answer of isInvitableUser; `{}` means false.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsInvitableUserResponse {
    /// Omitted means false.
    #[serde(default)]
    pub is_invitable_user: bool,
}

/// The long-running operation send and cancel answer; cloudidentity v1 returns it done.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    /// True when finished (always, in practice).
    #[serde(default)]
    pub done: bool,
    /// The invitation after the change, when Google includes it.
    #[serde(default)]
    pub response: Option<UserInvitation>,
    /// A failure reported inside the operation.
    #[serde(default)]
    pub error: Option<RpcStatus>,
}

/// `google.rpc.Status`, as in an error body or a failed operation.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RpcStatus {
    /// HTTP code (error bodies) or gRPC code (operations).
    #[serde(default)]
    pub code: i32,
    /// Human message; may contain the email.
    #[serde(default)]
    pub message: String,
    /// Canonical status, e.g. `FAILED_PRECONDITION`; `None` when omitted or empty.
    #[serde(default, deserialize_with = "canonical")]
    pub status: Option<Status>,
    /// Typed details (ErrorInfo, RetryInfo, ...).
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
    /// The legacy `errors: [{"domain", "reason", "message"}]` list some answers still carry.
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// Google's error body `{"error": Status}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: RpcStatus,
}

/// A status name; an empty one counts as omitted, so the HTTP code decides.
fn canonical<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Status>, D::Error> {
    let name = Option::<String>::deserialize(deserializer)?;
    Ok(name.filter(|n| !n.is_empty()).map(Status::from))
}

impl RpcStatus {
    /// The `retryDelay` of a `google.rpc.RetryInfo` detail, if any.
    pub fn retry_delay(&self) -> Option<std::time::Duration> {
        self.detail_field("google.rpc.RetryInfo", "retryDelay")
            .and_then(parse_duration)
    }

    /// The `reason` of a `google.rpc.ErrorInfo` detail, or else of the legacy `errors` list.
    pub fn reason(&self) -> Option<&str> {
        self.detail_field("google.rpc.ErrorInfo", "reason")
            .or_else(|| self.errors.iter().find_map(|e| e["reason"].as_str()))
    }

    /// The string `field` of the first detail whose `@type` is `kind` (`google.rpc.ErrorInfo`).
    fn detail_field(&self, kind: &str, field: &str) -> Option<&str> {
        self.details
            .iter()
            .filter(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(kind)))
            .find_map(|d| d[field].as_str())
    }
}

/// proto3 JSON Duration: `"2s"`, `"1.5s"`.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| std::time::Duration::from_secs_f64(seconds.min(3600.0)))
}

/// An RFC 6749 token-endpoint error.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthError {
    /// `invalid_grant`, `unauthorized_client`, ...
    pub error: String,
    /// Free text.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// A token-endpoint success.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// IAM Credentials signJwt answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignJwtResponse {
    /// The signed assertion.
    pub signed_jwt: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_reads_proto3_json() {
        let invitation: UserInvitation = serde_json::from_str(
            r#"{"name":"customers/C01/userinvitations/ada+hr@example.com","state":"INVITED","mailsSentCount":"2","updateTime":"2026-03-12T16:50:14.365Z"}"#,
        )
        .unwrap();
        assert_eq!(invitation.email(), "ada+hr@example.com");
        assert_eq!(invitation.state, State::Invited);
        assert_eq!(invitation.mails_sent_count, 2);
        let minimal: UserInvitation =
            serde_json::from_str(r#"{"name":"customers/C/userinvitations/a@b.c"}"#).unwrap();
        assert_eq!(minimal.mails_sent_count, 0);
        assert_eq!(minimal.state, State::StateUnspecified);
        let future: UserInvitation = serde_json::from_str(r#"{"state":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(future.state, State::StateUnspecified);
    }

    #[test]
    fn empty_answers_mean_defaults() {
        let invitable: IsInvitableUserResponse = serde_json::from_str("{}").unwrap();
        assert!(!invitable.is_invitable_user);
        let list: ListUserInvitationsResponse = serde_json::from_str("{}").unwrap();
        assert!(list.user_invitations.is_empty() && list.next_page_token.is_none());
    }

    #[test]
    fn retry_info_and_error_info_are_read() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED","details":[
                {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com"},
                {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2.5s"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            body.error.retry_delay(),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(body.error.reason(), Some("RATE_LIMIT_EXCEEDED"));
        assert_eq!(body.error.status, Some(Status::ResourceExhausted));
    }

    #[test]
    fn an_empty_or_omitted_status_is_left_to_the_http_code() {
        for body in [
            r#"{"error":{"code":503}}"#,
            r#"{"error":{"code":503,"status":""}}"#,
            r#"{"error":{"code":503,"status":null}}"#,
        ] {
            let read: ErrorBody = serde_json::from_str(body).unwrap();
            assert_eq!(read.error.status, None, "{body}");
        }
    }
}
