//! A campaign's end and its second start: the deadline a creation may set (checked here), and
//! the real run of a completed dry run (`POST /v1/campaigns/{id}/run`), whose people are
//! exactly the dry run's `would_send` items with their roster rows and columns.

use super::*;
use crate::invitations::idempotency::Answer;

/// What a real run of a dry run may set; the rest comes from the dry run.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Its name (the dry run's when absent).
    pub name: Option<String>,
    /// Reminders.
    pub reminders: Option<Reminders>,
    /// When work starts (now when absent).
    pub start_at: Option<DateTime<Utc>>,
    /// Its deadline.
    pub deadline: Option<DateTime<Utc>>,
    /// What happens then.
    pub at_deadline: AtDeadline,
}

/// Refuses a deadline that is not after the start and the last reminder, on a dry run, or an
/// `atDeadline` without a deadline; `start_at` is when the campaign starts.
pub(super) fn check_deadline(
    spec: &CampaignSpec,
    start_at: DateTime<Utc>,
) -> Result<(), CampaignError> {
    let Some(deadline) = spec.deadline else {
        if spec.at_deadline == AtDeadline::Cancel {
            return Err(CampaignError::Invalid(
                "atDeadline: cancel needs a deadline.".into(),
            ));
        }
        return Ok(());
    };
    if spec.dry_run {
        return Err(CampaignError::Invalid(
            "deadline: a dry run mails nobody and has no deadline.".into(),
        ));
    }
    let last = spec.reminders.filter(|r| r.max > 0).map_or(start_at, |r| {
        let every = chrono::Duration::from_std(r.after).unwrap_or(chrono::TimeDelta::MAX);
        start_at + every * i32::try_from(r.max).unwrap_or(i32::MAX)
    });
    if deadline <= last {
        let what = if last > start_at {
            "startAt and the last reminder (startAt + reminders.max x reminders.afterHours)"
        } else {
            "startAt (now when absent)"
        };
        return Err(CampaignError::Invalid(format!(
            "deadline: must be after {what}, {}.",
            rfc3339(last)
        )));
    }
    Ok(())
}

impl Campaigns {
    /// Starts the completed dry run `id` as a real campaign of `viewer` (once per
    /// Idempotency-Key `key`, as a creation): its people are the dry run's `would_send` items,
    /// with their roster rows and columns; its name, `resend` and `checkUnlisted` are the dry
    /// run's unless `spec` says otherwise. Refused unless `id` is the viewer's (or the viewer
    /// an admin), a dry run, completed, and completed within the setting's age.
    pub async fn run(
        &self,
        id: &str,
        viewer: &Viewer,
        spec: RunSpec,
        key: Option<&str>,
    ) -> Result<Answer, CampaignError> {
        let run = self.visible(id, viewer).await?;
        if !run.dry_run {
            return Err(CampaignError::Conflict(
                "Only a dry run can be run: this campaign is a real run.".into(),
            ));
        }
        if run.state != CampaignState::Completed {
            return Err(CampaignError::Conflict(format!(
                "Only a completed dry run can be run; this one is {}.",
                run.state
            )));
        }
        let completed = run.completed_at.unwrap_or(run.updated_at);
        let oldest = self.gate.clock().now()
            - chrono::Duration::from_std(self.dry_run_max_age).unwrap_or(chrono::TimeDelta::MAX);
        if completed < oldest {
            return Err(CampaignError::Stale(format!(
                "The dry run completed at {}, more than {} hours ago \
                 (GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS): people's states may have changed \
                 since; start a new dry run.",
                rfc3339(completed),
                self.dry_run_max_age.as_secs() / 3600
            )));
        }
        self.audit
            .check_writable()
            .map_err(CampaignError::AuditUnavailable)?;
        let spec = CampaignSpec {
            name: spec.name.unwrap_or_else(|| run.name.clone()),
            resend: run.resend,
            dry_run: false,
            check_unlisted: run.check_unlisted,
            reminders: spec.reminders,
            start_at: spec.start_at,
            deadline: spec.deadline,
            at_deadline: spec.at_deadline,
        };
        self.create_once(&viewer.caller, spec, Source::DryRun(Box::new(run)), key)
            .await
    }

    /// Adds to campaign `id` being created the `would_send` items of dry run `run`, page by
    /// page, with their roster rows and the dry run's column names.
    pub(super) async fn copy_would_send(
        &self,
        id: &str,
        run: &CampaignRecord,
    ) -> Result<(), CampaignError> {
        if !run.roster_columns.is_empty() {
            self.gate
                .call(|s| s.set_roster_columns(id, &run.roster_columns))
                .await?;
        }
        let mut after = None;
        loop {
            let page = self
                .gate
                .call(|s| s.campaign_items(&run.id, &[ItemOutcome::WouldSend], MAX_PAGE, after))
                .await?;
            let items: Vec<NewItem> = page
                .items
                .into_iter()
                .map(|item| NewItem {
                    email: item.email,
                    skipped: None,
                    known: None,
                    roster: item.roster,
                })
                .collect();
            self.add_items(id, &items).await?;
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }
}
