//! `code-mesh`, the command line of Code Mesh.
//!
//! Thin glue: it parses arguments, loads the layered config, wires the provider, tools and
//! store into the engine, and prints the engine's events. Everything it does goes through the
//! engine's Op/Event API; nothing here reaches into provider or store internals.

mod agent_tree;
mod agents;
mod args;
mod auth;
mod config_cmd;
mod exit;
mod memory;
mod models;
mod orchestrated;
mod output;
mod provider_setup;
mod run;
mod sessions;
mod setup;
mod undo;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    setup::init_logging();
    let outcome = match cli.command {
        Some(Command::Run(args)) => run::run(&cli.global, args),
        Some(Command::Sessions { command }) => sessions::sessions(&cli.global, command),
        Some(Command::Config { command }) => config_cmd::config(&cli.global, command),
        Some(Command::Models { json, all }) => models::models(&cli.global, json, all),
        Some(Command::Auth { command }) => auth::auth(&cli.global, command),
        Some(Command::Undo(args)) => undo::undo(&cli.global, args),
        Some(Command::Memory { command }) => memory::memory(&cli.global, command),
        Some(Command::Agents { command }) => agents::agents(&cli.global, command),
        None => Err(CliError::usage(
            "the terminal UI is not part of this build yet",
            "give a task with `code-mesh run \"…\"`; `code-mesh --help` lists the commands",
        )),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            err.print();
            err.exit_code().into()
        }
    }
}
