//! The tracker: walks Google's list, one replica at a time (a lease in the store), inside the
//! background share of the Google budget, and records every change with its event.
//!
//! The lease lasts `GATEWAY_TRACK_LEASE_SECS` and every page renews it: a replica that dies
//! mid-walk is replaced that long after its last page. Each page is recorded in one transaction
//! with the walk's progress (its next page token), so a walk cut off by a crash or an outage
//! resumes at that page on whichever replica holds the lease next, as long as the token is
//! younger than [`PAGE_TOKEN_VALIDITY`]; otherwise, or when Google refuses the token, the walk
//! starts over from the first page (recording a page twice records nothing twice: changes are
//! concluded against the stored state). The rules that turn what the list shows into changes,
//! absence included, are in `rules`.
//!
//! Walks are of two kinds. An incremental walk reads the list most recently updated first and
//! stops at the first page that reaches below the watermark (the newest `updateTime` the
//! complete walks so far account for) less [`WATERMARK_MARGIN`]: it costs one call per 200
//! changes, plus one. A full walk reads everybody in email order, at most every
//! `GATEWAY_TRACK_FULL_WALK_HOURS`: it finds the accounts Google lists late (48 to 72 hours
//! after they were made, with an `updateTime` older than the watermark) and marks the people it
//! did not list missing. Both record what they see the same way, so a change is announced once
//! whichever walk sees it first.

use super::Tracking;
use crate::google::Status;
use crate::invitations::email::Email;
use crate::invitations::events::InvitationChange;
use crate::store::{Observed, OutboxEvent, TrackedChange, WalkCadence, WalkPage};
use std::time::Duration;

/// How long a stored page token is trusted to resume a walk. Google does not document how
/// long list tokens live; past this the walk starts over, which costs calls, never changes.
pub const PAGE_TOKEN_VALIDITY: Duration = Duration::from_secs(600);

/// Google's largest page: one call per 200 people.
pub const PAGE_SIZE: u32 = 200;

/// How far below the watermark an incremental walk still reads. Google's list reads an index
/// that lags behind the changes themselves, and `updateTime` is stamped by Google's servers,
/// not ours: a change stamped a little before the last walk's newest may become listable
/// after that walk read past it. Ten minutes covers an index lag of minutes and any clock skew
/// between Google's frontends (neither is published) with room to spare, and costs almost
/// nothing: the people re-read are those changed in the ten minutes before the watermark
/// (about 7 at 1 % of 100,000 people a day), recorded once already, so an idle walk stays one
/// call as long as fewer than 200 people change in ten minutes. Accounts that appear later
/// still (new accounts, 48 to 72 hours) are the full walk's.
pub const WATERMARK_MARGIN: Duration = Duration::from_secs(600);

/// What one tracker step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Tracking is off, another replica holds the lease, or no walk is due.
    Idle,
    /// A walk finished.
    Finished,
    /// A page could not be read or recorded; the walk resumes at a later step.
    Failed,
    /// The lease went to another replica mid-walk.
    LostLease,
}

impl Tracking {
    /// Runs the tracker until dropped: every `poll_every` (real time) it looks whether a walk is
    /// due on the store's clock, and walks when this replica holds the lease.
    pub async fn run_tracker(&self) {
        if !self.enabled() {
            return;
        }
        let mut ticks = tokio::time::interval(self.settings.poll_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.track_once().await;
        }
    }

    /// Gives the tracker lease and this replica's webhook deliveries up (shutdown), so that
    /// another replica takes over at once; a store that does not answer within a second is
    /// left alone (the leases then run out).
    pub async fn release_leases(&self) {
        let walk = self
            .gate
            .call(|s| s.release_walk(self.customer(), &self.holder));
        let _ = tokio::time::timeout(Duration::from_secs(1), walk).await;
        let deliveries = self.gate.call(|s| s.release_deliveries(&self.holder));
        let _ = tokio::time::timeout(Duration::from_secs(1), deliveries).await;
    }

    /// When walks are due, from the settings.
    fn cadence(&self) -> WalkCadence {
        WalkCadence {
            lease: self.settings.lease,
            interval: self.settings.interval,
            full_every: self.settings.full_walk,
            token_validity: PAGE_TOKEN_VALIDITY,
        }
    }

    /// One step: takes the lease, and walks (or resumes) when a walk is due, page by page to
    /// the end or the first failure.
    pub async fn track_once(&self) -> Step {
        if !self.enabled() {
            return Step::Idle;
        }
        let customer = self.customer();
        let lease = match self
            .gate
            .call(|s| s.take_walk(customer, &self.holder, self.cadence()))
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => return Step::Idle,
            Err(error) => {
                tracing::warn!(%error, "tracker: the store cannot be read; trying again later");
                return Step::Failed;
            }
        };
        let mut walk_id = lease.walk_id;
        let mut page_token = lease.page_token;
        let full = lease.full;
        // An incremental walk reads down to the watermark less the margin (everything when
        // there is none yet); its newest starts at the watermark, which it can only raise.
        let cutoff = lease.watermark.filter(|_| !full).and_then(|watermark| {
            chrono::Duration::from_std(WATERMARK_MARGIN)
                .ok()
                .and_then(|margin| watermark.checked_sub_signed(margin))
        });
        let mut newest = if full {
            lease.newest
        } else {
            lease.newest.max(lease.watermark)
        };
        let events = self.invitations.events();
        let announce = |change: &TrackedChange| -> Option<OutboxEvent> {
            events.invitation(&InvitationChange {
                kind: change.kind,
                email: &change.email,
                state: change.state,
                mails_sent_count: change.mails_sent_count,
                update_time: change.update_time,
                at: change.at,
                observed_by: "tracker",
            })
        };
        loop {
            let page = self
                .invitations
                .walk_page(page_token.clone(), PAGE_SIZE, &walk_id, !full)
                .await;
            let page = match page {
                Ok(page) => page,
                Err(err) if page_token.is_some() && err.status == Some(Status::InvalidArgument) => {
                    // The token expired or is unknown: start over from the first page.
                    tracing::info!("tracker: Google refused the page token; the walk starts over");
                    let _ = self
                        .gate
                        .call(|s| s.restart_walk(customer, &self.holder))
                        .await;
                    metrics_walk("failed");
                    return Step::Failed;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "tracker: a page could not be read; the walk resumes later");
                    metrics_walk("failed");
                    return Step::Failed;
                }
            };
            let people: Vec<Observed> = page
                .user_invitations
                .iter()
                .map(|invitation| Observed {
                    // Keyed like the gateway's own changes: the identity Google compares.
                    email: Email::parse(invitation.email())
                        .map_or_else(|_| invitation.email().to_lowercase(), |e| e.identity()),
                    state: invitation.state.into(),
                    mails_sent_count: invitation.mails_sent_count,
                    update_time: invitation.update_time,
                })
                .collect();
            newest = newest.max(people.iter().filter_map(|p| p.update_time).max());
            // Newest first: once a page reaches below the cutoff, the rest is older still.
            let reached = cutoff.is_some_and(|cutoff| {
                people
                    .last()
                    .is_none_or(|last| last.update_time.is_some_and(|t| t < cutoff))
            });
            let next = page.next_page_token.filter(|t| !t.is_empty() && !reached);
            let page = WalkPage {
                customer,
                holder: &self.holder,
                walk_id: &walk_id,
                next_page_token: next.as_deref(),
                people: &people,
                lease: self.settings.lease,
                newest,
            };
            let recorded = self
                .gate
                .call(|s| s.record_walk_page(&page, &super::rules::RULES, &announce))
                .await;
            match recorded {
                Ok(Some(changes)) => {
                    for change in &changes {
                        crate::metrics::tracker_change(change.kind.as_str());
                    }
                }
                Ok(None) => {
                    metrics_walk("lost_lease");
                    return Step::LostLease;
                }
                Err(error) => {
                    tracing::warn!(%error, "tracker: a page could not be recorded; the walk resumes later");
                    metrics_walk("failed");
                    return Step::Failed;
                }
            }
            match next {
                Some(token) => page_token = Some(token),
                None => {
                    tracing::info!(walk = %walk_id, full, "tracker: walk finished");
                    metrics_walk("finished");
                    walk_id.clear();
                    return Step::Finished;
                }
            }
        }
    }
}

fn metrics_walk(result: &'static str) {
    crate::metrics::tracker_walk(result);
}
