//! The environment variable of every setting, each written once: the command line declares its
//! flags with them and validation names them in its refusals.

/// Environment variable of `--log-format`.
pub const LOG_FORMAT: &str = "GATEWAY_LOG_FORMAT";
/// Environment variable of `--sandbox`.
pub const SANDBOX: &str = "GATEWAY_SANDBOX";
/// Environment variable of `--sandbox-quota-per-minute`.
pub const SANDBOX_QUOTA_PER_MINUTE: &str = "GATEWAY_SANDBOX_QUOTA_PER_MINUTE";
/// Environment variable of `--listen`.
pub const LISTEN: &str = "GATEWAY_LISTEN";
/// Environment variable of `--customer`.
pub const CUSTOMER: &str = "GATEWAY_CUSTOMER";
/// Environment variable of `--google-application-credentials`.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Environment variable of `--delegated-admin`.
pub const DELEGATED_ADMIN: &str = "GATEWAY_DELEGATED_ADMIN";
/// Environment variable of `--signer-service-account`.
pub const SIGNER_SERVICE_ACCOUNT: &str = "GATEWAY_SIGNER_SERVICE_ACCOUNT";
/// Environment variable of `--google-api-url`.
pub const GOOGLE_API_URL: &str = "GATEWAY_GOOGLE_API_URL";
/// Environment variable of `--google-iam-url`.
pub const GOOGLE_IAM_URL: &str = "GATEWAY_GOOGLE_IAM_URL";
/// Environment variable of `--google-token-url`.
pub const GOOGLE_TOKEN_URL: &str = "GATEWAY_GOOGLE_TOKEN_URL";
/// Environment variable of `--google-readonly`.
pub const GOOGLE_READONLY: &str = "GATEWAY_GOOGLE_READONLY";
/// Environment variable of `--google-connect-timeout-ms`.
pub const GOOGLE_CONNECT_TIMEOUT_MS: &str = "GATEWAY_GOOGLE_CONNECT_TIMEOUT_MS";
/// Environment variable of `--google-attempt-timeout-ms`.
pub const GOOGLE_ATTEMPT_TIMEOUT_MS: &str = "GATEWAY_GOOGLE_ATTEMPT_TIMEOUT_MS";
/// Environment variable of `--google-total-timeout-ms`.
pub const GOOGLE_TOTAL_TIMEOUT_MS: &str = "GATEWAY_GOOGLE_TOTAL_TIMEOUT_MS";
/// Environment variable of `--google-token-timeout-ms`.
pub const GOOGLE_TOKEN_TIMEOUT_MS: &str = "GATEWAY_GOOGLE_TOKEN_TIMEOUT_MS";
/// Environment variable of `--google-max-attempts`.
pub const GOOGLE_MAX_ATTEMPTS: &str = "GATEWAY_GOOGLE_MAX_ATTEMPTS";
/// Environment variable of `--google-calls-per-minute`.
pub const GOOGLE_CALLS_PER_MINUTE: &str = "GATEWAY_GOOGLE_CALLS_PER_MINUTE";
/// Environment variable of `--store-prune-interval-secs`.
pub const STORE_PRUNE_INTERVAL_SECS: &str = "GATEWAY_STORE_PRUNE_INTERVAL_SECS";
/// Environment variable of `--google-background-percent`.
pub const GOOGLE_BACKGROUND_PERCENT: &str = "GATEWAY_GOOGLE_BACKGROUND_PERCENT";
/// Environment variable of `--google-max-concurrent-calls`.
pub const GOOGLE_MAX_CONCURRENT_CALLS: &str = "GATEWAY_GOOGLE_MAX_CONCURRENT_CALLS";
/// Environment variable of `--google-breaker-threshold`.
pub const GOOGLE_BREAKER_THRESHOLD: &str = "GATEWAY_GOOGLE_BREAKER_THRESHOLD";
/// Environment variable of `--google-breaker-open-secs`.
pub const GOOGLE_BREAKER_OPEN_SECS: &str = "GATEWAY_GOOGLE_BREAKER_OPEN_SECS";
/// Environment variable of `--jwt-hs256-secret`.
pub const JWT_HS256_SECRET: &str = "GATEWAY_JWT_HS256_SECRET";
/// Environment variable of `--jwt-public-key-file`.
pub const JWT_PUBLIC_KEY_FILE: &str = "GATEWAY_JWT_PUBLIC_KEY_FILE";
/// Environment variable of `--jwt-jwks-url`.
pub const JWT_JWKS_URL: &str = "GATEWAY_JWT_JWKS_URL";
/// Environment variable of `--jwt-issuer`.
pub const JWT_ISSUER: &str = "GATEWAY_JWT_ISSUER";
/// Environment variable of `--jwt-audience`.
pub const JWT_AUDIENCE: &str = "GATEWAY_JWT_AUDIENCE";
/// Environment variable of `--jwt-leeway-secs`.
pub const JWT_LEEWAY_SECS: &str = "GATEWAY_JWT_LEEWAY_SECS";
/// Environment variable of `--jwt-max-lifetime-secs`.
pub const JWT_MAX_LIFETIME_SECS: &str = "GATEWAY_JWT_MAX_LIFETIME_SECS";
/// Environment variable of `--jwt-scope-claim`.
pub const JWT_SCOPE_CLAIM: &str = "GATEWAY_JWT_SCOPE_CLAIM";
/// Environment variable of `--jwt-jwks-ttl-secs`.
pub const JWT_JWKS_TTL_SECS: &str = "GATEWAY_JWT_JWKS_TTL_SECS";
/// Environment variable of `--jwt-verified-cache-capacity`.
pub const JWT_VERIFIED_CACHE_CAPACITY: &str = "GATEWAY_JWT_VERIFIED_CACHE_CAPACITY";
/// Environment variable of `--rate-limit-per-second`.
pub const RATE_LIMIT_PER_SECOND: &str = "GATEWAY_RATE_LIMIT_PER_SECOND";
/// Environment variable of `--rate-limit-burst`.
pub const RATE_LIMIT_BURST: &str = "GATEWAY_RATE_LIMIT_BURST";
/// Environment variable of `--daily-mail-limit`.
pub const DAILY_MAIL_LIMIT: &str = "GATEWAY_DAILY_MAIL_LIMIT";
/// Environment variable of `--audit-file`.
pub const AUDIT_FILE: &str = "GATEWAY_AUDIT_FILE";
/// Environment variable of `--log-hash-key`.
pub const LOG_HASH_KEY: &str = "GATEWAY_LOG_HASH_KEY";
/// Environment variable of `--allowed-domains`.
pub const ALLOWED_DOMAINS: &str = "GATEWAY_ALLOWED_DOMAINS";
/// Environment variable of `--batch-concurrency`.
pub const BATCH_CONCURRENCY: &str = "GATEWAY_BATCH_CONCURRENCY";
/// Environment variable of `--eligible-ttl-secs`.
pub const ELIGIBLE_TTL_SECS: &str = "GATEWAY_ELIGIBLE_TTL_SECS";
/// Environment variable of `--not-eligible-ttl-secs`.
pub const NOT_ELIGIBLE_TTL_SECS: &str = "GATEWAY_NOT_ELIGIBLE_TTL_SECS";
/// Environment variable of `--eligibility-cache-capacity`.
pub const ELIGIBILITY_CACHE_CAPACITY: &str = "GATEWAY_ELIGIBILITY_CACHE_CAPACITY";
/// Environment variable of `--summary-ttl-secs`.
pub const SUMMARY_TTL_SECS: &str = "GATEWAY_SUMMARY_TTL_SECS";
/// How often an idle campaign worker looks for due work, in milliseconds.
pub const CAMPAIGN_POLL_MILLIS: &str = "GATEWAY_CAMPAIGN_POLL_MILLIS";
/// How long a replica holds a campaign item it works on.
pub const CAMPAIGN_LEASE_SECS: &str = "GATEWAY_CAMPAIGN_LEASE_SECS";
/// Most MiB of a roster uploaded with an Idempotency-Key.
pub const CAMPAIGN_ROSTER_MAX_MIB: &str = "GATEWAY_CAMPAIGN_ROSTER_MAX_MIB";
/// Most pending campaign items one caller may have queued.
pub const CAMPAIGN_MAX_PENDING_ITEMS: &str = "GATEWAY_CAMPAIGN_MAX_PENDING_ITEMS";
/// Oldest a completed dry run may be for `POST /v1/campaigns/{id}/run`.
pub const CAMPAIGN_DRY_RUN_MAX_AGE_HOURS: &str = "GATEWAY_CAMPAIGN_DRY_RUN_MAX_AGE_HOURS";
/// Environment variable of `--idempotency-ttl-secs`.
pub const IDEMPOTENCY_TTL_SECS: &str = "GATEWAY_IDEMPOTENCY_TTL_SECS";
/// Environment variable of `--idempotency-capacity`.
pub const IDEMPOTENCY_CAPACITY: &str = "GATEWAY_IDEMPOTENCY_CAPACITY";
/// Environment variable of `--database-url`.
pub const DATABASE_URL: &str = "GATEWAY_DATABASE_URL";
/// Environment variable of `--database-max-connections`.
pub const DATABASE_MAX_CONNECTIONS: &str = "GATEWAY_DATABASE_MAX_CONNECTIONS";
/// Environment variable of `--database-connect-timeout-ms`.
pub const DATABASE_CONNECT_TIMEOUT_MS: &str = "GATEWAY_DATABASE_CONNECT_TIMEOUT_MS";
/// Environment variable of `--database-statement-timeout-ms`.
pub const DATABASE_STATEMENT_TIMEOUT_MS: &str = "GATEWAY_DATABASE_STATEMENT_TIMEOUT_MS";
/// Environment variable of `--database-sqlite-max-mib`.
pub const DATABASE_SQLITE_MAX_MIB: &str = "GATEWAY_DATABASE_SQLITE_MAX_MIB";
/// Environment variable of `--json-limit-bytes`.
pub const JSON_LIMIT_BYTES: &str = "GATEWAY_JSON_LIMIT_BYTES";
/// Environment variable of `--body-read-timeout-secs`.
pub const BODY_READ_TIMEOUT_SECS: &str = "GATEWAY_BODY_READ_TIMEOUT_SECS";
/// Environment variable of `--shutdown-timeout-secs`.
pub const SHUTDOWN_TIMEOUT_SECS: &str = "GATEWAY_SHUTDOWN_TIMEOUT_SECS";
/// Environment variable of `--shutdown-drain-secs`.
pub const SHUTDOWN_DRAIN_SECS: &str = "GATEWAY_SHUTDOWN_DRAIN_SECS";
/// Environment variable of `--gcp-project`.
pub const GCP_PROJECT: &str = "GATEWAY_GCP_PROJECT";
/// Environment variable of `--otlp-endpoint`.
pub const OTLP_ENDPOINT: &str = "GATEWAY_OTLP_ENDPOINT";
/// Environment variable of `--track-interval-secs`.
pub const TRACK_INTERVAL_SECS: &str = "GATEWAY_TRACK_INTERVAL_SECS";
/// Environment variable of `--track-full-walk-hours`.
pub const TRACK_FULL_WALK_HOURS: &str = "GATEWAY_TRACK_FULL_WALK_HOURS";
/// Environment variable of `--track-lease-secs`.
pub const TRACK_LEASE_SECS: &str = "GATEWAY_TRACK_LEASE_SECS";
/// Environment variable of `--webhook-urls`.
pub const WEBHOOK_URLS: &str = "GATEWAY_WEBHOOK_URLS";
/// Environment variable of `--webhook-secret`.
pub const WEBHOOK_SECRET: &str = "GATEWAY_WEBHOOK_SECRET";
/// Environment variable of `--webhook-retry-hours`.
pub const WEBHOOK_RETRY_HOURS: &str = "GATEWAY_WEBHOOK_RETRY_HOURS";
/// Environment variable of `--webhook-timeout-ms`.
pub const WEBHOOK_TIMEOUT_MS: &str = "GATEWAY_WEBHOOK_TIMEOUT_MS";
/// Environment variable of `--workers`.
pub const WORKERS: &str = "GATEWAY_WORKERS";
