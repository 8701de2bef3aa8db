//! The command line: commands and their settings.
//!
//! Every setting is a flag with an environment variable (`GATEWAY_*`, plus Google's own
//! `GOOGLE_APPLICATION_CREDENTIALS`); `--help` lists them. Secrets are never echoed: clap is told
//! to hide their env values.

use crate::auth::mint;
use crate::config::{self, ConfigError, RawSettings, env};
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A command line clap refused, as one line naming the setting's env var too: values come from
/// the environment as often as from flags (`invalid value 'x' for '--listen <ADDR>': ... (env
/// GATEWAY_LISTEN)`).
pub fn parse_failure(err: &clap::Error) -> String {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let rendered = err.render().to_string();
    let line = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_owned();
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return line;
    };
    let flag = arg.split_whitespace().next().unwrap_or_default();
    let command = Cli::command();
    let env = std::iter::once(&command)
        .chain(command.get_subcommands())
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long().is_some_and(|long| flag == format!("--{long}")))
        .and_then(|a| a.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    match env {
        Some(env) => format!("{line} (env {env})"),
        None => line,
    }
}

/// invitation-gateway: a safe, audited HTTP API in front of Google's User Invitation API.
#[derive(Debug, Parser)]
#[command(name = "invitation-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Log format: JSON lines for Cloud Logging, readable text, or auto (text on a terminal).
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations to GATEWAY_DATABASE_URL and exit (reads only the store's
    /// settings; `serve` also migrates at start, under the same lock).
    Migrate(StoreArgs),
    /// Print the OpenAPI document (the committed openapi/openapi.json must equal it).
    Openapi,
    /// Run the emulator of Google's User Invitation API alone on its own port (for CI).
    Emulator(crate::emulator::EmulatorArgs),
    /// Print an HS256 caller JWT for local use and tests.
    Token(TokenArgs),
    /// Check every step of Google's setup with serve's settings: PASS/WARN/FAIL each, with the
    /// fix; exits 1 on any FAIL. Never sends or cancels.
    Doctor(Box<DoctorArgs>),
}

/// Settings of `doctor`: exactly serve's, plus how to report.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Print one JSON document (for CI) instead of lines.
    #[arg(long)]
    pub json: bool,

    /// The address isInvitableUser is asked about (never mailed).
    /// [default: doctor-probe@ the delegated admin's domain]
    #[arg(long, value_name = "EMAIL")]
    pub probe_email: Option<String>,

    /// Serve's settings.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run against an in-process emulator of Google with demo data, an HS256 dev secret and a
    /// generated service-account key: no network, no Google account. Prints a ready token.
    #[arg(long, env = env::SANDBOX)]
    pub sandbox: bool,

    /// With --sandbox: calls a minute the sandbox's emulator allows the project before it
    /// answers 429, like Google (60); 0 lifts the limit. Raise it together with
    /// --google-calls-per-minute for a fast demo.
    #[arg(long, env = env::SANDBOX_QUOTA_PER_MINUTE, default_value_t = 60)]
    pub sandbox_quota_per_minute: u32,

    /// Address to listen on; port 0 picks a free port (the chosen address is logged).
    /// [default: 0.0.0.0:8080, or 127.0.0.1:8080 with --sandbox]
    #[arg(long, env = env::LISTEN)]
    pub listen: Option<SocketAddr>,

    /// Google customer id the invitations belong to.
    #[arg(long, env = env::CUSTOMER, default_value = "my_customer")]
    pub customer: String,

    /// Service-account key file (a mounted secret) with domain-wide delegation.
    #[arg(long, env = env::GOOGLE_APPLICATION_CREDENTIALS)]
    pub google_application_credentials: Option<PathBuf>,

    /// The Workspace admin the service account impersonates.
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
    #[arg(long, env = env::GOOGLE_API_URL, default_value = config::GOOGLE_API_URL)]
    pub google_api_url: String,

    /// Base URL of the IAM Credentials API (keyless mode).
    #[arg(long, env = env::GOOGLE_IAM_URL, default_value = config::GOOGLE_IAM_URL)]
    pub google_iam_url: String,

    /// Token endpoint for keyless mode (a key file names its own token_uri).
    #[arg(long, env = env::GOOGLE_TOKEN_URL, default_value = config::GOOGLE_TOKEN_URL)]
    pub google_token_url: String,

    /// Ask Google only for the read-only scope (get, list, isInvitableUser).
    #[arg(long, env = env::GOOGLE_READONLY)]
    pub google_readonly: bool,

    /// Connect timeout to Google, in milliseconds.
    #[arg(
        long,
        env = env::GOOGLE_CONNECT_TIMEOUT_MS,
        default_value_t = 3_000
    )]
    pub google_connect_timeout_ms: u64,

    /// Timeout of one HTTP attempt to Google, in milliseconds.
    #[arg(
        long,
        env = env::GOOGLE_ATTEMPT_TIMEOUT_MS,
        default_value_t = 10_000
    )]
    pub google_attempt_timeout_ms: u64,

    /// Deadline of one call to Google, all retries included, in milliseconds.
    #[arg(
        long,
        env = env::GOOGLE_TOTAL_TIMEOUT_MS,
        default_value_t = 30_000
    )]
    pub google_total_timeout_ms: u64,

    /// Timeout of obtaining an access token, in milliseconds.
    #[arg(
        long,
        env = env::GOOGLE_TOKEN_TIMEOUT_MS,
        default_value_t = 10_000
    )]
    pub google_token_timeout_ms: u64,

    /// Attempts per retryable call to Google, the first included.
    #[arg(long, env = env::GOOGLE_MAX_ATTEMPTS, default_value_t = 4)]
    pub google_max_attempts: u32,

    /// Calls per minute to Google from every replica together: the project's quota (the
    /// budget is kept in the store, shared by every replica).
    #[arg(long, env = env::GOOGLE_CALLS_PER_MINUTE, default_value_t = 60)]
    pub google_calls_per_minute: u32,

    /// Seconds between two runs of the store's pruning (every table's retention).
    #[arg(long, env = env::STORE_PRUNE_INTERVAL_SECS, default_value_t = 3600)]
    pub store_prune_interval_secs: u64,

    /// Seconds between two walks of Google's list by the tracker (who accepted, and when);
    /// 0 turns it off.
    #[arg(long, env = env::TRACK_INTERVAL_SECS, default_value_t = 900)]
    pub track_interval_secs: u64,

    /// Seconds a replica holds the tracker's walk and the webhook deliveries it took without
    /// renewing them: a replica that dies leaves them to the others after this (1 to 3600;
    /// with webhooks, longer than one delivery attempt).
    #[arg(long, env = env::TRACK_LEASE_SECS, default_value_t = 120)]
    pub track_lease_secs: u64,

    /// Comma-separated webhook endpoints every event is delivered to (never printed: they may
    /// carry credentials).
    #[arg(long, env = env::WEBHOOK_URLS, hide_env_values = true)]
    pub webhook_urls: Option<SecretString>,

    /// Signing secret of the webhooks, `whsec_<base64>` (never printed).
    #[arg(long, env = env::WEBHOOK_SECRET, hide_env_values = true)]
    pub webhook_secret: Option<SecretString>,

    /// Hours a webhook delivery is retried before it is given up.
    #[arg(long, env = env::WEBHOOK_RETRY_HOURS, default_value_t = 24)]
    pub webhook_retry_hours: u64,

    /// Timeout of one webhook delivery attempt, in milliseconds.
    #[arg(long, env = env::WEBHOOK_TIMEOUT_MS, default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Share (percent) of the Google budget background work may use; the rest stays for
    /// callers waiting on an answer.
    #[arg(long, env = env::GOOGLE_BACKGROUND_PERCENT, default_value_t = 80)]
    pub google_background_percent: u8,

    /// Calls to Google in flight at once from this process.
    #[arg(
        long,
        env = env::GOOGLE_MAX_CONCURRENT_CALLS,
        default_value_t = 32
    )]
    pub google_max_concurrent_calls: usize,

    /// Consecutive upstream failures that open the circuit breaker.
    #[arg(long, env = env::GOOGLE_BREAKER_THRESHOLD, default_value_t = 5)]
    pub google_breaker_threshold: u32,

    /// Seconds the circuit breaker stays open before it lets a probe through.
    #[arg(long, env = env::GOOGLE_BREAKER_OPEN_SECS, default_value_t = 30)]
    pub google_breaker_open_secs: u64,

    /// Shared secret for HS256 caller JWTs (at least 32 bytes).
    #[arg(long, env = env::JWT_HS256_SECRET, hide_env_values = true)]
    pub jwt_hs256_secret: Option<SecretString>,

    /// PEM file with the public keys of asymmetric caller JWTs (RS256, ES256, EdDSA).
    #[arg(long, env = env::JWT_PUBLIC_KEY_FILE)]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JWKS URL of the caller JWT issuer.
    #[arg(long, env = env::JWT_JWKS_URL)]
    pub jwt_jwks_url: Option<String>,

    /// Required `iss` of caller JWTs.
    #[arg(long, env = env::JWT_ISSUER, default_value = "invitation-gateway")]
    pub jwt_issuer: String,

    /// Required `aud` of caller JWTs.
    #[arg(
        long,
        env = env::JWT_AUDIENCE,
        default_value = "invitation-gateway"
    )]
    pub jwt_audience: String,

    /// Clock skew tolerated on exp, nbf and iat of caller JWTs, in seconds.
    #[arg(long, env = env::JWT_LEEWAY_SECS, default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Longest accepted caller JWT lifetime (exp - iat), in seconds.
    #[arg(long, env = env::JWT_MAX_LIFETIME_SECS, default_value_t = config::DEFAULT_JWT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime_secs: u64,

    /// Claim holding the caller's scopes: a space-separated string or an array (e.g. scp, permissions).
    #[arg(long, env = env::JWT_SCOPE_CLAIM, default_value = "scope")]
    pub jwt_scope_claim: String,

    /// Seconds fetched JWKS keys are used before the set is fetched again.
    #[arg(long, env = env::JWT_JWKS_TTL_SECS, default_value_t = 600)]
    pub jwt_jwks_ttl_secs: u64,

    /// Verified caller tokens remembered (by their SHA-256) so a token used again skips the
    /// signature check until its exp; claims are still checked on every request. 0 turns it off.
    #[arg(
        long,
        env = env::JWT_VERIFIED_CACHE_CAPACITY,
        default_value_t = 10_000
    )]
    pub jwt_verified_cache_capacity: u64,

    /// Sustained requests per second per caller (verified iss + sub).
    #[arg(long, env = env::RATE_LIMIT_PER_SECOND, default_value_t = 10)]
    pub rate_limit_per_second: u32,

    /// Requests a caller may make at once above the sustained rate.
    #[arg(long, env = env::RATE_LIMIT_BURST, default_value_t = 20)]
    pub rate_limit_burst: u32,

    /// Invitation mails one caller may cause per UTC day.
    #[arg(long, env = env::DAILY_MAIL_LIMIT, default_value_t = 1000)]
    pub daily_mail_limit: u32,

    /// Append-only JSON-lines audit file, besides the `audit` log target.
    #[arg(long, env = env::AUDIT_FILE)]
    pub audit_file: Option<PathBuf>,

    /// Key of the hash that replaces emails in logs and event subjects (at least 16 bytes);
    /// unset means a random key made once and kept in the store, shared by every replica.
    #[arg(long, env = env::LOG_HASH_KEY, hide_env_values = true)]
    pub log_hash_key: Option<SecretString>,

    /// Comma-separated domains callers may act on; unset means all.
    #[arg(long, env = env::ALLOWED_DOMAINS)]
    pub allowed_domains: Option<String>,

    /// Calls to Google in flight at once for one batch request.
    #[arg(long, env = env::BATCH_CONCURRENCY, default_value_t = 10)]
    pub batch_concurrency: usize,

    /// Seconds an "eligible" answer stays in the eligibility cache.
    #[arg(long, env = env::ELIGIBLE_TTL_SECS, default_value_t = 600)]
    pub eligible_ttl_secs: u64,

    /// Seconds a "not eligible" answer stays in the eligibility cache.
    #[arg(long, env = env::NOT_ELIGIBLE_TTL_SECS, default_value_t = 60)]
    pub not_eligible_ttl_secs: u64,

    /// Most addresses the eligibility cache holds.
    #[arg(
        long,
        env = env::ELIGIBILITY_CACHE_CAPACITY,
        default_value_t = 100_000
    )]
    pub eligibility_cache_capacity: u64,

    /// Seconds a summary is reused before Google is walked again.
    #[arg(long, env = env::SUMMARY_TTL_SECS, default_value_t = 30)]
    pub summary_ttl_secs: u64,

    /// Milliseconds between two looks of an idle campaign worker for due work.
    #[arg(long, env = env::CAMPAIGN_POLL_MILLIS, default_value_t = 1000)]
    pub campaign_poll_millis: u64,

    /// Seconds a replica holds a campaign item it works on (a dead replica's items are taken
    /// over after this).
    #[arg(long, env = env::CAMPAIGN_LEASE_SECS, default_value_t = 60)]
    pub campaign_lease_secs: u64,

    /// Most MiB of a roster uploaded with an Idempotency-Key (it is kept in a temporary file
    /// until its fingerprint is known).
    #[arg(long, env = env::CAMPAIGN_ROSTER_MAX_MIB, default_value_t = 400)]
    pub campaign_roster_max_mib: u64,

    /// Seconds an Idempotency-Key's answer is kept.
    #[arg(long, env = env::IDEMPOTENCY_TTL_SECS, default_value_t = 86_400)]
    pub idempotency_ttl_secs: u64,

    /// Unused: Idempotency-Keys are kept in the store until their TTL (accepted so that
    /// existing manifests still start).
    #[arg(long, env = env::IDEMPOTENCY_CAPACITY, default_value_t = 10_000)]
    pub idempotency_capacity: u64,

    /// The store (the send ledger, idempotency keys, the daily mail budget).
    #[command(flatten)]
    pub store: StoreArgs,

    /// Largest accepted JSON request body, in bytes (at least 1024).
    #[arg(
        long,
        env = env::JSON_LIMIT_BYTES,
        default_value_t = 16 * 1024
    )]
    pub json_limit_bytes: u32,

    /// Seconds a request's whole body may take to arrive; a slower one is answered 408.
    #[arg(long, env = env::BODY_READ_TIMEOUT_SECS, default_value_t = 10)]
    pub body_read_timeout_secs: u64,

    /// Seconds in-flight requests get to finish once the listener has closed (after the drain);
    /// at least the Google attempt timeout + the read that settles a lost send (the attempt
    /// timeout, at least 5 s) + 1 s, so that a send that started can be recorded and answered.
    #[arg(long, env = env::SHUTDOWN_TIMEOUT_SECS, default_value_t = 25)]
    pub shutdown_timeout_secs: u64,

    /// Seconds after SIGTERM during which /readyz fails but the listener still accepts, so load
    /// balancers stop sending first.
    #[arg(long, env = env::SHUTDOWN_DRAIN_SECS, default_value_t = 5)]
    pub shutdown_drain_secs: u64,

    /// Google Cloud project id for the trace fields of JSON log lines
    /// (`logging.googleapis.com/trace`); unset logs the bare `trace_id`.
    #[arg(long, env = env::GCP_PROJECT)]
    pub gcp_project: Option<String>,

    /// Base URL of an OTLP/HTTP receiver (e.g. http://otel-collector:4318): a span per request,
    /// continuing the caller's W3C traceparent, and per Google call is exported to
    /// URL/v1/traces. Unset (the default): no traces, no cost.
    #[arg(long, env = env::OTLP_ENDPOINT)]
    pub otlp_endpoint: Option<String>,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = env::WORKERS, default_value_t = 0)]
    pub workers: usize,
}

impl From<ServeArgs> for RawSettings {
    fn from(args: ServeArgs) -> Self {
        // Destructured, so that a flag added to one side and not the other does not compile.
        let ServeArgs {
            sandbox,
            sandbox_quota_per_minute,
            listen,
            customer,
            google_application_credentials,
            delegated_admin,
            signer_service_account,
            google_api_url,
            google_iam_url,
            google_token_url,
            google_readonly,
            google_connect_timeout_ms,
            google_attempt_timeout_ms,
            google_total_timeout_ms,
            google_token_timeout_ms,
            google_max_attempts,
            google_calls_per_minute,
            google_background_percent,
            store_prune_interval_secs,
            track_interval_secs,
            track_lease_secs,
            webhook_urls,
            webhook_secret,
            webhook_retry_hours,
            webhook_timeout_ms,
            google_max_concurrent_calls,
            google_breaker_threshold,
            google_breaker_open_secs,
            jwt_hs256_secret,
            jwt_public_key_file,
            jwt_jwks_url,
            jwt_issuer,
            jwt_audience,
            jwt_leeway_secs,
            jwt_max_lifetime_secs,
            jwt_scope_claim,
            jwt_jwks_ttl_secs,
            jwt_verified_cache_capacity,
            rate_limit_per_second,
            rate_limit_burst,
            daily_mail_limit,
            audit_file,
            log_hash_key,
            allowed_domains,
            batch_concurrency,
            eligible_ttl_secs,
            not_eligible_ttl_secs,
            eligibility_cache_capacity,
            summary_ttl_secs,
            campaign_poll_millis,
            campaign_lease_secs,
            campaign_roster_max_mib,
            idempotency_ttl_secs,
            idempotency_capacity,
            store,
            json_limit_bytes,
            body_read_timeout_secs,
            shutdown_timeout_secs,
            shutdown_drain_secs,
            gcp_project,
            otlp_endpoint,
            workers,
        } = args;
        RawSettings {
            sandbox,
            sandbox_quota_per_minute,
            listen,
            customer,
            google_application_credentials,
            delegated_admin,
            signer_service_account,
            google_api_url,
            google_iam_url,
            google_token_url,
            google_readonly,
            google_connect_timeout_ms,
            google_attempt_timeout_ms,
            google_total_timeout_ms,
            google_token_timeout_ms,
            google_max_attempts,
            google_calls_per_minute,
            google_background_percent,
            store_prune_interval_secs,
            track_interval_secs,
            track_lease_secs,
            webhook_urls,
            webhook_secret,
            webhook_retry_hours,
            webhook_timeout_ms,
            google_max_concurrent_calls,
            google_breaker_threshold,
            google_breaker_open_secs,
            jwt_hs256_secret,
            jwt_public_key_file,
            jwt_jwks_url,
            jwt_issuer,
            jwt_audience,
            jwt_leeway_secs,
            jwt_max_lifetime_secs,
            jwt_scope_claim,
            jwt_jwks_ttl_secs,
            jwt_verified_cache_capacity,
            rate_limit_per_second,
            rate_limit_burst,
            daily_mail_limit,
            audit_file,
            log_hash_key,
            allowed_domains,
            batch_concurrency,
            eligible_ttl_secs,
            not_eligible_ttl_secs,
            eligibility_cache_capacity,
            summary_ttl_secs,
            campaign_poll_millis,
            campaign_lease_secs,
            campaign_roster_max_mib,
            idempotency_ttl_secs,
            idempotency_capacity,
            store: store.into(),
            json_limit_bytes,
            body_read_timeout_secs,
            shutdown_timeout_secs,
            shutdown_drain_secs,
            gcp_project,
            otlp_endpoint,
            workers,
        }
    }
}

/// Settings of the store, shared by `serve` and `migrate`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: sqlite://PATH (one replica; created on first start) or
    /// postgres://USER:PASSWORD@HOST/DB (required for more than one replica). [default:
    /// sqlite://invitation-gateway.db; with --sandbox, a temporary file removed at stop]
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Most connections to the store.
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 10)]
    pub database_max_connections: u32,

    /// Longest wait to connect to the store or for a free pooled connection, in milliseconds.
    #[arg(long, env = env::DATABASE_CONNECT_TIMEOUT_MS, default_value_t = 5_000)]
    pub database_connect_timeout_ms: u64,

    /// Longest a store statement may run, in milliseconds.
    #[arg(long, env = env::DATABASE_STATEMENT_TIMEOUT_MS, default_value_t = 5_000)]
    pub database_statement_timeout_ms: u64,

    /// SQLite only: the most the store file may grow to, in MiB (writes beyond it fail as on a
    /// full disk); unset, the filesystem is the limit.
    #[arg(long, env = env::DATABASE_SQLITE_MAX_MIB)]
    pub database_sqlite_max_mib: Option<u32>,
}

impl From<StoreArgs> for config::RawStoreSettings {
    fn from(args: StoreArgs) -> Self {
        config::RawStoreSettings {
            database_url: args.database_url,
            max_connections: args.database_max_connections,
            connect_timeout_ms: args.database_connect_timeout_ms,
            statement_timeout_ms: args.database_statement_timeout_ms,
            sqlite_max_mib: args.database_sqlite_max_mib,
        }
    }
}

/// Settings of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's subject (`sub`): who the caller is.
    #[arg(long)]
    pub sub: String,

    /// Space-separated scopes, e.g. "invitations.check invitations.read".
    #[arg(long)]
    pub scope: String,

    /// Lifetime: 30m, 1h, 3600s, 2d.
    #[arg(long, default_value = "1h", value_parser = mint::parse_ttl)]
    pub ttl: Duration,

    /// Shared HS256 secret to sign with (at least 32 bytes).
    #[arg(long, env = env::JWT_HS256_SECRET, hide_env_values = true)]
    pub jwt_hs256_secret: Option<SecretString>,

    /// The token's `iss`.
    #[arg(long, env = env::JWT_ISSUER, default_value = config::DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,

    /// The token's `aud`.
    #[arg(long, env = env::JWT_AUDIENCE, default_value = config::DEFAULT_JWT_ISSUER)]
    pub jwt_audience: String,

    /// The gateway's longest accepted token lifetime, in seconds: a longer --ttl is refused,
    /// since the gateway would refuse the token.
    #[arg(long, env = env::JWT_MAX_LIFETIME_SECS, default_value_t = config::DEFAULT_JWT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime_secs: u64,
}

impl TokenArgs {
    /// Mints the token the flags describe (checked by `auth::mint`, not here).
    pub fn mint(&self) -> Result<String, ConfigError> {
        mint::mint_from_flags(&mint::TokenFlags {
            secret: self.jwt_hs256_secret.as_ref(),
            issuer: &self.jwt_issuer,
            audience: &self.jwt_audience,
            subject: &self.sub,
            scope: &self.scope,
            ttl: self.ttl,
            max_lifetime: Duration::from_secs(self.jwt_max_lifetime_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ServeArgs {
        fn validate(self) -> Result<config::Settings, ConfigError> {
            config::Settings::from_raw(&self.into())
        }
    }

    fn parse(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["invitation-gateway", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("arguments parse").command {
            Command::Serve(args) => *args,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    const SECRET: &str = "--jwt-hs256-secret=0123456789abcdef0123456789abcdef";

    fn clap_refusal(args: &[&str]) -> String {
        let mut argv = vec!["invitation-gateway", "serve"];
        argv.extend_from_slice(args);
        parse_failure(&Cli::try_parse_from(argv).expect_err("clap refuses"))
    }

    #[test]
    fn a_value_clap_refuses_is_one_line_naming_flag_and_env_var() {
        let line = clap_refusal(&["--listen", "nowhere"]);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("'nowhere'") && line.contains("--listen"),
            "{line}"
        );
        assert!(line.ends_with("(env GATEWAY_LISTEN)"), "{line}");
        assert!(!line.starts_with("error:"), "{line}");
    }

    #[test]
    fn a_json_limit_under_one_kib_is_refused_not_clamped() {
        let line = refusal("--json-limit-bytes=100");
        assert!(line.contains("GATEWAY_JSON_LIMIT_BYTES"), "{line}");
        let mut args = VALID.to_vec();
        args.push("--json-limit-bytes=1024");
        let settings = parse(&args).validate().expect("1024 is enough");
        assert_eq!(settings.http.json_limit_bytes, 1024);
    }

    #[test]
    fn a_store_prune_interval_of_zero_is_refused() {
        let line = refusal("--store-prune-interval-secs=0");
        assert!(line.contains("GATEWAY_STORE_PRUNE_INTERVAL_SECS"), "{line}");
        let settings = parse(&VALID).validate().expect("the default is valid");
        assert_eq!(
            settings.store.prune_interval,
            std::time::Duration::from_secs(3600)
        );
    }

    #[test]
    fn every_serve_flag_has_its_own_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        let serve = command
            .find_subcommand("serve")
            .expect("serve is a command");
        let mut seen = std::collections::HashSet::new();
        for arg in serve.get_arguments().filter(|a| a.get_long().is_some()) {
            if matches!(arg.get_long(), Some("help" | "version")) {
                continue;
            }
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("--{} has no env", arg.get_long().unwrap_or_default()));
            assert!(seen.insert(env.to_owned()), "{env:?} twice");
        }
    }

    #[test]
    fn an_unknown_flag_is_one_line_too() {
        let line = clap_refusal(&["--no-such-flag"]);
        assert!(
            !line.contains('\n') && line.contains("--no-such-flag"),
            "{line}"
        );
    }

    #[test]
    fn serve_without_credentials_names_what_is_missing() {
        let err = parse(&[SECRET]).validate().unwrap_err().to_string();
        assert!(err.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
    }

    #[test]
    fn serve_without_admin_names_the_setting() {
        let err = parse(&[
            "--signer-service-account=sa@p.iam.gserviceaccount.com",
            SECRET,
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("GATEWAY_DELEGATED_ADMIN"), "{err}");
    }

    #[test]
    fn serve_without_jwt_key_source_names_the_settings() {
        let err = parse(&[
            "--signer-service-account=sa@p.iam.gserviceaccount.com",
            "--delegated-admin=admin@example.com",
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("GATEWAY_JWT_HS256_SECRET"), "{err}");
    }

    #[test]
    fn short_hs256_secret_is_refused() {
        let err = parse(&[
            "--signer-service-account=sa@p.iam.gserviceaccount.com",
            "--delegated-admin=admin@example.com",
            "--jwt-hs256-secret=short",
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
    }

    const VALID: [&str; 3] = [
        "--signer-service-account=sa@p.iam.gserviceaccount.com",
        "--delegated-admin=admin@example.com",
        SECRET,
    ];

    fn refusal(extra: &str) -> String {
        let mut args = VALID.to_vec();
        args.push(extra);
        parse(&args).validate().unwrap_err().to_string()
    }

    #[test]
    fn auth_limits_audit_and_hash_settings_are_validated_by_name() {
        assert!(refusal("--rate-limit-per-second=0").contains("GATEWAY_RATE_LIMIT_PER_SECOND"));
        assert!(refusal("--rate-limit-burst=0").contains("GATEWAY_RATE_LIMIT_BURST"));
        assert!(refusal("--log-hash-key=short").contains("GATEWAY_LOG_HASH_KEY"));
        assert!(refusal("--jwt-leeway-secs=3600").contains("GATEWAY_JWT_LEEWAY_SECS"));
        assert!(refusal("--jwt-max-lifetime-secs=0").contains("GATEWAY_JWT_MAX_LIFETIME_SECS"));
        assert!(refusal("--jwt-scope-claim= ").contains("GATEWAY_JWT_SCOPE_CLAIM"));
        let missing_dir = refusal("--audit-file=/nonexistent-dir/audit.jsonl");
        assert!(missing_dir.contains("GATEWAY_AUDIT_FILE"), "{missing_dir}");
    }

    #[test]
    fn values_that_were_silently_corrected_are_refused_by_name() {
        for (flag, env) in [
            ("--google-max-attempts=0", "GATEWAY_GOOGLE_MAX_ATTEMPTS"),
            (
                "--google-breaker-open-secs=0",
                "GATEWAY_GOOGLE_BREAKER_OPEN_SECS",
            ),
            ("--batch-concurrency=0", "GATEWAY_BATCH_CONCURRENCY"),
            ("--jwt-jwks-ttl-secs=29", "GATEWAY_JWT_JWKS_TTL_SECS"),
        ] {
            let line = refusal(flag);
            assert!(
                line.starts_with(env) && !line.contains('\n'),
                "{flag}: {line}"
            );
        }
    }

    #[test]
    fn auth_settings_have_safe_defaults() {
        let settings = parse(&VALID).validate().expect("valid settings");
        assert_eq!(settings.jwt.leeway, Duration::from_secs(30));
        assert_eq!(settings.jwt.max_lifetime, Duration::from_secs(86_400));
        assert_eq!(settings.jwt.scope_claim, "scope");
        assert_eq!(settings.jwt.jwks_ttl, Duration::from_secs(600));
        assert_eq!(settings.limits.requests_per_second, 10);
        assert_eq!(settings.limits.burst, 20);
        assert_eq!(settings.limits.daily_mails_per_caller, 1000);
        assert!(settings.audit.file.is_none() && settings.log_hash_key.is_none());
    }

    #[test]
    fn keyless_settings_are_accepted() {
        let settings = parse(&[
            "--signer-service-account=sa@p.iam.gserviceaccount.com",
            "--delegated-admin=admin@example.com",
            SECRET,
            "--allowed-domains=Example.com",
        ])
        .validate()
        .expect("valid settings");
        assert_eq!(settings.allowed_domains, vec!["example.com"]);
        assert!(matches!(
            settings.google.credentials,
            config::GoogleCredentials::Keyless { .. }
        ));
    }
}
