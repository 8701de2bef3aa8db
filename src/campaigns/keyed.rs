//! A creation with an `Idempotency-Key`: what its fingerprint is taken over. A roster is a
//! stream that is stored as it arrives, so before a keyed creation takes its key the roster is
//! read whole into a temporary file (bounded memory, like the streamed import) while its
//! SHA-256 is taken; the import then reads the file. A retry of one upload, on any replica,
//! has the same fingerprint; another body under the same key does not.
//!
//! Both keyed creations run here, in the campaigns layer: `POST /v1/campaigns` (and its roster
//! operation) and a send with `Prefer: respond-async`. The handler hands over the parsed request
//! and the checked key and renders the [`Answer`]; nothing of the flow returns to it.

use crate::campaigns::{CampaignError, CampaignSpec, CampaignView, Campaigns, Source};
use crate::invitations::batch::EmailBatch;
use crate::invitations::idempotency::{Answer, IdempotencyError, IdempotencyScope};
use crate::store::Caller;
use crate::vocabulary::{AtDeadline, InvitationState};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes read from the temporary file at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The operation a creation's Idempotency-Key belongs to (keys are per operation; both create
/// operations share it, so a retry may move to the roster operation).
const CREATE_ACTION: &str = "create_campaign";

impl From<IdempotencyError> for CampaignError {
    fn from(error: IdempotencyError) -> Self {
        CampaignError::Idempotency(error)
    }
}

/// A campaign's answer as the handler sends it: its JSON, never a replay (no key was given).
fn fresh(view: &CampaignView) -> Answer {
    Answer {
        body: serde_json::to_vec(view).unwrap_or_default(),
        replayed: false,
    }
}

impl Campaigns {
    /// Creates a campaign from `spec` and `source` for `owner` (see [`Campaigns::create`]),
    /// once per Idempotency-Key `key` across every replica: a retry with the same key and
    /// request gets the first answer byte for byte (`replayed`), another request under the key
    /// is [`IdempotencyError::KeyReused`].
    pub async fn create_once(
        &self,
        owner: &Caller,
        spec: CampaignSpec,
        source: Source,
        key: Option<&str>,
    ) -> Result<Answer, CampaignError> {
        let Some(key) = key else {
            return Ok(fresh(&self.create(owner, spec, source).await?));
        };
        let (fingerprint, source) = fingerprint(&spec, source, self.roster_max_bytes).await?;
        let scope = IdempotencyScope::new(&owner.iss, &owner.sub, key, CREATE_ACTION, &fingerprint);
        let create = self.create(owner, spec, source);
        self.invitations
            .run_once_stored_within(&scope, 201, self.creation_lease(), create)
            .await
    }

    /// Makes a campaign of the addresses of a send with `Prefer: respond-async` by `caller` in
    /// request `request_id`, once per Idempotency-Key `key` (the preference is part of the
    /// request: the key of a send answered at once is reused here). Nothing is created unless
    /// it can be audited, as for a send answered at once.
    pub async fn create_from_send_once(
        &self,
        (caller, request_id, key): (&Caller, &str, Option<&str>),
        batch: &EmailBatch,
        resend: bool,
    ) -> Result<Answer, CampaignError> {
        self.audit
            .check_writable()
            .map_err(CampaignError::AuditUnavailable)?;
        let spec = CampaignSpec {
            name: format!("send {request_id}"),
            resend,
            dry_run: false,
            // As any campaign of addresses: unlisted people are checked before a mail.
            check_unlisted: true,
            reminders: None,
            start_at: None,
            deadline: None,
            at_deadline: Default::default(),
        };
        let emails = batch.entries().iter().map(|e| e.raw().to_owned()).collect();
        let create = self.create(caller, spec, Source::Emails(emails));
        let Some(key) = key else {
            return Ok(fresh(&create.await?));
        };
        let scope = IdempotencyScope::async_send(caller, key, batch, resend);
        self.invitations.run_once_stored(&scope, 202, create).await
    }
}

/// What a keyed creation's fingerprint is taken over: the campaign's fields and its source (a
/// roster by the SHA-256 of its bytes).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationFingerprint {
    name: String,
    resend: bool,
    dry_run: bool,
    check_unlisted: bool,
    reminders: Option<(u64, u32)>,
    start_at: Option<String>,
    deadline: Option<String>,
    at_deadline: AtDeadline,
    from_dry_run: Option<String>,
    states: Option<Vec<InvitationState>>,
    emails: Option<Vec<String>>,
    roster_sha256: Option<String>,
}

/// The fingerprint of creating `spec` from `source`, and the source to create it from (a
/// roster read back from its temporary file).
async fn fingerprint(
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
        deadline: spec.deadline.map(|at| at.to_rfc3339()),
        at_deadline: spec.at_deadline,
        from_dry_run: None,
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
        Source::DryRun(run) => {
            fingerprint.from_dry_run = Some(run.id.clone());
            Source::DryRun(run)
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
