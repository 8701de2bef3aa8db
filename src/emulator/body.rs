//! Reading request bodies with a size limit, failing in Google's error shape.

use actix_web::web::{Bytes, Payload};
use serde::de::DeserializeOwned;

use super::wire::GoogleError;

/// Largest body any emulated route accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Reads the whole body, refusing more than [`BODY_LIMIT`] bytes with Google's 400 `INVALID_ARGUMENT`.
pub async fn read_body(payload: Payload) -> Result<Bytes, GoogleError> {
    match payload.to_bytes_limited(BODY_LIMIT).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(GoogleError::invalid_argument(
            "The request body could not be read.",
        )),
        Err(_) => Err(GoogleError::payload_too_large(BODY_LIMIT)),
    }
}

/// Reads and parses a JSON body.
pub async fn read_json<T: DeserializeOwned>(payload: Payload) -> Result<T, GoogleError> {
    let bytes = read_body(payload).await?;
    serde_json::from_slice(&bytes).map_err(|error| {
        GoogleError::invalid_argument(format!("Invalid JSON payload received. {error}"))
    })
}
