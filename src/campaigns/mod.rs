//! Campaigns: durable bulk invitations at the pace the Google budget allows.
//!
//! A campaign is created with its source (Google's list in some states, a list of addresses,
//! or an uploaded roster); its people become items in the store. Every replica runs a
//! [`worker`] that claims due items with a lease and mails each through the same safe send as
//! a request's ([`Invitations::send_item`]), so a campaign survives restarts and the
//! loss of a replica, and nobody gets a mail twice. Knows nothing of actix-web.

pub mod keyed;
pub mod planning;
pub mod worker;

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::invitations::Invitations;
use crate::invitations::csv;
use crate::invitations::durable::StoreUnavailable;
use crate::invitations::outcome::InvitationState;
/// Reminders of a campaign (after how long, how many at most).
pub use crate::store::Reminders;
use crate::store::{
    Caller, CampaignRecord, CampaignState, Gate, ItemRecord, NewCampaign, NewItem, StoreError,
};
use crate::vocabulary::{ItemErrorCode, ItemOutcome, SourceKind};
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
}

impl Source {
    fn kind(&self) -> SourceKind {
        match self {
            Source::States(_) => SourceKind::States,
            Source::Emails(_) => SourceKind::Emails,
            Source::Roster(_) => SourceKind::Roster,
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
    /// Reminders.
    pub reminders: Option<Reminders>,
    /// When work starts (now when absent).
    pub start_at: Option<DateTime<Utc>>,
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
    /// The store cannot be reached.
    #[error("the store cannot be reached")]
    StoreUnavailable,
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

/// A campaign's source, as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// `states`, `emails` or `roster`.
    pub kind: SourceKind,
    /// For `states`: the states.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub states: Option<Vec<InvitationState>>,
}

/// A campaign's reminders, as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemindersView {
    /// Hours after the last mail.
    pub after_hours: u64,
    /// Most reminders per person.
    pub max: u32,
}

/// Who owns a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerView {
    /// The creator's JWT `iss`.
    pub iss: String,
    /// The creator's JWT `sub`.
    pub sub: String,
}

/// A campaign and its progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "name": "Wave 1", "state": "running",
    "dryRun": false, "resend": false, "source": {"kind": "states", "states": ["NOT_YET_SENT"]},
    "reminders": {"afterHours": 168, "max": 2}, "startAt": "2026-12-01T09:00:00.000Z",
    "resumesAt": null, "total": 1200, "counts": {"pending": 700, "sent": 480, "already_invited": 20},
    "googleCalls": 500, "eta": "2026-12-01T11:05:00.000Z", "createdAt": "2026-12-01T09:00:00.000Z",
    "updatedAt": "2026-12-01T09:40:00.000Z", "completedAt": null,
    "owner": {"iss": "https://idp.example.com", "sub": "hr-onboarding"}
}))]
pub struct CampaignView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `scheduled`, `running`, `waiting`, `paused`, `completed` or `cancelled`.
    pub state: String,
    /// Classify only, nobody is mailed.
    pub dry_run: bool,
    /// Mails people who are already INVITED again.
    pub resend: bool,
    /// Where its people come from.
    pub source: SourceView,
    /// Its reminders, if any.
    pub reminders: Option<RemindersView>,
    /// When work starts.
    pub start_at: String,
    /// While `waiting`: when work resumes.
    pub resumes_at: Option<String>,
    /// Its items.
    pub total: u64,
    /// Items per outcome (outcomes with none are left out).
    pub counts: BTreeMap<ItemOutcome, u64>,
    /// Google calls made for it.
    pub google_calls: u64,
    /// When the remaining Google calls will be done at the background share of the budget;
    /// null when paused or done.
    pub eta: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Completed or cancelled.
    pub completed_at: Option<String>,
    /// Its creator.
    pub owner: OwnerView,
}

/// A page of campaigns.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"campaigns": [{
    "id": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "name": "Wave 1", "state": "completed",
    "dryRun": false, "resend": false, "source": {"kind": "roster"},
    "reminders": null, "startAt": "2026-12-01T09:00:00.000Z", "resumesAt": null,
    "total": 3, "counts": {"sent": 2, "skipped": 1}, "googleCalls": 4, "eta": null,
    "createdAt": "2026-12-01T09:00:00.000Z", "updatedAt": "2026-12-01T09:00:05.000Z",
    "completedAt": "2026-12-01T09:00:05.000Z",
    "owner": {"iss": "https://idp.example.com", "sub": "hr-onboarding"}
}], "nextPageToken": "MjAyNi0xMi0wMVQwOTowMDowMC4wMDBa"}))]
pub struct CampaignList {
    /// Newest first.
    pub campaigns: Vec<CampaignView>,
    /// Pass as `pageToken` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_page_token: Option<String>,
}

/// An item's error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemErrorView {
    /// Stable code (as in send's per-item errors).
    pub code: ItemErrorCode,
    /// Explanation, without the address.
    pub detail: String,
}

/// One person of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"email": "ada@example.com", "outcome": "sent", "mails": 1,
    "lastMailAt": "2026-12-01T09:01:00.000Z", "updatedAt": "2026-12-01T09:01:00.000Z",
    "row": 2, "columns": {"employee_id": "E1001", "name": "Ada Lovelace"}}))]
pub struct ItemView {
    /// The address.
    pub email: String,
    /// What became of the person so far.
    pub outcome: ItemOutcome,
    /// Why (`invalid_email`, `domain_not_allowed`, `duplicate`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// For `failed`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ItemErrorView>,
    /// Mails the campaign sent the person.
    pub mails: u32,
    /// When the last went out.
    pub last_mail_at: Option<String>,
    /// Last changed.
    pub updated_at: String,
    /// For a roster's item: its row number in the roster as a spreadsheet shows it (the
    /// header is row 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 2)]
    pub row: Option<u32>,
    /// For a roster's item: its values of the roster's other columns, by column name (the
    /// columns kept: see the roster upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub columns: Option<BTreeMap<String, String>>,
}

/// A page of items.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"items": [
    {"email": "ada@example.com", "outcome": "sent", "mails": 1, "lastMailAt": "2026-12-01T09:01:00.000Z", "updatedAt": "2026-12-01T09:01:00.000Z"},
    {"email": "not-an-address", "outcome": "skipped", "reason": "invalid_email", "mails": 0, "lastMailAt": null, "updatedAt": "2026-12-01T09:00:00.000Z"}
], "nextPageToken": "2"}))]
pub struct ItemList {
    /// In the order they were added.
    pub items: Vec<ItemView>,
    /// Pass as `pageToken` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_page_token: Option<String>,
}

/// The formats of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `text/csv`: `email,outcome,reason,mails,lastMailAt,updatedAt,row` and a roster's other
    /// columns.
    Csv,
    /// `application/x-ndjson`: one item per line.
    Ndjson,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
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
    /// Background calls a minute: the share of the project's budget campaigns may use.
    background_per_minute: f64,
    /// Longest an import (a creation writing its items) can take: the body read timeout and
    /// [`IMPORT_MARGIN`]. An import still unfinished after that was abandoned.
    import_deadline: Duration,
    /// Most bytes of a keyed roster upload.
    roster_max_bytes: u64,
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
        let share = f64::from(settings.store.google_background_percent.min(100)) / 100.0;
        Self {
            invitations,
            gate,
            audit,
            poll: settings.invitations.campaigns.poll,
            lease: settings.invitations.campaigns.lease,
            concurrency: settings.invitations.batch_concurrency.get(),
            background_per_minute: (f64::from(settings.store.google_per_minute) * share).max(1.0),
            import_deadline: settings.http.body_read_timeout + IMPORT_MARGIN,
            roster_max_bytes: settings.invitations.campaigns.roster_max_bytes,
            passes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The number of passes the worker has finished (each looked at every due campaign and
    /// worked one batch of each to the end), updated after every pass.
    pub fn passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.passes.subscribe()
    }

    /// Longest a creation takes (its body arriving and its items stored): the body read
    /// timeout. A keyed creation's key is leased that long.
    pub fn creation_lease(&self) -> Duration {
        self.import_deadline.saturating_sub(IMPORT_MARGIN)
    }

    /// The fingerprint of a keyed creation of `spec` from `source`, and the source to create
    /// it from: a roster is read whole (into a temporary file) first, see [`keyed`].
    pub async fn keyed_source(
        &self,
        spec: &CampaignSpec,
        source: Source,
    ) -> Result<(keyed::CreationFingerprint, Source), CampaignError> {
        keyed::fingerprint(spec, source, self.roster_max_bytes).await
    }

    /// Creates a campaign from `spec` and `source` for `owner`: its items are written to the
    /// store (a roster as it streams in, in chunks) before this answers; a `states` source is
    /// walked later by a worker. Invalid, foreign and repeated addresses become `skipped`
    /// items.
    pub async fn create(
        &self,
        owner: &Caller,
        spec: CampaignSpec,
        source: Source,
    ) -> Result<CampaignView, CampaignError> {
        // Characters, not bytes (as the document's maxLength counts), and not only spaces.
        if spec.name.trim().is_empty() || spec.name.chars().count() > 200 {
            return Err(CampaignError::Invalid(
                "name: 1 to 200 characters, not all spaces, are required.".into(),
            ));
        }
        if let Some(reminders) = spec.reminders
            && (reminders.after < Duration::from_secs(3600) || reminders.max > 10)
        {
            return Err(CampaignError::Invalid(
                "reminders: afterHours must be at least 1 and max at most 10.".into(),
            ));
        }
        let states = match &source {
            Source::States(states) if states.is_empty() => {
                return Err(CampaignError::Invalid(
                    "source.states: at least one state is required.".into(),
                ));
            }
            Source::States(states) => states.clone(),
            Source::Emails(emails) if emails.is_empty() || emails.len() > MAX_EMAILS => {
                return Err(CampaignError::Invalid(format!(
                    "source.emails: 1 to {MAX_EMAILS} addresses are required, got {}.",
                    emails.len()
                )));
            }
            _ => Vec::new(),
        };
        let id = uuid::Uuid::new_v4().simple().to_string();
        let campaign = NewCampaign {
            id: id.clone(),
            owner: owner.clone(),
            name: spec.name.trim().to_owned(),
            dry_run: spec.dry_run,
            resend: spec.resend,
            source_kind: source.kind(),
            source_states: states,
            reminders: spec.reminders.filter(|r| r.max > 0 && !spec.dry_run),
            start_at: spec.start_at.unwrap_or_else(|| self.gate.clock().now()),
            // Nobody works on it until every item is in.
            planned: false,
        };
        let record = self.gate.call(|s| s.create_campaign(&campaign)).await?;
        if record.source_kind == SourceKind::States {
            // A worker walks Google's list and plans it.
            return self.view_of(&id).await;
        }
        // From here until it is planned, the campaign goes again unless the import finishes,
        // whatever stops it (an error, or this future dropped with its request).
        let importing = Importing::new(&self.gate, &id);
        let added = match source {
            Source::States(_) => Ok(()),
            Source::Emails(emails) => {
                let items: Vec<NewItem> = emails
                    .iter()
                    .map(|raw| planning::item(&self.invitations, raw))
                    .collect();
                self.add_items(&id, &items).await
            }
            Source::Roster(body) => planning::import_roster(self, &id, body).await,
        };
        let planned = match added {
            Ok(()) => self
                .gate
                .call(|s| s.finish_campaign_planning(&id))
                .await
                .map_err(CampaignError::from),
            Err(err) => Err(err),
        };
        if let Err(err) = planned {
            // Nothing was claimed (an unplanned campaign is never worked on): drop it whole.
            importing.abandon().await;
            return Err(err);
        }
        importing.finish();
        self.view_of(&id).await
    }

    /// Deletes the imports abandoned longer ago than any import can take (their request's
    /// process died, or the store failed it before it could clean up); answers how many rows
    /// went.
    pub async fn sweep_abandoned_imports(&self) -> Result<u64, StoreError> {
        let before = self.gate.clock().now()
            - chrono::Duration::from_std(self.import_deadline).unwrap_or(chrono::TimeDelta::MAX);
        let deleted = self
            .gate
            .call(|s| s.delete_abandoned_imports(before))
            .await?;
        if deleted > 0 {
            tracing::info!(rows = deleted, "abandoned campaign imports deleted");
        }
        Ok(deleted)
    }

    async fn add_items(&self, id: &str, items: &[NewItem]) -> Result<(), CampaignError> {
        for chunk in items.chunks(CHUNK) {
            self.gate
                .call(|s| s.add_campaign_items(id, chunk, true))
                .await?;
        }
        Ok(())
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
        let eta = self.eta(&record, &counts);
        Ok(CampaignView {
            total: counts.values().sum(),
            counts,
            eta: eta.map(rfc3339),
            source: SourceView {
                states: (record.source_kind == SourceKind::States)
                    .then(|| record.source_states.clone()),
                kind: record.source_kind,
            },
            reminders: record.reminders.map(|r| RemindersView {
                after_hours: r.after.as_secs() / 3600,
                max: r.max,
            }),
            state: record.state.as_str().to_owned(),
            dry_run: record.dry_run,
            resend: record.resend,
            start_at: rfc3339(record.start_at),
            resumes_at: record.resumes_at.map(rfc3339),
            google_calls: record.google_calls,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            completed_at: record.completed_at.map(rfc3339),
            owner: OwnerView {
                iss: record.owner.iss,
                sub: record.owner.sub,
            },
            id: record.id,
            name: record.name,
        })
    }

    /// When the remaining Google calls will be done at the background share of the budget:
    /// a states item costs one call (its send; none in a dry run), any other two (get and send;
    /// one in a dry run). None when paused or done.
    fn eta(
        &self,
        record: &CampaignRecord,
        counts: &BTreeMap<ItemOutcome, u64>,
    ) -> Option<DateTime<Utc>> {
        if !record.state.is_active() {
            return None;
        }
        let pending = counts.get(&ItemOutcome::Pending).copied().unwrap_or(0);
        let per_item = match (record.source_kind == SourceKind::States, record.dry_run) {
            (true, true) => 0,
            (true, false) | (false, true) => 1,
            (false, false) => 2,
        };
        let calls = pending * per_item;
        let minutes = calls as f64 / self.background_per_minute;
        let now = self.gate.clock().now();
        let from = record
            .resumes_at
            .filter(|at| *at > now)
            .unwrap_or(now)
            .max(record.start_at);
        Some(from + chrono::Duration::milliseconds((minutes * 60_000.0).ceil() as i64))
    }

    /// The campaign `id`.
    pub async fn get(&self, id: &str, viewer: &Viewer) -> Result<CampaignView, CampaignError> {
        let record = self.visible(id, viewer).await?;
        self.view(record).await
    }

    /// The viewer's campaigns (an admin's: everybody's), newest first.
    pub async fn list(
        &self,
        viewer: &Viewer,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<CampaignList, CampaignError> {
        let owner = (!viewer.admin).then_some(&viewer.caller);
        let page = self
            .gate
            .call(|s| s.list_campaigns(owner, page_size.clamp(1, MAX_PAGE), page_token))
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
        let columns = Arc::new(self.visible(id, viewer).await?.roster_columns);
        let header = match format {
            ReportFormat::Csv => {
                let mut line = String::new();
                csv::push_row(
                    &mut line,
                    REPORT_COLUMNS
                        .into_iter()
                        .chain(columns.iter().map(String::as_str)),
                );
                Some(Bytes::from(line))
            }
            ReportFormat::Ndjson => None,
        };
        let this = Arc::clone(self);
        let id = id.to_owned();
        let pages = futures_util::stream::unfold(Some(None), move |after: Option<Option<i64>>| {
            let this = Arc::clone(&this);
            let id = id.clone();
            let columns = Arc::clone(&columns);
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
                            write_report_line(
                                format,
                                &item_view(item, &columns),
                                &columns,
                                &mut out,
                            );
                        }
                        let next = page.next.map(Some);
                        Some((Ok(Bytes::from(out)), next))
                    }
                    Err(err) => Some((Err(CampaignError::from(err)), None)),
                }
            }
        });
        Ok(futures_util::StreamExt::chain(
            futures_util::stream::iter(header.map(Ok)),
            pages,
        ))
    }

    /// Pauses a scheduled, running or waiting campaign: no worker claims its items any more
    /// (an item in flight finishes).
    pub async fn pause(&self, id: &str, viewer: &Viewer) -> Result<CampaignView, CampaignError> {
        self.visible(id, viewer).await?;
        let moved = self
            .gate
            .call(|s| {
                s.set_campaign_state(
                    id,
                    &[
                        CampaignState::Scheduled,
                        CampaignState::Running,
                        CampaignState::Waiting,
                    ],
                    CampaignState::Paused,
                    None,
                )
            })
            .await?;
        self.after_move(
            id,
            moved,
            "Only a scheduled, running or waiting campaign can be paused.",
        )
        .await
    }

    /// Resumes a paused campaign to what it was: `scheduled` until its `startAt`, `running`
    /// after.
    pub async fn resume(&self, id: &str, viewer: &Viewer) -> Result<CampaignView, CampaignError> {
        self.visible(id, viewer).await?;
        let moved = self.gate.call(|s| s.resume_campaign(id)).await?;
        self.after_move(id, moved, "Only a paused campaign can be resumed.")
            .await
    }

    /// Cancels a campaign that is not final: no further work; mails already sent stay sent and
    /// the pending items become `cancelled`.
    pub async fn cancel(&self, id: &str, viewer: &Viewer) -> Result<CampaignView, CampaignError> {
        self.visible(id, viewer).await?;
        let moved = self.gate.call(|s| s.cancel_campaign(id)).await?;
        self.after_move(
            id,
            moved,
            "A completed or cancelled campaign cannot be cancelled.",
        )
        .await
    }

    async fn after_move(
        &self,
        id: &str,
        moved: bool,
        refusal: &str,
    ) -> Result<CampaignView, CampaignError> {
        if !moved {
            return Err(CampaignError::Conflict(refusal.to_owned()));
        }
        self.view_of(id).await
    }
}

/// A campaign whose items are being written by its creating request: deleted with them unless
/// [`Importing::finish`] is called. Dropped unfinished (the request's future was dropped: its
/// client went away, or the server stopped waiting for it), it deletes the campaign in a task
/// of its own; should that not run either (the process dies), the worker's sweep of abandoned
/// imports does it.
struct Importing {
    gate: Arc<Gate>,
    id: String,
    done: bool,
}

impl Importing {
    fn new(gate: &Arc<Gate>, id: &str) -> Self {
        Self {
            gate: Arc::clone(gate),
            id: id.to_owned(),
            done: false,
        }
    }

    /// The import is complete: the campaign stays.
    fn finish(mut self) {
        self.done = true;
    }

    /// The import failed: the campaign and its items are deleted now.
    async fn abandon(mut self) {
        self.done = true;
        delete_import(&self.gate, &self.id).await;
    }
}

impl Drop for Importing {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (gate, id) = (Arc::clone(&self.gate), std::mem::take(&mut self.id));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { delete_import(&gate, &id).await });
            }
            Err(_) => tracing::warn!("an interrupted campaign import is left to the sweep"),
        }
    }
}

async fn delete_import(gate: &Gate, id: &str) {
    match gate.call(|s| s.delete_campaign(id)).await {
        Ok(()) => tracing::info!(campaign = %id, "an unfinished campaign import was deleted"),
        Err(err) => {
            tracing::error!(error = %err, campaign = %id, "an unfinished campaign import could not be deleted: the sweep will");
        }
    }
}

/// The columns a CSV report begins with (a roster's other columns follow).
const REPORT_COLUMNS: [&str; 7] = [
    "email",
    "outcome",
    "reason",
    "mails",
    "lastMailAt",
    "updatedAt",
    "row",
];

/// The item as shown; `columns` names a roster's other columns, which its values follow.
fn item_view(item: ItemRecord, columns: &[String]) -> ItemView {
    let (row, columns) = match item.roster {
        Some(roster) => (
            Some(roster.row),
            Some(columns.iter().cloned().zip(roster.values).collect()),
        ),
        None => (None, None),
    };
    ItemView {
        row,
        columns,
        email: item.email,
        outcome: item.outcome,
        reason: item.reason,
        error: item
            .error
            .map(|(code, detail)| ItemErrorView { code, detail }),
        mails: item.mails,
        last_mail_at: item.last_mail_at.map(rfc3339),
        updated_at: rfc3339(item.updated_at),
    }
}

fn write_report_line(format: ReportFormat, item: &ItemView, columns: &[String], out: &mut String) {
    match format {
        ReportFormat::Csv => {
            let mails = item.mails.to_string();
            let row = item.row.map(|row| row.to_string()).unwrap_or_default();
            let values = columns.iter().map(|column| {
                item.columns
                    .as_ref()
                    .and_then(|values| values.get(column))
                    .map_or("", String::as_str)
            });
            csv::push_row(
                out,
                [
                    item.email.as_str(),
                    item.outcome.as_str(),
                    item.reason.as_deref().unwrap_or_default(),
                    &mails,
                    item.last_mail_at.as_deref().unwrap_or_default(),
                    &item.updated_at,
                    &row,
                ]
                .into_iter()
                .chain(values),
            );
        }
        ReportFormat::Ndjson => {
            if let Ok(line) = serde_json::to_string(item) {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
}
