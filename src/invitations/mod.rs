//! The domain: eligibility, lookup, listing, and safe send and cancel. Knows nothing of
//! actix-web; the handlers in `routes` call it and serialise what it returns.

pub mod audit;
pub mod background;
pub mod batch;
pub mod budget;
pub mod csv;
pub mod denials;
pub mod durable;
pub mod eligibility;
pub mod email;
pub mod events;
pub mod idempotency;
pub mod listing;
pub mod mutation;
pub mod outcome;
pub mod settle;

use crate::config::Settings;
use crate::google::breaker::BreakerState;
use crate::google::{CallContext, GoogleClient};
use crate::vocabulary::{Action, InvitationState, ItemErrorCode};
use batch::{BatchEntry, EmailBatch};
use bytes::Bytes;
use denials::{DenialFold, LocalFolds};
use durable::{Durable, StoreUnavailable};
use eligibility::EligibilityCache;
use email::{DomainPolicy, Email};
use futures_util::{Stream, StreamExt};
use listing::{ExportFormat, InvitationPage, ListQuery, Summary};
use moka::future::Cache;
use mutation::{Done, MailBudget, MutationObserver, Trail};
use outcome::{EligibilityResult, Failure, Invitation, ItemError, LookupResult, MutationResponse};
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Caller, ChangeRules, Gate};

/// The invitation service: one per process, shared by every request.
pub struct Invitations {
    google: Arc<GoogleClient>,
    eligibility: EligibilityCache,
    durable: Durable,
    idempotency_ttl: Duration,
    /// Longest one item of a batch may take: its Google deadline and the margin after it.
    item_budget: Duration,
    summaries: Cache<(), Arc<Summary>>,
    policy: DomainPolicy,
    concurrency: usize,
    /// Denial folds while the store cannot count them.
    local_denials: LocalFolds,
}

impl Invitations {
    /// Builds the service from the settings, over the store's `gate` (which reports the
    /// store's health from every call); `rules` (tracking's) tell whether a change the gateway
    /// made is new to the person's tracked row.
    pub fn new(
        google: Arc<GoogleClient>,
        gate: Arc<Gate>,
        settings: &Settings,
        rules: &'static dyn ChangeRules,
    ) -> Self {
        let invitations = &settings.invitations;
        // The read that settles a lost send runs after the item's deadline, for at most the
        // attempt timeout (at least 5 s); a second on top for the store's own round trips.
        let lease_margin =
            settings.google.timeouts.attempt.max(Duration::from_secs(5)) + Duration::from_secs(1);
        let local_denials = LocalFolds::new(gate.settings().denial_interval);
        Self {
            local_denials,
            google,
            eligibility: EligibilityCache::new(&settings.customer, &invitations.eligibility),
            durable: Durable::new(
                gate,
                &settings.customer,
                settings.limits.daily_mails_per_caller,
                lease_margin,
                events::EventFactory::new(
                    &settings.customer,
                    crate::privacy::EmailHasher::from_settings(settings.log_hash_key.as_ref()),
                ),
                rules,
            ),
            idempotency_ttl: invitations.idempotency.ttl,
            item_budget: settings.google.timeouts.total + lease_margin,
            summaries: Cache::builder()
                .max_capacity(1)
                .time_to_live(invitations.summary_ttl)
                .build(),
            policy: DomainPolicy::new(settings.allowed_domains.clone()),
            concurrency: invitations.batch_concurrency.get(),
        }
    }

    /// The factory of the gateway's CloudEvents (its hasher is the one of the logs).
    pub fn events(&self) -> &events::EventFactory {
        self.durable.events()
    }

    /// The hasher that stands in for emails in logs and event subjects: one per process, so
    /// that a log tag and an event's subject agree.
    pub fn emails(&self) -> &crate::privacy::EmailHasher {
        self.durable.events().emails()
    }

    /// The Google customer the gateway acts for.
    pub fn customer(&self) -> &str {
        self.durable.customer()
    }

    /// The eligibility cache (metrics, tests).
    pub fn eligibility(&self) -> &EligibilityCache {
        &self.eligibility
    }

    /// Counts a refused request of `reason` (an error code) from `peer` (its client address) in
    /// the store, folded per reason, peer and interval, and tells whether it is the first of its
    /// fold. When the store is down (known, or this call fails) a fold kept in this process
    /// tells instead, so that an outage floods no other sink; that denial is not counted.
    pub async fn record_denial(&self, reason: &str, peer: &str) -> DenialFold {
        // Known down: no wait for a connection per refused request during a flood.
        if !self.durable.is_down() {
            let counted = self.durable.call(|s| s.record_denial(reason, peer)).await;
            if let Ok(first) = counted {
                return DenialFold {
                    first,
                    stored: true,
                };
            }
        }
        let now = self.durable.gate().clock().now();
        DenialFold {
            first: self.local_denials.first(reason, peer, now),
            stored: false,
        }
    }

    /// Applies every table's retention in the store now and then every `every`; runs until
    /// dropped. Each replica prunes: deleting what another already deleted is harmless.
    pub async fn prune_store(&self, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Ok(rows) = self.durable.call(|s| s.prune_expired()).await {
                tracing::info!(rows, "store pruned");
            }
        }
    }

    /// Pings the store every few seconds for `/readyz`; runs until dropped.
    pub async fn watch_store(&self) {
        self.durable.gate().watch().await;
    }

    /// The state of the circuit breaker in front of Google (for the metrics scrape).
    pub fn breaker_state(&self) -> BreakerState {
        self.google.breaker().state()
    }

    /// One page of Google's whole list for the tracker's walk `walk_id` (background work, in
    /// the background share of the Google budget), from `page_token` (the first page when
    /// None), `page_size` people at most; in email order, or most recently updated first
    /// (`newest_first`).
    pub async fn walk_page(
        &self,
        page_token: Option<String>,
        page_size: u32,
        walk_id: &str,
        newest_first: bool,
    ) -> Result<crate::google::wire::ListUserInvitationsResponse, crate::google::UpstreamError>
    {
        let params = crate::google::ListParams {
            page_size: Some(page_size),
            page_token,
            order_by: newest_first.then(|| "update_time desc".to_owned()),
            ..crate::google::ListParams::default()
        };
        let ctx = self
            .google
            .context(Some(format!("tracker-{walk_id}")))
            .with_kind(crate::google::CallKind::Background);
        self.google.list(&params, &ctx).await
    }

    /// The context of the Google calls made for the request `request_id`: its id, and a call
    /// deadline that starts now.
    fn context(&self, request_id: &str) -> CallContext {
        self.google.context(Some(request_id.to_owned()))
    }

    /// The address of `entry` when it may reach Google: parsed when the batch was, and inside
    /// the allowed domains. The error is the item's `invalid_email` or `domain_not_allowed`.
    fn admit<'b>(&self, entry: &'b BatchEntry) -> Result<&'b Email, ItemError> {
        let email = entry.parsed().as_ref().map_err(ItemError::clone)?;
        self.policy.admit(email)
    }

    /// Runs `work` for every address with at most `concurrency` at once; answers in input order.
    /// Each item gets its own deadline, starting when the item starts.
    async fn fan_out<'a, T>(
        &self,
        batch: &'a EmailBatch,
        request_id: &str,
        work: impl AsyncFn(&'a BatchEntry, CallContext) -> T,
    ) -> Vec<T> {
        let work = &work;
        let ctx = &self.context(request_id);
        futures_util::stream::iter(
            batch
                .entries()
                .iter()
                .map(|entry| async move { work(entry, ctx.renewed()).await }),
        )
        .buffered(self.concurrency)
        .collect()
        .await
    }

    /// As [`Invitations::fan_out`], for `work` on each admitted address; an entry that may not
    /// reach Google is `refused(what the caller sent, trimmed, why)`.
    async fn fan_out_admitted<'a, T>(
        &self,
        batch: &'a EmailBatch,
        request_id: &str,
        refused: fn(&str, ItemError) -> T,
        work: impl AsyncFn(&'a Email, CallContext) -> T,
    ) -> Vec<T> {
        let work = &work;
        self.fan_out(batch, request_id, async |entry, ctx| {
            match self.admit(entry) {
                Ok(email) => work(email, ctx).await,
                Err(error) => refused(entry.raw().trim(), error),
            }
        })
        .await
    }

    /// isInvitableUser for every address, through the cache.
    pub async fn check(&self, batch: &EmailBatch, request_id: &str) -> Vec<EligibilityResult> {
        self.fan_out_admitted(
            batch,
            request_id,
            eligibility_error,
            async |email, ctx| match self.eligibility.check(&self.google, email, &ctx).await {
                Ok(answer) => EligibilityResult {
                    email: email.to_string(),
                    eligible: Some(answer.checked.eligible),
                    checked_at: Some(answer.checked.checked_at),
                    cached: Some(answer.cached),
                    error: None,
                },
                Err(err) => eligibility_error(email.as_str(), ItemError::from_upstream(&err)),
            },
        )
        .await
    }

    /// The invitation of every address; `not_found` is a per-item error.
    pub async fn lookup(&self, batch: &EmailBatch, request_id: &str) -> Vec<LookupResult> {
        self.fan_out_admitted(batch, request_id, lookup_error, async |email, ctx| {
            match self.google.get(email.as_str(), &ctx).await {
                Ok(invitation) => LookupResult {
                    email: email.to_string(),
                    invitation: Some(Invitation::from(&invitation)),
                    error: None,
                },
                Err(err) if err.status == Some(crate::google::Status::NotFound) => lookup_error(
                    email.as_str(),
                    ItemError::new(
                        ItemErrorCode::NotFound,
                        "Google has no invitation for this address (accounts created in the last 48 hours are not listed yet).",
                    ),
                ),
                Err(err) => lookup_error(email.as_str(), ItemError::from_upstream(&err)),
            }
        })
        .await
    }

    /// `caller`'s daily mail budget, for today's sends (UTC).
    fn mail_budget<'a>(&'a self, caller: &'a Caller) -> MailBudget<'a> {
        MailBudget {
            durable: &self.durable,
            caller,
            day: self.durable.today(),
        }
    }

    /// The audit trails of the items of request `request_id` of `caller` (or of background
    /// work `context`), with the caller's side `observer`.
    fn trail<'a>(
        &'a self,
        observer: &'a dyn MutationObserver,
        caller: &'a Caller,
        request_id: &'a str,
        context: Option<&'a str>,
    ) -> Trail<'a> {
        Trail {
            observer,
            durable: &self.durable,
            caller,
            request_id,
            context,
        }
    }

    /// Sends invitations safely, each mail charged to `caller`'s daily budget; every item is
    /// reported to `observer` as it completes. `Err` when the store is down and nothing was
    /// done.
    pub async fn send(
        &self,
        batch: &EmailBatch,
        resend: bool,
        caller: &Caller,
        observer: &dyn MutationObserver,
        request_id: &str,
    ) -> Result<MutationResponse, StoreUnavailable> {
        let budget = &self.mail_budget(caller);
        let trail = &self.trail(observer, caller, request_id, None);
        self.mutate(
            (Action::Send, caller),
            batch,
            observer,
            request_id,
            async |email, ctx| {
                let sent = mutation::send_one(
                    &self.google,
                    &self.eligibility,
                    (email, resend, None),
                    budget,
                    trail,
                    &mutation::Unguarded,
                    &ctx,
                )
                .await;
                match sent {
                    Ok(done) => done,
                    Err(never) => match never {},
                }
            },
        )
        .await
    }

    /// Cancels pending invitations on behalf of `caller`; every item is reported to `observer`
    /// as it completes. `Err` when the store is down and nothing was done.
    pub async fn cancel(
        &self,
        batch: &EmailBatch,
        caller: &Caller,
        observer: &dyn MutationObserver,
        request_id: &str,
    ) -> Result<MutationResponse, StoreUnavailable> {
        let trail = &self.trail(observer, caller, request_id, None);
        self.mutate(
            (Action::Cancel, caller),
            batch,
            observer,
            request_id,
            async |email, ctx| {
                mutation::cancel_one(&self.google, &self.eligibility, email, trail, &ctx).await
            },
        )
        .await
    }

    async fn mutate<'a, F>(
        &'a self,
        (action, caller): (Action, &'a Caller),
        batch: &'a EmailBatch,
        observer: &'a dyn MutationObserver,
        request_id: &str,
        one: F,
    ) -> Result<MutationResponse, StoreUnavailable>
    where
        F: AsyncFn(&'a Email, CallContext) -> Done + 'a,
    {
        // Known down (the last call or ping failed): refuse at once rather than let every item
        // wait for a connection.
        if self.durable.is_down() {
            return Err(StoreUnavailable);
        }
        let one = &one;
        let results = self
            .fan_out(batch, request_id, async |entry, ctx| {
                let done = match self.admit(entry) {
                    // The claim comes before anything else for this person, so that another
                    // request (on any replica) acting on them waits for this one's outcome.
                    Ok(email) => match self.durable.claim(email, request_id, ctx.deadline).await {
                        Ok(claim) => {
                            let done = one(email, ctx).await;
                            self.durable.release(&claim).await;
                            done
                        }
                        Err(error) => mutation::refused(email.as_str(), error),
                    },
                    Err(error) => mutation::refused(entry.raw(), error),
                };
                self.durable
                    .record_item_decision(action, &done, request_id, caller, None)
                    .await;
                observer.record(action, &done);
                done.result
            })
            .await;
        // Every address that could reach Google met a store outage before any change: the
        // request as a whole is refused, so the caller retries it later.
        let code = |r: &outcome::MutationResult| r.error.as_ref().map(|e| e.code);
        let down = results
            .iter()
            .any(|r| code(r) == Some(ItemErrorCode::StoreUnavailable))
            && results.iter().all(|r| {
                matches!(
                    code(r),
                    Some(
                        ItemErrorCode::StoreUnavailable
                            | ItemErrorCode::InvalidEmail
                            | ItemErrorCode::DomainNotAllowed
                    )
                )
            });
        if down {
            return Err(StoreUnavailable);
        }
        Ok(MutationResponse::new(results))
    }

    /// One page of invitations.
    pub async fn list(
        &self,
        query: &ListQuery,
        request_id: &str,
    ) -> Result<InvitationPage, Failure> {
        listing::list_page(&self.google, query, &self.context(request_id)).await
    }

    /// Counts of every invitation by state, reused for a short while; concurrent callers share
    /// one walk. Each page read gets its own deadline.
    pub async fn summary(&self, request_id: &str) -> Result<Arc<Summary>, Failure> {
        self.summaries
            .try_get_with((), async {
                listing::summarize(&self.google, || self.context(request_id))
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|err| (*err).clone())
    }

    /// Every invitation in `states` (all when empty), streamed page by page in email order; see
    /// [`listing::export`]. Each page read gets its own deadline.
    pub async fn export(
        &self,
        states: Vec<InvitationState>,
        format: ExportFormat,
        request_id: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, Failure>> + 'static, Failure> {
        let google = Arc::clone(&self.google);
        let request_id = request_id.to_owned();
        let context = move || google.context(Some(request_id.clone()));
        listing::export(Arc::clone(&self.google), states, format, context).await
    }
}

fn eligibility_error(email: &str, error: ItemError) -> EligibilityResult {
    EligibilityResult {
        email: email.to_owned(),
        eligible: None,
        checked_at: None,
        cached: None,
        error: Some(error),
    }
}

fn lookup_error(email: &str, error: ItemError) -> LookupResult {
    LookupResult {
        email: email.to_owned(),
        invitation: None,
        error: Some(error),
    }
}
