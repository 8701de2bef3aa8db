//! Tracking: the latest state of every person, each change with when the gateway learned it,
//! and the walk of Google's list (one replica at a time, resumable).
//!
//! Rules (the tracker's and the gateway's own changes meet here, under the person's row lock,
//! so that one change is recorded, and announced, once):
//! - a person first met by a walk is recorded `first_seen` in the state listed; what happened
//!   before the gateway could see it emits nothing;
//! - `sent` when the listed `mailsSentCount` went up (a mail the gateway announced already
//!   raised the stored count, so the walk does not announce it again);
//! - `accepted` and `declined` when the listed state becomes so; `cancelled` when an invited
//!   person is listed `NOT_YET_SENT` again;
//! - a person a finished walk did not list is only marked missing (`missing_since`): absence
//!   (a cancel, or Google's index lag of 48 to 72 hours) never emits an event, nor concludes a
//!   state. When they are listed again, the comparison above applies.

use super::clock::{duration_millis, from_millis, to_millis};
use super::events::OutboxEvent;
use super::{Store, StoreError, StoreTx, TxInner};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// What happened to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The tracker met the person for the first time.
    FirstSeen,
    /// A mail went out.
    Sent,
    /// The person joined.
    Accepted,
    /// The person declined.
    Declined,
    /// The pending invitation was withdrawn.
    Cancelled,
}

impl ChangeKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::FirstSeen => "first_seen",
            ChangeKind::Sent => "sent",
            ChangeKind::Accepted => "accepted",
            ChangeKind::Declined => "declined",
            ChangeKind::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`ChangeKind::as_str`].
    pub fn parse(name: &str) -> Option<ChangeKind> {
        [
            ChangeKind::FirstSeen,
            ChangeKind::Sent,
            ChangeKind::Accepted,
            ChangeKind::Declined,
            ChangeKind::Cancelled,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One person as a page of Google's list shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Observed {
    /// The address.
    pub email: String,
    /// Google's state name (`INVITED`, ...).
    pub state: String,
    /// Google's `mailsSentCount`.
    pub mails_sent_count: i64,
    /// Google's `updateTime`.
    pub update_time: Option<DateTime<Utc>>,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("state", &self.state)
            .field("mails_sent_count", &self.mails_sent_count)
            .finish_non_exhaustive()
    }
}

/// One recorded change.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackedChange {
    /// The address.
    pub email: String,
    /// What happened.
    pub kind: ChangeKind,
    /// Google's state after it.
    pub state: String,
    /// Google's `mailsSentCount` after it.
    pub mails_sent_count: i64,
    /// When the gateway learned it (store clock).
    pub at: DateTime<Utc>,
    /// Google's `updateTime`, when known.
    pub update_time: Option<DateTime<Utc>>,
}

impl fmt::Debug for TrackedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedChange")
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// The latest tracked state of one person.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackedPerson {
    /// The address.
    pub email: String,
    /// Google's state name as last known.
    pub state: String,
    /// Google's `mailsSentCount` as last known.
    pub mails_sent_count: i64,
    /// When the state last changed.
    pub changed_at: DateTime<Utc>,
    /// The last finished walk listed the person.
    pub listed: bool,
    /// Since when finished walks have not listed the person.
    pub missing_since: Option<DateTime<Utc>>,
}

impl fmt::Debug for TrackedPerson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedPerson")
            .field("state", &self.state)
            .field("changed_at", &self.changed_at)
            .field("listed", &self.listed)
            .finish_non_exhaustive()
    }
}

/// A change the gateway made itself (its own send or cancel), recorded with its event in the
/// transaction that records the mail's audit outcome.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayChange {
    /// The Google customer.
    pub customer: String,
    /// The address.
    pub email: String,
    /// [`ChangeKind::Sent`] or [`ChangeKind::Cancelled`].
    pub kind: ChangeKind,
    /// Google's `mailsSentCount` after the change.
    pub mails_sent_count: i64,
    /// Google's `updateTime` after the change, when known.
    pub update_time: Option<DateTime<Utc>>,
    /// The event announcing it; appended only when the change is new.
    pub event: OutboxEvent,
}

impl fmt::Debug for GatewayChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayChange")
            .field("kind", &self.kind)
            .field("mails_sent_count", &self.mails_sent_count)
            .finish_non_exhaustive()
    }
}

/// Counts per state of the people the last finished walk listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedSummary {
    /// Google's state name and how many people are in it.
    pub counts: Vec<(String, u64)>,
    /// When the last walk finished.
    pub as_of: DateTime<Utc>,
}

/// The walk the holder of the tracker lease is to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkLease {
    /// This walk's id (people it lists are marked with it).
    pub walk_id: String,
    /// Where to resume; None: from the first page.
    pub page_token: Option<String>,
    /// Pages read so far.
    pub pages: u64,
    /// When the walk started.
    pub started_at: DateTime<Utc>,
}

/// One page of a walk, to record.
#[derive(Debug, Clone)]
pub struct WalkPage<'a> {
    /// The Google customer.
    pub customer: &'a str,
    /// Who holds the lease.
    pub holder: &'a str,
    /// The walk.
    pub walk_id: &'a str,
    /// The token of the next page; None: this was the last, the walk is finished.
    pub next_page_token: Option<&'a str>,
    /// The people the page lists.
    pub people: &'a [Observed],
    /// How long the lease is extended from now.
    pub lease: Duration,
}

/// The changes concluded from the stored state `before` (state name, mails sent) and what the
/// list shows now; see the module's rules.
pub fn transitions(
    before: Option<(&str, i64)>,
    state: &str,
    mails_sent_count: i64,
) -> Vec<ChangeKind> {
    let Some((was, count)) = before else {
        return vec![ChangeKind::FirstSeen];
    };
    let mut changes = Vec::new();
    let mailed = state != "NOT_YET_SENT"
        && was != "ACCEPTED"
        && (mails_sent_count > count || (was == "NOT_YET_SENT" && state == "INVITED"));
    if mailed {
        changes.push(ChangeKind::Sent);
    }
    match state {
        "ACCEPTED" if was != "ACCEPTED" => changes.push(ChangeKind::Accepted),
        "DECLINED" if was != "DECLINED" || mailed => changes.push(ChangeKind::Declined),
        "NOT_YET_SENT" if was == "INVITED" => changes.push(ChangeKind::Cancelled),
        _ => {}
    }
    changes
}

/// The person rows of `emails` inside `conn`'s transaction, locked on PostgreSQL (`lock`).
macro_rules! lock_people {
    ($conn:expr, $customer:expr, $emails:expr, $lock:expr) => {{
        let mut query = sqlx::QueryBuilder::new(
            "SELECT email, state, mails_sent_count FROM tracked_people WHERE customer = ",
        );
        query.push_bind($customer);
        query.push(" AND email IN (");
        let mut list = query.separated(", ");
        for email in $emails {
            list.push_bind(email);
        }
        // In email order: two transactions locking overlapping pages cannot deadlock.
        query.push(") ORDER BY email");
        query.push($lock);
        query.build().fetch_all($conn).await.and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok::<_, sqlx::Error>((
                        row.try_get::<String, _>("email")?,
                        (
                            row.try_get::<String, _>("state")?,
                            row.try_get::<i64, _>("mails_sent_count")?,
                        ),
                    ))
                })
                .collect::<Result<HashMap<_, _>, _>>()
        })
    }};
}

/// Writes one person's latest state and its changes inside `conn`'s transaction.
macro_rules! write_person {
    ($conn:expr, $customer:expr, $person:expr, $changes:expr, $walk:expr, $now:expr) => {{
        let person: &Observed = $person;
        let changes: &[ChangeKind] = $changes;
        let walk: Option<&str> = $walk;
        let changed = !changes.is_empty();
        sqlx::query(
            "INSERT INTO tracked_people (customer, email, state, mails_sent_count, update_time, \
             first_seen_at, changed_at, last_walk, listed, missing_since) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, NULL) \
             ON CONFLICT (customer, email) DO UPDATE SET state = excluded.state, \
             mails_sent_count = excluded.mails_sent_count, update_time = excluded.update_time, \
             changed_at = CASE WHEN $9 THEN excluded.changed_at ELSE tracked_people.changed_at END, \
             last_walk = COALESCE(excluded.last_walk, tracked_people.last_walk), \
             listed = (excluded.listed OR tracked_people.listed), \
             missing_since = CASE WHEN excluded.listed THEN NULL ELSE tracked_people.missing_since END",
        )
        .bind($customer)
        .bind(&person.email)
        .bind(&person.state)
        .bind(person.mails_sent_count)
        .bind(person.update_time.map(to_millis))
        .bind($now)
        .bind(walk)
        .bind(walk.is_some())
        .bind(changed)
        .execute(&mut *$conn)
        .await?;
        for change in changes {
            sqlx::query(
                "INSERT INTO tracked_changes (customer, email, change, state, mails_sent_count, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind($customer)
            .bind(&person.email)
            .bind(change.as_str())
            .bind(&person.state)
            .bind(person.mails_sent_count)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

/// A person seen to accept or decline: their mailed items (`sent`, `resent`,
/// `already_invited`) in every real campaign take that outcome inside `conn`'s transaction,
/// with no work left (no reminder). A worker holding such an item keeps the outcome when it
/// stores its own (see `Store::complete_campaign_item`).
macro_rules! settle_campaign_items {
    ($conn:expr, $email:expr, $changes:expr, $now:expr) => {{
        let changes: &[ChangeKind] = $changes;
        let outcome = changes.iter().rev().find_map(|change| match change {
            ChangeKind::Accepted => Some("accepted"),
            ChangeKind::Declined => Some("declined"),
            _ => None,
        });
        if let Some(outcome) = outcome {
            sqlx::query(
                "UPDATE campaign_items SET outcome = $2, due_at = NULL, updated_at = $3 \
                 WHERE person = $1 AND outcome IN ('sent', 'resent', 'already_invited') \
                 AND campaign_id IN (SELECT id FROM campaigns WHERE dry_run = 0)",
            )
            .bind($email)
            .bind(outcome)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

/// Starts a new walk from the first page inside `conn`'s transaction; answers its lease.
macro_rules! start_walk {
    ($conn:expr, $customer:expr, $now:expr) => {{
        let walk_id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query(
            "UPDATE tracker_walks SET walk_id = $2, started_at = $3, page_token = NULL, \
             token_at = NULL, pages = 0, people = 0 WHERE customer = $1",
        )
        .bind($customer)
        .bind(&walk_id)
        .bind($now)
        .execute(&mut *$conn)
        .await
        .map(|_| WalkLease {
            walk_id,
            page_token: None,
            pages: 0,
            started_at: from_millis($now),
        })
    }};
}

fn for_update(tx: &StoreTx) -> &'static str {
    match tx.inner {
        TxInner::Sqlite(_) => "",
        TxInner::Postgres(_) => " FOR UPDATE",
    }
}

impl Store {
    /// Takes (or renews) the tracker lease of `customer` for `holder` during `lease`, and
    /// answers the walk to continue: the one in progress (resumed at its page token while that
    /// is younger than `token_validity`, restarted from the first page otherwise), or a new one
    /// when the last finished `interval` ago. None: another replica holds the lease, or no walk
    /// is due.
    pub async fn take_walk(
        &self,
        customer: &str,
        holder: &str,
        lease: Duration,
        interval: Duration,
        token_validity: Duration,
    ) -> Result<Option<WalkLease>, StoreError> {
        let now = to_millis(self.clock.now());
        let until = now.saturating_add(duration_millis(lease));
        let mut tx = self.begin().await?;
        let taken = with_tx!(tx, conn => async {
            let row = sqlx::query(
                "INSERT INTO tracker_walks (customer, holder, lease_until, pages, people) \
                 VALUES ($1, $2, $3, 0, 0) \
                 ON CONFLICT (customer) DO UPDATE SET holder = excluded.holder, \
                 lease_until = excluded.lease_until \
                 WHERE tracker_walks.holder = $2 OR tracker_walks.lease_until <= $4 \
                 RETURNING walk_id, started_at, page_token, token_at, pages, finished_at",
            )
            .bind(customer)
            .bind(holder)
            .bind(until)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok::<_, sqlx::Error>(None) };
            let walk_id: Option<String> = row.try_get("walk_id")?;
            let started_at: Option<i64> = row.try_get("started_at")?;
            let page_token: Option<String> = row.try_get("page_token")?;
            let token_at: Option<i64> = row.try_get("token_at")?;
            let pages: i64 = row.try_get("pages")?;
            let finished_at: Option<i64> = row.try_get("finished_at")?;
            let stale = token_at.is_some_and(|at| now.saturating_sub(at) >= duration_millis(token_validity));
            match (walk_id, started_at) {
                (Some(walk_id), Some(started_at)) if !(page_token.is_some() && stale) => {
                    Ok(Some(WalkLease {
                        walk_id,
                        page_token,
                        pages: u64::try_from(pages).unwrap_or(0),
                        started_at: from_millis(started_at),
                    }))
                }
                (Some(_), _) => start_walk!(conn, customer, now).map(Some),
                (None, _) => {
                    let due = finished_at.is_none_or(|at| now.saturating_sub(at) >= duration_millis(interval));
                    if due { start_walk!(conn, customer, now).map(Some) } else { Ok(None) }
                }
            }
        }.await)?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Starts the walk of `customer` again from the first page (its page token was refused),
    /// when `holder` holds the lease.
    pub async fn restart_walk(&self, customer: &str, holder: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let walk_id = uuid::Uuid::new_v4().simple().to_string();
        let restarted = with_pool!(self, pool => sqlx::query(
            "UPDATE tracker_walks SET walk_id = $3, started_at = $4, page_token = NULL, \
             token_at = NULL, pages = 0, people = 0 WHERE customer = $1 AND holder = $2",
        )
        .bind(customer)
        .bind(holder)
        .bind(walk_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(restarted)
    }

    /// Gives the tracker lease up (shutdown), so that another replica takes over at once.
    pub async fn release_walk(&self, customer: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE tracker_walks SET holder = NULL, lease_until = 0 \
             WHERE customer = $1 AND holder = $2",
        )
        .bind(customer)
        .bind(holder)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records one page of a walk in one transaction: the walk's progress (fenced: only while
    /// `page.holder` still holds the lease), every person's latest state, their changes, and
    /// an outbox event for each change `event` announces. On the last page the walk finishes:
    /// people it did not list are marked missing. None when the lease was lost (nothing is
    /// written); otherwise the changes recorded.
    pub async fn record_walk_page(
        &self,
        page: &WalkPage<'_>,
        event: &(dyn Fn(&TrackedChange) -> Option<OutboxEvent> + Send + Sync),
    ) -> Result<Option<Vec<TrackedChange>>, StoreError> {
        let now_at = self.clock.now();
        let now = to_millis(now_at);
        let until = now.saturating_add(duration_millis(page.lease));
        let people = i64::try_from(page.people.len()).unwrap_or(i64::MAX);
        let mut tx = self.begin().await?;
        let lock = for_update(&tx);
        let recorded = with_tx!(tx, conn => async {
            // First: fences the page and locks the walk's row until commit.
            let fenced = sqlx::query(
                "UPDATE tracker_walks SET page_token = $4, token_at = $5, pages = pages + 1, \
                 people = people + $6, lease_until = $7 \
                 WHERE customer = $1 AND holder = $2 AND walk_id = $3",
            )
            .bind(page.customer)
            .bind(page.holder)
            .bind(page.walk_id)
            .bind(page.next_page_token)
            .bind(now)
            .bind(people)
            .bind(until)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if fenced != 1 {
                return Ok::<_, sqlx::Error>(None);
            }
            let before = if page.people.is_empty() {
                HashMap::new()
            } else {
                lock_people!(&mut *conn, page.customer, page.people.iter().map(|p| &p.email), lock)?
            };
            let mut recorded = Vec::new();
            for person in page.people {
                let was = before.get(&person.email).map(|(s, c)| (s.as_str(), *c));
                let changes = transitions(was, &person.state, person.mails_sent_count);
                write_person!(conn, page.customer, person, &changes, Some(page.walk_id), now);
                settle_campaign_items!(conn, &person.email, &changes, now);
                recorded.extend(changes.into_iter().map(|kind| TrackedChange {
                    email: person.email.clone(),
                    kind,
                    state: person.state.clone(),
                    mails_sent_count: person.mails_sent_count,
                    at: now_at,
                    update_time: person.update_time,
                }));
            }
            if page.next_page_token.is_none() {
                sqlx::query(
                    "UPDATE tracked_people SET listed = $3, missing_since = COALESCE(missing_since, $4) \
                     WHERE customer = $1 AND listed AND (last_walk IS NULL OR last_walk <> $2)",
                )
                .bind(page.customer)
                .bind(page.walk_id)
                .bind(false)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                // Gateway-made rows no walk ever listed are missing too, from now.
                sqlx::query(
                    "UPDATE tracked_people SET missing_since = $2 \
                     WHERE customer = $1 AND NOT listed AND missing_since IS NULL",
                )
                .bind(page.customer)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE tracker_walks SET finished_at = $3, finished_walk = walk_id, \
                     walk_id = NULL, page_token = NULL, token_at = NULL \
                     WHERE customer = $1 AND walk_id = $2",
                )
                .bind(page.customer)
                .bind(page.walk_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok(Some(recorded))
        }.await)?;
        let Some(recorded) = recorded else {
            return Ok(None);
        };
        let events: Vec<OutboxEvent> = recorded.iter().filter_map(event).collect();
        self.append_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(Some(recorded))
    }

    /// Records a change the gateway made (its own send or cancel) inside `tx`, with its event,
    /// unless the person's row already shows it (a walk saw it first): one change, one event.
    /// Answers whether it was new.
    pub async fn record_gateway_change(
        &self,
        tx: &mut StoreTx,
        change: &GatewayChange,
    ) -> Result<bool, StoreError> {
        let now = to_millis(change.event.at);
        let lock = for_update(tx);
        let state = match change.kind {
            ChangeKind::Cancelled => "NOT_YET_SENT",
            _ => "INVITED",
        };
        let person = Observed {
            email: change.email.clone(),
            state: state.to_owned(),
            mails_sent_count: change.mails_sent_count,
            update_time: change.update_time,
        };
        let new = with_tx!(tx, conn => async {
            let before = lock_people!(&mut *conn, change.customer.as_str(), std::iter::once(&change.email), lock)?;
            let was = before.get(&change.email);
            let new = match (change.kind, was) {
                (_, None) => true,
                (ChangeKind::Sent, Some((_, count))) => *count < change.mails_sent_count,
                (ChangeKind::Cancelled, Some((state, _))) => state == "INVITED",
                _ => false,
            };
            if new {
                write_person!(conn, change.customer.as_str(), &person, &[change.kind], None, now);
            }
            Ok::<_, sqlx::Error>(new)
        }.await)?;
        if new {
            self.append_events(tx, std::slice::from_ref(&change.event))
                .await?;
        }
        Ok(new)
    }

    /// Counts per state of the people the last finished walk listed (and the gateway's own
    /// changes to them since); None before the first walk finished.
    pub async fn tracked_summary(
        &self,
        customer: &str,
    ) -> Result<Option<TrackedSummary>, StoreError> {
        let finished: Option<i64> = with_pool!(self, pool => sqlx::query(
            "SELECT finished_at FROM tracker_walks WHERE customer = $1",
        )
        .bind(customer)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.map(|r| r.try_get::<Option<i64>, _>("finished_at")).transpose()))?
        .flatten();
        let Some(finished) = finished else {
            return Ok(None);
        };
        let counts = with_pool!(self, pool => sqlx::query(
            "SELECT state, COUNT(*) AS n FROM tracked_people WHERE customer = $1 AND listed \
             GROUP BY state ORDER BY state",
        )
        .bind(customer)
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|row| {
            Ok::<_, sqlx::Error>((
                row.try_get::<String, _>("state")?,
                u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
            ))
        }).collect::<Result<Vec<_>, _>>()))?;
        Ok(Some(TrackedSummary {
            counts,
            as_of: from_millis(finished),
        }))
    }

    /// Changes of `kinds` recorded in `[from, to)`, oldest first: (kind, when).
    pub async fn changes_between(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(ChangeKind, DateTime<Utc>)>, StoreError> {
        let rows = with_pool!(self, pool => sqlx::query(
            "SELECT change, at FROM tracked_changes WHERE customer = $1 AND at >= $2 AND at < $3 \
             AND change IN ('sent', 'accepted', 'declined') ORDER BY at, id",
        )
        .bind(customer)
        .bind(to_millis(from))
        .bind(to_millis(to))
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|row| {
            Ok::<_, sqlx::Error>((row.try_get::<String, _>("change")?, row.try_get::<i64, _>("at")?))
        }).collect::<Result<Vec<_>, _>>()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, at)| ChangeKind::parse(&kind).map(|k| (k, from_millis(at))))
            .collect())
    }

    /// For every acceptance recorded in `[from, to)`: how long after the person's last mail
    /// before it (people whose mail the gateway never saw are left out).
    pub async fn accept_delays(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Duration>, StoreError> {
        let delays = with_pool!(self, pool => sqlx::query(
            "SELECT c.at AS at, (SELECT MAX(s.at) FROM tracked_changes s WHERE s.customer = c.customer \
             AND s.email = c.email AND s.change = 'sent' AND s.id < c.id) AS sent_at \
             FROM tracked_changes c WHERE c.customer = $1 AND c.change = 'accepted' \
             AND c.at >= $2 AND c.at < $3",
        )
        .bind(customer)
        .bind(to_millis(from))
        .bind(to_millis(to))
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(|row| {
            Ok::<_, sqlx::Error>((row.try_get::<i64, _>("at")?, row.try_get::<Option<i64>, _>("sent_at")?))
        }).collect::<Result<Vec<_>, _>>()))?;
        Ok(delays
            .into_iter()
            .filter_map(|(at, sent)| {
                let ms = at.checked_sub(sent?)?;
                u64::try_from(ms).ok().map(Duration::from_millis)
            })
            .collect())
    }

    /// The people mailed in `[from, to)`, and how many of them accepted after that mail (up to
    /// now): the funnel's acceptance rate.
    pub async fn mailed_cohort(
        &self,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let (mailed, accepted) = with_pool!(self, pool => sqlx::query(
            "SELECT COUNT(DISTINCT s.email) AS mailed, COUNT(DISTINCT a.email) AS accepted \
             FROM tracked_changes s LEFT JOIN tracked_changes a ON a.customer = s.customer \
             AND a.email = s.email AND a.change = 'accepted' AND a.id > s.id \
             WHERE s.customer = $1 AND s.change = 'sent' AND s.at >= $2 AND s.at < $3",
        )
        .bind(customer)
        .bind(to_millis(from))
        .bind(to_millis(to))
        .fetch_one(pool)
        .await
        .and_then(|row| Ok((row.try_get::<i64, _>("mailed")?, row.try_get::<i64, _>("accepted")?))))?;
        Ok((
            u64::try_from(mailed).unwrap_or(0),
            u64::try_from(accepted).unwrap_or(0),
        ))
    }

    /// Every recorded change of each of `emails` (as stored: normalised), oldest first.
    pub async fn history(
        &self,
        customer: &str,
        emails: &[String],
    ) -> Result<HashMap<String, Vec<(ChangeKind, DateTime<Utc>)>>, StoreError> {
        let mut out: HashMap<String, Vec<(ChangeKind, DateTime<Utc>)>> = HashMap::new();
        if emails.is_empty() {
            return Ok(out);
        }
        let rows = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT email, change, at FROM tracked_changes WHERE customer = ",
            );
            query.push_bind(customer);
            query.push(" AND email IN (");
            let mut list = query.separated(", ");
            for email in emails {
                list.push_bind(email);
            }
            query.push(") ORDER BY id");
            query.build().fetch_all(pool).await.and_then(|rows| rows.iter().map(|row| {
                Ok::<_, sqlx::Error>((
                    row.try_get::<String, _>("email")?,
                    row.try_get::<String, _>("change")?,
                    row.try_get::<i64, _>("at")?,
                ))
            }).collect::<Result<Vec<_>, _>>())
        })?;
        for (email, change, at) in rows {
            if let Some(kind) = ChangeKind::parse(&change) {
                out.entry(email).or_default().push((kind, from_millis(at)));
            }
        }
        Ok(out)
    }

    /// The latest tracked state of each of `emails` the gateway knows (campaigns read the
    /// accepted and declined signal here); unknown people are left out.
    pub async fn latest_tracked(
        &self,
        customer: &str,
        emails: &[String],
    ) -> Result<Vec<TrackedPerson>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let people = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT email, state, mails_sent_count, changed_at, listed, missing_since \
                 FROM tracked_people WHERE customer = ",
            );
            query.push_bind(customer);
            query.push(" AND email IN (");
            let mut list = query.separated(", ");
            for email in emails {
                list.push_bind(email);
            }
            query.push(") ORDER BY email");
            query.build().fetch_all(pool).await.and_then(|rows| rows.iter().map(|row| {
                Ok::<_, sqlx::Error>(TrackedPerson {
                    email: row.try_get("email")?,
                    state: row.try_get("state")?,
                    mails_sent_count: row.try_get("mails_sent_count")?,
                    changed_at: from_millis(row.try_get("changed_at")?),
                    listed: row.try_get("listed")?,
                    missing_since: row.try_get::<Option<i64>, _>("missing_since")?.map(from_millis),
                })
            }).collect::<Result<Vec<_>, _>>())
        })?;
        Ok(people)
    }

    /// Deletes changes recorded before `before`, and people no walk has listed since then.
    pub async fn prune_tracking(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let changes = with_pool!(self, pool => sqlx::query("DELETE FROM tracked_changes WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        let people = with_pool!(self, pool => sqlx::query(
            "DELETE FROM tracked_people WHERE NOT listed AND changed_at < $1 \
             AND missing_since IS NOT NULL AND missing_since < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changes + people)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChangeKind::*;

    #[test]
    fn a_person_met_for_the_first_time_is_only_first_seen() {
        assert_eq!(transitions(None, "ACCEPTED", 1), vec![FirstSeen]);
    }

    #[test]
    fn the_walk_concludes_each_change_once_from_state_and_mail_count() {
        assert_eq!(transitions(Some(("INVITED", 1)), "INVITED", 1), vec![]);
        assert_eq!(
            transitions(Some(("INVITED", 1)), "ACCEPTED", 1),
            vec![Accepted]
        );
        assert_eq!(
            transitions(Some(("INVITED", 1)), "DECLINED", 1),
            vec![Declined]
        );
        assert_eq!(
            transitions(Some(("INVITED", 1)), "NOT_YET_SENT", 1),
            vec![Cancelled]
        );
        assert_eq!(
            transitions(Some(("NOT_YET_SENT", 0)), "INVITED", 1),
            vec![Sent]
        );
        assert_eq!(transitions(Some(("INVITED", 1)), "INVITED", 2), vec![Sent]);
        assert_eq!(
            transitions(Some(("NOT_YET_SENT", 0)), "ACCEPTED", 1),
            vec![Sent, Accepted]
        );
        assert_eq!(
            transitions(Some(("DECLINED", 1)), "DECLINED", 2),
            vec![Sent, Declined]
        );
        assert_eq!(transitions(Some(("ACCEPTED", 1)), "ACCEPTED", 1), vec![]);
        assert_eq!(transitions(Some(("DECLINED", 1)), "DECLINED", 1), vec![]);
    }
}
