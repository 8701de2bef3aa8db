//! The application state: built once at startup, shared by every worker. No global statics.

use crate::config::Settings;
use crate::google::{self, GoogleClient};
use crate::readiness::Readiness;
use std::sync::Arc;

/// Everything the handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
    /// The client for Google's API.
    pub google: Arc<GoogleClient>,
}

impl AppState {
    /// Builds the state from settings: loads the credentials and starts obtaining a token.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let readiness = Arc::new(Readiness::default());
        let google =
            google::connect(&settings.google, &settings.customer, Arc::clone(&readiness)).await?;
        Ok(Self {
            settings: Arc::new(settings),
            readiness,
            google,
        })
    }
}
