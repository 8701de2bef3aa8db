//! Request metrics: one count and one latency sample per answered request.
//!
//! Labelled by the route template, never the raw path: paths may carry anything a caller typed
//! (an email, a token pasted by mistake), and every distinct path would be a new time series.

use crate::metrics;
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::time::Instant;

/// The `route` label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Counts the request and records its latency once the answer is ready.
pub async fn record_http_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    metrics::http_request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    Ok(response)
}
