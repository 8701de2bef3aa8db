//! Injected faults and latency: the next n matching calls are delayed and/or fail.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use super::method::Method;
use super::wire::GoogleError;

/// Longest delay one rule may add; keeps a typo from hanging a test suite for hours.
const MAX_LATENCY_MS: u64 = 120_000;

/// Longest error reason a rule may choose (`google.rpc.ErrorInfo` allows at most 63 characters).
const MAX_REASON_CHARS: usize = 63;

/// Body of `POST /emulator/v1/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    /// Only calls of this method match; any method when absent.
    pub method: Option<Method>,
    /// HTTP status of the Google error to answer; only a delay when absent.
    pub status: Option<u16>,
    /// Google's error reason (`rateLimitExceeded`, ...) instead of the status's default one.
    pub reason: Option<String>,
    /// How many matching calls the rule applies to.
    pub count: u32,
    /// Delay before answering.
    pub latency_ms: Option<u64>,
    /// `Retry-After` and `RetryInfo` of the error.
    pub retry_after_secs: Option<u64>,
    /// The call takes effect first and only its answer is replaced (a lost response).
    pub after_apply: Option<bool>,
    /// Only every n-th matching call is affected (the others pass on to later rules), so a
    /// share of calls fails interleaved with successes; 1 when absent.
    pub every: Option<u32>,
}

/// What happens to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    /// Extra delay.
    pub delay: Duration,
    /// The error to answer, if any.
    pub error: Option<GoogleError>,
    /// Apply the call before answering with the error.
    pub after_apply: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    method: Option<Method>,
    remaining: u32,
    every: u32,
    seen: u32,
    fault: Fault,
}

/// The queue of fault rules, consumed in order.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: VecDeque<Rule>,
}

impl Faults {
    /// Validates and queues a rule.
    pub fn add(&mut self, request: FaultRequest) -> Result<(), GoogleError> {
        if request.count == 0 {
            return Err(GoogleError::invalid_argument("count must be at least 1."));
        }
        if request.every == Some(0) {
            return Err(GoogleError::invalid_argument("every must be at least 1."));
        }
        if let Some(status) = request.status
            && !(400..=599).contains(&status)
        {
            return Err(GoogleError::invalid_argument(
                "status must be an HTTP error code (400-599).",
            ));
        }
        if let Some(reason) = &request.reason {
            check_reason(reason)?;
            if request.status.is_none() {
                return Err(GoogleError::invalid_argument(
                    "reason needs a status: a rule without status only delays.",
                ));
            }
        }
        let delay = check_latency("latencyMs", request.latency_ms.unwrap_or(0))?;
        let fault = Fault {
            delay,
            error: request.status.map(|status| {
                GoogleError::from_fault(status, request.reason.as_deref(), request.retry_after_secs)
            }),
            after_apply: request.after_apply.unwrap_or(false),
        };
        self.rules.push_back(Rule {
            method: request.method,
            remaining: request.count,
            every: request.every.unwrap_or(1),
            seen: 0,
            fault,
        });
        Ok(())
    }

    /// Finds the first rule that matches `method` and whose turn it is (every n-th matching
    /// call), and uses up one of its calls.
    pub fn take(&mut self, method: Method) -> Fault {
        let Some(position) = self.rules.iter_mut().position(|rule| {
            if rule.method.is_some_and(|wanted| wanted != method) {
                return false;
            }
            rule.seen = rule.seen.wrapping_add(1);
            rule.seen % rule.every == 0
        }) else {
            return Fault::default();
        };
        let Some(rule) = self.rules.get_mut(position) else {
            return Fault::default();
        };
        rule.remaining = rule.remaining.saturating_sub(1);
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.rules.remove(position);
        }
        fault
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

/// A reason is a short word of printable ASCII: no spaces, no control characters.
fn check_reason(reason: &str) -> Result<(), GoogleError> {
    if reason.is_empty()
        || reason.len() > MAX_REASON_CHARS
        || !reason.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(GoogleError::invalid_argument(format!(
            "reason must be 1 to {MAX_REASON_CHARS} printable ASCII characters without spaces."
        )));
    }
    Ok(())
}

/// Validates a delay given in milliseconds by the control field `field`.
pub fn check_latency(field: &str, ms: u64) -> Result<Duration, GoogleError> {
    if ms > MAX_LATENCY_MS {
        return Err(GoogleError::invalid_argument(format!(
            "{field} must be at most {MAX_LATENCY_MS}."
        )));
    }
    Ok(Duration::from_millis(ms))
}

impl Fault {
    /// After the call took effect: the injected error if the answer is to be lost, else the answer.
    pub fn finish<T>(self, answer: T) -> Result<T, GoogleError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(answer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(status: u16, every: Option<u32>) -> FaultRequest {
        FaultRequest {
            method: None,
            status: Some(status),
            reason: None,
            count: 100,
            latency_ms: None,
            retry_after_secs: None,
            after_apply: None,
            every,
        }
    }

    #[test]
    fn every_nth_call_fails_and_the_others_pass_on_to_later_rules() {
        let mut faults = Faults::default();
        faults.add(rule(503, Some(3))).unwrap();
        faults.add(rule(429, Some(2))).unwrap();
        let codes: Vec<Option<u16>> = (0..6)
            .map(|_| faults.take(Method::Get).error.map(|e| e.code))
            .collect();
        // 503 on its 3rd and 6th calls; 429 on every 2nd call the 503 rule passed on.
        assert_eq!(
            codes,
            vec![None, Some(429), Some(503), None, Some(429), Some(503)]
        );
    }
}
