//! The walk of Google's list (one replica at a time, resumable) and the changes it and the
//! gateway record under each person's row lock.

use super::{
    ChangeRules, GatewayChange, Observed, TrackedChange, WalkCadence, WalkLease, WalkPage,
    stored_state,
};
use crate::store::clock::{duration_millis, from_millis, new_token, to_millis};
use crate::store::{OutboxEvent, RowLock, Store, StoreError, StoreTx};
use crate::vocabulary::ChangeKind;
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

/// The person rows of `emails` inside `conn`'s transaction, locked on PostgreSQL (`lock`).
macro_rules! lock_people {
    ($conn:expr, $customer:expr, $emails:expr, $lock:expr) => {{
        let mut query = sqlx::QueryBuilder::new(
            "SELECT email, state, mails_sent_count FROM tracked_people WHERE customer = ",
        );
        query.push_bind($customer);
        query.push(" AND email");
        $crate::store::push_in(&mut query, $emails);
        // In email order: two transactions locking overlapping pages cannot deadlock.
        query.push(" ORDER BY email");
        query.push($lock);
        query.build().fetch_all($conn).await.and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok::<_, sqlx::Error>((
                        row.try_get::<String, _>("email")?,
                        (
                            stored_state(row.try_get("state")?),
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
        .bind(person.state.as_str())
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
            .bind(person.state.as_str())
            .bind(person.mails_sent_count)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}

/// A person seen to accept or decline: their mailed items in every real campaign take the
/// outcome `rules` settle them with inside `conn`'s transaction, with no work left (no
/// reminder). A worker holding such an item keeps the outcome when it stores its own (see
/// `Store::complete_campaign_item`).
macro_rules! settle_campaign_items {
    ($conn:expr, $rules:expr, $email:expr, $changes:expr, $now:expr) => {{
        let rules: &dyn ChangeRules = $rules;
        if let Some(outcome) = rules.settled_outcome($changes) {
            let mut query = sqlx::QueryBuilder::new("UPDATE campaign_items SET outcome = ");
            query.push_bind(outcome.as_str());
            query.push(", due_at = NULL, updated_at = ");
            query.push_bind($now);
            query.push(" WHERE person = ");
            query.push_bind($email);
            query.push(" AND outcome");
            $crate::store::push_in(&mut query, rules.settled_from().iter().map(|o| o.as_str()));
            query.push(" AND campaign_id IN (SELECT id FROM campaigns WHERE dry_run = 0)");
            query.build().execute(&mut *$conn).await?;
        }
    }};
}

/// Starts a new walk (`$full` or incremental) from the first page inside `conn`'s
/// transaction; answers its lease.
macro_rules! start_walk {
    ($conn:expr, $customer:expr, $now:expr, $full:expr, $watermark:expr) => {{
        let walk_id = new_token();
        let full: bool = $full;
        sqlx::query(
            "UPDATE tracker_walks SET walk_id = $2, started_at = $3, page_token = NULL, \
             token_at = NULL, pages = 0, people = 0, walk_full = $4, walk_newest = NULL \
             WHERE customer = $1",
        )
        .bind($customer)
        .bind(&walk_id)
        .bind($now)
        .bind(full)
        .execute(&mut *$conn)
        .await
        .map(|_| WalkLease {
            walk_id,
            page_token: None,
            pages: 0,
            started_at: from_millis($now),
            full,
            newest: None,
            watermark: $watermark,
        })
    }};
}

impl Store {
    /// Takes (or renews) the tracker lease of `customer` for `holder` during `cadence.lease`,
    /// and answers the walk to continue: the one in progress (resumed at its page token while
    /// that is younger than `cadence.token_validity`, restarted from the first page otherwise),
    /// or a new one when the last finished `cadence.interval` ago: a full walk when none
    /// finished within `cadence.full_every`, an incremental one otherwise. None: another
    /// replica holds the lease, or no walk is due.
    pub async fn take_walk(
        &self,
        customer: &str,
        holder: &str,
        cadence: WalkCadence,
    ) -> Result<Option<WalkLease>, StoreError> {
        let (now, until) = self.clock.lease(cadence.lease);
        let mut tx = self.begin().await?;
        let taken = with_tx!(tx, conn => async {
            let row = sqlx::query(
                "INSERT INTO tracker_walks (customer, holder, lease_until, pages, people) \
                 VALUES ($1, $2, $3, 0, 0) \
                 ON CONFLICT (customer) DO UPDATE SET holder = excluded.holder, \
                 lease_until = excluded.lease_until \
                 WHERE tracker_walks.holder = $2 OR tracker_walks.lease_until <= $4 \
                 RETURNING walk_id, started_at, page_token, token_at, pages, finished_at, \
                 walk_full, walk_newest, watermark, full_finished_at",
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
            let full: bool = row.try_get("walk_full")?;
            let newest: Option<i64> = row.try_get("walk_newest")?;
            let watermark = row.try_get::<Option<i64>, _>("watermark")?.map(from_millis);
            let full_finished_at: Option<i64> = row.try_get("full_finished_at")?;
            let elapsed = |at: i64, span: Duration| now.saturating_sub(at) >= duration_millis(span);
            let stale = token_at.is_some_and(|at| elapsed(at, cadence.token_validity));
            match (walk_id, started_at) {
                (Some(walk_id), Some(started_at)) if !(page_token.is_some() && stale) => {
                    Ok(Some(WalkLease {
                        walk_id,
                        page_token,
                        pages: u64::try_from(pages).unwrap_or(0),
                        started_at: from_millis(started_at),
                        full,
                        newest: newest.map(from_millis),
                        watermark,
                    }))
                }
                (Some(_), _) => start_walk!(conn, customer, now, full, watermark).map(Some),
                (None, _) => {
                    if finished_at.is_some_and(|at| !elapsed(at, cadence.interval)) {
                        return Ok(None);
                    }
                    let full = full_finished_at.is_none_or(|at| elapsed(at, cadence.full_every));
                    start_walk!(conn, customer, now, full, watermark).map(Some)
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
        let walk_id = new_token();
        let restarted = execute!(
            self,
            "UPDATE tracker_walks SET walk_id = $3, started_at = $4, page_token = NULL, \
             token_at = NULL, pages = 0, people = 0 WHERE customer = $1 AND holder = $2",
            customer,
            holder,
            walk_id,
            now
        )? == 1;
        Ok(restarted)
    }

    /// Gives the tracker lease up (shutdown), so that another replica takes over at once.
    pub async fn release_walk(&self, customer: &str, holder: &str) -> Result<(), StoreError> {
        execute!(
            self,
            "UPDATE tracker_walks SET holder = NULL, lease_until = 0 \
             WHERE customer = $1 AND holder = $2",
            customer,
            holder
        )?;
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
        rules: &dyn ChangeRules,
        event: &(dyn Fn(&TrackedChange) -> Option<OutboxEvent> + Send + Sync),
    ) -> Result<Option<Vec<TrackedChange>>, StoreError> {
        let now_at = self.clock.now();
        let now = to_millis(now_at);
        let until = now.saturating_add(duration_millis(page.lease));
        let people = i64::try_from(page.people.len()).unwrap_or(i64::MAX);
        let newest = page.newest.map(to_millis);
        let mut tx = self.begin().await?;
        let lock = self.lock_suffix(RowLock::Wait);
        let recorded = with_tx!(tx, conn => async {
            // First: fences the page and locks the walk's row until commit.
            let fenced = sqlx::query(
                "UPDATE tracker_walks SET page_token = $4, token_at = $5, pages = pages + 1, \
                 people = people + $6, lease_until = $7, walk_newest = $8 \
                 WHERE customer = $1 AND holder = $2 AND walk_id = $3 \
                 RETURNING walk_full, started_at",
            )
            .bind(page.customer)
            .bind(page.holder)
            .bind(page.walk_id)
            .bind(page.next_page_token)
            .bind(now)
            .bind(people)
            .bind(until)
            .bind(newest)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(fenced) = fenced else {
                return Ok::<_, sqlx::Error>(None);
            };
            let full: bool = fenced.try_get("walk_full")?;
            let started_at: Option<i64> = fenced.try_get("started_at")?;
            let before = if page.people.is_empty() {
                HashMap::new()
            } else {
                lock_people!(&mut *conn, page.customer, page.people.iter().map(|p| &p.email), lock)?
            };
            let mut recorded = Vec::new();
            for person in page.people {
                let was = before.get(&person.email).copied();
                let changes = rules.walk_changes(was, person);
                write_person!(conn, page.customer, person, &changes, Some(page.walk_id), now);
                settle_campaign_items!(conn, rules, &person.email, &changes, now);
                recorded.extend(changes.into_iter().map(|kind| TrackedChange {
                    email: person.email.clone(),
                    kind,
                    state: person.state,
                    mails_sent_count: person.mails_sent_count,
                    at: now_at,
                    update_time: person.update_time,
                }));
            }
            if page.next_page_token.is_some() {
                return Ok(Some(recorded));
            }
            if full {
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
            }
            // The watermark: an incremental walk read everything newer than the one it started
            // from, so its newest is the new one. A full walk (email order) may have passed a
            // person who changed during it: it keeps the incremental walks' watermark, and sets
            // the first one (there was none) to its newest less its own duration.
            let watermark = match (full, newest, started_at) {
                (true, Some(newest), Some(started)) => {
                    Some(newest.saturating_sub(now.saturating_sub(started)))
                }
                (true, _, _) => None,
                (false, newest, _) => newest,
            };
            sqlx::query(
                "UPDATE tracker_walks SET finished_at = $3, finished_walk = walk_id, \
                 walk_id = NULL, page_token = NULL, token_at = NULL, \
                 full_finished_at = CASE WHEN walk_full THEN $3 ELSE full_finished_at END, \
                 watermark = CASE WHEN walk_full THEN COALESCE(watermark, $4) \
                 ELSE COALESCE($4, watermark) END \
                 WHERE customer = $1 AND walk_id = $2",
            )
            .bind(page.customer)
            .bind(page.walk_id)
            .bind(now)
            .bind(watermark)
            .execute(&mut *conn)
            .await?;
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
    /// Answers whether it was new (`rules` decide).
    pub async fn record_gateway_change(
        &self,
        tx: &mut StoreTx,
        change: &GatewayChange,
        rules: &dyn ChangeRules,
    ) -> Result<bool, StoreError> {
        let now = to_millis(change.event.at);
        let lock = self.lock_suffix(RowLock::Wait);
        let person = Observed {
            email: change.email.clone(),
            state: rules.gateway_state(change.kind),
            mails_sent_count: change.mails_sent_count,
            update_time: change.update_time,
        };
        let new = with_tx!(tx, conn => async {
            let before = lock_people!(&mut *conn, change.customer.as_str(), std::iter::once(&change.email), lock)?;
            let new = rules.gateway_change_is_new(before.get(&change.email).copied(), change);
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
}
