//! Temporary command line for trying the emulator; the full CLI replaces it at merge.

use clap::{Parser, Subcommand};
use invitation_gateway::emulator::{self, EmulatorArgs};

/// invitation-gateway
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the Google emulator alone on its own port.
    Emulator(EmulatorArgs),
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Emulator(args) => emulator::run_standalone(args).await,
    }
}
