//! The pace of a campaign, told truthfully: when its remaining work will be done at the
//! background share of the Google budget and its creator's daily mail limit, when its first
//! mails finished, its next reminder, and when its last possible reminder is due.

use super::*;
use crate::store::Timeline;

/// What paces a campaign's remaining work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    /// Background Google calls a minute.
    pub calls_per_minute: f64,
    /// The creator's mails a UTC day.
    pub mails_per_day: u64,
}

/// Work left: `calls` Google calls, `mails` of whose items mail (each of those costs
/// `calls_per_mail` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Left {
    pub calls: u64,
    pub mails: u64,
    pub calls_per_mail: u64,
}

fn minutes(calls: u64, per_minute: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((calls as f64 * 60_000.0 / per_minute).ceil() as i64)
}

fn midnight_after(at: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    (at.date_naive() + chrono::Days::new(days))
        .and_hms_opt(0, 0, 0)
        .map_or(at, |t| t.and_utc())
}

/// When work `left` is done starting at `from`, when the creator has `used` mails of `from`'s
/// UTC day already: the calls at the background pace, and the mails beyond the day's remaining
/// allowance on the following UTC days, `mails_per_day` a day (the last day's mails then take
/// their calls from midnight). None when the creator may mail nobody.
pub(crate) fn finish_at(
    from: DateTime<Utc>,
    left: Left,
    pace: Pace,
    used: u64,
) -> Option<DateTime<Utc>> {
    let by_calls = from + minutes(left.calls, pace.calls_per_minute);
    let today = pace.mails_per_day.saturating_sub(used);
    if left.mails <= today {
        return Some(by_calls);
    }
    if pace.mails_per_day == 0 {
        return None;
    }
    let beyond = left.mails - today;
    let days = beyond.div_ceil(pace.mails_per_day);
    let last_day = beyond - (days - 1) * pace.mails_per_day;
    let by_mails =
        midnight_after(from, days) + minutes(last_day * left.calls_per_mail, pace.calls_per_minute);
    Some(by_calls.max(by_mails))
}

/// When the last possible reminder of a campaign whose first mails finished (or will) at
/// `first_mails_done` is due: `max` reminders `after` apart, and never past `deadline`.
pub(crate) fn ends_at(
    first_mails_done: DateTime<Utc>,
    reminders: Reminders,
    deadline: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let span = chrono::Duration::from_std(reminders.after * reminders.max)
        .unwrap_or(chrono::Duration::MAX);
    let end = first_mails_done
        .checked_add_signed(span)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    deadline.map_or(end, |deadline| end.min(deadline))
}

/// A campaign's pace as its view shows it.
pub(crate) struct PaceView {
    pub eta: Option<DateTime<Utc>>,
    pub mails_per_day: Option<u64>,
    pub initial_mails_finished_at: Option<DateTime<Utc>>,
    pub next_reminder_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl Campaigns {
    /// The calls and mails `record`'s `pending` items still cost. A `states` item costs its
    /// send (one call; none in a dry run); a person a list or roster names costs a read and the
    /// send (two; one in a dry run), except while the tracker's snapshot is fresh: then a
    /// person it shows costs only the send, and one it does not show costs the read and the
    /// send with `checkUnlisted`, nothing without (`not_listed`), as the worker decides.
    async fn left_of(&self, record: &CampaignRecord, pending: u64) -> Result<Left, CampaignError> {
        let send = u64::from(!record.dry_run);
        let named = record.source_kind != SourceKind::States;
        let listed = if named && pending > 0 && record.state.is_active() {
            let customer = self.invitations.customer();
            let fresh_since = self.snapshot_fresh_since();
            self.gate
                .call(|s| s.pending_listed(customer, &record.id, fresh_since))
                .await?
        } else {
            None
        };
        let (calls, mails) = match (named, listed) {
            (false, _) => (pending * send, pending),
            (true, None) => (pending * (1 + send), pending),
            (true, Some(listed)) => {
                let listed = listed.min(pending);
                let checked = if record.check_unlisted {
                    pending - listed
                } else {
                    0
                };
                (listed * send + checked * (1 + send), listed + checked)
            }
        };
        let mails = mails * send;
        Ok(Left {
            calls,
            mails,
            calls_per_mail: if mails == 0 { 0 } else { calls.div_ceil(mails) },
        })
    }

    /// The pace of `record` with these item `counts`.
    pub(super) async fn pace_of(
        &self,
        record: &CampaignRecord,
        counts: &BTreeMap<ItemOutcome, u64>,
    ) -> Result<PaceView, CampaignError> {
        let pending = counts.get(&ItemOutcome::Pending).copied().unwrap_or(0);
        let now = self.gate.clock().now();
        let (timeline, used) = if record.dry_run {
            (Timeline::default(), 0)
        } else {
            let timeline = self.gate.call(|s| s.campaign_timeline(&record.id)).await?;
            let today = now.date_naive();
            let used = self
                .gate
                .call(|s| s.mails_used(&record.owner, today))
                .await?;
            (timeline, used)
        };
        let from = record
            .resumes_at
            .filter(|at| *at > now)
            .unwrap_or(now)
            .max(record.start_at);
        let left = self.left_of(record, pending).await?;
        let pace = Pace {
            calls_per_minute: self.background_per_minute,
            mails_per_day: u64::from(self.daily_mails),
        };
        let used = if from.date_naive() == now.date_naive() {
            used
        } else {
            0
        };
        let active = record.state.is_active();
        let first_mails_eta = active.then(|| finish_at(from, left, pace, used)).flatten();
        let initial_mails_finished_at = (record.planned && pending == 0)
            .then_some(timeline.last_first_mail)
            .flatten();
        let deadline = record.terms.deadline;
        let reminders = record.reminders.map(Reminders::from_store);
        // Reminders stop at the deadline.
        let next_reminder_at = reminders
            .and(timeline.next_reminder)
            .filter(|at| deadline.is_none_or(|deadline| *at < deadline));
        let last_reminder = reminders
            .zip(initial_mails_finished_at.or(first_mails_eta))
            .map(|(reminders, done)| ends_at(done, reminders, deadline));
        // A campaign with a deadline ends there (its people still INVITED then become
        // `no_answer`); one with reminders when its last one is due.
        let ends = deadline.or(last_reminder);
        let reminding = pending > 0 || next_reminder_at.is_some() || deadline.is_some();
        let eta = match ends {
            Some(end) if active && reminding => Some(end),
            _ => first_mails_eta,
        };
        Ok(PaceView {
            eta,
            mails_per_day: (!record.dry_run).then_some(pace.mails_per_day),
            initial_mails_finished_at,
            next_reminder_at,
            ends_at: ends,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, minute, 0)
            .single()
            .expect("a valid time")
    }

    const PACE: Pace = Pace {
        calls_per_minute: 60.0,
        mails_per_day: 1000,
    };

    fn left(mails: u64, calls_per_mail: u64) -> Left {
        Left {
            calls: mails * calls_per_mail,
            mails,
            calls_per_mail,
        }
    }

    #[test]
    fn within_todays_allowance_only_the_calls_pace_the_work() {
        let done = finish_at(at(1, 10, 0), left(600, 1), PACE, 0);
        assert_eq!(done, Some(at(1, 10, 10)));
        // 400 used: 600 left today, exactly enough.
        let done = finish_at(at(1, 10, 0), left(600, 1), PACE, 400);
        assert_eq!(done, Some(at(1, 10, 10)));
    }

    #[test]
    fn mails_beyond_todays_allowance_go_to_the_following_utc_days() {
        // 5,000 mails at 1,000 a day from a fresh day: 1,000 today, 1,000 on each of the next
        // three days, the last 1,000 on the fifth day, whose 1,000 calls take 16m40s from its
        // midnight: not "two hours", five days.
        let done = finish_at(at(1, 10, 0), left(5000, 1), PACE, 0);
        assert_eq!(done, Some(at(5, 0, 16) + chrono::Duration::seconds(40)));
        // 900 used today: 100 today, then 1,000 a day; 4,900 beyond: 5 more days, 900 on the
        // last, at two calls each (30 minutes).
        let done = finish_at(at(1, 10, 0), left(5000, 2), PACE, 900);
        assert_eq!(done, Some(at(6, 0, 30)));
    }

    #[test]
    fn a_slow_budget_can_outlast_the_mail_limit() {
        let slow = Pace {
            calls_per_minute: 0.5,
            ..PACE
        };
        // 1,000 mails, 500 left today: the other 500 on day two, but the 2,000 calls take
        // 4,000 minutes (2 days 18:40), longer.
        let done = finish_at(at(1, 0, 0), left(1000, 2), slow, 500);
        assert_eq!(done, Some(at(3, 18, 40)));
    }

    #[test]
    fn a_creator_who_may_mail_nobody_has_no_eta() {
        let none = Pace {
            mails_per_day: 0,
            ..PACE
        };
        assert_eq!(finish_at(at(1, 10, 0), left(1, 1), none, 0), None);
        // A dry run mails nobody: the calls alone.
        let dry = Left {
            calls: 60,
            mails: 0,
            calls_per_mail: 1,
        };
        assert_eq!(finish_at(at(1, 10, 0), dry, none, 0), Some(at(1, 10, 1)));
    }

    #[test]
    fn the_last_reminder_is_due_max_times_after_hours_past_the_last_first_mail() {
        let reminders = Reminders {
            after: std::time::Duration::from_secs(48 * 3600),
            max: 2,
        };
        assert_eq!(ends_at(at(1, 10, 0), reminders, None), at(5, 10, 0));
        assert_eq!(
            ends_at(at(1, 10, 0), reminders, Some(at(3, 0, 0))),
            at(3, 0, 0),
            "never past a deadline"
        );
    }
}
