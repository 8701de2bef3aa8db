//! Settings of the upstream: where Google is, how the gateway authenticates to it, and how long
//! and how often it may call it.

use super::rules::{base_url, non_empty, nonzero_u32, nonzero_usize, positive_ms, positive_secs};
use super::{ConfigError, env};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// Google's production base URL of the Cloud Identity API.
pub const GOOGLE_API_URL: &str = "https://cloudidentity.googleapis.com";
/// Google's production base URL of the IAM Credentials API (keyless signing).
pub const GOOGLE_IAM_URL: &str = "https://iamcredentials.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Shortest budget of the read that settles a mutation whose answer was lost: a tiny attempt
/// timeout must not leave the reconciliation too little time to learn what happened.
const MIN_RECONCILING_READ: Duration = Duration::from_secs(5);

/// The upstream: credentials and base URLs.
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// Which credential the gateway uses to act as the delegated admin.
    pub credentials: GoogleCredentials,
    /// Base URL of the Cloud Identity API, without a trailing slash.
    pub api_url: String,
    /// Base URL of IAM Credentials, without a trailing slash.
    pub iam_url: String,
    /// Token endpoint for keyless mode (a key file names its own `token_uri`).
    pub token_url: String,
    /// Ask only for the read-only scope (a deployment that never sends or cancels).
    pub readonly: bool,
    /// Connect, per-attempt, total and token-fetch timeouts.
    pub timeouts: GoogleTimeouts,
    /// Retry schedule for calls that may be retried.
    pub retry: RetrySettings,
    /// Bulkhead and circuit breaker (the call budget is the store's: shared by every replica).
    pub protection: ProtectionSettings,
}

/// Timeouts of calls to Google.
#[derive(Debug, Clone)]
pub struct GoogleTimeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// One HTTP attempt, until the whole answer is read.
    pub attempt: Duration,
    /// All attempts and waits of one call together (a request's deadline).
    pub total: Duration,
    /// Obtaining an access token (assertion exchange, or signJwt + exchange).
    pub token: Duration,
}

/// First backoff step between attempts (before jitter; not a flag).
const RETRY_MIN_DELAY: Duration = Duration::from_millis(200);
/// Largest backoff step between attempts (before jitter; not a flag).
const RETRY_MAX_DELAY: Duration = Duration::from_secs(5);

/// Full-jitter exponential backoff between attempts.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts per call, the first included.
    pub max_attempts: NonZeroU32,
    /// First backoff step (before jitter).
    pub min_delay: Duration,
    /// Largest backoff step (before jitter).
    pub max_delay: Duration,
}

/// Protection for Google and for us.
#[derive(Debug, Clone)]
pub struct ProtectionSettings {
    /// Calls to Google in flight at once from this process.
    pub max_concurrent_calls: NonZeroUsize,
    /// Consecutive upstream failures that open the circuit breaker.
    pub breaker_failure_threshold: NonZeroU32,
    /// How long the breaker stays open before it lets a probe through.
    pub breaker_open_for: Duration,
}

/// The two ways of holding Google's domain-wide delegation.
#[derive(Debug, Clone)]
pub enum GoogleCredentials {
    /// A service-account key file (a mounted secret) and the admin to impersonate.
    KeyFile {
        /// Path of the service-account JSON key.
        path: PathBuf,
        /// The Workspace admin the service account acts as.
        delegated_admin: String,
    },
    /// No key anywhere: IAM signs the assertion for `signer_service_account` with the
    /// workload's ambient credentials.
    Keyless {
        /// Service account whose assertion IAM `signJwt` signs.
        signer_service_account: String,
        /// The Workspace admin the service account acts as.
        delegated_admin: String,
        /// Where the workload's own credentials come from.
        ambient: AmbientCredentials,
    },
}

impl GoogleCredentials {
    /// The admin the service account impersonates.
    pub fn delegated_admin(&self) -> &str {
        match self {
            GoogleCredentials::KeyFile {
                delegated_admin, ..
            }
            | GoogleCredentials::Keyless {
                delegated_admin, ..
            } => delegated_admin,
        }
    }
}

/// The workload's own identity in keyless mode (it calls IAM signJwt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmbientCredentials {
    /// Application Default Credentials via `gcp_auth::provider()` (GKE Workload Identity, the
    /// metadata server, gcloud).
    Default,
    /// A key file for the workload's identity; the sandbox and tests use the emulator's.
    KeyFile(PathBuf),
}

impl GoogleTimeouts {
    /// Budget of the read that settles what a send or cancel did when its answer was lost: the
    /// mutation's own deadline may be spent by then, so it gets a fresh one of this length.
    pub fn reconciling_read(&self) -> Duration {
        self.attempt.max(MIN_RECONCILING_READ)
    }
}

/// The flags of the Google area: credentials, endpoints, timeouts, retries, protection.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Google")]
pub struct GoogleArgs {
    /// Service-account key file (a mounted secret) with domain-wide delegation.
    #[arg(long, env = env::GOOGLE_APPLICATION_CREDENTIALS)]
    pub google_application_credentials: Option<PathBuf>,

    /// The Workspace admin the service account impersonates (required).
    #[arg(long, env = env::DELEGATED_ADMIN)]
    pub delegated_admin: Option<String>,

    /// Keyless mode: service account whose assertion IAM signJwt signs, using the
    /// workload's ambient credentials (no key file anywhere).
    #[arg(
        long,
        env = env::SIGNER_SERVICE_ACCOUNT,
        conflicts_with = "google_application_credentials"
    )]
    pub signer_service_account: Option<String>,

    /// Base URL of the Cloud Identity API.
    #[arg(long, env = env::GOOGLE_API_URL, default_value = GOOGLE_API_URL)]
    pub google_api_url: String,

    /// Base URL of the IAM Credentials API (keyless mode).
    #[arg(long, env = env::GOOGLE_IAM_URL, default_value = GOOGLE_IAM_URL)]
    pub google_iam_url: String,

    /// Token endpoint for keyless mode (a key file names its own token_uri).
    #[arg(long, env = env::GOOGLE_TOKEN_URL, default_value = GOOGLE_TOKEN_URL)]
    pub google_token_url: String,

    /// Ask Google only for the .readonly scope (get, list, isInvitableUser): a deployment
    /// that never sends or cancels.
    #[arg(long, env = env::GOOGLE_READONLY)]
    pub google_readonly: bool,

    /// Connect timeout to Google, in milliseconds.
    #[arg(long, env = env::GOOGLE_CONNECT_TIMEOUT_MS, default_value_t = 3_000)]
    pub google_connect_timeout_ms: u64,

    /// Timeout of one HTTP attempt to Google, in milliseconds.
    #[arg(long, env = env::GOOGLE_ATTEMPT_TIMEOUT_MS, default_value_t = 10_000)]
    pub google_attempt_timeout_ms: u64,

    /// Deadline of one call to Google, retries and waits included, in milliseconds.
    #[arg(long, env = env::GOOGLE_TOTAL_TIMEOUT_MS, default_value_t = 30_000)]
    pub google_total_timeout_ms: u64,

    /// Timeout of obtaining an access token, in milliseconds.
    #[arg(long, env = env::GOOGLE_TOKEN_TIMEOUT_MS, default_value_t = 10_000)]
    pub google_token_timeout_ms: u64,

    /// Attempts per retryable call to Google, the first included.
    #[arg(long, env = env::GOOGLE_MAX_ATTEMPTS, default_value_t = 4)]
    pub google_max_attempts: u32,

    /// Calls to Google in flight at once from one replica (bulkhead).
    #[arg(long, env = env::GOOGLE_MAX_CONCURRENT_CALLS, default_value_t = 32)]
    pub google_max_concurrent_calls: usize,

    /// Consecutive upstream failures that open the circuit breaker.
    #[arg(long, env = env::GOOGLE_BREAKER_THRESHOLD, default_value_t = 5)]
    pub google_breaker_threshold: u32,

    /// Seconds the circuit breaker stays open before it lets one probe through.
    #[arg(long, env = env::GOOGLE_BREAKER_OPEN_SECS, default_value_t = 30)]
    pub google_breaker_open_secs: u64,
}

impl GoogleArgs {
    /// The validated Google settings; the error names the setting and the fix.
    pub fn settings(&self) -> Result<GoogleSettings, ConfigError> {
        Ok(GoogleSettings {
            credentials: self.credentials()?,
            api_url: base_url(env::GOOGLE_API_URL, &self.google_api_url)?,
            iam_url: base_url(env::GOOGLE_IAM_URL, &self.google_iam_url)?,
            token_url: base_url(env::GOOGLE_TOKEN_URL, &self.google_token_url)?,
            readonly: self.google_readonly,
            timeouts: self.timeouts()?,
            retry: self.retry()?,
            protection: self.protection()?,
        })
    }

    pub(super) fn timeouts(&self) -> Result<GoogleTimeouts, ConfigError> {
        Ok(GoogleTimeouts {
            connect: positive_ms(
                env::GOOGLE_CONNECT_TIMEOUT_MS,
                self.google_connect_timeout_ms,
            )?,
            attempt: positive_ms(
                env::GOOGLE_ATTEMPT_TIMEOUT_MS,
                self.google_attempt_timeout_ms,
            )?,
            total: positive_ms(env::GOOGLE_TOTAL_TIMEOUT_MS, self.google_total_timeout_ms)?,
            token: positive_ms(env::GOOGLE_TOKEN_TIMEOUT_MS, self.google_token_timeout_ms)?,
        })
    }

    pub(super) fn retry(&self) -> Result<RetrySettings, ConfigError> {
        Ok(RetrySettings {
            max_attempts: nonzero_u32(env::GOOGLE_MAX_ATTEMPTS, self.google_max_attempts)?,
            min_delay: RETRY_MIN_DELAY,
            max_delay: RETRY_MAX_DELAY,
        })
    }

    pub(super) fn protection(&self) -> Result<ProtectionSettings, ConfigError> {
        Ok(ProtectionSettings {
            max_concurrent_calls: nonzero_usize(
                env::GOOGLE_MAX_CONCURRENT_CALLS,
                self.google_max_concurrent_calls,
            )?,
            breaker_failure_threshold: nonzero_u32(
                env::GOOGLE_BREAKER_THRESHOLD,
                self.google_breaker_threshold,
            )?,
            breaker_open_for: positive_secs(
                env::GOOGLE_BREAKER_OPEN_SECS,
                self.google_breaker_open_secs,
            )?,
        })
    }

    fn credentials(&self) -> Result<GoogleCredentials, ConfigError> {
        let admin = || {
            let admin = self.delegated_admin.as_deref().unwrap_or_default().trim();
            if admin.contains('@') {
                Ok(admin.to_owned())
            } else {
                Err(ConfigError(format!(
                    "missing {}: the email of the Workspace admin the service account impersonates",
                    env::DELEGATED_ADMIN
                )))
            }
        };
        match (
            &self.google_application_credentials,
            &self.signer_service_account,
        ) {
            (Some(path), _) => {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "{}: `{}` is not a readable file",
                        env::GOOGLE_APPLICATION_CREDENTIALS,
                        path.display()
                    )));
                }
                Ok(GoogleCredentials::KeyFile {
                    path: path.clone(),
                    delegated_admin: admin()?,
                })
            }
            (None, Some(signer)) => Ok(GoogleCredentials::Keyless {
                signer_service_account: non_empty(env::SIGNER_SERVICE_ACCOUNT, signer)?,
                delegated_admin: admin()?,
                ambient: AmbientCredentials::Default,
            }),
            (None, None) => Err(ConfigError(format!(
                "missing Google credentials: set {} (key file) or {} (keyless)",
                env::GOOGLE_APPLICATION_CREDENTIALS,
                env::SIGNER_SERVICE_ACCOUNT
            ))),
        }
    }
}
