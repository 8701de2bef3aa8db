//! Parsing the raw request path of the Google routes, where `@` and `+` arrive unencoded.

use percent_encoding::percent_decode_str;

use super::method::Method;
use super::wire::GoogleError;

/// A parsed `/v1/customers/...` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    /// Decoded customer segment (not yet checked).
    pub customer: String,
    /// The method the path selects.
    pub method: Method,
    /// Decoded email, absent for list.
    pub email: Option<String>,
}

/// A parsed `/v1/projects/{project}/serviceAccounts/{email}:signJwt` path: the service account.
pub fn parse_sign_jwt_path(raw: &str) -> Result<String, GoogleError> {
    let rest = raw
        .strip_prefix("/v1/projects/")
        .ok_or_else(GoogleError::unknown_path)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let [project, "serviceAccounts", last] = segments.as_slice() else {
        return Err(GoogleError::unknown_path());
    };
    let (account, "signJwt") = last
        .rsplit_once(':')
        .ok_or_else(GoogleError::unknown_path)?
    else {
        return Err(GoogleError::unknown_path());
    };
    if project.is_empty() {
        return Err(GoogleError::unknown_path());
    }
    decode_email(account)
}

/// Parses `/v1/customers/{customer}/userinvitations[/{email}[:verb]]` from the raw, undecoded path.
pub fn parse_api_path(raw: &str) -> Result<ApiPath, GoogleError> {
    let rest = raw
        .strip_prefix("/v1/customers/")
        .ok_or_else(GoogleError::unknown_path)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let (customer, method, email) = match segments.as_slice() {
        [customer, "userinvitations"] => (*customer, Method::List, None),
        [customer, "userinvitations", last] => {
            // The verb follows the LAST colon: an address never contains one, a verb never does.
            let (email, method) = match last.rsplit_once(':') {
                None => (*last, Method::Get),
                Some((email, "isInvitableUser")) => (email, Method::IsInvitableUser),
                Some((email, "send")) => (email, Method::Send),
                Some((email, "cancel")) => (email, Method::Cancel),
                Some(_) => return Err(GoogleError::unknown_path()),
            };
            (*customer, method, Some(decode_email(email)?))
        }
        _ => return Err(GoogleError::unknown_path()),
    };
    let customer = percent_decode_str(customer)
        .decode_utf8()
        .map_err(|_| GoogleError::invalid_argument("Invalid customer."))?
        .into_owned();
    if customer.is_empty() {
        return Err(GoogleError::unknown_path());
    }
    Ok(ApiPath {
        customer,
        method,
        email,
    })
}

/// Percent-decodes an email segment; a literal `+` stays a plus (paths are not form-encoded).
fn decode_email(segment: &str) -> Result<String, GoogleError> {
    let invalid = || GoogleError::invalid_argument("Invalid email address in the resource name.");
    if !has_valid_escapes(segment) {
        return Err(invalid());
    }
    let email = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| invalid())?;
    if super::accounts::is_plausible_email(&email) {
        Ok(email.into_owned())
    } else {
        Err(invalid())
    }
}

/// Every `%` starts a two-hex-digit escape; percent_decode_str would pass a broken one through.
fn has_valid_escapes(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.iter().enumerate().all(|(index, &byte)| {
        byte != b'%'
            || bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_encoded_plus_decode_to_the_same_address() {
        for raw in ["grace+hr@example.com", "grace%2Bhr%40example.com"] {
            let path = parse_api_path(&format!(
                "/v1/customers/C0demo000/userinvitations/{raw}:send"
            ))
            .unwrap();
            assert_eq!(path.email.as_deref(), Some("grace+hr@example.com"));
            assert_eq!(path.method, Method::Send);
        }
    }

    #[test]
    fn bad_segments_are_rejected_without_panicking() {
        for raw in ["", "%", "%zz", "%ff%fe@x", "noat", "a%2Fb@x", "@x"] {
            let result = parse_api_path(&format!("/v1/customers/C/userinvitations/{raw}"));
            assert_eq!(result.map_err(|e| e.code), Err(400), "{raw}");
        }
    }
}
