//! The domain: eligibility, lookup, listing, and safe send and cancel. Knows nothing of
//! actix-web; the handlers in `routes` call it and serialise what it returns.

pub mod eligibility;
pub mod email;
pub mod idempotency;
pub mod listing;
pub mod mutation;
pub mod outcome;

use crate::config::InvitationSettings;
use crate::google::{CallContext, GoogleClient};
use eligibility::EligibilityCache;
use email::DomainPolicy;
use futures_util::StreamExt;
use idempotency::IdempotencyStore;
use listing::Summary;
use moka::future::Cache;
use mutation::{Action, Done, MutationObserver};
use outcome::{
    EligibilityResult, Failure, Invitation, ItemError, ItemErrorCode, LookupResult,
    MutationResponse,
};
use std::future::Future;
use std::sync::Arc;

/// Most addresses in one request.
pub const MAX_EMAILS: usize = 100;

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

    /// The Google client.
    pub fn google(&self) -> &Arc<GoogleClient> {
        &self.google
    }

    /// Runs `work` for every address with at most `concurrency` at once; answers in input order.
    /// Each item gets its own deadline, renewed from `ctx` when the item starts.
    async fn fan_out<'a, T, F, Fut>(
        &self,
        emails: &'a [String],
        ctx: &CallContext,
        work: F,
    ) -> Vec<T>
    where
        F: Fn(&'a str, CallContext) -> Fut,
        Fut: Future<Output = T>,
    {
        let work = &work;
        futures_util::stream::iter(
            emails
                .iter()
                .map(|raw| async move { work(raw.as_str(), ctx.renewed()).await }),
        )
        .buffered(self.concurrency)
        .collect()
        .await
    }

    /// isInvitableUser for every address, through the cache.
    pub async fn check(&self, emails: &[String], ctx: &CallContext) -> Vec<EligibilityResult> {
        self.fan_out(emails, ctx, |raw, ctx| async move {
            let email = match self.policy.admit(raw) {
                Ok(email) => email,
                Err(error) => return eligibility_error(raw.trim(), error),
            };
            match self.eligibility.check(&self.google, &email, &ctx).await {
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
    pub async fn lookup(&self, emails: &[String], ctx: &CallContext) -> Vec<LookupResult> {
        self.fan_out(emails, ctx, |raw, ctx| async move {
            let email = match self.policy.admit(raw) {
                Ok(email) => email,
                Err(error) => return lookup_error(raw.trim(), error),
            };
            match self.google.get(email.as_str(), &ctx).await {
                Ok(invitation) => LookupResult {
                    email: email.to_string(),
                    invitation: Some(Invitation::from(&invitation)),
                    error: None,
                },
                Err(err) if err.is_status("NOT_FOUND") => lookup_error(
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
        emails: &[String],
        resend: bool,
        observer: &dyn MutationObserver,
        ctx: &CallContext,
    ) -> MutationResponse {
        self.mutate(Action::Send, emails, observer, ctx, async |email, ctx| {
            mutation::send_one(
                &self.google,
                &self.eligibility,
                email,
                resend,
                observer,
                &ctx,
            )
            .await
        })
        .await
    }

    /// Cancels pending invitations; every item is reported to `observer` as it completes.
    pub async fn cancel(
        &self,
        emails: &[String],
        observer: &dyn MutationObserver,
        ctx: &CallContext,
    ) -> MutationResponse {
        self.mutate(Action::Cancel, emails, observer, ctx, async |email, ctx| {
            mutation::cancel_one(&self.google, &self.eligibility, email, observer, &ctx).await
        })
        .await
    }

    async fn mutate<'a, F>(
        &'a self,
        action: Action,
        emails: &'a [String],
        observer: &'a dyn MutationObserver,
        ctx: &CallContext,
        one: F,
    ) -> MutationResponse
    where
        F: AsyncFn(email::Email, CallContext) -> Done + 'a,
    {
        let one = &one;
        let results = self
            .fan_out(emails, ctx, |raw, ctx| async move {
                let done = match self.policy.admit(raw) {
                    Ok(email) => one(email, ctx).await,
                    Err(error) => mutation::refused(raw, error),
                };
                observer.record(action, &done);
                done.result
            })
            .await;
        MutationResponse::new(results)
    }

    /// Counts of every invitation by state, reused for a short while; concurrent callers share
    /// one walk.
    pub async fn summary(
        &self,
        context: impl Fn() -> CallContext,
    ) -> Result<Arc<Summary>, Failure> {
        self.summaries
            .try_get_with((), async {
                listing::summarize(&self.google, context)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|err| (*err).clone())
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
