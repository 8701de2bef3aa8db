//! The settings as given (flags, environment), and their one validation into [`Settings`].
//!
//! Bad values are refused with one line naming the environment variable, never corrected: a
//! value that silently became another would run the gateway differently from what the operator
//! reads in the manifest.

use super::env;
use super::rules::{
    at_least, base_url, domain_list, gcp_project, non_empty, nonzero_u32, nonzero_usize, positive,
    positive_ms, positive_secs,
};
use super::{
    AmbientCredentials, AuditSettings, CampaignSettings, ConfigError, EligibilitySettings,
    GoogleCredentials, GoogleSettings, GoogleTimeouts, HttpSettings, IdempotencySettings,
    InvitationSettings, JwtSettings, LimitSettings, ProtectionSettings, RawStoreSettings,
    RetrySettings, Settings, StoreSettings, TrackingSettings, WebhookSettings,
};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Shortest accepted HS256 secret: RFC 7518 asks for a key at least as long as the hash.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Shortest accepted log hash key.
pub const MIN_HASH_KEY_BYTES: usize = 16;

/// Largest clock-skew leeway: more would keep expired tokens alive noticeably longer.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// Shortest JWKS refresh interval: an issuer's keys are not worth fetching more often.
pub const MIN_JWKS_TTL_SECS: u64 = 30;

/// Longest tracker lease: a replica that dies would hold the walk and its webhook deliveries
/// up for longer than an hour.
pub const MAX_TRACK_LEASE_SECS: u64 = 3600;

/// Smallest JSON body limit: room for a useful batch.
pub const MIN_JSON_LIMIT_BYTES: u32 = 1024;

/// Every setting of `serve` as given, before validation; each field is the flag of that name.
#[derive(Debug, Clone)]
pub struct RawSettings {
    /// `--sandbox`.
    pub sandbox: bool,
    /// `--sandbox-quota-per-minute`: the sandbox emulator's project quota; 0 lifts it.
    pub sandbox_quota_per_minute: u32,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--customer`.
    pub customer: String,
    /// `--google-application-credentials`.
    pub google_application_credentials: Option<PathBuf>,
    /// `--delegated-admin`.
    pub delegated_admin: Option<String>,
    /// `--signer-service-account`.
    pub signer_service_account: Option<String>,
    /// `--google-api-url`.
    pub google_api_url: String,
    /// `--google-iam-url`.
    pub google_iam_url: String,
    /// `--google-token-url`.
    pub google_token_url: String,
    /// `--google-readonly`.
    pub google_readonly: bool,
    /// `--google-connect-timeout-ms`.
    pub google_connect_timeout_ms: u64,
    /// `--google-attempt-timeout-ms`.
    pub google_attempt_timeout_ms: u64,
    /// `--google-total-timeout-ms`.
    pub google_total_timeout_ms: u64,
    /// `--google-token-timeout-ms`.
    pub google_token_timeout_ms: u64,
    /// `--google-max-attempts`.
    pub google_max_attempts: u32,
    /// `--google-calls-per-minute`.
    pub google_calls_per_minute: u32,
    /// `--google-background-percent`.
    pub google_background_percent: u8,
    /// `--store-prune-interval-secs`.
    pub store_prune_interval_secs: u64,
    /// `--track-interval-secs`.
    pub track_interval_secs: u64,
    /// `--track-lease-secs`.
    pub track_lease_secs: u64,
    /// `--webhook-urls`, comma separated.
    pub webhook_urls: Option<SecretString>,
    /// `--webhook-secret`.
    pub webhook_secret: Option<SecretString>,
    /// `--webhook-retry-hours`.
    pub webhook_retry_hours: u64,
    /// `--webhook-timeout-ms`.
    pub webhook_timeout_ms: u64,
    /// `--google-max-concurrent-calls`.
    pub google_max_concurrent_calls: usize,
    /// `--google-breaker-threshold`.
    pub google_breaker_threshold: u32,
    /// `--google-breaker-open-secs`.
    pub google_breaker_open_secs: u64,
    /// `--jwt-hs256-secret`.
    pub jwt_hs256_secret: Option<SecretString>,
    /// `--jwt-public-key-file`.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `--jwt-jwks-url`.
    pub jwt_jwks_url: Option<String>,
    /// `--jwt-issuer`.
    pub jwt_issuer: String,
    /// `--jwt-audience`.
    pub jwt_audience: String,
    /// `--jwt-leeway-secs`.
    pub jwt_leeway_secs: u64,
    /// `--jwt-max-lifetime-secs`.
    pub jwt_max_lifetime_secs: u64,
    /// `--jwt-scope-claim`.
    pub jwt_scope_claim: String,
    /// `--jwt-jwks-ttl-secs`.
    pub jwt_jwks_ttl_secs: u64,
    /// `--jwt-verified-cache-capacity`.
    pub jwt_verified_cache_capacity: u64,
    /// `--rate-limit-per-second`.
    pub rate_limit_per_second: u32,
    /// `--rate-limit-burst`.
    pub rate_limit_burst: u32,
    /// `--daily-mail-limit`.
    pub daily_mail_limit: u32,
    /// `--audit-file`.
    pub audit_file: Option<PathBuf>,
    /// `--log-hash-key`.
    pub log_hash_key: Option<SecretString>,
    /// `--allowed-domains`.
    pub allowed_domains: Option<String>,
    /// `--batch-concurrency`.
    pub batch_concurrency: usize,
    /// `--eligible-ttl-secs`.
    pub eligible_ttl_secs: u64,
    /// `--not-eligible-ttl-secs`.
    pub not_eligible_ttl_secs: u64,
    /// `--eligibility-cache-capacity`.
    pub eligibility_cache_capacity: u64,
    /// `--summary-ttl-secs`.
    pub summary_ttl_secs: u64,
    /// `--campaign-poll-millis`.
    pub campaign_poll_millis: u64,
    /// `--campaign-lease-secs`.
    pub campaign_lease_secs: u64,
    /// `--campaign-roster-max-mib`.
    pub campaign_roster_max_mib: u64,
    /// `--idempotency-ttl-secs`.
    pub idempotency_ttl_secs: u64,
    /// `--idempotency-capacity`.
    pub idempotency_capacity: u64,
    /// `--database-url` and the other store flags.
    pub store: RawStoreSettings,
    /// `--json-limit-bytes`.
    pub json_limit_bytes: u32,
    /// `--body-read-timeout-secs`.
    pub body_read_timeout_secs: u64,
    /// `--shutdown-timeout-secs`.
    pub shutdown_timeout_secs: u64,
    /// `--shutdown-drain-secs`.
    pub shutdown_drain_secs: u64,
    /// `--gcp-project`.
    pub gcp_project: Option<String>,
    /// `--otlp-endpoint`.
    pub otlp_endpoint: Option<String>,
    /// `--workers`.
    pub workers: usize,
}

impl RawSettings {
    /// The validated Google Cloud project of the log lines' trace fields, alone: logging starts
    /// before the rest is validated (the sandbox validates only once its emulator runs).
    pub fn gcp_project(&self) -> Result<Option<String>, ConfigError> {
        self.gcp_project
            .as_deref()
            .map(|p| gcp_project(env::GCP_PROJECT, p))
            .transpose()
    }

    /// The validated base URL of the OTLP/HTTP trace receiver, alone: traces start with logging.
    pub fn otlp_endpoint(&self) -> Result<Option<String>, ConfigError> {
        self.otlp_endpoint
            .as_deref()
            .map(|url| base_url(env::OTLP_ENDPOINT, url))
            .transpose()
    }
}

impl Settings {
    /// Validates the settings as given; the error names the setting and the fix.
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, ConfigError> {
        let settings = Settings {
            listen: raw.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8080))),
            customer: non_empty(env::CUSTOMER, &raw.customer)?,
            google: google_settings(raw)?,
            jwt: jwt_settings(raw)?,
            allowed_domains: match &raw.allowed_domains {
                Some(list) => domain_list(env::ALLOWED_DOMAINS, list)?,
                None => Vec::new(),
            },
            http: HttpSettings {
                json_limit_bytes: at_least(
                    env::JSON_LIMIT_BYTES,
                    raw.json_limit_bytes,
                    MIN_JSON_LIMIT_BYTES,
                )? as usize,
                body_read_timeout: positive_secs(
                    env::BODY_READ_TIMEOUT_SECS,
                    raw.body_read_timeout_secs,
                )?,
                shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
                shutdown_drain: Duration::from_secs(raw.shutdown_drain_secs),
                workers: raw.workers,
            },
            limits: LimitSettings {
                requests_per_second: positive(
                    env::RATE_LIMIT_PER_SECOND,
                    raw.rate_limit_per_second,
                )?,
                burst: positive(env::RATE_LIMIT_BURST, raw.rate_limit_burst)?,
                daily_mails_per_caller: raw.daily_mail_limit,
            },
            audit: audit_settings(raw)?,
            log_hash_key: log_hash_key(raw)?,
            gcp_project: raw.gcp_project()?,
            invitations: invitation_settings(raw)?,
            store: store_settings(raw)?,
            tracking: tracking_settings(raw)?,
        };
        settings.check()?;
        Ok(settings)
    }
}

fn google_settings(raw: &RawSettings) -> Result<GoogleSettings, ConfigError> {
    Ok(GoogleSettings {
        credentials: google_credentials(raw)?,
        api_url: base_url(env::GOOGLE_API_URL, &raw.google_api_url)?,
        iam_url: base_url(env::GOOGLE_IAM_URL, &raw.google_iam_url)?,
        token_url: base_url(env::GOOGLE_TOKEN_URL, &raw.google_token_url)?,
        readonly: raw.google_readonly,
        timeouts: GoogleTimeouts {
            connect: positive_ms(
                env::GOOGLE_CONNECT_TIMEOUT_MS,
                raw.google_connect_timeout_ms,
            )?,
            attempt: positive_ms(
                env::GOOGLE_ATTEMPT_TIMEOUT_MS,
                raw.google_attempt_timeout_ms,
            )?,
            total: positive_ms(env::GOOGLE_TOTAL_TIMEOUT_MS, raw.google_total_timeout_ms)?,
            token: positive_ms(env::GOOGLE_TOKEN_TIMEOUT_MS, raw.google_token_timeout_ms)?,
        },
        retry: RetrySettings {
            max_attempts: nonzero_u32(env::GOOGLE_MAX_ATTEMPTS, raw.google_max_attempts)?,
            ..RetrySettings::default()
        },
        protection: ProtectionSettings {
            max_concurrent_calls: nonzero_usize(
                env::GOOGLE_MAX_CONCURRENT_CALLS,
                raw.google_max_concurrent_calls,
            )?,
            breaker_failure_threshold: nonzero_u32(
                env::GOOGLE_BREAKER_THRESHOLD,
                raw.google_breaker_threshold,
            )?,
            breaker_open_for: positive_secs(
                env::GOOGLE_BREAKER_OPEN_SECS,
                raw.google_breaker_open_secs,
            )?,
        },
    })
}

fn tracking_settings(raw: &RawSettings) -> Result<TrackingSettings, ConfigError> {
    let urls = match &raw.webhook_urls {
        Some(list) => webhook_urls(list.expose_secret())?,
        None => Vec::new(),
    };
    let secret = match &raw.webhook_secret {
        Some(secret) => {
            webhook_secret(secret.expose_secret())?;
            Some(secret.clone())
        }
        None if !urls.is_empty() => {
            return Err(ConfigError(format!(
                "{}: required with {} (whsec_ followed by the base64 of at least 24 random bytes)",
                env::WEBHOOK_SECRET,
                env::WEBHOOK_URLS
            )));
        }
        None => None,
    };
    Ok(TrackingSettings {
        interval: Duration::from_secs(raw.track_interval_secs),
        lease: track_lease(raw.track_lease_secs)?,
        webhooks: WebhookSettings {
            urls,
            secret,
            retry_for: positive(env::WEBHOOK_RETRY_HOURS, raw.webhook_retry_hours)
                .map(|hours| Duration::from_secs(hours.saturating_mul(3600)))?,
            timeout: positive_ms(env::WEBHOOK_TIMEOUT_MS, raw.webhook_timeout_ms)?,
        },
        ..TrackingSettings::default()
    })
}

/// The tracker's lease: at least a second, at most [`MAX_TRACK_LEASE_SECS`] (refused, never
/// clamped). Its relation to the webhook timeout is checked with the other settings.
fn track_lease(secs: u64) -> Result<Duration, ConfigError> {
    let lease = positive_secs(env::TRACK_LEASE_SECS, secs)?;
    if secs > MAX_TRACK_LEASE_SECS {
        return Err(ConfigError(format!(
            "{}: at most {MAX_TRACK_LEASE_SECS} seconds (a replica that dies holds the walk and its deliveries that long)",
            env::TRACK_LEASE_SECS
        )));
    }
    Ok(lease)
}

/// The comma-separated webhook URLs, each an absolute http(s) URL; the error never repeats a
/// URL (it may carry credentials), only its position.
fn webhook_urls(list: &str) -> Result<Vec<SecretString>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .enumerate()
        .map(|(index, url)| match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                Ok(SecretString::from(url.to_owned()))
            }
            _ => Err(ConfigError(format!(
                "{}: entry {index} is not an absolute http(s) URL",
                env::WEBHOOK_URLS
            ))),
        })
        .collect()
}

/// Checks the `whsec_<base64>` form of a Standard Webhooks secret (at least 24 bytes).
fn webhook_secret(secret: &str) -> Result<(), ConfigError> {
    use base64::Engine as _;
    let decoded = secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok());
    match decoded {
        Some(bytes) if bytes.len() >= 24 => Ok(()),
        _ => Err(ConfigError(format!(
            "{}: must be whsec_ followed by the base64 of at least 24 random bytes",
            env::WEBHOOK_SECRET
        ))),
    }
}

fn store_settings(raw: &RawSettings) -> Result<StoreSettings, ConfigError> {
    if raw.google_background_percent > 100 {
        return Err(ConfigError(format!(
            "{}: a share from 0 to 100",
            env::GOOGLE_BACKGROUND_PERCENT
        )));
    }
    Ok(StoreSettings {
        google_per_minute: positive(env::GOOGLE_CALLS_PER_MINUTE, raw.google_calls_per_minute)?,
        google_background_percent: raw.google_background_percent,
        prune_interval: positive_secs(
            env::STORE_PRUNE_INTERVAL_SECS,
            raw.store_prune_interval_secs,
        )?,
        ..StoreSettings::from_raw(&raw.store)?
    })
}

fn google_credentials(raw: &RawSettings) -> Result<GoogleCredentials, ConfigError> {
    let admin = || {
        let admin = raw.delegated_admin.as_deref().unwrap_or_default().trim();
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
        &raw.google_application_credentials,
        &raw.signer_service_account,
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

fn jwt_settings(raw: &RawSettings) -> Result<JwtSettings, ConfigError> {
    if let Some(secret) = &raw.jwt_hs256_secret
        && secret.expose_secret().len() < MIN_HS256_SECRET_BYTES
    {
        return Err(ConfigError(format!(
            "{}: must be at least {MIN_HS256_SECRET_BYTES} bytes",
            env::JWT_HS256_SECRET
        )));
    }
    if let Some(path) = &raw.jwt_public_key_file
        && !path.is_file()
    {
        return Err(ConfigError(format!(
            "{}: `{}` is not a readable file",
            env::JWT_PUBLIC_KEY_FILE,
            path.display()
        )));
    }
    if raw.jwt_leeway_secs > MAX_LEEWAY_SECS {
        return Err(ConfigError(format!(
            "{}: at most {MAX_LEEWAY_SECS} seconds",
            env::JWT_LEEWAY_SECS
        )));
    }
    let jwt = JwtSettings {
        hs256_secret: raw.jwt_hs256_secret.clone(),
        public_key_file: raw.jwt_public_key_file.clone(),
        jwks_url: raw
            .jwt_jwks_url
            .as_deref()
            .map(|url| base_url(env::JWT_JWKS_URL, url))
            .transpose()?,
        issuer: non_empty(env::JWT_ISSUER, &raw.jwt_issuer)?,
        audience: non_empty(env::JWT_AUDIENCE, &raw.jwt_audience)?,
        leeway: Duration::from_secs(raw.jwt_leeway_secs),
        max_lifetime: positive_secs(env::JWT_MAX_LIFETIME_SECS, raw.jwt_max_lifetime_secs)?,
        scope_claim: non_empty(env::JWT_SCOPE_CLAIM, &raw.jwt_scope_claim)?,
        jwks_ttl: Duration::from_secs(at_least(
            env::JWT_JWKS_TTL_SECS,
            raw.jwt_jwks_ttl_secs,
            MIN_JWKS_TTL_SECS,
        )?),
        verified_cache_capacity: raw.jwt_verified_cache_capacity,
    };
    if !jwt.has_key_source() {
        return Err(ConfigError(format!(
            "no way to verify caller JWTs: set {}, {} or {}",
            env::JWT_HS256_SECRET,
            env::JWT_PUBLIC_KEY_FILE,
            env::JWT_JWKS_URL
        )));
    }
    Ok(jwt)
}

fn audit_settings(raw: &RawSettings) -> Result<AuditSettings, ConfigError> {
    if let Some(path) = &raw.audit_file {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() || path.is_dir() {
            return Err(ConfigError(format!(
                "{}: `{}` must be a file in an existing directory",
                env::AUDIT_FILE,
                path.display()
            )));
        }
    }
    Ok(AuditSettings {
        file: raw.audit_file.clone(),
    })
}

fn log_hash_key(raw: &RawSettings) -> Result<Option<SecretString>, ConfigError> {
    if let Some(key) = &raw.log_hash_key
        && key.expose_secret().len() < MIN_HASH_KEY_BYTES
    {
        return Err(ConfigError(format!(
            "{}: must be at least {MIN_HASH_KEY_BYTES} bytes",
            env::LOG_HASH_KEY
        )));
    }
    Ok(raw.log_hash_key.clone())
}

fn invitation_settings(raw: &RawSettings) -> Result<InvitationSettings, ConfigError> {
    let batch_concurrency = NonZeroUsize::new(raw.batch_concurrency).ok_or_else(|| {
        ConfigError(format!(
            "{}: must be greater than 0",
            env::BATCH_CONCURRENCY
        ))
    })?;
    Ok(InvitationSettings {
        batch_concurrency,
        eligibility: EligibilitySettings {
            eligible_ttl: Duration::from_secs(raw.eligible_ttl_secs),
            not_eligible_ttl: Duration::from_secs(raw.not_eligible_ttl_secs),
            capacity: positive(
                env::ELIGIBILITY_CACHE_CAPACITY,
                raw.eligibility_cache_capacity,
            )?,
        },
        idempotency: IdempotencySettings {
            ttl: positive_secs(env::IDEMPOTENCY_TTL_SECS, raw.idempotency_ttl_secs)?,
            capacity: positive(env::IDEMPOTENCY_CAPACITY, raw.idempotency_capacity)?,
        },
        summary_ttl: Duration::from_secs(raw.summary_ttl_secs),
        campaigns: CampaignSettings {
            poll: positive_ms(env::CAMPAIGN_POLL_MILLIS, raw.campaign_poll_millis)?,
            lease: positive_secs(env::CAMPAIGN_LEASE_SECS, raw.campaign_lease_secs)?,
            roster_max_bytes: positive(env::CAMPAIGN_ROSTER_MAX_MIB, raw.campaign_roster_max_mib)?
                .saturating_mul(1024 * 1024),
        },
    })
}
