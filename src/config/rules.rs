//! The checks single values pass; every refusal is one line that starts with the setting's
//! environment variable and says what would work.

use super::ConfigError;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

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
