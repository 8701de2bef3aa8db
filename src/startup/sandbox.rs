//! `serve --sandbox`: the gateway on the real credential path against an in-process emulator.
//!
//! The emulator starts on a loopback port with the demo customer; it issues a service-account
//! key whose `token_uri` points at itself, written to a private temporary directory, so the
//! gateway obtains its tokens through gcp_auth exactly as in production. Caller JWTs use an HS256
//! dev secret (`GATEWAY_JWT_HS256_SECRET` if set, a random one otherwise). Nothing leaves the
//! machine and no Google account is needed.

use crate::auth::Scope;
use crate::auth::mint::{self, TokenRequest};
use crate::config::ServeArgs;
use crate::emulator::{Emulator, EmulatorSettings};
use crate::startup::Application;
use base64::Engine;
use secrecy::SecretString;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// The admin the sandbox's emulator accepts and the gateway impersonates.
pub const SANDBOX_ADMIN: &str = "admin@example.com";
/// The `sub` of the printed caller token.
pub const SANDBOX_CALLER: &str = "sandbox-developer";
/// Lifetime of the printed caller token (capped by the maximum token lifetime setting).
const SANDBOX_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// A running sandbox: the gateway, the emulator behind it, and the key it uses.
pub struct Sandbox {
    /// The gateway, bound and ready to run.
    pub app: Application,
    /// The emulator standing in for Google.
    pub emulator: Emulator,
    /// A caller token with every scope, signed with the sandbox's HS256 secret.
    pub token: String,
    // The key file lives as long as the sandbox.
    _key_dir: tempfile::TempDir,
}

impl Sandbox {
    /// Starts the emulator and builds the gateway in front of it. The listen address defaults
    /// to loopback: the sandbox's printed token can do everything.
    pub async fn start(args: &ServeArgs) -> anyhow::Result<Self> {
        // Google's quota, unless lifted: the sandbox behaves like production.
        let quota = args.sandbox_quota_per_minute;
        let emulator = Emulator::start(
            TcpListener::bind("127.0.0.1:0")?,
            EmulatorSettings {
                quota_per_minute: (quota > 0).then_some(quota),
                ..EmulatorSettings::default()
            },
        )
        .await?;
        let key_dir = tempfile::Builder::new()
            .prefix("invitation-gateway-sandbox-")
            .tempdir()?;
        let key_path = key_dir.path().join("service-account.json");
        emulator.write_key(&key_path)?;
        let jwt_secret = args.jwt.token.jwt_hs256_secret.clone().unwrap_or_else(|| {
            let bytes: [u8; 32] = rand::random();
            SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        });

        let mut sandbox = args.clone();
        sandbox.listen = Some(
            args.listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
        );
        sandbox.google.google_application_credentials = Some(key_path);
        sandbox.google.signer_service_account = None;
        sandbox.google.delegated_admin = Some(SANDBOX_ADMIN.into());
        sandbox.google.google_api_url = emulator.url().to_owned();
        sandbox.google.google_iam_url = emulator.url().to_owned();
        sandbox.google.google_token_url = emulator.token_url();
        sandbox.jwt.token.jwt_hs256_secret = Some(jwt_secret.clone());
        // Unless GATEWAY_DATABASE_URL names one, the sandbox's store lives and dies with it,
        // beside the key.
        if sandbox.store.database_url.is_none() {
            sandbox.store.database_url = Some(SecretString::from(format!(
                "sqlite://{}",
                key_dir.path().join("gateway.db").display()
            )));
        }
        let settings = sandbox.settings()?;

        let token = mint::mint_hs256(
            &jwt_secret,
            &TokenRequest {
                issuer: settings.jwt.issuer.clone(),
                audience: settings.jwt.audience.clone(),
                subject: SANDBOX_CALLER.into(),
                scopes: Scope::ALL.to_vec(),
                ttl: SANDBOX_TOKEN_TTL.min(settings.jwt.max_lifetime),
            },
        )?;
        let app = Application::build(settings).await?;
        Ok(Self {
            app,
            emulator,
            token,
            _key_dir: key_dir,
        })
    }

    /// The lines printed at start: where to click, and what to send.
    pub fn banner(&self) -> String {
        let address = self.app.address();
        let host = if address.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], address.port()))
        } else {
            address
        };
        format!(
            "invitation-gateway sandbox: emulated Google with demo data; nothing leaves this machine.\n\
             \x20 Swagger UI:  http://{host}/swagger-ui/\n\
             \x20 Console:     http://{host}/console/\n\
             \x20 API:         http://{host}/v1\n\
             \x20 Emulator:    {} (Google's paths, control API under /emulator/v1/)\n\
             \x20 Bearer token (every scope, {} h; paste it into Swagger UI's Authorize):\n\
             {}\n",
            self.emulator.url(),
            SANDBOX_TOKEN_TTL.as_secs() / 3600,
            self.token
        )
    }

    /// Serves until stopped, then stops the emulator.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.app.run_until_stopped().await;
        self.emulator.stop().await;
        result
    }
}
