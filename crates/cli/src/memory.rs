//! `code-mesh memory list|search|add|forget`: the long-lived memory the agents read and write
//! (`remember`/`recall`) and the learning engine's lessons, in the same SQLite file as the
//! sessions. "This repository" is the workspace root of the working directory, as `run`
//! computes it.

use std::fmt::Write as _;
use std::process::ExitCode;

use code_mesh_core::{MemoryBank, describe_age, now_ms};
use code_mesh_protocol::{MemoryEntry, MemoryHit, MemoryKind, MemoryQuery, MemoryScope, NewMemory};
use code_mesh_store::SqliteStore;

use crate::args::{
    AddKindArg, AddScopeArg, GlobalArgs, MemoryCommand, MemoryKindArg, MemoryScopeArg,
};
use crate::exit::{CliError, Exit};
use crate::output::one_line;
use crate::setup;

/// Characters of an entry shown in a table row.
const CONTENT_COLUMN_CHARS: usize = 100;

pub fn memory(global: &GlobalArgs, command: MemoryCommand) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    let store = SqliteStore::open(context.paths.database_file())?;
    let workspace = context.workspace.display().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async move {
        match command {
            MemoryCommand::List {
                scope,
                kind,
                all_projects,
                limit,
                json,
            } => {
                let query = MemoryQuery {
                    scopes: scope.map(scope_of).into_iter().collect(),
                    kinds: kind.map(kind_of).into_iter().collect(),
                    project: (!all_projects).then(|| workspace.clone()),
                    limit: limit.max(1),
                    ..MemoryQuery::default()
                };
                let hits = store.recall(&query).await?;
                if json {
                    let entries: Vec<&MemoryEntry> = hits.iter().map(|hit| &hit.entry).collect();
                    print_json(&entries)?;
                } else if hits.is_empty() {
                    let place = if all_projects {
                        "anywhere".to_owned()
                    } else {
                        format!("for `{workspace}`")
                    };
                    eprintln!(
                        "no memory entries {place}{}; agents save them with `remember`, the \
                         learning engine after tasks, you with `code-mesh memory add \"…\"`",
                        filters_note(scope, kind)
                    );
                } else {
                    print!("{}", memory_table(&hits, all_projects, now_ms()));
                }
            }
            MemoryCommand::Search {
                query,
                scope,
                limit,
                json,
            } => {
                let text = query.join(" ");
                let query = MemoryQuery {
                    text: Some(text.clone()),
                    scopes: scope.map(scope_of).into_iter().collect(),
                    project: Some(workspace.clone()),
                    limit: limit.max(1),
                    ..MemoryQuery::default()
                };
                let hits = store.recall(&query).await?;
                if json {
                    print_json(&hits)?;
                } else if hits.is_empty() {
                    eprintln!(
                        "nothing in memory matches \"{text}\"{} for `{workspace}`; \
                         `code-mesh memory list --all-projects` shows every entry",
                        filters_note(scope, None)
                    );
                } else {
                    print!("{}", memory_table(&hits, false, now_ms()));
                }
            }
            MemoryCommand::Add {
                text,
                scope,
                kind,
                ttl,
            } => {
                let content = code_mesh_tools::check_memory_content(&text.join(" "))
                    .map_err(|problem| CliError::new(Exit::Usage, problem))?;
                let now = now_ms();
                let expires_at = match ttl.as_deref() {
                    Some(ttl) => Some(
                        now.saturating_add(
                            code_mesh_tools::parse_ttl(ttl)
                                .map_err(|problem| CliError::new(Exit::Usage, problem))?,
                        ),
                    ),
                    None => None,
                };
                let scope = match scope {
                    AddScopeArg::Project => MemoryScope::Project,
                    AddScopeArg::Global => MemoryScope::Global,
                };
                let kind = match kind {
                    AddKindArg::Fact => MemoryKind::Fact,
                    AddKindArg::Preference => MemoryKind::Preference,
                };
                let entry = store
                    .remember(NewMemory {
                        scope,
                        kind,
                        project: (scope == MemoryScope::Project).then(|| workspace.clone()),
                        agent: None,
                        content,
                        key: None,
                        source_session: None,
                        expires_at,
                    })
                    .await?;
                let place = match scope {
                    MemoryScope::Project => format!("for `{workspace}`"),
                    _ => "for every project".to_owned(),
                };
                let lasting = entry
                    .memory
                    .expires_at
                    .map(|at| format!(", {}", expiry(at, now)))
                    .unwrap_or_default();
                println!(
                    "remembered #{} ({} {} {place}{lasting})",
                    entry.id,
                    scope.name(),
                    kind.name()
                );
            }
            MemoryCommand::Forget { id } => {
                if !store.forget(id).await? {
                    return Err(CliError::usage(
                        format!("no memory entry #{id}"),
                        "`code-mesh memory list` shows the entries of this repository and their \
                         ids; add `--all-projects` for the others",
                    ));
                }
                println!("forgot #{id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn scope_of(arg: MemoryScopeArg) -> MemoryScope {
    match arg {
        MemoryScopeArg::Project => MemoryScope::Project,
        MemoryScopeArg::Global => MemoryScope::Global,
        MemoryScopeArg::Agent => MemoryScope::Agent,
    }
}

fn kind_of(arg: MemoryKindArg) -> MemoryKind {
    match arg {
        MemoryKindArg::Fact => MemoryKind::Fact,
        MemoryKindArg::Preference => MemoryKind::Preference,
        MemoryKindArg::Lesson => MemoryKind::Lesson,
    }
}

/// " (scope `global`, kind `fact`)" when filters were given.
fn filters_note(scope: Option<MemoryScopeArg>, kind: Option<MemoryKindArg>) -> String {
    let mut parts = Vec::new();
    if let Some(scope) = scope {
        parts.push(format!("scope `{}`", scope_of(scope).name()));
    }
    if let Some(kind) = kind {
        parts.push(format!("kind `{}`", kind_of(kind).name()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" with {}", parts.join(" and "))
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot encode JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

/// A table of entries: id, scope (with the agent type), kind, age, content (and expiry), and
/// the repository when entries of several are listed.
pub fn memory_table(hits: &[MemoryHit], with_project: bool, now: u64) -> String {
    let mut out = format!("{:>5}  {:<14} {:<10} {:<14} ", "ID", "SCOPE", "KIND", "AGE");
    if with_project {
        out.push_str("PROJECT  ");
    }
    out.push_str("CONTENT\n");
    for hit in hits {
        let entry = &hit.entry;
        let memory = &entry.memory;
        let scope = match (&memory.scope, &memory.agent) {
            (MemoryScope::Agent, Some(agent)) => format!("agent:{agent}"),
            (scope, _) => scope.name().to_owned(),
        };
        let _ = write!(
            out,
            "{:>5}  {:<14} {:<10} {:<14} ",
            entry.id,
            one_line(&scope, 14),
            memory.kind.name(),
            describe_age(now, entry.created_at)
        );
        if with_project {
            let _ = write!(out, "{}  ", memory.project.as_deref().unwrap_or("-"));
        }
        out.push_str(&one_line(&memory.content, CONTENT_COLUMN_CHARS));
        if let Some(at) = memory.expires_at {
            let _ = write!(out, " ({})", expiry(at, now));
        }
        out.push('\n');
    }
    out
}

/// "expires in 3 days", "expires in 5 hours", "expired".
fn expiry(at: u64, now: u64) -> String {
    if at <= now {
        return "expired".into();
    }
    if at - now < 60_000 {
        return "expires in less than a minute".into();
    }
    // Rounded up to the minute: "30d" just stored still shows as 30 days, not 29.
    let ago = describe_age(at.saturating_add(59_999), now);
    match ago.strip_suffix(" ago") {
        Some(span) => format!("expires in {span}"),
        None => "expires in less than a minute".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_forward() {
        let day = 86_400_000;
        assert_eq!(expiry(30 * day, 0), "expires in 30 days");
        assert_eq!(expiry(30 * day, 5), "expires in 30 days");
        assert_eq!(expiry(30_000, 0), "expires in less than a minute");
        assert_eq!(expiry(5, 10), "expired");
    }
}
