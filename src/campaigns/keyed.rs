//! A creation with an `Idempotency-Key`: what its fingerprint is taken over. A roster is a
//! stream that is stored as it arrives, so before a keyed creation takes its key the roster is
//! read whole into a temporary file (bounded memory, like the streamed import) while its
//! SHA-256 is taken; the import then reads the file. A retry of one upload, on any replica,
//! has the same fingerprint; another body under the same key does not.

use crate::campaigns::{CampaignError, CampaignSpec, Source};
use crate::vocabulary::InvitationState;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes read from the temporary file at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What a keyed creation's fingerprint is taken over: the campaign's fields and its source (a
/// roster by the SHA-256 of its bytes).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationFingerprint {
    name: String,
    resend: bool,
    dry_run: bool,
    check_unlisted: bool,
    reminders: Option<(u64, u32)>,
    start_at: Option<String>,
    states: Option<Vec<InvitationState>>,
    emails: Option<Vec<String>>,
    roster_sha256: Option<String>,
}

/// The fingerprint of creating `spec` from `source`, and the source to create it from (a
/// roster read back from its temporary file).
pub(crate) async fn fingerprint(
    spec: &CampaignSpec,
    source: Source,
    max_bytes: u64,
) -> Result<(CreationFingerprint, Source), CampaignError> {
    let mut fingerprint = CreationFingerprint {
        name: spec.name.clone(),
        resend: spec.resend,
        dry_run: spec.dry_run,
        check_unlisted: spec.check_unlisted,
        reminders: spec.reminders.map(|r| (r.after.as_secs(), r.max)),
        start_at: spec.start_at.map(|at| at.to_rfc3339()),
        states: None,
        emails: None,
        roster_sha256: None,
    };
    let source = match source {
        Source::States(states) => {
            fingerprint.states = Some(states.clone());
            Source::States(states)
        }
        Source::Emails(emails) => {
            fingerprint.emails = Some(emails.clone());
            Source::Emails(emails)
        }
        Source::Roster(body) => {
            let (digest, file) = spool(body, max_bytes).await?;
            fingerprint.roster_sha256 = Some(digest);
            Source::Roster(read_back(file))
        }
    };
    Ok((fingerprint, source))
}

/// Writes `body` to a temporary file (created private to this process's user, deleted when
/// closed) and answers its SHA-256 and the file, rewound; a body over `max_bytes` is refused
/// as soon as it is (nothing more of it is written).
async fn spool(
    mut body: Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>,
    max_bytes: u64,
) -> Result<(String, tokio::fs::File), CampaignError> {
    let unavailable = |err: std::io::Error| {
        tracing::error!(error = %err, "a roster could not be written to a temporary file");
        CampaignError::StoreUnavailable
    };
    let mut file = tokio::fs::File::from_std(tempfile::tempfile().map_err(unavailable)?);
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(CampaignError::Invalid)?;
        written = written.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        if written > max_bytes {
            return Err(CampaignError::TooLarge(format!(
                "roster: an upload with an Idempotency-Key may have at most {max_bytes} bytes."
            )));
        }
        hasher.update(&bytes);
        file.write_all(&bytes).await.map_err(unavailable)?;
    }
    file.flush().await.map_err(unavailable)?;
    file.rewind().await.map_err(unavailable)?;
    let digest = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((digest, file))
}

/// The file's bytes as a body stream.
fn read_back(file: tokio::fs::File) -> Pin<Box<dyn Stream<Item = Result<Bytes, String>>>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0; READ_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(err) => {
                tracing::error!(error = %err, "a spooled roster could not be read back");
                Some((
                    Err("roster: the uploaded body could not be read back.".to_owned()),
                    None,
                ))
            }
        }
    })
    .boxed_local()
}
