//! The JSON body extractor every `/v1` operation uses, and the one rule on text it adds to
//! serde's: no string may hold a NUL character (U+0000).
//!
//! PostgreSQL cannot store a NUL in text and fails the statement; if such a value reached the
//! store, a caller's typo would look like a store outage (`503`, an ERROR in the log,
//! `/readyz` degraded). JSON can carry one (`"\u0000"`), so every body is checked here, before
//! any handler sees it; query strings and paths are checked by
//! [`crate::middleware::nul_guard`].

use crate::error::{ApiError, ErrorCode, sanitize_parse_error};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON body of type `T`, read like `web::Json` (same size limit, media type and error
/// handler), whose strings hold no NUL character.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The raw text first, through the app's `JsonConfig` (limit, media type, syntax errors).
        let raw = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let raw = raw.await?.into_inner();
            Ok(Json(parse(raw.get())?))
        })
    }
}

/// Parses a JSON body into `T`, refusing wrong shapes and NUL characters as `invalid_request`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let value = serde_json::from_str(text).map_err(|e| invalid_json(&e))?;
    refuse_nul(text)?;
    Ok(value)
}

/// The `invalid_request` problem for a body serde refused; the detail says where the body is
/// wrong without echoing what the caller sent.
pub fn invalid_json(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!(
            "Invalid JSON body: {}",
            sanitize_parse_error(&error.to_string())
        ),
    )
}

/// Refuses a JSON text with a NUL character in any string, naming the first such field.
fn refuse_nul(text: &str) -> Result<(), ApiError> {
    // A NUL can only be written as an escape (a raw one is invalid JSON); most bodies have none.
    if !text.contains("\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Ok(());
    };
    match nul_at(&value, String::new()) {
        Some(place) => Err(ApiError::nul_in(ErrorCode::InvalidRequest, &place)),
        None => Ok(()),
    }
}

/// Where in `value` (a path like `source.emails[1]`) a string or key holds a NUL.
fn nul_at(value: &Value, at: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            let at = if at.is_empty() {
                name.replace('\0', "")
            } else {
                format!("{at}.{}", name.replace('\0', ""))
            };
            if name.contains('\0') {
                Some(at)
            } else {
                nul_at(field, at)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // Read only through Debug.
    struct Body {
        name: String,
        emails: Vec<String>,
    }

    fn refused(text: &str) -> Option<String> {
        parse::<Value>(text).err().map(|e| e.to_string())
    }

    #[test]
    fn a_nul_is_refused_naming_its_field() {
        assert_eq!(
            refused(r#"{"name": "a\u0000b"}"#).as_deref(),
            Some("invalid_request: `name` must not contain a NUL character (U+0000).")
        );
        assert!(
            refused(r#"{"a": {"b": ["x", "\u0000"]}}"#)
                .is_some_and(|d| d.contains(": `a.b[1]` must"))
        );
        assert!(refused(r#"{"k\u0000": 1}"#).is_some_and(|d| d.contains(": `k` must")));
    }

    #[test]
    fn an_escaped_backslash_before_u0000_is_not_a_nul() {
        assert_eq!(refused(r#"{"name": "a\\u0000b"}"#), None);
        assert_eq!(refused(r#"{"name": "a\u0001b"}"#), None);
    }

    #[test]
    fn a_wrong_shape_is_reported_before_a_nul() {
        let error = parse::<Body>(r#"{"name": "\u0000"}"#).expect_err("refused");
        assert!(error.to_string().contains("missing field"), "{error}");
    }
}
