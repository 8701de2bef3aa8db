//! The application state: built once at startup, shared by every worker. No global statics.

use crate::audit::AuditLog;
use crate::auth::{Authenticator, CallerLimits};
use crate::config::Settings;
use crate::google;
use crate::invitations::Invitations;
use crate::invitations::budget::StoreBudget;
use crate::privacy::EmailHasher;
use crate::readiness::Readiness;
use crate::store::{Clock, Store};
use metrics_exporter_prometheus::PrometheusHandle;
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
    /// The domain: eligibility, lookup, listing, send and cancel.
    pub invitations: Arc<Invitations>,
    /// Renders the process's metrics for `/metrics`.
    pub metrics: PrometheusHandle,
    /// The durable state shared by every replica (for now: the Google call budget).
    pub store: Store,
}

impl AppState {
    /// Builds the state from settings: loads the caller keys (failing on an unreadable or
    /// malformed PEM file) and the Google credentials, and starts obtaining a token.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = crate::metrics::install()?;
        let readiness = Arc::new(Readiness::default());
        let auth = Authenticator::new(&settings.jwt)?;
        let limits = CallerLimits::new(&settings.limits);
        let audit = AuditLog::new(&settings.audit);
        let emails = EmailHasher::from_settings(settings.log_hash_key.as_ref());
        let store = Store::connect(&settings.store, Clock::system()).await?;
        let budget = Arc::new(StoreBudget::new(store.clone()));
        let google = google::connect(
            &settings.google,
            &settings.customer,
            Arc::clone(&readiness),
            budget,
        )
        .await?;
        let invitations = Invitations::new(
            Arc::clone(&google),
            &settings.customer,
            settings.allowed_domains.clone(),
            &settings.invitations,
        );
        Ok(Self {
            invitations: Arc::new(invitations),
            settings: Arc::new(settings),
            readiness,
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            audit: Arc::new(audit),
            emails,
            metrics,
            store,
        })
    }
}
