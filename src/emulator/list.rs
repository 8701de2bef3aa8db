//! list's parameters (filter, orderBy, pageSize, pageToken) and keyset paging over the directory.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::accounts::{Account, Directory, State};
use super::page_token::PageTokenKey;
use super::wire::{GoogleError, invitation_json};

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 200;

/// The field list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Email,
    UpdateTime,
}

/// What one list call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    states: Option<BTreeSet<State>>,
    field: Field,
    descending: bool,
    page_size: usize,
    page_token: Option<String>,
}

/// The keyset cursor inside a page token, bound to the filter and order it was made for.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    /// Hash of the normalised filter and orderBy.
    q: String,
    /// Update time in milliseconds of the last item shown (update_time order only).
    t: Option<i64>,
    /// Lower-cased email of the last item shown.
    e: String,
}

impl ListQuery {
    /// Reads list's parameters; Google's ignored system parameters have already been removed.
    pub fn parse(params: &[(String, String)]) -> Result<ListQuery, GoogleError> {
        let mut query = ListQuery {
            states: None,
            field: Field::Email,
            descending: false,
            page_size: DEFAULT_PAGE_SIZE,
            page_token: None,
        };
        for (name, value) in params {
            match name.as_str() {
                "filter" => query.states = parse_filter(value)?,
                "orderBy" => (query.field, query.descending) = parse_order_by(value)?,
                "pageSize" => query.page_size = parse_page_size(value)?,
                "pageToken" if value.is_empty() => query.page_token = None,
                "pageToken" => query.page_token = Some(value.clone()),
                other => {
                    return Err(GoogleError::invalid_argument(format!(
                        "Invalid JSON payload received. Unknown name \"{other}\": Cannot bind query parameter."
                    )));
                }
            }
        }
        Ok(query)
    }

    /// Runs the query: one page of visible invitations and, when more follow, the next token.
    pub fn run(&self, directory: &Directory, key: &PageTokenKey) -> Result<Value, GoogleError> {
        let fingerprint = self.fingerprint();
        let cursor = match &self.page_token {
            Some(token) => Some(decode_token(key, token, &fingerprint)?),
            None => None,
        };
        let mut matching: Vec<&Account> = directory
            .visible()
            .filter(|account| {
                self.states
                    .as_ref()
                    .is_none_or(|states| states.contains(&account.state))
            })
            .filter(|account| {
                cursor
                    .as_ref()
                    .is_none_or(|cursor| self.is_after(account, cursor))
            })
            .collect();
        matching.sort_by_cached_key(|account| self.sort_key(account));
        if self.descending {
            matching.reverse();
        }
        let page: Vec<&Account> = matching.iter().take(self.page_size).copied().collect();
        let mut answer = Map::new();
        if !page.is_empty() {
            let items = page
                .iter()
                .map(|account| Value::Object(invitation_json(account)))
                .collect();
            answer.insert("userInvitations".into(), Value::Array(items));
        }
        if let (true, Some(last)) = (matching.len() > page.len(), page.last()) {
            answer.insert(
                "nextPageToken".into(),
                Value::String(self.encode_token(key, last, fingerprint)),
            );
        }
        Ok(Value::Object(answer))
    }

    /// Sort key: ties in update_time are broken by email so paging is stable.
    fn sort_key(&self, account: &Account) -> (i64, String) {
        let time = match self.field {
            Field::Email => 0,
            Field::UpdateTime => account.update_time.timestamp_millis(),
        };
        (time, account.key())
    }

    fn is_after(&self, account: &Account, cursor: &PageToken) -> bool {
        let (time, email) = self.sort_key(account);
        let key = (time, email.as_str());
        let last = (cursor.t.unwrap_or(0), cursor.e.as_str());
        if self.descending {
            key < last
        } else {
            key > last
        }
    }

    /// Hash of the parameters a page token must be used with (pageSize may change between pages).
    fn fingerprint(&self) -> String {
        let states: Vec<&str> = self
            .states
            .iter()
            .flatten()
            .map(|state| state.as_str())
            .collect();
        let canonical = format!("{states:?}|{:?}|{}", self.field, self.descending);
        let digest = Sha256::digest(canonical.as_bytes());
        digest
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn encode_token(&self, key: &PageTokenKey, last: &Account, fingerprint: String) -> String {
        let token = PageToken {
            q: fingerprint,
            t: (self.field == Field::UpdateTime).then(|| last.update_time.timestamp_millis()),
            e: last.key(),
        };
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&token).unwrap_or_default();
        key.seal(&json)
    }
}

fn decode_token(
    key: &PageTokenKey,
    token: &str,
    fingerprint: &str,
) -> Result<PageToken, GoogleError> {
    let invalid = || GoogleError::invalid_argument("Invalid page token.");
    let bytes = key.open(token).ok_or_else(invalid)?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.q != fingerprint {
        return Err(GoogleError::invalid_argument(
            "The page token does not match the request: filter and orderBy must stay the same.",
        ));
    }
    Ok(token)
}

/// `state=='invited'||state=='declined'`; values case-insensitive; empty means every state.
fn parse_filter(filter: &str) -> Result<Option<BTreeSet<State>>, GoogleError> {
    if filter.trim().is_empty() {
        return Ok(None);
    }
    let invalid = || GoogleError::invalid_argument(format!("Invalid filter: {filter}"));
    let mut states = BTreeSet::new();
    for term in filter.split("||") {
        let value = term
            .trim()
            .strip_prefix("state")
            .and_then(|rest| rest.trim_start().strip_prefix("=="))
            .map(str::trim)
            .ok_or_else(invalid)?;
        let unquoted = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .ok_or_else(invalid)?;
        states.insert(State::parse_ignore_case(unquoted).ok_or_else(invalid)?);
    }
    Ok(Some(states))
}

/// `email`, `update_time`, each optionally `asc`/`desc`; empty means `email asc`; one field only.
fn parse_order_by(order_by: &str) -> Result<(Field, bool), GoogleError> {
    let invalid = || GoogleError::invalid_argument(format!("Invalid orderBy: {order_by}"));
    if order_by.contains(',') {
        return Err(GoogleError::invalid_argument(
            "Ordering by more than one field is not supported.",
        ));
    }
    let words: Vec<&str> = order_by.split_whitespace().collect();
    let (field, direction) = match words.as_slice() {
        [] => return Ok((Field::Email, false)),
        [field] => (*field, "asc"),
        [field, direction] => (*field, *direction),
        _ => return Err(invalid()),
    };
    let field = match field {
        "email" => Field::Email,
        "update_time" => Field::UpdateTime,
        _ => return Err(invalid()),
    };
    match direction {
        "asc" => Ok((field, false)),
        "desc" => Ok((field, true)),
        _ => Err(invalid()),
    }
}

/// A positive int32 (the discovery document's format): 201 up to `i32::MAX` is clamped to 200 as
/// Google does, while anything that is not an int32 (above `i32::MAX` included) is rejected.
fn parse_page_size(value: &str) -> Result<usize, GoogleError> {
    let size: i32 = value.trim().parse().map_err(|_| {
        GoogleError::invalid_argument(format!(
            "Invalid value at 'page_size' (TYPE_INT32), \"{value}\""
        ))
    })?;
    if size <= 0 {
        return Err(GoogleError::invalid_argument(format!(
            "Invalid pageSize: {value}"
        )));
    }
    Ok(usize::try_from(size).map_or(MAX_PAGE_SIZE, |size| size.min(MAX_PAGE_SIZE)))
}
