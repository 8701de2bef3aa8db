//! Campaigns: durable bulk invitations at the pace the Google budget allows.
//!
//! A campaign is created with its source (Google's list in some states, a list of addresses,
//! or an uploaded roster); its people become items in the store. Every replica runs a
//! [`worker`] that claims due items with a lease and mails each through the same safe send as
//! a request's ([`Invitations::send_item`]), so a campaign survives restarts and the
//! loss of a replica, and nobody gets a mail twice. Knows nothing of actix-web.

mod creation;
mod deadline;
pub mod keyed;
mod pace;
mod people;
pub mod planning;
mod runs;
mod views;
pub mod worker;

pub use deadline::ResolutionLine;
pub use people::{MAX_PERSON_ITEMS, PersonItemView};
pub use runs::RunSpec;
pub use views::*;
use views::{item_view, push_json_line, rfc3339, write_report_line};

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::invitations::Invitations;
use crate::invitations::csv;
use crate::invitations::durable::StoreUnavailable;
/// Reminders of a campaign: another mail `after` the last one to a person still INVITED, at
/// most `max` more (the campaign's own type; the store keeps its copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminders {
    /// Time after the last mail.
    pub after: std::time::Duration,
    /// Most reminders per person.
    pub max: u32,
}

impl From<Reminders> for crate::store::Reminders {
    fn from(Reminders { after, max }: Reminders) -> Self {
        Self { after, max }
    }
}

impl Reminders {
    fn from_store(crate::store::Reminders { after, max }: crate::store::Reminders) -> Self {
        Self { after, max }
    }
}
use crate::store::{Caller, CampaignRecord, Gate, ItemRecord, NewCampaign, NewItem, StoreError};
use crate::vocabulary::{
    AtDeadline, CampaignState, InvitationState, ItemErrorCode, ItemOutcome, SourceKind,
};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::Stream;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Most addresses an `emails` source may name.
pub const MAX_EMAILS: usize = 10_000;
/// Most data rows a roster may have.
pub const MAX_ROSTER_ROWS: usize = 100_000;
/// Most of a roster's other columns kept with its items (the first ones with a name).
pub const MAX_ROSTER_COLUMNS: usize = 64;
/// Most bytes of a row's kept other columns together.
pub const MAX_ROSTER_VALUES_BYTES: usize = 4096;
/// Items written to the store per transaction while a source is read.
pub const CHUNK: usize = 1000;
/// How much longer than the body read timeout an unfinished import is left alone before it
/// is swept: the last chunk and the planning mark are written after the body is in, and
/// deleting an import still going on would fail its request.
pub const IMPORT_MARGIN: Duration = Duration::from_secs(300);
/// Worker rounds between two sweeps of abandoned imports (at least a minute apart at the
/// default poll when there is no work; the first at start).
const SWEEP_ROUNDS: u32 = 60;
/// Default and largest page sizes of lists.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page a list answers.
pub const MAX_PAGE: u32 = 1000;

/// Who asks: the verified caller, and whether it holds `campaigns.admin`.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The caller.
    pub caller: Caller,
    /// Sees and steers every campaign, not only its own.
    pub admin: bool,
}

/// Where a campaign's people come from.
pub enum Source {
    /// Every unmanaged account in these states when the campaign starts (the worker walks
    /// Google's list once).
    States(Vec<InvitationState>),
    /// These addresses (at most [`MAX_EMAILS`]).
    Emails(Vec<String>),
    /// An uploaded roster (CSV, semicolon- or tab-separated) with an email column, read as it
    /// streams in.
    Roster(std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>),
    /// The `would_send` people of a completed dry run (checked by [`Campaigns::run`]), with
    /// their roster rows and columns.
    DryRun(Box<CampaignRecord>),
}

impl Source {
    fn kind(&self) -> SourceKind {
        match self {
            Source::States(_) => SourceKind::States,
            Source::Emails(_) => SourceKind::Emails,
            Source::Roster(_) => SourceKind::Roster,
            // Its people are known addresses now (a roster's keep their rows).
            Source::DryRun(run) if run.source_kind == SourceKind::Roster => SourceKind::Roster,
            Source::DryRun(_) => SourceKind::Emails,
        }
    }
}

/// A campaign to create (the source apart).
#[derive(Debug, Clone)]
pub struct CampaignSpec {
    /// Its name.
    pub name: String,
    /// Mail people who are already INVITED again.
    pub resend: bool,
    /// Classify only: nobody is mailed.
    pub dry_run: bool,
    /// Ask isInvitableUser about the people the tracker's fresh snapshot does not show; false
    /// ends them `not_listed` without a call.
    pub check_unlisted: bool,
    /// Reminders.
    pub reminders: Option<Reminders>,
    /// When work starts (now when absent).
    pub start_at: Option<DateTime<Utc>>,
    /// When the people still INVITED by it become `no_answer` (none when absent).
    pub deadline: Option<DateTime<Utc>>,
    /// What happens then to their invitations.
    pub at_deadline: AtDeadline,
}

/// A change of a campaign's life its creator (or an admin) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Stop claiming its items.
    Pause,
    /// Go on with a paused campaign.
    Resume,
    /// Stop all future work.
    Cancel,
    /// Hide a finished dry run from the list (it stays readable by id).
    Archive,
    /// List an archived dry run again.
    Unarchive,
}

/// Why a campaign operation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// No such campaign, or not the caller's.
    #[error("no such campaign")]
    NotFound,
    /// The request is wrong (the detail says how, without addresses).
    #[error("{0}")]
    Invalid(String),
    /// The body is larger than allowed (the detail says the bound).
    #[error("{0}")]
    TooLarge(String),
    /// The campaign's state does not allow it (e.g. pausing a completed campaign).
    #[error("{0}")]
    Conflict(String),
    /// The dry run to run completed too long ago (the detail says the bound).
    #[error("{0}")]
    Stale(String),
    /// The campaign has no resolution yet (the detail says when it will).
    #[error("{0}")]
    NotResolved(String),
    /// The store cannot be reached.
    #[error("the store cannot be reached")]
    StoreUnavailable,
    /// The audit trail cannot take records, so nothing may be created that would mail.
    #[error("the audit trail cannot be written")]
    AuditUnavailable(#[source] crate::audit::AuditError),
    /// The Idempotency-Key's flow (or the store under it) refused the creation.
    #[error(transparent)]
    Idempotency(crate::invitations::idempotency::IdempotencyError),
    /// The creator has as many pending items queued as it may (nothing was created).
    #[error("{detail}")]
    BacklogFull {
        /// How many it has and may have.
        detail: String,
        /// When enough of them will have been worked to try again.
        retry_after_secs: u64,
    },
}

impl From<StoreError> for CampaignError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "campaign store call failed");
        CampaignError::StoreUnavailable
    }
}

impl From<StoreUnavailable> for CampaignError {
    fn from(_: StoreUnavailable) -> Self {
        CampaignError::StoreUnavailable
    }
}

/// The campaign service: one per process.
pub struct Campaigns {
    invitations: Arc<Invitations>,
    /// Every store call of campaigns goes through it.
    gate: Arc<Gate>,
    /// The audit log and file: every campaign mail is recorded there too, and none is sent
    /// while the file cannot take records.
    audit: Arc<AuditLog>,
    poll: Duration,
    lease: Duration,
    concurrency: usize,
    /// Background calls a minute: what campaigns may use of the project's budget while no
    /// caller needs it.
    background_per_minute: f64,
    /// Longest an import (a creation writing its items) can take: the body read timeout and
    /// [`IMPORT_MARGIN`]. An import still unfinished after that was abandoned.
    import_deadline: Duration,
    /// Most bytes of a keyed roster upload.
    roster_max_bytes: u64,
    /// Oldest the tracker's last walk may be for its snapshot to stand in for reads.
    snapshot_max_age: Duration,
    /// Most pending items one creator may have queued.
    max_pending_items: u64,
    /// Mails a creator may send a UTC day: the pace of a campaign's mails.
    daily_mails: u32,
    /// Oldest a completed dry run may be to be run.
    dry_run_max_age: Duration,
    /// The worker's finished passes, counted so that a test can wait for one more whole pass
    /// (an explicit event) instead of a window of real time.
    passes: tokio::sync::watch::Sender<u64>,
}

impl Campaigns {
    /// The service over `invitations` and the store's `gate`, recording its mails in `audit`
    /// too, with the settings' worker timings.
    pub fn new(
        invitations: Arc<Invitations>,
        gate: Arc<Gate>,
        audit: Arc<AuditLog>,
        settings: &Settings,
    ) -> Self {
        Self {
            invitations,
            gate,
            audit,
            poll: settings.invitations.campaigns.poll,
            lease: settings.invitations.campaigns.lease,
            concurrency: settings.invitations.batch_concurrency.get(),
            // With no caller checking, background work has all but the callers' floor.
            background_per_minute: (crate::store::background_limit(
                settings.store.google_per_minute,
                settings.store.google_background_percent,
                0,
            ) as f64)
                .max(1.0),
            import_deadline: settings.http.body_read_timeout + IMPORT_MARGIN,
            roster_max_bytes: settings.invitations.campaigns.roster_max_bytes,
            snapshot_max_age: settings.tracking.interval * worker::snapshot::FRESH_INTERVALS,
            max_pending_items: settings.invitations.campaigns.max_pending_items,
            daily_mails: settings.limits.daily_mails_per_caller,
            dry_run_max_age: settings.invitations.campaigns.dry_run_max_age,
            passes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The number of passes the worker has finished (each looked at every due campaign and
    /// worked one batch of each to the end), updated after every pass.
    pub fn passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.passes.subscribe()
    }

    /// The pace campaigns go at: the background share of the Google budget, and each
    /// caller's daily mails.
    pub fn pace(&self) -> Pace {
        Pace {
            campaign_calls_per_minute: self.background_per_minute,
            mails_per_day_per_caller: self.daily_mails,
        }
    }

    /// Longest a creation takes (its body arriving and its items stored): the body read
    /// timeout. A keyed creation's key is leased that long.
    fn creation_lease(&self) -> Duration {
        self.import_deadline.saturating_sub(IMPORT_MARGIN)
    }

    /// The campaign `id` if `viewer` may see it.
    async fn visible(&self, id: &str, viewer: &Viewer) -> Result<CampaignRecord, CampaignError> {
        match self.gate.call(|s| s.campaign(id)).await? {
            Some(record) if viewer.admin || record.owner == viewer.caller => Ok(record),
            _ => Err(CampaignError::NotFound),
        }
    }

    async fn view_of(&self, id: &str) -> Result<CampaignView, CampaignError> {
        let record = self
            .gate
            .call(|s| s.campaign(id))
            .await?
            .ok_or(CampaignError::NotFound)?;
        self.view(record).await
    }

    async fn view(&self, record: CampaignRecord) -> Result<CampaignView, CampaignError> {
        let counts = self.gate.call(|s| s.campaign_counts(&record.id)).await?;
        let pace = self.pace_of(&record, &counts).await?;
        Ok(CampaignView {
            total: counts.values().sum(),
            counts,
            eta: pace.eta.map(rfc3339),
            mails_per_day: pace.mails_per_day,
            initial_mails_finished_at: pace.initial_mails_finished_at.map(rfc3339),
            next_reminder_at: pace.next_reminder_at.map(rfc3339),
            ends_at: pace.ends_at.map(rfc3339),
            source: SourceView {
                states: (record.source_kind == SourceKind::States)
                    .then(|| record.source_states.clone()),
                kind: record.source_kind,
            },
            reminders: record.reminders.map(|r| RemindersView {
                after_hours: r.after.as_secs() / 3600,
                max: r.max,
            }),
            state: record.state,
            dry_run: record.dry_run,
            resend: record.resend,
            check_unlisted: record.check_unlisted,
            start_at: rfc3339(record.start_at),
            resumes_at: record.resumes_at.map(rfc3339),
            waiting_reason: record
                .waiting_reason
                .filter(|_| record.state == CampaignState::Waiting)
                .map(|reason| reason.as_str().to_owned()),
            google_calls: record.google_calls,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            completed_at: record.completed_at.map(rfc3339),
            deadline: record.terms.deadline.map(rfc3339),
            at_deadline: record.terms.at_deadline,
            deadline_reached_at: record.deadline_reached_at.map(rfc3339),
            from_dry_run: record.terms.from_dry_run,
            archived_at: record.archived_at.map(rfc3339),
            owner: OwnerView {
                iss: record.owner.iss,
                sub: record.owner.sub,
            },
            id: record.id,
            name: record.name,
        })
    }

    /// The campaign `id`.
    pub async fn get(&self, id: &str, viewer: &Viewer) -> Result<CampaignView, CampaignError> {
        let record = self.visible(id, viewer).await?;
        self.view(record).await
    }

    /// The viewer's campaigns (an admin's: everybody's), newest first; archived dry runs only
    /// `with_archived`.
    pub async fn list(
        &self,
        viewer: &Viewer,
        page_size: u32,
        page_token: Option<&str>,
        with_archived: bool,
    ) -> Result<CampaignList, CampaignError> {
        let owner = (!viewer.admin).then_some(&viewer.caller);
        let size = page_size.clamp(1, MAX_PAGE);
        let page = self
            .gate
            .call(|s| s.list_campaigns(owner, size, page_token, with_archived))
            .await?;
        let mut campaigns = Vec::with_capacity(page.campaigns.len());
        for record in page.campaigns {
            campaigns.push(self.view(record).await?);
        }
        Ok(CampaignList {
            campaigns,
            next_page_token: page.next,
        })
    }

    /// A page of the campaign's items with one of `outcomes` (all when empty).
    pub async fn items(
        &self,
        id: &str,
        viewer: &Viewer,
        outcomes: &[ItemOutcome],
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<ItemList, CampaignError> {
        let after = match page_token {
            None => None,
            Some(token) => Some(token.parse::<i64>().map_err(|_| {
                CampaignError::Invalid("pageToken: not a token this list gave.".into())
            })?),
        };
        let record = self.visible(id, viewer).await?;
        let page = self
            .gate
            .call(|s| s.campaign_items(id, outcomes, page_size.clamp(1, MAX_PAGE), after))
            .await?;
        Ok(ItemList {
            items: page
                .items
                .into_iter()
                .map(|item| item_view(item, &record.roster_columns))
                .collect(),
            next_page_token: page.next.map(|n| n.to_string()),
        })
    }

    /// Every item of the campaign in `format`, read from the store page by page as the stream
    /// is consumed. The campaign is checked before the stream starts.
    pub async fn report(
        self: &Arc<Self>,
        id: &str,
        viewer: &Viewer,
        format: ReportFormat,
    ) -> Result<impl Stream<Item = Result<Bytes, CampaignError>> + 'static, CampaignError> {
        let columns = self.visible(id, viewer).await?.roster_columns;
        let header = (format == ReportFormat::Csv).then(|| {
            let mut line = String::new();
            csv::push_row(
                &mut line,
                REPORT_COLUMNS
                    .into_iter()
                    .chain(columns.iter().map(String::as_str)),
            );
            line
        });
        Ok(self.item_lines(id, header, move |item, out| {
            write_report_line(format, &item_view(item, &columns), &columns, out);
        }))
    }

    /// `header`, then every item of campaign `id` written by `line`, read from the store page
    /// by page as the stream is consumed.
    fn item_lines(
        self: &Arc<Self>,
        id: &str,
        header: Option<String>,
        line: impl Fn(ItemRecord, &mut String) + 'static,
    ) -> impl Stream<Item = Result<Bytes, CampaignError>> + 'static {
        let this = Arc::clone(self);
        let id = id.to_owned();
        let line = Arc::new(line);
        let pages = futures_util::stream::unfold(Some(None), move |after: Option<Option<i64>>| {
            let this = Arc::clone(&this);
            let id = id.clone();
            let line = Arc::clone(&line);
            async move {
                let after = after?;
                match this
                    .gate
                    .call(|s| s.campaign_items(&id, &[], MAX_PAGE, after))
                    .await
                {
                    Ok(page) => {
                        let mut out = String::new();
                        for item in page.items {
                            line(item, &mut out);
                        }
                        let next = page.next.map(Some);
                        Some((Ok(Bytes::from(out)), next))
                    }
                    Err(err) => Some((Err(CampaignError::from(err)), None)),
                }
            }
        });
        futures_util::StreamExt::chain(
            futures_util::stream::iter(header.map(|h| Ok(Bytes::from(h)))),
            pages,
        )
    }

    /// Moves campaign `id` as `change` says, when `viewer` may see it and its state allows:
    /// pause a scheduled, running or waiting campaign (no worker claims its items any more; an
    /// item in flight finishes); resume a paused one to what it was (`scheduled` until its
    /// `startAt`, `running` after); cancel one that is not final (no further work; mails
    /// already sent stay sent and the pending items become `cancelled`); archive or unarchive
    /// a finished dry run (hidden from the list or listed again; nothing else changes).
    pub async fn change(
        &self,
        id: &str,
        viewer: &Viewer,
        change: Lifecycle,
    ) -> Result<CampaignView, CampaignError> {
        self.visible(id, viewer).await?;
        let (moved, refusal) = match change {
            Lifecycle::Pause => {
                let from = [
                    CampaignState::Scheduled,
                    CampaignState::Running,
                    CampaignState::Waiting,
                ];
                let to = CampaignState::Paused;
                let moved = self
                    .gate
                    .call(|s| s.set_campaign_state(id, &from, to, None));
                (
                    moved.await?,
                    "Only a scheduled, running or waiting campaign can be paused.",
                )
            }
            Lifecycle::Resume => (
                self.gate.call(|s| s.resume_campaign(id)).await?,
                "Only a paused campaign can be resumed.",
            ),
            Lifecycle::Cancel => (
                self.gate.call(|s| s.cancel_campaign(id)).await?,
                "A completed or cancelled campaign cannot be cancelled.",
            ),
            Lifecycle::Archive | Lifecycle::Unarchive => (
                self.gate
                    .call(|s| s.archive_campaign(id, change == Lifecycle::Archive))
                    .await?,
                "Only a completed or cancelled dry run can be archived or unarchived.",
            ),
        };
        if !moved {
            return Err(CampaignError::Conflict(refusal.to_owned()));
        }
        self.view_of(id).await
    }
}
