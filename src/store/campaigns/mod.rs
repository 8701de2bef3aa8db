//! Campaigns: durable bulk invitations. A campaign row holds the job and its lifecycle state;
//! an item row per person holds its outcome and when work on it is next due. Replicas claim due
//! items with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a `BEGIN IMMEDIATE` write
//! transaction on SQLite), so no two replicas work on one item at once, and an item whose
//! replica died is claimed again once its lease runs out.
//!
//! The module is cut by table and job: this file holds the campaign row (its types, reads and
//! the columns every part shares), `lifecycle` creates, moves and deletes campaigns, `items`
//! writes and pages the item rows, and `claims` leases items to the worker.

use super::clock::{from_millis, to_millis};
use super::{Caller, Store, StoreError};
use crate::vocabulary::{AtDeadline, CampaignState, InvitationState, ItemOutcome, SourceKind};
use chrono::{DateTime, Utc};
use sqlx::Row;
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

/// Why a `waiting` campaign waits until its `resumesAt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitingReason {
    /// Its creator's daily mail limit is spent: the next UTC day.
    MailLimit,
    /// The project's Google call budget has no slot before the next window.
    GoogleBudget,
    /// The breaker in front of Google is open.
    BreakerOpen,
    /// Google failed or did not answer.
    GoogleUnavailable,
    /// The store could not be reached.
    StoreUnavailable,
    /// The audit trail could not be written.
    AuditUnavailable,
}

impl WaitingReason {
    /// Every reason.
    pub const ALL: [WaitingReason; 6] = [
        WaitingReason::MailLimit,
        WaitingReason::GoogleBudget,
        WaitingReason::BreakerOpen,
        WaitingReason::GoogleUnavailable,
        WaitingReason::StoreUnavailable,
        WaitingReason::AuditUnavailable,
    ];

    /// The name on the wire and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingReason::MailLimit => "mail_limit",
            WaitingReason::GoogleBudget => "google_budget",
            WaitingReason::BreakerOpen => "breaker_open",
            WaitingReason::GoogleUnavailable => "google_unavailable",
            WaitingReason::StoreUnavailable => "store_unavailable",
            WaitingReason::AuditUnavailable => "audit_unavailable",
        }
    }

    /// The reason named `name`; None for a name the store never writes.
    pub fn parse(name: &str) -> Option<WaitingReason> {
        WaitingReason::ALL.into_iter().find(|r| r.as_str() == name)
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

/// A campaign's end and origin: its deadline, what happens then, and the dry run it was
/// started from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignTerms {
    /// When the people still INVITED by it become `no_answer` (None: never).
    pub deadline: Option<DateTime<Utc>>,
    /// What happens then to their invitations.
    pub at_deadline: AtDeadline,
    /// The dry run whose `would_send` people it mails.
    pub from_dry_run: Option<String>,
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
    /// Ask isInvitableUser about people the tracker's snapshot does not show (else they end
    /// `not_listed`).
    pub check_unlisted: bool,
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
    /// Its deadline and origin.
    pub terms: CampaignTerms,
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
    /// Ask isInvitableUser about people the tracker's snapshot does not show.
    pub check_unlisted: bool,
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
    /// While waiting: why (None for a wait recorded before reasons were).
    pub waiting_reason: Option<WaitingReason>,
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
    /// Its deadline and origin.
    pub terms: CampaignTerms,
    /// When a replica passed its deadline (its people still INVITED became `no_answer`).
    pub deadline_reached_at: Option<DateTime<Utc>>,
    /// When it was archived (a finished dry run hidden from the list); None: not archived.
    pub archived_at: Option<DateTime<Utc>>,
}

/// A page of campaigns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPage {
    /// The campaigns.
    pub campaigns: Vec<CampaignRecord>,
    /// The token of the next page; None on the last.
    pub next: Option<String>,
}

const CAMPAIGN_COLUMNS: &str = "id, owner_iss, owner_sub, name, state, dry_run, resend, \
    source_kind, source_states, remind_after_secs, remind_max, start_at, resumes_at, planned, \
    google_calls, created_at, updated_at, completed_at, roster_columns, waiting_reason, \
    check_unlisted, deadline, at_deadline, deadline_reached_at, from_dry_run, archived_at";

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
            state: named(CampaignState::from_name, row.try_get("state")?)?,
            dry_run: row.try_get::<i64, _>("dry_run")? != 0,
            resend: row.try_get::<i64, _>("resend")? != 0,
            check_unlisted: row.try_get::<i64, _>("check_unlisted")? != 0,
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
            waiting_reason: row
                .try_get::<Option<String>, _>("waiting_reason")?
                .as_deref()
                .and_then(WaitingReason::parse),
            planned: row.try_get::<i64, _>("planned")? != 0,
            google_calls: u64::try_from(row.try_get::<i64, _>("google_calls")?).unwrap_or(0),
            created_at: from_millis(row.try_get("created_at")?),
            updated_at: from_millis(row.try_get("updated_at")?),
            completed_at: row
                .try_get::<Option<i64>, _>("completed_at")?
                .map(from_millis),
            roster_columns: strings(row.try_get("roster_columns")?),
            terms: $crate::store::CampaignTerms {
                deadline: row.try_get::<Option<i64>, _>("deadline")?.map(from_millis),
                at_deadline: named(
                    $crate::vocabulary::AtDeadline::from_name,
                    row.try_get("at_deadline")?,
                )?,
                from_dry_run: row.try_get("from_dry_run")?,
            },
            deadline_reached_at: row
                .try_get::<Option<i64>, _>("deadline_reached_at")?
                .map(from_millis),
            archived_at: row
                .try_get::<Option<i64>, _>("archived_at")?
                .map(from_millis),
        })
    }};
}

/// A campaign a worker may act on at `$1`: running, scheduled past its start, waiting past its
/// `resumesAt`; `$2`, `$3` and `$4` are bound to [`DUE_STATES`].
const DUE_CAMPAIGN: &str = "(state = $2 \
     OR (state = $3 AND start_at <= $1) \
     OR (state = $4 AND (resumes_at IS NULL OR resumes_at <= $1)))";

/// The names [`DUE_CAMPAIGN`] binds as `$2`, `$3` and `$4`.
const DUE_STATES: [&str; 3] = [
    CampaignState::Running.as_str(),
    CampaignState::Scheduled.as_str(),
    CampaignState::Waiting.as_str(),
];

mod claims;
mod deadline;
mod items;
mod lifecycle;

pub use claims::{ItemLease, ItemUpdate};

pub use items::{
    DUPLICATE_REASON, ItemPage, ItemRecord, KnownInvitation, MAX_ITEM_PAGE, NewItem, PersonItem,
    RosterRow, Timeline,
};

impl Store {
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
        Ok(state.as_deref().and_then(CampaignState::from_name))
    }

    /// A page of campaigns (of `owner`, or everybody's), newest first; `page` is the token of
    /// the previous page's `next`; archived ones only `with_archived`. An import whose items are still being written (a campaign of
    /// addresses or of a roster not planned yet) is not listed: it exists once its creation
    /// has answered.
    pub async fn list_campaigns(
        &self,
        owner: Option<&Caller>,
        limit: u32,
        page: Option<&str>,
        with_archived: bool,
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
             AND (planned = 1 OR source_kind = $6) \
             AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
             AND ($7 OR archived_at IS NULL) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let mut campaigns = fetch_all!(
            self,
            &sql,
            [
                owner.map(|o| o.iss.as_str()),
                owner.map(|o| o.sub.as_str()),
                cursor.as_ref().map(|c| c.0),
                cursor.as_ref().map(|c| c.1.as_str()),
                limit + 1,
                SourceKind::States.as_str(),
                with_archived
            ],
            |row| campaign_from_row!(row)
        )?;
        let next = crate::store::next_page(&mut campaigns, limit, |c| {
            format!("{}.{}", to_millis(c.created_at), c.id)
        });
        Ok(CampaignPage { campaigns, next })
    }

    /// Campaigns a worker may act on now: running, scheduled past their start, waiting past
    /// their `resumesAt`; in the fair order: real runs before dry runs, then by creator, the
    /// creator whose items were claimed longest ago first (its campaigns together), and among
    /// a creator's campaigns the one served longest ago first (then the oldest).
    pub async fn due_campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let now = to_millis(self.clock.now());
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns \
             WHERE {DUE_CAMPAIGN} ORDER BY dry_run, \
             (SELECT MAX(o.served_turn) FROM campaigns o \
              WHERE o.owner_iss = campaigns.owner_iss AND o.owner_sub = campaigns.owner_sub), \
             owner_iss, owner_sub, served_turn, created_at, id"
        );
        let [running, scheduled, waiting] = DUE_STATES;
        let campaigns = fetch_all!(self, &sql, [now, running, scheduled, waiting], |row| {
            campaign_from_row!(row)
        })?;
        Ok(campaigns)
    }

    /// Pending items due now (the worker backlog): items of the campaigns a worker may act on
    /// ([`Store::due_campaigns`]) whose time has come. A campaign scheduled for later, paused,
    /// or waiting for its `resumesAt` has no due work; nor has an import still being written
    /// (addresses or a roster, unplanned), which may never be.
    pub async fn campaign_backlog(&self) -> Result<u64, StoreError> {
        let now = to_millis(self.clock.now());
        let sql = format!(
            "SELECT COUNT(*) AS n FROM campaign_items \
             WHERE outcome = $5 AND (due_at IS NULL OR due_at <= $1) \
             AND campaign_id IN (SELECT id FROM campaigns WHERE {DUE_CAMPAIGN} \
             AND (planned = 1 OR source_kind = $6))"
        );
        let [running, scheduled, waiting] = DUE_STATES;
        let n: i64 = with_pool!(self, pool => sqlx::query(&sql)
            .bind(now)
            .bind(running)
            .bind(scheduled)
            .bind(waiting)
            .bind(ItemOutcome::Pending.as_str())
            .bind(SourceKind::States.as_str())
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get("n")))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
