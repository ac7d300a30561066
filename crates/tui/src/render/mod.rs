//! Drawing the [`App`] into a ratatui frame: the conversation, the agent panel, the editor,
//! the status line, and the permission dialog over them.

mod agent_view;
mod completion;
mod entries;
mod highlight;
mod markdown;
mod panels;
mod picker;
mod wrap;

#[cfg(test)]
mod tests;

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Conversation, Entry};
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
    if app.agent_view.is_some() {
        agent_view::draw(frame, app, theme, conversation);
    } else {
        draw_conversation(frame, app, theme, conversation);
    }
    if agent_rows > 0 {
        panels::draw_agents(frame, app, theme, agents);
    }
    panels::draw_editor(frame, app, theme, editor);
    completion::draw(frame, app, theme, editor);
    panels::draw_status(frame, app, theme, status);
    if app.pending_permission().is_some() {
        panels::draw_dialog(frame, app, theme, area);
    }
    picker::draw_picker(frame, app, theme, area);
}

/// Rows the newest entries may keep from a layout pass before a frame says which are in view:
/// a couple of screens, so the frame after a change rarely lays an entry out twice.
const KEEP_ROWS: usize = 400;

/// Each entry's height at the last layout and the rows of the entries in view, so a frame
/// lays out only the entries that changed (a streaming answer, a running tool) or came into
/// view, and a long history costs a few bytes an entry instead of all its rows (10,000
/// messages laid out took 21 MiB).
#[derive(Debug, Default)]
pub struct LayoutCache {
    width: usize,
    theme: Option<Theme>,
    /// Each entry's rows, or `None` once it left the view (laid out again if it comes back).
    entries: Vec<Option<Vec<Row>>>,
    /// Where each entry's rows end (its gap row before it included), so the total and the
    /// first entry on screen are found without walking the whole conversation: a frame costs
    /// the same with ten entries or ten thousand.
    ends: Vec<usize>,
    /// The entries of the last view: they hold rows.
    held: Range<usize>,
    /// Entries from here on may hold rows a layout pass kept; all others but `held` are
    /// `None`.
    fresh_from: usize,
}

impl LayoutCache {
    /// Lays out the entries that changed, keeping all their rows (for [`Self::visible`]).
    fn update(&mut self, conversation: &mut Conversation, width: usize, theme: &Theme) {
        self.relayout(conversation, width, theme, usize::MAX);
    }

    /// Lays out the entries that changed, keeping the rows of the newest up to `keep_rows`
    /// rows in all and only the heights of the others.
    fn relayout(
        &mut self,
        conversation: &mut Conversation,
        width: usize,
        theme: &Theme,
        keep_rows: usize,
    ) {
        let changed_from = conversation.take_changed_from();
        let entries = conversation.entries();
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
        self.ends.truncate(from);
        self.held = self.held.start.min(from)..self.held.end.min(from);
        // Newest first, so the pass's highlighting budget goes to the entries in view.
        highlight::start_pass();
        let mut kept = 0;
        let mut laid: Vec<(usize, Option<Vec<Row>>)> = entries[from..]
            .iter()
            .rev()
            .map(|entry| {
                let rows = entries::entry_rows(entry, width, theme);
                let height = rows.len();
                kept += height;
                (height, (kept <= keep_rows).then_some(rows))
            })
            .collect();
        laid.reverse();
        // The kept rows are those of the newest entries: from the first kept one to the end.
        let mut first_kept = None;
        for (index, (height, rows)) in (from..).zip(laid) {
            let gap = usize::from(!self.ends.is_empty());
            self.ends.push(self.total_rows() + gap + height);
            if rows.is_some() {
                first_kept.get_or_insert(index);
            }
            self.entries.push(rows);
        }
        self.fresh_from = self
            .fresh_from
            .min(first_kept.unwrap_or(self.entries.len()));
    }

    /// Lays out and keeps the rows of the entries the view from `top` shows, and drops the
    /// rows of every other entry.
    fn hold_view(&mut self, entries: &[Entry], top: usize, height: usize) {
        let count = self.entries.len().min(entries.len());
        let (Some(theme), false) = (self.theme, count == 0) else {
            return;
        };
        let first = self.ends.partition_point(|&end| end <= top).min(count);
        // The entry holding the view's last row (or the last entry, if the view goes past it).
        let last = self
            .ends
            .partition_point(|&end| end < top + height)
            .min(count.saturating_sub(1));
        let view = first..(last + 1).max(first);
        for index in self.held.clone().chain(self.fresh_from..count) {
            if !view.contains(&index)
                && let Some(rows) = self.entries.get_mut(index)
            {
                *rows = None;
            }
        }
        for index in view.clone() {
            if self.entries[index].is_none() {
                self.entries[index] =
                    Some(entries::entry_rows(&entries[index], self.width, &theme));
            }
        }
        self.held = view;
        self.fresh_from = self.entries.len();
    }

    /// Rows of the whole conversation: each entry's, a blank row between entries.
    fn total_rows(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The rows from `top`, at most `height` of them, cloned for the frame (only those).
    fn visible(&self, top: usize, height: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::with_capacity(height);
        // The first entry that ends below `top`; those before it are all above the view.
        let first = self.ends.partition_point(|&end| end <= top);
        let mut row = first.checked_sub(1).map_or(0, |before| self.ends[before]);
        for (index, rows) in self.entries.iter().enumerate().skip(first) {
            let rows = rows.as_deref().unwrap_or_default();
            let gap = usize::from(index > 0);
            let end = self.ends[index];
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
    layout.relayout(&mut app.conversation, width, theme, KEEP_ROWS);
    let top = app.scroll.layout(layout.total_rows(), height);
    layout.hold_view(app.conversation.entries(), top, height);
    frame.render_widget(Paragraph::new(layout.visible(top, height)), area);
    app.layout = layout;
}
