//! Injected faults and latency: the next n matching calls are delayed and/or fail.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use super::method::Method;
use super::wire::{GoogleError, canonical_name, canonical_names, canonical_status};

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
    /// The Google error to answer: a canonical status name (`"DEADLINE_EXCEEDED"`, HTTP code
    /// derived) or an HTTP code that has one (`504`, status derived); only a delay when absent.
    pub status: Option<FaultStatus>,
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

/// The `status` of a fault rule, as the caller wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FaultStatus {
    /// An HTTP code.
    Code(u16),
    /// A canonical status name.
    Name(String),
}

impl FaultStatus {
    /// The canonical status this names, or a message saying why there is none: every Google
    /// error pairs its HTTP code with a canonical status, so a fault must too.
    fn canonical(&self) -> Result<&'static str, GoogleError> {
        let found = match self {
            FaultStatus::Code(code) => canonical_status(*code),
            FaultStatus::Name(name) => canonical_name(name),
        };
        found.ok_or_else(|| {
            let given = match self {
                FaultStatus::Code(code) => format!("HTTP code {code}"),
                FaultStatus::Name(name) => format!("\"{name}\""),
            };
            let names: Vec<&str> = canonical_names().collect();
            GoogleError::invalid_argument(format!(
                "status {given} has no canonical Google status. Use a canonical status name \
                 ({}) or an HTTP code that has one (400, 401, 403, 404, 409, 429, 499, 500, 501, \
                 503, 504); e.g. a timeout is \"DEADLINE_EXCEEDED\" (504), not 408.",
                names.join(", ")
            ))
        })
    }
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
        let status = request
            .status
            .as_ref()
            .map(FaultStatus::canonical)
            .transpose()?;
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
            error: status.map(|status| {
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
    use crate::emulator::wire::canonical_code;

    fn rule(status: u16, every: Option<u32>) -> FaultRequest {
        FaultRequest {
            method: None,
            status: Some(FaultStatus::Code(status)),
            reason: None,
            count: 100,
            latency_ms: None,
            retry_after_secs: None,
            after_apply: None,
            every,
        }
    }

    #[test]
    fn every_canonical_status_pairs_with_its_code_both_ways() {
        for name in canonical_names() {
            let code = canonical_code(name).unwrap();
            let status = FaultStatus::Name(name.into()).canonical().unwrap();
            assert_eq!(GoogleError::from_fault(status, None, None).code, code);
            let by_code = FaultStatus::Code(code).canonical().unwrap();
            assert_eq!(canonical_code(by_code), Some(code), "{name}");
        }
        for code in [200, 405, 408, 413, 502, 599] {
            assert!(FaultStatus::Code(code).canonical().is_err(), "{code}");
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
