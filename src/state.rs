//! The application state: built once at startup, shared by every worker. No global statics.

use crate::audit::AuditLog;
use crate::auth::{Authenticator, CallerLimits};
use crate::config::Settings;
use crate::privacy::EmailHasher;
use crate::readiness::Readiness;
use std::sync::Arc;

/// Everything the handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
    /// Verifies caller JWTs.
    pub auth: Arc<Authenticator>,
    /// Per-caller request rate and daily mail budget.
    pub limits: Arc<CallerLimits>,
    /// The audit trail.
    pub audit: Arc<AuditLog>,
    /// Replaces emails in logs with a keyed hash.
    pub emails: EmailHasher,
}

impl AppState {
    /// Builds the state from settings; fails when a key source cannot be loaded (an unreadable
    /// or malformed PEM file).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let auth = Authenticator::new(&settings.jwt)?;
        let limits = CallerLimits::new(&settings.limits);
        let audit = AuditLog::new(&settings.audit);
        let emails = EmailHasher::from_settings(settings.log_hash_key.as_ref());
        Ok(Self {
            settings: Arc::new(settings),
            readiness: Arc::new(Readiness::default()),
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            audit: Arc::new(audit),
            emails,
        })
    }
}
