//! HTTP middleware, one per file. Order (outermost first): request id and access log, then
//! request metrics, then `Connection: close` while draining, then problem rendering, then the
//! routes.

pub mod draining;
pub mod http_metrics;
pub mod problems;
pub mod request_id;
pub mod trace_context;
