//! Access tokens for the delegated admin: from a key file (gcp_auth) or keyless (IAM signJwt).
//!
//! Both paths end in the same JWT-bearer exchange at a token endpoint. A token endpoint that
//! answers `unauthorized_client` or `invalid_grant` means the delegation is misconfigured: that
//! is reported once with the fix, marks readiness failed, and is not retried for a cool-down
//! period, so a broken Admin console setting never turns into a storm of token requests.

use crate::google::wire::{
    ASSERTION_AUDIENCE, CLOUD_PLATFORM_SCOPE, JWT_BEARER_GRANT, OAuthError, SignJwtResponse,
    TokenResponse,
};
use crate::readiness::{CheckState, Readiness};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gcp_auth::{CustomServiceAccount, TokenProvider};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long a misconfiguration answer is trusted before the token endpoint is asked again.
const MISCONFIGURED_COOL_DOWN: Duration = Duration::from_secs(30);
/// Refresh keyless tokens this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// The delegation or key is wrong; an operator must act. The text says what to do.
    #[error("credentials misconfigured: {0}")]
    Misconfigured(String),
    /// A transient failure (timeout, token endpoint unavailable).
    #[error("credentials unavailable: {0}")]
    Unavailable(String),
}

/// A bearer token for calls to Google.
pub type AccessToken = SecretString;

/// Where tokens come from.
enum Source {
    KeyFile(KeyFileSource),
    Keyless(KeylessSource),
}

/// Obtains and caches access tokens for the delegated admin, and keeps readiness up to date.
pub struct Credentials {
    source: Source,
    http: reqwest::Client,
    scope: &'static str,
    admin: String,
    token_timeout: Duration,
    readiness: Arc<Readiness>,
    misconfigured: Mutex<Option<(Instant, String)>>,
}

/// The non-secret fields of a service-account key.
#[derive(Deserialize)]
struct KeyInfo {
    client_email: String,
    #[serde(default)]
    client_id: String,
    token_uri: String,
}

/// Key-file mode: gcp_auth signs the assertion with the key and exchanges it.
struct KeyFileSource {
    key_json: SecretString,
    info: KeyInfo,
    provider: RwLock<Arc<CustomServiceAccount>>,
    // gcp_auth refreshes inside `token()`; a new expiry is how we see that it did.
    last_expiry: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// Keyless mode: IAM signs the assertion for the signer service account.
struct KeylessSource {
    signer: String,
    iam_url: String,
    token_url: String,
    ambient: Arc<dyn TokenProvider>,
    cached: tokio::sync::Mutex<Option<(SecretString, Instant)>>,
}

/// What [`Credentials`] needs to know.
pub struct CredentialsConfig {
    /// The credential settings.
    pub credentials: crate::config::GoogleCredentials,
    /// IAM Credentials base URL (keyless).
    pub iam_url: String,
    /// Token endpoint (keyless).
    pub token_url: String,
    /// The OAuth scope to ask for.
    pub scope: &'static str,
    /// Timeout of one token fetch.
    pub token_timeout: Duration,
}

impl Credentials {
    /// Loads the key (key-file mode) or the ambient credentials (keyless mode).
    pub async fn load(
        config: CredentialsConfig,
        http: reqwest::Client,
        readiness: Arc<Readiness>,
    ) -> anyhow::Result<Self> {
        use crate::config::GoogleCredentials;
        let admin = config.credentials.delegated_admin().to_owned();
        let source = match config.credentials {
            GoogleCredentials::KeyFile { path, .. } => {
                let json = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the service-account key `{}`: {e}",
                        path.display()
                    )
                })?;
                let info: KeyInfo = serde_json::from_str(&json).map_err(|_| {
                    anyhow::anyhow!(
                        "`{}` is not a service-account key file (client_email, token_uri)",
                        path.display()
                    )
                })?;
                let provider = key_file_provider(&json, &admin)?;
                Source::KeyFile(KeyFileSource {
                    key_json: SecretString::from(json),
                    info,
                    provider: RwLock::new(provider),
                    last_expiry: Mutex::new(None),
                })
            }
            GoogleCredentials::Keyless {
                signer_service_account,
                ambient,
                ..
            } => {
                let ambient = ambient_provider(&ambient).await?;
                Source::Keyless(KeylessSource {
                    signer: signer_service_account,
                    iam_url: config.iam_url,
                    token_url: config.token_url,
                    ambient,
                    cached: tokio::sync::Mutex::new(None),
                })
            }
        };
        Ok(Self {
            source,
            http,
            scope: config.scope,
            admin,
            token_timeout: config.token_timeout,
            readiness,
            misconfigured: Mutex::new(None),
        })
    }

    /// A valid access token, from cache when possible.
    pub async fn access_token(&self) -> Result<AccessToken, CredentialsError> {
        if let Some(message) = self.recent_misconfiguration() {
            return Err(CredentialsError::Misconfigured(message));
        }
        let result = match tokio::time::timeout(self.token_timeout, self.fetch()).await {
            Ok(result) => result,
            Err(_) => Err(CredentialsError::Unavailable(
                "token fetch timed out".into(),
            )),
        };
        match &result {
            Ok(_) => {
                self.readiness.credentials.set(CheckState::Ready);
                if let Ok(mut slot) = self.misconfigured.lock() {
                    *slot = None;
                }
            }
            Err(CredentialsError::Misconfigured(message)) => {
                crate::metrics::token_refresh("misconfigured");
                self.readiness.credentials.set(CheckState::Failed);
                let mut slot = self.misconfigured.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    // Once per episode, with the fix.
                    tracing::error!(fix = %message, "Google refused the service account's delegation");
                }
                *slot = Some((Instant::now(), message.clone()));
            }
            Err(CredentialsError::Unavailable(reason)) => {
                // A cached token never fails: every error here was a refresh attempt.
                crate::metrics::token_refresh("unavailable");
                tracing::warn!(%reason, "could not obtain a Google access token");
            }
        }
        result
    }

    /// Forgets cached tokens (Google answered 401 to one).
    pub fn invalidate(&self) {
        match &self.source {
            Source::KeyFile(source) => {
                // gcp_auth caches until expiry and cannot be told otherwise: start afresh.
                if let Ok(provider) =
                    key_file_provider(source.key_json.expose_secret(), &self.admin)
                    && let Ok(mut slot) = source.provider.write()
                {
                    *slot = provider;
                }
            }
            Source::Keyless(source) => {
                if let Ok(mut cached) = source.cached.try_lock() {
                    *cached = None;
                }
            }
        }
    }

    fn recent_misconfiguration(&self) -> Option<String> {
        let slot = self.misconfigured.lock().ok()?;
        let (at, message) = slot.as_ref()?;
        (at.elapsed() < MISCONFIGURED_COOL_DOWN).then(|| message.clone())
    }

    async fn fetch(&self) -> Result<AccessToken, CredentialsError> {
        match &self.source {
            Source::KeyFile(source) => self.fetch_with_key(source).await,
            Source::Keyless(source) => self.fetch_keyless(source).await,
        }
    }

    async fn fetch_with_key(
        &self,
        source: &KeyFileSource,
    ) -> Result<AccessToken, CredentialsError> {
        let provider = source
            .provider
            .read()
            .map(|p| Arc::clone(&p))
            .map_err(|_| CredentialsError::Unavailable("credentials lock poisoned".into()))?;
        match provider.token(&[self.scope]).await {
            Ok(token) => {
                let mut last = source.last_expiry.lock().unwrap_or_else(|p| p.into_inner());
                if *last != Some(token.expires_at()) {
                    *last = Some(token.expires_at());
                    crate::metrics::token_refresh("success");
                }
                Ok(SecretString::from(token.as_str().to_owned()))
            }
            // gcp_auth does not say why the endpoint refused; ask it once ourselves.
            Err(err) => Err(self.diagnose(source, &provider, &err.to_string()).await),
        }
    }

    /// Exchanges one assertion signed with the key and reads the RFC 6749 error.
    async fn diagnose(
        &self,
        source: &KeyFileSource,
        provider: &CustomServiceAccount,
        failure: &str,
    ) -> CredentialsError {
        let assertion = match key_file_assertion(
            provider,
            &source.info.client_email,
            &self.admin,
            self.scope,
        ) {
            Ok(assertion) => assertion,
            Err(e) => {
                return CredentialsError::Misconfigured(format!(
                    "the service-account key cannot sign: {e}"
                ));
            }
        };
        match self.exchange(&source.info.token_uri, &assertion).await {
            Err(CredentialsError::Misconfigured(reason)) => {
                CredentialsError::Misconfigured(format!(
                    "{reason}. Authorise client id {} for scope {} in the Admin console (Security > Access and data control > API controls > Domain-wide delegation), and check that {} is an admin",
                    source.info.client_id, self.scope, self.admin
                ))
            }
            Err(other) => other,
            Ok(_) => CredentialsError::Unavailable(format!("token request failed: {failure}")),
        }
    }

    async fn fetch_keyless(&self, source: &KeylessSource) -> Result<AccessToken, CredentialsError> {
        let mut cached = source.cached.lock().await;
        if let Some((token, expires_at)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires_at
        {
            return Ok(token.clone());
        }
        let ambient = source
            .ambient
            .token(&[CLOUD_PLATFORM_SCOPE])
            .await
            .map_err(|e| CredentialsError::Unavailable(format!("workload credentials: {e}")))?;
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": source.signer,
            "sub": self.admin,
            "scope": self.scope,
            "aud": ASSERTION_AUDIENCE,
            "iat": now,
            "exp": now + 3600,
        });
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{}:signJwt",
            source.iam_url,
            percent_encoding::utf8_percent_encode(
                &source.signer,
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(ambient.as_str())
            .json(&serde_json::json!({ "payload": claims.to_string() }))
            .send()
            .await
            .map_err(|e| CredentialsError::Unavailable(format!("IAM signJwt: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let hint = format!(
                "IAM signJwt for {} answered {status}: grant the workload the Service Account Token Creator role on it",
                source.signer
            );
            return Err(if matches!(status.as_u16(), 403 | 404) {
                CredentialsError::Misconfigured(hint)
            } else {
                CredentialsError::Unavailable(hint)
            });
        }
        let signed: SignJwtResponse = response
            .json()
            .await
            .map_err(|e| CredentialsError::Unavailable(format!("IAM signJwt answer: {e}")))?;
        let (token, expires_in) = self.exchange(&source.token_url, &signed.signed_jwt).await.map_err(|e| match e {
            CredentialsError::Misconfigured(reason) => CredentialsError::Misconfigured(format!(
                "{reason}. Authorise the client id of {} for scope {} in the Admin console (Domain-wide delegation)",
                source.signer, self.scope
            )),
            other => other,
        })?;
        *cached = Some((token.clone(), Instant::now() + expires_in));
        crate::metrics::token_refresh("success");
        Ok(token)
    }

    /// The JWT-bearer exchange at a token endpoint.
    async fn exchange(
        &self,
        token_url: &str,
        assertion: &str,
    ) -> Result<(AccessToken, Duration), CredentialsError> {
        let response = self
            .http
            .post(token_url)
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)])
            .send()
            .await
            .map_err(|e| CredentialsError::Unavailable(format!("token endpoint: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| CredentialsError::Unavailable(format!("token endpoint: {e}")))?;
        if status.is_success() {
            let token: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
                CredentialsError::Unavailable("token endpoint answered without access_token".into())
            })?;
            let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
            return Ok((SecretString::from(token.access_token), lifetime));
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(error)
                if matches!(
                    error.error.as_str(),
                    "unauthorized_client" | "invalid_grant" | "invalid_client" | "access_denied"
                ) =>
            {
                Err(CredentialsError::Misconfigured(format!(
                    "token endpoint said {}{}",
                    error.error,
                    error
                        .error_description
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )))
            }
            _ => Err(CredentialsError::Unavailable(format!(
                "token endpoint answered {status}"
            ))),
        }
    }
}

/// The workload's own identity in keyless mode (it authorises IAM signJwt): Application Default
/// Credentials, or a key file for it (the sandbox and tests use the emulator's).
pub async fn ambient_provider(
    ambient: &crate::config::AmbientCredentials,
) -> anyhow::Result<Arc<dyn TokenProvider>> {
    use crate::config::AmbientCredentials;
    match ambient {
        AmbientCredentials::Default => gcp_auth::provider().await.map_err(|e| {
            anyhow::anyhow!("keyless mode needs the workload's own Google credentials: {e}")
        }),
        AmbientCredentials::KeyFile(path) => {
            let provider = CustomServiceAccount::from_file(path).map_err(|e| {
                anyhow::anyhow!("cannot load ambient credentials `{}`: {e}", path.display())
            })?;
            Ok(Arc::new(provider))
        }
    }
}

fn key_file_provider(json: &str, admin: &str) -> anyhow::Result<Arc<CustomServiceAccount>> {
    let provider = CustomServiceAccount::from_json(json)
        .map_err(|e| anyhow::anyhow!("the service-account key is not usable: {e}"))?
        .with_subject(admin.to_owned())
        // Google's own libraries always send Google's token URL as `aud`.
        .with_audience(ASSERTION_AUDIENCE.to_owned());
    Ok(Arc::new(provider))
}

/// The same assertion gcp_auth makes, for the diagnostic exchange.
fn key_file_assertion(
    provider: &CustomServiceAccount,
    iss: &str,
    sub: &str,
    scope: &str,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"iss": iss, "sub": sub, "scope": scope, "aud": ASSERTION_AUDIENCE, "iat": now, "exp": now + 3600})
            .to_string(),
    );
    let signing_input = format!("{header}.{claims}");
    let signature = provider.signer().sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}
