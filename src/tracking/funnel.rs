//! The funnel: mails, acceptances and declines per day or week, the acceptance rate and the
//! median time to accept, from the tracked changes (no call to Google).

use super::Tracking;
use crate::invitations::durable::StoreUnavailable;
use crate::vocabulary::ChangeKind;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Longest range one funnel covers, in days.
pub const MAX_FUNNEL_DAYS: u64 = 366;

/// Days covered when `from` is not given (ending with `to`).
pub const DEFAULT_FUNNEL_DAYS: u64 = 30;

/// The width of a funnel bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketWidth {
    /// One UTC day.
    Day,
    /// One ISO week (Monday to Sunday, UTC).
    Week,
}

impl BucketWidth {
    /// `day` or `week`; None for anything else.
    pub fn parse(text: &str) -> Option<BucketWidth> {
        match text {
            "day" => Some(BucketWidth::Day),
            "week" => Some(BucketWidth::Week),
            _ => None,
        }
    }

    /// The first day of the bucket holding `day`.
    fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            BucketWidth::Day => day,
            BucketWidth::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        }
    }

    fn days(self) -> u64 {
        match self {
            BucketWidth::Day => 1,
            BucketWidth::Week => 7,
        }
    }
}

/// A funnel request, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunnelQuery {
    /// First day (UTC), inclusive.
    pub from: NaiveDate,
    /// Last day (UTC), inclusive.
    pub to: NaiveDate,
    /// Bucket width.
    pub bucket: BucketWidth,
}

/// Why a funnel request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFunnel(pub String);

impl FunnelQuery {
    /// Validates the query's parts (`YYYY-MM-DD` dates, `day` or `week`); missing `to` is
    /// today (UTC), missing `from` is 30 days ending with `to`, missing bucket is `day`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        bucket: Option<&str>,
        today: NaiveDate,
    ) -> Result<FunnelQuery, InvalidFunnel> {
        let date = |name: &str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| InvalidFunnel(format!("{name} must be a date, YYYY-MM-DD")))
        };
        let to = to.map(|t| date("to", t)).transpose()?.unwrap_or(today);
        let from = match from {
            Some(text) => date("from", text)?,
            None => to - Days::new(DEFAULT_FUNNEL_DAYS - 1),
        };
        let bucket = match bucket {
            Some(text) => BucketWidth::parse(text)
                .ok_or_else(|| InvalidFunnel("bucket must be day or week".into()))?,
            None => BucketWidth::Day,
        };
        if from > to {
            return Err(InvalidFunnel("from must not be after to".into()));
        }
        if (to - from).num_days() >= i64::try_from(MAX_FUNNEL_DAYS).unwrap_or(i64::MAX) {
            return Err(InvalidFunnel(format!(
                "from and to may be at most {MAX_FUNNEL_DAYS} days apart"
            )));
        }
        Ok(FunnelQuery { from, to, bucket })
    }
}

/// One bucket of the funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunnelBucket {
    /// First day of the bucket (a Monday for weeks; the first may start before `from`).
    #[schema(value_type = String, format = Date, example = "2026-11-16")]
    pub start: NaiveDate,
    /// Invitation mails that went out (resends included).
    pub invited: u64,
    /// People who accepted.
    pub accepted: u64,
    /// People who declined.
    pub declined: u64,
}

/// The funnel over a range of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "from": "2026-11-16", "to": "2026-11-29", "bucket": "week",
    "buckets": [
        {"start": "2026-11-16", "invited": 40, "accepted": 22, "declined": 3},
        {"start": "2026-11-23", "invited": 12, "accepted": 9, "declined": 1}
    ],
    "acceptanceRate": 0.58,
    "medianSecondsToAccept": 86400
}))]
pub struct Funnel {
    /// First day, inclusive.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day, inclusive.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// `day` or `week`.
    pub bucket: BucketWidth,
    /// Every bucket of the range, in order, empty ones included.
    pub buckets: Vec<FunnelBucket>,
    /// Of the people mailed in the range, the share who accepted after that mail (up to
    /// now); null when nobody was mailed.
    pub acceptance_rate: Option<f64>,
    /// Median time from a person's last mail to their acceptance, over the acceptances in
    /// the range; null when there are none.
    pub median_seconds_to_accept: Option<f64>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists on every day")
        .and_utc()
}

/// The median of `delays` in seconds; None when empty.
fn median_seconds(mut delays: Vec<Duration>) -> Option<f64> {
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    let mid = delays.len() / 2;
    let seconds = if delays.len() % 2 == 1 {
        delays[mid].as_secs_f64()
    } else {
        (delays[mid - 1].as_secs_f64() + delays[mid].as_secs_f64()) / 2.0
    };
    Some(seconds)
}

impl Tracking {
    /// Today on the store's clock (the funnel's default `to`).
    pub fn today(&self) -> NaiveDate {
        self.gate.clock().now().date_naive()
    }

    /// The funnel of `query`.
    pub async fn funnel(&self, query: &FunnelQuery) -> Result<Funnel, StoreUnavailable> {
        let from = midnight(query.from);
        let to = midnight(query.to + Days::new(1));
        let customer = self.customer();
        let changes = self
            .gate
            .call(|s| s.changes_between(customer, from, to))
            .await
            .map_err(|_| StoreUnavailable)?;
        let delays = self
            .gate
            .call(|s| s.accept_delays(customer, from, to))
            .await
            .map_err(|_| StoreUnavailable)?;
        let (mailed, accepted) = self
            .gate
            .call(|s| s.mailed_cohort(customer, from, to))
            .await
            .map_err(|_| StoreUnavailable)?;
        let mut buckets = Vec::new();
        let mut start = query.bucket.start_of(query.from);
        while start <= query.to {
            buckets.push(FunnelBucket {
                start,
                invited: 0,
                accepted: 0,
                declined: 0,
            });
            start = start + Days::new(query.bucket.days());
        }
        for (kind, at) in changes {
            let day = query.bucket.start_of(at.date_naive());
            let Some(bucket) = buckets.iter_mut().find(|b| b.start == day) else {
                continue;
            };
            match kind {
                ChangeKind::Sent => bucket.invited += 1,
                ChangeKind::Accepted => bucket.accepted += 1,
                ChangeKind::Declined => bucket.declined += 1,
                ChangeKind::FirstSeen | ChangeKind::Cancelled => {}
            }
        }
        Ok(Funnel {
            from: query.from,
            to: query.to,
            bucket: query.bucket,
            buckets,
            acceptance_rate: (mailed > 0).then(|| accepted as f64 / mailed as f64),
            median_seconds_to_accept: median_seconds(delays),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn a_funnel_query_defaults_to_thirty_days_by_day_and_refuses_what_it_cannot_chart() {
        let today = day("2026-12-02");
        let q = FunnelQuery::parse(None, None, None, today).expect("defaults");
        assert_eq!(
            (q.from, q.to, q.bucket),
            (day("2026-11-03"), today, BucketWidth::Day)
        );
        assert!(FunnelQuery::parse(Some("2026-12-03"), Some("2026-12-02"), None, today).is_err());
        assert!(FunnelQuery::parse(Some("2025-01-01"), Some("2026-12-02"), None, today).is_err());
        assert!(FunnelQuery::parse(Some("yesterday"), None, None, today).is_err());
        assert!(FunnelQuery::parse(None, None, Some("month"), today).is_err());
    }

    #[test]
    fn weeks_start_on_monday_and_the_median_of_an_even_count_is_the_middle_mean() {
        assert_eq!(
            BucketWidth::Week.start_of(day("2026-12-02")),
            day("2026-11-30")
        );
        assert_eq!(median_seconds(vec![]), None);
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            median_seconds(vec![secs(30), secs(10), secs(20)]),
            Some(20.0)
        );
        assert_eq!(
            median_seconds(vec![secs(40), secs(10), secs(20), secs(30)]),
            Some(25.0)
        );
    }
}
