//! The migration as a whole: people by state at the end of each day, replayed from the tracked
//! changes (no call to Google), the share resolved (accepted or declined) and when everybody
//! will be resolved at the pace of the range.

use super::Tracking;
use crate::invitations::durable::StoreUnavailable;
use crate::vocabulary::InvitationState;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Days an overview covers when not told (ending today).
pub const DEFAULT_OVERVIEW_DAYS: u32 = 30;
/// Most days an overview covers.
pub const MAX_OVERVIEW_DAYS: u32 = 366;

/// The states an overview counts, in the order they stack.
const STACKED: [InvitationState; 4] = [
    InvitationState::NotYetSent,
    InvitationState::Invited,
    InvitationState::Accepted,
    InvitationState::Declined,
];

/// People per state at the end of one UTC day.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverviewDay {
    /// The day (UTC).
    #[schema(value_type = String, format = Date, example = "2026-11-30")]
    pub day: NaiveDate,
    /// People per state at its end (every state of the stack, zeros included).
    pub counts: BTreeMap<InvitationState, u64>,
}

/// The migration as a whole.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "days": [{"day": "2026-11-30", "counts": {"NOT_YET_SENT": 40, "INVITED": 50, "ACCEPTED": 8, "DECLINED": 2}},
             {"day": "2026-12-01", "counts": {"NOT_YET_SENT": 30, "INVITED": 52, "ACCEPTED": 15, "DECLINED": 3}}],
    "people": 100, "resolved": 18, "shareResolved": 0.18, "resolvedPerDay": 4.5,
    "paceSince": "2026-11-30", "paceDays": 2, "projectedCompletion": "2026-12-20"
}))]
pub struct Overview {
    /// One entry per day of the range, oldest first.
    pub days: Vec<OverviewDay>,
    /// People the gateway knows at the end of the range (the last day's counts together).
    pub people: u64,
    /// Of them, accepted or declined.
    pub resolved: u64,
    /// `resolved / people` (0 when nobody is known).
    pub share_resolved: f64,
    /// People resolved a day: the changes from not yet sent or invited to accepted or declined
    /// seen on the `paceDays` days from `paceSince` to the range's end, over those days. A
    /// person first seen already accepted or declined is no resolution of that day.
    pub resolved_per_day: f64,
    /// The first day the pace counts: the range's first, or the first day anybody was known
    /// when that is later; null when nobody is known.
    #[schema(value_type = Option<String>, format = Date)]
    pub pace_since: Option<NaiveDate>,
    /// The days the pace is over (`paceSince` to the range's end, both included; 0 when nobody
    /// is known).
    pub pace_days: u32,
    /// The day everybody is resolved at that pace; null when nobody is being resolved (or
    /// everybody is).
    #[schema(value_type = Option<String>, format = Date)]
    pub projected_completion: Option<NaiveDate>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Replays `changes` (person, state after, when; each person's in order) over the `days` days
/// ending with `last`: each person counts, at the end of a day, in the state of their last
/// change before it.
fn replay(
    changes: &[(String, InvitationState, DateTime<Utc>)],
    last: NaiveDate,
    days: u32,
) -> Vec<OverviewDay> {
    let first = last - Days::new(u64::from(days.saturating_sub(1)));
    // The first day a change counts at the end of (0 for changes before the range).
    let index = |at: DateTime<Utc>| {
        let day = at.date_naive();
        usize::try_from((day - first).num_days().max(0)).unwrap_or(0)
    };
    let len = days as usize;
    let mut diff: BTreeMap<InvitationState, Vec<i64>> =
        STACKED.iter().map(|s| (*s, vec![0; len + 1])).collect();
    let mut i = 0;
    while i < changes.len() {
        let person = &changes[i].0;
        let mut j = i;
        while j < changes.len() && &changes[j].0 == person {
            let from = index(changes[j].2);
            let until = changes
                .get(j + 1)
                .filter(|next| &next.0 == person)
                .map_or(len, |next| index(next.2));
            if let Some(counts) = diff.get_mut(&changes[j].1)
                && from < until
            {
                counts[from.min(len)] += 1;
                counts[until.min(len)] -= 1;
            }
            j += 1;
        }
        i = j;
    }
    let mut running: BTreeMap<InvitationState, i64> = STACKED.iter().map(|s| (*s, 0)).collect();
    (0..len)
        .map(|n| {
            for (state, counts) in &diff {
                *running.entry(*state).or_default() += counts[n];
            }
            OverviewDay {
                day: first + Days::new(n as u64),
                counts: running
                    .iter()
                    .map(|(s, n)| (*s, u64::try_from(*n).unwrap_or(0)))
                    .collect(),
            }
        })
        .collect()
}

const RESOLVED: [InvitationState; 2] = [InvitationState::Accepted, InvitationState::Declined];

fn resolved_of(day: &OverviewDay) -> u64 {
    RESOLVED
        .iter()
        .map(|s| day.counts.get(s).copied().unwrap_or(0))
        .sum()
}

/// The resolutions among `changes` (as `replay` takes them) on each of the `days` days ending
/// with `last`: a person's change to accepted or declined from a state that is neither. A
/// person's first change (first seen) is no resolution, whatever its state.
fn resolutions(
    changes: &[(String, InvitationState, DateTime<Utc>)],
    last: NaiveDate,
    days: u32,
) -> Vec<u64> {
    let first = last - Days::new(u64::from(days.saturating_sub(1)));
    let mut per_day = vec![0; days as usize];
    for pair in changes.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let day = after.2.date_naive();
        if before.0 == after.0
            && RESOLVED.contains(&after.1)
            && !RESOLVED.contains(&before.1)
            && day >= first
            && let Some(n) = usize::try_from((day - first).num_days())
                .ok()
                .and_then(|i| per_day.get_mut(i))
        {
            *n += 1;
        }
    }
    per_day
}

impl Tracking {
    /// The overview of the `days` days ending today (UTC).
    pub async fn overview(&self, days: u32) -> Result<Overview, StoreUnavailable> {
        let days = days.clamp(1, MAX_OVERVIEW_DAYS);
        let today = self.today();
        let until = midnight(today + Days::new(1));
        let customer = self.customer();
        let changes = self
            .gate
            .call(|s| s.state_changes_before(customer, until))
            .await
            .map_err(|_| StoreUnavailable)?;
        let per_day = resolutions(&changes, today, days);
        let days = replay(&changes, today, days);
        let last = days.last();
        let people: u64 = last.map_or(0, |d| d.counts.values().sum());
        let resolved = last.map_or(0, resolved_of);
        // The pace over the range; when the migration began within it, over the days since
        // (the day it began counted whole).
        let began = days.iter().position(|d| d.counts.values().sum::<u64>() > 0);
        let pace_since = began.map(|i| days[i].day);
        let span = began.map_or(0, |i| days.len() - i);
        let gained: u64 = began.map_or(0, |i| per_day[i..].iter().sum());
        let resolved_per_day = if span > 0 {
            gained as f64 / span as f64
        } else {
            0.0
        };
        let projected_completion = (resolved_per_day > 0.0 && resolved < people).then(|| {
            let left = (people - resolved) as f64 / resolved_per_day;
            today + Days::new(left.ceil() as u64)
        });
        Ok(Overview {
            share_resolved: if people == 0 {
                0.0
            } else {
                resolved as f64 / people as f64
            },
            days,
            people,
            resolved,
            resolved_per_day,
            pace_since,
            pace_days: u32::try_from(span).unwrap_or(0),
            projected_completion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn each_person_counts_in_the_state_of_their_last_change_before_each_day_ends() {
        use InvitationState::*;
        let changes = vec![
            ("ada".to_owned(), NotYetSent, at(1, 9)),
            ("ada".to_owned(), Invited, at(2, 9)),
            ("ada".to_owned(), Accepted, at(2, 10)),
            ("bob".to_owned(), Invited, at(2, 12)),
            ("bob".to_owned(), Declined, at(4, 8)),
            ("cy".to_owned(), NotYetSent, at(3, 1)),
        ];
        let last = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let days = replay(&changes, last, 3);
        let row = |d: &OverviewDay| STACKED.map(|s| d.counts[&s]);
        assert_eq!(days[0].day, NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        // Changes before the range count from its first day.
        assert_eq!(row(&days[0]), [0, 1, 1, 0]);
        assert_eq!(row(&days[1]), [1, 1, 1, 0]);
        assert_eq!(row(&days[2]), [1, 0, 1, 1]);
        assert_eq!(resolved_of(&days[2]), 2);
        // Ada accepts on the range's first day, Bob declines on its last; Cy never resolves.
        assert_eq!(resolutions(&changes, last, 3), [1, 0, 1]);
        // A change before the range is none of its days'.
        assert_eq!(resolutions(&changes, last, 2), [0, 1]);
        // Somebody first seen already accepted is no resolution.
        let seen = vec![("dee".to_owned(), Accepted, at(4, 9))];
        assert_eq!(resolutions(&seen, last, 3), [0, 0, 0]);
    }
}
