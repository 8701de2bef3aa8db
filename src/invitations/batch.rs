//! A batch of addresses as a caller names them: checked as a whole and parsed once.
//!
//! [`EmailBatch::parse`] is the one place the batch rules live: 1 to [`MAX_EMAILS`] addresses,
//! none twice. Every address is parsed here, once; the domain works on the parsed entries and
//! never parses an address again.

use crate::invitations::email::Email;
use crate::invitations::outcome::ItemError;
use serde::{Serialize, Serializer};
use std::collections::HashMap;

/// Most addresses in one request.
pub const MAX_EMAILS: usize = 100;

/// Why a batch is refused as a whole (nothing is done for any of its addresses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No address at all.
    #[error("emails: at least one address is required.")]
    Empty,
    /// More than [`MAX_EMAILS`] addresses.
    #[error("emails: at most {MAX_EMAILS} addresses per request, got {count}.")]
    TooMany {
        /// How many were sent.
        count: usize,
    },
    /// One address named twice.
    #[error("emails[{index}] repeats emails[{first}]; send each address once.")]
    Duplicate {
        /// Position of the repeat.
        index: usize,
        /// Position of the first occurrence.
        first: usize,
    },
}

/// One address of a batch: what the caller sent, and what it parsed to.
#[derive(Debug, Clone)]
pub struct BatchEntry {
    raw: String,
    parsed: Result<Email, ItemError>,
}

impl BatchEntry {
    /// The text the caller sent.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The address, or why it is not one (`invalid_email`).
    pub fn parsed(&self) -> &Result<Email, ItemError> {
        &self.parsed
    }
}

/// 1 to [`MAX_EMAILS`] addresses, none twice, each parsed once, in the order sent.
#[derive(Debug, Clone)]
pub struct EmailBatch {
    entries: Vec<BatchEntry>,
}

impl EmailBatch {
    /// Checks the batch as a whole and parses every address. Valid addresses are compared as
    /// Google compares them (after normalisation, ignoring case), so one person cannot be named
    /// twice; invalid ones, which never reach Google, only when they are exactly the same text
    /// (what the schema's `uniqueItems` says). An invalid address is not a whole-batch error: it
    /// becomes its item's `invalid_email`.
    pub fn parse(emails: Vec<String>) -> Result<EmailBatch, BatchError> {
        if emails.is_empty() {
            return Err(BatchError::Empty);
        }
        if emails.len() > MAX_EMAILS {
            return Err(BatchError::TooMany {
                count: emails.len(),
            });
        }
        let mut seen: HashMap<(bool, String), usize> = HashMap::with_capacity(emails.len());
        let mut entries = Vec::with_capacity(emails.len());
        for (index, raw) in emails.into_iter().enumerate() {
            let parsed = Email::parse(&raw);
            let identity = match &parsed {
                Ok(email) => (true, email.identity()),
                Err(_) => (false, raw.clone()),
            };
            if let Some(first) = seen.insert(identity, index) {
                return Err(BatchError::Duplicate { index, first });
            }
            entries.push(BatchEntry { raw, parsed });
        }
        Ok(EmailBatch { entries })
    }

    /// The entries, in the order sent.
    pub fn entries(&self) -> &[BatchEntry] {
        &self.entries
    }

    /// How many addresses.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true: a batch holds at least one address (clippy wants the method next to `len`).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Serialises as the list of addresses exactly as sent: the form an idempotency fingerprint
/// of the request is taken over.
impl Serialize for EmailBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries.iter().map(|entry| entry.raw.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::ItemErrorCode;

    fn batch(emails: &[&str]) -> Result<EmailBatch, BatchError> {
        EmailBatch::parse(emails.iter().map(|e| (*e).to_owned()).collect())
    }

    #[test]
    fn batches_must_hold_one_to_a_hundred_distinct_addresses() {
        assert_eq!(batch(&[]).unwrap_err(), BatchError::Empty);
        let many: Vec<String> = (0..101).map(|i| format!("p{i}@example.com")).collect();
        assert_eq!(
            EmailBatch::parse(many.clone()).unwrap_err(),
            BatchError::TooMany { count: 101 }
        );
        assert_eq!(EmailBatch::parse(many[..100].to_vec()).unwrap().len(), 100);
        assert_eq!(
            batch(&["x@example.com", "Ada@Example.com", " ada@example.COM "]).unwrap_err(),
            BatchError::Duplicate { index: 2, first: 1 }
        );
        assert_eq!(
            batch(&["nope", "nope"]).unwrap_err(),
            BatchError::Duplicate { index: 1, first: 0 }
        );
        // Distinct invalid texts are distinct items (each gets its own `invalid_email`).
        assert_eq!(batch(&["nope", "NOPE", " nope"]).unwrap().len(), 3);
    }

    #[test]
    fn entries_keep_the_raw_text_and_the_parse_in_order() {
        let batch = batch(&["  Ada@Example.COM", "not an address"]).unwrap();
        let [valid, invalid] = batch.entries() else {
            panic!("two entries");
        };
        assert_eq!(valid.raw(), "  Ada@Example.COM");
        assert_eq!(valid.parsed().as_ref().unwrap().as_str(), "Ada@example.com");
        assert_eq!(
            invalid.parsed().as_ref().unwrap_err().code,
            ItemErrorCode::InvalidEmail
        );
    }

    #[test]
    fn serialises_as_the_addresses_sent_so_fingerprints_do_not_change() {
        let raws = vec![" Ada@Example.com".to_owned(), "nope".to_owned()];
        let batch = EmailBatch::parse(raws.clone()).unwrap();
        assert_eq!(
            serde_json::to_vec(&batch).unwrap(),
            serde_json::to_vec(&raws).unwrap()
        );
    }

    #[test]
    fn errors_say_where_without_echoing_addresses() {
        assert_eq!(
            BatchError::Duplicate { index: 1, first: 0 }.to_string(),
            "emails[1] repeats emails[0]; send each address once."
        );
        assert_eq!(
            BatchError::TooMany { count: 101 }.to_string(),
            "emails: at most 100 addresses per request, got 101."
        );
    }
}
