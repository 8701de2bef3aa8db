//! Settings of the domain: batch fan-out, the eligibility cache, idempotency keys, summaries.

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
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(1000),
            lease: Duration::from_secs(60),
            roster_max_bytes: 400 * 1024 * 1024,
        }
    }
}

impl Default for InvitationSettings {
    fn default() -> Self {
        Self {
            batch_concurrency: NonZeroUsize::new(10).expect("10 is not zero"),
            eligibility: EligibilitySettings::default(),
            idempotency: IdempotencySettings::default(),
            summary_ttl: Duration::from_secs(30),
            campaigns: CampaignSettings::default(),
        }
    }
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

impl Default for EligibilitySettings {
    fn default() -> Self {
        Self {
            eligible_ttl: Duration::from_secs(600),
            not_eligible_ttl: Duration::from_secs(60),
            capacity: 100_000,
        }
    }
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

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            capacity: 10_000,
        }
    }
}
