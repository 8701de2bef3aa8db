//! HTTP middleware, one per file. Order (outermost first): request id and access log, then
//! problem rendering, then the routes.

pub mod problems;
pub mod request_id;
