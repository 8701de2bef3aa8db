//! The OpenAPI root: the bearer JWT scheme and the error schema; the operations come from
//! `operations`.

use crate::error::ProblemDocument;
use crate::routes::operations::Documented;
use crate::routes::{audit, health, invitations, tracking};
use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Name of the bearer JWT security scheme in the document.
pub const BEARER_SCHEME: &str = "bearerAuth";

/// The OpenAPI document of the gateway.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "invitation-gateway",
        description = "Find unmanaged Google accounts that use the company's domains, check that they \
            can be invited, invite them into the company's Google Workspace or Cloud Identity \
            account, and track or cancel those invitations.\n\nEvery `/v1` operation needs a \
            bearer JWT carrying the scope the operation names. Every error is an RFC 9457 \
            `application/problem+json` document with a stable `code`.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(
        ProblemDocument,
        health::ProbeResponse,
        invitations::StateFilter,
        crate::vocabulary::ItemOutcome,
        audit::AuditActionFilter,
        audit::AuditOutcomeFilter,
        tracking::InvitationSentEvent,
        tracking::InvitationAcceptedEvent,
        tracking::InvitationDeclinedEvent,
        tracking::InvitationCancelledEvent,
        tracking::CampaignCompletedEvent,
        tracking::CampaignDeadlineReachedEvent,
    )),
    modifiers(&BearerJwt, &Documented),
    tags(
        (name = "eligibility", description = "Can an address be invited?"),
        (name = "invitations", description = "Find, send, track and cancel invitations."),
        (name = "audit", description = "Who did what to whom: the audit trail (scope `audit.read`)."),
        (name = "tracking", description = "Who accepted and when: the funnel, each person's history, the event feed (the same events go to the webhooks)."),
        (name = "campaigns", description = "Durable bulk invitations at the quota's pace, with reminders, dry runs and progress."),
        (name = "operations", description = "Probes for the platform."),
    )
)]
pub struct ApiDoc;

/// Declares the bearer JWT scheme that the `/v1` operations require.
struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT from your identity provider (or `invitation-gateway token` locally) \
                         whose `scope` claim holds the scopes the operation names.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served at `/openapi.json` and printed by `invitation-gateway openapi`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Where the document is served (and where Swagger UI fetches it).
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// `GET /openapi.json`: the document as compact JSON, rendered once per process. Each actix
/// worker used to hold its own `OpenApi` value (about 3 MiB of heap each) and serialise it
/// per request; the bytes are now shared by every worker.
pub async fn serve_document() -> HttpResponse {
    static RENDERED: OnceLock<Bytes> = OnceLock::new();
    let body = RENDERED.get_or_init(|| {
        Bytes::from(
            serde_json::to_vec(&document()).expect("the OpenAPI document always serialises"),
        )
    });
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body.clone())
}

/// The document as pretty JSON with a trailing newline: the form committed in
/// `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document always serialises");
    json.push('\n');
    json
}
