//! The one way into the store once the gateway runs: every layer (the domain, campaigns,
//! tracking, the Google budget) calls the store through a shared [`Gate`], built at startup
//! over the opened [`Store`]. The gate reports each call's result to readiness and counts each
//! failure once, so `/readyz` learns of an outage from the first call that meets it, whichever
//! layer made it, and no caller has to remember to report (or can report twice).

use super::{Clock, Store, StoreError, StoreSettings};
use crate::readiness::{CheckState, Readiness};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often [`Gate::watch`] pings the store for `/readyz`.
pub const PING_EVERY: Duration = Duration::from_secs(5);

/// The store as every layer reaches it: each call observed for readiness and the metrics.
#[derive(Debug)]
pub struct Gate {
    store: Store,
    readiness: Arc<Readiness>,
}

impl Gate {
    /// The gate over `store`, which answered [`Store::connect`] (so it is ready).
    pub fn new(store: Store, readiness: Arc<Readiness>) -> Self {
        readiness.store.set(CheckState::Ready);
        Self { store, readiness }
    }

    /// Runs one store call, `work` on the store, and reports its result: a success marks the
    /// store ready; a failure marks it failed, is logged and counted. A value the database
    /// refused (see [`StoreError::is_refused_value`]) says nothing about its health: it is
    /// counted and logged by its SQLSTATE only (the message may echo the value). The error is
    /// answered as it is, already reported: callers never report it again.
    pub async fn call<'a, T, F>(
        &'a self,
        work: impl FnOnce(&'a Store) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let result = work(&self.store).await;
        match &result {
            Ok(_) => self.readiness.store.set(CheckState::Ready),
            Err(err) if err.is_refused_value() => {
                let sqlstate = err.sqlstate().unwrap_or_default();
                tracing::warn!(%sqlstate, "the store refused a value");
                crate::metrics::store_failure("refused_value");
            }
            Err(err) => {
                tracing::error!(error = %err, "store call failed");
                crate::metrics::store_failure("unavailable");
                self.readiness.store.set(CheckState::Failed);
            }
        }
        result
    }

    /// The clock every lease, expiry and refill is computed from.
    pub fn clock(&self) -> &Clock {
        self.store.clock()
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StoreSettings {
        self.store.settings()
    }

    /// True while the last ping or call failed.
    pub fn is_down(&self) -> bool {
        self.readiness.store.get() == CheckState::Failed
    }

    /// Pings the store every [`PING_EVERY`], for `/readyz`; runs until dropped.
    pub async fn watch(&self) {
        loop {
            let _ = self.call(Store::ping).await;
            tokio::time::sleep(PING_EVERY).await;
        }
    }
}
