//! Verifies a bearer token and turns it into a [`Caller`].
//!
//! Order matters, cheapest and safest first: the compact-JWS shape; the header (no `crit`, and
//! `alg` must be one a configured source can verify); the unverified claims (`iss`, `aud`,
//! `exp`, ...); only then key lookup, which may refetch the JWKS; then the signature with
//! `jsonwebtoken`, pinned to the key's algorithm; then the claim rules again on the verified
//! claims. A token verified before is found in the [`TokenCache`] and only its claim rules run
//! again.

use crate::auth::caller::Caller;
use crate::auth::claims::{ClaimError, ClaimRules, RawClaims};
use crate::auth::compact::{CompactJws, ShapeError};
use crate::auth::jwks::JwksSource;
use crate::auth::keys::{self, JWKS_ALGORITHMS, KeyError, VerificationKey};
use crate::auth::token_cache::{TokenCache, VerifiedToken};
use crate::config::JwtSettings;
use crate::readiness::{CheckState, Readiness};
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;

/// Most keys one token is tried against (several PEM keys may share an algorithm).
const MAX_CANDIDATES: usize = 8;

/// Why a token was refused; for the log only, the answer says `invalid_token` and nothing more.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization` header at all.
    #[error("no bearer token")]
    Missing,
    /// An `Authorization` header of another scheme (`Basic`, ...): no bearer credentials.
    #[error("authorization scheme is not Bearer")]
    OtherScheme,
    /// Several `Authorization` headers, or a Bearer one without a usable token.
    #[error("unusable Authorization header")]
    BadHeader,
    /// A token was offered in the query string.
    #[error("token in the query string")]
    TokenInQuery,
    /// Not a compact JWS.
    #[error("not a compact JWS: {0}")]
    Shape(#[from] ShapeError),
    /// The header or payload is not the JSON it should be.
    #[error("malformed header or claims")]
    Malformed,
    /// The header has `crit`: it names extensions the gateway must understand, and it
    /// understands none (RFC 7515 section 4.1.11).
    #[error("crit header present")]
    Critical,
    /// No configured source verifies this `alg`.
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    /// A claim rule failed.
    #[error("claims: {0}")]
    Claims(#[from] ClaimError),
    /// No key matches the token's `alg` and `kid`.
    #[error("no key for this alg/kid")]
    NoKey,
    /// The signature (or `jsonwebtoken`'s own validation) failed.
    #[error("verification failed: {0}")]
    Signature(String),
}

impl AuthFailure {
    /// True when the request carried no bearer credentials at all: RFC 6750 section 3.1 says
    /// such an answer names no error code, because nothing was wrong with a token.
    pub fn lacks_credentials(&self) -> bool {
        matches!(self, AuthFailure::Missing | AuthFailure::OtherScheme)
    }
}

/// Verifies caller JWTs against every configured key source.
pub struct Authenticator {
    rules: ClaimRules,
    static_keys: Vec<Arc<VerificationKey>>,
    jwks: Option<Arc<JwksSource>>,
    /// `jsonwebtoken`'s validation for each accepted algorithm, built once.
    validations: Vec<(Algorithm, Validation)>,
    verified: TokenCache,
}

impl Authenticator {
    /// Builds the key sources the settings name; reads the PEM file now. The JWKS is not
    /// fetched here: see [`Authenticator::start`].
    pub fn new(settings: &JwtSettings) -> Result<Self, KeyError> {
        let mut static_keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            static_keys.push(Arc::new(keys::hs256_key(secret)));
        }
        if let Some(path) = &settings.public_key_file {
            static_keys.extend(keys::pem_file_keys(path)?.into_iter().map(Arc::new));
        }
        let jwks = match &settings.jwks_url {
            Some(url) => Some(Arc::new(
                JwksSource::new(url.clone(), settings.jwks_ttl)
                    .map_err(|e| KeyError(format!("{}: {e}", crate::config::env::JWT_JWKS_URL)))?,
            )),
            None => None,
        };
        let rules = ClaimRules::from_settings(settings);
        let verified = TokenCache::new(settings.verified_cache_capacity, rules.leeway_secs);
        Ok(Self::from_sources(rules, static_keys, jwks).with_token_cache(verified))
    }

    /// Assembles an authenticator from ready-made sources (tests use their own JWKS source);
    /// it keeps no verified tokens until given a cache.
    pub fn from_sources(
        rules: ClaimRules,
        static_keys: Vec<Arc<VerificationKey>>,
        jwks: Option<Arc<JwksSource>>,
    ) -> Self {
        let jwks_algorithms = jwks.iter().flat_map(|_| JWKS_ALGORITHMS);
        let mut validations: Vec<(Algorithm, Validation)> = Vec::new();
        for algorithm in static_keys
            .iter()
            .map(|key| key.algorithm)
            .chain(jwks_algorithms)
        {
            if !validations.iter().any(|(known, _)| *known == algorithm) {
                validations.push((algorithm, validation(&rules, algorithm)));
            }
        }
        Self {
            rules,
            static_keys,
            jwks,
            validations,
            verified: TokenCache::disabled(),
        }
    }

    /// Keeps verified tokens in `cache`.
    pub fn with_token_cache(mut self, cache: TokenCache) -> Self {
        self.verified = cache;
        self
    }

    /// The verified-token cache.
    pub fn token_cache(&self) -> &TokenCache {
        &self.verified
    }

    /// Marks the caller keys ready, at once for a secret or PEM keys, after the first
    /// successful fetch for a JWKS (fetched in the background from now on).
    pub fn start(&self, readiness: Arc<Readiness>) {
        match &self.jwks {
            Some(jwks) => jwks.spawn_refresh(readiness),
            None => readiness.caller_keys.set(CheckState::Ready),
        }
    }

    /// The JWKS source, when one is configured.
    pub fn jwks(&self) -> Option<&Arc<JwksSource>> {
        self.jwks.as_ref()
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthFailure> {
        self.verify_at(token, chrono::Utc::now().timestamp()).await
    }

    /// Verifies `token` as of `now` (seconds since the epoch).
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Caller, AuthFailure> {
        // Read before verifying: keys that change meanwhile make the new entry stale at once.
        let key_generation = self.key_generation();
        let digest = self.verified.digest(token);
        if let Some(hit) = digest
            .as_ref()
            .and_then(|digest| self.verified.get(digest, key_generation))
        {
            self.rules.check(&hit.claims, now)?;
            return Ok(hit.caller.clone());
        }
        let verified = self.verify_token(token, now, key_generation).await?;
        let caller = verified.caller.clone();
        if let Some(digest) = digest {
            self.verified.insert(digest, verified);
        }
        Ok(caller)
    }

    /// The whole verification of a token no cache entry vouches for.
    async fn verify_token(
        &self,
        token: &str,
        now: i64,
        key_generation: u64,
    ) -> Result<VerifiedToken, AuthFailure> {
        let jws = CompactJws::parse(token)?;
        refuse_critical_extensions(&jws)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        let algorithm = header.alg;
        let Some(validation) = self.validation_for(algorithm) else {
            return Err(AuthFailure::Algorithm(format!("{algorithm:?}")));
        };
        let unverified: RawClaims =
            serde_json::from_slice(&jws.payload_bytes()?).map_err(|_| AuthFailure::Malformed)?;
        self.rules.check(&unverified, now)?;

        let kid = header.kid.as_deref();
        if let (Some(jwks), Some(kid)) = (&self.jwks, kid)
            && JWKS_ALGORITHMS.contains(&algorithm)
            && !jwks.knows_kid(kid)
        {
            jwks.refetch_for_unknown_kid(kid).await;
        }
        let candidates = self.candidates(algorithm, kid);
        if candidates.is_empty() {
            return Err(AuthFailure::NoKey);
        }

        let mut last_error = None;
        for key in candidates {
            match jsonwebtoken::decode::<RawClaims>(token, &key.key, validation) {
                Ok(data) => {
                    let claims = data.claims;
                    self.rules.check(&claims, now)?;
                    let caller = Caller {
                        id: crate::store::Caller::new(
                            claims.iss.clone().unwrap_or_default(),
                            claims.sub.clone().unwrap_or_default(),
                        ),
                        scopes: self.rules.scopes(&claims),
                    };
                    return Ok(VerifiedToken {
                        claims,
                        caller,
                        key_generation,
                    });
                }
                Err(err) => last_error = Some(format!("{:?}", err.kind())),
            }
        }
        Err(AuthFailure::Signature(last_error.unwrap_or_default()))
    }

    /// Changes whenever the JWKS keys are replaced; 0 without a JWKS.
    fn key_generation(&self) -> u64 {
        self.jwks.as_ref().map_or(0, |jwks| jwks.generation())
    }

    /// The validation of `alg`, when some configured source can verify it.
    fn validation_for(&self, algorithm: Algorithm) -> Option<&Validation> {
        self.validations
            .iter()
            .find(|(accepted, _)| *accepted == algorithm)
            .map(|(_, validation)| validation)
    }

    /// The keys pinned to `alg` whose `kid` fits: static keys have no kid and fit any token;
    /// JWKS keys fit when the token names their kid or names none.
    fn candidates(&self, algorithm: Algorithm, kid: Option<&str>) -> Vec<Arc<VerificationKey>> {
        let jwks_keys = self
            .jwks
            .as_ref()
            .map(|jwks| jwks.keys())
            .unwrap_or_default();
        self.static_keys
            .iter()
            .filter(|key| key.algorithm == algorithm)
            .chain(jwks_keys.iter().filter(|key| {
                key.algorithm == algorithm && (kid.is_none() || key.kid.as_deref() == kid)
            }))
            .take(MAX_CANDIDATES)
            .cloned()
            .collect()
    }
}

/// Refuses a header with a `crit` member, whatever its value. RFC 7515 section 4.1.11: a
/// recipient must refuse a JWS whose `crit` lists an extension it does not understand, and
/// this gateway understands none; an empty list, a list naming a standard header, or a value
/// that is not a list are malformed. `jsonwebtoken` parses `crit` but never acts on it (and
/// reads `"crit": null` as absent), so the raw header JSON is looked at here, the same for
/// every key source.
fn refuse_critical_extensions(jws: &CompactJws<'_>) -> Result<(), AuthFailure> {
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&jws.header_bytes()?).map_err(|_| AuthFailure::Malformed)?;
    if header.contains_key("crit") {
        return Err(AuthFailure::Critical);
    }
    Ok(())
}

/// `jsonwebtoken`'s own checks, as a second line behind [`ClaimRules`]: the one algorithm,
/// `iss`, `aud`, and the presence of `exp` and `sub`.
fn validation(rules: &ClaimRules, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[&rules.issuer]);
    validation.set_audience(&[&rules.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = u64::try_from(rules.leeway_secs).unwrap_or(0);
    // Time is judged by ClaimRules against the caller's `now`, so both agree.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation
}
