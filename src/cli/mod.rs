//! The command line: commands and their settings.
//!
//! Every setting is a flag with an environment variable (`GATEWAY_*`, plus Google's own
//! `GOOGLE_APPLICATION_CREDENTIALS`); `--help` lists them. Secrets are never echoed: clap is told
//! to hide their env values.

mod table;
mod token;

pub use table::settings_table;
pub use token::TokenArgs;

use crate::config::{ServeArgs, StoreArgs, env};
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};

/// A command line clap refused, as one line naming the setting's env var too: values come from
/// the environment as often as from flags (`invalid value 'x' for '--listen <ADDR>': ... (env
/// GATEWAY_LISTEN)`).
pub fn parse_failure(err: &clap::Error) -> String {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let rendered = err.render().to_string();
    let line = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_owned();
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return line;
    };
    let flag = arg.split_whitespace().next().unwrap_or_default();
    let command = Cli::command();
    let env = std::iter::once(&command)
        .chain(command.get_subcommands())
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long().is_some_and(|long| flag == format!("--{long}")))
        .and_then(|a| a.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    match env {
        Some(env) => format!("{line} (env {env})"),
        None => line,
    }
}

/// invitation-gateway: a safe, audited HTTP API in front of Google's User Invitation API.
#[derive(Debug, Parser)]
#[command(name = "invitation-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Log format: JSON lines for Cloud Logging, readable text, or auto (text on a terminal).
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations to GATEWAY_DATABASE_URL and exit (reads only the store's
    /// settings; `serve` also migrates at start, under the same lock).
    Migrate(StoreArgs),
    /// Print the OpenAPI document (the committed openapi/openapi.json must equal it).
    Openapi,
    /// Run the emulator of Google's User Invitation API alone on its own port (for CI).
    Emulator(crate::emulator::EmulatorArgs),
    /// Print an HS256 caller JWT for local use and tests.
    Token(TokenArgs),
    /// Check every step of Google's setup with serve's settings: PASS/WARN/FAIL each, with the
    /// fix; exits 1 on any FAIL. Never sends or cancels.
    Doctor(Box<DoctorArgs>),
    /// Print the settings table of docs/settings.md (generated from these flags).
    #[command(hide = true)]
    SettingsTable,
}

/// Settings of `doctor`: exactly serve's, plus how to report.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Print one JSON document (for CI) instead of lines.
    #[arg(long)]
    pub json: bool,

    /// The address isInvitableUser is asked about (never mailed).
    /// [default: doctor-probe@ the delegated admin's domain]
    #[arg(long, value_name = "EMAIL")]
    pub probe_email: Option<String>,

    /// Serve's settings.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[cfg(test)]
mod tests;
