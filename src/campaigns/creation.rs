//! Creating a campaign: its record, its items (a roster as it streams in), and the cleanup of
//! an import that did not finish.

use super::*;
use crate::store::CampaignTerms;

impl Campaigns {
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
        let start_at = spec.start_at.unwrap_or_else(|| self.gate.clock().now());
        runs::check_deadline(&spec, start_at)?;
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
        if source.kind() == SourceKind::States {
            // Its size is Google's list, known only when a worker walks it: the creator must
            // have room left now.
            let pending = self.gate.call(|s| s.pending_items(owner)).await?;
            if pending >= self.max_pending_items {
                return Err(self.backlog_full(pending));
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let campaign = NewCampaign {
            id: id.clone(),
            owner: owner.clone(),
            name: spec.name.trim().to_owned(),
            dry_run: spec.dry_run,
            resend: spec.resend,
            check_unlisted: spec.check_unlisted,
            source_kind: source.kind(),
            source_states: states,
            reminders: spec
                .reminders
                .filter(|r| r.max > 0 && !spec.dry_run)
                .map(Into::into),
            start_at,
            // Nobody works on it until every item is in.
            planned: false,
            terms: CampaignTerms {
                deadline: spec.deadline,
                at_deadline: spec.at_deadline,
                from_dry_run: match &source {
                    Source::DryRun(run) => Some(run.id.clone()),
                    _ => None,
                },
            },
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
            Source::DryRun(run) => self.copy_would_send(&id, &run).await,
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

    /// Adds the items of campaign `id` being created, within its creator's cap on pending
    /// items: past it nothing of this chunk is added, and the caller abandons the import.
    pub(crate) async fn add_items(&self, id: &str, items: &[NewItem]) -> Result<(), CampaignError> {
        for chunk in items.chunks(CHUNK) {
            let cap = self.max_pending_items;
            if let Err(pending) = self
                .gate
                .call(|s| s.add_campaign_items_within(id, chunk, cap))
                .await?
            {
                return Err(self.backlog_full(pending));
            }
        }
        Ok(())
    }

    /// The refusal of a creation that would leave its creator `pending` items queued: it may
    /// come back when the excess has been worked at the background pace.
    fn backlog_full(&self, pending: u64) -> CampaignError {
        let cap = self.max_pending_items;
        let excess = pending.saturating_sub(cap).max(1) as f64;
        let minutes = (excess / self.background_per_minute).ceil().max(1.0);
        let retry_after_secs = (minutes * 60.0).min(86_400.0) as u64;
        CampaignError::BacklogFull {
            detail: format!(
                "A caller may have at most {cap} pending campaign items, and this campaign \
                 would take this caller to {pending} or more; nothing was created. Retry after \
                 the time in Retry-After, when earlier campaigns have progressed (or cancel one)."
            ),
            retry_after_secs,
        }
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
