//! The customer's accounts: their invitation state machine and what get/list can see.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire::GoogleError;

/// A UserInvitation state as Google names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Unmanaged account nobody has invited yet (or whose invitation was cancelled).
    NotYetSent,
    /// An invitation mail went out and is pending.
    Invited,
    /// The person accepted: the account is managed now.
    Accepted,
    /// The person declined the invitation.
    Declined,
}

impl State {
    /// Every state, in Google's enum order.
    pub const ALL: [State; 4] = [
        State::NotYetSent,
        State::Invited,
        State::Accepted,
        State::Declined,
    ];

    /// Google's enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotYetSent => "NOT_YET_SENT",
            State::Invited => "INVITED",
            State::Accepted => "ACCEPTED",
            State::Declined => "DECLINED",
        }
    }

    /// Parses a name case-insensitively, as Google's list filter does.
    pub fn parse_ignore_case(name: &str) -> Option<State> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(name))
    }
}

/// One consumer account using the customer's domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The address as first stored (answers use it; lookups ignore case).
    pub email: String,
    /// Invitation state.
    pub state: State,
    /// Created in the last 48 hours: invitable, but get/list do not see it (Google's index lags).
    pub recent: bool,
    /// Mails sent so far.
    pub mails_sent_count: i64,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl Account {
    /// A new account; one mail is assumed to have gone out unless it was never invited.
    pub fn new(email: &str, state: State, recent: bool, update_time: DateTime<Utc>) -> Account {
        Account {
            email: email.trim().to_string(),
            state,
            recent,
            mails_sent_count: i64::from(state != State::NotYetSent),
            update_time,
        }
    }

    /// Whether Google would let this account be invited (managed accounts are not).
    pub fn is_invitable(&self) -> bool {
        self.state != State::Accepted
    }

    /// The lower-cased address, the key lookups and ordering use.
    pub fn key(&self) -> String {
        self.email.to_lowercase()
    }
}

/// Checks the shape of an address the way the API path parser does (non-empty, one `@`, no `/`).
pub fn is_plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains('/')
                && !email.chars().any(char::is_control)
        }
        None => false,
    }
}

/// All accounts of the one emulated customer, keyed by lower-cased email.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    accounts: BTreeMap<String, Account>,
    /// The update time of the latest change: the next is at least a millisecond (the wire's
    /// precision) later, so `update_time` order is the order changes happened in.
    last_change: Option<DateTime<Utc>>,
}

impl Directory {
    /// Adds an account; refuses an address that exists (in any case) or is malformed.
    pub fn insert(&mut self, account: Account) -> Result<&Account, GoogleError> {
        if !is_plausible_email(&account.email) {
            return Err(GoogleError::invalid_argument("Invalid email address."));
        }
        let key = account.key();
        if self.accounts.contains_key(&key) {
            return Err(GoogleError::already_exists(format!(
                "Account {} already exists.",
                account.email
            )));
        }
        Ok(self.accounts.entry(key).or_insert(account))
    }

    /// The account behind an address, if any, visible or not.
    pub fn find(&self, email: &str) -> Option<&Account> {
        self.accounts.get(&email.to_lowercase())
    }

    fn find_mut(&mut self, email: &str) -> Option<&mut Account> {
        self.accounts.get_mut(&email.to_lowercase())
    }

    /// The update time of a change made `now`: later than every earlier change.
    fn stamp(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let at = match self.last_change {
            Some(last) => now.max(last + chrono::Duration::milliseconds(1)),
            None => now,
        };
        self.last_change = Some(at);
        at
    }

    /// Accounts get and list can see (recent ones are not indexed yet).
    pub fn visible(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values().filter(|account| !account.recent)
    }

    /// get: the invitation, or 404 for unknown and recent accounts.
    pub fn get(&self, email: &str) -> Result<&Account, GoogleError> {
        self.find(email)
            .filter(|account| !account.recent)
            .ok_or_else(|| GoogleError::not_found("Requested entity was not found."))
    }

    /// isInvitableUser: true for every unmanaged account, recent or not.
    pub fn is_invitable(&self, email: &str) -> bool {
        self.find(email).is_some_and(Account::is_invitable)
    }

    /// send: mails the person (again); Google does not stop duplicates.
    pub fn send(&mut self, email: &str, now: DateTime<Utc>) -> Result<Account, GoogleError> {
        let now = self.stamp(now);
        let account = self.find_mut(email).ok_or_else(|| {
            GoogleError::failed_precondition(
                "The user is not invitable: no unmanaged account uses this address.",
            )
        })?;
        if !account.is_invitable() {
            return Err(GoogleError::failed_precondition(
                "The user is not invitable: the account is already managed.",
            ));
        }
        account.state = State::Invited;
        account.mails_sent_count = account.mails_sent_count.saturating_add(1);
        account.update_time = now;
        Ok(account.clone())
    }

    /// cancel: withdraws a pending invitation; nothing else can be cancelled.
    pub fn cancel(&mut self, email: &str, now: DateTime<Utc>) -> Result<Account, GoogleError> {
        let now = self.stamp(now);
        let account = self
            .find_mut(email)
            .filter(|account| account.state == State::Invited)
            .ok_or_else(|| {
                GoogleError::failed_precondition("There is no pending invitation to cancel.")
            })?;
        account.state = State::NotYetSent;
        account.update_time = now;
        Ok(account.clone())
    }

    /// Google's index catches up with the account (control API): get and list show it from
    /// now on. Its update time does not change: Google stamps changes, not indexing.
    pub fn appear(&mut self, email: &str) -> Result<Account, GoogleError> {
        let account = self
            .find_mut(email)
            .ok_or_else(|| GoogleError::not_found("No account uses this address."))?;
        account.recent = false;
        Ok(account.clone())
    }

    /// The person answers a pending invitation (control API): ACCEPTED or DECLINED.
    pub fn answer(
        &mut self,
        email: &str,
        answer: State,
        now: DateTime<Utc>,
    ) -> Result<Account, GoogleError> {
        let now = self.stamp(now);
        let account = self
            .find_mut(email)
            .ok_or_else(|| GoogleError::not_found("No account uses this address."))?;
        if account.state != State::Invited {
            return Err(GoogleError::aborted(format!(
                "Only an INVITED account can answer; this one is {}.",
                account.state.as_str()
            )));
        }
        account.state = answer;
        account.update_time = now;
        Ok(account.clone())
    }
}
