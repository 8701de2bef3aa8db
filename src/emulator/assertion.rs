//! Verifying the RS256 JWT assertion a client exchanges at the token endpoint.
//!
//! Parsed by hand rather than with `jsonwebtoken::decode`: gcp_auth pads its base64url segments and
//! sends `"sub": null`, both of which Google accepts and `decode` would refuse. The signature itself
//! is still checked by jsonwebtoken's RS256 verifier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::key::{CLIENT_EMAIL, ServiceAccount};

/// Google's token URL: the audience Google's own libraries always put in assertions.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Clock skew tolerated on `iat` and `exp`.
const LEEWAY_SECS: f64 = 60.0;
/// Longest lifetime Google accepts for an assertion.
const MAX_LIFETIME_SECS: f64 = 3600.0;

/// The claims of a verified assertion that the token endpoint acts on.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The service account (always this emulator's).
    pub iss: String,
    /// The user to impersonate, for domain-wide delegation.
    pub sub: Option<String>,
    /// Requested scopes, space separated.
    pub scope: Option<String>,
    /// The audience.
    pub aud: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    scope: Option<String>,
    aud: Option<String>,
    iat: Option<f64>,
    exp: Option<f64>,
}

/// Verifies signature, `kid`, `iss`, `aud` and lifetime; the error is the `error_description`.
pub fn verify(
    jwt: &str,
    account: &ServiceAccount,
    token_url: &str,
    now: f64,
) -> Result<Assertion, String> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err("Invalid JWT: the assertion must have three parts.".into());
    };
    let header: Header = decode_part(header_b64)?;
    if header.alg != "RS256" {
        return Err("Invalid JWT: only RS256 is accepted.".into());
    }
    if header
        .kid
        .as_ref()
        .is_some_and(|kid| kid != &account.private_key_id)
    {
        return Err("Invalid JWT Signature.".into());
    }
    let message = format!("{header_b64}.{claims_b64}");
    let signature = signature_b64.trim_end_matches('=');
    let valid = jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &account.decoding_key,
        Algorithm::RS256,
    )
    .unwrap_or(false);
    if !valid {
        return Err("Invalid JWT Signature.".into());
    }
    let claims: Claims = decode_part(claims_b64)?;
    let iss = claims
        .iss
        .filter(|iss| iss == CLIENT_EMAIL)
        .ok_or("Invalid JWT: unknown issuer.")?;
    let aud = claims
        .aud
        .filter(|aud| aud == GOOGLE_TOKEN_URL || aud == token_url)
        .ok_or("Invalid JWT: the audience must be the token URL.")?;
    let lifetime_error = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err(lifetime_error.into());
    };
    let reasonable = exp > iat
        && exp - iat <= MAX_LIFETIME_SECS
        && iat <= now + LEEWAY_SECS
        && exp >= now - LEEWAY_SECS;
    if !reasonable {
        return Err(lifetime_error.into());
    }
    Ok(Assertion {
        iss,
        sub: claims.sub,
        scope: claims.scope,
        aud,
    })
}

/// Decodes one base64url segment (padded or not) as JSON.
fn decode_part<T: DeserializeOwned>(part: &str) -> Result<T, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "Invalid JWT: a part is not base64url.".to_string())?;
    serde_json::from_slice(&bytes)
        .map_err(|_| "Invalid JWT: a part is not the expected JSON.".to_string())
}
