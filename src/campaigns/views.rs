//! What a campaign looks like on the wire: its view, its items, its report lines.

use super::*;

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
    "dryRun": false, "resend": false, "checkUnlisted": true, "source": {"kind": "states", "states": ["NOT_YET_SENT"]},
    "reminders": {"afterHours": 168, "max": 2}, "startAt": "2026-12-01T09:00:00.000Z",
    "resumesAt": null, "total": 1200, "counts": {"pending": 700, "sent": 480, "already_invited": 20},
    "googleCalls": 500, "eta": "2026-12-15T11:05:00.000Z", "mailsPerDay": 1000,
    "initialMailsFinishedAt": null, "nextReminderAt": "2026-12-08T09:01:00.000Z",
    "endsAt": "2026-12-15T11:05:00.000Z", "createdAt": "2026-12-01T09:00:00.000Z",
    "updatedAt": "2026-12-01T09:40:00.000Z", "completedAt": null, "archivedAt": null,
    "deadline": "2026-12-22T17:00:00.000Z", "atDeadline": "keep", "deadlineReachedAt": null,
    "fromDryRun": "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
    "owner": {"iss": "https://idp.example.com", "sub": "hr-onboarding"}
}))]
pub struct CampaignView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it is in its life.
    pub state: CampaignState,
    /// Classify only, nobody is mailed.
    pub dry_run: bool,
    /// Mails people who are already INVITED again.
    pub resend: bool,
    /// Asks isInvitableUser about the people the tracker's snapshot does not show (false: they
    /// end `not_listed`); see `POST /v1/campaigns`.
    pub check_unlisted: bool,
    /// Where its people come from.
    pub source: SourceView,
    /// Its reminders, if any.
    pub reminders: Option<RemindersView>,
    /// When work starts.
    pub start_at: String,
    /// While `waiting`: when work resumes.
    pub resumes_at: Option<String>,
    /// While `waiting`: why. `mail_limit` (the creator's daily mail limit, until the next UTC
    /// day), `google_budget` (the project's Google call budget), `breaker_open` (Google failed
    /// repeatedly; calls pause), `google_unavailable`, `store_unavailable` or
    /// `audit_unavailable` (the audit trail cannot be written); null otherwise.
    #[schema(example = "google_budget")]
    pub waiting_reason: Option<String>,
    /// Its items.
    pub total: u64,
    /// Items per outcome (outcomes with none are left out).
    pub counts: BTreeMap<ItemOutcome, u64>,
    /// Google calls made for it.
    pub google_calls: u64,
    /// When its work will be done: its remaining Google calls at the background share of the
    /// budget, and its remaining mails at `mailsPerDay` (those beyond the creator's allowance
    /// left today go to the following UTC days). With reminders left: `endsAt`. Null when
    /// paused or done (or when the creator may mail nobody).
    pub eta: Option<String>,
    /// A real run's mail pace: its creator's daily mail limit (`GATEWAY_DAILY_MAIL_LIMIT`),
    /// shared by all the creator's sends and campaigns; null for a dry run. A campaign of more
    /// people than this takes days, and its `eta` says how many.
    #[schema(example = 1000)]
    pub mails_per_day: Option<u64>,
    /// When its last first mail went out, once every person has had their first mail (null
    /// before, and when nobody was mailed).
    pub initial_mails_finished_at: Option<String>,
    /// With reminders: the earliest reminder due among its people; null when none is left.
    pub next_reminder_at: Option<String>,
    /// With reminders: when its last possible reminder is due (`initialMailsFinishedAt`, or
    /// the first mails' ETA before then, plus `max` times `afterHours`); null without
    /// reminders.
    pub ends_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Completed or cancelled.
    pub completed_at: Option<String>,
    /// When the people it still has INVITED become `no_answer` (null: never).
    pub deadline: Option<String>,
    /// What happens then to their invitations: `keep` them open or `cancel` them.
    pub at_deadline: AtDeadline,
    /// When the deadline was passed (the campaign is then `completed` and has a resolution).
    pub deadline_reached_at: Option<String>,
    /// The dry run this campaign was started from (`POST /v1/campaigns/{id}/run`), if any.
    pub from_dry_run: Option<String>,
    /// When it was archived (a finished dry run hidden from `GET /v1/campaigns` unless
    /// `archived=true`); null when it is not.
    pub archived_at: Option<String>,
    /// Its creator.
    pub owner: OwnerView,
}

/// A page of campaigns.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"campaigns": [{
    "id": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "name": "Wave 1", "state": "completed",
    "dryRun": false, "resend": false, "checkUnlisted": true, "source": {"kind": "roster"},
    "reminders": null, "startAt": "2026-12-01T09:00:00.000Z", "resumesAt": null,
    "total": 3, "counts": {"sent": 2, "skipped": 1}, "googleCalls": 4, "eta": null,
    "mailsPerDay": 1000, "initialMailsFinishedAt": "2026-12-01T09:00:05.000Z",
    "nextReminderAt": null, "endsAt": null,
    "createdAt": "2026-12-01T09:00:00.000Z", "updatedAt": "2026-12-01T09:00:05.000Z",
    "completedAt": "2026-12-01T09:00:05.000Z", "archivedAt": null,
    "deadline": null, "atDeadline": "keep", "deadlineReachedAt": null, "fromDryRun": null,
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

/// The pace campaigns go at: what the gateway's settings allow.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pace {
    /// Google calls a minute campaigns may use (the background share of the budget; a
    /// roster's person costs at most two: a read and the send).
    pub campaign_calls_per_minute: f64,
    /// Mails one caller may send a day (its campaigns wait for the next UTC day after).
    pub mails_per_day_per_caller: u32,
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

pub(super) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The columns a CSV report begins with (a roster's other columns follow).
pub(super) const REPORT_COLUMNS: [&str; 7] = [
    "email",
    "outcome",
    "reason",
    "mails",
    "lastMailAt",
    "updatedAt",
    "row",
];

/// The item as shown; `columns` names a roster's other columns, which its values follow.
pub(super) fn item_view(item: ItemRecord, columns: &[String]) -> ItemView {
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

pub(super) fn write_report_line(
    format: ReportFormat,
    item: &ItemView,
    columns: &[String],
    out: &mut String,
) {
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
        ReportFormat::Ndjson => push_json_line(out, item),
    }
}

/// `value` as one NDJSON line.
pub(super) fn push_json_line(out: &mut String, value: &impl Serialize) {
    if let Ok(line) = serde_json::to_string(value) {
        out.push_str(&line);
        out.push('\n');
    }
}
