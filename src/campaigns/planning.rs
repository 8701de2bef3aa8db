//! Sources into items: addresses checked once (invalid and foreign ones become `skipped`), a
//! roster read as it streams in and written in chunks, Google's list walked by a worker.

use crate::campaigns::{CHUNK, CampaignError, Campaigns, MAX_ROSTER_ROWS};
use crate::invitations::Invitations;
use crate::invitations::email::Email;
use crate::invitations::outcome::{Failure, InvitationState};
use crate::store::{CampaignRecord, KnownInvitation, NewItem};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Longest address kept for a skipped item (what a caller sent may be anything).
const MAX_KEPT: usize = 320;
/// Longest roster field.
const MAX_FIELD_BYTES: usize = 4096;
/// Most columns of a roster row.
const MAX_FIELDS: usize = 1000;

/// The item for one address as a caller gave it.
pub(crate) fn item(invitations: &Invitations, raw: &str) -> NewItem {
    match Email::parse(raw) {
        Err(_) => {
            // Kept for the report as sent, but with no NUL: the store cannot hold one in text
            // (PostgreSQL refuses the row), and the item is skipped either way.
            let mut kept = raw.trim().replace('\0', "\u{FFFD}");
            if kept.len() > MAX_KEPT {
                let mut end = MAX_KEPT;
                while !kept.is_char_boundary(end) {
                    end -= 1;
                }
                kept.truncate(end);
            }
            NewItem {
                email: kept,
                skipped: Some("invalid_email".into()),
                known: None,
            }
        }
        Ok(email) => NewItem {
            skipped: invitations
                .admit_for_campaign(&email)
                .err()
                .map(|_| "domain_not_allowed".into()),
            email: email.to_string(),
            known: None,
        },
    }
}

/// Reads a roster (CSV with a header row naming an `email` column; other columns ignored) as
/// it arrives, writing its items in chunks of [`CHUNK`]: the body is never held whole.
pub(crate) async fn import_roster(
    campaigns: &Campaigns,
    id: &str,
    mut body: Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>,
) -> Result<(), CampaignError> {
    let mut reader = CsvReader::default();
    let mut import = Import {
        invitations: &campaigns.invitations,
        column: None,
        rows: 0,
        chunk: Vec::with_capacity(CHUNK),
    };
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(CampaignError::Invalid)?;
        reader.feed(&bytes, &mut |record| import.record(record))?;
        if import.chunk.len() >= CHUNK {
            campaigns
                .store()
                .add_campaign_items(id, &std::mem::take(&mut import.chunk), true)
                .await?;
        }
    }
    reader.finish(&mut |record| import.record(record))?;
    if import.column.is_none() {
        return Err(CampaignError::Invalid(
            "roster: the first row must be a header naming an email column.".into(),
        ));
    }
    if import.rows == 0 {
        return Err(CampaignError::Invalid(
            "roster: at least one row after the header is required.".into(),
        ));
    }
    campaigns
        .store()
        .add_campaign_items(id, &import.chunk, true)
        .await?;
    Ok(())
}

struct Import<'a> {
    invitations: &'a Invitations,
    column: Option<usize>,
    rows: usize,
    chunk: Vec<NewItem>,
}

impl Import<'_> {
    fn record(&mut self, record: Vec<String>) -> Result<(), CampaignError> {
        let Some(column) = self.column else {
            let column = record
                .iter()
                .position(|name| {
                    name.trim_start_matches('\u{feff}')
                        .trim()
                        .eq_ignore_ascii_case("email")
                })
                .ok_or_else(|| {
                    CampaignError::Invalid(
                        "roster: the first row must be a header naming an email column.".into(),
                    )
                })?;
            self.column = Some(column);
            return Ok(());
        };
        // A blank line is no row.
        if record.iter().all(|field| field.trim().is_empty()) {
            return Ok(());
        }
        self.rows += 1;
        if self.rows > MAX_ROSTER_ROWS {
            return Err(CampaignError::Invalid(format!(
                "roster: at most {MAX_ROSTER_ROWS} rows are allowed."
            )));
        }
        let raw = record.get(column).map(String::as_str).unwrap_or_default();
        self.chunk.push(item(self.invitations, raw));
        Ok(())
    }
}

/// A streaming RFC 4180 reader: records split on line ends outside quotes, `""` inside quotes
/// is a quote. Holds only the record being read.
#[derive(Default)]
struct CsvReader {
    field: Vec<u8>,
    record: Vec<String>,
    in_quotes: bool,
    after_quote: bool,
    line: usize,
}

type OnRecord<'a> = dyn FnMut(Vec<String>) -> Result<(), CampaignError> + 'a;

impl CsvReader {
    fn feed(&mut self, bytes: &[u8], on_record: &mut OnRecord<'_>) -> Result<(), CampaignError> {
        for &b in bytes {
            if self.in_quotes {
                if self.after_quote {
                    self.after_quote = false;
                    if b == b'"' {
                        self.push(b)?;
                        continue;
                    }
                    self.in_quotes = false;
                } else if b == b'"' {
                    self.after_quote = true;
                    continue;
                } else {
                    self.push(b)?;
                    continue;
                }
            }
            match b {
                b'"' if self.field.is_empty() => self.in_quotes = true,
                b',' => self.end_field()?,
                b'\n' => {
                    self.end_field()?;
                    on_record(std::mem::take(&mut self.record))?;
                    self.line += 1;
                }
                b'\r' => {}
                _ => self.push(b)?,
            }
        }
        Ok(())
    }

    fn finish(&mut self, on_record: &mut OnRecord<'_>) -> Result<(), CampaignError> {
        if self.in_quotes && !self.after_quote {
            return Err(self.invalid("a quoted field is not closed"));
        }
        if !self.field.is_empty() || !self.record.is_empty() || self.after_quote {
            self.in_quotes = false;
            self.after_quote = false;
            self.end_field()?;
            on_record(std::mem::take(&mut self.record))?;
        }
        Ok(())
    }

    fn push(&mut self, b: u8) -> Result<(), CampaignError> {
        if self.field.len() >= MAX_FIELD_BYTES {
            return Err(self.invalid("a field is longer than 4096 bytes"));
        }
        self.field.push(b);
        Ok(())
    }

    fn end_field(&mut self) -> Result<(), CampaignError> {
        if self.record.len() >= MAX_FIELDS {
            return Err(self.invalid("a row has more than 1000 columns"));
        }
        let field = String::from_utf8(std::mem::take(&mut self.field))
            .map_err(|_| self.invalid("it is not UTF-8"))?;
        self.record.push(field);
        Ok(())
    }

    fn invalid(&self, why: &str) -> CampaignError {
        CampaignError::Invalid(format!("roster: line {}: {why}.", self.line + 1))
    }
}

/// Walks Google's list of the campaign's states once and adds every account as an item with
/// the invitation as the list showed it (so its send needs no read). A walk cut off and
/// started over adds nobody twice.
pub(crate) async fn walk_states(
    campaigns: &Campaigns,
    record: &CampaignRecord,
    calls: &Arc<AtomicU64>,
) -> Result<(), Failure> {
    let states: Vec<InvitationState> = record
        .source_states
        .iter()
        .filter_map(|s| InvitationState::parse(s))
        .collect();
    let mut token = None;
    loop {
        let page = campaigns
            .invitations
            .list_for_campaign(&record.id, &states, token, calls)
            .await?;
        let items: Vec<NewItem> = page
            .invitations
            .iter()
            .map(|invitation| {
                let mut item = item(&campaigns.invitations, &invitation.email);
                if item.skipped.is_none() {
                    item.known = Some(KnownInvitation {
                        state: invitation.state.as_str().to_owned(),
                        mails_sent: invitation.mails_sent_count,
                        updated: invitation.update_time,
                    });
                }
                item
            })
            .collect();
        if let Err(err) = campaigns
            .store()
            .add_campaign_items(&record.id, &items, false)
            .await
        {
            tracing::error!(error = %err, "a campaign's list page could not be stored");
            return Err(Failure::Unavailable { retry_after: None });
        }
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    if let Err(err) = campaigns.store().finish_campaign_planning(&record.id).await {
        tracing::error!(error = %err, "a campaign's walk could not be recorded as done");
        return Err(Failure::Unavailable { retry_after: None });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&str]) -> Result<Vec<Vec<String>>, CampaignError> {
        let mut reader = CsvReader::default();
        let mut records = Vec::new();
        for chunk in chunks {
            reader.feed(chunk.as_bytes(), &mut |r| {
                records.push(r);
                Ok(())
            })?;
        }
        reader.finish(&mut |r| {
            records.push(r);
            Ok(())
        })?;
        Ok(records)
    }

    #[test]
    fn a_roster_split_anywhere_reads_the_same_records() {
        let text = "name,email\r\n\"Lovelace, Ada\",ada@example.com\r\n\"Grace \"\"G\"\"\",grace@example.com\n";
        let whole = read(&[text]).unwrap();
        assert_eq!(
            whole,
            vec![
                vec!["name".to_owned(), "email".to_owned()],
                vec!["Lovelace, Ada".to_owned(), "ada@example.com".to_owned()],
                vec!["Grace \"G\"".to_owned(), "grace@example.com".to_owned()],
            ]
        );
        for at in 1..text.len() {
            let (a, b) = text.split_at(at);
            assert_eq!(read(&[a, b]).unwrap(), whole, "split at {at}");
        }
    }

    #[test]
    fn a_roster_without_a_final_line_end_or_with_an_open_quote() {
        assert_eq!(read(&["email\nada@example.com"]).unwrap().len(), 2);
        assert!(matches!(
            read(&["email\n\"ada@example.com"]),
            Err(CampaignError::Invalid(_))
        ));
    }
}
