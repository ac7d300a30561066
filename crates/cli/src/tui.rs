//! `code-mesh` with no subcommand: the terminal UI over a session opened as `run` opens one.

use std::io::IsTerminal;
use std::process::ExitCode;

use code_mesh_tui::{TuiExit, TuiOptions};

use crate::args::{GlobalArgs, RunArgs, TuiArgs};
use crate::exit::{CliError, Exit};
use crate::run::{self, OpenedSession};
use crate::setup::{self, env_vars};

pub fn tui(global: &GlobalArgs, args: TuiArgs) -> Result<ExitCode, CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "the terminal UI needs a terminal on standard input and output",
            "give the task to `code-mesh run \"…\"` instead",
        ));
    }
    let run_args = RunArgs {
        model: args.model,
        strategy: args.strategy,
        yes: args.yes,
        ..RunArgs::default()
    };
    let context = run::context_for(global, &run_args)?;
    setup::init_file_logging(&context.paths.data_dir.join("logs").join("tui.log"));
    let color = context.env_var(env_vars::NO_COLOR).is_none();
    let prompt = Some(args.prompt.join(" ")).filter(|prompt| !prompt.trim().is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    let outcome = runtime.block_on(async {
        let mut prompt = prompt;
        loop {
            let OpenedSession {
                handle,
                driver,
                window_tokens,
                store,
            } = run::open_session(&context, &run_args).await?;
            let options = TuiOptions {
                prompt: prompt.take(),
                color,
                context_window: window_tokens,
                store: Some(store),
            };
            let exit = code_mesh_tui::run(handle, options).await;
            // The UI asked the session to shut down; its last events are being stored.
            let _ = driver.await;
            match exit {
                // `/new`: the same settings, a fresh session.
                Ok(TuiExit::NewSession) => continue,
                Ok(TuiExit::Quit | TuiExit::EngineStopped) => return Ok(ExitCode::SUCCESS),
                Err(err) => return Err(CliError::new(Exit::Failure, err)),
            }
        }
    });
    runtime.shutdown_background();
    outcome
}
