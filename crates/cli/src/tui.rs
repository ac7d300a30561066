//! `code-mesh` with no subcommand: the terminal UI over a session opened as `run` opens one.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use code_mesh_tui::{ModelChoice, RuleSaver, TuiExit, TuiOptions};

use crate::args::{GlobalArgs, TuiArgs};
use crate::exit::{CliError, Exit};
use crate::rule_saver::ConfigRuleSaver;
use crate::run::OpenedSession;
use crate::setup::{self, env_vars};
use switch::Plan;

mod switch;

pub fn tui(global: &GlobalArgs, args: TuiArgs) -> Result<ExitCode, CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "the terminal UI needs a terminal on standard input and output",
            "give the task to `code-mesh run \"…\"` instead",
        ));
    }
    let mut plan = Plan::from_args(&args);
    let command_line_model = args.model.clone();
    let context = crate::run::context_for(global, &plan.run_args())?;
    setup::init_file_logging(&context.paths.data_dir.join("logs").join("tui.log"));
    let color = context.env_var(env_vars::NO_COLOR).is_none();
    let prompt = Some(args.prompt.join(" ")).filter(|prompt| !prompt.trim().is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    // "Allow always (save rule)" answers go to the global config file (see `rule_saver`).
    let rule_saver: Arc<dyn RuleSaver> = Arc::new(ConfigRuleSaver::for_context(&context));
    let outcome = runtime.block_on(async {
        let mut prompt = prompt;
        let (models, more_models) = model_choices(&context);
        let mut notice = None;
        // The last plan that opened, so a switch that cannot open goes back to it.
        let mut fallback: Option<Plan> = None;
        loop {
            let opened = match switch::open(global, &plan).await {
                Ok(opened) => opened,
                Err(err) => match fallback.take() {
                    Some(previous) => {
                        notice = Some(switch::failed(&err));
                        plan = previous;
                        switch::open(global, &plan).await?
                    }
                    None => return Err(err),
                },
            };
            let OpenedSession {
                handle,
                driver,
                window_tokens,
                store,
            } = opened.session;
            let current = handle.id().clone();
            let options = TuiOptions {
                prompt: prompt.take(),
                color,
                context_window: window_tokens,
                store: Some(store.clone()),
                resumed: opened.resumed,
                notice: notice.take(),
                strategy: opened.strategy,
                models: models.clone(),
                more_models: Some(more_models.clone()),
                rule_saver: Some(rule_saver.clone()),
                workspace: Some(context.cwd.clone()),
            };
            let exit = code_mesh_tui::run(handle, options).await;
            // The UI asked the session to shut down; its last events are being stored.
            let _ = driver.await;
            match exit {
                Ok(TuiExit::Switch(next)) => {
                    let (next_plan, next_notice) = switch::plan_switch(
                        &store,
                        &current,
                        &plan,
                        &context.cwd,
                        command_line_model.as_ref(),
                        next,
                    )
                    .await;
                    fallback = Some(Plan {
                        session: Some(current.to_string()),
                        continue_last: false,
                        ..plan
                    });
                    plan = next_plan;
                    notice = next_notice;
                }
                Ok(TuiExit::Quit | TuiExit::EngineStopped) => return Ok(ExitCode::SUCCESS),
                Err(err) => return Err(CliError::new(Exit::Failure, err)),
            }
        }
    });
    runtime.shutdown_background();
    outcome
}

/// The model picker's list: the usable providers' models at once, and the same list with a
/// local Ollama's models once it answers, fetched in the background so the UI opens without
/// waiting for it (it may not run at all, or sit behind a slow network).
fn model_choices(
    context: &setup::Context,
) -> (
    Vec<ModelChoice>,
    tokio::sync::watch::Receiver<Vec<ModelChoice>>,
) {
    let models = crate::models::model_choices(context).unwrap_or_else(|err| {
        tracing::warn!(error = %err.message, "no models for the model picker");
        Vec::new()
    });
    let (sender, receiver) = tokio::sync::watch::channel(Vec::new());
    let ollama = code_mesh_providers::ollama_base_url(|name: &str| context.env_var(name));
    let known = models.clone();
    tokio::spawn(async move {
        let local = crate::models::local_model_choices(ollama).await;
        if !local.is_empty() {
            let mut all = known;
            all.extend(local);
            let _ = sender.send(all);
        }
    });
    (models, receiver)
}
