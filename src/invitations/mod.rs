//! The domain: eligibility, lookup, listing, and safe send and cancel. Knows nothing of
//! actix-web; the handlers in `routes` call it and serialise what it returns.

pub mod batch;
pub mod budget;
pub mod eligibility;
pub mod email;
pub mod idempotency;
pub mod listing;
pub mod mutation;
pub mod outcome;

use crate::config::InvitationSettings;
use crate::google::breaker::BreakerState;
use crate::google::{CallContext, GoogleClient};
use batch::{BatchEntry, EmailBatch};
use bytes::Bytes;
use eligibility::EligibilityCache;
use email::{DomainPolicy, Email};
use futures_util::{Stream, StreamExt};
use idempotency::IdempotencyStore;
use listing::{ExportFormat, InvitationPage, ListQuery, Summary};
use moka::future::Cache;
use mutation::{Action, Done, MutationObserver};
use outcome::{
    EligibilityResult, Failure, Invitation, InvitationState, ItemError, ItemErrorCode,
    LookupResult, MutationResponse,
};
use std::future::Future;
use std::sync::Arc;

/// The invitation service: one per process, shared by every request.
pub struct Invitations {
    google: Arc<GoogleClient>,
    eligibility: EligibilityCache,
    idempotency: IdempotencyStore,
    summaries: Cache<(), Arc<Summary>>,
    policy: DomainPolicy,
    concurrency: usize,
}

impl Invitations {
    /// Builds the service for `customer`.
    pub fn new(
        google: Arc<GoogleClient>,
        customer: &str,
        allowed_domains: Vec<String>,
        settings: &InvitationSettings,
    ) -> Self {
        Self {
            google,
            eligibility: EligibilityCache::new(customer, &settings.eligibility),
            idempotency: IdempotencyStore::new(&settings.idempotency),
            summaries: Cache::builder()
                .max_capacity(1)
                .time_to_live(settings.summary_ttl)
                .build(),
            policy: DomainPolicy::new(allowed_domains),
            concurrency: settings.batch_concurrency.get(),
        }
    }

    /// The eligibility cache (metrics, tests).
    pub fn eligibility(&self) -> &EligibilityCache {
        &self.eligibility
    }

    /// The idempotency store.
    pub fn idempotency(&self) -> &IdempotencyStore {
        &self.idempotency
    }

    /// The Google client, for startup checks and tests: handlers go through the methods of
    /// this service, never to the client.
    pub fn google(&self) -> &Arc<GoogleClient> {
        &self.google
    }

    /// The state of the circuit breaker in front of Google (for the metrics scrape).
    pub fn breaker_state(&self) -> BreakerState {
        self.google.breaker().state()
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
    async fn fan_out<'a, T, F, Fut>(
        &self,
        batch: &'a EmailBatch,
        request_id: &str,
        work: F,
    ) -> Vec<T>
    where
        F: Fn(&'a BatchEntry, CallContext) -> Fut,
        Fut: Future<Output = T>,
    {
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

    /// isInvitableUser for every address, through the cache.
    pub async fn check(&self, batch: &EmailBatch, request_id: &str) -> Vec<EligibilityResult> {
        self.fan_out(batch, request_id, |entry, ctx| async move {
            let email = match self.admit(entry) {
                Ok(email) => email,
                Err(error) => return eligibility_error(entry.raw().trim(), error),
            };
            match self.eligibility.check(&self.google, email, &ctx).await {
                Ok(answer) => EligibilityResult {
                    email: email.to_string(),
                    eligible: Some(answer.checked.eligible),
                    checked_at: Some(answer.checked.checked_at),
                    cached: Some(answer.cached),
                    error: None,
                },
                Err(err) => eligibility_error(email.as_str(), ItemError::from_upstream(&err)),
            }
        })
        .await
    }

    /// The invitation of every address; `not_found` is a per-item error.
    pub async fn lookup(&self, batch: &EmailBatch, request_id: &str) -> Vec<LookupResult> {
        self.fan_out(batch, request_id, |entry, ctx| async move {
            let email = match self.admit(entry) {
                Ok(email) => email,
                Err(error) => return lookup_error(entry.raw().trim(), error),
            };
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

    /// Sends invitations safely; every item is reported to `observer` as it completes.
    pub async fn send(
        &self,
        batch: &EmailBatch,
        resend: bool,
        observer: &dyn MutationObserver,
        request_id: &str,
    ) -> MutationResponse {
        self.mutate(
            Action::Send,
            batch,
            observer,
            request_id,
            async |email, ctx| {
                mutation::send_one(
                    &self.google,
                    &self.eligibility,
                    email,
                    resend,
                    observer,
                    &ctx,
                )
                .await
            },
        )
        .await
    }

    /// Cancels pending invitations; every item is reported to `observer` as it completes.
    pub async fn cancel(
        &self,
        batch: &EmailBatch,
        observer: &dyn MutationObserver,
        request_id: &str,
    ) -> MutationResponse {
        self.mutate(
            Action::Cancel,
            batch,
            observer,
            request_id,
            async |email, ctx| {
                mutation::cancel_one(&self.google, &self.eligibility, email, observer, &ctx).await
            },
        )
        .await
    }

    async fn mutate<'a, F>(
        &'a self,
        action: Action,
        batch: &'a EmailBatch,
        observer: &'a dyn MutationObserver,
        request_id: &str,
        one: F,
    ) -> MutationResponse
    where
        F: AsyncFn(&'a Email, CallContext) -> Done + 'a,
    {
        let one = &one;
        let results = self
            .fan_out(batch, request_id, |entry, ctx| async move {
                let done = match self.admit(entry) {
                    Ok(email) => one(email, ctx).await,
                    Err(error) => mutation::refused(entry.raw(), error),
                };
                observer.record(action, &done);
                done.result
            })
            .await;
        MutationResponse::new(results)
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
