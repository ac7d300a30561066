//! Drawing the [`App`] into a ratatui frame: the conversation, the agent panel, the editor,
//! the status line, and the permission dialog over them.

mod entries;
mod markdown;
mod panels;
mod wrap;

#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::theme::Theme;
use wrap::Row;

/// Rows the editor may grow to before it scrolls.
const EDITOR_MAX_ROWS: usize = 8;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App, theme: &Theme) {
    let area = frame.area();
    let editor_rows = panels::editor_height(app, area.width.saturating_sub(2) as usize)
        .clamp(1, EDITOR_MAX_ROWS) as u16;
    let agent_rows = if app.show_agents {
        match panels::agent_lines(app, theme).len() {
            0 => 0,
            // The rows and the panel's title rule.
            rows => rows.min(6) as u16 + 1,
        }
    } else {
        0
    };
    let [conversation, agents, editor, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(agent_rows),
        Constraint::Length(editor_rows + 2),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_conversation(frame, app, theme, conversation);
    if agent_rows > 0 {
        panels::draw_agents(frame, app, theme, agents);
    }
    panels::draw_editor(frame, app, theme, editor);
    panels::draw_status(frame, app, theme, status);
    if app.pending_permission().is_some() {
        panels::draw_dialog(frame, app, theme, area);
    }
}

/// Each entry's rows at the last layout, so a frame lays out only the entries that changed
/// (a streaming answer, a running tool) instead of the whole conversation.
#[derive(Debug, Default)]
pub struct LayoutCache {
    width: usize,
    theme: Option<Theme>,
    entries: Vec<Vec<Row>>,
}

impl LayoutCache {
    fn update(&mut self, app: &mut App, width: usize, theme: &Theme) {
        let changed_from = app.conversation.take_changed_from();
        let entries = app.conversation.entries();
        let from = if self.width != width || self.theme.as_ref() != Some(theme) {
            0
        } else {
            changed_from
                .unwrap_or(entries.len())
                .min(self.entries.len())
        };
        self.width = width;
        self.theme = Some(*theme);
        self.entries.truncate(from);
        for entry in &entries[from..] {
            self.entries.push(entries::entry_rows(entry, width, theme));
        }
    }

    /// Rows of the whole conversation: each entry's, a blank row between entries.
    fn total_rows(&self) -> usize {
        let rows: usize = self.entries.iter().map(Vec::len).sum();
        rows + self.entries.len().saturating_sub(1)
    }

    /// The rows from `top`, at most `height` of them, cloned for the frame (only those).
    fn visible(&self, top: usize, height: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::with_capacity(height);
        let mut row = 0;
        for (index, rows) in self.entries.iter().enumerate() {
            let gap = usize::from(index > 0);
            let end = row + gap + rows.len();
            if end <= top {
                row = end;
                continue;
            }
            if gap == 1 && row >= top {
                lines.push(Line::default());
            }
            let skip = top.saturating_sub(row + gap);
            for cached in rows.iter().skip(skip) {
                if lines.len() == height {
                    return lines;
                }
                lines.push(Line::from(cached.clone()));
            }
            if lines.len() >= height {
                lines.truncate(height);
                return lines;
            }
            row = end;
        }
        lines
    }
}

fn draw_conversation(frame: &mut Frame<'_>, app: &mut App, theme: &Theme, area: Rect) {
    let width = area.width as usize;
    let height = area.height as usize;
    if app.conversation.entries().is_empty() {
        let welcome = Span::styled(
            "Code Mesh: type a task and press Enter. /help lists the keys and commands.",
            theme.notice,
        );
        frame.render_widget(Paragraph::new(Line::from(welcome)), area);
        return;
    }
    let mut layout = std::mem::take(&mut app.layout);
    layout.update(app, width, theme);
    let top = app.scroll.layout(layout.total_rows(), height);
    frame.render_widget(Paragraph::new(layout.visible(top, height)), area);
    app.layout = layout;
}
