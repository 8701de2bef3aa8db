//! The shape of a compact JWS, checked before anything else looks at a token.
//!
//! A token that is not three base64url parts of sane length is refused here, before any JSON
//! parsing or key lookup, so an oversized or garbled token costs nothing but this scan.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest accepted encoded header (8 KiB): real headers are a few dozen bytes.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Largest accepted encoded payload (32 KiB).
pub const MAX_PAYLOAD_LEN: usize = 32 * 1024;
/// Largest accepted encoded signature (an RSA-8192 signature is 1,366 characters).
pub const MAX_SIGNATURE_LEN: usize = 2 * 1024;

/// Why a string is not a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Not exactly three dot-separated parts.
    #[error("not three dot-separated parts")]
    Parts,
    /// A part is empty or longer than its limit.
    #[error("a part is empty or too long")]
    Length,
    /// A part has characters outside the base64url alphabet.
    #[error("a part is not base64url")]
    Alphabet,
}

/// The three parts of a token whose shape is acceptable.
#[derive(Debug, Clone, Copy)]
pub struct CompactJws<'a> {
    /// Encoded protected header.
    pub header: &'a str,
    /// Encoded payload (the claims).
    pub payload: &'a str,
    /// Encoded signature.
    pub signature: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits `token` into its parts if, and only if, it looks like a compact JWS.
    pub fn parse(token: &'a str) -> Result<Self, ShapeError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ShapeError::Parts);
        };
        for (part, max) in [
            (header, MAX_HEADER_LEN),
            (payload, MAX_PAYLOAD_LEN),
            (signature, MAX_SIGNATURE_LEN),
        ] {
            // An empty signature is how `alg: none` tokens end; empty is never acceptable.
            if part.is_empty() || part.len() > max {
                return Err(ShapeError::Length);
            }
            if !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ShapeError::Alphabet);
            }
        }
        Ok(Self {
            header,
            payload,
            signature,
        })
    }

    /// The decoded header bytes.
    pub fn header_bytes(&self) -> Result<Vec<u8>, ShapeError> {
        URL_SAFE_NO_PAD
            .decode(self.header)
            .map_err(|_| ShapeError::Alphabet)
    }

    /// The decoded payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, ShapeError> {
        URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| ShapeError::Alphabet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_base64url_parts_pass() {
        let jws = CompactJws::parse("eyJh.eyJi.c2ln").unwrap();
        assert_eq!(
            (jws.header, jws.payload, jws.signature),
            ("eyJh", "eyJi", "c2ln")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            CompactJws::parse("not-a-jwt").unwrap_err(),
            ShapeError::Parts
        );
        assert_eq!(CompactJws::parse("a.b.c.d").unwrap_err(), ShapeError::Parts);
        assert_eq!(CompactJws::parse("a.b.").unwrap_err(), ShapeError::Length);
        assert_eq!(
            CompactJws::parse("a.b=.c").unwrap_err(),
            ShapeError::Alphabet
        );
        assert_eq!(
            CompactJws::parse("a.b+/.c").unwrap_err(),
            ShapeError::Alphabet
        );
        let big_header = format!("{}.b.c", "a".repeat(MAX_HEADER_LEN + 1));
        assert_eq!(
            CompactJws::parse(&big_header).unwrap_err(),
            ShapeError::Length
        );
    }
}
