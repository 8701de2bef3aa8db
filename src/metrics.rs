//! Prometheus metrics: every metric name and its labels, the recorder, and small recording
//! helpers, so the label conventions live in one place.
//!
//! Labels carry only bounded, non-personal values: route templates (never raw paths), HTTP
//! methods, status codes, Google method names, error kinds. Never an email, a token, a caller
//! id or a path a caller typed. Names are `gateway_*` with their unit (`_seconds`, `_total`).
//!
//! Code outside this file records through the helpers below, or with the `metrics` macros and the
//! constants here (the invitations domain does, for its eligibility cache).

use anyhow::Context;
use metrics::{
    Label, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Counter: HTTP requests answered. Labels: `route` (the route template, `unmatched` when no
/// route matched), `method` (`GET`, `POST`, ..., `other`), `status` (`200`, `404`, ...).
pub const HTTP_REQUESTS: &str = "gateway_http_requests_total";
/// Histogram: time to answer an HTTP request. Labels as [`HTTP_REQUESTS`].
pub const HTTP_REQUEST_DURATION: &str = "gateway_http_request_duration_seconds";

/// Counter: HTTP attempts to Google. Labels: `method` (`list`, `get`, `isInvitableUser`,
/// `send`, `cancel`), `status` (`ok`, the HTTP code of an error answer, or the failure kind:
/// `connect`, `timeout`, `transport`, `decode`, `circuit_open`, `overloaded`,
/// `credentials_misconfigured`, `credentials_unavailable`, `draining`), `attempt` (`1`, `2`, ...).
pub const GOOGLE_ATTEMPTS: &str = "gateway_google_attempts_total";
/// Histogram: duration of one attempt to Google. Labels: `method`, `status`.
pub const GOOGLE_ATTEMPT_DURATION: &str = "gateway_google_attempt_duration_seconds";
/// Counter: retries scheduled after a failed attempt. Label: `method`.
pub const GOOGLE_RETRIES: &str = "gateway_google_retries_total";
/// Gauge: the circuit breaker's state, 1 for the current one. Label: `state` (`closed`,
/// `open`, `half_open`).
pub const BREAKER_STATE: &str = "gateway_google_breaker_state";
/// Counter: circuit breaker transitions. Label: `to` (`closed`, `open`, `half_open`).
pub const BREAKER_TRANSITIONS: &str = "gateway_google_breaker_transitions_total";
/// Counter: access tokens obtained from (or refused by) the token endpoint. Label: `result`
/// (`success`, `misconfigured`, `unavailable`).
pub const TOKEN_REFRESHES: &str = "gateway_google_token_refreshes_total";

/// Counter: Google calls that waited for a slot of the project's budget. Label: `kind`
/// (`interactive`, `background`).
pub const GOOGLE_BUDGET_WAITS: &str = "gateway_google_budget_waits_total";
/// Histogram: how long a call that waited for its budget slot waited. Label: `kind`.
pub const GOOGLE_BUDGET_WAIT_DURATION: &str = "gateway_google_budget_wait_seconds";
/// Counter: Google calls refused by the project's budget, Google not called. Labels: `kind`,
/// `reason` (`exhausted`: no slot before the deadline; `unavailable`: the store failed).
pub const GOOGLE_BUDGET_REFUSALS: &str = "gateway_google_budget_refusals_total";
/// Counter: Google quota refusals (429) that stopped every replica for a while.
pub const GOOGLE_BACKOFFS: &str = "gateway_google_backoffs_total";

/// Counter: requests refused by a per-caller limit. Label: `limit` (`requests`, `daily_mails`).
pub const RATE_LIMITED: &str = "gateway_rate_limited_total";
/// Counter: audit records the audit file could not take (the log stream still got them).
pub const AUDIT_WRITE_FAILURES: &str = "gateway_audit_write_failures_total";
/// Counter: JWKS fetches. Labels: `trigger` (`scheduled`, `unknown_kid`), `result` (`success`,
/// `failure`).
pub const JWKS_REFRESHES: &str = "gateway_jwks_refreshes_total";
/// Gauge: seconds since the JWKS keys in use were fetched (set at each scrape; absent without
/// a JWKS or before the first success).
pub const JWKS_KEY_AGE: &str = "gateway_jwks_key_age_seconds";

/// Counter: eligibility cache lookups. Label: `result` (`hit`, `miss`).
pub const ELIGIBILITY_LOOKUPS: &str = "gateway_eligibility_lookups_total";
/// Gauge: entries in the eligibility cache.
pub const ELIGIBILITY_ENTRIES: &str = "gateway_eligibility_cache_entries";

/// Counter: campaign items that reached an outcome. Label: `outcome` (`sent`, `resent`,
/// `already_invited`, `failed`, `would_send`, ...).
pub const CAMPAIGN_ITEMS: &str = "gateway_campaign_items_total";
/// Gauge: pending items due now (the campaign workers' backlog): of running campaigns, and of
/// scheduled or waiting ones past their start or `resumesAt`; not of paused ones.
pub const CAMPAIGN_BACKLOG: &str = "gateway_campaign_backlog";
/// Counter: whole passes the campaign worker finished (each looked at every due campaign and
/// worked one batch of each): a pass begun after a change has seen it.
pub const CAMPAIGN_WORKER_PASSES: &str = "gateway_campaign_worker_passes_total";

/// Counter: store calls that failed, each counted once (at the store's gate). Label: `kind`
/// (`unavailable`: the store could not answer, readiness marks it failed; `refused_value`: the
/// database refused a value it was given, the store is healthy).
pub const STORE_FAILURES: &str = "gateway_store_failures_total";

/// Gauge: 1 while `/readyz` answers ready, else 0 (set at each scrape).
pub const READY: &str = "gateway_ready";
/// Gauge: 1 for the current state of each readiness check (set at each scrape). Labels:
/// `check` (`credentials`, `caller_keys`, `store`), `state` (`pending`, `ready`, `failed`).
pub const READINESS_CHECK: &str = "gateway_readiness_check";

/// Bucket bounds (seconds) of every `_seconds` histogram: from a cached answer to a call that
/// used its whole 30 s budget.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counter: walks of Google's list by the tracker. Label: `result` (`finished`, `failed`:
/// a page could not be read or recorded, the walk resumes later; `lost_lease`).
pub const TRACKER_WALKS: &str = "gateway_tracker_walks_total";
/// Counter: changes the tracker recorded. Label: `change` (`first_seen`, `sent`, `accepted`,
/// `declined`, `cancelled`).
pub const TRACKER_CHANGES: &str = "gateway_tracker_changes_total";
/// Counter: webhook delivery attempts. Labels: `endpoint` (its index in
/// `GATEWAY_WEBHOOK_URLS`, never the URL), `result` (`success`, `failure`, `given_up`).
pub const WEBHOOK_DELIVERIES: &str = "gateway_webhook_deliveries_total";
/// Histogram: duration of one webhook delivery attempt. Label: `endpoint`.
pub const WEBHOOK_DELIVERY_DURATION: &str = "gateway_webhook_delivery_duration_seconds";
/// Gauge: deliveries to an endpoint neither delivered nor given up. Label: `endpoint`.
pub const WEBHOOK_BACKLOG: &str = "gateway_webhook_backlog";

/// How often histogram samples are folded into their buckets when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process's Prometheus recorder on first use and returns its handle.
///
/// The `metrics` facade has one global recorder per process; the macros everywhere record into
/// it, which is why the handle, not the recorder, is what the application state keeps. This
/// slot only remembers the handle so that every `Application` of a process (tests build many)
/// renders the same recorder instead of failing to install a second one.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            register_zeros();
            Ok(handle)
        })
        .clone()
        .map_err(anyhow::Error::msg)
        .context("cannot install the metrics recorder")
}

/// Folds histogram samples into buckets every [`UPKEEP_INTERVAL`]; runs until dropped.
pub async fn run_upkeep(handle: PrometheusHandle) {
    let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        ticks.tick().await;
        handle.run_upkeep();
    }
}

/// The `# HELP` lines.
fn describe() {
    describe_counter!(
        TRACKER_WALKS,
        "Walks of Google's list by the tracker, by result"
    );
    describe_counter!(TRACKER_CHANGES, "Changes the tracker recorded, by change");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by endpoint index and result"
    );
    describe_histogram!(
        WEBHOOK_DELIVERY_DURATION,
        Unit::Seconds,
        "Duration of one webhook delivery attempt"
    );
    describe_gauge!(
        WEBHOOK_BACKLOG,
        "Webhook deliveries neither delivered nor given up, by endpoint index"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request"
    );
    describe_counter!(
        GOOGLE_ATTEMPTS,
        "HTTP attempts to Google, by method, status or failure kind, and attempt number"
    );
    describe_histogram!(
        GOOGLE_ATTEMPT_DURATION,
        Unit::Seconds,
        "Duration of one attempt to Google"
    );
    describe_counter!(
        GOOGLE_RETRIES,
        "Retries of calls to Google after a failed attempt"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state: 1 for the current state"
    );
    describe_counter!(
        BREAKER_TRANSITIONS,
        "Circuit breaker transitions, by new state"
    );
    describe_counter!(
        TOKEN_REFRESHES,
        "Google access tokens obtained or refused, by result"
    );
    describe_counter!(
        GOOGLE_BUDGET_WAITS,
        "Google calls that waited for a slot of the project's budget, by kind"
    );
    describe_histogram!(
        GOOGLE_BUDGET_WAIT_DURATION,
        Unit::Seconds,
        "Time a Google call waited for its slot of the project's budget"
    );
    describe_counter!(
        GOOGLE_BUDGET_REFUSALS,
        "Google calls refused by the project's budget (Google not called), by kind and reason"
    );
    describe_counter!(
        GOOGLE_BACKOFFS,
        "Google quota refusals that stopped every replica for a while"
    );
    describe_counter!(RATE_LIMITED, "Requests refused by a per-caller limit");
    describe_counter!(
        AUDIT_WRITE_FAILURES,
        "Audit records the audit file could not take"
    );
    describe_counter!(JWKS_REFRESHES, "JWKS fetches, by trigger and result");
    describe_gauge!(JWKS_KEY_AGE, Unit::Seconds, "Age of the JWKS keys in use");
    describe_counter!(
        ELIGIBILITY_LOOKUPS,
        "Eligibility cache lookups, by hit or miss"
    );
    describe_gauge!(ELIGIBILITY_ENTRIES, "Entries in the eligibility cache");
    describe_counter!(
        CAMPAIGN_ITEMS,
        "Campaign items that reached an outcome, by outcome"
    );
    describe_counter!(
        STORE_FAILURES,
        "Store calls that failed, by kind (unavailable, refused_value)"
    );
    describe_gauge!(
        CAMPAIGN_BACKLOG,
        "Pending items of every active campaign (the workers' backlog)"
    );
    describe_counter!(
        CAMPAIGN_WORKER_PASSES,
        "Whole passes the campaign worker finished over every due campaign"
    );
}

/// Starts the counters of rare events at zero, so they are scraped (and alerts on their rate
/// work) before the first event.
fn register_zeros() {
    for state in BREAKER_STATES {
        counter!(BREAKER_TRANSITIONS, "to" => state).increment(0);
    }
    for result in ["success", "misconfigured", "unavailable"] {
        counter!(TOKEN_REFRESHES, "result" => result).increment(0);
    }
    for limit in ["requests", "daily_mails"] {
        counter!(RATE_LIMITED, "limit" => limit).increment(0);
    }
    for kind in ["interactive", "background"] {
        counter!(GOOGLE_BUDGET_WAITS, "kind" => kind).increment(0);
        for reason in ["exhausted", "unavailable"] {
            counter!(GOOGLE_BUDGET_REFUSALS, "kind" => kind, "reason" => reason).increment(0);
        }
    }
    counter!(GOOGLE_BACKOFFS).increment(0);
    gauge!(CAMPAIGN_BACKLOG).set(0.0);
    counter!(CAMPAIGN_WORKER_PASSES).increment(0);
    counter!(AUDIT_WRITE_FAILURES).increment(0);
    for kind in ["unavailable", "refused_value"] {
        counter!(STORE_FAILURES, "kind" => kind).increment(0);
    }
    for trigger in ["scheduled", "unknown_kid"] {
        for result in ["success", "failure"] {
            counter!(JWKS_REFRESHES, "trigger" => trigger, "result" => result).increment(0);
        }
    }
    for result in ["hit", "miss"] {
        counter!(ELIGIBILITY_LOOKUPS, "result" => result).increment(0);
    }
    gauge!(ELIGIBILITY_ENTRIES).set(0.0);
}

/// An HTTP method as a label: the standard ones by name, anything else as `other` (a caller
/// can send any token as a method).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// Records one answered HTTP request.
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let labels = vec![
        Label::new("route", route.to_owned()),
        Label::from_static_parts("method", method_label(method)),
        Label::new("status", status.to_string()),
    ];
    counter!(HTTP_REQUESTS, labels.clone()).increment(1);
    histogram!(HTTP_REQUEST_DURATION, labels).record(elapsed.as_secs_f64());
}

/// Records one attempt to Google; `status` is `ok`, an HTTP code or a failure kind.
pub fn google_attempt(method: &'static str, status: String, attempt: u32, elapsed: Duration) {
    counter!(
        GOOGLE_ATTEMPTS,
        "method" => method,
        "status" => status.clone(),
        "attempt" => attempt.to_string()
    )
    .increment(1);
    histogram!(GOOGLE_ATTEMPT_DURATION, "method" => method, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// Records a retry of a call to Google.
pub fn google_retry(method: &'static str) {
    counter!(GOOGLE_RETRIES, "method" => method).increment(1);
}

/// The breaker states, as label values.
pub const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];

/// Sets the breaker gauge to `state` (one of [`BREAKER_STATES`]).
pub fn breaker_state(state: &'static str) {
    for candidate in BREAKER_STATES {
        let value = if candidate == state { 1.0 } else { 0.0 };
        gauge!(BREAKER_STATE, "state" => candidate).set(value);
    }
}

/// Records a breaker transition to `state` and updates the gauge.
pub fn breaker_transition(state: &'static str) {
    counter!(BREAKER_TRANSITIONS, "to" => state).increment(1);
    breaker_state(state);
}

/// Records a token obtained (`success`) or refused (`misconfigured`, `unavailable`).
pub fn token_refresh(result: &'static str) {
    counter!(TOKEN_REFRESHES, "result" => result).increment(1);
}

/// Records a Google call of `kind` that waited `waited` for its budget slot.
pub fn google_budget_wait(kind: &'static str, waited: Duration) {
    counter!(GOOGLE_BUDGET_WAITS, "kind" => kind).increment(1);
    histogram!(GOOGLE_BUDGET_WAIT_DURATION, "kind" => kind).record(waited.as_secs_f64());
}

/// Records a Google call of `kind` refused by the budget for `reason` (`exhausted`,
/// `unavailable`).
pub fn google_budget_refusal(kind: &'static str, reason: &'static str) {
    counter!(GOOGLE_BUDGET_REFUSALS, "kind" => kind, "reason" => reason).increment(1);
}

/// Records a Google quota refusal that stopped every replica.
pub fn google_backoff() {
    counter!(GOOGLE_BACKOFFS).increment(1);
}

/// Records a request refused by the per-caller `limit` (`requests`, `daily_mails`).
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// Records a store call that failed (`unavailable` or `refused_value`).
pub fn store_failure(kind: &'static str) {
    counter!(STORE_FAILURES, "kind" => kind).increment(1);
}

/// Records an audit record the audit file could not take.
pub fn audit_write_failure() {
    counter!(AUDIT_WRITE_FAILURES).increment(1);
}

/// Records a JWKS fetch.
pub fn jwks_refresh(forced: bool, succeeded: bool) {
    let trigger = if forced { "unknown_kid" } else { "scheduled" };
    let result = if succeeded { "success" } else { "failure" };
    counter!(JWKS_REFRESHES, "trigger" => trigger, "result" => result).increment(1);
}

/// Records an eligibility lookup answered from the cache (`hit`) or by Google (`miss`).
pub fn eligibility_lookup(hit: bool) {
    counter!(ELIGIBILITY_LOOKUPS, "result" => if hit { "hit" } else { "miss" }).increment(1);
}

/// Sets the number of entries in the eligibility cache.
pub fn eligibility_entries(entries: u64) {
    gauge!(ELIGIBILITY_ENTRIES).set(entries as f64);
}

/// Counts a campaign item that reached `outcome`.
pub fn campaign_item(outcome: &'static str) {
    counter!(CAMPAIGN_ITEMS, "outcome" => outcome).increment(1);
}

/// Sets the campaign workers' backlog (pending items of active campaigns).
pub fn campaign_backlog(pending: u64) {
    gauge!(CAMPAIGN_BACKLOG).set(pending as f64);
}

/// Sets the age of the JWKS keys in use.
pub fn jwks_key_age(age: Duration) {
    gauge!(JWKS_KEY_AGE).set(age.as_secs_f64());
}

/// A walk of the tracker ended (`finished`, `failed`, `lost_lease`).
pub fn tracker_walk(result: &'static str) {
    counter!(TRACKER_WALKS, "result" => result).increment(1);
}

/// The tracker recorded a change.
pub fn tracker_change(change: &'static str) {
    counter!(TRACKER_CHANGES, "change" => change).increment(1);
}

/// One webhook delivery attempt to endpoint `index` (`success`, `failure`, `given_up`).
pub fn webhook_delivery(index: usize, result: &'static str, elapsed: Duration) {
    let endpoint = index.to_string();
    counter!(WEBHOOK_DELIVERIES, "endpoint" => endpoint.clone(), "result" => result).increment(1);
    histogram!(WEBHOOK_DELIVERY_DURATION, "endpoint" => endpoint).record(elapsed.as_secs_f64());
}

/// The readiness states, as label values.
pub const READINESS_STATES: [&str; 3] = ["pending", "ready", "failed"];

/// Sets the readiness gauges: `ready` overall, and each `(check, state)` (a state of
/// [`READINESS_STATES`]).
pub fn readiness(ready: bool, checks: [(&'static str, &'static str); 3]) {
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
    for (check, state) in checks {
        for candidate in READINESS_STATES {
            let value = if candidate == state { 1.0 } else { 0.0 };
            gauge!(READINESS_CHECK, "check" => check, "state" => candidate).set(value);
        }
    }
}

/// The backlog of endpoint `index`.
pub fn webhook_backlog(index: usize, backlog: u64) {
    gauge!(WEBHOOK_BACKLOG, "endpoint" => index.to_string()).set(backlog as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("X-ada@example.com"), "other");
    }

    #[test]
    fn every_name_is_prefixed_and_carries_its_unit() {
        let counters = [
            HTTP_REQUESTS,
            GOOGLE_ATTEMPTS,
            GOOGLE_RETRIES,
            GOOGLE_BUDGET_WAITS,
            GOOGLE_BUDGET_REFUSALS,
            GOOGLE_BACKOFFS,
            BREAKER_TRANSITIONS,
            TOKEN_REFRESHES,
            RATE_LIMITED,
            AUDIT_WRITE_FAILURES,
            STORE_FAILURES,
            JWKS_REFRESHES,
            ELIGIBILITY_LOOKUPS,
        ];
        for name in counters {
            assert!(
                name.starts_with("gateway_") && name.ends_with("_total"),
                "{name}"
            );
        }
        for name in [
            HTTP_REQUEST_DURATION,
            GOOGLE_ATTEMPT_DURATION,
            GOOGLE_BUDGET_WAIT_DURATION,
            JWKS_KEY_AGE,
        ] {
            assert!(
                name.starts_with("gateway_") && name.ends_with("_seconds"),
                "{name}"
            );
        }
        for name in [BREAKER_STATE, ELIGIBILITY_ENTRIES, READY, READINESS_CHECK] {
            assert!(name.starts_with("gateway_"), "{name}");
        }
    }
}
