//! A deadline for reading a request's body: `GATEWAY_BODY_READ_TIMEOUT_SECS` from its head on.
//!
//! actix's `client_request_timeout` bounds only the head; without this a caller with a valid
//! token could hold a connection open indefinitely by trickling its body. The payload stream is
//! wrapped with one deadline for the whole body: past it, the next read fails, whatever the
//! handler then answers is replaced by `408 request_timeout`, and the connection is closed (the
//! rest of the body would otherwise be read as the next request).

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::Stream;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// Answers 408 when the request body does not arrive within the body read timeout.
pub async fn limit_body_read_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.http.body_read_timeout);
    let payload = req.take_payload();
    let timeout = match timeout {
        Some(timeout) if !matches!(payload, Payload::None) => timeout,
        // No body to read: nothing to bound.
        _ => {
            req.set_payload(payload);
            return Ok(next.call(req).await?.map_into_left_body());
        }
    };
    let expired = Rc::new(Cell::new(false));
    let bounded: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(DeadlinePayload {
            inner: payload,
            deadline: Instant::now() + timeout,
            timer: None,
            expired: Rc::clone(&expired),
        });
    req.set_payload(Payload::from(bounded));
    let response = next.call(req).await?;
    if !expired.get() {
        return Ok(response.map_into_left_body());
    }
    let (req, _) = response.into_parts();
    let mut answer = ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "The request body did not arrive within {} s.",
            timeout.as_secs_f64()
        ),
    )
    .error_response();
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

/// The request's payload, failing once the deadline has passed while it waits for more.
struct DeadlinePayload {
    inner: Payload,
    deadline: Instant,
    // Made on the first wait only: most bodies arrive with the head and never need a timer.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
