//! The emulator's shared state and the steps every emulated call goes through.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use super::accounts::Directory;
use super::bearer::{TokenStore, bearer_token, query_token};
use super::faults::{Fault, Faults};
use super::key::ServiceAccount;
use super::method::Method;
use super::page_token::PageTokenKey;
use super::quota::Quota;
use super::setup::SetupProblem;
use super::stats::Stats;
use super::wire::GoogleError;
use super::{USERINVITATIONS_READONLY_SCOPE, USERINVITATIONS_SCOPE};

/// Everything `reset` returns to the seeded state.
#[derive(Debug, Clone)]
pub struct World {
    /// The customer's accounts.
    pub directory: Directory,
    /// Queued fault rules.
    pub faults: Faults,
    /// Extra delay of every User Invitation call.
    pub latency: Duration,
    /// Scopes the (emulated) Admin console authorises for domain-wide delegation.
    pub authorized_scopes: Vec<String>,
    /// The project quota.
    pub quota: Quota,
    /// Counters.
    pub stats: Stats,
    /// The setup mistake the emulator plays (`none` for a healthy setup).
    pub setup_problem: SetupProblem,
}

impl World {
    /// A fresh world around seeded accounts, with a quota of `quota_per_minute` calls.
    pub fn new(directory: Directory, quota_per_minute: Option<u32>) -> World {
        World {
            directory,
            faults: Faults::default(),
            latency: Duration::ZERO,
            authorized_scopes: vec![
                USERINVITATIONS_SCOPE.into(),
                USERINVITATIONS_READONLY_SCOPE.into(),
            ],
            quota: Quota::new(quota_per_minute),
            stats: Stats::default(),
            setup_problem: SetupProblem::None,
        }
    }
}

/// State shared by every worker of one emulator.
pub struct Shared {
    /// The service account and its key.
    pub account: ServiceAccount,
    /// The only `sub` the token endpoint accepts.
    pub admin: String,
    /// This emulator's token URL (an accepted assertion audience).
    pub token_url: String,
    /// Seals list's page tokens.
    pub page_tokens: PageTokenKey,
    initial: World,
    world: Mutex<World>,
    tokens: Mutex<TokenStore>,
}

impl Shared {
    /// Wraps the seeded world.
    pub fn new(
        account: ServiceAccount,
        admin: String,
        token_url: String,
        initial: World,
    ) -> Shared {
        Shared {
            account,
            admin,
            token_url,
            page_tokens: PageTokenKey::random(),
            world: Mutex::new(initial.clone()),
            initial,
            tokens: Mutex::new(TokenStore::default()),
        }
    }

    /// Locks the world. A panic elsewhere cannot leave it half-updated in a way that matters to a
    /// fake, so a poisoned lock is used as is rather than taking the emulator down.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the issued tokens.
    pub fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Back to the seeded state; issued tokens stay valid.
    pub fn reset(&self) {
        *self.world() = self.initial.clone();
    }

    /// Counts a call routed to `method`, before anything can fail it.
    pub fn count_call(&self, method: Method) {
        self.world().stats.count_call(method);
    }

    /// Counts an authenticated User Invitation call against the project quota; past it, 429
    /// RESOURCE_EXHAUSTED as Google answers (counted in stats).
    pub fn check_quota(&self) -> Result<(), GoogleError> {
        let mut world = self.world();
        if world.quota.admit(tokio::time::Instant::now()) {
            Ok(())
        } else {
            world.stats.record_quota_rejection();
            Err(GoogleError::quota_exceeded())
        }
    }

    /// Checks the request's access token against the scopes the method accepts. The token comes
    /// from the `Authorization` header or, when there is none, from the `access_token` (or
    /// `oauth_token`) query parameter, as Google takes it.
    pub fn authorize(&self, request: &HttpRequest, accepted: &[&str]) -> Result<(), GoogleError> {
        let token = match request.headers().get(AUTHORIZATION) {
            Some(header) => Some(bearer_token(header.to_str().unwrap_or_default())?.to_owned()),
            None => query_token(request.query_string()),
        };
        self.tokens().authorize(token.as_deref(), accepted)
    }

    /// Takes the call's fault, waits its delay (plus global latency for User Invitation calls) and
    /// fails at once unless the fault is applied after the call.
    pub async fn enter(&self, method: Method) -> Result<Fault, GoogleError> {
        let (fault, latency) = {
            let mut world = self.world();
            let latency = if method.is_invitation_api() {
                world.latency
            } else {
                Duration::ZERO
            };
            (world.faults.take(method), latency)
        };
        let delay = fault.delay + latency;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match &fault.error {
            Some(error) if !fault.after_apply => Err(error.clone()),
            _ => Ok(fault),
        }
    }
}
