//! Probes: `/livez` (the process answers) and `/readyz` (ready for traffic).

use crate::error::{ApiError, ErrorCode, ProblemDocument};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of a passing probe.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProbeResponse {
    /// `alive` or `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// Checks that fail without stopping traffic (`store: failed`: send and cancel answer
    /// `503 store_unavailable` meanwhile); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
}

/// Liveness: the process is up and serving HTTP. Touches nothing else.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    responses((status = 200, description = "The process is alive.", body = ProbeResponse))
)]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(ProbeResponse {
        status: "alive".into(),
        degraded: Vec::new(),
    })
}

/// Readiness: credentials usable, caller keys loaded, the store reached once, not draining;
/// `degraded` lists what fails without stopping traffic. Reads cached state only;
/// never calls Google per probe.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic.", body = ProbeResponse),
        (status = 503, description = "Not ready; `detail` names the checks that are not ready.",
         body = ProblemDocument, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait before probing again")),
         example = json!(ErrorCode::NotReady.example())),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let blockers = state.readiness.blockers();
    if blockers.is_empty() {
        Ok(HttpResponse::Ok().json(ProbeResponse {
            status: "ready".into(),
            degraded: state.readiness.degraded(),
        }))
    } else {
        Err(ApiError::new(
            ErrorCode::NotReady,
            format!("not ready: {}", blockers.join(", ")),
        ))
    }
}
