//! Email addresses as callers send them: validated and normalised before anything else.
//!
//! Normalisation trims surrounding white space and lower-cases the domain; the local part keeps
//! its case (Google answers with the address as stored, and some callers compare exactly).
//! What Google would refuse is refused here, as a per-item `invalid_email`, so it never costs a
//! call: no `@`, white space or control characters, quoted local parts, more than 254 bytes.

use crate::invitations::outcome::ItemError;
use crate::vocabulary::ItemErrorCode;

/// Longest address SMTP allows (RFC 5321: 256 octets of path minus the angle brackets).
const MAX_EMAIL_BYTES: usize = 254;
const MAX_LOCAL_BYTES: usize = 64;
const MAX_LABEL_BYTES: usize = 63;
/// Characters a local part may hold besides ASCII letters and digits (RFC 5322 atext and `.`,
/// without `/`, which no Google account has and which would split a resource name).
const LOCAL_SYMBOLS: &str = "!#$%&'*+=?^_`{|}~-.";

/// A validated, normalised address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Email, ItemError> {
        let invalid = |why: &str| {
            ItemError::new(
                ItemErrorCode::InvalidEmail,
                format!("not a valid email address: {why}"),
            )
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed.len() > MAX_EMAIL_BYTES {
            return Err(invalid("longer than 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("it contains white space or control characters"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("no '@'"));
        };
        if local.is_empty() || local.len() > MAX_LOCAL_BYTES {
            return Err(invalid("the part before '@' must be 1 to 64 characters"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SYMBOLS.contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid(
                "the part before '@' has characters Google does not accept",
            ));
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= MAX_LABEL_BYTES
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain_ok {
            return Err(invalid("the domain is not a valid domain name"));
        }
        Ok(Email(format!("{local}@{domain}")))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain, lower case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// The key under which two spellings of one address are the same (Google ignores case).
    pub fn identity(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which domains callers may act on.
#[derive(Debug, Clone, Default)]
pub struct DomainPolicy {
    allowed: Vec<String>,
}

impl DomainPolicy {
    /// `allowed` lower case; empty allows every domain.
    pub fn new(allowed: Vec<String>) -> Self {
        Self { allowed }
    }

    /// Applies the policy to a parsed address: the per-item gate before anything reaches
    /// Google.
    pub fn admit<'e>(&self, email: &'e Email) -> Result<&'e Email, ItemError> {
        if self.allowed.is_empty() || self.allowed.iter().any(|d| d == email.domain()) {
            Ok(email)
        } else {
            Err(ItemError::new(
                ItemErrorCode::DomainNotAllowed,
                "this gateway does not act on addresses of that domain",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_by_trimming_and_lowercasing_the_domain() {
        assert_eq!(
            Email::parse("  Ada.Lovelace+HR@Example.COM\t")
                .unwrap()
                .as_str(),
            "Ada.Lovelace+HR@example.com"
        );
    }

    #[test]
    fn refuses_what_google_would_refuse() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada example@x.com",
            "ada@exa mple.com",
            "ada\u{7}@example.com",
            "a..b@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "\"ada\"@example.com",
            "ada@example",
            "ada@-example.com",
            "ada@example..com",
            "ada@example.123",
            "a/b@example.com",
            "ädä@example.com",
            "ada@exämple.com",
            &long_local,
            &long,
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.code, ItemErrorCode::InvalidEmail, "{bad:?}");
            assert!(
                bad.trim().is_empty() || !err.detail.contains(bad.trim()),
                "detail echoes input: {}",
                err.detail
            );
        }
    }

    #[test]
    fn accepts_what_consumer_accounts_use() {
        for good in [
            "a@b.co",
            "grace+hr@example.com",
            "o'brien@example.ie",
            "x_y-z@sub.example.org",
            "n@xn--bcher-kva.example",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn domain_policy_admits_only_listed_domains() {
        let policy = DomainPolicy::new(vec!["example.com".into()]);
        let email = |raw: &str| Email::parse(raw).unwrap();
        assert!(policy.admit(&email("ada@EXAMPLE.com")).is_ok());
        assert_eq!(
            policy.admit(&email("ada@example.org")).unwrap_err().code,
            ItemErrorCode::DomainNotAllowed
        );
        assert!(
            DomainPolicy::default()
                .admit(&email("ada@anything.org"))
                .is_ok()
        );
    }
}
