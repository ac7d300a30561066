//! One conversation entry to styled rows of the view's width.

use code_mesh_protocol::{PermissionDecision, PermissionSource};
use ratatui::style::Style;
use ratatui::text::Span;

use super::markdown;
use super::wrap::{Row, wrap};
use crate::app::summary::count_label;
use crate::app::{Entry, PermissionEntry, ToolBlock, ToolStatus};
use crate::theme::Theme;

/// Output lines a running call shows while folded: enough to see it move.
const LIVE_TAIL_LINES: usize = 3;
/// Output lines a failed call shows while folded: enough to read why.
const FAILURE_HEAD_LINES: usize = 4;
/// Output lines an opened block shows; a longer output says how much is left out.
const EXPANDED_MAX_LINES: usize = 400;

/// The rows of one entry.
pub fn entry_rows(entry: &Entry, width: usize, theme: &Theme) -> Vec<Row> {
    match entry {
        Entry::User { text } => marked(text, "› ", theme.user_marker, theme.user, width),
        Entry::Assistant {
            text, interrupted, ..
        } => {
            let mut rows = markdown::render(text, width, theme);
            if *interrupted {
                rows.push(vec![Span::styled("(interrupted)", theme.notice)]);
            }
            rows
        }
        Entry::Reasoning {
            text,
            streaming,
            expanded,
        } => reasoning(text, *streaming, *expanded, width, theme),
        Entry::Tool(block) => tool(block, width, theme),
        Entry::Permission(permission) => permission_rows(permission, width, theme),
        Entry::Error { message, hint, .. } => {
            let mut rows = marked(message, "error: ", theme.error, theme.error, width);
            if let Some(hint) = hint {
                rows.extend(marked(hint, "hint: ", theme.warning, Style::new(), width));
            }
            rows
        }
        Entry::Warning { message } => {
            marked(message, "warning: ", theme.warning, theme.warning, width)
        }
        Entry::Notice { text } => marked(text, "· ", theme.notice, theme.notice, width),
    }
}

/// Text behind a marker on its first row, its other rows indented as far.
fn marked(text: &str, marker: &str, marker_style: Style, style: Style, width: usize) -> Vec<Row> {
    let indent = marker.chars().count();
    let mut rows = Vec::new();
    for line in text.split('\n') {
        for row in wrap(
            &[Span::styled(line.to_owned(), style)],
            width.saturating_sub(indent),
            true,
        ) {
            let lead = if rows.is_empty() {
                Span::styled(marker.to_owned(), marker_style)
            } else {
                Span::raw(" ".repeat(indent))
            };
            let mut out = vec![lead];
            out.extend(row);
            rows.push(out);
        }
    }
    rows
}

fn reasoning(text: &str, streaming: bool, expanded: bool, width: usize, theme: &Theme) -> Vec<Row> {
    let lines = text.trim_end().lines().count();
    let title = match (expanded, streaming) {
        (true, _) => "▾ reasoning".to_owned(),
        (false, true) => "▸ thinking…".to_owned(),
        (false, false) => format!("▸ reasoning, {} (Ctrl-O opens)", count_label(lines, "line")),
    };
    let mut rows = vec![vec![Span::styled(title, theme.notice)]];
    if expanded {
        for line in text.trim_end().lines() {
            for row in wrap(
                &[Span::styled(line.to_owned(), theme.notice)],
                width.saturating_sub(2),
                true,
            ) {
                let mut out = vec![Span::raw("  ")];
                out.extend(row);
                rows.push(out);
            }
        }
    }
    rows
}

fn tool(block: &ToolBlock, width: usize, theme: &Theme) -> Vec<Row> {
    let (icon, icon_style, outcome) = match block.status {
        ToolStatus::Running => ("◌", theme.running, "running".to_owned()),
        ToolStatus::AwaitingPermission => ("?", theme.warning, "waiting for approval".to_owned()),
        ToolStatus::Ok => {
            let lines = block.output.lines().count();
            let took = block
                .duration_ms
                .map(|ms| format!(", {ms} ms"))
                .unwrap_or_default();
            (
                "✓",
                theme.ok,
                format!("{}{took}", count_label(lines, "line")),
            )
        }
        ToolStatus::Failed => ("✗", theme.failed, "failed".to_owned()),
        ToolStatus::Denied => ("⊘", theme.failed, "denied".to_owned()),
    };
    let header = vec![
        Span::styled(format!("{icon} "), icon_style),
        Span::styled(block.name.clone(), theme.tool_name),
        Span::raw(" "),
        Span::raw(block.summary.clone()),
        Span::styled(format!(" · {outcome}"), theme.dim),
    ];
    let mut rows = wrap(&header, width, true);
    let lines: Vec<&str> = block.output.lines().collect();
    let diff = lines.iter().any(|line| line.starts_with("@@ "));
    let (shown, left_out): (&[&str], usize) = if block.expanded {
        let end = lines.len().min(EXPANDED_MAX_LINES);
        (&lines[..end], lines.len() - end)
    } else {
        match block.status {
            ToolStatus::Running => (&lines[lines.len().saturating_sub(LIVE_TAIL_LINES)..], 0),
            ToolStatus::Failed | ToolStatus::Denied => {
                let end = lines.len().min(FAILURE_HEAD_LINES);
                (&lines[..end], lines.len() - end)
            }
            _ => (&[], 0),
        }
    };
    for line in shown {
        let style = if diff {
            diff_style(line, theme)
        } else {
            theme.dim
        };
        let text = line.replace('\t', "  ");
        for row in wrap(&[Span::styled(text, style)], width.saturating_sub(4), false) {
            let mut out = vec![Span::styled("  │ ", theme.dim)];
            out.extend(row);
            rows.push(out);
        }
    }
    if left_out > 0 {
        rows.push(vec![Span::styled(
            format!("  │ … {} more", count_label(left_out, "line")),
            theme.notice,
        )]);
    }
    rows
}

/// Colours of a diff's lines: additions, removals and hunk headers.
fn diff_style(line: &str, theme: &Theme) -> Style {
    if line.starts_with("@@") {
        theme.diff_hunk
    } else if line.starts_with('+') {
        theme.diff_added
    } else if line.starts_with('-') {
        theme.diff_removed
    } else {
        theme.dim
    }
}

fn permission_rows(permission: &PermissionEntry, width: usize, theme: &Theme) -> Vec<Row> {
    let question = format!("`{}` asks to {}", permission.tool, permission.summary);
    let answer = match permission.decision {
        None => return marked(&question, "? ", theme.warning, theme.warning, width),
        Some((decision, source)) => {
            let what = match decision {
                PermissionDecision::AllowOnce => "allowed once",
                PermissionDecision::AllowAlways => "allowed for the session",
                PermissionDecision::Deny => "denied",
            };
            let who = match source {
                PermissionSource::User => "by you",
                PermissionSource::Policy => "by a rule",
                PermissionSource::AutoApprove => "by --yes",
                PermissionSource::NoOneToAsk => "with no one to ask",
            };
            format!("{question}: {what} {who}")
        }
    };
    marked(&answer, "? ", theme.dim, theme.dim, width)
}
