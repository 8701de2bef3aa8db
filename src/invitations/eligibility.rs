//! The eligibility cache: isInvitableUser answers per (customer, email), in moka.
//!
//! Eligible and not-eligible answers live for their own TTLs; the cache is bounded; concurrent
//! misses for one address share one upstream call (moka's entry API runs one loader and hands
//! its result to every waiter); errors are never cached; a send or cancel of an address
//! invalidates its entry. Per replica: replicas do not share it.

use crate::config::EligibilitySettings;
use crate::google::{CallContext, GoogleClient, UpstreamError};
use crate::invitations::email::Email;
use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::future::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One answer of Google.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// isInvitableUser's answer.
    pub eligible: bool,
    /// When Google gave it.
    pub checked_at: DateTime<Utc>,
}

/// A cached answer and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eligibility {
    /// The answer.
    pub checked: Checked,
    /// False only for the call that asked Google itself.
    pub cached: bool,
}

struct TtlByAnswer {
    eligible: Duration,
    not_eligible: Duration,
}

impl Expiry<(Arc<str>, String), Checked> for TtlByAnswer {
    fn expire_after_create(
        &self,
        _key: &(Arc<str>, String),
        value: &Checked,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.eligible {
            self.eligible
        } else {
            self.not_eligible
        })
    }
}

/// isInvitableUser answers, cached.
pub struct EligibilityCache {
    customer: Arc<str>,
    cache: Cache<(Arc<str>, String), Checked>,
}

impl EligibilityCache {
    /// An empty cache for `customer`.
    pub fn new(customer: &str, settings: &EligibilitySettings) -> Self {
        Self {
            customer: Arc::from(customer),
            cache: Cache::builder()
                .max_capacity(settings.capacity)
                .expire_after(TtlByAnswer {
                    eligible: settings.eligible_ttl,
                    not_eligible: settings.not_eligible_ttl,
                })
                .build(),
        }
    }

    fn key(&self, email: &Email) -> (Arc<str>, String) {
        (Arc::clone(&self.customer), email.identity())
    }

    /// The cached answer, or Google's (one call however many ask at once).
    pub async fn check(
        &self,
        google: &GoogleClient,
        email: &Email,
        ctx: &CallContext,
    ) -> Result<Eligibility, Arc<UpstreamError>> {
        let entry = self
            .cache
            .entry(self.key(email))
            .or_try_insert_with(async {
                let eligible = google.is_invitable(email.as_str(), ctx).await?;
                Ok::<_, UpstreamError>(Checked {
                    eligible,
                    checked_at: Utc::now(),
                })
            })
            .await?;
        let cached = !entry.is_fresh();
        crate::metrics::eligibility_lookup(cached);
        Ok(Eligibility {
            cached,
            checked: entry.into_value(),
        })
    }

    /// Forgets the answer for `email` (after a send or cancel changed it).
    pub async fn invalidate(&self, email: &Email) {
        self.cache.invalidate(&self.key(email)).await;
    }

    /// Entries held, after moka has applied the writes it still had pending (for the scrape;
    /// too slow for a request path).
    pub async fn settled_len(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}
