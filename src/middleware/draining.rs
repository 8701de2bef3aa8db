//! While the process drains, every answer closes its connection.
//!
//! A keep-alive client (or a proxy pooling connections to this pod) would otherwise keep
//! sending on its open connection until the listener closes and the request fails; told to
//! close, it reconnects, and the load balancer picks a replica that is not shutting down.

use crate::state::AppState;
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;

/// Marks answers `Connection: close` once draining has begun.
pub async fn close_connections_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let mut response = next.call(req).await?;
    // Checked after the handler: a request that began before SIGTERM still closes after it.
    if state.is_some_and(|state| state.readiness.is_draining()) {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}
