//! invitation-gateway: an OpenAPI-documented gateway in front of Google's Cloud Identity
//! User Invitation API. See README.md for what it does and how to run it, docs/ for the rest.

/// Implements `Debug` for a type that holds personal data or secrets: only the fields named,
/// the others elided (`..`), so that an email or a key never reaches a log through `{:?}`.
macro_rules! debug_fields {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod emulator;
pub mod error;
pub mod google;
pub mod invitations;
pub mod metrics;
pub mod middleware;
pub mod privacy;
pub mod readiness;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod traces;
pub mod tracking;
pub mod vocabulary;

/// Installs ring as the process-wide rustls crypto provider; idempotent.
///
/// Every TLS client in the tree (reqwest, gcp_auth's hyper client) then uses the same provider.
pub fn install_crypto_provider() {
    // An Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
