//! Google's canonical error codes (`google.rpc.Code`), the `status` of an error answer.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Google's canonical status of a failed call, read from the SCREAMING_SNAKE_CASE name.
///
/// There is no `Ok`: only failures carry one. A name this list does not know reads as
/// [`Status::Unknown`], as gRPC reads a code outside its table, so a status Google adds later
/// is never mistaken for one the gateway acts on (`NOT_FOUND`, `FAILED_PRECONDITION`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", from = "String")]
pub enum Status {
    /// The caller gave up (HTTP 499).
    Cancelled,
    /// An error without a better code, or a name this list does not know (HTTP 500).
    Unknown,
    /// The request is malformed, whatever the state (HTTP 400).
    InvalidArgument,
    /// The deadline passed before the operation finished (HTTP 504).
    DeadlineExceeded,
    /// No such resource (HTTP 404); for get, also an invitation not visible yet.
    NotFound,
    /// The resource exists already (HTTP 409).
    AlreadyExists,
    /// The caller may not do this (HTTP 403).
    PermissionDenied,
    /// Quota or rate limit (HTTP 429).
    ResourceExhausted,
    /// The resource is not in a state that allows this, e.g. not invitable (HTTP 400).
    FailedPrecondition,
    /// A concurrency conflict (HTTP 409).
    Aborted,
    /// Past the valid range (HTTP 400).
    OutOfRange,
    /// Not implemented or not supported (HTTP 501).
    Unimplemented,
    /// A broken invariant at Google (HTTP 500).
    Internal,
    /// Google is unavailable for now (HTTP 503).
    Unavailable,
    /// Unrecoverable data loss (HTTP 500).
    DataLoss,
    /// No valid credentials (HTTP 401).
    Unauthenticated,
}

impl Status {
    /// Every status, in `google.rpc.Code` order.
    pub const ALL: [Status; 16] = [
        Status::Cancelled,
        Status::Unknown,
        Status::InvalidArgument,
        Status::DeadlineExceeded,
        Status::NotFound,
        Status::AlreadyExists,
        Status::PermissionDenied,
        Status::ResourceExhausted,
        Status::FailedPrecondition,
        Status::Aborted,
        Status::OutOfRange,
        Status::Unimplemented,
        Status::Internal,
        Status::Unavailable,
        Status::DataLoss,
        Status::Unauthenticated,
    ];

    /// Google's name (also the log and metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Cancelled => "CANCELLED",
            Status::Unknown => "UNKNOWN",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Status::NotFound => "NOT_FOUND",
            Status::AlreadyExists => "ALREADY_EXISTS",
            Status::PermissionDenied => "PERMISSION_DENIED",
            Status::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Status::FailedPrecondition => "FAILED_PRECONDITION",
            Status::Aborted => "ABORTED",
            Status::OutOfRange => "OUT_OF_RANGE",
            Status::Unimplemented => "UNIMPLEMENTED",
            Status::Internal => "INTERNAL",
            Status::Unavailable => "UNAVAILABLE",
            Status::DataLoss => "DATA_LOSS",
            Status::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The gRPC code (`google.rpc.Code`: CANCELLED is 1, UNAUTHENTICATED 16).
    pub fn code(self) -> i32 {
        match self {
            Status::Cancelled => 1,
            Status::Unknown => 2,
            Status::InvalidArgument => 3,
            Status::DeadlineExceeded => 4,
            Status::NotFound => 5,
            Status::AlreadyExists => 6,
            Status::PermissionDenied => 7,
            Status::ResourceExhausted => 8,
            Status::FailedPrecondition => 9,
            Status::Aborted => 10,
            Status::OutOfRange => 11,
            Status::Unimplemented => 12,
            Status::Internal => 13,
            Status::Unavailable => 14,
            Status::DataLoss => 15,
            Status::Unauthenticated => 16,
        }
    }

    /// The status of a gRPC code, as an operation's error carries it: `None` for 0 (OK, no
    /// failure), `UNKNOWN` for a code outside the table.
    pub fn from_code(code: i32) -> Option<Status> {
        if code == 0 {
            return None;
        }
        let known = Status::ALL.into_iter().find(|status| status.code() == code);
        Some(known.unwrap_or(Status::Unknown))
    }

    /// The HTTP code Google answers this status with (the mapping documented on
    /// `google.rpc.Code`).
    pub fn http_code(self) -> u16 {
        match self {
            Status::Cancelled => 499,
            Status::Unknown | Status::Internal | Status::DataLoss => 500,
            Status::InvalidArgument | Status::FailedPrecondition | Status::OutOfRange => 400,
            Status::DeadlineExceeded => 504,
            Status::NotFound => 404,
            Status::AlreadyExists | Status::Aborted => 409,
            Status::PermissionDenied => 403,
            Status::ResourceExhausted => 429,
            Status::Unimplemented => 501,
            Status::Unavailable => 503,
            Status::Unauthenticated => 401,
        }
    }

    /// The status an error answer with this HTTP code stands for when its body names none (an
    /// HTML page from a proxy, an empty body). Where `google.rpc.Code` pairs several statuses
    /// with one code, the generic one is taken (400 `INVALID_ARGUMENT`, 409 `ABORTED`, 5xx
    /// `INTERNAL`). Any other 4xx is `UNKNOWN`, not `FAILED_PRECONDITION`: the domain reads
    /// `FAILED_PRECONDITION` as "Google refused on the invitation's state", which a bare 405 or
    /// 413 does not prove.
    pub fn from_http(http_code: u16) -> Status {
        match http_code {
            400 => Status::InvalidArgument,
            401 => Status::Unauthenticated,
            403 => Status::PermissionDenied,
            404 => Status::NotFound,
            409 => Status::Aborted,
            429 => Status::ResourceExhausted,
            499 => Status::Cancelled,
            501 => Status::Unimplemented,
            503 => Status::Unavailable,
            504 => Status::DeadlineExceeded,
            500..=599 => Status::Internal,
            _ => Status::Unknown,
        }
    }
}

impl From<&str> for Status {
    fn from(name: &str) -> Self {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .unwrap_or(Status::Unknown)
    }
}

impl From<String> for Status {
    fn from(name: String) -> Self {
        Status::from(name.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_status_and_writes_as_the_same_name() {
        for status in Status::ALL {
            let name = serde_json::json!(status.as_str());
            let read: Status = serde_json::from_value(name.clone()).unwrap();
            assert_eq!(read, status, "{name}");
            assert_eq!(serde_json::to_value(status).unwrap(), name);
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn a_name_google_adds_later_reads_as_unknown() {
        let read = |name: &str| serde_json::from_value::<Status>(serde_json::json!(name)).unwrap();
        assert_eq!(read("SOMETHING_NEW"), Status::Unknown);
        assert_eq!(
            read("not_found"),
            Status::Unknown,
            "names are case-sensitive"
        );
        assert_eq!(read("OK"), Status::Unknown, "OK is no failure");
    }

    #[test]
    fn each_status_pairs_with_its_grpc_code() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(status), "{status}");
        }
        assert_eq!(Status::Cancelled.code(), 1);
        assert_eq!(Status::FailedPrecondition.code(), 9);
        assert_eq!(Status::Unauthenticated.code(), 16);
        assert_eq!(Status::from_code(0), None, "OK is no failure");
        assert_eq!(Status::from_code(17), Some(Status::Unknown));
        assert_eq!(Status::from_code(-1), Some(Status::Unknown));
    }

    #[test]
    fn each_status_pairs_with_googles_http_code() {
        let pairs = [
            (Status::Cancelled, 499),
            (Status::Unknown, 500),
            (Status::InvalidArgument, 400),
            (Status::DeadlineExceeded, 504),
            (Status::NotFound, 404),
            (Status::AlreadyExists, 409),
            (Status::PermissionDenied, 403),
            (Status::ResourceExhausted, 429),
            (Status::FailedPrecondition, 400),
            (Status::Aborted, 409),
            (Status::OutOfRange, 400),
            (Status::Unimplemented, 501),
            (Status::Internal, 500),
            (Status::Unavailable, 503),
            (Status::DataLoss, 500),
            (Status::Unauthenticated, 401),
        ];
        assert_eq!(pairs.len(), Status::ALL.len());
        for (status, code) in pairs {
            assert_eq!(status.http_code(), code, "{status}");
        }
    }

    #[test]
    fn a_bare_http_code_stands_for_the_generic_status_of_its_class() {
        for status in Status::ALL {
            let back = Status::from_http(status.http_code());
            assert_eq!(
                back.http_code(),
                status.http_code(),
                "{status} -> {back} keeps the code"
            );
        }
        for (code, status) in [
            (400, Status::InvalidArgument),
            (401, Status::Unauthenticated),
            (403, Status::PermissionDenied),
            (404, Status::NotFound),
            (409, Status::Aborted),
            (429, Status::ResourceExhausted),
            (499, Status::Cancelled),
            (500, Status::Internal),
            (501, Status::Unimplemented),
            (502, Status::Internal),
            (503, Status::Unavailable),
            (504, Status::DeadlineExceeded),
            (405, Status::Unknown),
            (413, Status::Unknown),
            (302, Status::Unknown),
        ] {
            assert_eq!(Status::from_http(code), status, "HTTP {code}");
        }
    }
}
