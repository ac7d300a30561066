//! The completion popup: up to eight files (or commands) just above the prompt, under the
//! word they would replace, the selected one marked and the matched characters in bold.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::wrap::row_width;
use crate::app::{App, Focus};
use crate::input::mentions::{Item, PopupKind};
use crate::theme::Theme;

/// The narrowest popup: room for its title.
const MIN_WIDTH: usize = 24;

/// Draws the popup over the rows above `editor`, when one is open and the prompt has the keys.
pub fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, editor: Rect) {
    let Some(popup) = app.completion.popup() else {
        return;
    };
    if app.focus != Focus::Prompt || app.pending_permission().is_some() || app.picker.is_some() {
        return;
    }
    let screen = frame.area();
    // A path wider than the screen loses its start, so its file name shows.
    let room = (screen.width as usize).saturating_sub(4).max(8);
    let items: Vec<Item> = popup.items.iter().map(|item| fit(item, room)).collect();
    // Commands' descriptions line up after the longest name.
    let names = items
        .iter()
        .map(|item| item.text.width())
        .max()
        .unwrap_or(0);
    let mut rows: Vec<Line<'static>> = items
        .iter()
        .enumerate()
        .map(|(index, item)| item_line(item, names, index == popup.selected, theme))
        .collect();
    if let Some(note) = &popup.note {
        rows.push(Line::from(Span::styled(format!(" {note} "), theme.notice)));
    }
    let title = match popup.kind {
        PopupKind::File => " files · Tab inserts · Esc closes ",
        PopupKind::Command => " commands · Tab inserts ",
    };
    let content = rows
        .iter()
        .map(|line| row_width(&line.spans))
        .max()
        .unwrap_or(0)
        .max(title.width())
        .max(MIN_WIDTH);
    let width = (content as u16 + 2).min(screen.width);
    // Above the editor's top border, as many rows as fit there.
    let height = (rows.len() as u16 + 2).min(editor.y.saturating_sub(screen.y));
    if height < 3 || width < 4 {
        return;
    }
    // Under the word: its column in the editor, kept on screen.
    let line = app
        .editor
        .lines()
        .get(popup.word.row)
        .map(String::as_str)
        .unwrap_or_default();
    let before: String = line.chars().take(popup.word.start).collect();
    let inner_width = editor.width.saturating_sub(2).max(1) as usize;
    let column = (before.width() % inner_width) as u16;
    let x = (editor.x + column)
        .min(screen.x + screen.width.saturating_sub(width))
        .max(screen.x);
    let area = Rect {
        x,
        y: editor.y - height,
        width,
        height,
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.dim));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(rows).block(block), area);
}

/// The offer cut to `room` columns from the left, behind a `…`, its marks moved with it.
fn fit(item: &Item, room: usize) -> Item {
    if item.text.width() <= room {
        return item.clone();
    }
    let chars: Vec<char> = item.text.chars().collect();
    let mut kept = 0;
    let mut used = 1;
    for c in chars.iter().rev() {
        let width = c.to_string().width();
        if used + width > room {
            break;
        }
        used += width;
        kept += 1;
    }
    let dropped = chars.len() - kept;
    Item {
        text: std::iter::once('…')
            .chain(chars[dropped..].iter().copied())
            .collect(),
        matched: item
            .matched
            .iter()
            .filter(|index| **index >= dropped)
            .map(|index| index - dropped + 1)
            .collect(),
        detail: item.detail,
    }
}

/// One offer: its text with the matched characters in bold (all of it reversed or on the
/// selection colour when selected), and a command's description.
fn item_line(item: &Item, names: usize, selected: bool, theme: &Theme) -> Line<'static> {
    let base = if selected {
        theme.selected
    } else {
        Style::new()
    };
    let matched_style = if selected {
        base.add_modifier(Modifier::BOLD)
    } else {
        theme.tool_name
    };
    let mut spans = vec![Span::styled(" ", base)];
    let mut run = String::new();
    let mut run_matched = false;
    for (index, c) in item.text.chars().enumerate() {
        let matched = item.matched.binary_search(&index).is_ok();
        if matched != run_matched && !run.is_empty() {
            let style = if run_matched { matched_style } else { base };
            spans.push(Span::styled(std::mem::take(&mut run), style));
        }
        run_matched = matched;
        run.push(c);
    }
    if !run.is_empty() {
        let style = if run_matched { matched_style } else { base };
        spans.push(Span::styled(run, style));
    }
    spans.push(Span::styled(" ", base));
    if let Some(detail) = item.detail {
        let pad = " ".repeat(names.saturating_sub(item.text.width()) + 1);
        spans.push(Span::styled(format!("{pad}{detail} "), theme.dim));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::style::Color;

    use super::super::draw as draw_screen;
    use super::*;
    use crate::app::tests::app_with_files;
    use crate::render::tests::buffer_text;

    fn render(app: &mut App, theme: &Theme) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| draw_screen(frame, app, theme))
            .unwrap();
        terminal.backend().buffer().clone()
    }

    fn typed(text: &str) -> (App, tempfile::TempDir) {
        let (mut app, dir) = app_with_files(&[
            "Cargo.toml",
            "README.md",
            "src/main.rs",
            "src/lib.rs",
            "src/app/mod.rs",
            "docs/manual.md",
            "crates/format/amend.rs",
        ]);
        for c in text.chars() {
            app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        (app, dir)
    }

    #[test]
    fn file_popup_at_80x24() {
        let (mut app, _dir) = typed("explain @ma");
        let buffer = render(&mut app, &Theme::colored());
        insta::assert_snapshot!(buffer_text(&buffer));
        // The selected offer is on the selection colour.
        let text = buffer_text(&buffer);
        let y = text
            .lines()
            .position(|line| line.contains("src/main.rs"))
            .unwrap();
        let x = text.lines().nth(y).unwrap().find("src/main.rs").unwrap();
        let x = text.lines().nth(y).unwrap()[..x].chars().count();
        assert_eq!(buffer[(x as u16 + 2, y as u16)].bg, Color::Cyan);
    }

    #[test]
    fn a_long_path_keeps_its_file_name() {
        let item = Item {
            text: "crates/tui/src/render/snapshots/main.rs".into(),
            matched: vec![0, 32, 33],
            detail: None,
        };
        let cut = fit(&item, 12);
        assert_eq!(cut.text, "…ots/main.rs");
        assert_eq!(cut.matched, [5, 6]);
        assert_eq!(fit(&item, 80), item);
    }

    #[test]
    fn command_popup_at_80x24() {
        let (mut app, _dir) = typed("/s");
        insta::assert_snapshot!(buffer_text(&render(&mut app, &Theme::colored())));
    }

    #[test]
    fn the_popup_says_when_nothing_matches_and_has_no_colour_without_colour() {
        let (mut app, _dir) = typed("@zzz");
        let buffer = render(&mut app, &Theme::plain());
        assert!(buffer_text(&buffer).contains("no file matches `zzz`"));
        for cell in buffer.content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
        }
    }
}
