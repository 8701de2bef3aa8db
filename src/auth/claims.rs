//! The claims of a caller JWT and the rules they must meet.
//!
//! The same rules run twice: on the unverified claims, before a key is looked up (so a forged
//! token can never make the gateway fetch keys), and on the verified claims.

use crate::auth::scopes::{Scope, ScopeSet};
use crate::config::JwtSettings;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest accepted `sub`: it is logged, audited and used as a rate-limit key.
pub const MAX_SUBJECT_LEN: usize = 256;

/// The claims the gateway reads; everything else is kept in `extra` for the scope claim.
#[derive(Debug, Clone, Deserialize)]
pub struct RawClaims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Audience: one string or an array.
    pub aud: Option<Audience>,
    /// Expiry.
    pub exp: Option<NumericDate>,
    /// Not before.
    pub nbf: Option<NumericDate>,
    /// Issued at.
    pub iat: Option<NumericDate>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A NumericDate (RFC 7519 section 2): seconds since the epoch, which may have a fractional
/// part (`1767225600.5`). Kept as the JSON number's `f64`: exact for every whole second until
/// the year 285 million, and to well under a millisecond for any date a token carries.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Deserialize)]
#[serde(try_from = "f64")]
pub struct NumericDate(f64);

impl TryFrom<f64> for NumericDate {
    type Error = &'static str;

    fn try_from(secs: f64) -> Result<Self, Self::Error> {
        // serde_json never yields NaN or infinity, but other deserializers could.
        if secs.is_finite() {
            Ok(Self(secs))
        } else {
            Err("a NumericDate must be a finite number")
        }
    }
}

impl NumericDate {
    /// Seconds since the epoch.
    pub fn secs(self) -> f64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded up (an entry kept until then is never dropped
    /// before the date), saturating at the ends of `i64`.
    pub fn ceil_secs(self) -> i64 {
        // `as` saturates for out-of-range floats, which is what is wanted here.
        self.0.ceil() as i64
    }
}

/// The `aud` claim, which RFC 7519 allows as a string or an array.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// Why claims were refused; for the log only (the answer just says `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// `iss` missing or not the configured issuer.
    #[error("wrong or missing iss")]
    Issuer,
    /// `aud` missing or without the configured audience.
    #[error("wrong or missing aud")]
    Audience,
    /// `exp` missing.
    #[error("missing exp")]
    MissingExpiry,
    /// `exp` is past, beyond the leeway.
    #[error("expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("not yet valid (nbf)")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("issued in the future (iat)")]
    IssuedInFuture,
    /// `exp - iat` (or `exp - now` without `iat`) exceeds the maximum lifetime.
    #[error("lifetime exceeds the maximum")]
    LifetimeTooLong,
    /// `sub` missing, empty, too long or holding a NUL (the store cannot keep one in text).
    #[error("missing, empty, oversized or NUL-holding sub")]
    Subject,
}

/// The claim rules, from the JWT settings.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Tolerated clock skew, seconds.
    pub leeway_secs: i64,
    /// Longest accepted lifetime, seconds.
    pub max_lifetime_secs: i64,
    /// Name of the claim holding the scopes.
    pub scope_claim: String,
}

impl ClaimRules {
    /// The rules the settings ask for.
    pub fn from_settings(settings: &JwtSettings) -> Self {
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX),
            max_lifetime_secs: i64::try_from(settings.max_lifetime.as_secs()).unwrap_or(i64::MAX),
            scope_claim: settings.scope_claim.clone(),
        }
    }

    /// Checks every rule at `now` (seconds since the epoch).
    pub fn check(&self, claims: &RawClaims, now: i64) -> Result<(), ClaimError> {
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(ClaimError::Issuer);
        }
        if !claims
            .aud
            .as_ref()
            .is_some_and(|aud| aud.contains(&self.audience))
        {
            return Err(ClaimError::Audience);
        }
        // Compared as f64 so fractional dates count exactly (RFC 7519 NumericDate); every
        // integer involved is far inside f64's exact range.
        let now = now as f64;
        let leeway = self.leeway_secs as f64;
        let exp = claims.exp.ok_or(ClaimError::MissingExpiry)?.secs();
        if exp + leeway < now {
            return Err(ClaimError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf.secs() > now + leeway) {
            return Err(ClaimError::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat.secs() > now + leeway) {
            return Err(ClaimError::IssuedInFuture);
        }
        // Without `iat`, the remaining lifetime is what a leaked token would be worth.
        let start = claims.iat.map_or(now, NumericDate::secs);
        if exp - start > self.max_lifetime_secs as f64 + leeway {
            return Err(ClaimError::LifetimeTooLong);
        }
        match claims.sub.as_deref() {
            Some(sub)
                if !sub.trim().is_empty()
                    && sub.len() <= MAX_SUBJECT_LEN
                    && !sub.contains('\0') =>
            {
                Ok(())
            }
            _ => Err(ClaimError::Subject),
        }
    }

    /// The known scopes in the scope claim: a space-separated string or an array of strings.
    /// Anything else in that claim grants nothing.
    pub fn scopes(&self, claims: &RawClaims) -> ScopeSet {
        match claims.extra.get(&self.scope_claim) {
            Some(Value::String(names)) => {
                names.split_whitespace().filter_map(Scope::parse).collect()
            }
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Scope::parse)
                .collect(),
            _ => ScopeSet::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "iss".into(),
            audience: "aud".into(),
            leeway_secs: 30,
            max_lifetime_secs: 3600,
            scope_claim: "scope".into(),
        }
    }

    fn claims(value: Value) -> RawClaims {
        serde_json::from_value(value).unwrap()
    }

    const NOW: i64 = 1_000_000;

    fn valid() -> Value {
        json!({"iss": "iss", "aud": "aud", "sub": "s", "iat": NOW, "exp": NOW + 60})
    }

    fn with(key: &str, value: Value) -> RawClaims {
        let mut v = valid();
        v[key] = value;
        claims(v)
    }

    #[test]
    fn valid_claims_pass_and_audience_may_be_an_array() {
        assert_eq!(rules().check(&claims(valid()), NOW), Ok(()));
        assert_eq!(
            rules().check(&with("aud", json!(["x", "aud"])), NOW),
            Ok(())
        );
    }

    #[test]
    fn each_rule_names_its_failure() {
        let r = rules();
        assert_eq!(
            r.check(&with("iss", json!("other")), NOW),
            Err(ClaimError::Issuer)
        );
        assert_eq!(
            r.check(&with("aud", json!(["x"])), NOW),
            Err(ClaimError::Audience)
        );
        assert_eq!(
            r.check(&with("exp", json!(NOW - 31)), NOW),
            Err(ClaimError::Expired)
        );
        assert_eq!(r.check(&with("exp", json!(NOW - 29)), NOW), Ok(()));
        assert_eq!(
            r.check(&with("nbf", json!(NOW + 31)), NOW),
            Err(ClaimError::NotYetValid)
        );
        assert_eq!(
            r.check(&with("iat", json!(NOW + 31)), NOW),
            Err(ClaimError::IssuedInFuture)
        );
        assert_eq!(
            r.check(&with("exp", json!(NOW + 3600 + 31)), NOW),
            Err(ClaimError::LifetimeTooLong)
        );
        assert_eq!(
            r.check(&with("sub", json!("")), NOW),
            Err(ClaimError::Subject)
        );
        assert_eq!(
            r.check(&with("sub", json!("a\u{0}b")), NOW),
            Err(ClaimError::Subject)
        );
        let mut no_exp = valid();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            r.check(&claims(no_exp), NOW),
            Err(ClaimError::MissingExpiry)
        );
    }

    #[test]
    fn fractional_numeric_dates_are_compared_exactly() {
        let r = rules();
        let now = NOW as f64;
        assert_eq!(r.check(&with("exp", json!(now + 0.5)), NOW), Ok(()));
        assert_eq!(r.check(&with("iat", json!(now - 0.5)), NOW), Ok(()));
        assert_eq!(r.check(&with("nbf", json!(now + 29.5)), NOW), Ok(()));
        assert_eq!(
            r.check(&with("nbf", json!(now + 30.5)), NOW),
            Err(ClaimError::NotYetValid)
        );
        assert_eq!(r.check(&with("exp", json!(now - 29.5)), NOW), Ok(()));
        assert_eq!(
            r.check(&with("exp", json!(now - 30.5)), NOW),
            Err(ClaimError::Expired)
        );
        assert!(serde_json::from_value::<RawClaims>(json!({"exp": "1"})).is_err());
    }

    #[test]
    fn scopes_come_from_a_string_or_an_array_and_unknown_names_are_dropped() {
        let r = rules();
        let set = r.scopes(&with(
            "scope",
            json!("invitations.read bogus invitations.send"),
        ));
        assert_eq!(set.to_string(), "invitations.read invitations.send");
        let array = ClaimRules {
            scope_claim: "permissions".into(),
            ..rules()
        };
        let set = array.scopes(&with("permissions", json!(["invitations.cancel", 7])));
        assert_eq!(set.to_string(), "invitations.cancel");
        assert!(r.scopes(&with("scope", json!(42))).is_empty());
    }
}
