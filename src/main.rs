//! The `invitation-gateway` binary: parse the command line, hand over to the library.

use clap::Parser;
use invitation_gateway::cli::{self, Cli, Command};
use invitation_gateway::config::AmbientCredentials;
use invitation_gateway::{doctor, emulator, install_crypto_provider, routes, startup, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap has them; a refusal is one line.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => return fail(&cli::parse_failure(&err)),
    };
    install_crypto_provider();
    let result = match cli.command {
        Command::Openapi => {
            print!("{}", routes::openapi::document_json());
            Ok(())
        }
        Command::Emulator(args) => {
            // stdout carries only the "emulator listening on URL" line that scripts read.
            telemetry::init_stderr(cli.log_format);
            emulator::run_standalone(args).await
        }
        Command::Migrate(args) => startup::migrate(args.into()).await,
        Command::Serve(args) => startup::serve((*args).into(), cli.log_format).await,
        Command::Doctor(args) => {
            let raw = args.serve.into();
            let report = doctor::run(
                &raw,
                &AmbientCredentials::Default,
                args.probe_email.as_deref(),
            )
            .await;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            return if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
        }
        Command::Token(args) => args
            .mint()
            .map(|token| println!("{token}"))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("{err:#}")),
    }
}

/// One clear line on stderr and a non-zero exit.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("invitation-gateway: error: {err}");
    ExitCode::from(2)
}
