//! Builds the server from settings and runs it: bind, state, routes, middleware.
//! `sandbox` wires it to the in-process emulator (the only place outside tests that does);
//! `shutdown` is what happens on SIGTERM.

pub mod sandbox;
pub mod shutdown;

use crate::config::{ServeArgs, Settings, StoreArgs};
use crate::middleware::{body_timeout, draining, nul_guard, problems, request_id};
use crate::routes;
use crate::state::AppState;
use crate::telemetry::LogFormat;
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use shutdown::ShutdownPlan;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};

/// `serve`: validates the settings, starts logging and runs the gateway (against an in-process
/// emulator with `sandbox`) until SIGTERM.
pub async fn serve(args: ServeArgs, log_format: LogFormat) -> anyhow::Result<()> {
    // Logging (and traces) start before the rest is validated: the sandbox validates only once
    // its emulator runs (its URLs are part of the settings).
    let traces = crate::telemetry::init_traced(
        log_format,
        args.gcp_project()?,
        args.otlp_endpoint()?.as_deref(),
    )?;
    let served = if args.sandbox {
        match sandbox::Sandbox::start(&args).await {
            Ok(sandbox) => {
                print!("{}", sandbox.banner());
                sandbox.run_until_stopped().await.map_err(Into::into)
            }
            Err(error) => Err(error),
        }
    } else {
        match args.settings() {
            Ok(settings) => match Application::build(settings).await {
                Ok(application) => application.run_until_stopped().await.map_err(Into::into),
                Err(error) => Err(error),
            },
            Err(error) => Err(error.into()),
        }
    };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    served
}

/// `migrate`: applies the store's migrations (under the same lock as a starting `serve`) and
/// exits; reads only the store's settings.
pub async fn migrate(args: &StoreArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let store = crate::store::Store::connect(&settings, crate::store::Clock::system()).await?;
    println!("the {} store is migrated", store.backend_name());
    store.close().await;
    Ok(())
}

/// A bound, ready-to-run gateway.
pub struct Application {
    address: SocketAddr,
    state: AppState,
    server: Server,
    shutdown: ShutdownPlan,
}

impl Application {
    /// Binds the listener and builds the server; port 0 picks a free port.
    /// Refuses settings whose rules do not hold (see [`Settings::check`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_store_clock(settings, crate::store::Clock::system()).await
    }

    /// [`Application::build`] with the store reading `clock` (tests move a manual one to drive
    /// leases, reminders, the next day, the tracker's interval and webhook retries without sleeping).
    pub async fn build_with_store_clock(
        settings: Settings,
        clock: crate::store::Clock,
    ) -> anyhow::Result<Self> {
        settings.check()?;
        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let address = listener.local_addr()?;
        let http = settings.http.clone();
        let shutdown = ShutdownPlan::from_settings(&settings);
        let state = AppState::build_with_store_clock(settings, clock).await?;
        // Before the first request: its events are then scheduled for every webhook endpoint.
        state
            .tracking
            .register_webhook_endpoints()
            .await
            .map_err(|err| anyhow::anyhow!("registering the webhook endpoints: {err}"))?;
        // Secret and PEM keys are ready now; a JWKS is fetched in the background.
        state.auth.start(state.readiness.clone());

        // The route table is read from the OpenAPI paths once, here, rather than by the first
        // worker: what building it frees then stays out of the workers' malloc arenas.
        routes::operations::locations();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_state.clone()))
                .configure(routes::configure(http.json_limit_bytes))
                .wrap(from_fn(nul_guard::refuse_nul_in_url))
                .wrap(from_fn(body_timeout::limit_body_read_time))
                .wrap(from_fn(problems::render_problems))
                .wrap(Compress::default())
                .wrap(from_fn(draining::close_connections_while_draining))
                .wrap(from_fn(request_id::observe_request))
        })
        // Our own handler flips readiness before the listener closes: see `shutdown`.
        .disable_signals()
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
            shutdown,
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

    /// Serves until SIGTERM or SIGINT, then shuts down as `shutdown` describes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` resolves, then shuts down: readiness fails at once, the listener
    /// closes after the drain pause, in-flight requests get the shutdown timeout.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let Self {
            state,
            server,
            shutdown,
            ..
        } = self;
        let handle = server.handle();
        let upkeep = tokio::spawn(crate::metrics::run_upkeep(state.metrics.clone()));
        let invitations = std::sync::Arc::clone(&state.invitations);
        let store_watch = tokio::spawn(async move { invitations.watch_store().await });
        let invitations = std::sync::Arc::clone(&state.invitations);
        let every = state.settings.store.prune_interval;
        let store_prune = tokio::spawn(async move { invitations.prune_store(every).await });
        // Background work of tracking: both poll the store and stop with the server.
        let tracking = std::sync::Arc::clone(&state.tracking);
        let tracker = tokio::spawn(async move { tracking.run_tracker().await });
        let tracking = std::sync::Arc::clone(&state.tracking);
        let webhooks = tokio::spawn(async move { tracking.run_webhooks().await });
        // The campaign worker: told to stop on shutdown, it finishes or gives back the items in
        // flight (a lease left behind runs out and another replica takes the item over).
        let (stop_campaigns, campaigns_stopped) = tokio::sync::watch::channel(false);
        let campaign_worker =
            tokio::spawn(std::sync::Arc::clone(&state.campaigns).run_worker(campaigns_stopped));
        let result = async {
            let mut server = std::pin::pin!(server);
            tokio::select! {
                result = &mut server => return result,
                () = stop => {}
            }
            shutdown.begin(&state.readiness);
            // No new walk or delivery once draining: an aborted page or attempt rolls back (its
            // transaction is dropped) and is done again by the next holder, which can start at
            // once: the leases are given up.
            tracker.abort();
            webhooks.abort();
            state.tracking.release_leases().await;
            let _ = stop_campaigns.send(true);
            // The server must keep being polled while it drains.
            tokio::select! {
                result = &mut server => return result,
                () = tokio::time::sleep(shutdown.drain) => {}
            }
            tracing::info!("drain pause over: the listener closes, in-flight requests finish");
            let (result, ()) = tokio::join!(server, handle.stop(true));
            tracing::info!("server stopped");
            result
        }
        .await;
        let _ = stop_campaigns.send(true);
        let worker_abort = campaign_worker.abort_handle();
        if tokio::time::timeout(shutdown.timeout, campaign_worker)
            .await
            .is_err()
        {
            worker_abort.abort();
        }
        upkeep.abort();
        store_watch.abort();
        store_prune.abort();
        tracker.abort();
        webhooks.abort();
        result
    }
}
