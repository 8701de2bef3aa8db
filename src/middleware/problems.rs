//! Turns every error answer into an RFC 9457 problem document.
//!
//! Handlers' [`ApiError`](crate::error::ApiError)s attach a [`Problem`]; answers made elsewhere
//! (actix's 405 for a resource without that method, a payload error before a handler ran) get
//! one derived from their status. The body always carries the request id.

use crate::error::{ErrorCode, PROBLEM_CONTENT_TYPE, Problem, ProblemDocument};
use crate::middleware::request_id::RequestId;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

/// Renders the problem document of any 4xx/5xx answer.
pub async fn render_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Handlers' and extractors' errors arrive here as answers; an `Err` can only come from a
    // middleware inside this one and is rendered by actix itself (ApiError's own fallback body).
    // The request cannot be cloned before routing, so there is nothing to attach it to here.
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let problem = response.response().extensions().get::<Problem>().cloned();
    let problem = problem.unwrap_or_else(|| {
        let code = ErrorCode::for_status(status);
        Problem {
            code,
            detail: default_detail(code).to_owned(),
        }
    });
    let request_id = response
        .request()
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let mut document = ProblemDocument::new(&problem, &request_id);
    // RFC 9457: `status` is the status of the answer, also for one the code table has no code
    // of its own for (a 410 falls back to `invalid_request`, whose own status is 400).
    document.status = status.as_u16();
    let body = serde_json::to_vec(&document).map_err(actix_web::error::ErrorInternalServerError)?;
    let mut response = response.map_body(|_, _| BoxBody::new(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    Ok(response)
}

/// What to say when nothing more specific is known.
fn default_detail(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "There is nothing at this path.",
        ErrorCode::MethodNotAllowed => "This path does not accept this method.",
        ErrorCode::PayloadTooLarge => "The request body exceeds the size limit.",
        ErrorCode::UnsupportedMediaType => "The request body must be application/json.",
        ErrorCode::Internal => {
            "An internal error occurred; see the request id in the service logs."
        }
        _ => "The request could not be processed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    #[actix_web::test]
    async fn the_document_states_the_status_of_the_answer() {
        let app = test::init_service(
            App::new()
                .route(
                    "/gone",
                    web::get().to(|| async { HttpResponse::Gone().finish() }),
                )
                .wrap(from_fn(render_problems)),
        )
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/gone").to_request()).await;
        assert_eq!(response.status().as_u16(), 410);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["status"], 410, "{body}");
        assert_eq!(body["code"], "invalid_request", "{body}");
    }
}
