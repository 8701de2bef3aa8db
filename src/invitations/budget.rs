//! The project's Google call budget, kept in the store so that every replica shares it: the
//! transport's [`CallBudget`] on top of
//! [`crate::store::Store::take_google_slot`] and [`crate::store::Store::google_backoff`].
//!
//! While the store cannot be reached, reads must go on (checks, lookups and lists need only
//! Google; every mutation is refused anyway, because it needs its claim in the store). So the
//! budget then falls back to a bucket of this replica's own, of the same size: an outage can
//! let several replicas spend a minute's worth each, and Google's 429, should it come, still
//! backs this replica off.

use crate::google::budget::{BudgetFuture, BudgetRefusal, CallBudget, CallKind};
use crate::store::{Gate, GoogleSlot, SlotKind};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The cluster-wide Google budget: one window of granted calls in the store for every replica.
#[derive(Clone)]
pub struct StoreBudget {
    store: Arc<Gate>,
    /// This replica's own bucket, used only while the store cannot be reached.
    fallback: Arc<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for StoreBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBudget").finish_non_exhaustive()
    }
}

impl StoreBudget {
    /// The budget kept in the store behind `store` (its size and background share are the
    /// store's settings).
    pub fn new(store: Arc<Gate>) -> Self {
        let per_minute =
            NonZeroU32::new(store.settings().google_per_minute).unwrap_or(NonZeroU32::MIN);
        let fallback = Arc::new(RateLimiter::direct(Quota::per_minute(per_minute)));
        Self { store, fallback }
    }

    /// A slot from this replica's own bucket, within `deadline` (the store is unreachable).
    async fn take_locally(&self, kind: CallKind, deadline: Instant) -> Result<(), BudgetRefusal> {
        loop {
            match self.fallback.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    if Instant::now() + wait > deadline {
                        crate::metrics::google_budget_refusal(kind.as_str(), "exhausted");
                        return Err(BudgetRefusal::Exhausted { retry_after: wait });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn take(&self, kind: CallKind, deadline: Instant) -> Result<(), BudgetRefusal> {
        let clock = self.store.clock();
        // The deadline is on tokio's clock, the window on the store's: the time left is the
        // same on both, so the store's deadline is now plus that (a manual clock in tests then
        // jumps instead of sleeping).
        let left = deadline.saturating_duration_since(Instant::now());
        let started = clock.now();
        let until = started + chrono::Duration::from_std(left).unwrap_or(chrono::TimeDelta::MAX);
        let slot_kind = match kind {
            CallKind::Interactive => SlotKind::Interactive,
            CallKind::Background => SlotKind::Background,
        };
        let mut waited = false;
        loop {
            match self.store.call(|s| s.take_google_slot(slot_kind)).await {
                Ok(GoogleSlot::Granted) => {
                    if waited {
                        let wait = (clock.now() - started).to_std().unwrap_or_default();
                        crate::metrics::google_budget_wait(kind.as_str(), wait);
                    }
                    return Ok(());
                }
                Ok(GoogleSlot::WaitUntil(at)) if at > until => {
                    // Waiting would run into the deadline: say so now, with the time to come back.
                    crate::metrics::google_budget_refusal(kind.as_str(), "exhausted");
                    let retry_after = (at - clock.now()).to_std().unwrap_or_default();
                    return Err(BudgetRefusal::Exhausted { retry_after });
                }
                Ok(GoogleSlot::WaitUntil(at)) => {
                    waited = true;
                    clock.sleep_until(at).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the Google call budget could not be read: this replica's own bucket stands in");
                    return self.take_locally(kind, deadline).await;
                }
            }
        }
    }

    async fn back_off(&self, wait: Duration) {
        let until = self.store.clock().now()
            + chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
        crate::metrics::google_backoff();
        if let Err(err) = self.store.call(|s| s.google_backoff(until)).await {
            tracing::error!(error = %err, "the Google backoff could not be written to the store");
        }
    }
}

impl CallBudget for StoreBudget {
    fn acquire(
        &self,
        kind: CallKind,
        deadline: Instant,
    ) -> BudgetFuture<'_, Result<(), BudgetRefusal>> {
        Box::pin(self.take(kind, deadline))
    }

    fn backed_off(&self, wait: Duration) -> BudgetFuture<'_, ()> {
        Box::pin(self.back_off(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Clock, Store, StoreSettings};

    /// A budget of `per_minute` calls in a fresh SQLite file, on a manual clock.
    async fn budget(per_minute: u32) -> (StoreBudget, Clock, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("budget.db").display());
        let settings = StoreSettings {
            database_url: url.into(),
            google_per_minute: per_minute,
            google_background_percent: 80,
            ..StoreSettings::default()
        };
        let clock = Clock::manual(
            chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
                .expect("a valid date")
                .to_utc(),
        );
        let store = Store::connect(&settings, clock.clone())
            .await
            .expect("the store opens");
        let readiness = Arc::new(crate::readiness::Readiness::default());
        (
            StoreBudget::new(Arc::new(Gate::new(store, readiness))),
            clock,
            dir,
        )
    }

    fn in_secs(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn a_call_waits_for_a_slot_that_comes_before_its_deadline() {
        let (budget, clock, _dir) = budget(60).await;
        for _ in 0..60 {
            budget
                .acquire(CallKind::Interactive, in_secs(5))
                .await
                .expect("the window holds a minute's worth");
        }
        let before = clock.now();

        let waited = budget.acquire(CallKind::Interactive, in_secs(90)).await;

        assert_eq!(waited, Ok(()));
        assert_eq!(
            clock.now() - before,
            chrono::Duration::seconds(62),
            "the minute's calls leave the 62 s window (the manual clock jumped, nothing slept)"
        );
    }

    #[tokio::test]
    async fn a_call_whose_slot_comes_after_its_deadline_is_refused_at_once_with_the_wait() {
        let (budget, clock, _dir) = budget(6).await;
        for _ in 0..6 {
            budget
                .acquire(CallKind::Interactive, in_secs(5))
                .await
                .expect("the window holds a minute's worth");
        }
        let before = clock.now();

        let refused = budget.acquire(CallKind::Interactive, in_secs(5)).await;

        assert_eq!(
            refused,
            Err(BudgetRefusal::Exhausted {
                retry_after: Duration::from_secs(62)
            }),
            "the next slot comes when the first calls leave the window, past the 5 s deadline"
        );
        assert_eq!(clock.now(), before, "no time was spent waiting");
    }

    /// Takes slots of `kind` until the budget refuses one within a second; answers how many.
    async fn take_all(budget: &StoreBudget, kind: CallKind) -> usize {
        let mut granted = 0;
        while budget.acquire(kind, in_secs(1)).await.is_ok() {
            granted += 1;
            assert!(granted <= 10, "{kind:?} never stops");
        }
        granted
    }

    #[tokio::test]
    async fn background_work_takes_what_callers_do_not_need_and_leaves_them_their_floor() {
        let (budget, _clock, _dir) = budget(10).await;

        let background = take_all(&budget, CallKind::Background).await;
        let interactive = take_all(&budget, CallKind::Interactive).await;

        assert_eq!(background, 9, "no caller called: all but the floor");
        assert_eq!(interactive, 1, "the floor stayed for callers");
    }

    #[tokio::test]
    async fn callers_calls_hold_background_work_back_up_to_their_promised_share() {
        let (budget, _clock, _dir) = budget(10).await;
        for _ in 0..3 {
            budget
                .acquire(CallKind::Interactive, in_secs(1))
                .await
                .expect("a slot");
        }

        let background = take_all(&budget, CallKind::Background).await;
        let interactive = take_all(&budget, CallKind::Interactive).await;

        assert_eq!(background, 5, "the reserve grew to the callers' 20 %");
        assert_eq!(interactive, 2, "and stayed theirs");
    }

    #[tokio::test]
    async fn a_backoff_holds_every_call_until_it_ends() {
        let (budget, clock, _dir) = budget(60).await;
        let start = clock.now();

        budget.backed_off(Duration::from_secs(10)).await;
        let refused = budget.acquire(CallKind::Interactive, in_secs(5)).await;
        let waited = budget.acquire(CallKind::Interactive, in_secs(30)).await;

        assert!(
            matches!(refused, Err(BudgetRefusal::Exhausted { retry_after }) if retry_after >= Duration::from_secs(10)),
            "{refused:?}"
        );
        assert_eq!(waited, Ok(()));
        assert!(
            clock.now() - start >= chrono::Duration::seconds(10),
            "no call before the backoff ended"
        );
    }
}
