//! Validated settings for the gateway.
//!
//! [`Settings`] is a plain struct: the command line builds it from flags and environment variables
//! (see `cli`), tests build it directly. Nothing in the library reads the process environment.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Google's production base URL of the Cloud Identity API.
pub const GOOGLE_API_URL: &str = "https://cloudidentity.googleapis.com";
/// Google's production base URL of the IAM Credentials API (keyless signing).
pub const GOOGLE_IAM_URL: &str = "https://iamcredentials.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Google customer id (`my_customer` means the admin's own customer).
    pub customer: String,
    /// How to reach and authenticate to Google.
    pub google: GoogleSettings,
    /// How caller JWTs are verified.
    pub jwt: JwtSettings,
    /// Domains callers may act on, lower case; empty means every domain.
    pub allowed_domains: Vec<String>,
    /// HTTP server limits.
    pub http: HttpSettings,
    /// Per-caller request rate and daily mail limits.
    pub limits: LimitSettings,
    /// Where audit records go besides the `audit` log target.
    pub audit: AuditSettings,
    /// Key of the keyed hash that stands in for emails in logs; `None` picks a random key per
    /// process (hashes then differ between replicas and restarts).
    pub log_hash_key: Option<SecretString>,
    /// Batch fan-out, the eligibility cache, idempotency keys, the summary cache.
    pub invitations: crate::invitations::InvitationSettings,
    /// Google Cloud project whose Cloud Trace the log lines link to; `None` logs the bare
    /// trace id under `trace_id`.
    pub gcp_project: Option<String>,
}

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
    /// Rate limiter, bulkhead and circuit breaker.
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

impl Default for GoogleTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(10),
            total: Duration::from_secs(30),
            token: Duration::from_secs(10),
        }
    }
}

/// Full-jitter exponential backoff between attempts.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff step (before jitter).
    pub min_delay: Duration,
    /// Largest backoff step (before jitter).
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Protection for Google and for us.
#[derive(Debug, Clone)]
pub struct ProtectionSettings {
    /// Calls per second to Google from this process (set from the project's quota).
    pub calls_per_second: u32,
    /// Calls to Google in flight at once from this process.
    pub max_concurrent_calls: usize,
    /// Consecutive upstream failures that open the circuit breaker.
    pub breaker_failure_threshold: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub breaker_open_for: Duration,
}

impl Default for ProtectionSettings {
    fn default() -> Self {
        Self {
            calls_per_second: 20,
            max_concurrent_calls: 32,
            breaker_failure_threshold: 5,
            breaker_open_for: Duration::from_secs(30),
        }
    }
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

/// Caller JWT verification.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Shared HS256 secret.
    pub hs256_secret: Option<SecretString>,
    /// PEM file with one or more public keys (RS256, ES256 or EdDSA).
    pub public_key_file: Option<PathBuf>,
    /// JWKS endpoint of the issuer.
    pub jwks_url: Option<String>,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest accepted token lifetime (`exp - iat`).
    pub max_lifetime: Duration,
    /// Claim holding the scopes: a space-separated string or an array of strings.
    pub scope_claim: String,
    /// How long fetched JWKS keys are used before they are fetched again.
    pub jwks_ttl: Duration,
    /// Verified tokens remembered so that a token used again is not verified from scratch;
    /// 0 verifies every request in full.
    pub verified_cache_capacity: u64,
}

/// Default `iss` and `aud` of caller JWTs (also what `invitation-gateway token` mints).
pub const DEFAULT_JWT_ISSUER: &str = "invitation-gateway";

impl Default for JwtSettings {
    // No key source: a default alone verifies nothing, which is the safe failure.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            public_key_file: None,
            jwks_url: None,
            issuer: DEFAULT_JWT_ISSUER.to_owned(),
            audience: DEFAULT_JWT_ISSUER.to_owned(),
            leeway: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(24 * 60 * 60),
            scope_claim: "scope".to_owned(),
            jwks_ttl: Duration::from_secs(10 * 60),
            verified_cache_capacity: 10_000,
        }
    }
}

/// Per-caller limits; callers are told apart by their verified (`iss`, `sub`), never by IP.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Sustained requests per second per caller.
    pub requests_per_second: u32,
    /// Requests a caller may make at once above the sustained rate.
    pub burst: u32,
    /// Invitation mails one caller may cause per UTC day.
    pub daily_mails_per_caller: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 10,
            burst: 20,
            daily_mails_per_caller: 1000,
        }
    }
}

/// The audit trail's optional file sink.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// Append-only JSON-lines file; `None` writes the `audit` log target only.
    pub file: Option<PathBuf>,
}

impl JwtSettings {
    /// True when at least one key source is configured.
    pub fn has_key_source(&self) -> bool {
        self.hs256_secret.is_some() || self.public_key_file.is_some() || self.jwks_url.is_some()
    }
}

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON request body, in bytes.
    pub json_limit_bytes: usize,
    /// How long in-flight requests may take to finish once the listener has closed.
    pub shutdown_timeout: Duration,
    /// How long after SIGTERM the listener keeps accepting while `/readyz` already fails, so
    /// load balancers stop sending before connections are refused.
    pub shutdown_drain: Duration,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            json_limit_bytes: 16 * 1024,
            shutdown_timeout: Duration::from_secs(20),
            shutdown_drain: Duration::from_secs(5),
            workers: 0,
        }
    }
}

/// A setting that cannot work; the message names the setting and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Checks that `url` is an absolute http(s) URL and returns it without a trailing slash.
pub fn base_url(name: &str, url: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ConfigError(format!("{name}: `{url}` is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ConfigError(format!(
            "{name}: `{url}` must be an http(s) URL with a host"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Parses a comma-separated domain list into lower-case domains, rejecting empty entries.
/// A Google Cloud project id (`my-project-123`, or the older `example.com:my-project`): it
/// ends up in every log line's trace field, so nothing but the id's own characters.
pub fn gcp_project(name: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let valid = (6..=100).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ConfigError(format!(
            "{name}: `{value}` is not a Google Cloud project id (lower-case letters, digits and hyphens, 6 to 30 characters)"
        )))
    }
}

pub fn domain_list(name: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let domain = d.to_ascii_lowercase();
            let valid = domain.contains('.')
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if valid {
                Ok(domain)
            } else {
                Err(ConfigError(format!("{name}: `{d}` is not a domain name")))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_project_ids_are_checked() {
        assert_eq!(gcp_project("P", " my-project-1 ").unwrap(), "my-project-1");
        assert!(gcp_project("P", "example.com:my-project").is_ok());
        assert!(gcp_project("P", "My-Project").is_err());
        assert!(gcp_project("P", "abc").is_err());
        assert!(gcp_project("P", "my-project/traces").is_err());
        assert!(gcp_project("P", "1project").is_err());
    }

    #[test]
    fn base_url_drops_trailing_slash_and_rejects_other_schemes() {
        assert_eq!(
            base_url("X", "http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(base_url("X", "ftp://example.com").is_err());
        assert!(base_url("X", "not a url").is_err());
    }

    #[test]
    fn domain_list_lowercases_and_rejects_garbage() {
        assert_eq!(
            domain_list("D", " Example.com, hr.example.org ,").unwrap(),
            vec!["example.com", "hr.example.org"]
        );
        let err = domain_list("D", "example.com,bad domain").unwrap_err();
        assert!(err.to_string().contains("bad domain"), "{err}");
    }
}
