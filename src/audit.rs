//! The audit trail: who did what to whom, one record per send/cancel item and per denied
//! request.
//!
//! Records go to the `audit` tracing target (one event per record, fields as below; route
//! `target="audit"` to its own log stream) and, when `GATEWAY_AUDIT_FILE` is set, to an
//! append-only JSON-lines file. This is the one place the real email belongs. Each record is
//! written before the answer leaves. Nothing is changed at Google unless the file takes
//! records: a mutation request calls [`AuditLog::check_writable`] first (`503
//! audit_unavailable`), and so does every item right before its send or cancel (the item is
//! `failed` with `audit_unavailable`), so once a write fails the rest of the batch changes
//! nothing. Only the items already at Google when the disk filled can miss the file; their
//! records still reach the `audit` log target. After a failure the file is tried again every
//! few seconds with a real write, a `resumed` record saying how many records it missed; only a
//! write that succeeds lets mutations through again.

mod trail;

pub use trail::AuditTrail;

use crate::auth::Caller;
use crate::config::AuditSettings;
use crate::invitations::mutation::Done;
use crate::invitations::settle::Settled;
use crate::vocabulary::Action;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a failed write, mutations are refused this long before the file is tried again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// An invitation send for one email.
    Send,
    /// An invitation cancel for one email.
    Cancel,
    /// A request refused before it reached an operation (401, 403, 429).
    Denied,
    /// The file takes records again after failed writes; `detail` says how many it missed.
    Resumed,
}

/// One audit record; serialised as one JSON object (absent values are `null`).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The request id (also in `x-request-id`).
    pub request_id: String,
    /// The caller's verified `iss` (absent when the caller was not authenticated).
    pub caller_iss: Option<String>,
    /// The caller's verified `sub` (absent when the caller was not authenticated).
    pub caller_sub: Option<String>,
    /// What was done.
    pub action: AuditAction,
    /// The route template (`POST /v1/invitations/send`).
    pub route: Option<String>,
    /// The target email, as sent to Google.
    pub email: Option<String>,
    /// The outcome (`sent`, `cancelled`, ..., or the error code of a denial).
    pub outcome: String,
    /// Google's HTTP status, when Google was called.
    pub google_status: Option<u16>,
    /// The request's `Idempotency-Key`, when given.
    pub idempotency_key: Option<String>,
    /// Why, for denials (e.g. `expired`, `missing scope invitations.send`).
    pub detail: Option<String>,
    /// The campaign whose mail this is (absent for a request's own items).
    pub campaign_id: Option<String>,
}

impl std::fmt::Debug for AuditRecord {
    // A record that strays into an application log must not carry the email there.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditRecord")
            .field("request_id", &self.request_id)
            .field("action", &self.action)
            .field("outcome", &self.outcome)
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl AuditRecord {
    /// A record stamped now, with the fields every record has.
    pub fn new(
        action: AuditAction,
        request_id: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            request_id: request_id.into(),
            caller_iss: None,
            caller_sub: None,
            action,
            route: None,
            email: None,
            outcome: outcome.into(),
            google_status: None,
            idempotency_key: None,
            detail: None,
            campaign_id: None,
        }
    }

    /// The record of one send or cancel item that `done` describes: its outcome, the address,
    /// Google's status, and why (as the store's record says it).
    pub fn of_item(action: Action, request_id: impl Into<String>, done: &Done) -> Self {
        let result = &done.result;
        let action = match action {
            Action::Send => AuditAction::Send,
            Action::Cancel => AuditAction::Cancel,
        };
        let mut record =
            AuditRecord::new(action, request_id, result.outcome.as_str()).email(&result.email);
        record.google_status = done.google_status;
        record.detail = done.reason();
        record
    }

    /// The record of an earlier item's outcome settled after the fact (its first record said
    /// `unknown`, or none could be written): the file is append-only, so this is a record of
    /// its own, with the item's request id, caller and campaign.
    pub fn of_settled(settled: &Settled) -> Self {
        let action = match settled.action {
            Action::Send => AuditAction::Send,
            Action::Cancel => AuditAction::Cancel,
        };
        let mut record = AuditRecord::new(action, &settled.request_id, settled.outcome.as_str())
            .email(&settled.email)
            .caller_id(&settled.caller.iss, &settled.caller.sub)
            .detail(settled.detail);
        record.campaign_id.clone_from(&settled.campaign_id);
        record
    }

    /// Sets the caller by its verified `iss` and `sub` (a campaign's creator).
    pub fn caller_id(mut self, iss: impl Into<String>, sub: impl Into<String>) -> Self {
        self.caller_iss = Some(iss.into());
        self.caller_sub = Some(sub.into());
        self
    }

    /// Sets the campaign the record belongs to.
    pub fn campaign(mut self, campaign_id: impl Into<String>) -> Self {
        self.campaign_id = Some(campaign_id.into());
        self
    }

    /// Sets the caller.
    pub fn caller(mut self, caller: &Caller) -> Self {
        self.caller_iss = Some(caller.id.iss.clone());
        self.caller_sub = Some(caller.id.sub.clone());
        self
    }

    /// Sets the target email.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets Google's HTTP status.
    pub fn google_status(mut self, status: u16) -> Self {
        self.google_status = Some(status);
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the route template.
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// Sets the reason of a denial.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The audit trail cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("audit file {path}: {reason}")]
pub struct AuditError {
    path: PathBuf,
    reason: String,
}

/// The audit sink: the `audit` log target, plus the optional file.
#[derive(Debug)]
pub struct AuditLog {
    file: Option<FileSink>,
}

#[derive(Debug)]
struct FileSink {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    file: Option<File>,
    failed_at: Option<Instant>,
    /// Records the file could not take since its last good write.
    missed: u64,
}

impl AuditLog {
    /// The sink the settings describe. A file that cannot be opened now is not fatal here (the
    /// CLI checks its directory at start); it makes [`check_writable`](Self::check_writable) fail.
    pub fn new(settings: &AuditSettings) -> Self {
        let file = settings.file.as_ref().map(|path| {
            crate::privacy::warn_if_readable_by_others(path, "the audit file");
            let sink = FileSink {
                path: path.clone(),
                state: Mutex::new(FileState::default()),
            };
            if let Err(err) = sink.ensure_open() {
                tracing::error!(error = %err, "audit file unavailable; mutations will be refused");
            }
            sink
        });
        Self { file }
    }

    /// Writes `record` to every sink; `Err` when the file sink failed (the log target always
    /// receives it).
    pub fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        tracing::info!(
            target: "audit",
            time = %record.time,
            request_id = %record.request_id,
            caller_iss = record.caller_iss.as_deref(),
            caller_sub = record.caller_sub.as_deref(),
            action = ?record.action,
            route = record.route.as_deref(),
            email = record.email.as_deref(),
            outcome = %record.outcome,
            google_status = record.google_status,
            idempotency_key = record.idempotency_key.as_deref(),
            detail = record.detail.as_deref(),
            campaign_id = record.campaign_id.as_deref(),
            "audit"
        );
        match &self.file {
            Some(sink) => sink
                .write(record)
                .inspect_err(|_| crate::metrics::audit_write_failure()),
            None => Ok(()),
        }
    }

    /// May a mutation proceed? Yes while the file (if any) is open and its last write
    /// succeeded. After a failure: no for a few seconds, then yes only if a `resumed` record
    /// can be written (a file that opens may still refuse writes, as a full disk does).
    pub fn check_writable(&self) -> Result<(), AuditError> {
        let Some(sink) = &self.file else {
            return Ok(());
        };
        let mut state = sink.lock();
        let Some(failed_at) = state.failed_at else {
            return sink.open_into(&mut state);
        };
        if failed_at.elapsed() < RETRY_AFTER_FAILURE {
            return Err(sink.error("a recent write failed"));
        }
        let resumed = AuditRecord::new(AuditAction::Resumed, "", "resumed").detail(format!(
            "{} audit records could not be written to this file before this one; they went to \
             the audit log target only",
            state.missed
        ));
        sink.write_locked(&mut state, &resumed)
    }

    /// The file sink's path, when configured.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|sink| sink.path.as_path())
    }
}

impl FileSink {
    fn lock(&self) -> std::sync::MutexGuard<'_, FileState> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> AuditError {
        AuditError {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn ensure_open(&self) -> Result<(), AuditError> {
        let mut state = self.lock();
        self.open_into(&mut state)
    }

    fn open_into(&self, state: &mut FileState) -> Result<(), AuditError> {
        if state.file.is_some() {
            return Ok(());
        }
        // O_APPEND: every write lands at the end, even with other writers on the file.
        match crate::privacy::private_file()
            .append(true)
            .create(true)
            .open(&self.path)
        {
            Ok(file) => {
                state.file = Some(file);
                Ok(())
            }
            Err(err) => {
                state.failed_at = Some(Instant::now());
                Err(self.error(format!("cannot open: {err}")))
            }
        }
    }

    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut state = self.lock();
        self.write_locked(&mut state, record)
    }

    fn write_locked(&self, state: &mut FileState, record: &AuditRecord) -> Result<(), AuditError> {
        let result = self.append(state, record);
        match &result {
            Ok(()) => {
                state.failed_at = None;
                state.missed = 0;
            }
            Err(_) => {
                // Reopen next time: the file may have been rotated away or the disk freed.
                state.file = None;
                state.failed_at = Some(Instant::now());
                state.missed += 1;
            }
        }
        result
    }

    fn append(&self, state: &mut FileState, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line =
            serde_json::to_vec(record).map_err(|e| self.error(format!("cannot serialise: {e}")))?;
        line.push(b'\n');
        self.open_into(state)?;
        let Some(file) = state.file.as_mut() else {
            return Err(self.error("not open"));
        };
        // One write per line, so concurrent records never interleave; flushed to the OS at once.
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|err| self.error(format!("cannot write: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ScopeSet;
    use crate::error::{ApiError, ErrorCode};

    /// The audit file's text, and each of its lines as JSON.
    fn json_lines(path: &std::path::Path) -> (String, Vec<serde_json::Value>) {
        let text = std::fs::read_to_string(path).unwrap();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (text, lines)
    }

    fn full_record() -> AuditRecord {
        let caller = Caller {
            id: crate::store::Caller::new("https://idp.example.com", "hr-system"),
            scopes: ScopeSet::default(),
        };
        AuditRecord::new(AuditAction::Send, "req-1", "sent")
            .caller(&caller)
            .route("POST /v1/invitations/send")
            .email("ada@example.com")
            .google_status(200)
            .idempotency_key("key-1")
            .detail("first mail")
    }

    #[test]
    fn records_are_appended_to_the_file_as_json_lines_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let log = AuditLog::new(&AuditSettings {
            file: Some(path.clone()),
        });
        log.check_writable().unwrap();
        log.record(&full_record()).unwrap();
        log.record(&AuditRecord::new(
            AuditAction::Denied,
            "req-2",
            "invalid_token",
        ))
        .unwrap();

        let (text, lines) = json_lines(&path);
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["earlier"], true, "existing lines are kept");
        let sent = &lines[1];
        assert_eq!(sent["request_id"], "req-1");
        assert_eq!(sent["caller_iss"], "https://idp.example.com");
        assert_eq!(sent["caller_sub"], "hr-system");
        assert_eq!(sent["action"], "send");
        assert_eq!(sent["route"], "POST /v1/invitations/send");
        assert_eq!(sent["email"], "ada@example.com");
        assert_eq!(sent["outcome"], "sent");
        assert_eq!(sent["google_status"], 200);
        assert_eq!(sent["idempotency_key"], "key-1");
        assert_eq!(sent["detail"], "first mail");
        let time = sent["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        let denied = &lines[2];
        assert_eq!(denied["action"], "denied");
        assert!(denied["caller_sub"].is_null() && denied["email"].is_null());
    }

    #[test]
    fn a_file_in_a_missing_directory_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("audit.jsonl");
        let log = AuditLog::new(&AuditSettings { file: Some(path) });
        assert!(log.check_writable().is_err());
        assert!(log.record(&full_record()).is_err());
        let api: ApiError = log.check_writable().unwrap_err().into();
        assert_eq!(api.code(), ErrorCode::AuditUnavailable);
    }

    #[test]
    fn a_failed_write_refuses_mutations_for_a_while() {
        // /dev/full opens fine and fails every write with ENOSPC.
        let log = AuditLog::new(&AuditSettings {
            file: Some("/dev/full".into()),
        });
        assert!(log.check_writable().is_ok());
        assert!(log.record(&full_record()).is_err());
        assert!(log.check_writable().is_err());
    }

    #[test]
    fn after_the_pause_only_a_write_that_succeeds_lets_mutations_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(&AuditSettings {
            file: Some(path.clone()),
        });
        let sink = log.file.as_ref().unwrap();
        let long_ago = Instant::now() - RETRY_AFTER_FAILURE * 2;
        {
            // A sink that failed twice, long enough ago, on a file that now opens but still
            // refuses writes (a read-only handle stands in for a full disk).
            let mut state = sink.lock();
            state.file = Some(File::open("/dev/null").unwrap());
            state.failed_at = Some(long_ago);
            state.missed = 2;
        }
        assert!(log.check_writable().is_err(), "the probe write failed");
        assert_eq!(sink.lock().missed, 3);

        // The disk is freed: the next probe (after the pause) writes, and says what was missed.
        {
            let mut state = sink.lock();
            state.file = None;
            state.failed_at = Some(long_ago);
        }
        assert!(log.check_writable().is_ok());
        assert!(log.check_writable().is_ok(), "no probe once it works");
        let (text, lines) = json_lines(&path);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["action"], "resumed");
        assert!(
            lines[0]["detail"]
                .as_str()
                .unwrap()
                .starts_with("3 audit records"),
            "{text}"
        );
    }

    #[test]
    fn debug_output_never_shows_the_email() {
        let debug = format!("{:?}", full_record());
        assert!(!debug.contains("ada@"), "{debug}");
    }

    #[test]
    fn without_a_file_everything_is_writable() {
        let log = AuditLog::new(&AuditSettings::default());
        assert!(log.check_writable().is_ok());
        assert!(log.record(&full_record()).is_ok());
    }
}
