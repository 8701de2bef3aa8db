//! The emulated methods: what stats count and what faults target.

use serde::Deserialize;

use super::{
    CLOUD_PLATFORM_SCOPE, IAM_SCOPE, USERINVITATIONS_READONLY_SCOPE, USERINVITATIONS_SCOPE,
};

/// A method of the emulated Google APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// User Invitation list.
    List,
    /// User Invitation get.
    Get,
    /// User Invitation isInvitableUser.
    IsInvitableUser,
    /// User Invitation send.
    Send,
    /// User Invitation cancel.
    Cancel,
    /// OAuth token endpoint.
    Token,
    /// IAM Credentials signJwt.
    SignJwt,
}

impl Method {
    /// Every method, in the order stats list them.
    pub const ALL: [Method; 7] = [
        Method::List,
        Method::Get,
        Method::IsInvitableUser,
        Method::Send,
        Method::Cancel,
        Method::Token,
        Method::SignJwt,
    ];

    /// The name stats and fault rules use.
    pub fn name(self) -> &'static str {
        match self {
            Method::List => "list",
            Method::Get => "get",
            Method::IsInvitableUser => "isInvitableUser",
            Method::Send => "send",
            Method::Cancel => "cancel",
            Method::Token => "token",
            Method::SignJwt => "signJwt",
        }
    }

    /// Whether this is one of the five User Invitation methods (the ones global latency slows).
    pub fn is_invitation_api(self) -> bool {
        !matches!(self, Method::Token | Method::SignJwt)
    }

    /// Whether the method changes state (and so needs the read-write scope).
    pub fn is_write(self) -> bool {
        matches!(self, Method::Send | Method::Cancel)
    }

    /// Scopes of which a bearer token needs one; the token endpoint takes no bearer token.
    pub fn accepted_scopes(self) -> &'static [&'static str] {
        match self {
            Method::List | Method::Get | Method::IsInvitableUser => {
                &[USERINVITATIONS_SCOPE, USERINVITATIONS_READONLY_SCOPE]
            }
            Method::Send | Method::Cancel => &[USERINVITATIONS_SCOPE],
            Method::SignJwt => &[CLOUD_PLATFORM_SCOPE, IAM_SCOPE],
            Method::Token => &[],
        }
    }

    /// Index into per-method counters.
    pub fn index(self) -> usize {
        self as usize
    }
}
