//! The application state: built once at startup, shared by every worker. No global statics.

use crate::audit::AuditLog;
use crate::auth::{Authenticator, CallerLimits};
use crate::campaigns::Campaigns;
use crate::config::Settings;
use crate::google;
use crate::invitations::Invitations;
use crate::invitations::budget::StoreBudget;
use crate::privacy::EmailHasher;
use crate::readiness::Readiness;
use crate::store::{Clock as StoreClock, Gate, Store};
use crate::tracking::Tracking;
use metrics_exporter_prometheus::PrometheusHandle;
use rand::RngCore;
use secrecy::SecretString;
use std::sync::Arc;

/// Everything the handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// The opened store, for startup, shutdown and tests: the layers reach it through the
    /// gate only, and handlers never (tests/layering.rs).
    pub store: Store,
    /// The Google client, for startup checks and tests: handlers go through the domain.
    pub google: Arc<google::GoogleClient>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
    /// Verifies caller JWTs.
    pub auth: Arc<Authenticator>,
    /// Per-caller request rate (the daily mail budget is in the store, through the domain).
    pub limits: Arc<CallerLimits>,
    /// The audit trail.
    pub audit: Arc<AuditLog>,
    /// Replaces emails in logs with a keyed hash.
    pub emails: EmailHasher,
    /// The domain: eligibility, lookup, listing, send and cancel.
    pub invitations: Arc<Invitations>,
    /// Tracking and events: the tracker, the funnel, the history, the feed, the webhooks.
    pub tracking: Arc<Tracking>,
    /// Campaigns: durable bulk invitations, and the worker every replica runs.
    pub campaigns: Arc<Campaigns>,
    /// Renders the process's metrics for `/metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// Builds the state from settings: opens and migrates the store (failing when it cannot be
    /// reached or its schema is newer than this binary), loads the caller keys (failing on an
    /// unreadable or malformed PEM file) and the Google credentials, and starts obtaining a
    /// token.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_store_clock(settings, StoreClock::system()).await
    }

    /// [`AppState::build`] with the store reading `clock` (tests move a manual one).
    pub async fn build_with_store_clock(
        settings: Settings,
        clock: StoreClock,
    ) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.store, clock).await?;
        let mut settings = settings;
        if settings.log_hash_key.is_none() {
            // Log tags and event subjects must agree across replicas and restarts.
            settings.log_hash_key = Some(shared_hash_key(&store).await?);
        }
        let metrics = crate::metrics::install()?;
        let readiness = Arc::new(Readiness::default());
        let auth = Authenticator::new(&settings.jwt)?;
        let limits = CallerLimits::new(&settings.limits);
        let audit = Arc::new(AuditLog::new(&settings.audit));
        // The one gate every layer reaches the store through, reporting to readiness.
        let gate = Arc::new(Gate::new(store.clone(), Arc::clone(&readiness)));
        let budget = Arc::new(StoreBudget::new(Arc::clone(&gate)));
        let google = google::connect(
            &settings.google,
            &settings.customer,
            Arc::clone(&readiness),
            budget,
        )
        .await?;
        let invitations = Invitations::new(
            Arc::clone(&google),
            Arc::clone(&gate),
            &settings,
            &crate::tracking::rules::RULES,
        );
        // One hasher per process: log tags and event subjects agree.
        let emails = invitations.emails().clone();
        let invitations = Arc::new(invitations);
        let tracking = Arc::new(Tracking::new(
            Arc::clone(&invitations),
            Arc::clone(&gate),
            &settings,
        )?);
        Ok(Self {
            campaigns: Arc::new(Campaigns::new(
                Arc::clone(&invitations),
                gate,
                Arc::clone(&audit),
                &settings,
            )),
            store,
            google,
            invitations,
            tracking,
            settings: Arc::new(settings),
            readiness,
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            audit,
            emails,
            metrics,
        })
    }
}

/// The email hash key every replica shares when none is configured: a random one, created in
/// the store by the first replica that starts.
async fn shared_hash_key(store: &Store) -> anyhow::Result<SecretString> {
    let mut candidate = [0u8; 32];
    rand::rng().fill_bytes(&mut candidate);
    let candidate: String = candidate.iter().map(|b| format!("{b:02x}")).collect();
    let key = store
        .shared_secret("log_hash_key", &candidate)
        .await
        .map_err(|err| anyhow::anyhow!("reading the shared email hash key: {err}"))?;
    Ok(SecretString::from(key))
}
