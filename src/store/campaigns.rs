//! Campaigns: durable bulk invitations. A campaign row holds the job and its lifecycle state;
//! an item row per person holds its outcome and when work on it is next due. Replicas claim due
//! items with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a `BEGIN IMMEDIATE` write
//! transaction on SQLite), so no two replicas work on one item at once, and an item whose
//! replica died is claimed again once its lease runs out.

use super::clock::{duration_millis, from_millis, to_millis};
use super::{Backend, Caller, OutboxEvent, Store, StoreError};
use crate::vocabulary::{InvitationState, ItemErrorCode, ItemOutcome, SourceKind};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How many items of campaign `$id` have each outcome, on `$conn` (a pool or a transaction).
macro_rules! count_outcomes {
    ($conn:expr, $id:expr) => {
        sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM campaign_items WHERE campaign_id = $1 \
             GROUP BY outcome",
        )
        .bind($id)
        .fetch_all($conn)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok((
                        named(ItemOutcome::from_name, row.try_get("outcome")?)?,
                        u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                    ))
                })
                .collect::<Result<BTreeMap<ItemOutcome, u64>, sqlx::Error>>()
        })
    };
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignState {
    /// Waits for its `startAt`.
    Scheduled,
    /// Being worked on.
    Running,
    /// Held until `resumesAt` (mail budget spent, Google unavailable); then running again.
    Waiting,
    /// Held by its owner until resumed.
    Paused,
    /// Every item is final.
    Completed,
    /// Stopped by its owner; no further work.
    Cancelled,
}

impl CampaignState {
    /// Every state.
    pub const ALL: [CampaignState; 6] = [
        CampaignState::Scheduled,
        CampaignState::Running,
        CampaignState::Waiting,
        CampaignState::Paused,
        CampaignState::Completed,
        CampaignState::Cancelled,
    ];

    /// The name on the wire and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Waiting => "waiting",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// The state named `name`; None for a name the store never writes.
    pub fn parse(name: &str) -> Option<CampaignState> {
        CampaignState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True for completed and cancelled: nothing will change any more.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignState::Completed | CampaignState::Cancelled)
    }

    /// True while workers may act on the campaign's items (running, or due to run).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CampaignState::Scheduled | CampaignState::Running | CampaignState::Waiting
        )
    }
}

/// Reminders of a campaign: another mail `after` the last one to a person still INVITED, at
/// most `max` more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminders {
    /// Time after the last mail.
    pub after: Duration,
    /// Most reminders per person.
    pub max: u32,
}

/// A campaign to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// Its id.
    pub id: String,
    /// Its creator, whose mail budget it spends and who alone sees it (besides admins).
    pub owner: Caller,
    /// Its name, for people.
    pub name: String,
    /// Classify only, mail nobody.
    pub dry_run: bool,
    /// Mail people who are already INVITED again.
    pub resend: bool,
    /// Where its people come from.
    pub source_kind: SourceKind,
    /// For a `states` source: the invitation states whose accounts it invites.
    pub source_states: Vec<InvitationState>,
    /// Reminders, if any.
    pub reminders: Option<Reminders>,
    /// When work starts.
    pub start_at: DateTime<Utc>,
    /// False while the worker has still to walk Google's list (a `states` source): the items
    /// are not all known yet.
    pub planned: bool,
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    /// Its id.
    pub id: String,
    /// Its creator.
    pub owner: Caller,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: CampaignState,
    /// Classify only.
    pub dry_run: bool,
    /// Mail INVITED people again.
    pub resend: bool,
    /// Where its people come from.
    pub source_kind: SourceKind,
    /// For a `states` source, its states.
    pub source_states: Vec<InvitationState>,
    /// Reminders, if any.
    pub reminders: Option<Reminders>,
    /// When work starts.
    pub start_at: DateTime<Utc>,
    /// While waiting: when work resumes.
    pub resumes_at: Option<DateTime<Utc>>,
    /// Every item is known (the source was walked).
    pub planned: bool,
    /// Google calls made for it.
    pub google_calls: u64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Completed or cancelled.
    pub completed_at: Option<DateTime<Utc>>,
    /// For a roster: the names of its other columns, which its items' values follow.
    pub roster_columns: Vec<String>,
}

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

impl fmt::Debug for NewItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewItem")
            .field("skipped", &self.skipped)
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RosterRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values are the caller's roster: personal data stays out of logs.
        f.debug_struct("RosterRow")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

/// The `reason` of an item that repeats an earlier one of its campaign.
pub const DUPLICATE_REASON: &str = "duplicate";

/// An item claimed by this replica until its lease runs out.
#[derive(Clone, PartialEq, Eq)]
pub struct ItemLease {
    /// The item's id.
    pub id: i64,
    /// Its campaign.
    pub campaign_id: String,
    /// The address.
    pub email: String,
    /// Its outcome so far (`pending`, or `sent`/`resent` when a reminder is due).
    pub outcome: ItemOutcome,
    /// The invitation as the source read it.
    pub known: Option<KnownInvitation>,
    /// Mails sent to the person by this campaign.
    pub mails: u32,
    /// Reminders among them.
    pub reminders: u32,
    /// A mail's call was about to be made (or made) when an earlier holder stopped: Google
    /// must be read before anything else.
    pub mailing: bool,
    /// Times it was claimed before and given back or lost (a read comes first then too).
    pub attempts: u32,
    token: String,
}

impl fmt::Debug for ItemLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemLease")
            .field("id", &self.id)
            .field("campaign_id", &self.campaign_id)
            .field("outcome", &self.outcome)
            .field("mails", &self.mails)
            .field("mailing", &self.mailing)
            .finish_non_exhaustive()
    }
}

/// What became of a claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUpdate {
    /// Its outcome now.
    pub outcome: ItemOutcome,
    /// Why (for `skipped`, `not_eligible`, ...).
    pub reason: Option<String>,
    /// For `failed`: the error's code and detail.
    pub error: Option<(ItemErrorCode, String)>,
    /// A mail went out: count it (and when).
    pub mailed: bool,
    /// The mail was a reminder.
    pub reminder: bool,
    /// When work is next due (a reminder); None: the item is final.
    pub due_at: Option<DateTime<Utc>>,
}

impl ItemUpdate {
    /// The item is now `outcome`, with nothing else to record.
    pub fn new(outcome: ItemOutcome) -> Self {
        Self {
            outcome,
            reason: None,
            error: None,
            mailed: false,
            reminder: false,
            due_at: None,
        }
    }
}

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

impl fmt::Debug for ItemRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemRecord")
            .field("id", &self.id)
            .field("outcome", &self.outcome)
            .field("mails", &self.mails)
            .finish_non_exhaustive()
    }
}

/// A page of campaigns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPage {
    /// The campaigns.
    pub campaigns: Vec<CampaignRecord>,
    /// The token of the next page; None on the last.
    pub next: Option<String>,
}

/// A page of items, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPage {
    /// The items.
    pub items: Vec<ItemRecord>,
    /// The id the next page starts after; None on the last.
    pub next: Option<i64>,
}

const CAMPAIGN_COLUMNS: &str = "id, owner_iss, owner_sub, name, state, dry_run, resend, \
    source_kind, source_states, remind_after_secs, remind_max, start_at, resumes_at, planned, \
    google_calls, created_at, updated_at, completed_at, roster_columns";

const LEASE_COLUMNS: &str = "id, campaign_id, email, outcome, known_state, known_mails, \
    known_update, mails, reminders, mailing, claims, lease_token";

const ITEM_COLUMNS: &str = "id, email, outcome, reason, error_code, error_detail, mails, last_mail_at, updated_at, \
     roster_row, roster_values";

/// A JSON array of strings from a column (an empty list for NULL or what is not one).
fn strings(json: Option<String>) -> Vec<String> {
    json.and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// The value of a closed set stored as its name; a name this version never writes is a
/// decode error, not a guess.
fn named<T>(parse: fn(&str) -> Option<T>, name: String) -> Result<T, sqlx::Error> {
    parse(&name).ok_or_else(|| sqlx::Error::Decode(format!("unknown stored name {name:?}").into()))
}

/// A non-negative count from a column.
fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

macro_rules! campaign_from_row {
    ($row:expr) => {{
        let row = $row;
        let after: Option<i64> = row.try_get("remind_after_secs")?;
        let max: Option<i64> = row.try_get("remind_max")?;
        let states: Option<String> = row.try_get("source_states")?;
        Ok::<_, sqlx::Error>(CampaignRecord {
            id: row.try_get("id")?,
            owner: Caller {
                iss: row.try_get("owner_iss")?,
                sub: row.try_get("owner_sub")?,
            },
            name: row.try_get("name")?,
            state: named(CampaignState::parse, row.try_get("state")?)?,
            dry_run: row.try_get::<i64, _>("dry_run")? != 0,
            resend: row.try_get::<i64, _>("resend")? != 0,
            source_kind: named(SourceKind::from_name, row.try_get("source_kind")?)?,
            source_states: states
                .map(|s| {
                    s.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|state| named(InvitationState::from_name, state.to_owned()))
                        .collect::<Result<_, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            reminders: after.zip(max).map(|(after, max)| Reminders {
                after: Duration::from_secs(u64::try_from(after).unwrap_or(0)),
                max: count(max),
            }),
            start_at: from_millis(row.try_get("start_at")?),
            resumes_at: row
                .try_get::<Option<i64>, _>("resumes_at")?
                .map(from_millis),
            planned: row.try_get::<i64, _>("planned")? != 0,
            google_calls: u64::try_from(row.try_get::<i64, _>("google_calls")?).unwrap_or(0),
            created_at: from_millis(row.try_get("created_at")?),
            updated_at: from_millis(row.try_get("updated_at")?),
            completed_at: row
                .try_get::<Option<i64>, _>("completed_at")?
                .map(from_millis),
            roster_columns: strings(row.try_get("roster_columns")?),
        })
    }};
}

macro_rules! lease_from_row {
    ($row:expr) => {{
        let row = $row;
        let known_state: Option<String> = row.try_get("known_state")?;
        let known_mails: Option<i64> = row.try_get("known_mails")?;
        let known_update: Option<i64> = row.try_get("known_update")?;
        Ok::<_, sqlx::Error>(ItemLease {
            id: row.try_get("id")?,
            campaign_id: row.try_get("campaign_id")?,
            email: row.try_get("email")?,
            outcome: named(ItemOutcome::from_name, row.try_get("outcome")?)?,
            known: known_state.map(|state| KnownInvitation {
                // A state this version does not know is what Google calls unspecified.
                state: InvitationState::from_name(&state)
                    .unwrap_or(InvitationState::StateUnspecified),
                mails_sent: known_mails.unwrap_or(0),
                updated: known_update.map(from_millis),
            }),
            mails: count(row.try_get("mails")?),
            reminders: count(row.try_get("reminders")?),
            mailing: row.try_get::<i64, _>("mailing")? != 0,
            attempts: count(row.try_get::<i64, _>("claims")? - 1),
            token: row
                .try_get::<Option<String>, _>("lease_token")?
                .unwrap_or_default(),
        })
    }};
}

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

/// Most items one page answers.
pub const MAX_ITEM_PAGE: u32 = 1000;

/// A campaign a worker may act on at `$1`: running, scheduled past its start, waiting past its
/// `resumesAt`.
const DUE_CAMPAIGN: &str = "(state = 'running' \
     OR (state = 'scheduled' AND start_at <= $1) \
     OR (state = 'waiting' AND (resumes_at IS NULL OR resumes_at <= $1)))";

impl Store {
    /// Creates a campaign (without items: add them with [`Store::add_campaign_items`]).
    pub async fn create_campaign(
        &self,
        campaign: &NewCampaign,
    ) -> Result<CampaignRecord, StoreError> {
        let now = self.clock.now();
        let state = if campaign.start_at > now {
            CampaignState::Scheduled
        } else {
            CampaignState::Running
        };
        let states = (!campaign.source_states.is_empty()).then(|| {
            let names: Vec<&str> = campaign.source_states.iter().map(|s| s.as_str()).collect();
            names.join(",")
        });
        let sql = format!(
            "INSERT INTO campaigns (id, owner_iss, owner_sub, name, state, dry_run, resend, \
             source_kind, source_states, remind_after_secs, remind_max, start_at, planned, \
             google_calls, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14) \
             RETURNING {CAMPAIGN_COLUMNS}"
        );
        let record = with_pool!(self, pool => sqlx::query(&sql)
            .bind(&campaign.id)
            .bind(&campaign.owner.iss)
            .bind(&campaign.owner.sub)
            .bind(&campaign.name)
            .bind(state.as_str())
            .bind(i64::from(campaign.dry_run))
            .bind(i64::from(campaign.resend))
            .bind(campaign.source_kind.as_str())
            .bind(states)
            .bind(campaign.reminders.map(|r| i64::try_from(r.after.as_secs()).unwrap_or(i64::MAX)))
            .bind(campaign.reminders.map(|r| i64::from(r.max)))
            .bind(to_millis(campaign.start_at))
            .bind(i64::from(campaign.planned))
            .bind(to_millis(now))
            .fetch_one(pool)
            .await
            .and_then(|row| campaign_from_row!(row)))?;
        Ok(record)
    }

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
        let mut tx = self.begin().await?;
        let added = with_tx!(tx, conn => async {
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
            Ok::<u64, sqlx::Error>(added)
        }.await)?;
        tx.commit().await?;
        Ok(added)
    }

    /// Records the names of a roster's other columns on campaign `id` (its items' values
    /// follow them).
    pub async fn set_roster_columns(&self, id: &str, columns: &[String]) -> Result<(), StoreError> {
        let columns = serde_json::to_string(columns).unwrap_or_default();
        with_pool!(self, pool => sqlx::query("UPDATE campaigns SET roster_columns = $2 WHERE id = $1")
            .bind(id)
            .bind(columns)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Deletes campaign `id` and its items, together (a creation that failed half-way).
    pub async fn delete_campaign(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        with_tx!(tx, conn => async {
            sqlx::query("DELETE FROM campaign_items WHERE campaign_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM campaigns WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }.await)?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes, with their items, the imports created before `before` that never finished: a
    /// campaign of addresses or of a roster is unplanned only while its creating request
    /// writes its items, so one still unplanned long after was left by a request that could
    /// not clean up (its process died, or the store failed it). A `states` campaign, unplanned
    /// until a worker has walked Google's list, is never touched. Answers how many rows went.
    pub async fn delete_abandoned_imports(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const ABANDONED: &str = "SELECT id FROM campaigns WHERE planned = 0 \
             AND source_kind <> 'states' AND created_at < $1";
        self.delete_campaigns_in(ABANDONED, to_millis(before)).await
    }

    /// Marks a campaign's items as all known (its source was walked to the end).
    pub async fn finish_campaign_planning(&self, campaign_id: &str) -> Result<(), StoreError> {
        let now = to_millis(self.clock.now());
        with_pool!(self, pool => sqlx::query(
            "UPDATE campaigns SET planned = 1, plan_token = NULL, plan_until = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(campaign_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Takes the walk of an unplanned campaign's source for `lease`; false when it is planned
    /// or another replica walks it now. A walker that died leaves a lease that runs out.
    pub async fn claim_campaign_planning(
        &self,
        campaign_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let until = now.saturating_add(duration_millis(lease));
        let token = uuid::Uuid::new_v4().simple().to_string();
        let claimed = with_pool!(self, pool => sqlx::query(
            "UPDATE campaigns SET plan_token = $2, plan_until = $3 \
             WHERE id = $1 AND planned = 0 AND (plan_until IS NULL OR plan_until <= $4)",
        )
        .bind(campaign_id)
        .bind(&token)
        .bind(until)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(claimed)
    }

    /// The campaign `id`, if any.
    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        let record = with_pool!(self, pool => sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .and_then(|row| row.map(|row| campaign_from_row!(row)).transpose()))?;
        Ok(record)
    }

    /// Only the state of campaign `id` (workers re-read it before each step).
    pub async fn campaign_state(&self, id: &str) -> Result<Option<CampaignState>, StoreError> {
        let state: Option<String> = with_pool!(self, pool => sqlx::query(
            "SELECT state FROM campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.map(|r| r.try_get::<String, _>("state")).transpose()))?;
        Ok(state.as_deref().and_then(CampaignState::parse))
    }

    /// A page of campaigns (of `owner`, or everybody's), newest first; `page` is the token of
    /// the previous page's `next`. An import whose items are still being written (a campaign of
    /// addresses or of a roster not planned yet) is not listed: it exists once its creation
    /// has answered.
    pub async fn list_campaigns(
        &self,
        owner: Option<&Caller>,
        limit: u32,
        page: Option<&str>,
    ) -> Result<CampaignPage, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        // The token is `<created_at>.<id>` of the last campaign shown.
        let cursor = page.and_then(|p| {
            let (at, id) = p.split_once('.')?;
            Some((at.parse::<i64>().ok()?, id.to_owned()))
        });
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns \
             WHERE ($1 IS NULL OR (owner_iss = $1 AND owner_sub = $2)) \
             AND (planned = 1 OR source_kind = 'states') \
             AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let mut campaigns = with_pool!(self, pool => sqlx::query(&sql)
            .bind(owner.map(|o| o.iss.as_str()))
            .bind(owner.map(|o| o.sub.as_str()))
            .bind(cursor.as_ref().map(|c| c.0))
            .bind(cursor.as_ref().map(|c| c.1.as_str()))
            .bind(limit + 1)
            .fetch_all(pool)
            .await
            .and_then(|rows| rows.iter().map(|row| campaign_from_row!(row)).collect::<Result<Vec<_>, _>>()))?;
        let next = if campaigns.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            campaigns.pop();
            campaigns
                .last()
                .map(|c| format!("{}.{}", to_millis(c.created_at), c.id))
        } else {
            None
        };
        Ok(CampaignPage { campaigns, next })
    }

    /// Campaigns a worker may act on now: running, scheduled past their start, waiting past
    /// their `resumesAt`; oldest first.
    pub async fn due_campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let now = to_millis(self.clock.now());
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns \
             WHERE {DUE_CAMPAIGN} ORDER BY created_at, id"
        );
        let campaigns = with_pool!(self, pool => sqlx::query(&sql)
            .bind(now)
            .fetch_all(pool)
            .await
            .and_then(|rows| rows.iter().map(|row| campaign_from_row!(row)).collect::<Result<Vec<_>, _>>()))?;
        Ok(campaigns)
    }

    /// Moves campaign `id` to `to` when it is in one of `from`; `resumes_at` is set (waiting)
    /// or cleared. Answers whether it moved. Completing or cancelling stamps `completed_at`.
    pub async fn set_campaign_state(
        &self,
        id: &str,
        from: &[CampaignState],
        to: CampaignState,
        resumes_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let moved = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new("UPDATE campaigns SET state = ");
            query.push_bind(to.as_str());
            query.push(", resumes_at = ");
            query.push_bind(resumes_at.map(to_millis));
            query.push(", updated_at = ");
            query.push_bind(now);
            query.push(", completed_at = ");
            query.push_bind(to.is_final().then_some(now));
            query.push(" WHERE id = ");
            query.push_bind(id);
            query.push(" AND state IN (");
            let mut list = query.separated(", ");
            for state in &from {
                list.push_bind(*state);
            }
            query.push(")");
            query.build().execute(pool).await.map(|r| r.rows_affected() == 1)
        })?;
        Ok(moved)
    }

    /// Resumes campaign `id` if it is paused, to what it was: `scheduled` while its `startAt`
    /// is still ahead, `running` after (a waiting campaign runs and waits again if it must).
    /// One statement, so the start is compared with the store's clock at the moment it moves.
    /// Answers whether it moved.
    pub async fn resume_campaign(&self, id: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let moved = with_pool!(self, pool => sqlx::query(
            "UPDATE campaigns SET state = CASE WHEN start_at > $2 THEN 'scheduled' \
             ELSE 'running' END, resumes_at = NULL, updated_at = $2 \
             WHERE id = $1 AND state = 'paused'",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(moved)
    }

    /// Cancels campaign `id` unless it is final: its pending items become `cancelled`, mailed
    /// items get no reminder; items in flight finish as they are. Answers whether it moved.
    pub async fn cancel_campaign(&self, id: &str) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let mut tx = self.begin().await?;
        let moved = with_tx!(tx, conn => async {
            let moved = sqlx::query(
                "UPDATE campaigns SET state = 'cancelled', resumes_at = NULL, \
                 updated_at = $2, completed_at = $2 \
                 WHERE id = $1 AND state NOT IN ('completed', 'cancelled')",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if moved {
                sqlx::query(
                    "UPDATE campaign_items SET outcome = 'cancelled', due_at = NULL, \
                     updated_at = $2 WHERE campaign_id = $1 AND outcome = 'pending' \
                     AND mailing = 0",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE campaign_items SET due_at = NULL, updated_at = $2 \
                     WHERE campaign_id = $1 AND due_at IS NOT NULL AND mailing = 0",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok::<bool, sqlx::Error>(moved)
        }.await)?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Claims up to `limit` due items of campaign `id` for `lease`: items nobody holds, or
    /// whose holder's lease ran out. Two claimers, on any replica, never get the same item.
    pub async fn claim_campaign_items(
        &self,
        campaign_id: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ItemLease>, StoreError> {
        let now = to_millis(self.clock.now());
        let until = now.saturating_add(duration_millis(lease));
        let token = uuid::Uuid::new_v4().simple().to_string();
        let pick = "SELECT id FROM campaign_items WHERE campaign_id = $3 \
             AND due_at IS NOT NULL AND due_at <= $4 \
             AND (lease_until IS NULL OR lease_until <= $4) \
             ORDER BY due_at, id LIMIT $5";
        let update = |pick: &str| {
            format!(
                "UPDATE campaign_items SET lease_token = $1, lease_until = $2, \
                 claims = claims + 1 WHERE id IN ({pick}) RETURNING {LEASE_COLUMNS}"
            )
        };
        let sql = match &self.backend {
            // One writer at a time (`begin` is BEGIN IMMEDIATE): the pick and the update see no
            // other claimer between.
            Backend::Sqlite(_) => update(pick),
            // Rows another claimer is taking are skipped, not waited for; a row it took in the
            // meantime is re-checked against the WHERE and left out.
            Backend::Postgres(_) => update(&format!("{pick} FOR UPDATE SKIP LOCKED")),
        };
        let mut tx = self.begin().await?;
        let mut leases = with_tx!(tx, conn => async {
            let rows = sqlx::query(&sql)
                .bind(&token)
                .bind(until)
                .bind(campaign_id)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
            let leases = rows
                .iter()
                .map(|row| lease_from_row!(row))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<Vec<ItemLease>, sqlx::Error>(leases)
        }.await)?;
        tx.commit().await?;
        leases.sort_by_key(|l| l.id);
        Ok(leases)
    }

    /// Records that the item's mail is about to be sent (after its audit intent, before the
    /// call): a holder that takes it over later reads Google first. False when the lease was
    /// lost (then no call may be made).
    pub async fn mark_item_mailing(&self, item: &ItemLease) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let marked = with_pool!(self, pool => sqlx::query(
            "UPDATE campaign_items SET mailing = 1, updated_at = $3 \
             WHERE id = $1 AND lease_token = $2 AND lease_until > $3",
        )
        .bind(item.id)
        .bind(&item.token)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(marked)
    }

    /// Writes a claimed item's outcome and gives up its lease. False when the lease was taken
    /// over meanwhile (the other holder's result stands). An item the tracker saw accepted or
    /// declined while it was held keeps that outcome, with no work left: a person who accepted
    /// is counted once, as accepted, and never reminded.
    pub async fn complete_campaign_item(
        &self,
        item: &ItemLease,
        update: &ItemUpdate,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let done = with_pool!(self, pool => sqlx::query(
            "UPDATE campaign_items SET \
             outcome = CASE WHEN outcome IN ('accepted', 'declined') THEN outcome ELSE $3 END, \
             reason = $4, error_code = $5, \
             error_detail = $6, mails = mails + $7, reminders = reminders + $8, \
             last_mail_at = CASE WHEN $7 > 0 THEN $9 ELSE last_mail_at END, \
             due_at = CASE WHEN outcome IN ('accepted', 'declined') THEN NULL ELSE $10 END, \
             mailing = 0, lease_token = NULL, lease_until = NULL, updated_at = $9 \
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(item.id)
        .bind(&item.token)
        .bind(update.outcome.as_str())
        .bind(&update.reason)
        .bind(update.error.as_ref().map(|e| e.0.as_str()))
        .bind(update.error.as_ref().map(|e| e.1.as_str()))
        .bind(i64::from(update.mailed))
        .bind(i64::from(update.mailed && update.reminder))
        .bind(now)
        .bind(update.due_at.map(to_millis))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(done)
    }

    /// Gives a claimed item back unchanged, due again at `due_at` (nothing was done: paused,
    /// budget spent, Google unavailable). `error` remembers the attempt's error code;
    /// `nothing_sent` (no call of this holder reached Google) clears the `mailing` mark its own
    /// `mark_item_mailing` set, so the next holder need not read Google first.
    pub async fn release_campaign_item(
        &self,
        item: &ItemLease,
        due_at: DateTime<Utc>,
        error: Option<(ItemErrorCode, &str)>,
        nothing_sent: bool,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let released = with_pool!(self, pool => sqlx::query(
            "UPDATE campaign_items SET lease_token = NULL, lease_until = NULL, \
             due_at = CASE WHEN due_at IS NULL THEN NULL ELSE $3 END, \
             error_code = COALESCE($4, error_code), error_detail = COALESCE($5, error_detail), \
             mailing = CASE WHEN $7 THEN 0 ELSE mailing END, \
             updated_at = $6 WHERE id = $1 AND lease_token = $2",
        )
        .bind(item.id)
        .bind(&item.token)
        .bind(to_millis(due_at))
        .bind(error.map(|e| e.0.as_str()))
        .bind(error.map(|e| e.1))
        .bind(now)
        .bind(nothing_sent)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))?;
        Ok(released)
    }

    /// Counts `calls` more Google calls for campaign `id`.
    pub async fn add_campaign_calls(&self, id: &str, calls: u64) -> Result<(), StoreError> {
        if calls == 0 {
            return Ok(());
        }
        with_pool!(self, pool => sqlx::query(
            "UPDATE campaigns SET google_calls = google_calls + $2 WHERE id = $1",
        )
        .bind(id)
        .bind(i64::try_from(calls).unwrap_or(i64::MAX))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Completes campaign `id` when it is planned, active, and no item has work left; answers
    /// whether this call completed it. The event `announce` builds from the campaign's name and
    /// counts is appended in the same transaction: the conditional update lets exactly one of
    /// several replicas finishing the last items at once complete it (the others wait for its
    /// row lock and then find it completed), so the campaign is announced exactly once.
    pub async fn complete_campaign_if_done(
        &self,
        id: &str,
        announce: impl FnOnce(&str, &BTreeMap<ItemOutcome, u64>) -> OutboxEvent,
    ) -> Result<bool, StoreError> {
        let now = to_millis(self.clock.now());
        let mut tx = self.begin().await?;
        let done = with_tx!(tx, conn => async {
            let name = sqlx::query(
                "UPDATE campaigns SET state = 'completed', resumes_at = NULL, updated_at = $2, \
                 completed_at = $2 WHERE id = $1 AND planned = 1 \
                 AND state IN ('scheduled', 'running', 'waiting') \
                 AND NOT EXISTS (SELECT 1 FROM campaign_items i \
                     WHERE i.campaign_id = $1 AND (i.due_at IS NOT NULL OR i.lease_token IS NOT NULL)) \
                 RETURNING name",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(name) = name else {
                return Ok::<_, sqlx::Error>(None);
            };
            let name: String = name.try_get("name")?;
            let counts = count_outcomes!(&mut *conn, id)?;
            Ok(Some((name, counts)))
        }.await)?;
        let Some((name, counts)) = done else {
            return Ok(false);
        };
        let event = announce(&name, &counts);
        self.append_events(&mut tx, std::slice::from_ref(&event))
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the campaigns that finished (completed or cancelled) before `before`, with
    /// their items; answers how many rows went. Active and paused campaigns are kept whatever
    /// their age.
    pub async fn prune_campaigns(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const FINISHED: &str = "SELECT id FROM campaigns WHERE state IN ('completed', 'cancelled') \
             AND COALESCE(completed_at, updated_at) < $1";
        self.delete_campaigns_in(FINISHED, to_millis(before)).await
    }

    /// Deletes the campaigns `selection` (a `SELECT id FROM campaigns ...` taking `$1`, bound
    /// to `millis`) with their items, in one transaction; answers how many rows went.
    async fn delete_campaigns_in(&self, selection: &str, millis: i64) -> Result<u64, StoreError> {
        // Items first: the selection still sees their campaigns.
        let statements = [
            format!("DELETE FROM campaign_items WHERE campaign_id IN ({selection})"),
            format!("DELETE FROM campaigns WHERE id IN ({selection})"),
        ];
        let mut tx = self.begin().await?;
        let deleted = with_tx!(tx, conn => async {
            let mut deleted = 0;
            for sql in &statements {
                deleted += sqlx::query(sql)
                    .bind(millis)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            Ok::<_, sqlx::Error>(deleted)
        }.await)?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// How many items of campaign `id` have each outcome (outcomes with none are absent).
    pub async fn campaign_counts(
        &self,
        id: &str,
    ) -> Result<BTreeMap<ItemOutcome, u64>, StoreError> {
        let counts = with_pool!(self, pool => count_outcomes!(pool, id))?;
        Ok(counts)
    }

    /// Pending items due now (the worker backlog): items of the campaigns a worker may act on
    /// ([`Store::due_campaigns`]) whose time has come. A campaign scheduled for later, paused,
    /// or waiting for its `resumesAt` has no due work; nor has an import still being written
    /// (addresses or a roster, unplanned), which may never be.
    pub async fn campaign_backlog(&self) -> Result<u64, StoreError> {
        let now = to_millis(self.clock.now());
        let sql = format!(
            "SELECT COUNT(*) AS n FROM campaign_items \
             WHERE outcome = 'pending' AND (due_at IS NULL OR due_at <= $1) \
             AND campaign_id IN (SELECT id FROM campaigns WHERE {DUE_CAMPAIGN} \
             AND (planned = 1 OR source_kind = 'states'))"
        );
        let n: i64 = with_pool!(self, pool => sqlx::query(&sql)
            .bind(now)
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get("n")))?;
        Ok(u64::try_from(n).unwrap_or(0))
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
                query.push(" AND outcome IN (");
                let mut list = query.separated(", ");
                for outcome in outcomes {
                    list.push_bind(outcome.as_str());
                }
                query.push(")");
            }
            query.push(" ORDER BY id LIMIT ");
            query.push_bind(limit + 1);
            query
                .build()
                .fetch_all(pool)
                .await
                .and_then(|rows| rows.iter().map(|row| item_from_row!(row)).collect::<Result<Vec<_>, _>>())
        })?;
        let next = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            items.pop();
            items.last().map(|i| i.id)
        } else {
            None
        };
        Ok(ItemPage { items, next })
    }
}
