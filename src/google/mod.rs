//! The upstream: the only code that talks to Google (credentials, typed client, retries,
//! limits, circuit breaker, wire types). Knows nothing of actix-web.

pub mod breaker;
pub mod budget;
pub mod client;
pub mod credentials;
pub mod error;
pub mod status;
mod transport;
pub mod wire;

pub use budget::{BudgetRefusal, CallBudget, CallKind};
pub use client::{CallContext, GoogleClient, ListParams, Sent};
pub use error::{Method, UpstreamError, UpstreamErrorKind};
pub use status::Status;

use crate::config::GoogleSettings;
use crate::google::credentials::{Credentials, CredentialsConfig, CredentialsError};
use crate::readiness::Readiness;
use std::sync::Arc;
use std::time::Duration;

/// How often the background task touches the token, so readiness stays true to the last refresh
/// and tokens are renewed before a request needs one.
const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The one HTTP client for Google: rustls, explicit connect timeout, no redirects, our user agent.
pub fn http_client(settings: &GoogleSettings) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("invitation-gateway/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.timeouts.connect)
        .timeout(settings.timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?)
}

/// Builds the client and starts the task that obtains the first token (readiness waits for it).
/// Every attempt takes a slot from `budget`, the project's quota shared by every replica.
pub async fn connect(
    settings: &GoogleSettings,
    customer: &str,
    readiness: Arc<Readiness>,
    budget: Arc<dyn CallBudget>,
) -> anyhow::Result<Arc<GoogleClient>> {
    let http = http_client(settings)?;
    let scope = if settings.readonly {
        wire::READONLY_SCOPE
    } else {
        wire::SCOPE
    };
    let credentials = Credentials::load(
        CredentialsConfig {
            credentials: settings.credentials.clone(),
            iam_url: settings.iam_url.clone(),
            token_url: settings.token_url.clone(),
            scope,
            token_timeout: settings.timeouts.token,
        },
        http.clone(),
        Arc::clone(&readiness),
    )
    .await?;
    let client = Arc::new(GoogleClient::new(
        settings,
        customer,
        http,
        Arc::new(credentials),
        readiness,
        budget,
    ));
    tokio::spawn(keep_token_fresh(Arc::downgrade(&client)));
    Ok(client)
}

/// Obtains the first token as soon as possible, then checks it every minute; stops with the client.
async fn keep_token_fresh(client: std::sync::Weak<GoogleClient>) {
    let mut retry_in = Duration::from_millis(200);
    loop {
        let Some(client) = client.upgrade() else {
            return;
        };
        let wait = match client.credentials().access_token().await {
            Ok(_) => {
                retry_in = Duration::from_millis(200);
                TOKEN_CHECK_INTERVAL
            }
            // Logged by Credentials; the cool-down there keeps this from hammering.
            Err(CredentialsError::Misconfigured(_)) => {
                TOKEN_CHECK_INTERVAL.min(Duration::from_secs(30))
            }
            Err(CredentialsError::Unavailable(_)) => {
                retry_in = (retry_in * 2).min(Duration::from_secs(30));
                retry_in
            }
        };
        drop(client);
        tokio::time::sleep(wait).await;
    }
}
