//! A faithful in-process fake of Google's Cloud Identity User Invitation API, its OAuth token
//! endpoint and IAM signJwt, plus a control API for tests: all on one base URL.
//!
//! Google publishes no emulator for this API; HR teams run this one in their CI (see
//! `docs/emulator.md`).

mod accounts;
mod api;
mod assertion;
mod bearer;
mod body;
mod command;
mod control;
mod faults;
mod iam;
mod key;
mod list;
mod method;
mod page_token;
mod path;
mod quota;
mod seed;
mod setup;
mod state;
mod stats;
mod token;
mod wire;

use std::net::TcpListener;
use std::path::Path;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use accounts::State;
pub use command::{EmulatorArgs, run_standalone};
pub use key::EmulatorKey;
pub use seed::{Seed, SeedAccount};
pub use setup::SetupProblem;

/// The emulated customer's id.
pub const CUSTOMER_ID: &str = "C0demo000";
/// Scope for every User Invitation method.
pub const USERINVITATIONS_SCOPE: &str =
    "https://www.googleapis.com/auth/cloud-identity.userinvitations";
/// Scope for get, list and isInvitableUser only.
pub const USERINVITATIONS_READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/cloud-identity.userinvitations.readonly";
/// Scope a service account's own token needs for signJwt.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The IAM scope, also accepted by signJwt.
pub const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";

/// What an emulator starts with.
#[derive(Debug, Clone)]
pub struct EmulatorSettings {
    /// Initial accounts.
    pub seed: Seed,
    /// The admin the token endpoint accepts as `sub`.
    pub admin: String,
    /// The service account's key; `None` generates a fresh one.
    pub key: Option<EmulatorKey>,
    /// The project quota: calls of the five User Invitation methods per minute; `None` (the
    /// default here, for tests and the sandbox) is unlimited. The `emulator` command's
    /// `--quota-per-minute` defaults to 60.
    pub quota_per_minute: Option<u32>,
    /// The setup mistake played from the start (and after every reset); `None` is healthy.
    pub setup_problem: SetupProblem,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        Self {
            seed: Seed::Demo,
            admin: "admin@example.com".into(),
            key: None,
            quota_per_minute: None,
            setup_problem: SetupProblem::None,
        }
    }
}

/// A running emulator.
pub struct Emulator {
    url: String,
    token_url: String,
    key_json: String,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Emulator {
    /// Starts on an already bound listener (tests bind 127.0.0.1:0).
    pub async fn start(
        listener: TcpListener,
        settings: EmulatorSettings,
    ) -> anyhow::Result<Emulator> {
        let address = listener.local_addr()?;
        // A client cannot connect to the unspecified address, so the URL names loopback instead.
        let host = match address.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            ip if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let url = format!("http://{host}:{}", address.port());
        let token_url = format!("{url}/token");
        let directory = settings.seed.directory(chrono::Utc::now())?;
        // Key generation is CPU-bound; keep it off the async runtime's threads.
        let token_uri = token_url.clone();
        let given = settings.key;
        let account = tokio::task::spawn_blocking(move || {
            let key = match given {
                Some(key) => key,
                None => EmulatorKey::generate()?,
            };
            key::ServiceAccount::new(&key, &token_uri)
        })
        .await??;
        let key_json = account.key_json.clone();
        let mut world = state::World::new(directory, settings.quota_per_minute);
        world.setup_problem = settings.setup_problem;
        let shared = web::Data::new(state::Shared::new(
            account,
            settings.admin,
            token_url.clone(),
            world,
        ));
        let server = HttpServer::new(move || {
            let clock = shared.clone();
            App::new()
                .app_data(shared.clone())
                .wrap_fn(move |request, service| {
                    let answer = actix_web::dev::Service::call(service, request);
                    let clock = clock.clone();
                    async move {
                        let mut answer = answer.await?;
                        setup::date_header(clock.world().setup_problem, answer.headers_mut());
                        Ok(answer)
                    }
                })
                .service(
                    web::resource("/token")
                        .post(token::issue_token)
                        .default_service(web::to(wire::reject_method)),
                )
                .configure(control::routes)
                .default_service(web::to(api::route_google))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        tracing::info!(%url, "emulator started");
        Ok(Emulator {
            url,
            token_url,
            key_json,
            handle,
            server,
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The token endpoint, `url() + "/token"`.
    pub fn token_url(&self) -> String {
        self.token_url.clone()
    }

    /// The service account's `client_email`.
    pub fn client_email(&self) -> &str {
        key::CLIENT_EMAIL
    }

    /// The complete service-account key file.
    pub fn service_account_key_json(&self) -> &str {
        &self.key_json
    }

    /// Writes the key file, readable by its owner only.
    pub fn write_key(&self, path: &Path) -> std::io::Result<()> {
        key::write_key_file(path, self.key_json.as_bytes())
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        if let Err(error) = self.server.await {
            tracing::warn!(%error, "emulator server task failed");
        }
    }
}
