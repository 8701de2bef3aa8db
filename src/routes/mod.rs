//! HTTP handlers, one file per resource, and the route table.

pub mod audit;
pub mod authorized;
pub mod campaigns;
pub mod common;
pub mod console;
pub mod eligibility;
pub mod headers;
pub mod health;
pub mod invitations;
pub mod json;
pub mod metrics;
pub mod mutations;
pub mod openapi;
pub mod operations;
pub mod people;
pub mod query;
pub mod security;
pub mod tracking;

use crate::error::{ApiError, ErrorCode, sanitize_parse_error};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use utoipa_swagger_ui::SwaggerUi;

/// Registers every route (the documented operations from `operations`, the scrape, the console,
/// the OpenAPI document and Swagger UI), the extractor error handlers and the fallback for
/// unknown paths.
pub fn configure(json_limit_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(json_config(json_limit_bytes))
            .app_data(query_config())
            .service(web::resource("/metrics").route(web::get().to(metrics::scrape_metrics)))
            .configure(operations::register)
            .configure(console::register)
            .service(web::resource("/swagger-ui").route(web::get().to(redirect_to_swagger_ui)))
            .service(
                web::resource(openapi::DOCUMENT_PATH)
                    .guard(guard::Get())
                    .to(openapi::serve_document),
            )
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .config(utoipa_swagger_ui::Config::new([openapi::DOCUMENT_PATH])),
            )
            .default_service(web::to(no_route));
    }
}

/// Bad JSON bodies become `invalid_request` (or `payload_too_large`) problems; the detail says
/// where the body is wrong without echoing what the caller sent.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let api_error = match &err {
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("The request body exceeds {limit} bytes."),
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "The request body must be application/json.",
                ),
                JsonPayloadError::Deserialize(e) => json::invalid_json(e),
                _ => ApiError::new(
                    ErrorCode::InvalidRequest,
                    "The request body could not be read.",
                ),
            };
            // The cause goes to the log, so it is sanitised too: the body may hold emails.
            api_error
                .with_cause(anyhow::anyhow!(
                    "{}",
                    sanitize_parse_error(&err.to_string())
                ))
                .into()
        })
}

/// Bad query strings become `invalid_query` problems.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => sanitize_parse_error(&e.to_string()),
            _ => "The query string could not be parsed.".to_owned(),
        };
        ApiError::new(ErrorCode::InvalidQuery, format!("Invalid query: {detail}")).into()
    })
}

/// `/swagger-ui` without the slash: Swagger UI needs the slash for its relative assets.
async fn redirect_to_swagger_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/swagger-ui/"))
        .finish()
}

/// Nothing matched: 405 when the path exists with other methods, 404 otherwise.
async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(if req.resource_map().has_resource(req.path()) {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed on this path.", req.method()),
        )
    } else {
        ApiError::new(ErrorCode::NotFound, "There is nothing at this path.")
    })
}

#[cfg(test)]
mod tests {
    //! The JSON extractor settings are shared by every `/v1` operation; these tests drive them
    //! through the real middleware stack with a probe route, before any operation uses them.
    use super::*;
    use crate::middleware::{problems, request_id};
    use actix_web::middleware::from_fn;
    use actix_web::{App, test};

    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        emails: Vec<String>,
    }

    async fn echo(body: web::Json<Probe>) -> HttpResponse {
        HttpResponse::Ok().json(body.into_inner())
    }

    async fn call(body: &'static [u8], content_type: &str) -> (u16, serde_json::Value) {
        let app = test::init_service(
            App::new()
                .configure(configure(1024))
                .route("/probe", web::post().to(echo))
                .wrap(from_fn(problems::render_problems))
                .wrap(from_fn(request_id::observe_request)),
        )
        .await;
        let request = test::TestRequest::post()
            .uri("/probe")
            .insert_header(("content-type", content_type))
            .set_payload(body)
            .to_request();
        let response = test::call_service(&app, request).await;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").cloned();
        let body: serde_json::Value = test::read_body_json(response).await;
        if status >= 400 {
            assert_eq!(content_type.unwrap(), "application/problem+json");
        }
        (status, body)
    }

    #[actix_web::test]
    async fn malformed_json_is_an_invalid_request_problem() {
        let (status, body) = call(b"{\"emails\": [", "application/json").await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], "invalid_request");
        assert!(
            body["detail"].as_str().unwrap().contains("line 1"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn oversized_body_is_a_413_problem() {
        static BIG: [u8; 4096] = [b' '; 4096];
        let (status, body) = call(&BIG, "application/json").await;
        assert_eq!(status, 413);
        assert_eq!(body["code"], "payload_too_large");
    }

    #[actix_web::test]
    async fn wrong_content_type_is_a_415_problem() {
        let (status, body) = call(b"{}", "text/plain").await;
        assert_eq!(status, 415);
        assert_eq!(body["code"], "unsupported_media_type");
    }

    #[actix_web::test]
    async fn type_errors_name_the_problem_without_echoing_values() {
        let (status, body) = call(br#"{"emails": "ada@example.com"}"#, "application/json").await;
        assert_eq!(status, 400);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("invalid type"), "{detail}");
        assert!(!body.to_string().contains("ada@"), "{body}");
    }

    #[actix_web::test]
    async fn unknown_fields_are_named() {
        let (status, body) = call(br#"{"emails": [], "resendd": true}"#, "application/json").await;
        assert_eq!(status, 400);
        assert!(
            body["detail"].as_str().unwrap().contains("`resendd`"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn a_valid_body_reaches_the_handler() {
        let (status, body) = call(br#"{"emails": ["a@b.c"]}"#, "application/json").await;
        assert_eq!(status, 200);
        assert_eq!(body["emails"][0], "a@b.c");
    }
}
