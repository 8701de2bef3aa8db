//! Settings of the domain: batch fan-out, the eligibility cache, idempotency keys, summaries.

use super::rules::{nonzero_usize, positive, positive_ms, positive_secs};
use super::{ConfigError, env};
use std::num::NonZeroUsize;
use std::time::Duration;

/// Settings of the domain.
#[derive(Debug, Clone)]
pub struct InvitationSettings {
    /// Calls to Google in flight at once for one request (never 0: a batch would never start).
    pub batch_concurrency: NonZeroUsize,
    /// The eligibility cache.
    pub eligibility: EligibilitySettings,
    /// Idempotency keys.
    pub idempotency: IdempotencySettings,
    /// How long a summary is reused.
    pub summary_ttl: Duration,
    /// The campaign workers.
    pub campaigns: CampaignSettings,
}

/// Settings of the campaign worker every replica runs.
#[derive(Debug, Clone)]
pub struct CampaignSettings {
    /// How often an idle worker looks for due work (real time; "due" is on the store's clock).
    pub poll: Duration,
    /// How long a replica holds an item it works on; a replica that dies loses its items
    /// after this.
    pub lease: Duration,
    /// Most bytes of a roster uploaded with an Idempotency-Key (spooled to a temporary file
    /// before its items are written): about the row cap times a row's kept bytes.
    pub roster_max_bytes: u64,
    /// Most pending items one caller may have queued in campaigns that are not final; a
    /// creation past it is refused with 429 and creates nothing.
    pub max_pending_items: u64,
    /// Oldest a completed dry run may be (from its completion) to be started as a real run.
    pub dry_run_max_age: Duration,
}

/// Settings of the eligibility cache.
#[derive(Debug, Clone)]
pub struct EligibilitySettings {
    /// How long an eligible answer is reused.
    pub eligible_ttl: Duration,
    /// How long a not-eligible answer is reused (short: an account may appear any time).
    pub not_eligible_ttl: Duration,
    /// Most addresses kept.
    pub capacity: u64,
}

/// Settings of Idempotency-Keys (kept in the store).
#[derive(Debug, Clone)]
pub struct IdempotencySettings {
    /// How long an answer is kept.
    pub ttl: Duration,
    /// Unused since the keys moved to the store (`GATEWAY_IDEMPOTENCY_CAPACITY` is still
    /// accepted and validated, so existing manifests start).
    pub capacity: u64,
}

/// The flags of invitations: batch fan-out, the eligibility cache, summaries, campaigns,
/// Idempotency-Keys.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Invitations and campaigns")]
pub struct InvitationArgs {
    /// Addresses of one batch request worked on (calls to Google in flight) at once.
    #[arg(long, env = env::BATCH_CONCURRENCY, default_value_t = 10)]
    pub batch_concurrency: usize,

    /// Seconds an "eligible" answer stays in the eligibility cache.
    #[arg(long, env = env::ELIGIBLE_TTL_SECS, default_value_t = 600)]
    pub eligible_ttl_secs: u64,

    /// Seconds a "not eligible" answer stays in the eligibility cache.
    #[arg(long, env = env::NOT_ELIGIBLE_TTL_SECS, default_value_t = 60)]
    pub not_eligible_ttl_secs: u64,

    /// Most addresses the eligibility cache holds.
    #[arg(long, env = env::ELIGIBILITY_CACHE_CAPACITY, default_value_t = 100_000)]
    pub eligibility_cache_capacity: u64,

    /// Seconds a summary walked on request is reused (tracker off, or before its first walk).
    #[arg(long, env = env::SUMMARY_TTL_SECS, default_value_t = 30)]
    pub summary_ttl_secs: u64,

    /// Milliseconds between two looks of an idle campaign worker (one per replica) for due
    /// work, in real time; also how fast a pause reaches a replica.
    #[arg(long, env = env::CAMPAIGN_POLL_MILLIS, default_value_t = 1000)]
    pub campaign_poll_millis: u64,

    /// Seconds a replica holds a campaign item it works on; a replica that dies leaves its
    /// items to the others after this.
    #[arg(long, env = env::CAMPAIGN_LEASE_SECS, default_value_t = 60)]
    pub campaign_lease_secs: u64,

    /// Most MiB of a roster uploaded with an Idempotency-Key (it is kept in a temporary file
    /// until its fingerprint is known); beyond it the upload is refused with 413.
    #[arg(long, env = env::CAMPAIGN_ROSTER_MAX_MIB, default_value_t = 400)]
    pub campaign_roster_max_mib: u64,

    /// Most pending campaign items one caller may have queued (campaigns not yet completed or
    /// cancelled); a creation that would pass it is refused with 429 and Retry-After, and
    /// creates nothing. The default holds two 100,000-person runs (a dry run and its real run).
    #[arg(long, env = env::CAMPAIGN_MAX_PENDING_ITEMS, default_value_t = 200_000)]
    pub campaign_max_pending_items: u64,

    /// Hours after its completion a dry run may still be started as a real run
    /// (`POST /v1/campaigns/{id}/run`); an older one is refused with 409 `dry_run_stale`, since
    /// people's states change.
    #[arg(long, env = env::CAMPAIGN_DRY_RUN_MAX_AGE_HOURS, default_value_t = 24)]
    pub campaign_dry_run_max_age_hours: u64,

    /// Seconds an Idempotency-Key's answer is kept.
    #[arg(long, env = env::IDEMPOTENCY_TTL_SECS, default_value_t = 86_400)]
    pub idempotency_ttl_secs: u64,

    /// Unused: Idempotency-Keys are kept in the store until their TTL (accepted so that
    /// existing manifests still start).
    #[arg(long, env = env::IDEMPOTENCY_CAPACITY, default_value_t = 10_000)]
    pub idempotency_capacity: u64,
}

impl InvitationArgs {
    /// The validated invitation settings.
    pub fn settings(&self) -> Result<InvitationSettings, ConfigError> {
        Ok(InvitationSettings {
            batch_concurrency: nonzero_usize(env::BATCH_CONCURRENCY, self.batch_concurrency)?,
            eligibility: EligibilitySettings {
                eligible_ttl: Duration::from_secs(self.eligible_ttl_secs),
                not_eligible_ttl: Duration::from_secs(self.not_eligible_ttl_secs),
                capacity: positive(
                    env::ELIGIBILITY_CACHE_CAPACITY,
                    self.eligibility_cache_capacity,
                )?,
            },
            idempotency: IdempotencySettings {
                ttl: positive_secs(env::IDEMPOTENCY_TTL_SECS, self.idempotency_ttl_secs)?,
                capacity: positive(env::IDEMPOTENCY_CAPACITY, self.idempotency_capacity)?,
            },
            summary_ttl: Duration::from_secs(self.summary_ttl_secs),
            campaigns: CampaignSettings {
                poll: positive_ms(env::CAMPAIGN_POLL_MILLIS, self.campaign_poll_millis)?,
                lease: positive_secs(env::CAMPAIGN_LEASE_SECS, self.campaign_lease_secs)?,
                roster_max_bytes: positive(
                    env::CAMPAIGN_ROSTER_MAX_MIB,
                    self.campaign_roster_max_mib,
                )?
                .saturating_mul(1024 * 1024),
                max_pending_items: positive(
                    env::CAMPAIGN_MAX_PENDING_ITEMS,
                    self.campaign_max_pending_items,
                )?,
                dry_run_max_age: Duration::from_secs(
                    positive(
                        env::CAMPAIGN_DRY_RUN_MAX_AGE_HOURS,
                        self.campaign_dry_run_max_age_hours,
                    )?
                    .saturating_mul(3600),
                ),
            },
        })
    }
}
