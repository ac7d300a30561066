//! What the terminal UI opens next: the session and settings it runs with, changed by the
//! switches the UI asks for (`/new`, `/sessions`, `/model`, `/strategy`, `/undo`), and the
//! notice the next UI shows about each.

use std::path::Path;
use std::sync::Arc;

use code_mesh_core::Store;
use code_mesh_protocol::SessionId;
use code_mesh_protocol::config::Strategy;
use code_mesh_tui::{SessionSwitch, SwitchNotice};

use crate::args::{GlobalArgs, RunArgs, StrategyArg, TuiArgs};
use crate::exit::{CliError, Exit};
use crate::run::{self, OpenedSession};

/// The settings of the next session to open: `run`'s arguments, as far as the UI changes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Plan {
    pub model: Option<String>,
    pub strategy: Option<StrategyArg>,
    pub yes: bool,
    pub session: Option<String>,
    pub continue_last: bool,
}

impl Plan {
    pub fn from_args(args: &TuiArgs) -> Plan {
        Plan {
            model: args.model.clone(),
            strategy: args.strategy,
            yes: args.yes,
            session: args.session.clone(),
            continue_last: args.continue_last,
        }
    }

    pub fn run_args(&self) -> RunArgs {
        RunArgs {
            model: self.model.clone(),
            strategy: self.strategy,
            yes: self.yes,
            session: self.session.clone(),
            continue_last: self.continue_last,
            ..RunArgs::default()
        }
    }

    /// Whether it continues a stored session (whose history the UI then shows).
    fn resumes(&self) -> bool {
        self.session.is_some() || self.continue_last
    }

    /// The same settings, continuing session `id`.
    fn resuming(&self, id: &SessionId) -> Plan {
        Plan {
            session: Some(id.to_string()),
            continue_last: false,
            ..self.clone()
        }
    }
}

/// A session opened for the UI, with what the UI shows besides its live events.
pub(super) struct Opened {
    pub session: OpenedSession,
    /// Whether it continues a stored session (the UI then shows its history).
    pub resumed: bool,
    pub strategy: Strategy,
}

/// Opens the session `plan` asks for, with its history when it resumes one.
pub(super) async fn open(global: &GlobalArgs, plan: &Plan) -> Result<Opened, CliError> {
    let run_args = plan.run_args();
    let context = run::context_for(global, &run_args)?;
    let session = run::open_session(&context, &run_args).await?;
    let strategy = context.loaded.config.agents.default_strategy;
    Ok(Opened {
        session,
        // The UI reads the history after opening and skips live events it has (by `seq`).
        resumed: plan.resumes(),
        strategy,
    })
}

/// What to open after the UI of session `current` asked for `switch`, and the notice saying
/// what happened. When the switch cannot happen, the plan continues `current` and the notice
/// says why.
pub(super) async fn plan_switch(
    store: &Arc<dyn Store>,
    current: &SessionId,
    plan: &Plan,
    cwd: &Path,
    command_line_model: Option<&String>,
    switch: SessionSwitch,
) -> (Plan, Option<SwitchNotice>) {
    let stay = plan.resuming(current);
    let outcome = match switch {
        SessionSwitch::New => Ok((
            Plan {
                session: None,
                continue_last: false,
                ..plan.clone()
            },
            None,
        )),
        SessionSwitch::Resume(id) => resume(store, &id, plan, command_line_model).await,
        SessionSwitch::Fork(id) => fork(store, &id, plan, command_line_model).await,
        SessionSwitch::Model(model) => Ok((
            Plan {
                model: Some(model.clone()),
                ..stay.clone()
            },
            Some(SwitchNotice::Done(format!("Model: {model}"))),
        )),
        SessionSwitch::Strategy(strategy) => Ok((
            Plan {
                strategy: Some(strategy_arg(strategy)),
                ..stay.clone()
            },
            Some(SwitchNotice::Done(format!("Strategy: {strategy}"))),
        )),
        SessionSwitch::Undo => undo(store, current, cwd)
            .await
            .map(|text| (stay.clone(), Some(SwitchNotice::Done(text)))),
    };
    match outcome {
        Ok((plan, notice)) => (plan, notice),
        Err(err) => (stay, Some(failed(&err))),
    }
}

/// The notice of a switch that did not happen.
pub(super) fn failed(err: &CliError) -> SwitchNotice {
    SwitchNotice::Failed {
        message: err.message.clone(),
        hint: err.hint.clone(),
    }
}

async fn resume(
    store: &Arc<dyn Store>,
    id: &SessionId,
    plan: &Plan,
    command_line_model: Option<&String>,
) -> Result<(Plan, Option<SwitchNotice>), CliError> {
    let info = store.session(id).await?.ok_or_else(|| no_session(id))?;
    let plan = Plan {
        // A resumed session keeps its own model unless the command line named one.
        model: command_line_model.cloned(),
        ..plan.resuming(id)
    };
    let notice = format!(
        "Resumed “{}” ({})",
        title(&info.title),
        messages(info.message_count)
    );
    Ok((plan, Some(SwitchNotice::Done(notice))))
}

async fn fork(
    store: &Arc<dyn Store>,
    id: &SessionId,
    plan: &Plan,
    command_line_model: Option<&String>,
) -> Result<(Plan, Option<SwitchNotice>), CliError> {
    let (child, _) = crate::sessions::fork_session(store.as_ref(), id, None).await?;
    let plan = Plan {
        model: command_line_model.cloned(),
        ..plan.resuming(&child.id)
    };
    let notice = format!(
        "Forked “{}” into a new session ({} copied); the original is unchanged",
        title(&child.title),
        messages(child.message_count)
    );
    Ok((plan, Some(SwitchNotice::Done(notice))))
}

/// Reverts the last turn of session `id` as `code-mesh undo --session ID` does; says what it
/// did.
async fn undo(store: &Arc<dyn Store>, id: &SessionId, cwd: &Path) -> Result<String, CliError> {
    let info = store.session(id).await?.ok_or_else(|| no_session(id))?;
    // The turns' snapshots are taken where they ran; a session started elsewhere and resumed
    // here would revert an older turn of that other folder.
    if Path::new(&info.cwd) != cwd {
        return Err(CliError::usage(
            format!(
                "this session was started in {}, not here; /undo reverts turns only where they ran",
                info.cwd
            ),
            format!(
                "open it there to undo: code-mesh -C {} --session {id}",
                info.cwd
            ),
        ));
    }
    let report = tokio::task::spawn_blocking(move || crate::undo::undo_turn(&info))
        .await
        .map_err(|err| CliError::new(Exit::Failure, format!("the undo stopped: {err}")))??;
    if report.reverted.is_empty() {
        return Err(crate::undo::nothing_reverted(&report));
    }
    let mut counts = [0usize; 3];
    for reverted in &report.reverted {
        counts[match reverted {
            code_mesh_tools::snapshot::Reverted::Restored(_) => 0,
            code_mesh_tools::snapshot::Reverted::Deleted(_) => 1,
            code_mesh_tools::snapshot::Reverted::Recreated(_) => 2,
        }] += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .zip(["restored", "deleted", "recreated"])
        .filter(|(count, _)| **count > 0)
        .map(|(count, verb)| format!("{} {verb}", files(*count)))
        .collect();
    let mut text = format!(
        "Undid the last turn (turn {}): {}",
        report.turn,
        parts.join(", ")
    );
    if !report.kept.is_empty() {
        text.push_str(&format!(
            "; kept {} changed again since: {}",
            files(report.kept.len()),
            report.kept.join(", ")
        ));
    }
    Ok(text)
}

fn no_session(id: &SessionId) -> CliError {
    CliError::usage(
        format!("no session `{id}`"),
        "`/sessions` lists the sessions there are",
    )
}

fn title(title: &str) -> &str {
    if title.trim().is_empty() {
        "untitled session"
    } else {
        title
    }
}

fn messages(count: u64) -> String {
    if count == 1 {
        "1 message".to_owned()
    } else {
        format!("{count} messages")
    }
}

fn files(count: usize) -> String {
    if count == 1 {
        "1 file".to_owned()
    } else {
        format!("{count} files")
    }
}

fn strategy_arg(strategy: Strategy) -> StrategyArg {
    match strategy {
        Strategy::Single => StrategyArg::Single,
        Strategy::Hierarchical => StrategyArg::Hierarchical,
        Strategy::Pipeline => StrategyArg::Pipeline,
        Strategy::Mesh => StrategyArg::Mesh,
        Strategy::Swarm => StrategyArg::Swarm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_the_model_or_strategy_continues_the_same_session() {
        let plan = Plan {
            continue_last: true,
            yes: true,
            ..Plan::default()
        };
        let current = SessionId("ses_1".into());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|err| panic!("{err}"));
        // No store is read for these two: a store that fails every call proves it.
        let store: Arc<dyn Store> = Arc::new(FailingStore);
        let (next, notice) = runtime.block_on(plan_switch(
            &store,
            &current,
            &plan,
            Path::new("/p"),
            None,
            SessionSwitch::Model("openai/gpt-4.1".into()),
        ));
        assert_eq!(
            next,
            Plan {
                model: Some("openai/gpt-4.1".into()),
                yes: true,
                session: Some("ses_1".into()),
                ..Plan::default()
            }
        );
        assert_eq!(
            notice,
            Some(SwitchNotice::Done("Model: openai/gpt-4.1".into()))
        );
        let (next, _) = runtime.block_on(plan_switch(
            &store,
            &current,
            &plan,
            Path::new("/p"),
            None,
            SessionSwitch::Strategy(Strategy::Mesh),
        ));
        assert_eq!(next.strategy, Some(StrategyArg::Mesh));
        assert_eq!(next.session.as_deref(), Some("ses_1"));
        // A failed switch stays on the current session and says why.
        let (next, notice) = runtime.block_on(plan_switch(
            &store,
            &current,
            &plan,
            Path::new("/p"),
            None,
            SessionSwitch::Resume(SessionId("ses_2".into())),
        ));
        assert_eq!(next.session.as_deref(), Some("ses_1"));
        assert!(
            matches!(&notice, Some(SwitchNotice::Failed { message, .. }) if message.contains("the store is down")),
            "{notice:?}"
        );
    }

    /// A store whose every call fails.
    struct FailingStore;

    fn down<T>() -> Result<T, code_mesh_core::StoreError> {
        Err(code_mesh_core::StoreError::new("the store is down"))
    }

    #[async_trait::async_trait]
    impl Store for FailingStore {
        async fn create_session(
            &self,
            _: code_mesh_core::NewSession,
        ) -> Result<code_mesh_protocol::SessionInfo, code_mesh_core::StoreError> {
            down()
        }
        async fn session(
            &self,
            _: &SessionId,
        ) -> Result<Option<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
            down()
        }
        async fn latest_session(
            &self,
            _: &str,
        ) -> Result<Option<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
            down()
        }
        async fn list_sessions(
            &self,
            _: usize,
        ) -> Result<Vec<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
            down()
        }
        async fn messages(
            &self,
            _: &SessionId,
        ) -> Result<Vec<code_mesh_protocol::Message>, code_mesh_core::StoreError> {
            down()
        }
        async fn events(
            &self,
            _: &SessionId,
        ) -> Result<Vec<code_mesh_protocol::Event>, code_mesh_core::StoreError> {
            down()
        }
        async fn append_event(
            &self,
            _: &code_mesh_protocol::Event,
        ) -> Result<(), code_mesh_core::StoreError> {
            down()
        }
        async fn create_session_with_events(
            &self,
            _: code_mesh_core::NewSession,
            _: Vec<code_mesh_core::RecordedEvent>,
        ) -> Result<code_mesh_protocol::SessionInfo, code_mesh_core::StoreError> {
            down()
        }
        async fn delete_session(&self, _: &SessionId) -> Result<bool, code_mesh_core::StoreError> {
            down()
        }
        async fn child_sessions(
            &self,
            _: &SessionId,
        ) -> Result<Vec<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
            down()
        }
        async fn context_state(
            &self,
            _: &SessionId,
        ) -> Result<code_mesh_protocol::ContextState, code_mesh_core::StoreError> {
            down()
        }
    }
}
