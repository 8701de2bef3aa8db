//! The request headers operations read, each a typed extractor that is also its OpenAPI
//! parameter: the documentation and the parse are one type.

use crate::error::{ApiError, ErrorCode};
use actix_web::http::header::HeaderName;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use std::future::{Ready, ready};
use utoipa::IntoParams;

/// The header that makes a send or cancel idempotent.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The optional `Idempotency-Key` of send, cancel and campaign create. A bad value is not
/// refused by the extractor: the handler asks for it ([`IdempotencyKey::get`]) where its
/// check belongs among the request's others.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Makes the request idempotent for 24 h (1 to 255 visible ASCII characters), e.g.
    /// `onboarding-2026-11-22-batch-7`. Keys are the caller's own, per operation.
    // No `example`: Swagger UI would pre-fill it, and every "Try it out" would reuse one key.
    #[param(
        rename = "Idempotency-Key",
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = r"^[!-~]+$"
    )]
    idempotency_key: Result<Option<String>, ()>,
}

impl IdempotencyKey {
    /// The key, if the request has one; `invalid_request` unless it is 1 to 255 visible ASCII
    /// characters.
    pub fn get(&self) -> Result<Option<&str>, ApiError> {
        self.idempotency_key
            .as_ref()
            .map(Option::as_deref)
            .map_err(|()| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                )
            })
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let idempotency_key = match req.headers().get(&IDEMPOTENCY_KEY) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
                .map(|k| Some(k.to_owned()))
                .ok_or(()),
        };
        ready(Ok(IdempotencyKey { idempotency_key }))
    }
}

/// The optional `Prefer` header of send.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Prefer {
    /// `respond-async` (RFC 7240) turns the send into a campaign and answers `202` at once.
    // No `example`: Swagger UI would pre-fill it, and every "Try it out" would make a campaign.
    #[param(rename = "Prefer", value_type = String, required = false)]
    respond_async: bool,
}

impl Prefer {
    /// True when the request says `Prefer: respond-async` (RFC 7240), in any of its headers.
    pub fn respond_async(&self) -> bool {
        self.respond_async
    }
}

impl FromRequest for Prefer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let respond_async = req.headers().get_all("prefer").any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',').any(|p| {
                    p.split(';')
                        .next()
                        .is_some_and(|p| p.trim().eq_ignore_ascii_case("respond-async"))
                })
            })
        });
        ready(Ok(Prefer { respond_async }))
    }
}
