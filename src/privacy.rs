//! Personal data in logs: emails are replaced by a keyed hash.
//!
//! Application logs, metrics and error bodies carry [`EmailHasher::tag`] (`e_` and 16 hex
//! digits of HMAC-SHA256), never the email: the same email gives the same tag, so a support
//! engineer can follow one person through the logs, while the tag reveals nothing without the
//! key. With `GATEWAY_LOG_HASH_KEY` unset the gateway uses a random key made once and kept in
//! the store, so tags agree between replicas and restarts; a process without a store (a
//! command line tool) uses a random key of its own. Only the audit trail holds real emails.
//!
//! The files that hold them (the SQLite database with its `-wal` and `-shm`, the audit file)
//! are created readable by their owner alone ([`private_file`]), whatever the umask; an existing
//! one that others can read is reported at start ([`warn_if_readable_by_others`]).

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use std::fmt;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

/// Hashes emails for logs with a secret key; cheap to clone.
#[derive(Clone)]
pub struct EmailHasher {
    key: Arc<SecretSlice<u8>>,
}

impl EmailHasher {
    /// A hasher with the configured key, or a random one when none is configured.
    pub fn from_settings(key: Option<&SecretString>) -> Self {
        match key {
            Some(key) => Self::with_key(key.expose_secret().as_bytes()),
            None => Self::random(),
        }
    }

    /// A hasher with this key.
    pub fn with_key(key: &[u8]) -> Self {
        Self {
            key: Arc::new(SecretSlice::from(key.to_vec())),
        }
    }

    /// A hasher with a random key: tags are stable within this process only.
    pub fn random() -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            key: Arc::new(SecretSlice::from(key)),
        }
    }

    /// The log tag of `email`, e.g. `e_3f9a1c2b7d4e5f60`.
    pub fn tag(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(email.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tag = String::with_capacity(18);
        tag.push_str("e_");
        for byte in &digest[..8] {
            tag.push_str(&format!("{byte:02x}"));
        }
        tag
    }
}

impl fmt::Debug for EmailHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailHasher(..)")
    }
}

/// Options that create a file only its owner may read and write (mode `0600`, whatever the
/// umask); an existing file keeps its mode.
pub fn private_file() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Logs a warning when `path` (`what` it is: "the SQLite database", "the audit file") exists
/// and users other than its owner may read it: it holds personal data.
pub fn warn_if_readable_by_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "{what} holds personal data and is readable by users other than its owner \
                 (mode {mode:o}); chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_gives_the_same_tag_and_other_keys_other_tags() {
        let a = EmailHasher::with_key(b"0123456789abcdef");
        let again = EmailHasher::with_key(b"0123456789abcdef");
        let b = EmailHasher::with_key(b"fedcba9876543210");
        let tag = a.tag("ada@example.com");
        assert_eq!(tag, again.tag("ada@example.com"));
        assert_ne!(tag, b.tag("ada@example.com"));
        assert_ne!(tag, a.tag("bob@example.com"));
        assert_ne!(
            EmailHasher::random().tag("x"),
            EmailHasher::random().tag("x")
        );
    }

    #[test]
    fn a_tag_is_short_hex_and_never_contains_the_email() {
        let tag = EmailHasher::with_key(b"0123456789abcdef").tag("ada@example.com");
        assert_eq!(tag.len(), 18);
        assert!(tag.starts_with("e_"));
        assert!(tag[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!tag.contains("ada") && !tag.contains("example"));
        assert_eq!(format!("{:?}", EmailHasher::random()), "EmailHasher(..)");
    }
}
