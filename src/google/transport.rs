//! The transport under the typed client: one attempt through the circuit breaker, the project's
//! call budget and the bulkhead with a fresh token, the shutdown cutoff check, and the retry rules
//! (backon, full jitter, Retry-After/RetryInfo, never past the deadline).
//!
//! Which failures are retried depends on the method: reads and cancel retry anything
//! transient; send retries only what provably did not reach Google (connect errors) or was
//! refused (429).

use crate::config::GoogleSettings;
use crate::google::breaker::CircuitBreaker;
use crate::google::budget::{BudgetRefusal, CallBudget};
use crate::google::client::CallContext;
use crate::google::credentials::{Credentials, CredentialsError};
use crate::google::error::{Method, UpstreamError, UpstreamErrorKind};
use crate::google::wire::{ErrorBody, RpcStatus};
use crate::readiness::Readiness;
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument as _;

/// How long every replica stops after a Google quota refusal that names no time.
const QUOTA_BACKOFF: Duration = Duration::from_secs(10);

/// How calls reach Google: the HTTP client, the token, and the gates every attempt passes.
pub(crate) struct Transport {
    http: reqwest::Client,
    credentials: Arc<Credentials>,
    readiness: Arc<Readiness>,
    breaker: CircuitBreaker,
    budget: Arc<dyn CallBudget>,
    bulkhead: Semaphore,
    backoff: ExponentialBuilder,
    attempt_timeout: Duration,
}

/// What one call to Google sends: which method, and the HTTP method, URL and query it goes
/// out with (a POST carries an empty JSON body).
pub(crate) struct Call<'a> {
    method: Method,
    http_method: reqwest::Method,
    url: &'a str,
    query: &'a [(&'a str, String)],
}

impl<'a> Call<'a> {
    /// A GET of `url` with `query`.
    pub(crate) fn get(method: Method, url: &'a str, query: &'a [(&'a str, String)]) -> Self {
        Call {
            method,
            http_method: reqwest::Method::GET,
            url,
            query,
        }
    }

    /// A POST of `url` (no query).
    pub(crate) fn post(method: Method, url: &'a str) -> Self {
        Call {
            method,
            http_method: reqwest::Method::POST,
            url,
            query: &[],
        }
    }
}

impl Transport {
    /// Builds the gates from the settings; `readiness` says when shutdown forbids new calls,
    /// `budget` is the project's quota every attempt takes a slot from.
    pub(crate) fn new(
        settings: &GoogleSettings,
        http: reqwest::Client,
        credentials: Arc<Credentials>,
        readiness: Arc<Readiness>,
        budget: Arc<dyn CallBudget>,
    ) -> Self {
        let protection = &settings.protection;
        Self {
            http,
            credentials,
            readiness,
            breaker: CircuitBreaker::new(
                protection.breaker_failure_threshold,
                protection.breaker_open_for,
            ),
            budget,
            bulkhead: Semaphore::new(protection.max_concurrent_calls.get()),
            backoff: ExponentialBuilder::default()
                .with_min_delay(settings.retry.min_delay)
                .with_max_delay(settings.retry.max_delay)
                .with_max_times((settings.retry.max_attempts.get() - 1) as usize),
            attempt_timeout: settings.timeouts.attempt,
        }
    }

    /// The circuit breaker (for metrics and tests).
    pub(crate) fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The credentials (readiness warm-up).
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// One call: attempts under the method's retry rule until success, a final error, or the
    /// deadline. `ambiguous_seen`, when given, records whether any attempt may have been applied.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        ctx: &CallContext,
        ambiguous_seen: Option<&AtomicBool>,
    ) -> Result<T, UpstreamError> {
        let method = call.method;
        let call = &call;
        let attempts = AtomicU32::new(0);
        let attempt = || async {
            let number = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let started = Instant::now();
            let result = self.attempt::<T>(call, ctx).await;
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
        // One span per call to Google (its attempts and waits inside); exported as a child of
        // the request's span when traces are on.
        let span = tracing::info_span!("google_call", method = method.as_str());
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
            .instrument(span)
            .await
    }

    /// One HTTP attempt through the breaker, the call budget and the bulkhead.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        ctx: &CallContext,
    ) -> Result<T, UpstreamError> {
        let method = call.method;
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
        let overloaded = |why: &str| UpstreamError::new(method, UpstreamErrorKind::Overloaded, why);
        // Every early return below drops the permit, which abandons the call.
        let permit = self.breaker.admit().map_err(|wait| {
            UpstreamError::new(
                method,
                UpstreamErrorKind::CircuitOpen,
                "circuit breaker open",
            )
            .with_retry_after(wait)
        })?;
        // A slot of the project's budget first (it may wait, at most until the deadline), then
        // a place in the bulkhead: a call waiting for its slot holds no place in flight.
        match self.budget.acquire(ctx.kind, ctx.deadline).await {
            Ok(()) => ctx.count_call(),
            Err(BudgetRefusal::Exhausted { retry_after }) => {
                return Err(UpstreamError::new(
                    method,
                    UpstreamErrorKind::QuotaExhausted,
                    "no Google call left in the project's budget before the deadline",
                )
                .with_retry_after(retry_after));
            }
            Err(BudgetRefusal::Unavailable) => {
                return Err(overloaded("the Google call budget could not be read"));
            }
        }
        let Ok(Ok(_slot)) = tokio::time::timeout_at(ctx.deadline, self.bulkhead.acquire()).await
        else {
            return Err(overloaded("the bulkhead would wait past the deadline"));
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
        // The waits above (budget, bulkhead, token fetch) can outlast the shutdown cutoff: only
        // an attempt that starts before it is sure to end before the forced stop.
        if !ctx.settles && self.readiness.upstream_calls_stopped() {
            return Err(draining());
        }
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let mut request = self
            .http
            .request(call.http_method.clone(), call.url)
            .query(call.query)
            .bearer_auth(token.expose_secret())
            .timeout(
                self.attempt_timeout
                    .min(remaining.max(Duration::from_millis(1))),
            );
        if let Some(request_id) = &ctx.request_id {
            request = request.header("x-request-id", request_id);
        }
        if call.http_method == reqwest::Method::POST {
            request = request.json(&serde_json::json!({}));
        }
        let result = self.exchange::<T>(method, request).await;
        let failed = result
            .as_ref()
            .err()
            .is_some_and(UpstreamError::is_upstream_failure);
        permit.record(failed);
        if let Err(err) = &result
            && err.is_quota()
        {
            // Google says the project's quota is spent: every replica stops, not just this call.
            let wait = err.retry_after.unwrap_or(QUOTA_BACKOFF);
            tracing::warn!(
                method = method.as_str(),
                wait_ms = wait.as_millis() as u64,
                "Google refused for quota: every replica backs off"
            );
            self.budget.backed_off(wait).await;
        }
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
            // No status named: from_google takes it from the HTTP code.
            .unwrap_or_else(|_| RpcStatus {
                code: i32::from(status),
                ..RpcStatus::default()
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
        UpstreamErrorKind::QuotaExhausted => "quota_exhausted",
        UpstreamErrorKind::CredentialsMisconfigured => "credentials_misconfigured",
        UpstreamErrorKind::CredentialsUnavailable => "credentials_unavailable",
        UpstreamErrorKind::Draining => "draining",
    }
    .to_owned()
}

/// What each method may retry: anything transient for reads and cancel (the end state is the
/// same), only what provably did not reach Google for send.
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn send_retries_only_what_did_not_reach_google() {
        let google =
            |code| UpstreamError::from_google(Method::Send, code, RpcStatus::default(), None);
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
