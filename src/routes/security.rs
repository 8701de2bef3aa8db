//! How operations declare their scope in the OpenAPI document, consistently with the extractor.
//!
//! In a `#[utoipa::path]` write `security(("bearerAuth" = ["invitations.send"]))`; the name is
//! [`BEARER_SCHEME`](crate::routes::openapi::BEARER_SCHEME) and the scope [`Scope::as_str`].
//! A `Modify` can instead call [`require_scope`] (or [`require_any_scope`] for an operation that
//! admits any one of several scopes); tests read the result back with
//! [`declared_scopes`].

use crate::auth::Scope;
use crate::routes::openapi::BEARER_SCHEME;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;

/// The security requirement of an operation that needs `scope`.
pub fn security_requirement(scope: Scope) -> SecurityRequirement {
    SecurityRequirement::new(BEARER_SCHEME, [scope.as_str()])
}

/// Makes `operation` require a bearer token with `scope` (replacing any other requirement).
pub fn require_scope(operation: &mut Operation, scope: Scope) {
    require_any_scope(operation, &[scope]);
}

/// Makes `operation` require a bearer token with any one of `scopes`: one security requirement
/// per scope, which OpenAPI reads as alternatives (replacing any other requirement).
pub fn require_any_scope(operation: &mut Operation, scopes: &[Scope]) {
    operation.security = Some(scopes.iter().copied().map(security_requirement).collect());
}

/// The bearer scopes `operation` declares, in order (empty when it declares none); several are
/// alternatives: a token with any one of them is admitted.
pub fn declared_scopes(operation: &Operation) -> Vec<String> {
    let Some(requirements) = &operation.security else {
        return Vec::new();
    };
    requirements
        .iter()
        .filter_map(|requirement| serde_json::to_value(requirement).ok())
        .filter_map(|value| value.get(BEARER_SCHEME).cloned())
        .filter_map(|scopes| serde_json::from_value::<Vec<String>>(scopes).ok())
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::OperationBuilder;

    #[test]
    fn a_required_scope_reads_back() {
        let mut operation = OperationBuilder::new().build();
        assert!(declared_scopes(&operation).is_empty());
        require_scope(&mut operation, Scope::Send);
        assert_eq!(declared_scopes(&operation), vec!["invitations.send"]);
        require_any_scope(&mut operation, &[Scope::Send, Scope::Check]);
        assert_eq!(
            declared_scopes(&operation),
            vec!["invitations.send", "invitations.check"]
        );
        let security = serde_json::to_value(&operation.security).unwrap();
        assert_eq!(
            security,
            serde_json::json!([
                { BEARER_SCHEME: ["invitations.send"] },
                { BEARER_SCHEME: ["invitations.check"] }
            ])
        );
    }
}
