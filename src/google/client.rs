//! The typed client for the five methods, with retries, limits and the circuit breaker.
//!
//! Every call runs under a deadline. Each attempt passes the breaker, the process-wide rate
//! limiter and the bulkhead, gets a token and makes one HTTP request with its own timeout.
//! Which failures are retried depends on the method (DESIGN section 5): reads and cancel retry
//! anything transient; send retries only what provably did not reach Google (connect errors)
//! or was refused (429), and an ambiguous send is reconciled by reading the invitation.

use crate::config::GoogleSettings;
use crate::google::breaker::CircuitBreaker;
use crate::google::credentials::{Credentials, CredentialsError};
use crate::google::error::{Method, UpstreamError, UpstreamErrorKind, canonical_status};
use crate::google::wire::{
    ErrorBody, IsInvitableUserResponse, ListUserInvitationsResponse, Operation, State, Status,
    UserInvitation,
};
use crate::readiness::Readiness;
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
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
    // A read that settles what a mutation did: budgeted with it, so allowed past the cutoff.
    settles: bool,
}

impl CallContext {
    /// A context with a deadline `budget` from now.
    pub fn new(request_id: Option<String>, budget: Duration) -> Self {
        Self {
            request_id,
            deadline: Instant::now() + budget,
            budget,
            settles: false,
        }
    }

    /// The same request with a fresh deadline: each item of a batch gets the whole budget for
    /// its own calls, however long the items before it took.
    pub fn renewed(&self) -> Self {
        Self::new(self.request_id.clone(), self.budget)
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
    http: reqwest::Client,
    api_url: String,
    customer: String,
    credentials: Arc<Credentials>,
    readiness: Arc<Readiness>,
    breaker: CircuitBreaker,
    limiter: DefaultDirectRateLimiter,
    bulkhead: Semaphore,
    backoff: ExponentialBuilder,
    attempt_timeout: Duration,
    reconciling_read: Duration,
    total_timeout: Duration,
    max_attempts: u32,
}

impl GoogleClient {
    /// Builds the client; `http` is the process's one reqwest client. `readiness` says when
    /// shutdown forbids new calls.
    pub fn new(
        settings: &GoogleSettings,
        customer: &str,
        http: reqwest::Client,
        credentials: Arc<Credentials>,
        readiness: Arc<Readiness>,
    ) -> Self {
        let protection = &settings.protection;
        let per_second = NonZeroU32::new(protection.calls_per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            http,
            api_url: settings.api_url.clone(),
            customer: customer.to_owned(),
            credentials,
            readiness,
            breaker: CircuitBreaker::new(
                protection.breaker_failure_threshold,
                protection.breaker_open_for,
            ),
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            bulkhead: Semaphore::new(protection.max_concurrent_calls.max(1)),
            backoff: ExponentialBuilder::default()
                .with_min_delay(settings.retry.min_delay)
                .with_max_delay(settings.retry.max_delay)
                .with_max_times(settings.retry.max_attempts.saturating_sub(1) as usize),
            attempt_timeout: settings.timeouts.attempt,
            reconciling_read: settings.timeouts.reconciling_read(),
            total_timeout: settings.timeouts.total,
            max_attempts: settings.retry.max_attempts.max(1),
        }
    }

    /// A context for a call made on behalf of `request_id`, with the configured total timeout.
    pub fn context(&self, request_id: Option<String>) -> CallContext {
        CallContext::new(request_id, self.total_timeout)
    }

    /// The circuit breaker (for metrics and tests).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The credentials (readiness warm-up).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
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
        self.call(Method::List, reqwest::Method::GET, &url, &query, ctx, None)
            .await
    }

    /// One invitation; `NOT_FOUND` when Google has none (or not yet: the 48-hour lag).
    pub async fn get(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<UserInvitation, UpstreamError> {
        let url = self.invitation_url(email, "");
        self.call(Method::Get, reqwest::Method::GET, &url, &[], ctx, None)
            .await
    }

    /// Whether the address is an unmanaged account that can be invited.
    pub async fn is_invitable(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<bool, UpstreamError> {
        let url = self.invitation_url(email, ":isInvitableUser");
        let answer: IsInvitableUserResponse = self
            .call(
                Method::IsInvitableUser,
                reqwest::Method::GET,
                &url,
                &[],
                ctx,
                None,
            )
            .await?;
        Ok(answer.is_invitable_user)
    }

    /// Mails an invitation. `before` is the invitation as read just before (None when get said
    /// NOT_FOUND). When the answer is ambiguous, a read compared with `before` tells whether the
    /// mail went out: if it did, the send is done; if Google answered with an error and the read
    /// proves nothing changed, the send is tried again (DESIGN: reconciled before anything is
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
                .call(Method::Send, reqwest::Method::POST, &url, &[], ctx, None)
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
            .call(
                Method::Cancel,
                reqwest::Method::POST,
                &url,
                &[],
                ctx,
                Some(&ambiguous),
            )
            .await;
        match result {
            Ok(operation) => operation_result(Method::Cancel, operation),
            Err(err)
                if err.is_status("FAILED_PRECONDITION") && ambiguous.load(Ordering::Relaxed) =>
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
            ..CallContext::new(ctx.request_id.clone(), self.reconciling_read)
        }
    }

    fn customer_segment(&self) -> String {
        utf8_percent_encode(&self.customer, EMAIL_SEGMENT).to_string()
    }

    fn invitation_url(&self, email: &str, suffix: &str) -> String {
        format!(
            "{}/v1/customers/{}/userinvitations/{}{suffix}",
            self.api_url,
            self.customer_segment(),
            utf8_percent_encode(email, EMAIL_SEGMENT)
        )
    }

    /// One call: attempts under the method's retry rule until success, a final error, or the
    /// deadline. `ambiguous_seen`, when given, records whether any attempt may have been applied.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        http_method: reqwest::Method,
        url: &str,
        query: &[(&str, String)],
        ctx: &CallContext,
        ambiguous_seen: Option<&AtomicBool>,
    ) -> Result<T, UpstreamError> {
        let attempts = AtomicU32::new(0);
        let attempt = || async {
            let number = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let started = Instant::now();
            let result = self
                .attempt::<T>(method, http_method.clone(), url, query, ctx)
                .await;
            crate::metrics::google_attempt(
                method.as_str(),
                attempt_status(&result),
                number,
                started.elapsed(),
            );
            if let Err(err) = &result
                && err.is_ambiguous()
                && let Some(seen) = ambiguous_seen
            {
                seen.store(true, Ordering::Relaxed);
            }
            result
        };
        attempt
            .retry(self.backoff.build())
            .sleep(tokio::time::sleep)
            .when(|err: &UpstreamError| may_retry(method, err))
            .adjust(|err: &UpstreamError, step: Option<Duration>| {
                // Full jitter, but never sooner than Google asked, and never past the deadline.
                let step = step?;
                let jittered = step.mul_f64(rand::random::<f64>());
                let wait = jittered.max(err.retry_after.unwrap_or_default());
                (Instant::now() + wait < ctx.deadline).then_some(wait)
            })
            .notify(|err: &UpstreamError, wait: Duration| {
                crate::metrics::google_retry(method.as_str());
                tracing::info!(method = method.as_str(), error = %err, wait_ms = wait.as_millis() as u64, "retrying a call to Google");
            })
            .await
    }

    /// One HTTP attempt through the breaker, the limiter and the bulkhead.
    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        http_method: reqwest::Method,
        url: &str,
        query: &[(&str, String)],
        ctx: &CallContext,
    ) -> Result<T, UpstreamError> {
        let draining = || {
            UpstreamError::new(
                method,
                UpstreamErrorKind::Draining,
                "shutting down: no new calls to Google",
            )
        };
        if !ctx.settles && self.readiness.upstream_calls_stopped() {
            return Err(draining());
        }
        let overloaded = || {
            UpstreamError::new(
                method,
                UpstreamErrorKind::Overloaded,
                "local limits would wait past the deadline",
            )
        };
        // Every early return below drops the permit, which abandons the call.
        let permit = self.breaker.admit().map_err(|wait| {
            UpstreamError::new(
                method,
                UpstreamErrorKind::CircuitOpen,
                "circuit breaker open",
            )
            .with_retry_after(wait)
        })?;
        let gate = async {
            self.limiter.until_ready().await;
            self.bulkhead.acquire().await.ok()
        };
        let Ok(Some(_slot)) = tokio::time::timeout_at(ctx.deadline, gate).await else {
            return Err(overloaded());
        };
        let token = match self.credentials.access_token().await {
            Ok(token) => token,
            Err(err) => {
                let kind = match err {
                    CredentialsError::Misconfigured(_) => {
                        UpstreamErrorKind::CredentialsMisconfigured
                    }
                    CredentialsError::Unavailable(_) => UpstreamErrorKind::CredentialsUnavailable,
                };
                return Err(UpstreamError::new(method, kind, err.to_string()));
            }
        };
        // The waits above (limiter, bulkhead, token fetch) can outlast the shutdown cutoff: only
        // an attempt that starts before it is sure to end before the forced stop.
        if !ctx.settles && self.readiness.upstream_calls_stopped() {
            return Err(draining());
        }
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let mut request = self
            .http
            .request(http_method.clone(), url)
            .query(query)
            .bearer_auth(token.expose_secret())
            .timeout(
                self.attempt_timeout
                    .min(remaining.max(Duration::from_millis(1))),
            );
        if let Some(request_id) = &ctx.request_id {
            request = request.header("x-request-id", request_id);
        }
        if http_method == reqwest::Method::POST {
            request = request.json(&serde_json::json!({}));
        }
        let result = self.exchange::<T>(method, request).await;
        let failed = result
            .as_ref()
            .err()
            .is_some_and(UpstreamError::is_upstream_failure);
        permit.record(failed);
        if let Err(err) = &result
            && err.http_status == Some(401)
        {
            // The token was revoked or expired early: the next attempt gets a fresh one.
            self.credentials.invalidate();
        }
        result
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        request: reqwest::RequestBuilder,
    ) -> Result<T, UpstreamError> {
        let transport = |err: reqwest::Error| {
            let kind = if err.is_connect() {
                UpstreamErrorKind::Connect
            } else if err.is_timeout() {
                UpstreamErrorKind::Timeout
            } else {
                UpstreamErrorKind::Transport
            };
            UpstreamError::new(method, kind, err.to_string())
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| {
                UpstreamError::new(
                    method,
                    UpstreamErrorKind::Decode,
                    format!("unexpected answer: {e}"),
                )
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| Status {
                code: i32::from(status),
                status: canonical_status(status).to_owned(),
                ..Status::default()
            });
        Err(UpstreamError::from_google(
            method,
            status,
            error,
            retry_after,
        ))
    }
}

/// The `status` label of an attempt: `ok`, Google's HTTP code, or the kind of failure.
fn attempt_status<T>(result: &Result<T, UpstreamError>) -> String {
    let err = match result {
        Ok(_) => return "ok".to_owned(),
        Err(err) => err,
    };
    if let Some(code) = err.http_status {
        return code.to_string();
    }
    match err.kind {
        UpstreamErrorKind::Connect => "connect",
        UpstreamErrorKind::Timeout => "timeout",
        UpstreamErrorKind::Transport => "transport",
        UpstreamErrorKind::Google => "google",
        UpstreamErrorKind::Decode => "decode",
        UpstreamErrorKind::CircuitOpen => "circuit_open",
        UpstreamErrorKind::Overloaded => "overloaded",
        UpstreamErrorKind::CredentialsMisconfigured => "credentials_misconfigured",
        UpstreamErrorKind::CredentialsUnavailable => "credentials_unavailable",
        UpstreamErrorKind::Draining => "draining",
    }
    .to_owned()
}

/// DESIGN section 5: what each method may retry.
fn may_retry(method: Method, err: &UpstreamError) -> bool {
    // A 401 was not applied: one more attempt with a fresh token is always safe.
    if err.http_status == Some(401) {
        return true;
    }
    match method {
        Method::Send => err.kind == UpstreamErrorKind::Connect || err.is_quota(),
        Method::List | Method::Get | Method::IsInvitableUser | Method::Cancel => err.is_transient(),
    }
}

/// A `Retry-After` value (RFC 9110: delay-seconds or an HTTP-date), as a wait from `now`,
/// at most an hour.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    const LONGEST: Duration = Duration::from_secs(3600);
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(LONGEST));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is a valid RFC 2822 date.
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = (date.with_timezone(&chrono::Utc) - now)
        .to_std()
        .unwrap_or_default();
    Some(wait.min(LONGEST))
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

fn operation_result(
    method: Method,
    operation: Operation,
) -> Result<Option<UserInvitation>, UpstreamError> {
    match operation.error {
        Some(status) if status.code != 0 => {
            let http = match status.status.as_str() {
                "FAILED_PRECONDITION" | "INVALID_ARGUMENT" => 400,
                "NOT_FOUND" => 404,
                "PERMISSION_DENIED" => 403,
                _ => 500,
            };
            Err(UpstreamError::from_google(method, http, status, None))
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
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            parse_retry_after("999999", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
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
    fn send_retries_only_what_did_not_reach_google() {
        let google = |code| UpstreamError::from_google(Method::Send, code, Status::default(), None);
        assert!(may_retry(Method::Send, &google(429)));
        assert!(!may_retry(Method::Send, &google(503)));
        assert!(may_retry(
            Method::Send,
            &UpstreamError::new(Method::Send, UpstreamErrorKind::Connect, "")
        ));
        assert!(!may_retry(
            Method::Send,
            &UpstreamError::new(Method::Send, UpstreamErrorKind::Timeout, "")
        ));
        assert!(may_retry(Method::Get, &google(503)));
        assert!(!may_retry(Method::Get, &google(400)));
        assert!(may_retry(Method::Cancel, &google(503)));
    }
}
