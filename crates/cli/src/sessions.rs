//! `code-mesh sessions list|show`.

use std::process::ExitCode;
use std::sync::Arc;

use code_mesh_core::Store;
use code_mesh_protocol::{Message, Part, Role, SessionId, SessionInfo};
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
            SessionsCommand::Show { id, json } => {
                let id = SessionId(id);
                let Some(info) = store.session(&id).await? else {
                    return Err(CliError::usage(
                        format!("no session `{id}`"),
                        "`code-mesh sessions list` shows the sessions there are",
                    ));
                };
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
