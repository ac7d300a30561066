//! The parts of the screen around the conversation: editor, status line, agent panel and the
//! permission dialog.

use code_mesh_core::orchestra::AgentNode;
use code_mesh_protocol::{AgentId, TaskState, ToolKind};
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::wrap::{Row, wrap};
use crate::app::summary::{cost, one_line};
use crate::app::{AgentState, App, DIALOG_CHOICES, Focus};
use crate::theme::Theme;

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// The editor's lines cut at `width` columns: (rows, cursor row, cursor column).
fn editor_layout(app: &App, width: usize) -> (Vec<String>, usize, usize) {
    let width = width.max(1);
    let (cursor_line, cursor_char) = app.editor.cursor();
    let mut rows = Vec::new();
    let mut cursor = (0, 0);
    for (index, line) in app.editor.lines().iter().enumerate() {
        let mut row = String::new();
        let mut used = 0;
        for (position, c) in line.chars().enumerate() {
            if index == cursor_line && position == cursor_char {
                cursor = (rows.len(), used);
            }
            let w = c.width().unwrap_or(0);
            if used + w > width {
                rows.push(std::mem::take(&mut row));
                used = 0;
                if index == cursor_line && position == cursor_char {
                    cursor = (rows.len(), 0);
                }
            }
            row.push(c);
            used += w;
        }
        if index == cursor_line && cursor_char >= line.chars().count() {
            // At the end of a full row the cursor waits on the next one.
            cursor = if used >= width {
                (rows.len() + 1, 0)
            } else {
                (rows.len(), used)
            };
        }
        rows.push(row);
    }
    if cursor.0 >= rows.len() {
        rows.push(String::new());
    }
    (rows, cursor.0, cursor.1)
}

pub fn editor_height(app: &App, width: usize) -> usize {
    editor_layout(app, width).0.len()
}

pub fn draw_editor(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let prompt_has_keys = app.focus == Focus::Prompt;
    let title = if app.is_running() {
        let frame_index = app.spinner % SPINNER.len();
        // Esc cancels only from the prompt; in the agent panel it goes back.
        let keys = if prompt_has_keys {
            "Esc cancels"
        } else {
            "Tab to the prompt"
        };
        format!(" {} working · {keys} ", SPINNER[frame_index])
    } else if !prompt_has_keys {
        " Tab to the prompt ".to_owned()
    } else {
        " Enter sends · Shift+Enter new line · /help ".to_owned()
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.dim));
    let inner = block.inner(area);
    let (rows, cursor_row, cursor_column) = editor_layout(app, inner.width as usize);
    let height = inner.height as usize;
    // Scroll the editor so the cursor's row is always in view.
    let top = (cursor_row + 1).saturating_sub(height);
    let lines: Vec<Line<'static>> = rows.into_iter().skip(top).map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
    if prompt_has_keys && app.pending_permission().is_none() && inner.width > 0 && inner.height > 0
    {
        let x = inner.x + (cursor_column as u16).min(inner.width - 1);
        let y = inner.y + (cursor_row - top) as u16;
        frame.set_cursor_position(Position::new(x, y));
    }
}

pub fn draw_status(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut parts = app.status.parts();
    if !app.shown_scroll().follows_bottom() {
        parts.push("scrolled up: PageDown".to_owned());
    }
    let text = one_line(&parts.join(" · "), area.width as usize);
    frame.render_widget(Paragraph::new(text).style(theme.status), area);
}

/// The agent panel's rows: each agent under the one that started it, with its task's state
/// and its cost; then tasks no agent has taken yet.
pub fn agent_lines(app: &App, theme: &Theme) -> Vec<Row> {
    let mut rows = Vec::new();
    if app.agents.is_empty() {
        return rows;
    }
    fn walk(app: &App, theme: &Theme, parent: Option<&AgentId>, depth: usize, rows: &mut Vec<Row>) {
        let children: Vec<&AgentNode> = app.agents.children(parent).collect();
        for node in children {
            let task = app.agents.task_of(&node.info.id);
            let state = app.agent_state(node);
            let style = match state {
                AgentState::Done => theme.ok,
                AgentState::Failed => theme.failed,
                AgentState::Waiting | AgentState::Idle => theme.dim,
                AgentState::Running => theme.running,
            };
            let state = state.label();
            // While the panel has the keys, a marker shows the selected agent.
            let selected =
                app.focus == Focus::Agents && app.agent_selection.as_ref() == Some(&node.info.id);
            let marker = match (app.focus, selected) {
                (Focus::Prompt, _) => "",
                (Focus::Agents, true) => "▸ ",
                (Focus::Agents, false) => "  ",
            };
            let id_style = if selected {
                theme.selected
            } else {
                theme.tool_name
            };
            let mut row = vec![
                Span::raw("  ".repeat(depth)),
                Span::styled(marker, theme.selected),
                Span::styled(format!("{} ", node.info.id), id_style),
                Span::raw(format!("{} ", node.info.profile)),
                Span::styled(state, style),
            ];
            if let Some(usd) = node.usage.cost_usd {
                row.push(Span::styled(format!(" {}", cost(usd)), theme.dim));
            }
            if let Some(task) = task {
                row.push(Span::styled(
                    format!(
                        " · {}: {}",
                        task.info.id,
                        one_line(&task.info.description, 60)
                    ),
                    theme.dim,
                ));
            }
            rows.push(row);
            walk(app, theme, Some(&node.info.id), depth + 1, rows);
        }
    }
    walk(app, theme, None, 0, &mut rows);
    for task in app
        .agents
        .tasks()
        .iter()
        .filter(|task| task.agents.is_empty())
    {
        let state = match task.state {
            TaskState::Waiting => "waiting",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        };
        let indent = if app.focus == Focus::Agents { "  " } else { "" };
        rows.push(vec![Span::styled(
            format!(
                "{indent}{} [{}] {state}: {}",
                task.info.id,
                task.info.agent,
                one_line(&task.info.description, 60)
            ),
            theme.dim,
        )]);
    }
    rows
}

pub fn draw_agents(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(agents_title(app), theme.dim));
    let lines: Vec<Line<'static>> = agent_lines(app, theme)
        .into_iter()
        .map(Line::from)
        .collect();
    // The selected agent stays in view when the tree is taller than the panel.
    let rows = block.inner(area).height as usize;
    let offset = app
        .selected_agent_row()
        .map_or(0, |row| (row + 1).saturating_sub(rows));
    let offset = u16::try_from(offset).unwrap_or(u16::MAX);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((offset, 0)), area);
}

/// The agent panel's title: the keys that work in it now.
fn agents_title(app: &App) -> &'static str {
    match (app.focus, app.agent_view.is_some()) {
        (Focus::Prompt, _) => " agents · /agents hides ",
        (Focus::Agents, false) => " agents · ↑↓ select · Enter opens · Tab back ",
        (Focus::Agents, true) => " agents · Esc back to the run ",
    }
}

/// The permission question over the middle of the screen, with its three answers.
pub fn draw_dialog(frame: &mut Frame<'_>, app: &App, theme: &Theme, screen: Rect) {
    let Some(pending) = app.pending_permission() else {
        return;
    };
    let width = screen.width.saturating_sub(4).min(72);
    let inner_width = width.saturating_sub(4) as usize;
    let what = match pending.kind {
        ToolKind::Read => "read",
        ToolKind::Write => "change files",
        ToolKind::Execute => "run a command",
    };
    let mut rows: Vec<Row> = wrap(
        &[Span::raw(format!("`{}` wants to {what}:", pending.tool))],
        inner_width,
        true,
    );
    rows.extend(wrap(
        &[Span::styled(pending.summary.clone(), theme.tool_name)],
        inner_width,
        true,
    ));
    rows.push(Vec::new());
    let always = if app.saves_rules {
        "Allow always (save rule) (a)"
    } else {
        "Allow for this session (a)"
    };
    let labels = ["Allow once (y)", always, "Deny (n)"];
    let mut choices = Vec::new();
    for (index, label) in labels.iter().enumerate() {
        if index > 0 {
            choices.push(Span::raw("  "));
        }
        let style = if index == app.dialog_choice {
            theme.selected
        } else {
            theme.dim
        };
        choices.push(Span::styled(format!("[{label}]"), style));
    }
    debug_assert_eq!(labels.len(), DIALOG_CHOICES.len());
    rows.extend(wrap(&choices, inner_width, true));
    let height = (rows.len() as u16 + 2).min(screen.height);
    let area = Rect {
        x: screen.x + (screen.width.saturating_sub(width)) / 2,
        y: screen.y + (screen.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.warning)
        .title(Span::styled(" permission ", theme.warning));
    let inner = block.inner(area);
    let padded = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        ..inner
    };
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let lines: Vec<Line<'static>> = rows.into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines), padded);
}
