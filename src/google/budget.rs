//! The budget of Google calls the transport asks before each attempt.
//!
//! Google's quota belongs to the project, not to a replica, so the budget is shared by every
//! replica; its implementation lives above this module (it needs the store, a sibling that this
//! module must not import). Each attempt takes one slot: a retry takes another.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// Who waits for a call: interactive callers come before background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallKind {
    /// A caller waits for the answer (every request handler).
    #[default]
    Interactive,
    /// Campaigns, the tracker and other work nobody waits on: held to its share of the budget.
    Background,
}

impl CallKind {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Interactive => "interactive",
            CallKind::Background => "background",
        }
    }
}

/// Why a call got no slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetRefusal {
    /// No slot before the call's deadline; the next one comes after `retry_after`.
    Exhausted {
        /// How long until the next slot.
        retry_after: Duration,
    },
    /// The budget could not be read (its store failed): no call is made blind.
    Unavailable,
}

/// A boxed future, so that the budget can sit behind `dyn`.
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The project's budget of Google calls, shared by every replica.
pub trait CallBudget: Send + Sync {
    /// Takes one slot for a call of `kind`, waiting for it when it comes before `deadline`;
    /// refuses at once when it would come later (a call must not wait into a timeout).
    fn acquire(
        &self,
        kind: CallKind,
        deadline: Instant,
    ) -> BudgetFuture<'_, Result<(), BudgetRefusal>>;

    /// Google answered 429: nobody, on any replica, calls it for `wait`.
    fn backed_off(&self, wait: Duration) -> BudgetFuture<'_, ()>;
}
