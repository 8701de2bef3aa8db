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

use super::Tracking;
use crate::google::Status;
use crate::invitations::email::Email;
use crate::invitations::events::InvitationChange;
use crate::store::{Observed, OutboxEvent, TrackedChange, WalkPage};
use std::time::Duration;

/// How long a stored page token is trusted to resume a walk. Google does not document how
/// long list tokens live; past this the walk starts over, which costs calls, never changes.
pub const PAGE_TOKEN_VALIDITY: Duration = Duration::from_secs(600);

/// Google's largest page: one call per 200 people.
pub const PAGE_SIZE: u32 = 200;

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

    /// One step: takes the lease, and walks (or resumes) when a walk is due, page by page to
    /// the end or the first failure.
    pub async fn track_once(&self) -> Step {
        if !self.enabled() {
            return Step::Idle;
        }
        let customer = self.customer();
        let lease = match self
            .gate
            .call(|s| {
                s.take_walk(
                    customer,
                    &self.holder,
                    self.settings.lease,
                    self.settings.interval,
                    PAGE_TOKEN_VALIDITY,
                )
            })
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
                .walk_page(page_token.clone(), PAGE_SIZE, &walk_id)
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
            let next = page.next_page_token.filter(|t| !t.is_empty());
            let page = WalkPage {
                customer,
                holder: &self.holder,
                walk_id: &walk_id,
                next_page_token: next.as_deref(),
                people: &people,
                lease: self.settings.lease,
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
                    tracing::info!(walk = %walk_id, "tracker: walk finished");
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
