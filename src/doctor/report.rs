//! What `doctor` found: one line per check, PASS/WARN/FAIL/SKIP, and the fix of each failure.

use serde::Serialize;

/// The checks, in the order `doctor` runs them (the order of Google's setup guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The credential settings are complete.
    Settings,
    /// The key file: readable, a service-account key.
    KeyFile,
    /// The key file's age.
    KeyAge,
    /// Keyless mode: IAM signJwt signs for the signer with the workload's own identity.
    SignJwt,
    /// The JWT-bearer exchange for the delegated admin.
    TokenExchange,
    /// This machine's clock against Google's `Date`.
    Clock,
    /// The Cloud Identity API is enabled for the project.
    ApiEnabled,
    /// The customer id answers a list of one page.
    Customer,
    /// isInvitableUser answers for a probe address.
    IsInvitableUser,
    /// The token may send and cancel (never tried).
    WriteScope,
}

impl CheckName {
    /// The label of a text line.
    pub fn label(self) -> &'static str {
        match self {
            CheckName::Settings => "settings",
            CheckName::KeyFile => "key file",
            CheckName::KeyAge => "key age",
            CheckName::SignJwt => "IAM signJwt",
            CheckName::TokenExchange => "token exchange",
            CheckName::Clock => "clock",
            CheckName::ApiEnabled => "Cloud Identity API",
            CheckName::Customer => "customer",
            CheckName::IsInvitableUser => "isInvitableUser",
            CheckName::WriteScope => "write scope",
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckStatus {
    /// Fine.
    Pass,
    /// Works, but should be looked at.
    Warn,
    /// Broken: the gateway cannot work until fixed.
    Fail,
    /// Not checked because an earlier check failed.
    Skip,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "SKIP",
        }
    }
}

/// A setup mistake `doctor` recognised (the names the emulator plays them under).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The key file is missing, unreadable or not a service-account key.
    KeyInvalid,
    /// No domain-wide delegation for the client id.
    DelegationMissing,
    /// Delegation without the read-write scope.
    ScopeMissing,
    /// The delegated admin does not exist.
    AdminUnknown,
    /// The Cloud Identity API is disabled for the project.
    ApiDisabled,
    /// The key (or its service account) is disabled.
    KeyDisabled,
    /// The key was deleted, or belongs to another service account.
    KeyDeleted,
    /// This machine's clock is off.
    ClockSkew,
    /// The workload may not sign for the signer (Service Account Token Creator missing).
    SignerDenied,
    /// The customer id is wrong or the admin is not its admin.
    CustomerRefused,
}

/// One checked step.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Which step.
    pub name: CheckName,
    /// Its outcome.
    pub status: CheckStatus,
    /// What was seen (never a secret).
    pub detail: String,
    /// The mistake recognised, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// The one action that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every check of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `true` when no check failed.
    pub ok: bool,
    /// Which credential path was checked: `key_file`, `keyless` or `none`.
    pub mode: &'static str,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// An empty report for a credential mode.
    pub fn new(mode: &'static str) -> Report {
        Report {
            ok: true,
            mode,
            checks: Vec::new(),
        }
    }

    /// Records a check.
    pub fn add(&mut self, name: CheckName, status: CheckStatus, detail: impl Into<String>) {
        self.ok &= status != CheckStatus::Fail;
        self.checks.push(Check {
            name,
            status,
            detail: detail.into(),
            problem: None,
            fix: None,
        });
    }

    /// Records a passed check.
    pub fn pass(&mut self, name: CheckName, detail: impl Into<String>) {
        self.add(name, CheckStatus::Pass, detail);
    }

    /// Records a check skipped because of an earlier failure.
    pub fn skip(&mut self, name: CheckName, why: &str) {
        self.add(name, CheckStatus::Skip, why);
    }

    /// Records a failure (or warning) with its fix and, when recognised, the mistake.
    pub fn flag(
        &mut self,
        name: CheckName,
        status: CheckStatus,
        detail: impl Into<String>,
        problem: Option<Problem>,
        fix: impl Into<String>,
    ) {
        self.add(name, status, detail);
        if let Some(check) = self.checks.last_mut() {
            check.problem = problem;
            check.fix = Some(fix.into());
        }
    }

    /// Whether a check of this name failed.
    pub fn failed(&self, name: CheckName) -> bool {
        self.checks
            .iter()
            .any(|check| check.name == name && check.status == CheckStatus::Fail)
    }

    /// One JSON document (for CI).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{\"ok\": false}".into())
    }

    /// Aligned lines: status, label, detail; the fix and the problem under a failure.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for check in &self.checks {
            text.push_str(&format!(
                "{:<5} {:<19} {}\n",
                check.status.as_str(),
                check.name.label(),
                check.detail
            ));
            if let Some(problem) = check.problem {
                let name = serde_json::to_value(problem).unwrap_or_default();
                text.push_str(&format!(
                    "{:25} problem: {}\n",
                    "",
                    name.as_str().unwrap_or_default()
                ));
            }
            if let Some(fix) = &check.fix {
                text.push_str(&format!("{:25} fix: {fix}\n", ""));
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|check| check.status == CheckStatus::Fail)
            .count();
        text.push_str(&match failed {
            0 => "Google's setup is ready for the gateway.\n".to_string(),
            n => format!("{n} check(s) failed: fix the first one, then run doctor again.\n"),
        });
        text
    }
}
