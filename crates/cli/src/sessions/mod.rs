//! `code-mesh sessions list|show|resume|fork|export|import|delete|replay`.
//!
//! Every command here works on the store through the `Store` trait; the state they show is
//! the state the session's events imply (`replay` checks that it is).

mod fork;
mod replay;
mod transfer;
mod view;

pub(crate) use fork::fork_session;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use code_mesh_core::Store;
use code_mesh_protocol::{SessionId, SessionInfo};
use code_mesh_store::SqliteStore;

use crate::args::{GlobalArgs, ResumeArgs, SessionsCommand};
use crate::exit::{CliError, Exit};
use crate::setup;

/// How many messages `sessions resume ID` (without a prompt) shows.
const RESUME_TAIL: usize = 6;

pub fn sessions(global: &GlobalArgs, command: SessionsCommand) -> Result<ExitCode, CliError> {
    // With a prompt, resuming is running, and `run` makes its own runtime.
    let command = match command {
        SessionsCommand::Resume(args) if !args.run.prompt.join(" ").trim().is_empty() => {
            return resume_with_prompt(global, args);
        }
        command => command,
    };
    with_store(global, async move |store| match command {
        SessionsCommand::List { limit, json } => list(&*store, limit, json).await,
        SessionsCommand::Show { id, json, audit } => {
            show(&*store, &SessionId(id), json, audit).await
        }
        SessionsCommand::Fork { id, at } => fork::fork(&*store, &SessionId(id), at).await,
        SessionsCommand::Export { id, format, output } => {
            transfer::export(&*store, &SessionId(id), format, output.as_deref()).await
        }
        SessionsCommand::Import { file } => transfer::import(&*store, &file).await,
        SessionsCommand::Delete { id, yes } => delete(&*store, &SessionId(id), yes).await,
        SessionsCommand::Replay { id, all } => {
            replay::replay(&*store, id.map(SessionId).filter(|_| !all)).await
        }
        SessionsCommand::Resume(args) => show_resume_tail(&*store, &SessionId(args.id)).await,
    })
}

/// Opens the store and runs `work` on a single-threaded runtime.
fn with_store<F>(global: &GlobalArgs, work: F) -> Result<ExitCode, CliError>
where
    F: AsyncFnOnce(Arc<dyn Store>) -> Result<ExitCode, CliError>,
{
    let context = setup::context(global, Vec::new())?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(context.paths.database_file())?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    runtime.block_on(work(store))
}

/// The session with this id, or the error every command gives for an unknown one.
async fn existing(store: &dyn Store, id: &SessionId) -> Result<SessionInfo, CliError> {
    store.session(id).await?.ok_or_else(|| {
        CliError::usage(
            format!("no session `{id}`"),
            "`code-mesh sessions list` shows the sessions there are",
        )
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot encode JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

async fn list(store: &dyn Store, limit: usize, json: bool) -> Result<ExitCode, CliError> {
    let sessions = store.list_sessions(limit).await?;
    if json {
        print_json(&sessions)?;
    } else if sessions.is_empty() {
        eprintln!("no sessions yet; `code-mesh run \"…\"` starts one");
    } else {
        print!("{}", view::session_table(&sessions));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(
    store: &dyn Store,
    id: &SessionId,
    json: bool,
    audit: bool,
) -> Result<ExitCode, CliError> {
    let info = existing(store, id).await?;
    if audit {
        let entries = view::audit_log(&store.events(id).await?);
        if json {
            print_json(&entries)?;
        } else if entries.is_empty() {
            eprintln!("session `{id}` has no permission decisions: no tool was called");
        } else {
            print!("{}", view::audit_table(&entries));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let messages = store.messages(id).await?;
    let context = store.context_state(id).await?;
    let children = store.child_sessions(id).await?;
    let forked_through = if info.parent_id.is_some() && info.agent.is_none() {
        view::forked_through(&store.events(id).await?)
    } else {
        None
    };
    if json {
        print_json(&serde_json::json!({
            "session": info,
            "messages": messages,
            "children": children,
            "context": context,
            "forked_through": forked_through,
        }))?;
    } else {
        let lineage = view::Lineage {
            forked_through,
            children,
        };
        print!(
            "{}{}",
            view::session_header(&info, &lineage, &context),
            view::transcript_messages(&messages)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sessions resume ID PROMPT`: exactly `run --session ID PROMPT`.
fn resume_with_prompt(global: &GlobalArgs, args: ResumeArgs) -> Result<ExitCode, CliError> {
    let ResumeArgs { id, mut run } = args;
    if run.session.is_some() || run.continue_last {
        return Err(CliError::usage(
            "`sessions resume` names its session itself; --session and --continue do not apply",
            format!("drop them: code-mesh sessions resume {id} \"…\""),
        ));
    }
    run.session = Some(id);
    crate::run::run(global, run)
}

/// `sessions resume ID` without a prompt: the end of the conversation and how to go on.
async fn show_resume_tail(store: &dyn Store, id: &SessionId) -> Result<ExitCode, CliError> {
    let info = existing(store, id).await?;
    let messages = store.messages(id).await?;
    let tail = &messages[messages.len().saturating_sub(RESUME_TAIL)..];
    println!("session {id}: {}", info.title);
    if tail.len() < messages.len() {
        println!(
            "… {} earlier messages (`code-mesh sessions show {id}` prints them all)",
            messages.len() - tail.len()
        );
    }
    print!("{}", view::transcript_messages(tail));
    eprintln!("continue it with: code-mesh sessions resume {id} \"<your next task>\"");
    Ok(ExitCode::SUCCESS)
}

async fn delete(store: &dyn Store, id: &SessionId, yes: bool) -> Result<ExitCode, CliError> {
    let info = existing(store, id).await?;
    let doomed = sub_agent_sessions(store, id).await?;
    let what = match doomed.len() {
        0 => format!("session {id} ({})", info.title),
        1 => format!("session {id} ({}) and 1 sub-agent session", info.title),
        n => format!("session {id} ({}) and {n} sub-agent sessions", info.title),
    };
    if !yes {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(CliError::usage(
                format!("not deleting {what} without confirmation: there is no terminal to ask"),
                format!("pass --yes to delete it: code-mesh sessions delete {id} --yes"),
            ));
        }
        eprint!("delete {what}? This cannot be undone. [y/N]: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|err| {
            CliError::new(Exit::Failure, format!("cannot read the answer: {err}"))
        })?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("kept {what}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !store.delete_session(id).await? {
        return Err(CliError::usage(
            format!("no session `{id}`: it was deleted meanwhile"),
            "`code-mesh sessions list` shows the sessions there are",
        ));
    }
    eprintln!("deleted {what}");
    Ok(ExitCode::SUCCESS)
}

/// The sessions of `id`'s sub-agents, and theirs, recursively (those `delete` removes too).
async fn sub_agent_sessions(
    store: &dyn Store,
    id: &SessionId,
) -> Result<Vec<SessionInfo>, CliError> {
    let mut found = Vec::new();
    let mut pending = vec![id.clone()];
    while let Some(parent) = pending.pop() {
        for child in store.child_sessions(&parent).await? {
            if child.agent.is_some()
                && child.id != *id
                && !found.iter().any(|f: &SessionInfo| f.id == child.id)
            {
                pending.push(child.id.clone());
                found.push(child);
            }
        }
    }
    Ok(found)
}
