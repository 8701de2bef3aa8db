//! `/metrics`: the Prometheus scrape. Unauthenticated and outside `/v1`, like the probes; it
//! carries no personal data (see `crate::metrics` for what the labels may hold). Not in the
//! OpenAPI document: it is for the monitoring system, not for API callers.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The content type of Prometheus' text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric of the process in Prometheus' text format.
pub async fn scrape_metrics(state: web::Data<AppState>) -> HttpResponse {
    // An age only means something when read: set it now rather than from a timer.
    if let Some(age) = state.auth.jwks().and_then(|jwks| jwks.key_age()) {
        crate::metrics::jwks_key_age(age);
    }
    // The breaker's state moves with time too (open becomes half-open with no call).
    crate::metrics::breaker_state(state.invitations.breaker_state().label());
    // Likewise the cache's size: moka counts lazily, so settle it first.
    crate::metrics::eligibility_entries(state.invitations.eligibility().settled_len().await);
    // Readiness as /readyz would answer now, so that alerts see a check failing or a flapping probe.
    let readiness = &state.readiness;
    crate::metrics::readiness(readiness.blockers().is_empty(), readiness.check_states());
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE))
        .body(state.metrics.render())
}
