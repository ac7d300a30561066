//! How sessions read on a terminal: the list (a tree of sessions and their forks and
//! sub-agents), the transcript header of `show`, the audit log, and times.

use std::collections::{HashMap, HashSet};

use code_mesh_protocol::{
    ContextState, Event, EventKind, Message, Part, PermissionDecision, PermissionSource, Role,
    SessionInfo, Usage,
};

use crate::output::{dollars, one_line};

/// The sessions in list order, each child (fork or sub-agent) right under its parent, with its
/// depth. A session whose parent is not in the list stays at the top level.
pub fn session_tree(sessions: &[SessionInfo]) -> Vec<(usize, &SessionInfo)> {
    let listed: HashSet<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&SessionInfo>> = HashMap::new();
    let mut roots = Vec::new();
    for session in sessions {
        match session.parent_id.as_ref().map(|p| p.as_str()) {
            Some(parent) if listed.contains(parent) && parent != session.id.as_str() => {
                children.entry(parent).or_default().push(session);
            }
            _ => roots.push(session),
        }
    }
    let mut out = Vec::with_capacity(sessions.len());
    let mut seen = HashSet::new();
    let mut stack: Vec<(usize, &SessionInfo)> = roots.into_iter().rev().map(|s| (0, s)).collect();
    while let Some((depth, session)) = stack.pop() {
        if !seen.insert(session.id.as_str()) {
            continue;
        }
        out.push((depth, session));
        if let Some(kids) = children.get(session.id.as_str()) {
            stack.extend(kids.iter().rev().map(|kid| (depth + 1, *kid)));
        }
    }
    // A cycle of parents (only a hand-edited database has one) would hide its sessions.
    for session in sessions {
        if !seen.contains(session.id.as_str()) {
            out.push((0, session));
        }
    }
    out
}

/// What a session is to its parent: `fork` or `agent NAME`.
pub fn relation(session: &SessionInfo) -> Option<String> {
    session.parent_id.as_ref()?;
    Some(match &session.agent {
        Some(agent) => format!("agent `{agent}`"),
        None => "fork".to_owned(),
    })
}

/// `$0.0123`, or `-` when the cost is unknown.
pub fn cost_cell(usage: &Usage) -> String {
    usage.cost_usd.map_or_else(
        || "-".to_owned(),
        |cost| dollars(cost).trim_start_matches(", ").to_owned(),
    )
}

/// A table of sessions: id (children indented under their parent), last update, messages,
/// cost, model, title (children's prefixed with what they are).
pub fn session_table(sessions: &[SessionInfo]) -> String {
    let tree = session_tree(sessions);
    let id_width = tree
        .iter()
        .map(|(depth, s)| depth * 2 + s.id.as_str().chars().count())
        .max()
        .unwrap_or(0)
        .max(36);
    let mut out = format!(
        "{:<id_width$} {:<20} {:>5} {:>9}  {:<28} {}\n",
        "ID", "UPDATED (UTC)", "MSGS", "COST", "MODEL", "TITLE"
    );
    for (depth, s) in tree {
        let id = format!("{}{}", "  ".repeat(depth), s.id);
        let title = match relation(s) {
            Some(relation) if depth > 0 => format!("[{relation}] {}", s.title),
            Some(relation) => format!(
                "[{relation} of {}] {}",
                s.parent_id.as_ref().map_or("?", |p| p.as_str()),
                s.title
            ),
            None => s.title.clone(),
        };
        out.push_str(&format!(
            "{id:<id_width$} {:<20} {:>5} {:>9}  {:<28} {}\n",
            utc_time(s.updated_at),
            s.message_count,
            cost_cell(&s.usage),
            one_line(&s.model, 28),
            one_line(&title, 80)
        ));
    }
    out
}

/// Where a session comes from and what came of it, for the header of `show`.
#[derive(Debug, Default)]
pub struct Lineage {
    /// The message of the parent a fork was copied through (its `session_forked` event).
    pub forked_through: Option<u64>,
    pub children: Vec<SessionInfo>,
}

/// The first `session_forked` event's `through_seq`, if any.
pub fn forked_through(events: &[Event]) -> Option<u64> {
    events.iter().find_map(|event| match &event.kind {
        EventKind::SessionForked { through_seq, .. } => Some(*through_seq),
        _ => None,
    })
}

/// What the model is sent of the history, in words.
pub fn describe_context(context: &ContextState) -> String {
    let mut parts = Vec::new();
    if let Some(summary) = &context.summary {
        parts.push(format!(
            "summarised through message {}",
            summary.through_seq
        ));
    }
    if context.pruned_through > 0
        && context
            .summary
            .as_ref()
            .is_none_or(|s| s.through_seq < context.pruned_through)
    {
        parts.push(format!(
            "tool outputs pruned through message {}",
            context.pruned_through
        ));
    }
    if parts.is_empty() {
        "whole (nothing compacted)".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The header of `sessions show`.
pub fn session_header(info: &SessionInfo, lineage: &Lineage, context: &ContextState) -> String {
    let mut out = format!(
        "session {}\n  title:     {}\n  model:     {}\n  directory: {}\n  created:   {}\n  updated:   {}\n  tokens:    {} in, {} out\n  cost:      {}\n",
        info.id,
        info.title,
        info.model,
        info.cwd,
        utc_time(info.created_at),
        utc_time(info.updated_at),
        info.usage.input_tokens,
        info.usage.output_tokens,
        cost_cell(&info.usage),
    );
    if let (Some(parent), Some(relation)) = (&info.parent_id, relation(info)) {
        let through = lineage
            .forked_through
            .map(|seq| format!(" through message {seq}"))
            .unwrap_or_default();
        out.push_str(&format!("  parent:    {parent} ({relation}{through})\n"));
    }
    if !lineage.children.is_empty() {
        let children: Vec<String> = lineage
            .children
            .iter()
            .map(|child| {
                format!(
                    "{} ({})",
                    child.id,
                    relation(child).unwrap_or_else(|| "child".to_owned())
                )
            })
            .collect();
        out.push_str(&format!("  children:  {}\n", children.join(", ")));
    }
    out.push_str(&format!("  context:   {}\n", describe_context(context)));
    out
}

/// The messages as a readable transcript: `[seq] role`, then each part.
pub fn transcript_messages(messages: &[Message]) -> String {
    let mut out = String::new();
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

    fn session(id: &str, parent: Option<&str>) -> SessionInfo {
        SessionInfo {
            id: code_mesh_protocol::SessionId(id.into()),
            parent_id: parent.map(|p| code_mesh_protocol::SessionId(p.into())),
            ..SessionInfo::default()
        }
    }

    fn shape(sessions: &[SessionInfo]) -> Vec<(usize, &str)> {
        session_tree(sessions)
            .into_iter()
            .map(|(depth, s)| (depth, s.id.as_str()))
            .collect()
    }

    #[test]
    fn children_follow_their_parent_and_orphans_and_cycles_stay_listed() {
        let sessions = [
            session("c", Some("a")),
            session("a", None),
            session("orphan", Some("gone")),
            session("d", Some("c")),
            session("b", None),
            session("x", Some("y")),
            session("y", Some("x")),
        ];
        assert_eq!(
            shape(&sessions),
            [
                (0, "a"),
                (1, "c"),
                (2, "d"),
                (0, "orphan"),
                (0, "b"),
                (0, "x"),
                (0, "y")
            ]
        );
    }

    #[test]
    fn the_context_state_reads_as_what_the_model_is_sent() {
        use code_mesh_protocol::ContextSummary;
        assert_eq!(
            describe_context(&ContextState::default()),
            "whole (nothing compacted)"
        );
        let pruned = ContextState {
            pruned_through: 9,
            summary: None,
        };
        assert_eq!(
            describe_context(&pruned),
            "tool outputs pruned through message 9"
        );
        let summarised = ContextState {
            pruned_through: 12,
            summary: Some(ContextSummary {
                through_seq: 7,
                text: "## Goal".into(),
            }),
        };
        assert_eq!(
            describe_context(&summarised),
            "summarised through message 7; tool outputs pruned through message 12"
        );
    }
}
