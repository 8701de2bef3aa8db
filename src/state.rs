//! The application state: built once at startup, shared by every worker. No global statics.

use crate::config::Settings;
use crate::readiness::Readiness;
use std::sync::Arc;

/// Everything the handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
}

impl AppState {
    /// Builds the state from settings.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
            readiness: Arc::new(Readiness::default()),
        }
    }
}
