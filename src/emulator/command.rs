//! `invitation-gateway emulator`: the emulator alone on its own port, for callers' own CI.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{Emulator, EmulatorSettings, Seed, SetupProblem};

/// Settings of the standalone emulator.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port (the first stdout line names it).
    #[arg(
        long,
        env = "GATEWAY_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: String,
    /// Initial accounts: `demo`, `empty`, or the path of a JSON seed file.
    #[arg(long, env = "GATEWAY_EMULATOR_SEED", default_value = "demo")]
    pub seed: String,
    /// The admin the token endpoint accepts as `sub` (the impersonated user).
    #[arg(
        long,
        env = "GATEWAY_EMULATOR_ADMIN",
        default_value = "admin@example.com"
    )]
    pub admin: String,
    /// Write a service-account key file whose `token_uri` points at this emulator (mode 0600).
    #[arg(long, env = "GATEWAY_EMULATOR_WRITE_KEY", value_name = "FILE")]
    pub write_key: Option<PathBuf>,
    /// Project quota: calls of the five User Invitation methods per minute, past which Google
    /// answers 429 RESOURCE_EXHAUSTED; 0 for no quota.
    #[arg(
        long,
        env = "GATEWAY_EMULATOR_QUOTA_PER_MINUTE",
        default_value_t = 60,
        value_name = "N"
    )]
    pub quota_per_minute: u32,
    /// Play one mistake of Google's setup from the start, as Google answers it (see
    /// `POST /emulator/v1/setup`): none, delegation_missing, scope_missing, admin_unknown,
    /// api_disabled, key_disabled, key_deleted, clock_skew, signer_denied.
    #[arg(
        long,
        env = "GATEWAY_EMULATOR_SETUP_PROBLEM",
        value_enum,
        default_value_t = SetupProblem::None,
        value_name = "PROBLEM"
    )]
    pub setup_problem: SetupProblem,
}

/// Runs the emulator until Ctrl-C or SIGTERM; first prints `emulator listening on URL` to stdout.
pub async fn run_standalone(args: EmulatorArgs) -> anyhow::Result<()> {
    let seed = Seed::from_arg(&args.seed)?;
    let shutdown = shutdown_signal()?;
    let listener = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let emulator = Emulator::start(
        listener,
        EmulatorSettings {
            seed,
            admin: args.admin,
            key: None,
            quota_per_minute: (args.quota_per_minute > 0).then_some(args.quota_per_minute),
            setup_problem: args.setup_problem,
        },
    )
    .await?;
    if let Some(path) = &args.write_key {
        emulator
            .write_key(path)
            .with_context(|| format!("cannot write the key file {}", path.display()))?;
        tracing::info!(path = %path.display(), "service-account key written");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "emulator listening on {}", emulator.url())?;
    stdout.flush()?;
    drop(stdout);
    shutdown.await;
    tracing::info!("emulator stopping");
    emulator.stop().await;
    Ok(())
}

/// Registers for Ctrl-C and SIGTERM at once, so a signal sent right after the URL line is seen.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
