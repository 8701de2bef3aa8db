//! Reading many invitations: one page (list), all of them counted (summary), all of them
//! streamed (export).

use crate::google::{CallContext, GoogleClient, ListParams, UpstreamError};
use crate::invitations::outcome::{Failure, Invitation};
use crate::vocabulary::InvitationState;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Largest page Google serves.
pub const MAX_PAGE_SIZE: u32 = 200;

/// What to order a list by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderBy {
    /// Email, ascending (Google's default).
    #[default]
    Email,
    /// Email, descending.
    EmailDesc,
    /// Last update, oldest first.
    UpdateTime,
    /// Last update, newest first.
    UpdateTimeDesc,
}

impl OrderBy {
    /// Parses this API's syntax, exactly as documented: `email` or `updateTime`, optionally
    /// followed by one space and `asc` or `desc` (the OpenAPI pattern
    /// `^(email|updateTime)( (asc|desc))?$`).
    pub fn parse(text: &str) -> Option<OrderBy> {
        let (field, descending) = match text.split_once(' ') {
            None => (text, false),
            Some((field, "asc")) => (field, false),
            Some((field, "desc")) => (field, true),
            Some(_) => return None,
        };
        match (field, descending) {
            ("email", false) => Some(OrderBy::Email),
            ("email", true) => Some(OrderBy::EmailDesc),
            ("updateTime", false) => Some(OrderBy::UpdateTime),
            ("updateTime", true) => Some(OrderBy::UpdateTimeDesc),
            _ => None,
        }
    }

    fn google(self) -> &'static str {
        match self {
            OrderBy::Email => "email",
            OrderBy::EmailDesc => "email desc",
            OrderBy::UpdateTime => "update_time",
            OrderBy::UpdateTimeDesc => "update_time desc",
        }
    }
}

/// One list request, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only these states; empty means all.
    pub states: Vec<InvitationState>,
    /// The order.
    pub order_by: OrderBy,
    /// 1 to 200; Google's default (100) when absent.
    pub page_size: Option<u32>,
    /// From the previous page, with the same other parameters.
    pub page_token: Option<String>,
}

impl ListQuery {
    fn params(&self) -> ListParams {
        let filter = (!self.states.is_empty()).then(|| state_filter(&self.states));
        ListParams {
            filter,
            order_by: Some(self.order_by.google().to_owned()),
            page_size: self.page_size,
            page_token: self.page_token.clone(),
        }
    }
}

/// Google's filter syntax: `state=='invited'||state=='declined'`.
fn state_filter(states: &[InvitationState]) -> String {
    states
        .iter()
        .map(|s| format!("state=='{}'", s.as_str().to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join("||")
}

/// One page of invitations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationPage {
    /// The invitations of this page.
    pub invitations: Vec<Invitation>,
    /// Pass as `pageToken` (with the same other parameters) for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_page_token: Option<String>,
}

fn failure(err: &UpstreamError, with_token: bool) -> Failure {
    if with_token && err.status == Some(crate::google::Status::InvalidArgument) {
        Failure::InvalidPageToken
    } else {
        Failure::from(err)
    }
}

/// One page.
pub async fn list_page(
    google: &GoogleClient,
    query: &ListQuery,
    ctx: &CallContext,
) -> Result<InvitationPage, Failure> {
    let page = google
        .list(&query.params(), ctx)
        .await
        .map_err(|err| failure(&err, query.page_token.is_some()))?;
    Ok(InvitationPage {
        invitations: page.user_invitations.iter().map(Invitation::from).collect(),
        next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
    })
}

/// Counts of every invitation by state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"counts": {"NOT_YET_SENT": 12, "INVITED": 8, "ACCEPTED": 7, "DECLINED": 5}, "total": 32, "asOf": "2026-11-22T03:20:00Z"}))]
pub struct Summary {
    /// Invitations per state (every state present, 0 included).
    pub counts: BTreeMap<InvitationState, u64>,
    /// All invitations.
    pub total: u64,
    /// When the pages were read.
    pub as_of: DateTime<Utc>,
}

/// Walks every page and counts.
pub async fn summarize(
    google: &GoogleClient,
    context: impl Fn() -> CallContext,
) -> Result<Summary, Failure> {
    let as_of = Utc::now();
    let mut counts: BTreeMap<InvitationState, u64> = InvitationState::FILTERABLE
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    let mut query = ListQuery {
        page_size: Some(MAX_PAGE_SIZE),
        ..ListQuery::default()
    };
    loop {
        let page = list_page(google, &query, &context()).await?;
        for invitation in &page.invitations {
            *counts.entry(invitation.state).or_insert(0) += 1;
        }
        match page.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => break,
        }
    }
    let total = counts.values().sum();
    Ok(Summary {
        counts,
        total,
        as_of,
    })
}

/// The formats export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `text/csv` with a header line.
    Csv,
    /// `application/x-ndjson`: one Invitation JSON object per line.
    Ndjson,
}

impl ExportFormat {
    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }

    fn header(self) -> &'static str {
        match self {
            ExportFormat::Csv => "email,state,mailsSentCount,updateTime\r\n",
            ExportFormat::Ndjson => "",
        }
    }

    fn write(self, invitation: &Invitation, out: &mut String) {
        match self {
            ExportFormat::Csv => {
                let update_time = invitation
                    .update_time
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                let mails = invitation.mails_sent_count.to_string();
                crate::invitations::csv::push_row(
                    out,
                    [
                        invitation.email.as_str(),
                        invitation.state.as_str(),
                        &mails,
                        &update_time,
                    ],
                );
            }
            ExportFormat::Ndjson => {
                if let Ok(line) = serde_json::to_string(invitation) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
    }
}

/// Every invitation in `states`, one chunk per page, in email order. The first page is read
/// before this returns, so a failing Google is an error answer rather than a broken stream; a
/// failure after that ends the stream early (the client sees an incomplete transfer).
pub async fn export(
    google: Arc<GoogleClient>,
    states: Vec<InvitationState>,
    format: ExportFormat,
    context: impl Fn() -> CallContext + Send + 'static,
) -> Result<impl Stream<Item = Result<Bytes, Failure>> + 'static, Failure> {
    let query = ListQuery {
        states,
        page_size: Some(MAX_PAGE_SIZE),
        ..ListQuery::default()
    };
    let first = list_page(&google, &query, &context()).await?;
    let render = move |page: &InvitationPage, header: bool| {
        let mut out = String::with_capacity(page.invitations.len() * 80 + 64);
        if header {
            out.push_str(format.header());
        }
        for invitation in &page.invitations {
            format.write(invitation, &mut out);
        }
        Bytes::from(out)
    };
    let first_chunk = render(&first, true);
    let state = Some((first.next_page_token, query));
    let rest = futures_util::stream::try_unfold(state, move |state| {
        let google = Arc::clone(&google);
        let ctx = context();
        async move {
            let Some((Some(token), mut query)) = state else {
                return Ok(None);
            };
            query.page_token = Some(token);
            let page = list_page(&google, &query, &ctx).await?;
            let chunk = render(&page, false);
            Ok(Some((chunk, Some((page.next_page_token, query)))))
        }
    });
    Ok(futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first_chunk) }),
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_parses_this_apis_syntax_only() {
        assert_eq!(OrderBy::parse("email"), Some(OrderBy::Email));
        assert_eq!(OrderBy::parse("email asc"), Some(OrderBy::Email));
        assert_eq!(
            OrderBy::parse("updateTime desc"),
            Some(OrderBy::UpdateTimeDesc)
        );
        assert_eq!(OrderBy::parse("update_time"), None);
        assert_eq!(OrderBy::parse("email desc extra"), None);
        assert_eq!(OrderBy::parse("email sideways"), None);
        assert_eq!(OrderBy::parse(""), None);
        // Only the documented spelling: what the OpenAPI pattern refuses is refused here too.
        for variant in [
            "email  desc",
            " email",
            "email ",
            "email\tdesc",
            "email DESC",
            "Email",
        ] {
            assert_eq!(OrderBy::parse(variant), None, "{variant:?}");
        }
    }

    #[test]
    fn states_become_googles_filter() {
        assert_eq!(
            state_filter(&[InvitationState::Invited, InvitationState::Declined]),
            "state=='invited'||state=='declined'"
        );
    }
}
