//! The checks single values pass; every refusal is one line that starts with the setting's
//! environment variable and says what would work.

use super::ConfigError;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

/// An area's flags as they are when none is given, the environment left unread: every default
/// is written once, in its flag's `#[arg]`, and each area's `Default` converts these (so a test
/// that builds settings directly gets what an empty command line gets).
pub fn flag_defaults<A: clap::Args + clap::FromArgMatches>() -> Result<A, ConfigError> {
    let command = A::augment_args(clap::Command::new("defaults").no_binary_name(true))
        .mut_args(|arg| arg.env(Option::<&'static str>::None));
    command
        .try_get_matches_from(std::iter::empty::<&str>())
        .and_then(|matches| A::from_arg_matches(&matches))
        .map_err(|error| ConfigError(format!("a flag's default does not parse: {error}")))
}

/// Why a `Default` of settings may expect its flags' defaults to convert: a unit test of each
/// area converts them.
pub const DEFAULTS_CONVERT: &str = "every flag's default is a valid setting";

/// `value` if it is greater than zero.
pub fn positive<T: PartialOrd + Default + Copy>(name: &str, value: T) -> Result<T, ConfigError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError(format!("{name}: must be greater than 0")))
    }
}

/// A count that must not be 0, as the type that says so.
pub fn nonzero_u32(name: &str, value: u32) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(value).ok_or_else(|| ConfigError(format!("{name}: must be greater than 0")))
}

/// A count that must not be 0, as the type that says so.
pub fn nonzero_usize(name: &str, value: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(value).ok_or_else(|| ConfigError(format!("{name}: must be greater than 0")))
}

/// A positive number of milliseconds as a duration.
pub fn positive_ms(name: &str, millis: u64) -> Result<Duration, ConfigError> {
    positive(name, millis).map(Duration::from_millis)
}

/// A positive number of seconds as a duration.
pub fn positive_secs(name: &str, secs: u64) -> Result<Duration, ConfigError> {
    positive(name, secs).map(Duration::from_secs)
}

/// `value` if it is at least `min`: refused, never raised to it.
pub fn at_least<T: PartialOrd + Copy + std::fmt::Display>(
    name: &str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value >= min {
        Ok(value)
    } else {
        Err(ConfigError(format!("{name}: must be at least {min}")))
    }
}

/// The trimmed value, if anything is left.
pub fn non_empty(name: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        Err(ConfigError(format!("{name}: must not be empty")))
    } else {
        Ok(value.to_owned())
    }
}

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

/// Parses a comma-separated domain list into lower-case domains, rejecting malformed entries.
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

    /// Each area's `Default` is its flags' defaults converted: every one converts (none
    /// panics), and each is what the flag's `#[arg]` says, as an empty command line gives it.
    #[test]
    fn every_areas_default_is_its_flags_defaults_converted() {
        use crate::config::*;
        let tracking = TrackingSettings::default();
        assert_eq!(tracking.interval, Duration::from_secs(900));
        assert_eq!(tracking.lease, Duration::from_secs(120));
        assert_eq!(WebhookSettings::default().timeout, Duration::from_secs(10));
        assert_eq!(HttpSettings::default().json_limit_bytes, 16 * 1024);
        assert_eq!(InvitationSettings::default().batch_concurrency.get(), 10);
        assert_eq!(EligibilitySettings::default().capacity, 100_000);
        assert_eq!(
            IdempotencySettings::default().ttl,
            Duration::from_secs(86_400)
        );
        assert_eq!(CampaignSettings::default().lease, Duration::from_secs(60));
        let jwt = JwtSettings::default();
        assert!(!jwt.has_key_source(), "a default alone verifies nothing");
        assert_eq!(jwt.issuer, DEFAULT_JWT_ISSUER);
        assert_eq!(LimitSettings::default().daily_mails_per_caller, 1000);
        assert_eq!(GoogleTimeouts::default().total, Duration::from_secs(30));
        assert_eq!(RetrySettings::default().max_attempts.get(), 4);
        assert_eq!(ProtectionSettings::default().max_concurrent_calls.get(), 32);
        let store = StoreSettings::default();
        assert_eq!(store.google_per_minute, 60);
        assert_eq!(store.google_background_percent, 80);
        assert_eq!(store.prune_interval, Duration::from_secs(3600));
        assert_eq!(store.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn gcp_project_ids_are_checked() {
        assert_eq!(gcp_project("P", " my-project-1 ").unwrap(), "my-project-1");
        assert!(gcp_project("P", "example.com:my-project").is_ok());
        for bad in ["My-Project", "abc", "my-project/traces", "1project"] {
            assert!(gcp_project("P", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_url_drops_trailing_slash_and_rejects_other_schemes() {
        assert_eq!(
            base_url("X", "http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9"
        );
        for bad in ["ftp://example.com", "not a url"] {
            assert!(base_url("X", bad).is_err(), "{bad}");
        }
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
