//! Sources into items: addresses checked once (invalid and foreign ones become `skipped`), a
//! roster read as it streams in and written in chunks, Google's list walked by a worker.

use crate::campaigns::{
    CHUNK, CampaignError, Campaigns, MAX_ROSTER_COLUMNS, MAX_ROSTER_ROWS, MAX_ROSTER_VALUES_BYTES,
};
use crate::invitations::Invitations;
use crate::invitations::email::Email;
use crate::invitations::outcome::Failure;
use crate::store::{CampaignRecord, KnownInvitation, NewItem, RosterRow};
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

/// A roster value as the store can hold it: PostgreSQL refuses a NUL in text, so each becomes
/// U+FFFD (the report shows where it was; the value is kept, never refused as a store outage).
fn without_nul(value: &str) -> String {
    value.replace('\0', "\u{FFFD}")
}

/// The item for one address as a caller gave it.
pub(crate) fn item(invitations: &Invitations, raw: &str) -> NewItem {
    match Email::parse(raw) {
        Err(_) => {
            // Kept for the report as sent, but with no NUL: the store cannot hold one in text
            // (PostgreSQL refuses the row), and the item is skipped either way.
            let mut kept = without_nul(raw.trim());
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
                roster: None,
            }
        }
        Ok(email) => NewItem {
            skipped: invitations
                .admit_address(&email)
                .err()
                .map(|_| "domain_not_allowed".into()),
            email: email.to_string(),
            known: None,
            roster: None,
        },
    }
}

/// Reads a roster (CSV, TSV or semicolon-separated, with a header row naming an email column)
/// as it arrives, writing its items in chunks of [`CHUNK`]: the body is never held whole. Each
/// item keeps its row number and its values of the roster's other columns (see [`Header`]).
pub(crate) async fn import_roster(
    campaigns: &Campaigns,
    id: &str,
    mut body: Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>,
) -> Result<(), CampaignError> {
    let mut reader = CsvReader::default();
    let mut import = Import {
        invitations: &campaigns.invitations,
        header: None,
        columns_to_store: None,
        records: 0,
        rows: 0,
        chunk: Vec::with_capacity(CHUNK),
    };
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(CampaignError::Invalid)?;
        reader.feed(&bytes, &mut |record, delimiter| {
            import.record(record, delimiter)
        })?;
        import.store_columns(campaigns, id).await?;
        if import.chunk.len() >= CHUNK {
            let chunk = std::mem::take(&mut import.chunk);
            campaigns.add_items(id, &chunk).await?;
        }
    }
    reader.finish(&mut |record, delimiter| import.record(record, delimiter))?;
    import.store_columns(campaigns, id).await?;
    if import.header.is_none() {
        return Err(CampaignError::Invalid(
            "roster: the first row must be a header naming an email column.".into(),
        ));
    }
    if import.rows == 0 {
        return Err(CampaignError::Invalid(
            "roster: at least one row after the header is required.".into(),
        ));
    }
    campaigns.add_items(id, &import.chunk).await?;
    Ok(())
}

/// The spellings of the email column's header, once normalised by [`header_key`]: `email`,
/// `E-mail`, `Email Address`, `email_address`, Google's own `Email Address [Required]`.
const EMAIL_HEADERS: [&str; 2] = ["email", "emailaddress"];

/// A header name compared loosely: lower case, without a byte order mark, a trailing
/// `[...]` note (Google's user CSV marks `[Required]` columns so), spaces, `-`, `_` or `.`.
fn header_key(name: &str) -> String {
    let name = name.trim_start_matches('\u{feff}').trim();
    let name = match name.rfind('[') {
        Some(at) if name.ends_with(']') => &name[..at],
        _ => name,
    };
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The roster's header: its email column and the other columns kept with each item: those
/// with a name, at most [`MAX_ROSTER_COLUMNS`] of them, none that names a password.
struct Header {
    email: usize,
    kept: Vec<usize>,
}

impl Header {
    fn parse(names: &[String], delimiter: u8) -> Result<(Header, Vec<String>), CampaignError> {
        let email = names
            .iter()
            .position(|name| EMAIL_HEADERS.contains(&header_key(name).as_str()))
            .ok_or_else(|| no_email_column(names, delimiter))?;
        let mut kept = Vec::new();
        let mut columns: Vec<String> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}').trim();
            if i == email || name.is_empty() || header_key(name).contains("password") {
                continue;
            }
            if kept.len() == MAX_ROSTER_COLUMNS {
                break;
            }
            if columns.iter().any(|c| c == name) {
                return Err(CampaignError::Invalid(format!(
                    "roster: the header names the column {:?} twice.",
                    shown(name)
                )));
            }
            kept.push(i);
            columns.push(without_nul(name));
        }
        Ok((Header { email, kept }, columns))
    }
}

/// The refusal of a header without an email column: which delimiter it was read with and the
/// columns it has (an address in it is not repeated: the first row may be data).
fn no_email_column(names: &[String], delimiter: u8) -> CampaignError {
    let separated = match delimiter {
        b';' => "semicolon",
        b'\t' => "tab",
        _ => "comma",
    };
    let mut found: Vec<String> = names
        .iter()
        .take(20)
        .map(|name| format!("{:?}", shown(name)))
        .collect();
    if names.len() > 20 {
        found.push(format!("and {} more", names.len() - 20));
    }
    CampaignError::Invalid(format!(
        "roster: the first row must be a header naming an email column (email, Email Address, \
         E-mail or Email Address [Required]); read as {separated}-separated, its columns are {}.",
        found.join(", ")
    ))
}

/// A header name as an error shows it: at most 40 characters, an address never.
fn shown(name: &str) -> String {
    let name = name.trim_start_matches('\u{feff}').trim();
    if name.contains('@') {
        return "(an address)".to_owned();
    }
    name.chars().take(40).collect()
}

struct Import<'a> {
    invitations: &'a Invitations,
    header: Option<Header>,
    /// The kept columns' names, once the header is read and until they are stored.
    columns_to_store: Option<Vec<String>>,
    /// Records read, the header included: the current one's row number.
    records: u32,
    /// Data rows (blank lines are none).
    rows: usize,
    chunk: Vec<NewItem>,
}

impl Import<'_> {
    fn record(&mut self, record: Vec<String>, delimiter: u8) -> Result<(), CampaignError> {
        self.records = self.records.saturating_add(1);
        let Some(header) = &self.header else {
            let (header, columns) = Header::parse(&record, delimiter)?;
            self.header = Some(header);
            self.columns_to_store = Some(columns);
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
        let values: Vec<String> = header
            .kept
            .iter()
            .map(|&i| {
                record
                    .get(i)
                    .map(|value| without_nul(value))
                    .unwrap_or_default()
            })
            .collect();
        if values.iter().map(String::len).sum::<usize>() > MAX_ROSTER_VALUES_BYTES {
            return Err(CampaignError::Invalid(format!(
                "roster: row {}: its other columns hold more than {MAX_ROSTER_VALUES_BYTES} \
                 bytes.",
                self.records
            )));
        }
        let raw = record
            .get(header.email)
            .map(String::as_str)
            .unwrap_or_default();
        let mut item = item(self.invitations, raw);
        item.roster = Some(RosterRow {
            row: self.records,
            values,
        });
        self.chunk.push(item);
        Ok(())
    }

    /// Stores the kept columns' names once the header is read.
    async fn store_columns(
        &mut self,
        campaigns: &Campaigns,
        id: &str,
    ) -> Result<(), CampaignError> {
        if let Some(columns) = self.columns_to_store.take() {
            campaigns
                .gate
                .call(|s| s.set_roster_columns(id, &columns))
                .await?;
        }
        Ok(())
    }
}

/// The delimiters a roster may use; the one its header row holds most of (outside quotes) is
/// its delimiter, a comma when it holds none.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];
/// Longest header row: it is held whole until its delimiter is known.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A streaming RFC 4180 reader: records split on line ends outside quotes, `""` inside quotes
/// is a quote. The delimiter is found in the header row (held until its line ends); then it
/// holds only the record being read.
#[derive(Default)]
struct CsvReader {
    delimiter: Option<u8>,
    /// The header row's bytes while its delimiter is not known.
    head: Vec<u8>,
    head_quoted: bool,
    field: Vec<u8>,
    record: Vec<String>,
    in_quotes: bool,
    after_quote: bool,
    line: usize,
}

type OnRecord<'a> = dyn FnMut(Vec<String>, u8) -> Result<(), CampaignError> + 'a;

impl CsvReader {
    fn feed(&mut self, bytes: &[u8], on_record: &mut OnRecord<'_>) -> Result<(), CampaignError> {
        let Some(delimiter) = self.delimiter else {
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'"' {
                    self.head_quoted = !self.head_quoted;
                } else if b == b'\n' && !self.head_quoted {
                    let rest = &bytes[i + 1..];
                    self.head.extend_from_slice(&bytes[..=i]);
                    self.decide(on_record)?;
                    return self.feed(rest, on_record);
                }
            }
            if self.head.len() + bytes.len() > MAX_HEADER_BYTES {
                return Err(self.invalid("the header row is longer than 65536 bytes"));
            }
            self.head.extend_from_slice(bytes);
            return Ok(());
        };
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
                b'\n' => {
                    self.end_field()?;
                    on_record(std::mem::take(&mut self.record), delimiter)?;
                    self.line += 1;
                }
                b'\r' => {}
                _ if b == delimiter => self.end_field()?,
                _ => self.push(b)?,
            }
        }
        Ok(())
    }

    /// Picks the delimiter the held header row holds most of outside quotes, and reads it.
    fn decide(&mut self, on_record: &mut OnRecord<'_>) -> Result<(), CampaignError> {
        let mut counts = [0usize; DELIMITERS.len()];
        let mut quoted = false;
        for &b in &self.head {
            if b == b'"' {
                quoted = !quoted;
            } else if !quoted && let Some(at) = DELIMITERS.iter().position(|&d| d == b) {
                counts[at] += 1;
            }
        }
        let mut best = 0;
        for (at, &n) in counts.iter().enumerate() {
            if n > counts[best] {
                best = at;
            }
        }
        self.delimiter = Some(DELIMITERS[best]);
        let head = std::mem::take(&mut self.head);
        self.feed(&head, on_record)
    }

    fn finish(&mut self, on_record: &mut OnRecord<'_>) -> Result<(), CampaignError> {
        if self.delimiter.is_none() {
            self.decide(on_record)?;
        }
        let delimiter = self.delimiter.unwrap_or(b',');
        if self.in_quotes && !self.after_quote {
            return Err(self.invalid("a quoted field is not closed"));
        }
        if !self.field.is_empty() || !self.record.is_empty() || self.after_quote {
            self.in_quotes = false;
            self.after_quote = false;
            self.end_field()?;
            on_record(std::mem::take(&mut self.record), delimiter)?;
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
    let states = &record.source_states;
    let mut token = None;
    loop {
        let page = campaigns
            .invitations
            .list_in_background(
                crate::invitations::background::Background {
                    id: &record.id,
                    calls,
                },
                states,
                token,
            )
            .await?;
        let items: Vec<NewItem> = page
            .invitations
            .iter()
            .map(|invitation| {
                let mut item = item(&campaigns.invitations, &invitation.email);
                if item.skipped.is_none() {
                    item.known = Some(KnownInvitation {
                        state: invitation.state,
                        mails_sent: invitation.mails_sent_count,
                        updated: invitation.update_time,
                    });
                }
                item
            })
            .collect();
        if let Err(err) = campaigns
            .gate
            .call(|s| s.add_campaign_items(&record.id, &items, false))
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
    if let Err(err) = campaigns
        .gate
        .call(|s| s.finish_campaign_planning(&record.id))
        .await
    {
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
            reader.feed(chunk.as_bytes(), &mut |r, _| {
                records.push(r);
                Ok(())
            })?;
        }
        reader.finish(&mut |r, _| {
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
    fn the_delimiter_is_the_one_the_header_holds_most_of_outside_quotes_wherever_it_is_split() {
        for (text, records) in [
            (
                "\"a,b\";email\nx,y;ada@example.com\n",
                [["a,b", "email"], ["x,y", "ada@example.com"]],
            ),
            (
                "name\temail\nA;B\tada@example.com",
                [["name", "email"], ["A;B", "ada@example.com"]],
            ),
            (
                "name,email\nA;B,ada@example.com",
                [["name", "email"], ["A;B", "ada@example.com"]],
            ),
        ] {
            for at in 1..text.len() {
                let (a, b) = text.split_at(at);
                assert_eq!(read(&[a, b]).unwrap(), records, "{text:?} split at {at}");
            }
        }
        assert_eq!(read(&["email"]).unwrap(), [["email"]]);
    }

    #[test]
    fn the_usual_spellings_of_the_email_header_are_one() {
        for name in [
            "email",
            " Email ",
            "E-mail",
            "Email Address",
            "email_address",
            "Email Address [Required]",
            "\u{feff}EMAIL",
        ] {
            assert!(
                EMAIL_HEADERS.contains(&header_key(name).as_str()),
                "{name:?}"
            );
        }
        for name in ["Recovery Email", "mail", "name", "[Required]"] {
            assert!(
                !EMAIL_HEADERS.contains(&header_key(name).as_str()),
                "{name:?}"
            );
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
