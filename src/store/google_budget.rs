//! The cluster-wide budget of Google calls: one sliding window of granted calls for every
//! replica, interactive work before background work, and one backoff for everybody after a
//! Google 429.
//!
//! Work-conserving: background work is held back only as far as callers need the quota. Of the
//! window's calls it leaves a reserve free for callers, sized from their demand: a floor of
//! [`FLOOR_PERCENT`] of the quota (at least one call) plus the interactive calls of the window,
//! never more than the `100 - google_background_percent` percent callers were always promised.
//! With nobody checking, a campaign gets the quota less the floor (98 %); as soon as callers
//! call, the reserve grows with them and background work waits for slots they do not take.
//!
//! A window, not a token bucket: Google counts a project's calls in minutes of its own, and a
//! bucket holding a minute's calls and refilling a minute's calls a minute lets up to twice the
//! quota through in one of them (Google then answers 429). Counting the calls of the last 62
//! seconds keeps every minute, wherever it starts, under the quota.

use super::clock::{from_millis, to_millis};
use super::{RowLock, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Who is asking for a Google call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A caller waits for the answer: may use the whole quota.
    Interactive,
    /// A campaign or other background work: leaves the callers' reserve free (see the module).
    Background,
}

/// The answer to [`Store::take_google_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleSlot {
    /// Call Google now.
    Granted,
    /// Ask again at this time (enough calls will have left the window, or the backoff ended).
    WaitUntil(DateTime<Utc>),
}

/// Seconds of calls counted before granting one: 61 whole seconds cover any 60 s interval Google
/// may count as a minute, and one more covers the time between the grant and the call reaching
/// Google.
const WINDOW_SECONDS: i64 = 62;

/// The share of the quota kept free for callers even when none called lately, in percent (at
/// least one call): a caller's check finds a slot at once while a campaign runs flat out.
pub const FLOOR_PERCENT: u32 = 2;

/// Calls granted in one second of the window (seconds since the epoch), and how many of them
/// were interactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Second {
    at: i64,
    calls: i64,
    interactive: i64,
}

/// The calls background work may have in the window when callers made `interactive` of them:
/// the quota less the callers' reserve (see the module). 0: background work has no share.
pub fn background_limit(per_minute: u32, background_percent: u8, interactive: i64) -> i64 {
    let quota = i64::from(per_minute.max(1));
    if background_percent == 0 {
        return 0;
    }
    let ceiling = quota - quota * i64::from(background_percent.min(100)) / 100;
    let floor = (quota * i64::from(FLOOR_PERCENT) / 100).max(1).min(ceiling);
    quota - (floor + interactive.max(0)).min(ceiling)
}

/// The decision for one take at `now` (ms), given the calls granted in the window ending at
/// `now`'s second (oldest first) and the backoff: granted when the window is under the limit.
fn decide(
    window: &[Second],
    backoff_until: i64,
    now: i64,
    kind: SlotKind,
    per_minute: u32,
    background_percent: u8,
) -> GoogleSlot {
    if now < backoff_until {
        return GoogleSlot::WaitUntil(from_millis(backoff_until));
    }
    let quota = i64::from(per_minute.max(1));
    let limit = match kind {
        SlotKind::Interactive => quota,
        SlotKind::Background => {
            let interactive = window.iter().map(|second| second.interactive).sum();
            background_limit(per_minute, background_percent, interactive)
        }
    };
    if limit == 0 {
        // Background work has no share at all: look again in a minute.
        return GoogleSlot::WaitUntil(from_millis(now + 60_000));
    }
    let mut used: i64 = window.iter().map(|second| second.calls).sum();
    if used < limit {
        return GoogleSlot::Granted;
    }
    // The first second whose leaving the window brings it under the limit.
    for second in window {
        used -= second.calls;
        if used < limit {
            return GoogleSlot::WaitUntil(from_millis((second.at + WINDOW_SECONDS) * 1000));
        }
    }
    // Unreachable with a non-empty limit (an empty window is under it); a second is a safe answer.
    GoogleSlot::WaitUntil(from_millis(now + 1000))
}

impl Store {
    /// Takes one Google call from the cluster-wide budget, or says when to ask again.
    ///
    /// Atomic across processes: the budget's row is locked (`SELECT ... FOR UPDATE` on
    /// PostgreSQL, a `BEGIN IMMEDIATE` write transaction on SQLite) while the calls of the
    /// window are counted and the granted one is added.
    pub async fn take_google_slot(&self, kind: SlotKind) -> Result<GoogleSlot, StoreError> {
        let per_minute = self.settings.google_per_minute;
        let percent = self.settings.google_background_percent;
        let lock = "SELECT backoff_until FROM google_budget WHERE id = 1";
        let window = "SELECT at_second, calls, interactive FROM google_calls \
                      WHERE at_second > $1 ORDER BY at_second";
        let count = "INSERT INTO google_calls (at_second, calls, interactive) VALUES ($1, 1, $2) \
                     ON CONFLICT (at_second) DO UPDATE SET calls = google_calls.calls + 1, \
                     interactive = google_calls.interactive + $2";
        let interactive = i64::from(kind == SlotKind::Interactive);
        let prune = "DELETE FROM google_calls WHERE at_second <= $1";
        // On SQLite `begin` is BEGIN IMMEDIATE: the write lock is taken up front, so the read
        // then write below cannot fail with SQLITE_BUSY when another writer got in between.
        let lock = format!("{lock}{}", self.lock_suffix(RowLock::Wait));
        let mut tx = self.begin().await?;
        let slot = with_tx!(tx, conn => async {
            let backoff_until: i64 = sqlx::query(&lock)
                .fetch_one(&mut *conn)
                .await?
                .try_get("backoff_until")?;
            let now = to_millis(self.clock.now());
            let second = now.div_euclid(1000);
            let oldest_out = second - WINDOW_SECONDS;
            let rows = sqlx::query(window)
                .bind(oldest_out)
                .fetch_all(&mut *conn)
                .await?;
            let seconds = rows
                .iter()
                .map(|row| {
                    Ok(Second {
                        at: row.try_get("at_second")?,
                        calls: row.try_get("calls")?,
                        interactive: row.try_get("interactive")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let slot = decide(&seconds, backoff_until, now, kind, per_minute, percent);
            if slot == GoogleSlot::Granted {
                sqlx::query(count)
                    .bind(second)
                    .bind(interactive)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(prune)
                    .bind(oldest_out)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<GoogleSlot, sqlx::Error>(slot)
        }.await)?;
        tx.commit().await?;
        Ok(slot)
    }

    /// Google answered 429: nobody calls it before `until`; after it, the window's own count
    /// governs again.
    pub async fn google_backoff(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        let until = to_millis(until);
        execute!(
            self,
            "UPDATE google_budget SET backoff_until = $1 WHERE id = 1 AND backoff_until < $1",
            until
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes slots at `now` until refused; the seconds of the grants are added to `window`.
    fn take_all(window: &mut Vec<Second>, now: i64, kind: SlotKind, per_minute: u32) -> usize {
        let mut granted = 0;
        let second = now.div_euclid(1000);
        window.retain(|s| s.at > second - WINDOW_SECONDS);
        while decide(window, 0, now, kind, per_minute, 80) == GoogleSlot::Granted {
            record(window, second, kind);
            granted += 1;
        }
        granted
    }

    /// Counts a granted call of `kind` in `second` (the window's newest).
    fn record(window: &mut Vec<Second>, second: i64, kind: SlotKind) {
        let interactive = i64::from(kind == SlotKind::Interactive);
        match window.last_mut() {
            Some(last) if last.at == second => {
                last.calls += 1;
                last.interactive += interactive;
            }
            _ => window.push(Second {
                at: second,
                calls: 1,
                interactive,
            }),
        }
    }

    #[test]
    fn a_minute_of_calls_at_once_then_the_next_when_their_second_leaves_the_window() {
        let mut window = Vec::new();
        assert_eq!(take_all(&mut window, 1_500, SlotKind::Interactive, 60), 60);
        assert_eq!(
            decide(&window, 0, 1_500, SlotKind::Interactive, 60, 80),
            GoogleSlot::WaitUntil(from_millis(63_000)),
            "the calls of second 1 count until second 62 ends"
        );
        assert_eq!(take_all(&mut window, 62_999, SlotKind::Interactive, 60), 0);
        assert_eq!(take_all(&mut window, 63_000, SlotKind::Interactive, 60), 60);
    }

    #[test]
    fn no_sixty_seconds_see_more_than_the_quota_however_the_calls_are_spread() {
        let mut window = Vec::new();
        let mut grants = Vec::new();
        // Continuous demand for 5 minutes, looked at every 250 ms.
        for now in (0..300_000).step_by(250) {
            for _ in 0..take_all(&mut window, now, SlotKind::Interactive, 7) {
                grants.push(now);
            }
        }
        for (i, first) in grants.iter().enumerate() {
            let within = grants[i..]
                .iter()
                .take_while(|at| **at - first < 60_000)
                .count();
            assert!(within <= 7, "{within} calls in the minute from {first} ms");
        }
        assert!(grants.len() >= 5 * 7 * 9 / 10, "{} calls", grants.len());
    }

    #[test]
    fn with_no_callers_background_work_takes_all_but_the_floor_and_callers_still_find_it() {
        let mut window = Vec::new();
        assert_eq!(take_all(&mut window, 0, SlotKind::Background, 100), 98);
        assert_eq!(take_all(&mut window, 0, SlotKind::Interactive, 100), 2);
        assert!(matches!(
            decide(&window, 0, 0, SlotKind::Interactive, 100, 80),
            GoogleSlot::WaitUntil(_)
        ));
    }

    #[test]
    fn callers_calls_grow_their_reserve_up_to_the_promised_share_and_no_further() {
        // Callers made 10 calls: background work leaves them those and the floor again.
        let mut window = Vec::new();
        assert_eq!(take_all_of(&mut window, 10, SlotKind::Interactive), 10);
        assert_eq!(take_all(&mut window, 0, SlotKind::Background, 100), 78);
        // A busier minute: the reserve stops at the 20 % callers were promised.
        let mut window = Vec::new();
        assert_eq!(take_all_of(&mut window, 50, SlotKind::Interactive), 50);
        assert_eq!(take_all(&mut window, 0, SlotKind::Background, 100), 30);
        assert_eq!(background_limit(100, 80, 50), 80);
        assert_eq!(
            background_limit(10, 80, 0),
            9,
            "at least one call is the floor"
        );
        assert_eq!(
            background_limit(10, 100, 5),
            10,
            "no reserve promised, none kept"
        );
        assert_eq!(background_limit(10, 0, 0), 0, "no share at all");
    }

    /// Takes `n` slots of `kind` at time 0 of a 100-a-minute quota; answers how many it got.
    fn take_all_of(window: &mut Vec<Second>, n: usize, kind: SlotKind) -> usize {
        let mut granted = 0;
        for _ in 0..n {
            if decide(window, 0, 0, kind, 100, 80) != GoogleSlot::Granted {
                break;
            }
            record(window, 0, kind);
            granted += 1;
        }
        granted
    }

    #[test]
    fn a_backoff_holds_everybody_until_it_ends() {
        assert_eq!(
            decide(&[], 5_000, 4_999, SlotKind::Interactive, 60, 80),
            GoogleSlot::WaitUntil(from_millis(5_000))
        );
        assert_eq!(
            decide(&[], 5_000, 5_000, SlotKind::Interactive, 60, 80),
            GoogleSlot::Granted
        );
    }
}
