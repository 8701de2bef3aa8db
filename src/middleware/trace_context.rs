//! W3C Trace Context: the `traceparent` header a load balancer or caller sends, parsed strictly
//! so that only well-formed ids reach the log lines (the request-id middleware records them).
//!
//! `version-traceid-parentid-flags`, lower-case hex: `00-4bf92f3577b34da6a3ce929d0e0e4736-
//! 00f067aa0ba902b7-01`. Version `ff`, all-zero ids, upper case, a wrong length or two headers
//! make the header invalid, and an invalid header is ignored (the request is served untraced).

use actix_web::http::header::{HeaderMap, HeaderName};

/// The W3C trace context header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The trace a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span: 16 lower-case hex digits, not all zero.
    pub span_id: String,
    /// The caller sampled this trace (flag bit 0).
    pub sampled: bool,
}

impl TraceContext {
    /// The trace context of a request: its single valid `traceparent` header, if any.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut values = headers.get_all(TRACEPARENT);
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        Self::parse(value.to_str().ok()?)
    }

    /// Parses one `traceparent` value; `None` unless it is well formed.
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        // Later versions may append fields after a dash; version 00 has exactly four.
        if bytes.len() < 55 {
            return None;
        }
        let version = value.get(0..2)?;
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        if version == "00" && bytes.len() != 55 {
            return None;
        }
        if bytes.len() > 55 && bytes[55] != b'-' {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id = value.get(3..35)?;
        let span_id = value.get(36..52)?;
        let flags = value.get(53..55)?;
        if !(is_lower_hex(trace_id) && is_lower_hex(span_id) && is_lower_hex(flags)) {
            return None;
        }
        if is_all_zero(trace_id) || is_all_zero(span_id) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            sampled: flags & 1 == 1,
        })
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_all_zero(text: &str) -> bool {
    text.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_parsed() {
        let context = TraceContext::parse(VALID).expect("valid");
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id, "00f067aa0ba902b7");
        assert!(context.sampled);
        let unsampled = TraceContext::parse(&VALID.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn later_versions_may_carry_more_fields() {
        let future = format!("cc{}-what-comes-next", &VALID[2..]);
        assert!(TraceContext::parse(&future).is_some());
        assert!(TraceContext::parse(&format!("cc{}x", &VALID[2..])).is_none());
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00-ada@example.com-000000000000000000-00f067aa0ba902b7-01",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn two_headers_make_the_context_invalid() {
        let mut headers = HeaderMap::new();
        headers.append(TRACEPARENT, VALID.parse().unwrap());
        assert!(TraceContext::from_headers(&headers).is_some());
        headers.append(TRACEPARENT, VALID.parse().unwrap());
        assert!(TraceContext::from_headers(&headers).is_none());
    }
}
