//! Where the emulator's accounts come from: the demo customer, nothing, or a JSON file.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde::Deserialize;

use super::accounts::{Account, Directory, State};

/// The initial accounts of an emulator (and what `reset` returns to).
#[derive(Debug, Clone, Default)]
pub enum Seed {
    /// A deterministic demo customer with a few dozen accounts in every state.
    #[default]
    Demo,
    /// No accounts at all.
    Empty,
    /// These accounts.
    Accounts(Vec<SeedAccount>),
}

/// One account in a seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedAccount {
    /// The address.
    pub email: String,
    /// State; NOT_YET_SENT when absent.
    pub state: Option<State>,
    /// Created in the last 48 hours (invitable, hidden from get/list).
    pub recent: Option<bool>,
    /// Mails sent so far; 1 for INVITED, ACCEPTED and DECLINED when absent, else 0.
    pub mails_sent_count: Option<i64>,
    /// Last change; the emulator's start time when absent.
    pub update_time: Option<DateTime<Utc>>,
}

impl SeedAccount {
    /// An account at `email` in `state` (NOT_YET_SENT when `None`), the rest as a seed file
    /// that names only these two would have it.
    pub fn new(email: impl Into<String>, state: Option<State>) -> Self {
        Self {
            email: email.into(),
            state,
            recent: None,
            mails_sent_count: None,
            update_time: None,
        }
    }
}

impl Seed {
    /// Reads a seed file: a JSON array of [`SeedAccount`].
    pub fn from_file(path: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read seed file {}", path.display()))?;
        let accounts: Vec<SeedAccount> = serde_json::from_str(&text).with_context(|| {
            format!(
                "seed file {} is not a JSON array of accounts",
                path.display()
            )
        })?;
        Ok(Seed::Accounts(accounts))
    }

    /// Parses the `--seed` value: `demo`, `empty` or a path to a seed file.
    pub fn from_arg(value: &str) -> anyhow::Result<Seed> {
        match value {
            "demo" => Ok(Seed::Demo),
            "empty" => Ok(Seed::Empty),
            path => Seed::from_file(Path::new(path)),
        }
    }

    /// Builds the directory; `now` stands in for missing update times.
    pub fn directory(&self, now: DateTime<Utc>) -> anyhow::Result<Directory> {
        let accounts = match self {
            Seed::Demo => demo_accounts(),
            Seed::Empty => Vec::new(),
            Seed::Accounts(accounts) => accounts.clone(),
        };
        let mut directory = Directory::default();
        for seed in accounts {
            let state = seed.state.unwrap_or(State::NotYetSent);
            let recent = seed.recent.unwrap_or(false);
            let mut account =
                Account::new(&seed.email, state, recent, seed.update_time.unwrap_or(now));
            if let Some(count) = seed.mails_sent_count {
                anyhow::ensure!(
                    count >= 0,
                    "seed account {} has a negative mailsSentCount",
                    seed.email
                );
                account.mails_sent_count = count;
            }
            directory.insert(account).map_err(|error| {
                anyhow::anyhow!("seed account {}: {}", seed.email, error.message)
            })?;
        }
        Ok(directory)
    }
}

/// The demo customer: (local part, state, mails sent, recent). Fixed so every run shows the same data.
const DEMO: &[(&str, State, i64, bool)] = &[
    ("ada", State::Invited, 2, false),
    ("grace+hr", State::NotYetSent, 0, false),
    ("alan", State::Accepted, 1, false),
    ("barbara", State::Declined, 1, false),
    ("donald", State::NotYetSent, 0, false),
    ("edsger", State::Invited, 1, false),
    ("frances", State::Accepted, 2, false),
    ("john", State::NotYetSent, 0, false),
    ("katherine", State::Invited, 3, false),
    ("ken", State::Declined, 2, false),
    ("dennis", State::NotYetSent, 0, false),
    ("margaret", State::Accepted, 1, false),
    ("niklaus", State::Invited, 1, false),
    ("radia", State::NotYetSent, 0, false),
    ("tim", State::Declined, 1, false),
    ("vint", State::Accepted, 1, false),
    ("bjarne", State::NotYetSent, 0, false),
    ("guido", State::Invited, 2, false),
    ("james", State::NotYetSent, 0, false),
    ("leslie", State::Accepted, 3, false),
    ("barbara+it", State::Invited, 1, false),
    ("alan+test", State::NotYetSent, 0, false),
    ("hedy", State::Declined, 1, false),
    ("claude", State::NotYetSent, 0, false),
    ("john+ops", State::Invited, 3, false),
    ("linus", State::Accepted, 1, false),
    ("sophie", State::NotYetSent, 0, false),
    ("whitfield", State::Invited, 1, false),
    ("adele", State::Declined, 3, false),
    ("robin", State::NotYetSent, 0, false),
    ("shafi", State::Accepted, 2, false),
    ("yukihiro", State::NotYetSent, 0, false),
    ("annie", State::NotYetSent, 0, true),
    ("mary+new", State::NotYetSent, 0, true),
    ("evelyn", State::NotYetSent, 0, true),
];

fn demo_accounts() -> Vec<SeedAccount> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .unwrap_or_default();
    DEMO.iter()
        .zip(0_i64..)
        .map(|(&(local, state, mails, recent), hour)| SeedAccount {
            email: format!("{local}@example.com"),
            state: Some(state),
            recent: Some(recent),
            mails_sent_count: Some(mails),
            update_time: Some(start + Duration::hours(hour)),
        })
        .collect()
}
