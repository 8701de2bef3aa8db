//! The project quota: Google counts every call of the five User Invitation methods a project
//! makes against a per-minute limit, and refuses the calls past it with 429.
//!
//! Windows are fixed minutes: the first counted call opens one, `per_minute` calls are admitted
//! in it, and the first call after it ends opens the next. Time is `tokio::time::Instant`, so a
//! paused test clock drives it.

use tokio::time::{Duration, Instant};

/// Length of one quota window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The limit and the current window.
#[derive(Debug, Clone, Default)]
pub struct Quota {
    per_minute: Option<u32>,
    window: Option<Window>,
}

/// Calls admitted since `start`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

impl Quota {
    /// A quota of `per_minute` calls; `None` admits every call.
    pub fn new(per_minute: Option<u32>) -> Self {
        Self {
            per_minute,
            window: None,
        }
    }

    /// The limit; `None` when unlimited.
    pub fn per_minute(&self) -> Option<u32> {
        self.per_minute
    }

    /// Changes the limit and starts counting afresh.
    pub fn set_per_minute(&mut self, per_minute: Option<u32>) {
        self.per_minute = per_minute;
        self.window = None;
    }

    /// Counts one call at `now`; false when it is past the limit (a refused call uses nothing).
    pub fn admit(&mut self, now: Instant) -> bool {
        let Some(limit) = self.per_minute else {
            return true;
        };
        let window = match self.window {
            Some(window) if now.saturating_duration_since(window.start) < WINDOW => window,
            _ => Window {
                start: now,
                used: 0,
            },
        };
        if window.used >= limit {
            self.window = Some(window);
            return false;
        }
        self.window = Some(Window {
            used: window.used.saturating_add(1),
            ..window
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_for_a_minute_from_the_first_call_then_resets() {
        let start = Instant::now();
        let mut quota = Quota::new(Some(2));
        assert!(quota.admit(start));
        assert!(quota.admit(start + Duration::from_secs(10)));
        assert!(!quota.admit(start + Duration::from_secs(20)));
        assert!(!quota.admit(start + Duration::from_millis(59_999)));
        assert!(quota.admit(start + WINDOW));
        assert!(quota.admit(start + WINDOW + Duration::from_secs(1)));
        assert!(!quota.admit(start + WINDOW + Duration::from_secs(2)));
    }

    #[test]
    fn no_limit_admits_everything_and_a_new_limit_counts_afresh() {
        let now = Instant::now();
        let mut quota = Quota::new(None);
        assert!((0..10_000).all(|_| quota.admit(now)));
        quota.set_per_minute(Some(1));
        assert!(quota.admit(now));
        assert!(!quota.admit(now));
        quota.set_per_minute(Some(1));
        assert!(quota.admit(now), "a changed limit starts a new window");
    }
}
