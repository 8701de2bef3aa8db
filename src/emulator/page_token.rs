//! Sealing list's keyset cursor into an opaque page token.
//!
//! A cursor names the last address shown, and page tokens travel in query strings that proxies log;
//! the design keeps addresses out of URLs, so the cursor is encrypted (SHA-256 in counter mode as
//! the keystream) and authenticated (HMAC-SHA256) with a key that lives only in this emulator.
//! It is a fake's privacy measure, not a vetted cipher for secrets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// The per-emulator secret behind page tokens.
pub struct PageTokenKey {
    secret: [u8; 32],
}

impl PageTokenKey {
    /// A fresh random key.
    pub fn random() -> PageTokenKey {
        let mut secret = [0_u8; 32];
        rand::rng().fill_bytes(&mut secret);
        PageTokenKey { secret }
    }

    /// Encrypts and authenticates `plaintext` into a URL-safe token.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        sealed.extend(self.apply_keystream(&nonce, plaintext));
        let tag = self.tag(&sealed);
        sealed.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The plaintext of a token this key sealed; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        let sealed = URL_SAFE_NO_PAD.decode(token).ok()?;
        let body_len = sealed.len().checked_sub(TAG_LEN)?;
        let (body, tag) = sealed.split_at(body_len);
        let (nonce, ciphertext) = body.split_at_checked(NONCE_LEN)?;
        if self.tag(body) != tag {
            return None;
        }
        Some(self.apply_keystream(nonce, ciphertext))
    }

    fn apply_keystream(&self, nonce: &[u8], data: &[u8]) -> Vec<u8> {
        data.chunks(32)
            .zip(0_u64..)
            .flat_map(|(chunk, counter)| {
                let block = Sha256::new()
                    .chain_update(self.secret)
                    .chain_update(nonce)
                    .chain_update(counter.to_be_bytes())
                    .finalize();
                chunk
                    .iter()
                    .zip(block)
                    .map(|(byte, key)| byte ^ key)
                    .collect::<Vec<u8>>()
            })
            .collect()
    }

    fn tag(&self, data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so construction cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return Vec::new();
        };
        mac.update(data);
        mac.finalize()
            .into_bytes()
            .iter()
            .take(TAG_LEN)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_hide_the_plaintext() {
        let key = PageTokenKey::random();
        let token = key.seal(b"ada@example.com");

        assert_eq!(key.open(&token).as_deref(), Some(&b"ada@example.com"[..]));
        assert_eq!(PageTokenKey::random().open(&token), None);
        assert!(!String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(&token).unwrap()).contains("ada"));
        for garbage in ["", "x", "!!", "AAAA"] {
            assert_eq!(key.open(garbage), None);
        }
    }
}
