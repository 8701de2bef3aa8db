//! Injected faults and latency: the next n matching calls are delayed and/or fail.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use super::method::Method;
use super::wire::GoogleError;

/// Longest delay one rule may add; keeps a typo from hanging a test suite for hours.
const MAX_LATENCY_MS: u64 = 120_000;

/// Body of `POST /emulator/v1/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    /// Only calls of this method match; any method when absent.
    pub method: Option<Method>,
    /// HTTP status of the Google error to answer; only a delay when absent.
    pub status: Option<u16>,
    /// How many matching calls the rule applies to.
    pub count: u32,
    /// Delay before answering.
    pub latency_ms: Option<u64>,
    /// `Retry-After` and `RetryInfo` of the error.
    pub retry_after_secs: Option<u64>,
    /// The call takes effect first and only its answer is replaced (a lost response).
    pub after_apply: Option<bool>,
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
        if let Some(status) = request.status
            && !(400..=599).contains(&status)
        {
            return Err(GoogleError::invalid_argument(
                "status must be an HTTP error code (400-599).",
            ));
        }
        let delay = check_latency("latencyMs", request.latency_ms.unwrap_or(0))?;
        let fault = Fault {
            delay,
            error: request
                .status
                .map(|status| GoogleError::from_fault(status, request.retry_after_secs)),
            after_apply: request.after_apply.unwrap_or(false),
        };
        self.rules.push_back(Rule {
            method: request.method,
            remaining: request.count,
            fault,
        });
        Ok(())
    }

    /// Takes the first rule that matches `method`, if any, and uses up one of its calls.
    pub fn take(&mut self, method: Method) -> Fault {
        let Some(position) = self
            .rules
            .iter()
            .position(|rule| rule.method.is_none_or(|wanted| wanted == method))
        else {
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
