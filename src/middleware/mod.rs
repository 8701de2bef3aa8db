//! HTTP middleware, one per file. Order (outermost first): request id, access log and request
//! metrics, then `Connection: close` while draining, then compression, then problem rendering,
//! then the body read deadline, then the refusal of a NUL in the URL, then the routes.

pub mod body_timeout;
pub mod draining;
pub mod nul_guard;
pub mod problems;
pub mod request_id;
pub mod trace_context;
