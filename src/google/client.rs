//! The typed client for the five methods (get, list, isInvitableUser, send, cancel) and the
//! reconciliation of a send whose answer was lost.
//!
//! Every call runs under a deadline and goes through the transport (retries, limits, the
//! circuit breaker, tokens). An ambiguous send is reconciled by reading the invitation before
//! anything is sent again.

use crate::config::GoogleSettings;
use crate::google::breaker::CircuitBreaker;
use crate::google::budget::{CallBudget, CallKind};
use crate::google::credentials::Credentials;
use crate::google::error::{Method, UpstreamError, UpstreamErrorKind};
use crate::google::status::Status;
use crate::google::transport::{Call, Transport};
use crate::google::wire::{
    IsInvitableUserResponse, ListUserInvitationsResponse, Operation, State, UserInvitation,
};
use crate::readiness::Readiness;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Characters left raw in the `{email}` path segment: unreserved ones and `@`. `+` is encoded,
/// so no server can mistake it for a space.
const EMAIL_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Where a call comes from and how long it may take.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// Forwarded as `x-request-id`, so a call can be matched with the request that made it.
    pub request_id: Option<String>,
    /// No attempt starts, and no wait ends, after this instant.
    pub deadline: Instant,
    budget: Duration,
    /// Interactive (someone waits) or background: decides the share of the call budget.
    pub kind: CallKind,
    // A read that settles what a mutation did: budgeted with it, so allowed past the cutoff.
    pub(super) settles: bool,
    /// Counts every attempt made under this context (a campaign shows its Google calls).
    pub calls: Option<Arc<AtomicU64>>,
}

impl CallContext {
    /// A context with a deadline `budget` from now.
    pub fn new(request_id: Option<String>, budget: Duration) -> Self {
        Self {
            request_id,
            deadline: Instant::now() + budget,
            budget,
            kind: CallKind::Interactive,
            settles: false,
            calls: None,
        }
    }

    /// The same context, counting every attempt it makes in `calls`.
    pub fn counting(mut self, calls: Arc<AtomicU64>) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Counts one attempt (the transport calls it when an attempt got its budget slot).
    pub(super) fn count_call(&self) {
        if let Some(calls) = &self.calls {
            calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The same context for work of `kind` (background workers say so; the default is
    /// interactive).
    pub fn with_kind(mut self, kind: CallKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same request with a fresh deadline: each item of a batch gets the whole budget for
    /// its own calls, however long the items before it took.
    pub fn renewed(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            ..Self::new(self.request_id.clone(), self.budget).with_kind(self.kind)
        }
    }
}

/// Parameters of list, in Google's syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// e.g. `state=='invited'||state=='declined'`.
    pub filter: Option<String>,
    /// e.g. `update_time desc`.
    pub order_by: Option<String>,
    /// 1 to 200.
    pub page_size: Option<u32>,
    /// From the previous page.
    pub page_token: Option<String>,
}

/// The result of a send that Google applied.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The invitation after the send, when known.
    pub invitation: Option<UserInvitation>,
    /// True when the answer was lost and a read showed that the mail went out.
    pub reconciled: bool,
}

/// The only code that talks to Google's API.
pub struct GoogleClient {
    api_url: String,
    customer: String,
    transport: Transport,
    reconciling_read: Duration,
    total_timeout: Duration,
    max_attempts: u32,
}

impl GoogleClient {
    /// Builds the client; `http` is the process's one reqwest client. `readiness` says when
    /// shutdown forbids new calls; `budget` is the project's call budget every attempt takes from.
    pub fn new(
        settings: &GoogleSettings,
        customer: &str,
        http: reqwest::Client,
        credentials: Arc<Credentials>,
        readiness: Arc<Readiness>,
        budget: Arc<dyn CallBudget>,
    ) -> Self {
        Self {
            api_url: settings.api_url.clone(),
            customer: customer.to_owned(),
            transport: Transport::new(settings, http, credentials, readiness, budget),
            reconciling_read: settings.timeouts.reconciling_read(),
            total_timeout: settings.timeouts.total,
            max_attempts: settings.retry.max_attempts.get(),
        }
    }

    /// A context for a call made on behalf of `request_id`, with the configured total timeout.
    pub fn context(&self, request_id: Option<String>) -> CallContext {
        CallContext::new(request_id, self.total_timeout)
    }

    /// The circuit breaker (for metrics and tests).
    pub fn breaker(&self) -> &CircuitBreaker {
        self.transport.breaker()
    }

    /// The credentials (readiness warm-up).
    pub fn credentials(&self) -> &Credentials {
        self.transport.credentials()
    }

    /// One page of invitations.
    pub async fn list(
        &self,
        params: &ListParams,
        ctx: &CallContext,
    ) -> Result<ListUserInvitationsResponse, UpstreamError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(filter) = &params.filter {
            query.push(("filter", filter.clone()));
        }
        if let Some(order_by) = &params.order_by {
            query.push(("orderBy", order_by.clone()));
        }
        if let Some(page_size) = params.page_size {
            query.push(("pageSize", page_size.to_string()));
        }
        if let Some(page_token) = &params.page_token {
            query.push(("pageToken", page_token.clone()));
        }
        let url = format!(
            "{}/v1/customers/{}/userinvitations",
            self.api_url,
            self.customer_segment()
        );
        self.transport
            .call(Call::get(Method::List, &url, &query), ctx, None)
            .await
    }

    /// One invitation; `NOT_FOUND` when Google has none (or not yet: the 48-hour lag).
    pub async fn get(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<UserInvitation, UpstreamError> {
        self.read_invitation(Method::Get, email, "", ctx).await
    }

    /// Whether the address is an unmanaged account that can be invited.
    pub async fn is_invitable(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<bool, UpstreamError> {
        let answer: IsInvitableUserResponse = self
            .read_invitation(Method::IsInvitableUser, email, ":isInvitableUser", ctx)
            .await?;
        Ok(answer.is_invitable_user)
    }

    /// Mails an invitation. `before` is the invitation as read just before (None when get said
    /// NOT_FOUND). When the answer is ambiguous, a read compared with `before` tells whether the
    /// mail went out: if it did, the send is done; if Google answered with an error and the read
    /// proves nothing changed, the send is tried again (reconciled before anything is
    /// retried). After a timeout or a broken connection the request may still be in flight at
    /// Google, so it is never repeated: the failure is reported.
    pub async fn send(
        &self,
        email: &str,
        before: Option<&UserInvitation>,
        ctx: &CallContext,
    ) -> Result<Sent, UpstreamError> {
        let url = self.invitation_url(email, ":send");
        let mut before = before.cloned();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result: Result<Operation, UpstreamError> = self
                .transport
                .call(Call::post(Method::Send, &url), ctx, None)
                .await;
            let err = match result {
                Ok(operation) => {
                    return Ok(Sent {
                        invitation: operation_result(Method::Send, operation)?,
                        reconciled: false,
                    });
                }
                Err(err) if err.is_ambiguous() => err,
                Err(err) => return Err(err),
            };
            let after = match self.get(email, &self.reconciling_read(ctx)).await {
                Ok(after) => after,
                Err(read_err) => {
                    tracing::warn!(error = %err, read_error = %read_err, "send answer lost and the invitation could not be read");
                    return Err(err);
                }
            };
            match send_evidence(before.as_ref(), &after) {
                SendEvidence::WentOut => {
                    tracing::info!(error = %err, "send answer lost; a read shows the mail went out");
                    return Ok(Sent {
                        invitation: Some(after),
                        reconciled: true,
                    });
                }
                SendEvidence::Unclear => {
                    tracing::warn!(error = %err, "send failed and the invitation changed without a new mail; not sending again");
                    return Err(err);
                }
                SendEvidence::Unchanged => {}
            }
            // A timeout or broken connection may still land later: only a send Google answered
            // (5xx), whose invitation a read shows untouched, is sent again.
            let answered = err.kind == UpstreamErrorKind::Google;
            if !answered || attempts >= self.max_attempts || Instant::now() >= ctx.deadline {
                return Err(err);
            }
            tracing::info!(error = %err, "send failed and a read shows no mail went out; sending again");
            before = Some(after);
        }
    }

    /// Withdraws an INVITED invitation. Retried like a read (the end state is the same); if a
    /// retry finds nothing to cancel after an ambiguous attempt, a read confirms the earlier
    /// attempt worked.
    pub async fn cancel(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<Option<UserInvitation>, UpstreamError> {
        let url = self.invitation_url(email, ":cancel");
        let ambiguous = AtomicBool::new(false);
        let result: Result<Operation, UpstreamError> = self
            .transport
            .call(Call::post(Method::Cancel, &url), ctx, Some(&ambiguous))
            .await;
        match result {
            Ok(operation) => operation_result(Method::Cancel, operation),
            Err(err)
                if err.status == Some(Status::FailedPrecondition)
                    && ambiguous.load(Ordering::Relaxed) =>
            {
                match self.get(email, &self.reconciling_read(ctx)).await {
                    Ok(after) if after.state == State::NotYetSent => Ok(Some(after)),
                    _ => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// The context of a read that settles what a failed mutation did: a fresh, short budget,
    /// because the mutation's own deadline may be spent.
    fn reconciling_read(&self, ctx: &CallContext) -> CallContext {
        CallContext {
            settles: true,
            calls: ctx.calls.clone(),
            ..CallContext::new(ctx.request_id.clone(), self.reconciling_read).with_kind(ctx.kind)
        }
    }

    fn customer_segment(&self) -> String {
        utf8_percent_encode(&self.customer, EMAIL_SEGMENT).to_string()
    }

    /// A GET of `method` on the invitation of `email` (`suffix`: its custom verb, if any).
    async fn read_invitation<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        email: &str,
        suffix: &str,
        ctx: &CallContext,
    ) -> Result<T, UpstreamError> {
        let url = self.invitation_url(email, suffix);
        self.transport
            .call(Call::get(method, &url, &[]), ctx, None)
            .await
    }

    fn invitation_url(&self, email: &str, suffix: &str) -> String {
        format!(
            "{}/v1/customers/{}/userinvitations/{}{suffix}",
            self.api_url,
            self.customer_segment(),
            utf8_percent_encode(email, EMAIL_SEGMENT)
        )
    }
}

/// What a read after a failed send says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendEvidence {
    /// A new mail: `mailsSentCount` went up and the invitation is INVITED.
    WentOut,
    /// Nothing changed: state, `mailsSentCount` and `updateTime` are as read before.
    Unchanged,
    /// Something else changed the invitation: neither a mail nor its absence is proven.
    Unclear,
}

/// Compares the invitation read after a failed send with the one read before it (`None`: not
/// visible to get then, as in Google's first 48 hours).
fn send_evidence(before: Option<&UserInvitation>, after: &UserInvitation) -> SendEvidence {
    let mails_before = before.map_or(0, |b| b.mails_sent_count);
    if after.state == State::Invited && after.mails_sent_count > mails_before {
        return SendEvidence::WentOut;
    }
    let unchanged = match before {
        Some(before) => {
            before.state == after.state
                && before.mails_sent_count == after.mails_sent_count
                && before.update_time == after.update_time
        }
        None => after.mails_sent_count == 0 && after.state != State::Invited,
    };
    if unchanged {
        SendEvidence::Unchanged
    } else {
        SendEvidence::Unclear
    }
}

/// The invitation a finished operation carries, or the failure it reports.
fn operation_result(
    method: Method,
    operation: Operation,
) -> Result<Option<UserInvitation>, UpstreamError> {
    match operation.error {
        Some(mut error) if error.code != 0 => {
            // Unlike an error body, whose `code` is the HTTP code, an operation's error is a
            // plain google.rpc.Status: its `code` is the gRPC code and the name is often absent.
            let status = error
                .status
                .or_else(|| Status::from_code(error.code))
                .unwrap_or(Status::Unknown);
            error.status = Some(status);
            Err(UpstreamError::from_google(
                method,
                status.http_code(),
                error,
                None,
            ))
        }
        _ => Ok(operation.response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(state: State, mails: i64) -> UserInvitation {
        UserInvitation {
            name: "customers/C/userinvitations/a@b.c".into(),
            state,
            mails_sent_count: mails,
            update_time: None,
        }
    }

    #[test]
    fn email_segment_keeps_at_and_encodes_plus_and_slash() {
        let encoded = utf8_percent_encode("ada+hr/x@example.com", EMAIL_SEGMENT).to_string();
        assert_eq!(encoded, "ada%2Bhr%2Fx@example.com");
    }

    #[test]
    fn a_lost_send_is_seen_by_the_mail_count() {
        use SendEvidence::*;
        let (not_yet_sent, invited) = (State::NotYetSent, State::Invited);
        let evidence =
            |before: Option<UserInvitation>, after| send_evidence(before.as_ref(), &after);
        assert_eq!(
            evidence(Some(invitation(not_yet_sent, 0)), invitation(invited, 1)),
            WentOut
        );
        assert_eq!(
            evidence(Some(invitation(invited, 1)), invitation(invited, 2)),
            WentOut
        );
        assert_eq!(evidence(None, invitation(invited, 1)), WentOut);
        assert_eq!(
            evidence(Some(invitation(invited, 2)), invitation(invited, 2)),
            Unchanged
        );
        assert_eq!(
            evidence(
                Some(invitation(not_yet_sent, 0)),
                invitation(not_yet_sent, 0)
            ),
            Unchanged
        );
        assert_eq!(evidence(None, invitation(not_yet_sent, 0)), Unchanged);
    }

    #[test]
    fn a_touched_invitation_without_a_new_mail_proves_nothing() {
        let before = invitation(State::Invited, 2);
        let mut touched = before.clone();
        touched.update_time = Some(chrono::Utc::now());
        assert_eq!(
            send_evidence(Some(&before), &touched),
            SendEvidence::Unclear
        );
        let cancelled = invitation(State::NotYetSent, 2);
        assert_eq!(
            send_evidence(Some(&before), &cancelled),
            SendEvidence::Unclear
        );
    }

    #[test]
    fn a_failed_operation_is_classified_by_its_grpc_code_when_it_names_no_status() {
        let failed = |error: serde_json::Value| {
            let operation: Operation =
                serde_json::from_value(serde_json::json!({"done": true, "error": error})).unwrap();
            let err = operation_result(Method::Cancel, operation).unwrap_err();
            (err.status, err.http_status)
        };
        // An operation's error is a plain google.rpc.Status: a gRPC code, usually no name.
        for (error, expected) in [
            (
                serde_json::json!({"code": 9, "message": "not invited"}),
                (Some(Status::FailedPrecondition), Some(400)),
            ),
            (
                serde_json::json!({"code": 5}),
                (Some(Status::NotFound), Some(404)),
            ),
            (
                serde_json::json!({"code": 6, "status": "ALREADY_EXISTS"}),
                (Some(Status::AlreadyExists), Some(409)),
            ),
            (
                serde_json::json!({"code": 8}),
                (Some(Status::ResourceExhausted), Some(429)),
            ),
            (
                serde_json::json!({"code": 99}),
                (Some(Status::Unknown), Some(500)),
            ),
        ] {
            assert_eq!(failed(error.clone()), expected, "{error}");
        }
        let done: Operation = serde_json::from_value(serde_json::json!({"done": true})).unwrap();
        assert!(matches!(operation_result(Method::Send, done), Ok(None)));
    }
}
