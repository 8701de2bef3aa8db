//! What the emulator saw: calls per method, token grants and mails per address.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::method::Method;

/// How many token grants stats keep.
const MAX_GRANTS: usize = 1000;

/// One successful token exchange.
#[derive(Debug, Clone, Serialize)]
pub struct TokenGrant {
    /// The assertion's issuer.
    pub iss: String,
    /// The impersonated user, for delegated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Granted scopes, space separated.
    pub scope: String,
    /// The assertion's audience.
    pub aud: String,
}

/// Counters since start or the last reset.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    calls: [u64; Method::ALL.len()],
    token_grants: VecDeque<TokenGrant>,
    mails_sent: BTreeMap<String, u64>,
    quota_rejections: u64,
}

impl Stats {
    /// Counts a call routed to `method`, whatever its outcome.
    pub fn count_call(&mut self, method: Method) {
        if let Some(count) = self.calls.get_mut(method.index()) {
            *count = count.saturating_add(1);
        }
    }

    /// Records a grant, keeping the most recent ones.
    pub fn record_grant(&mut self, grant: TokenGrant) {
        if self.token_grants.len() == MAX_GRANTS {
            self.token_grants.pop_front();
        }
        self.token_grants.push_back(grant);
    }

    /// Counts one invitation mail.
    pub fn record_mail(&mut self, email: &str) {
        let count = self.mails_sent.entry(email.to_string()).or_default();
        *count = count.saturating_add(1);
    }

    /// Counts one call refused by the project quota.
    pub fn record_quota_rejection(&mut self) {
        self.quota_rejections = self.quota_rejections.saturating_add(1);
    }

    /// The `GET /emulator/v1/stats` body.
    pub fn to_json(&self) -> Value {
        let calls: Map<String, Value> = Method::ALL
            .iter()
            .zip(self.calls)
            .map(|(method, count)| (method.name().to_string(), json!(count)))
            .collect();
        json!({
            "calls": calls,
            "tokenGrants": self.token_grants,
            "mailsSent": self.mails_sent,
            "quotaRejections": self.quota_rejections,
        })
    }
}
