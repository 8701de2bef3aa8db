//! The one observer of send and cancel items, for requests and campaigns alike: no change
//! while the audit file cannot take records, and every item recorded in the audit log target
//! and file with its caller, route, Idempotency-Key and campaign, as far as it has them.

use super::{AuditLog, AuditRecord};
use crate::invitations::mutation::{self, Done, MutationObserver};
use crate::invitations::outcome::ItemError;
use crate::invitations::settle::Settled;
use crate::privacy::EmailHasher;
use crate::store::Caller;
use crate::vocabulary::Action;

/// The route the records of a campaign's mails name.
const CAMPAIGN_ROUTE: &str = "campaign worker";

/// The audit trail of one request's items, or of one campaign's mails.
pub struct AuditTrail<'a> {
    log: &'a AuditLog,
    emails: &'a EmailHasher,
    caller: &'a Caller,
    request_id: &'a str,
    route: &'a str,
    idempotency_key: Option<&'a str>,
    campaign_id: Option<&'a str>,
}

impl<'a> AuditTrail<'a> {
    /// The trail of request `request_id` of `caller` to `route` (a route template), with its
    /// Idempotency-Key if it has one.
    pub fn request(
        (log, emails): (&'a AuditLog, &'a EmailHasher),
        caller: &'a Caller,
        request_id: &'a str,
        route: &'a str,
        idempotency_key: Option<&'a str>,
    ) -> Self {
        AuditTrail {
            log,
            emails,
            caller,
            request_id,
            route,
            idempotency_key,
            campaign_id: None,
        }
    }

    /// The trail of campaign `campaign_id`'s mails, made by its creator.
    pub fn campaign(
        (log, emails): (&'a AuditLog, &'a EmailHasher),
        campaign_id: &'a str,
        creator: &'a Caller,
    ) -> Self {
        AuditTrail {
            log,
            emails,
            caller: creator,
            request_id: campaign_id,
            route: CAMPAIGN_ROUTE,
            idempotency_key: None,
            campaign_id: Some(campaign_id),
        }
    }
}

impl MutationObserver for AuditTrail<'_> {
    fn allow_change(&self) -> Result<(), ItemError> {
        self.log.check_writable().map_err(|err| {
            tracing::error!(error = %err, route = self.route, "audit trail unavailable: no change made");
            mutation::audit_unavailable()
        })
    }

    fn record(&self, action: Action, done: &Done) {
        let (result, google_status) = (&done.result, done.google_status);
        // The application log names the address only by its keyed hash.
        tracing::info!(
            action = action.as_str(),
            outcome = result.outcome.as_str(),
            email = %self.emails.tag(&result.email),
            google_status,
            "invitation item done"
        );
        let mut record = AuditRecord::of_item(action, self.request_id, done)
            .caller_id(&self.caller.iss, &self.caller.sub)
            .route(self.route);
        if let Some(key) = self.idempotency_key {
            record = record.idempotency_key(key);
        }
        if let Some(campaign_id) = self.campaign_id {
            record = record.campaign(campaign_id);
        }
        if let Err(err) = self.log.record(&record) {
            // This item's change is made (its record reached the audit log target); the items
            // after it are refused by allow_change.
            tracing::error!(error = %err, email = %self.emails.tag(&result.email), "audit record could not be written");
        }
    }

    fn record_settled(&self, settled: &Settled) {
        if self.campaign_id.is_some() {
            self.log.record_settled_by_worker(settled);
        } else {
            self.log.write_settled(settled, Some(self.route));
        }
    }
}

impl AuditLog {
    /// Writes an outcome the campaign worker settled to the audit log target and file (the
    /// route names the worker for a campaign's intents only).
    pub fn record_settled_by_worker(&self, settled: &Settled) {
        let route = settled.campaign_id.is_some().then_some(CAMPAIGN_ROUTE);
        self.write_settled(settled, route);
    }

    fn write_settled(&self, settled: &Settled, route: Option<&str>) {
        let mut record = AuditRecord::of_settled(settled);
        if let Some(route) = route {
            record = record.route(route);
        }
        if let Err(err) = self.record(&record) {
            tracing::error!(error = %err, "audit record of a settled outcome could not be written");
        }
    }
}
