//! Builds the server from settings and runs it: bind, state, routes, middleware.
//! `sandbox` wires it to the in-process emulator (the only place outside tests that does).

pub mod sandbox;

use crate::config::Settings;
use crate::middleware::{problems, request_id};
use crate::routes;
use crate::state::AppState;
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::{SocketAddr, TcpListener};

/// A bound, ready-to-run gateway.
pub struct Application {
    address: SocketAddr,
    state: AppState,
    server: Server,
}

impl Application {
    /// Binds the listener and builds the server; port 0 picks a free port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let address = listener.local_addr()?;
        let http = settings.http.clone();
        let state = AppState::build(settings).await?;
        // Secret and PEM keys are ready now; a JWKS is fetched in the background.
        state.auth.start(state.readiness.clone());

        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_state.clone()))
                .configure(routes::configure(http.json_limit_bytes))
                .wrap(from_fn(problems::render_problems))
                .wrap(Compress::default())
                .wrap(from_fn(request_id::assign_request_id))
        })
        .shutdown_timeout(http.shutdown_timeout.as_secs())
        .listen(listener)?;
        if http.workers > 0 {
            server = server.workers(http.workers);
        }
        let server = server.run();
        tracing::info!(%address, "invitation-gateway listening");
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The shared application state (tests and the sandbox feed readiness through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT, or its handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
