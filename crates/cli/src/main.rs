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
mod rule_saver;
mod run;
mod serve;
mod sessions;
mod setup;
mod tui;
mod undo;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The terminal UI owns the screen and logs to a file once it knows where (see `tui`).
    if cli.command.is_some() {
        setup::init_logging();
    }
    if cli.command.is_some() && cli.tui.is_set() {
        // `code-mesh -m X run …`: the options before the subcommand are the terminal UI's.
        let err = exit::CliError::usage(
            "-m, --strategy, --yes, -c, --session and a prompt before a subcommand belong to the terminal UI",
            "put them after the subcommand, e.g. `code-mesh run -m openai/gpt-5-mini \"…\"`",
        );
        err.print();
        return err.exit_code().into();
    }
    let outcome = match cli.command {
        Some(Command::Run(args)) => run::run(&cli.global, args),
        Some(Command::Sessions { command }) => sessions::sessions(&cli.global, command),
        Some(Command::Config { command }) => config_cmd::config(&cli.global, command),
        Some(Command::Models { json, all }) => models::models(&cli.global, json, all),
        Some(Command::Auth { command }) => auth::auth(&cli.global, command),
        Some(Command::Undo(args)) => undo::undo(&cli.global, args),
        Some(Command::Memory { command }) => memory::memory(&cli.global, command),
        Some(Command::Agents { command }) => agents::agents(&cli.global, command),
        Some(Command::Serve(args)) => serve::serve(&cli.global, args),
        None => tui::tui(&cli.global, cli.tui),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            err.print();
            err.exit_code().into()
        }
    }
}
