//! `code-mesh sessions list|show`.

use std::process::ExitCode;
use std::sync::Arc;

use code_mesh_core::Store;
use code_mesh_protocol::{
    Event, EventKind, Message, Part, PermissionDecision, PermissionSource, Role, SessionId,
    SessionInfo,
};
use code_mesh_store::SqliteStore;

use crate::args::{GlobalArgs, SessionsCommand};
use crate::exit::{CliError, Exit};
use crate::output::one_line;
use crate::setup;

pub fn sessions(global: &GlobalArgs, command: SessionsCommand) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(context.paths.database_file())?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async move {
        match command {
            SessionsCommand::List { limit, json } => {
                let sessions = store.list_sessions(limit).await?;
                if json {
                    print_json(&sessions)?;
                } else if sessions.is_empty() {
                    eprintln!("no sessions yet; `code-mesh run \"…\"` starts one");
                } else {
                    print!("{}", session_table(&sessions));
                }
            }
            SessionsCommand::Show { id, json, audit } => {
                let id = SessionId(id);
                let Some(info) = store.session(&id).await? else {
                    return Err(CliError::usage(
                        format!("no session `{id}`"),
                        "`code-mesh sessions list` shows the sessions there are",
                    ));
                };
                if audit {
                    let entries = audit_log(&store.events(&id).await?);
                    if json {
                        print_json(&entries)?;
                    } else if entries.is_empty() {
                        eprintln!("session `{id}` has no permission decisions: no tool was called");
                    } else {
                        print!("{}", audit_table(&entries));
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                let messages = store.messages(&id).await?;
                if json {
                    print_json(&serde_json::json!({ "session": info, "messages": messages }))?;
                } else {
                    print!("{}", transcript(&info, &messages));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot encode JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

/// A table of sessions: id, last update, messages, model, title.
pub fn session_table(sessions: &[SessionInfo]) -> String {
    let mut out = format!(
        "{:<36} {:<20} {:>5}  {:<28} {}\n",
        "ID", "UPDATED (UTC)", "MSGS", "MODEL", "TITLE"
    );
    for s in sessions {
        out.push_str(&format!(
            "{:<36} {:<20} {:>5}  {:<28} {}\n",
            s.id,
            utc_time(s.updated_at),
            s.message_count,
            one_line(&s.model, 28),
            one_line(&s.title, 60)
        ));
    }
    out
}

/// One permission decision of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub call_id: String,
    pub tool: String,
    /// What the call would do, as the user was (or would have been) asked.
    pub summary: String,
    pub decision: PermissionDecision,
    pub source: PermissionSource,
    /// The rule that decided, when a rule did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The session's permission decisions, in order, from its stored events.
pub fn audit_log(events: &[Event]) -> Vec<AuditEntry> {
    let tools = code_mesh_tools::builtin_tools();
    let mut calls: std::collections::HashMap<&str, (&str, &str)> = Default::default();
    let mut asked: std::collections::HashMap<&str, &str> = Default::default();
    let mut entries = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::ToolCallStarted {
                call_id,
                name,
                arguments,
            } => {
                calls.insert(call_id, (name, arguments));
            }
            EventKind::PermissionRequested {
                call_id, summary, ..
            } => {
                asked.insert(call_id, summary);
            }
            EventKind::PermissionDecided {
                call_id,
                decision,
                source,
                rule,
                ..
            } => {
                let (tool, arguments) = calls.get(call_id.as_str()).copied().unwrap_or(("?", ""));
                let summary = match asked.get(call_id.as_str()) {
                    Some(summary) => (*summary).to_owned(),
                    None => match (tools.get(tool), serde_json::from_str(arguments)) {
                        (Some(known), Ok(arguments)) => known.summarize(&arguments),
                        _ => one_line(arguments, 200),
                    },
                };
                entries.push(AuditEntry {
                    at: event.at,
                    call_id: call_id.clone(),
                    tool: tool.to_owned(),
                    summary,
                    decision: *decision,
                    source: *source,
                    rule: rule.clone(),
                });
            }
            _ => {}
        }
    }
    entries
}

/// The audit log as a table: time, tool, what the call does, decision, who or which rule.
pub fn audit_table(entries: &[AuditEntry]) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|entry| {
            let decision = match entry.decision {
                PermissionDecision::AllowOnce => "allowed",
                PermissionDecision::AllowAlways => "allowed always",
                PermissionDecision::Deny => "denied",
            };
            let by = match (entry.source, &entry.rule) {
                (PermissionSource::User, _) => "the user".to_owned(),
                (PermissionSource::NoOneToAsk, _) => "no one to ask".to_owned(),
                (PermissionSource::AutoApprove, None) => "--yes".to_owned(),
                (_, Some(rule)) => rule.clone(),
                (PermissionSource::Policy, None) => "policy".to_owned(),
            };
            [
                utc_time(entry.at),
                entry.tool.clone(),
                one_line(&entry.summary, 60),
                decision.to_owned(),
                by,
            ]
        })
        .collect();
    let header = ["TIME (UTC)", "TOOL", "CALL", "DECISION", "BY"].map(str::to_owned);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (cell, width) in row.iter().zip(widths) {
            out.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

/// A readable transcript of a session.
pub fn transcript(info: &SessionInfo, messages: &[Message]) -> String {
    let mut out = format!(
        "session {}\n  title:     {}\n  model:     {}\n  directory: {}\n  created:   {}\n  updated:   {}\n  tokens:    {} in, {} out\n",
        info.id,
        info.title,
        info.model,
        info.cwd,
        utc_time(info.created_at),
        utc_time(info.updated_at),
        info.usage.input_tokens,
        info.usage.output_tokens
    );
    for message in messages {
        let who = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let mark = if message.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        out.push_str(&format!("\n[{}] {who}{mark}\n", message.seq));
        for part in &message.parts {
            match part {
                Part::Text { text } => {
                    for line in text.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
                Part::Reasoning { text, .. } => {
                    out.push_str(&format!("  (reasoning) {}\n", one_line(text, 200)));
                }
                Part::ToolCall(call) => {
                    out.push_str(&format!(
                        "  → {} {}\n",
                        call.name,
                        one_line(&call.arguments, 200)
                    ));
                }
                Part::ToolResult(result) => {
                    let status = if result.is_error { "✗" } else { "✓" };
                    out.push_str(&format!(
                        "  {status} {}: {}\n",
                        result.name,
                        one_line(&result.output, 200)
                    ));
                }
            }
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC from milliseconds since the epoch.
pub fn utc_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) date, after Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_known_instants() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_764_245_000_000), "2025-11-27 12:03:20");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
    }
}
