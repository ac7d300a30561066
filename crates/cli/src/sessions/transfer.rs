//! `sessions export` and `sessions import`.
//!
//! The JSON export is a versioned document holding the session's info and its stored events,
//! which are the source of truth: `import` rebuilds the session from the events alone and
//! checks the result against the info. The imported session gets a new id, no parent, and
//! its events are numbered again from 1 (a live session's stored events skip the numbers of
//! the streaming deltas, which are never stored); everything else — each event's kind, body
//! and time, the messages, usage, title and context — is kept. So export → import → export
//! gives the same events apart from `session_id` and `seq`, and a second round gives exactly
//! the same events apart from `session_id`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use code_mesh_core::{NewSession, RecordedEvent, SessionState, Store};
use code_mesh_protocol::{Event, Part, Role, SessionId, SessionInfo};
use serde::Serialize;
use serde_json::Value;

use super::view::{cost_cell, utc_time};
use super::{existing, replay};
use crate::args::ExportFormat;
use crate::exit::{CliError, Exit};

/// The `format` of a JSON export.
pub const EXPORT_FORMAT: &str = "code-mesh-session";
/// The `version` of the JSON export this build writes and reads.
pub const EXPORT_VERSION: u64 = 1;

/// A session as `sessions export --format json` writes it.
#[derive(Debug, Serialize)]
struct SessionExport<'a> {
    format: &'static str,
    version: u64,
    session: &'a SessionInfo,
    events: &'a [Event],
}

pub(super) async fn export(
    store: &dyn Store,
    id: &SessionId,
    format: ExportFormat,
    output: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let events = store.events(id).await?;
    // Read after the events: the info is then at least as new as they are.
    let info = existing(store, id).await?;
    let text = match format {
        ExportFormat::Json => {
            let document = SessionExport {
                format: EXPORT_FORMAT,
                version: EXPORT_VERSION,
                session: &info,
                events: &events,
            };
            let mut text = serde_json::to_string_pretty(&document).map_err(|err| {
                CliError::new(
                    Exit::Failure,
                    format!("cannot encode session `{id}`: {err}"),
                )
            })?;
            text.push('\n');
            text
        }
        ExportFormat::Markdown => {
            let messages = store.messages(id).await?;
            markdown(&info, &messages)
        }
    };
    match output {
        None => print!("{text}"),
        Some(path) => {
            std::fs::write(path, text).map_err(|err| {
                CliError::new(
                    Exit::Failure,
                    format!("cannot write the export to `{}`: {err}", path.display()),
                )
                .with_hint("pick a path in a directory you may write to")
            })?;
            eprintln!("exported session {id} to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn import(store: &dyn Store, file: &Path) -> Result<ExitCode, CliError> {
    let text = read_input(file)?;
    let (session, events) = parse_export(&text).map_err(|problem| {
        CliError::usage(
            format!("cannot import `{}`: {problem}", file.display()),
            "import a file written by `code-mesh sessions export ID --format json`, unedited",
        )
    })?;
    let expected = SessionState::replay(&events);
    let new = NewSession {
        cwd: session.cwd.clone(),
        workspace: session.workspace.clone(),
        model: session.model.clone(),
        parent_id: None,
        agent: session.agent.clone(),
    };
    let recorded = events
        .iter()
        .map(|event| RecordedEvent {
            at: event.at,
            kind: event.kind.clone(),
        })
        .collect();
    let created = store.create_session_with_events(new, recorded).await?;
    let report = replay::check(store, &created).await?;
    let mut differences = report.differences;
    if differences.is_empty() {
        // The new session replays to what is stored; it must also be the session imported.
        let stored = store.messages(&created.id).await?;
        let context = store.context_state(&created.id).await?;
        let mut renumbered = created.clone();
        renumbered.last_event_seq = expected.last_event_seq;
        renumbered.updated_at = renumbered.updated_at.max(expected.updated_at);
        differences = expected.differences(&renumbered, &stored, &context);
    }
    if !differences.is_empty() {
        store.delete_session(&created.id).await?;
        return Err(replay::mismatch_error(&created.id, &differences));
    }
    eprintln!(
        "imported session {} ({} events, {} messages) as a new session",
        session.id,
        events.len(),
        created.message_count
    );
    println!("{}", created.id);
    Ok(ExitCode::SUCCESS)
}

fn read_input(file: &Path) -> Result<String, CliError> {
    let failed = |err: std::io::Error| {
        CliError::usage(
            format!("cannot read `{}`: {err}", file.display()),
            "give the path of a file written by `code-mesh sessions export ID --format json`",
        )
    };
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(failed)?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).map_err(failed)
    }
}

/// Checks a JSON export and returns its session and events; the error says what is wrong.
///
/// The document must name this format and version; its events must each parse, belong to its
/// session, be stored kinds (not streaming deltas), have rising `seq`s from 1 on, and hold the
/// messages numbered 1, 2, 3…; and the session's info must be what its events add up to.
pub(super) fn parse_export(text: &str) -> Result<(SessionInfo, Vec<Event>), String> {
    let document: Value =
        serde_json::from_str(text).map_err(|err| format!("it is not JSON ({err})"))?;
    let Some(object) = document.as_object() else {
        return Err("it is not a JSON object".into());
    };
    match object.get("format").and_then(Value::as_str) {
        Some(EXPORT_FORMAT) => {}
        Some(other) => {
            return Err(format!("its `format` is `{other}`, not `{EXPORT_FORMAT}`"));
        }
        None => return Err(format!("it has no `format` (`{EXPORT_FORMAT}` expected)")),
    }
    match object.get("version").and_then(Value::as_u64) {
        Some(EXPORT_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "it is version {other} of the export format; this build reads version {EXPORT_VERSION}"
            ));
        }
        None => return Err("it has no numeric `version`".into()),
    }
    let session: SessionInfo =
        serde_json::from_value(object.get("session").cloned().unwrap_or(Value::Null))
            .map_err(|err| format!("its `session` is not a valid session ({err})"))?;
    let Some(raw_events) = object.get("events").and_then(Value::as_array) else {
        return Err("it has no `events` array".into());
    };
    let mut events: Vec<Event> = Vec::with_capacity(raw_events.len());
    let mut messages = 0u64;
    for (index, raw) in raw_events.iter().enumerate() {
        let position = index + 1;
        let event: Event = serde_json::from_value(raw.clone())
            .map_err(|err| format!("event #{position} is not a valid event ({err})"))?;
        if event.session_id != session.id {
            return Err(format!(
                "event #{position} (seq {}) belongs to session `{}`, not `{}`",
                event.seq, event.session_id, session.id
            ));
        }
        if event.kind.is_transient() {
            return Err(format!(
                "event #{position} (seq {}) is a `{}`, which is never stored",
                event.seq,
                event.kind.name()
            ));
        }
        match events.last() {
            None if event.seq == 0 => {
                return Err(format!("event #{position} has seq 0; seqs start at 1"));
            }
            Some(previous) if event.seq <= previous.seq => {
                return Err(format!(
                    "event #{position} has seq {} after seq {}; seqs must rise",
                    event.seq, previous.seq
                ));
            }
            _ => {}
        }
        if let code_mesh_protocol::EventKind::MessageAdded { message } = &event.kind {
            messages += 1;
            if message.seq != messages {
                return Err(format!(
                    "event #{position} (seq {}) adds message {} where message {messages} comes next",
                    event.seq, message.seq
                ));
            }
        }
        events.push(event);
    }
    let state = SessionState::replay(&events);
    let differences = state.differences(&session, &state.messages, &state.context);
    if !differences.is_empty() {
        let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
        return Err(format!(
            "its `session` does not match its events ({})",
            listed.join("; ")
        ));
    }
    Ok((session, events))
}

/// A readable Markdown transcript: the user's and the assistant's text, tool calls with their
/// arguments and outputs in fenced blocks, reasoning folded, then usage and cost.
pub(super) fn markdown(info: &SessionInfo, messages: &[code_mesh_protocol::Message]) -> String {
    let title = if info.title.is_empty() {
        "Untitled session"
    } else {
        info.title.as_str()
    };
    let mut out = format!("# {}\n\n", title.replace('\n', " "));
    out.push_str(&format!("- Session: `{}`\n", info.id));
    out.push_str(&format!("- Model: `{}`\n", info.model));
    out.push_str(&format!("- Directory: `{}`\n", info.cwd));
    out.push_str(&format!("- Created: {} UTC\n", utc_time(info.created_at)));
    out.push_str(&format!("- Updated: {} UTC\n", utc_time(info.updated_at)));
    if let Some(parent) = &info.parent_id {
        match &info.agent {
            Some(agent) => out.push_str(&format!("- Sub-agent `{agent}` of `{parent}`\n")),
            None => out.push_str(&format!("- Forked from `{parent}`\n")),
        }
    }
    for message in messages {
        let who = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::Tool => "Tool results",
        };
        let mark = if message.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        out.push_str(&format!("\n## {} · {who}{mark}\n", message.seq));
        for part in &message.parts {
            out.push('\n');
            match part {
                Part::Text { text } => {
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                Part::Reasoning { text, redacted, .. } => {
                    if *redacted || text.trim().is_empty() {
                        out.push_str("*(reasoning not shown by the provider)*\n");
                    } else {
                        out.push_str("<details><summary>Reasoning</summary>\n\n");
                        out.push_str(text.trim_end());
                        out.push_str("\n\n</details>\n");
                    }
                }
                Part::ToolCall(call) => {
                    out.push_str(&format!(
                        "**Tool call** `{}` (`{}`)\n\n",
                        call.name, call.call_id
                    ));
                    let arguments = serde_json::from_str::<Value>(&call.arguments)
                        .ok()
                        .and_then(|value| serde_json::to_string_pretty(&value).ok())
                        .unwrap_or_else(|| call.arguments.clone());
                    out.push_str(&fenced("json", &arguments));
                }
                Part::ToolResult(result) => {
                    let status = if result.is_error { "failed" } else { "ok" };
                    out.push_str(&format!(
                        "**Result** of `{}` (`{}`, {status})\n\n",
                        result.name, result.call_id
                    ));
                    out.push_str(&fenced("text", &result.output));
                }
            }
        }
    }
    let usage = &info.usage;
    out.push_str(&format!(
        "\n---\n\nUsage: {} input tokens ({} read from cache), {} output tokens ({} reasoning); cost {}.\n",
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
        match cost_cell(usage).as_str() {
            "-" => "unknown".to_owned(),
            cost => cost.to_owned(),
        }
    ));
    out
}

/// `text` in a fenced block whose fence is longer than any run of backticks inside it.
fn fenced(language: &str, text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let body = text.strip_suffix('\n').unwrap_or(text);
    format!("{fence}{language}\n{body}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_longer_than_the_backticks_they_hold() {
        assert_eq!(fenced("text", "a\n"), "```text\na\n```\n");
        assert_eq!(
            fenced("text", "```rust\nx\n```"),
            "````text\n```rust\nx\n```\n````\n"
        );
    }

    fn document(events: Value) -> String {
        serde_json::json!({
            "format": EXPORT_FORMAT,
            "version": 1,
            "session": {
                "id": "ses_a", "cwd": "/p", "workspace": "/p", "title": "hi", "model": "m/x",
                "created_at": 1, "updated_at": 20, "message_count": 1, "last_event_seq": 3,
                "usage": {}
            },
            "events": events,
        })
        .to_string()
    }

    fn user_event(seq: u64, message_seq: u64) -> Value {
        serde_json::json!({
            "seq": seq, "session_id": "ses_a", "at": 10, "type": "message_added",
            "message": {"seq": message_seq, "role": "user",
                        "parts": [{"type": "text", "text": "hi"}], "created_at": 10}
        })
    }

    fn started(seq: u64) -> Value {
        serde_json::json!({
            "seq": seq, "session_id": "ses_a", "at": 9, "type": "session_started",
            "cwd": "/p", "workspace": "/p", "model": "m/x", "resumed": false
        })
    }

    #[test]
    fn a_valid_export_parses_with_gaps_in_its_seqs() {
        let (session, events) =
            parse_export(&document(serde_json::json!([started(1), user_event(3, 1)]))).unwrap();
        assert_eq!(session.id.as_str(), "ses_a");
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn broken_exports_are_refused_saying_what_is_wrong() {
        let cases = [
            ("[]".to_owned(), "not a JSON object"),
            (
                document(serde_json::json!([started(1), user_event(3, 1)]))
                    .replace(EXPORT_FORMAT, "other"),
                "`format` is `other`",
            ),
            (
                document(serde_json::json!([started(1), user_event(3, 1)]))
                    .replace("\"version\":1", "\"version\":2"),
                "version 2",
            ),
            (
                document(serde_json::json!([started(2), user_event(1, 1)])),
                "seq 1 after seq 2",
            ),
            (
                document(serde_json::json!([started(1), {"seq": 3, "type": "nonsense"}])),
                "event #2 is not a valid event",
            ),
            (
                document(serde_json::json!([started(1), user_event(3, 2)])),
                "adds message 2 where message 1",
            ),
            (
                document(serde_json::json!([started(1)])),
                "does not match its events",
            ),
            (
                document(serde_json::json!([
                    started(1),
                    {"seq": 2, "session_id": "ses_a", "at": 9, "type": "text_delta", "delta": "x"},
                    user_event(3, 1)
                ])),
                "never stored",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_export(&text).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}
