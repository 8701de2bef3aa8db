//! The documented operations, listed once. Each operation's path and method are written once, in
//! its handler's `#[utoipa::path]`; its scope once, as the `Authorized<S>` argument the handler
//! takes. The route table and the OpenAPI document's paths and security are generated from the
//! list below, so a route cannot be served where the document does not say, nor documented with
//! another scope than the one it enforces.

use crate::auth::{RequiredScope, Scope};
use crate::routes::authorized::Authorized;
use crate::routes::security::require_any_scope;
use crate::routes::{
    audit, campaigns, eligibility, health, invitations, mutations, people, tracking,
};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, Route, web};
use std::collections::BTreeMap;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::{Modify, OpenApi};

/// A handler whose first argument is `Authorized<S>`: the scopes it admits, read from its type.
pub trait ScopedHandler<Args> {
    /// The scopes of which the handler's `Authorized<S>` argument demands one.
    const SCOPES: &'static [Scope];
}

macro_rules! scoped_handler {
    ($($arg:ident),*) => {
        impl<F, Fut, S: RequiredScope, $($arg,)*> ScopedHandler<(Authorized<S>, $($arg,)*)> for F
        where
            F: Fn(Authorized<S>, $($arg,)*) -> Fut,
        {
            const SCOPES: &'static [Scope] = S::ANY_OF;
        }
    };
}

scoped_handler!();
scoped_handler!(A);
scoped_handler!(A, B);
scoped_handler!(A, B, C);
scoped_handler!(A, B, C, D);

/// The scopes `handler` admits (a handler without an `Authorized<S>` first argument does not
/// compile here).
fn scopes_of<H: ScopedHandler<Args>, Args>(_handler: &H) -> &'static [Scope] {
    H::SCOPES
}

/// Adds `handler` to `routes` at the path and method `locations` gives its operation.
fn route<H, Args>(
    routes: &mut BTreeMap<String, Vec<Route>>,
    locations: &Locations,
    operation_id: &str,
    handler: H,
) where
    H: Handler<Args>,
    Args: FromRequest + 'static,
    H::Output: Responder + 'static,
{
    let (path, method) = locations
        .get(operation_id)
        .cloned()
        .expect("every listed operation is in the document the same list generates");
    routes
        .entry(path)
        .or_default()
        .push(web::method(method).to(handler));
}

/// Where each operation is served (path and method), by operation id.
type Locations = BTreeMap<String, (String, Method)>;

/// Where each operation of `doc` is served.
fn locations_of(doc: &utoipa::openapi::OpenApi) -> Locations {
    doc.paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ]
            .into_iter()
            .filter_map(move |(method, op)| {
                let id = op.as_ref()?.operation_id.clone()?;
                Some((id, (path.clone(), method)))
            })
        })
        .collect()
}

/// The operation `operation_id` of `doc`.
fn operation<'d>(doc: &'d mut utoipa::openapi::OpenApi, operation_id: &str) -> &'d mut Operation {
    doc.paths
        .paths
        .values_mut()
        .flat_map(|item: &mut PathItem| {
            [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .filter_map(Option::as_mut)
        })
        .find(|op| op.operation_id.as_deref() == Some(operation_id))
        .expect("every listed operation is in the document the same list generates")
}

macro_rules! operations {
    (
        public: [$($pm:ident::$ph:ident),* $(,)?],
        authorized: [$($am:ident::$ah:ident),* $(,)?] $(,)?
    ) => {
        /// The paths of every documented operation (merged into the document by [`Documented`]).
        #[derive(OpenApi)]
        #[openapi(paths($($pm::$ph,)* $($am::$ah,)*))]
        struct Paths;

        /// Where each documented operation is served, read once per process from the paths
        /// of its document (each actix worker registers the routes: building the whole
        /// document per worker left about 3 MiB of freed heap in each worker's malloc arena).
        /// The first call builds it: [`crate::startup`] makes it before the workers start.
        pub fn locations() -> &'static Locations {
            static LOCATIONS: std::sync::OnceLock<Locations> = std::sync::OnceLock::new();
            LOCATIONS.get_or_init(|| locations_of(&Paths::openapi()))
        }

        /// Registers every documented operation at the path and method its document gives.
        pub fn register(cfg: &mut web::ServiceConfig) {
            let locations = locations();
            let mut routes = BTreeMap::new();
            $(route(&mut routes, locations, stringify!($ph), $pm::$ph);)*
            $(route(&mut routes, locations, stringify!($ah), $am::$ah);)*
            // Fixed paths first: actix tries resources in the order registered, and matches
            // a path with a `{parameter}` by a regex (a cached check tried six of them, 12 % of
            // its instructions). The order changes no match: a fixed path sorts before every
            // parameterised pattern that could match it ('{' sorts after the letters).
            let (fixed, parameterised): (Vec<_>, Vec<_>) =
                routes.into_iter().partition(|(path, _)| !path.contains('{'));
            for (path, routes) in fixed.into_iter().chain(parameterised) {
                let resource = routes
                    .into_iter()
                    .fold(web::resource(path), |resource, route| resource.route(route));
                cfg.service(resource);
            }
        }

        /// The scopes each authorized operation admits (any one of them), by operation id.
        pub fn scopes() -> Vec<(&'static str, &'static [Scope])> {
            vec![$((stringify!($ah), scopes_of(&$am::$ah)),)*]
        }
    };
}

operations! {
    public: [health::livez, health::readyz],
    authorized: [
        eligibility::check_eligibility,
        invitations::lookup_invitations,
        invitations::list_invitations,
        invitations::summarize_invitations,
        invitations::export_invitations,
        mutations::send_invitations,
        mutations::cancel_invitations,
        audit::list_audit,
        audit::search_audit,
        tracking::invitation_funnel,
        tracking::tracking_overview,
        tracking::invitation_history,
        tracking::list_events,
        people::lookup_person,
        campaigns::create_campaign,
        campaigns::create_roster_campaign,
        campaigns::list_campaigns,
        campaigns::get_campaign,
        campaigns::list_campaign_items,
        campaigns::campaign_report,
        campaigns::pause_campaign,
        campaigns::resume_campaign,
        campaigns::cancel_campaign,
        campaigns::run_campaign,
        campaigns::campaign_resolution,
        campaigns::archive_campaign,
        campaigns::unarchive_campaign,
    ],
}

/// Adds every documented operation to the document, each authorized one requiring the bearer
/// JWT with the scope its handler enforces (alternatives when it admits any of several).
pub struct Documented;

impl Modify for Documented {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(Paths::openapi());
        for (operation_id, scopes) in scopes() {
            require_any_scope(operation(openapi, operation_id), scopes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::openapi::BEARER_SCHEME;

    #[test]
    fn each_operation_is_served_where_documented_with_the_scope_its_handler_enforces() {
        let doc = crate::routes::openapi::document();
        let expected = [
            (
                "check_eligibility",
                "/v1/eligibility/check",
                Method::POST,
                &[Scope::Check][..],
            ),
            (
                "lookup_invitations",
                "/v1/invitations/lookup",
                Method::POST,
                &[Scope::Read][..],
            ),
            (
                "list_invitations",
                "/v1/invitations",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "summarize_invitations",
                "/v1/invitations/summary",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "export_invitations",
                "/v1/invitations/export",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "send_invitations",
                "/v1/invitations/send",
                Method::POST,
                &[Scope::Send][..],
            ),
            (
                "cancel_invitations",
                "/v1/invitations/cancel",
                Method::POST,
                &[Scope::Cancel][..],
            ),
            (
                "list_audit",
                "/v1/audit",
                Method::GET,
                &[Scope::AuditRead][..],
            ),
            (
                "search_audit",
                "/v1/audit/search",
                Method::POST,
                &[Scope::AuditRead][..],
            ),
            (
                "invitation_funnel",
                "/v1/invitations/funnel",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "tracking_overview",
                "/v1/tracking/overview",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "invitation_history",
                "/v1/invitations/history",
                Method::POST,
                &[Scope::Read][..],
            ),
            ("list_events", "/v1/events", Method::GET, &[Scope::Read][..]),
            (
                "lookup_person",
                "/v1/people/lookup",
                Method::POST,
                &[Scope::Read][..],
            ),
            (
                "create_campaign",
                "/v1/campaigns",
                Method::POST,
                &[Scope::Send, Scope::Check][..],
            ),
            (
                "create_roster_campaign",
                "/v1/campaigns/roster",
                Method::POST,
                &[Scope::Send, Scope::Check][..],
            ),
            (
                "list_campaigns",
                "/v1/campaigns",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "get_campaign",
                "/v1/campaigns/{id}",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "list_campaign_items",
                "/v1/campaigns/{id}/items",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "campaign_report",
                "/v1/campaigns/{id}/report",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "pause_campaign",
                "/v1/campaigns/{id}/pause",
                Method::POST,
                &[Scope::Send][..],
            ),
            (
                "resume_campaign",
                "/v1/campaigns/{id}/resume",
                Method::POST,
                &[Scope::Send][..],
            ),
            (
                "cancel_campaign",
                "/v1/campaigns/{id}/cancel",
                Method::POST,
                &[Scope::Send][..],
            ),
            (
                "run_campaign",
                "/v1/campaigns/{id}/run",
                Method::POST,
                &[Scope::Send][..],
            ),
            (
                "campaign_resolution",
                "/v1/campaigns/{id}/resolution",
                Method::GET,
                &[Scope::Read][..],
            ),
            (
                "archive_campaign",
                "/v1/campaigns/{id}/archive",
                Method::POST,
                &[Scope::Send, Scope::Check][..],
            ),
            (
                "unarchive_campaign",
                "/v1/campaigns/{id}/unarchive",
                Method::POST,
                &[Scope::Send, Scope::Check][..],
            ),
        ];
        assert_eq!(scopes().len(), expected.len());
        for (id, path, method, admitted) in expected {
            assert_eq!(
                locations_of(&doc).get(id),
                Some(&(path.to_owned(), method.clone())),
                "{id}"
            );
            assert_eq!(locations().get(id), locations_of(&doc).get(id), "{id}");
            assert!(scopes().contains(&(id, admitted)), "{id}");
            let security = serde_json::to_value(&doc.paths.paths[path]).unwrap();
            let method = method.as_str().to_ascii_lowercase();
            let alternatives: Vec<_> = admitted
                .iter()
                .map(|scope| serde_json::json!({ BEARER_SCHEME: [scope.as_str()] }))
                .collect();
            assert_eq!(
                security[method.as_str()]["security"],
                serde_json::Value::Array(alternatives),
                "{id}"
            );
        }
        assert_eq!(
            locations_of(&doc).get("readyz"),
            Some(&("/readyz".to_owned(), Method::GET))
        );
    }
}
