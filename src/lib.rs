//! invitation-gateway: an OpenAPI-documented gateway in front of Google's Cloud Identity
//! User Invitation API.

pub mod emulator;
