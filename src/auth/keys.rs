//! Verification keys, each pinned to exactly one algorithm.
//!
//! The algorithm comes from the key (its source and type), never from the token: an HS256
//! secret verifies only HS256, an RSA key only RS256 (or the RSA algorithm its JWK names), and
//! so on. That makes `none` and HS/RS confusion impossible by construction.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

/// Where a key came from (for logs; never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The shared HS256 secret.
    Hs256Secret,
    /// The PEM public-key file.
    PemFile,
    /// The issuer's JWKS.
    Jwks,
}

/// One key and the one algorithm it may verify.
#[derive(Clone)]
pub struct VerificationKey {
    /// The only algorithm this key verifies.
    pub algorithm: Algorithm,
    /// The key id, when the source names one (JWKS).
    pub kid: Option<String>,
    /// Where it came from.
    pub source: KeySource,
    /// The key material.
    pub key: DecodingKey,
}

// Key material never reaches a log, not even a public key.
debug_fields!(VerificationKey {
    algorithm,
    kid,
    source
});

/// A key source that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The HS256 key for a shared secret.
pub fn hs256_key(secret: &SecretString) -> VerificationKey {
    VerificationKey {
        algorithm: Algorithm::HS256,
        kid: None,
        source: KeySource::Hs256Secret,
        key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
    }
}

/// Reads every public key in a PEM file (one or more `-----BEGIN ...-----` blocks).
pub fn pem_file_keys(path: &Path) -> Result<Vec<VerificationKey>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        KeyError(format!(
            "{}: cannot read `{}`: {e}",
            crate::config::env::JWT_PUBLIC_KEY_FILE,
            path.display()
        ))
    })?;
    let keys = pem_keys(&text).map_err(|e| {
        KeyError(format!(
            "{}: `{}`: {}",
            crate::config::env::JWT_PUBLIC_KEY_FILE,
            path.display(),
            e.0
        ))
    })?;
    Ok(keys)
}

/// Parses every PEM block of `text` into a key pinned to the algorithm of its key type.
pub fn pem_keys(text: &str) -> Result<Vec<VerificationKey>, KeyError> {
    let blocks = pem_blocks(text);
    if blocks.is_empty() {
        return Err(KeyError("no PEM block found".into()));
    }
    blocks
        .iter()
        .enumerate()
        .map(|(index, block)| {
            pem_key(block).ok_or_else(|| {
                KeyError(format!(
                    "PEM block {} is not an RSA, P-256/P-384 or Ed25519 public key",
                    index + 1
                ))
            })
        })
        .collect()
}

/// Splits PEM text into its `BEGIN`..`END` blocks, ignoring anything between them.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current = Some(format!("{line}\n"));
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                blocks.extend(current.take());
            }
        }
    }
    blocks
}

fn pem_key(block: &str) -> Option<VerificationKey> {
    // Private keys are refused: the gateway never needs one, and one in this file is a mistake.
    if block.contains("PRIVATE KEY") {
        return None;
    }
    let pinned = |algorithm, key| VerificationKey {
        algorithm,
        kid: None,
        source: KeySource::PemFile,
        key,
    };
    if let Ok(key) = DecodingKey::from_rsa_pem(block.as_bytes()) {
        return Some(pinned(Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(block.as_bytes()) {
        // An uncompressed point is 65 bytes on P-256 and 97 on P-384.
        let algorithm = match key.try_get_as_bytes().map(<[u8]>::len) {
            Ok(65) => Algorithm::ES256,
            Ok(97) => Algorithm::ES384,
            _ => return None,
        };
        return Some(pinned(algorithm, key));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(block.as_bytes()) {
        return Some(pinned(Algorithm::EdDSA, key));
    }
    None
}

/// The asymmetric algorithms a JWKS key may be pinned to.
pub const JWKS_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The key of a JWK pinned to its `alg` (or, without one, to its key type's usual algorithm).
/// Symmetric keys, encryption keys and algorithms that do not fit the key type are refused.
pub fn jwk_key(jwk: &Jwk) -> Option<VerificationKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        // A shared secret published in a JWKS would let anyone sign.
        _ => return None,
    };
    let algorithm = match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => {
            let named = key_algorithm(named)?;
            let fits = match by_type {
                Algorithm::RS256 => matches!(
                    named,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ),
                other => named == other,
            };
            if !fits {
                return None;
            }
            named
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerificationKey {
        algorithm,
        kid: jwk.common.key_id.clone(),
        source: KeySource::Jwks,
        key,
    })
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    let algorithm = match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    };
    Some(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_pem_is_refused_with_a_reason() {
        assert!(pem_keys("hello").unwrap_err().0.contains("no PEM block"));
        let bad = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(pem_keys(bad).unwrap_err().0.contains("block 1"));
    }

    #[test]
    fn symmetric_jwks_keys_are_refused() {
        let jwk: Jwk = serde_json::from_value(
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}),
        )
        .unwrap();
        assert!(jwk_key(&jwk).is_none());
    }
}
