//! The campaign worker every replica runs: it looks for due campaigns on a short real-time
//! interval, reads "now" from the store's clock, claims due items with a lease and works them
//! with bounded concurrency. Pause, resume and cancel are rows in the store that it re-reads
//! before claiming and before each Google call.

use crate::audit::AuditTrail;
use crate::campaigns::{Campaigns, SWEEP_ROUNDS, planning};
use crate::invitations::background::{Background, DryRunVerdict, ItemMail, ItemSend, Seen};
use crate::invitations::email::Email;
use crate::invitations::outcome::ItemError;
use crate::store::{Caller, CampaignRecord, ItemLease, ItemUpdate, StoreError, WaitingReason};
use crate::vocabulary::{
    CampaignState, InvitationState, ItemErrorCode, ItemOutcome, Outcome, SourceKind,
};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How long a campaign waits after Google (or the store) was unavailable, when nothing says.
const OUTAGE_WAIT: Duration = Duration::from_secs(30);
/// Shortest hold of a campaign: a breaker about to close would otherwise make it spin.
const MIN_WAIT: Duration = Duration::from_secs(1);
/// Attempts on an address another request kept busy before the item fails.
const BUSY_ATTEMPTS: u32 = 10;

pub(crate) mod snapshot;
mod step;

use step::{
    Step, StillOurs, Stop, complete, failed, item_outcome, list_wait, seen_of, store_wait_from,
    waiting_reason,
};

impl Campaigns {
    /// Works on due campaigns until `stop` turns true; the items in flight then finish (or
    /// are given back) before this returns.
    pub async fn run_worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backlog_at = tokio::time::Instant::now();
        let mut sweep_in = 0;
        loop {
            if *stop.borrow() {
                return;
            }
            if sweep_in == 0 {
                sweep_in = SWEEP_ROUNDS;
                if let Err(err) = self.sweep_abandoned_imports().await {
                    tracing::warn!(error = %err, "abandoned campaign imports could not be swept");
                }
                // Outcomes nobody could record (a process cut off, a store that could not
                // write) are settled by reading Google again.
                for settled in self.invitations.settle_abandoned().await {
                    self.audit.record_settled_by_worker(&settled);
                }
            }
            sweep_in -= 1;
            let worked = match self.round(&stop).await {
                Ok(worked) => worked,
                Err(err) => {
                    tracing::warn!(error = %err, "the campaign worker could not read the store");
                    false
                }
            };
            self.passes.send_modify(|n| *n += 1);
            metrics::counter!(crate::metrics::CAMPAIGN_WORKER_PASSES).increment(1);
            if backlog_at.elapsed() >= self.poll || !worked {
                backlog_at = tokio::time::Instant::now();
                if let Ok(pending) = self.gate.call(|s| s.campaign_backlog()).await {
                    crate::metrics::campaign_backlog(pending);
                }
            }
            if worked {
                continue;
            }
            tokio::select! {
                _ = stop.changed() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// One batch for every creator with due work, in the store's fair order (real runs
    /// first, then the creator served longest ago): each creator's campaigns are tried in
    /// their order until one does something, after passing the deadlines that came. True when
    /// anything was done.
    async fn round(&self, stop: &watch::Receiver<bool>) -> Result<bool, StoreError> {
        let mut worked = self.reach_deadlines().await? | self.cancel_at_deadlines().await?;
        let mut creators: Vec<(Caller, Vec<CampaignRecord>)> = Vec::new();
        for record in self.gate.call(|s| s.due_campaigns()).await? {
            match creators
                .iter_mut()
                .find(|(owner, _)| *owner == record.owner)
            {
                Some((_, campaigns)) => campaigns.push(record),
                None => creators.push((record.owner.clone(), vec![record])),
            }
        }
        for (_, campaigns) in creators {
            for record in campaigns {
                if *stop.borrow() {
                    return Ok(worked);
                }
                if self.turn(&record, stop).await? {
                    worked = true;
                    break;
                }
            }
        }
        Ok(worked)
    }

    /// One turn of a due campaign: it starts running, is planned, or has a batch worked;
    /// false when it had nothing to do.
    async fn turn(
        &self,
        record: &CampaignRecord,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        if record.state != CampaignState::Running {
            self.gate
                .call(|s| {
                    s.set_campaign_state(
                        &record.id,
                        &[CampaignState::Scheduled, CampaignState::Waiting],
                        CampaignState::Running,
                        None,
                    )
                })
                .await?;
        }
        if !record.planned {
            if record.source_kind == SourceKind::States
                && self
                    .gate
                    .call(|s| s.claim_campaign_planning(&record.id, self.lease))
                    .await?
            {
                self.plan(record).await?;
                return Ok(true);
            }
            return Ok(false);
        }
        self.batch(record, stop).await
    }

    /// Walks the campaign's list; Google unavailable puts it in `waiting`.
    async fn plan(&self, record: &CampaignRecord) -> Result<(), StoreError> {
        let calls = Arc::new(AtomicU64::new(0));
        let walked = planning::walk_states(self, record, &calls).await;
        self.gate
            .call(|s| s.add_campaign_calls(&record.id, calls.load(Ordering::Relaxed)))
            .await?;
        if let Err(failure) = walked {
            tracing::warn!(campaign = %record.id, error = %failure.detail(), "a campaign's list walk failed: it waits");
            let (wait, reason) = list_wait(failure, self.invitations.google_reopens_in());
            let until = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.wait_until(&record.id, until, reason).await?;
        }
        Ok(())
    }

    /// Makes campaign `id`, if it runs, wait until `until` for `reason` (an outage, a spent
    /// budget).
    async fn wait_until(
        &self,
        id: &str,
        until: DateTime<Utc>,
        reason: WaitingReason,
    ) -> Result<(), StoreError> {
        self.gate
            .call(|s| s.campaign_waits(id, until, reason))
            .await?;
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.gate.clock().now()
    }

    /// Claims and works one batch of the campaign's due items; false when none was due.
    async fn batch(
        &self,
        record: &CampaignRecord,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        // Paused or cancelled since the list was read: claim nothing.
        if self.gate.call(|s| s.campaign_state(&record.id)).await? != Some(CampaignState::Running) {
            return Ok(false);
        }
        let limit = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let claimed_at = self.now();
        let items = self
            .gate
            .call(|s| s.claim_campaign_items(&record.id, limit, self.lease))
            .await?;
        if items.is_empty() {
            let (events, at) = (self.invitations.events(), self.now());
            let announce = |name: &str, counts: &std::collections::BTreeMap<ItemOutcome, u64>| {
                let total: u64 = counts.values().sum();
                events.campaign_completed(
                    &record.id,
                    at,
                    serde_json::json!({
                        "name": name,
                        "dryRun": record.dry_run,
                        "total": total,
                        "counts": counts,
                    }),
                )
            };
            if self
                .gate
                .call(|s| s.complete_campaign_if_done(&record.id, announce))
                .await?
            {
                tracing::info!(campaign = %record.id, "campaign completed");
            }
            return Ok(false);
        }
        let creator = record.owner.clone();
        let creator_ref = &creator;
        let snapshot = &self.snapshot(record, &items).await;
        futures_util::stream::iter(items)
            .for_each_concurrent(self.concurrency, |item| async move {
                let mine = Arc::new(AtomicU64::new(0));
                let listed = snapshot.as_ref().and_then(|s| s.of(&item));
                let mut step = self.step(record, creator_ref, &item, listed, &mine).await;
                store_wait_from(&mut step, claimed_at, self.now());
                let made = mine.load(Ordering::Relaxed);
                // Counted before the item is done: a campaign that completes has all its calls
                // shown, and the count keeps pace with the items.
                if made > 0
                    && let Err(err) = self.gate.call(|s| s.add_campaign_calls(&record.id, made)).await
                {
                    tracing::warn!(error = %err, "a campaign item's Google calls could not be counted");
                }
                if let Step::Release { hold, .. } = &mut step
                    && *stop.borrow()
                {
                    // This replica is shutting down (its Google calls are refused): the item
                    // goes back, but the campaign need not wait for the other replicas.
                    *hold = None;
                }
                // No call of this holder got a Google slot, so none of its mails left: an item
                // that was not mailing before is not mailing now (its next holder need not read
                // Google first, which would cost a call per person the budget held back).
                let nothing_sent = made == 0 && !item.mailing;
                if let Err(err) = self.apply(record, &item, step, nothing_sent).await {
                    tracing::warn!(error = %err, "a campaign item's result could not be stored; its lease will run out");
                }
            })
            .await;
        Ok(true)
    }

    async fn step(
        &self,
        record: &CampaignRecord,
        creator: &Caller,
        item: &ItemLease,
        listed: Option<snapshot::Listed>,
        calls: &Arc<AtomicU64>,
    ) -> Step {
        let Ok(email) = Email::parse(&item.email) else {
            return complete(ItemOutcome::Skipped);
        };
        match self.gate.call(|s| s.campaign_state(&record.id)).await {
            Ok(Some(CampaignState::Running)) => {}
            Ok(_) => {
                return Step::Release {
                    due: self.now(),
                    error: None,
                    hold: None,
                };
            }
            Err(_) => {
                return self.on_error(item, &crate::invitations::durable::store_unavailable());
            }
        }
        let listed = match listed {
            Some(snapshot::Listed::NotListed) => return complete(ItemOutcome::NotListed),
            listed => listed.and_then(snapshot::Listed::seen),
        };
        if record.dry_run {
            return self.dry_run(record, item, &email, listed, calls).await;
        }
        if item.outcome.is_mailed() {
            return self.remind(record, creator, item, &email, calls).await;
        }
        self.first_mail(record, creator, item, &email, listed, calls)
            .await
    }

    async fn first_mail(
        &self,
        record: &CampaignRecord,
        creator: &Caller,
        item: &ItemLease,
        email: &Email,
        listed: Option<Seen>,
        calls: &Arc<AtomicU64>,
    ) -> Step {
        // Only a holder that marked the item `mailing` (just before its send) can have mailed:
        // an item released before that (the budget said not yet, a pause) keeps the state the
        // list gave it and costs one send, not a read and a send.
        let seen = if item.mailing || (item.known.is_none() && listed.is_none()) {
            if item.known.is_none() && !item.mailing {
                // The send reads the invitation itself.
                None
            } else {
                // An earlier holder stopped after it may have mailed: Google says first.
                match self
                    .invitations
                    .read_in_background(work(record, calls), email)
                    .await
                {
                    Ok(seen) => {
                        // The earlier holder's audit intent (its mail may be out) is settled
                        // against what Google shows now.
                        for settled in self
                            .invitations
                            .settle_seen(email, seen.as_ref(), &record.id)
                            .await
                        {
                            self.audit.record_settled_by_worker(&settled);
                        }
                        if seen
                            .as_ref()
                            .is_some_and(|seen| seen.state == InvitationState::Invited)
                        {
                            return Step::Complete(ItemUpdate {
                                mailed: true,
                                due_at: self.next_reminder(record, 0),
                                ..ItemUpdate::new(ItemOutcome::Sent)
                            });
                        }
                        seen
                    }
                    Err(error) => return self.on_error(item, &error),
                }
            }
        } else {
            listed.or_else(|| seen_of(item))
        };
        let mail = ItemMail {
            email,
            resend: record.resend,
            seen: seen.as_ref(),
        };
        match self.send(record, creator, item, mail, calls).await {
            ItemSend::Refused(stop) => self.stopped(item, stop),
            ItemSend::Done { outcome, error } => match outcome {
                Outcome::Sent | Outcome::Resent => Step::Complete(ItemUpdate {
                    mailed: true,
                    due_at: self.next_reminder(record, 0),
                    ..ItemUpdate::new(item_outcome(outcome))
                }),
                Outcome::Failed => match error {
                    Some(error) => self.on_error(item, &error),
                    None => complete(ItemOutcome::Failed),
                },
                Outcome::Unknown => self.unknown(item, error),
                other => complete(item_outcome(other)),
            },
        }
    }

    async fn remind(
        &self,
        record: &CampaignRecord,
        creator: &Caller,
        item: &ItemLease,
        email: &Email,
        calls: &Arc<AtomicU64>,
    ) -> Step {
        let keep = |mailed: bool, due_at: Option<DateTime<Utc>>| {
            Step::Complete(ItemUpdate {
                mailed,
                reminder: mailed,
                due_at,
                ..ItemUpdate::new(item.outcome)
            })
        };
        // Never remind someone who accepted or declined: read first, always.
        let seen = match self
            .invitations
            .read_in_background(work(record, calls), email)
            .await
        {
            Ok(seen) => seen,
            Err(error) => return self.on_error(item, &error),
        };
        match seen.as_ref().map(|s| s.state) {
            Some(InvitationState::Accepted) => complete(ItemOutcome::Accepted),
            Some(InvitationState::Declined) => complete(ItemOutcome::Declined),
            Some(InvitationState::Invited) if item.mailing => {
                // The reminder of an earlier holder went out, or may have: not another.
                keep(true, self.next_reminder(record, item.reminders + 1))
            }
            Some(InvitationState::Invited) => {
                let mail = ItemMail {
                    email,
                    resend: true,
                    seen: seen.as_ref(),
                };
                match self.send(record, creator, item, mail, calls).await {
                    ItemSend::Refused(stop) => self.stopped(item, stop),
                    ItemSend::Done {
                        outcome: Outcome::Sent | Outcome::Resent,
                        ..
                    } => keep(true, self.next_reminder(record, item.reminders + 1)),
                    ItemSend::Done {
                        outcome: Outcome::AlreadyAccepted,
                        ..
                    } => complete(ItemOutcome::Accepted),
                    ItemSend::Done {
                        outcome: Outcome::Failed,
                        error: Some(error),
                    } => self.on_error(item, &error),
                    ItemSend::Done {
                        outcome: Outcome::Unknown,
                        error,
                    } => self.unknown(item, error),
                    ItemSend::Done { .. } => keep(false, None),
                }
            }
            // Withdrawn meanwhile (or gone): no more reminders.
            _ => keep(false, None),
        }
    }

    async fn dry_run(
        &self,
        record: &CampaignRecord,
        item: &ItemLease,
        email: &Email,
        listed: Option<Seen>,
        calls: &Arc<AtomicU64>,
    ) -> Step {
        let seen = listed.or_else(|| (item.attempts == 0).then(|| seen_of(item)).flatten());
        match self
            .invitations
            .dry_run_verdict(work(record, calls), email, record.resend, seen.as_ref())
            .await
        {
            Ok(DryRunVerdict::WouldSend) => complete(ItemOutcome::WouldSend),
            Ok(DryRunVerdict::AlreadyInvited) => complete(ItemOutcome::AlreadyInvited),
            Ok(DryRunVerdict::AlreadyAccepted) => complete(ItemOutcome::AlreadyAccepted),
            Ok(DryRunVerdict::NotEligible) => complete(ItemOutcome::NotEligible),
            Err(error) => self.on_error(item, &error),
        }
    }

    /// Mails `item` through the domain's one safe send, with the campaign's check before the
    /// call and its audit trail, made by `creator`.
    async fn send(
        &self,
        record: &CampaignRecord,
        creator: &Caller,
        item: &ItemLease,
        mail: ItemMail<'_>,
        calls: &Arc<AtomicU64>,
    ) -> ItemSend<Stop> {
        let guard = StillOurs {
            gate: &self.gate,
            lease: item,
        };
        let sinks = (&*self.audit, self.invitations.emails());
        let audit = AuditTrail::campaign(sinks, &record.id, creator);
        self.invitations
            .send_item(work(record, calls), creator, mail, &guard, &audit)
            .await
    }

    /// A mail the campaign's check refused: paused, cancelled or no longer ours, the item
    /// goes back untouched; the store unable to say is a wait like any outage.
    fn stopped(&self, item: &ItemLease, stop: Stop) -> Step {
        match stop {
            Stop::NotRunning | Stop::LeaseLost => Step::Release {
                due: self.now(),
                error: None,
                hold: None,
            },
            Stop::StoreDown(error) => self.on_error(item, &error),
        }
    }

    /// An item's failure: the mail budget spent holds the campaign until the next UTC day; an
    /// outage holds it for a while (items are not failed by it); anything else fails the item.
    fn on_error(&self, item: &ItemLease, error: &ItemError) -> Step {
        let now = self.now();
        match error.code {
            ItemErrorCode::MailQuotaExceeded => {
                let tomorrow = (now.date_naive() + chrono::Days::new(1))
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(now);
                Step::Release {
                    due: tomorrow,
                    error: None,
                    hold: Some(WaitingReason::MailLimit),
                }
            }
            code if code.is_transient() => {
                // When the breaker may close, when Google (or the budget) said, or a while.
                let (wait, reason) = match self.invitations.google_reopens_in() {
                    Some(wait) => (wait.max(MIN_WAIT), WaitingReason::BreakerOpen),
                    None => (
                        error
                            .retry_after_seconds
                            .map_or(OUTAGE_WAIT, Duration::from_secs)
                            .max(MIN_WAIT),
                        waiting_reason(code),
                    ),
                };
                Step::Release {
                    due: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    error: Some(error.clone()),
                    hold: Some(reason),
                }
            }
            ItemErrorCode::AddressBusy if item.attempts + 1 < BUSY_ATTEMPTS => Step::Release {
                due: now + chrono::Duration::from_std(self.lease).unwrap_or_default(),
                error: Some(error.clone()),
                hold: None,
            },
            _ => failed(error),
        }
    }

    /// A mail whose outcome was cut off: never `failed`. The item goes back marked mailing, so
    /// its next holder reads Google first, and that read settles the audit trail.
    fn unknown(&self, item: &ItemLease, error: Option<ItemError>) -> Step {
        match error {
            Some(error) if error.code.is_transient() => self.on_error(item, &error),
            error => Step::Release {
                due: self.now() + chrono::Duration::from_std(OUTAGE_WAIT).unwrap_or_default(),
                error,
                hold: None,
            },
        }
    }

    async fn apply(
        &self,
        record: &CampaignRecord,
        item: &ItemLease,
        step: Step,
        nothing_sent: bool,
    ) -> Result<(), StoreError> {
        match step {
            Step::Complete(update) => {
                if self
                    .gate
                    .call(|s| s.complete_campaign_item(item, &update))
                    .await?
                {
                    crate::metrics::campaign_item(update.outcome.as_str());
                } else {
                    tracing::warn!(campaign = %record.id, "a campaign item's lease ran out before its result was stored");
                }
            }
            Step::Release { due, error, hold } => {
                let error = error.as_ref().map(|e| (e.code, e.detail.as_str()));
                self.gate
                    .call(|s| s.release_campaign_item(item, due, error, nothing_sent))
                    .await?;
                if let Some(reason) = hold {
                    self.wait_until(&record.id, due, reason).await?;
                }
            }
        }
        Ok(())
    }
}

/// The background work of `record`: its id and the counter of its Google calls.
fn work<'a>(record: &'a CampaignRecord, calls: &'a Arc<AtomicU64>) -> Background<'a> {
    Background {
        id: &record.id,
        calls,
    }
}
