//! The item rows of a campaign: adding people, counting outcomes, pages for reports.

use super::named;
use super::{count, strings};
use crate::store::clock::{from_millis, to_millis};
use crate::store::{Caller, Store, StoreError};
use crate::vocabulary::{CampaignState, InvitationState, ItemErrorCode, ItemOutcome};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;

/// An invitation as a list page showed it, so that the item's send needs no read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownInvitation {
    /// Its state.
    pub state: InvitationState,
    /// Mails sent so far.
    pub mails_sent: i64,
    /// Last update.
    pub updated: Option<DateTime<Utc>>,
}

/// A person to add to a campaign.
#[derive(Clone, PartialEq, Eq)]
pub struct NewItem {
    /// The address (normalised when valid; as given, trimmed, when not). Two pending items
    /// whose addresses differ only in case are one person (Google ignores case).
    pub email: String,
    /// Why it is skipped (invalid, domain not allowed); None: it is pending work.
    pub skipped: Option<String>,
    /// The invitation, when the source already read it.
    pub known: Option<KnownInvitation>,
    /// For a roster's item: its row and its values of the roster's other columns.
    pub roster: Option<RosterRow>,
}

/// Where an item stands in its roster: what joins a report back to it.
#[derive(Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// Its row number as a spreadsheet shows it (the header is row 1).
    pub row: u32,
    /// Its values of the roster's other columns, in the order the campaign's
    /// `roster_columns` names them.
    pub values: Vec<String>,
}

debug_fields!(NewItem { skipped, known });

// The values are the caller's roster: personal data stays out of logs.
debug_fields!(RosterRow { row });

/// The `reason` of an item that repeats an earlier one of its campaign.
pub const DUPLICATE_REASON: &str = "duplicate";

/// One item, for pages and reports.
#[derive(Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// Its id (pages resume after it).
    pub id: i64,
    /// The address.
    pub email: String,
    /// Its outcome.
    pub outcome: ItemOutcome,
    /// Why, when there is a reason.
    pub reason: Option<String>,
    /// For `failed`: code and detail.
    pub error: Option<(ItemErrorCode, String)>,
    /// Mails sent by the campaign.
    pub mails: u32,
    /// When the last went out.
    pub last_mail_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// For a roster's item: its row and other columns.
    pub roster: Option<RosterRow>,
}

debug_fields!(ItemRecord { id, outcome, mails });

/// A page of items, in the order they were added.
/// Where a campaign's mails stand in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeline {
    /// When the last of its first mails went out (None while nobody was mailed).
    pub last_first_mail: Option<DateTime<Utc>>,
    /// The earliest reminder due among its people (None when none is left).
    pub next_reminder: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPage {
    /// The items.
    pub items: Vec<ItemRecord>,
    /// The id the next page starts after; None on the last.
    pub next: Option<i64>,
}

const ITEM_COLUMNS: &str = "id, email, outcome, reason, error_code, error_detail, mails, last_mail_at, updated_at, \
     roster_row, roster_values";

macro_rules! item_from_row {
    ($row:expr) => {{
        let row = $row;
        let code: Option<String> = row.try_get("error_code")?;
        let code = code
            .map(|code| named(ItemErrorCode::from_name, code))
            .transpose()?;
        let detail: Option<String> = row.try_get("error_detail")?;
        let outcome = named(ItemOutcome::from_name, row.try_get("outcome")?)?;
        Ok::<_, sqlx::Error>(ItemRecord {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            // A pending item keeps the code of a failed attempt only to know it was tried.
            error: if outcome == ItemOutcome::Failed {
                code.zip(detail)
            } else {
                None
            },
            outcome,
            reason: row.try_get("reason")?,
            mails: count(row.try_get("mails")?),
            last_mail_at: row
                .try_get::<Option<i64>, _>("last_mail_at")?
                .map(from_millis),
            updated_at: from_millis(row.try_get("updated_at")?),
            roster: match row.try_get::<Option<i64>, _>("roster_row")? {
                Some(n) => Some(RosterRow {
                    row: count(n),
                    values: strings(row.try_get("roster_values")?),
                }),
                None => None,
            },
        })
    }};
}

/// The items of outcome `$3` (pending) of the owner `$1`, `$2` in campaigns whose state is
/// neither `$4` nor `$5` (the final states): bind them with [`OWNER_PENDING_NAMES`].
const OWNER_PENDING: &str = "SELECT COUNT(*) AS n FROM campaign_items i \
    JOIN campaigns c ON c.id = i.campaign_id \
    WHERE c.owner_iss = $1 AND c.owner_sub = $2 AND i.outcome = $3 \
    AND c.state NOT IN ($4, $5)";

/// The names [`OWNER_PENDING`] binds after the owner.
const OWNER_PENDING_NAMES: [&str; 3] = [
    ItemOutcome::Pending.as_str(),
    CampaignState::Completed.as_str(),
    CampaignState::Cancelled.as_str(),
];

/// Most items one page answers.
pub const MAX_ITEM_PAGE: u32 = 1000;

/// One item of a person, with the campaign it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonItem {
    /// The campaign's id.
    pub campaign_id: String,
    /// The campaign's name.
    pub campaign_name: String,
    /// The campaign is a dry run.
    pub dry_run: bool,
    /// The item.
    pub item: ItemRecord,
}

impl Store {
    /// Adds `items` to a campaign in one transaction (callers pass bounded chunks). A pending
    /// item repeating a person already in the campaign is added as `skipped` with reason
    /// [`DUPLICATE_REASON`] (after the chunk's other rows) when `mark_duplicates`, and left out
    /// otherwise (a walk of Google's list that starts over). Answers how many rows were added.
    pub async fn add_campaign_items(
        &self,
        campaign_id: &str,
        items: &[NewItem],
        mark_duplicates: bool,
    ) -> Result<u64, StoreError> {
        let added = self
            .insert_items(campaign_id, items, mark_duplicates, None)
            .await?;
        Ok(added.unwrap_or_default())
    }

    /// Adds `items` as [`Store::add_campaign_items`] does (duplicates marked), unless the
    /// campaign's creator would then have more than `cap` pending items in campaigns that are
    /// not final: then nothing is added and the answer is `Err` with how many they would have.
    /// Concurrent additions for one creator (on any replica) are serialised, so together they
    /// never pass the cap.
    pub async fn add_campaign_items_within(
        &self,
        campaign_id: &str,
        items: &[NewItem],
        cap: u64,
    ) -> Result<Result<u64, u64>, StoreError> {
        self.insert_items(campaign_id, items, true, Some(cap)).await
    }

    async fn insert_items(
        &self,
        campaign_id: &str,
        items: &[NewItem],
        mark_duplicates: bool,
        cap: Option<u64>,
    ) -> Result<Result<u64, u64>, StoreError> {
        let now = to_millis(self.clock.now());
        const INSERT: &str = "INSERT INTO campaign_items (campaign_id, email, person, outcome, \
             reason, known_state, known_mails, known_update, due_at, updated_at, roster_row, \
             roster_values) ";
        let roster_row = |item: &NewItem| item.roster.as_ref().map(|r| i64::from(r.row));
        let roster_values = |item: &NewItem| {
            item.roster
                .as_ref()
                .map(|r| serde_json::to_string(&r.values).unwrap_or_default())
        };
        // One statement per slice (well under both databases' limits on bound values): a
        // roster of 100,000 rows is 200 statements, not 100,000.
        const ROWS: usize = 500;
        // The creator's pending items are counted after the insert, under a lock of that
        // creator's (PostgreSQL: an advisory lock on the owner; SQLite: `begin`'s one writer).
        let lock = match self.backend {
            crate::store::Backend::Postgres(_) => {
                "SELECT pg_advisory_xact_lock(hashtext($1 || ' ' || $2))"
            }
            crate::store::Backend::Sqlite(_) => "SELECT $1, $2",
        };
        let mut tx = self.begin().await?;
        let added = with_tx!(tx, conn => async {
            let owner = match cap {
                Some(_) => {
                    let row = sqlx::query("SELECT owner_iss, owner_sub FROM campaigns WHERE id = $1")
                        .bind(campaign_id)
                        .fetch_one(&mut *conn)
                        .await?;
                    let owner: (String, String) = (row.try_get("owner_iss")?, row.try_get("owner_sub")?);
                    sqlx::query(lock).bind(&owner.0).bind(&owner.1).execute(&mut *conn).await?;
                    Some(owner)
                }
                None => None,
            };
            let mut added = 0;
            for slice in items.chunks(ROWS) {
                let mut insert = sqlx::QueryBuilder::new(INSERT);
                insert.push_values(slice, |mut row, item| {
                    let pending = item.skipped.is_none();
                    let known = item.known.as_ref();
                    row.push_bind(campaign_id)
                        .push_bind(item.email.clone())
                        .push_bind(pending.then(|| item.email.to_lowercase()))
                        .push_bind(if pending { "pending" } else { "skipped" })
                        .push_bind(item.skipped.clone())
                        .push_bind(known.map(|k| k.state.as_str()))
                        .push_bind(known.map(|k| k.mails_sent))
                        .push_bind(known.and_then(|k| k.updated).map(to_millis))
                        .push_bind(pending.then_some(now))
                        .push_bind(now)
                        .push_bind(roster_row(item))
                        .push_bind(roster_values(item));
                });
                insert.push(" ON CONFLICT (campaign_id, person) DO NOTHING RETURNING person");
                let rows = insert.build().fetch_all(&mut *conn).await?;
                added += rows.len() as u64;
                // Each person inserted by this statement, once: the first of its rows in the
                // slice went in, any other (or one already in the campaign) repeats it.
                let mut inserted = std::collections::HashSet::new();
                for row in &rows {
                    if let Some(person) = row.try_get::<Option<String>, _>("person")? {
                        inserted.insert(person);
                    }
                }
                let repeats: Vec<&NewItem> = slice
                    .iter()
                    .filter(|item| {
                        item.skipped.is_none() && !inserted.remove(&item.email.to_lowercase())
                    })
                    .collect();
                if mark_duplicates && !repeats.is_empty() {
                    let mut insert = sqlx::QueryBuilder::new(INSERT);
                    insert.push_values(&repeats, |mut row, item| {
                        row.push_bind(campaign_id)
                            .push_bind(item.email.clone())
                            .push_bind(None::<String>)
                            .push_bind("skipped")
                            .push_bind(DUPLICATE_REASON)
                            .push_bind(None::<String>)
                            .push_bind(None::<i64>)
                            .push_bind(None::<i64>)
                            .push_bind(None::<i64>)
                            .push_bind(now)
                            .push_bind(roster_row(item))
                            .push_bind(roster_values(item));
                    });
                    added += insert.build().execute(&mut *conn).await?.rows_affected();
                }
            }
            if let (Some(cap), Some(owner)) = (cap, owner) {
                let n: i64 = OWNER_PENDING_NAMES
                    .iter()
                    .fold(sqlx::query(OWNER_PENDING).bind(&owner.0).bind(&owner.1), |q, name| {
                        q.bind(*name)
                    })
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("n")?;
                let n = u64::try_from(n).unwrap_or(0);
                if n > cap {
                    return Ok::<Result<u64, u64>, sqlx::Error>(Err(n));
                }
            }
            Ok(Ok(added))
        }.await)?;
        if added.is_err() {
            // Nothing of this call stays: the transaction is rolled back.
            tx.rollback().await?;
            return Ok(added);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// How many pending items `owner` has in campaigns that are not final (the work it has
    /// queued, which [`Store::add_campaign_items_within`] caps).
    pub async fn pending_items(&self, owner: &Caller) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, pool => OWNER_PENDING_NAMES
            .iter()
            .fold(sqlx::query(OWNER_PENDING).bind(&owner.iss).bind(&owner.sub), |q, name| {
                q.bind(*name)
            })
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get("n")))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many items of campaign `id` have each outcome (outcomes with none are absent).
    pub async fn campaign_counts(
        &self,
        id: &str,
    ) -> Result<BTreeMap<ItemOutcome, u64>, StoreError> {
        let counts = with_pool!(self, pool => count_outcomes!(pool, id))?;
        Ok(counts)
    }

    /// When campaign `id`'s last first mail went out and when its earliest reminder is due
    /// (each None when there is none).
    pub async fn campaign_timeline(&self, id: &str) -> Result<Timeline, StoreError> {
        let (last_first_mail, next_reminder) = with_pool!(self, pool => sqlx::query(
            "SELECT MAX(first_mail_at) AS last_first, \
             MIN(CASE WHEN outcome IN ($2, $3) THEN due_at END) AS next_reminder \
             FROM campaign_items WHERE campaign_id = $1",
        )
        .bind(id)
        .bind(ItemOutcome::Sent.as_str())
        .bind(ItemOutcome::Resent.as_str())
        .fetch_one(pool)
        .await
        .and_then(|row| Ok((
            row.try_get::<Option<i64>, _>("last_first")?,
            row.try_get::<Option<i64>, _>("next_reminder")?,
        ))))?;
        Ok(Timeline {
            last_first_mail: last_first_mail.map(from_millis),
            next_reminder: next_reminder.map(from_millis),
        })
    }

    /// A page of campaign `id`'s items in the order they were added, only those with one of
    /// `outcomes` (all when empty), after item `after`; at most `limit` (1 to 1000).
    pub async fn campaign_items(
        &self,
        id: &str,
        outcomes: &[ItemOutcome],
        limit: u32,
        after: Option<i64>,
    ) -> Result<ItemPage, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_ITEM_PAGE));
        let mut items = with_pool!(self, pool => {
            let mut query =
                sqlx::QueryBuilder::new(format!("SELECT {ITEM_COLUMNS} FROM campaign_items WHERE campaign_id = "));
            query.push_bind(id);
            query.push(" AND id > ");
            query.push_bind(after.unwrap_or(0));
            if !outcomes.is_empty() {
                query.push(" AND outcome");
                crate::store::push_in(&mut query, outcomes.iter().map(|o| o.as_str()));
            }
            query.push(" ORDER BY id LIMIT ");
            query.push_bind(limit + 1);
            decode_rows!(query.build().fetch_all(pool).await, |row| item_from_row!(row))
        })?;
        let next = crate::store::next_page(&mut items, limit, |i| i.id);
        Ok(ItemPage { items, next })
    }

    /// The items of `person` (a normalised address) in every campaign (of `owner`, or
    /// everybody's), the latest changed first, at most `limit`. Items skipped before they had
    /// a person (an address that is not valid, or a duplicate row) are not found by address.
    pub async fn person_items(
        &self,
        person: &str,
        owner: Option<&Caller>,
        limit: u32,
    ) -> Result<Vec<PersonItem>, StoreError> {
        let columns: Vec<String> = ITEM_COLUMNS
            .split(',')
            .map(|column| format!("i.{}", column.trim()))
            .collect();
        let sql = format!(
            "SELECT c.id AS campaign_id, c.name AS campaign_name, c.dry_run AS campaign_dry_run, \
             {} FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id \
             WHERE i.person = $1 AND ($2 IS NULL OR (c.owner_iss = $2 AND c.owner_sub = $3)) \
             ORDER BY i.updated_at DESC, i.id DESC LIMIT $4",
            columns.join(", ")
        );
        let items = fetch_all!(
            self,
            &sql,
            [
                person,
                owner.map(|o| o.iss.as_str()),
                owner.map(|o| o.sub.as_str()),
                i64::from(limit.clamp(1, MAX_ITEM_PAGE))
            ],
            |row| Ok::<_, sqlx::Error>(PersonItem {
                campaign_id: row.try_get("campaign_id")?,
                campaign_name: row.try_get("campaign_name")?,
                dry_run: row.try_get::<i64, _>("campaign_dry_run")? != 0,
                item: item_from_row!(row)?,
            })
        )?;
        Ok(items)
    }
}
