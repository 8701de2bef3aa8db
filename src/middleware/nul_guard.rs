//! A NUL character (U+0000) in the query string or the path is refused before any handler.
//!
//! PostgreSQL cannot store a NUL in text; a query parameter or path segment holding one would
//! fail the store's statement and look like a store outage (`503`, an ERROR in the log,
//! `/readyz` degraded). Checked once here for every route, so no handler has to remember it;
//! JSON bodies are checked by the routes' JSON extractor.

use crate::error::{ApiError, ErrorCode};
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Answers `400 invalid_query` naming the parameter when the decoded query string holds a NUL,
/// and `404 not_found` when the path does (no resource has such a name).
pub async fn refuse_nul_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // A raw NUL cannot be in a request line, so only its percent-encoding needs looking for.
    if req.path().contains("%00") {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "There is nothing at a path with a NUL character (U+0000).",
        )
        .into());
    }
    if let Some(name) = parameter_with_nul(req.query_string()) {
        return Err(ApiError::nul_in(ErrorCode::InvalidQuery, &name).into());
    }
    next.call(req).await
}

/// The name of the first query parameter whose name or value holds a NUL once decoded.
fn parameter_with_nul(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', ""))
}

#[cfg(test)]
mod tests {
    use super::parameter_with_nul;

    #[test]
    fn the_parameter_holding_a_nul_is_named() {
        assert_eq!(
            parameter_with_nul("a=1&callerSub=x%00y").as_deref(),
            Some("callerSub")
        );
        assert_eq!(parameter_with_nul("na%00me=1").as_deref(), Some("name"));
        assert_eq!(parameter_with_nul("a=%2500&b=%01"), None);
    }
}
