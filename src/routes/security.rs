//! How operations declare their scope in the OpenAPI document, consistently with the extractor.
//!
//! In a `#[utoipa::path]` write `security(("bearerAuth" = ["invitations.send"]))`; the name is
//! [`BEARER_SCHEME`](crate::routes::openapi::BEARER_SCHEME) and the scope [`Scope::as_str`].
//! A `Modify` can instead call [`require_scope`]; tests read the result back with
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
    operation.security = Some(vec![security_requirement(scope)]);
}

/// The bearer scopes `operation` declares (empty when it declares none).
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
    }
}
