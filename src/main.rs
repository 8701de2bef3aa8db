//! The `invitation-gateway` binary: parse the command line, hand over to the library.

use clap::Parser;
use invitation_gateway::cli::{self, Cli, Command};
use invitation_gateway::startup::Application;
use invitation_gateway::startup::sandbox::Sandbox;
use invitation_gateway::{config, emulator, install_crypto_provider, routes, telemetry};
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
    match cli.command {
        Command::Openapi => {
            print!("{}", routes::openapi::document_json());
            ExitCode::SUCCESS
        }
        Command::Emulator(args) => {
            // stdout carries only the "emulator listening on URL" line that scripts read.
            telemetry::init_stderr(cli.log_format);
            match emulator::run_standalone(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&format!("{err:#}")),
            }
        }
        Command::Serve(args) if args.sandbox => {
            let gcp_project = match &args.gcp_project {
                Some(project) => match config::gcp_project("GATEWAY_GCP_PROJECT", project) {
                    Ok(project) => Some(project),
                    Err(err) => return fail(&err),
                },
                None => None,
            };
            telemetry::init(cli.log_format, gcp_project);
            let sandbox = match Sandbox::start(&args).await {
                Ok(sandbox) => sandbox,
                Err(err) => return fail(&format!("{err:#}")),
            };
            print!("{}", sandbox.banner());
            match sandbox.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&err),
            }
        }
        Command::Token(args) => match args.mint() {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
        Command::Serve(args) => {
            let settings = match args.settings() {
                Ok(settings) => settings,
                Err(err) => return fail(&err),
            };
            telemetry::init(cli.log_format, settings.gcp_project.clone());
            match Application::build(settings).await {
                Ok(app) => match app.run_until_stopped().await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(err) => fail(&err),
                },
                Err(err) => fail(&format!("{err:#}")),
            }
        }
    }
}

/// One clear line on stderr and a non-zero exit.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("invitation-gateway: error: {err}");
    ExitCode::from(2)
}
