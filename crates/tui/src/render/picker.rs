//! The session and model pickers: a box over the middle of the screen with the filter typed
//! so far, the matching rows (the selected one highlighted and kept in view) and the keys.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::App;
use crate::app::picker::{ModelChoice, OpenPicker, Picker, SessionChoice, ago};
use crate::app::summary::tokens;
use crate::theme::Theme;

/// Widest the box gets on a large terminal.
const MAX_WIDTH: u16 = 100;
/// Rows besides the list: the filter, a blank row, and the count and keys.
const CHROME_ROWS: u16 = 3;

/// Draws the open picker, if any.
pub fn draw_picker(frame: &mut Frame<'_>, app: &App, theme: &Theme, screen: Rect) {
    let Some(open) = &app.picker else {
        return;
    };
    let (title, keys, filter, rows, selected, count, total) = match open {
        OpenPicker::Sessions { picker, now_ms } => {
            let width = inner_width(screen);
            (
                " sessions ",
                "↑↓ select · Enter resumes · Ctrl-F forks · Esc closes",
                picker.filter(),
                picker
                    .matches()
                    .map(|(_, choice)| session_row(choice, *now_ms, width))
                    .collect::<Vec<_>>(),
                picker.selected_row(),
                picker.matches().len(),
                picker.items().len(),
            )
        }
        OpenPicker::Models { picker, current } => {
            let width = inner_width(screen);
            (
                " models ",
                "↑↓ select · Enter switches · Esc closes",
                picker.filter(),
                model_rows(picker, current, width),
                picker.selected_row(),
                picker.matches().len(),
                picker.items().len(),
            )
        }
    };
    let width = screen.width.saturating_sub(4).min(MAX_WIDTH);
    let list_height = screen
        .height
        .saturating_sub(2 + 2 + CHROME_ROWS)
        .min(rows.len().max(1) as u16);
    let height = (list_height + CHROME_ROWS + 2).min(screen.height);
    let area = Rect {
        x: screen.x + screen.width.saturating_sub(width) / 2,
        y: screen.y + screen.height.saturating_sub(height) / 2,
        width,
        height,
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.tool_name));
    let inner = block.inner(area);
    let padded = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        ..inner
    };
    let text_width = padded.width as usize;
    let mut lines = Vec::with_capacity(height as usize);
    let prompt = "filter: ";
    lines.push(Line::from(vec![
        Span::styled(prompt, theme.dim),
        Span::raw(tail(filter, text_width.saturating_sub(prompt.len() + 1))),
    ]));
    let visible = list_height as usize;
    // The selected row stays in view; the list scrolls under it.
    let top = (selected + 1).saturating_sub(visible);
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "  nothing matches: Backspace widens the search",
            theme.notice,
        )));
    }
    for (index, row) in rows.into_iter().enumerate().skip(top).take(visible) {
        let style = if index == selected {
            theme.selected
        } else {
            Style::new()
        };
        let marker = if index == selected { "› " } else { "  " };
        lines.push(Line::from(Span::styled(
            fit(&format!("{marker}{row}"), text_width),
            style,
        )));
    }
    lines.push(Line::default());
    let shown = if count == total {
        format!("{total}")
    } else {
        format!("{count} of {total}")
    };
    lines.push(Line::from(Span::styled(
        fit(&format!("{shown} · {keys}"), text_width),
        theme.dim,
    )));
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), padded);
    if padded.width > 0 && padded.height > 0 {
        let typed = UnicodeWidthStr::width(
            tail(filter, text_width.saturating_sub(prompt.len() + 1)).as_str(),
        );
        let x = padded.x + ((prompt.len() + typed) as u16).min(padded.width - 1);
        frame.set_cursor_position(Position::new(x, padded.y));
    }
}

/// Columns inside the box on this screen (borders and padding taken off).
fn inner_width(screen: Rect) -> usize {
    screen
        .width
        .saturating_sub(4)
        .min(MAX_WIDTH)
        .saturating_sub(4) as usize
}

/// A session's row: its title, then model, age and size at the right.
fn session_row(choice: &SessionChoice, now_ms: u64, width: usize) -> String {
    let title = if choice.current {
        format!("{} (current)", choice.display_title())
    } else {
        choice.display_title().to_owned()
    };
    let messages = match choice.message_count {
        1 => "1 message".to_owned(),
        count => format!("{count} messages"),
    };
    let age = ago(now_ms, choice.updated_at);
    // The marker's two columns come first.
    let room = width.saturating_sub(2);
    let full = format!("  {}  {age:>12}  {messages:>13}", choice.model);
    let short = format!("  {age:>12}  {messages:>13}");
    let right = if room >= 30 + full.width() {
        full
    } else {
        short
    };
    columns(&title, &right, room)
}

/// The model rows: name, then context window and price at the right.
fn model_rows(picker: &Picker<ModelChoice>, current: &str, width: usize) -> Vec<String> {
    let room = width.saturating_sub(2);
    picker
        .matches()
        .map(|(_, model)| {
            let name = if model.name == current {
                format!("{} (current)", model.name)
            } else {
                model.name.clone()
            };
            let context = model
                .context_window
                .map(|window| format!("ctx {}", tokens(window)))
                .unwrap_or_default();
            let price = model.price_hint().unwrap_or_default();
            let right = format!("  {context:>10}  {price:>18}");
            columns(&name, &right, room)
        })
        .collect()
}

/// `left` cut or padded so `right` ends at column `width`; `right` alone when it does not fit.
fn columns(left: &str, right: &str, width: usize) -> String {
    let right_width = right.width();
    if right_width + 8 > width {
        return fit(left, width);
    }
    let left_room = width - right_width;
    format!("{}{right}", pad(&fit(left, left_room), left_room))
}

/// `text` cut to `width` columns with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `text` padded with spaces to `width` columns.
fn pad(text: &str, width: usize) -> String {
    let used = text.width();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// The end of `text` that fits in `width` columns (the filter's last characters typed).
fn tail(text: &str, width: usize) -> String {
    let mut used = 0;
    let mut start = text.len();
    for (index, c) in text.char_indices().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        start = index;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use code_mesh_protocol::{EventKind, Role, SessionId, SessionInfo, Usage};
    use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;
    use crate::app::tests::{event, message, text};

    const HOUR: u64 = 3_600_000;
    const NOW: u64 = 1_000 * HOUR;

    /// The buffer as text, one line per row, trailing blanks trimmed.
    fn buffer_text(buffer: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buffer.area.height {
            let mut line = String::new();
            let mut skip = 0;
            for x in 0..buffer.area.width {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let symbol = buffer[(x, y)].symbol();
                skip = symbol.width().saturating_sub(1);
                line.push_str(symbol);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn render(app: &mut App, width: u16, height: u16) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| crate::render::draw(frame, app, &Theme::colored()))
            .unwrap();
        terminal.backend().buffer().clone()
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
    }

    /// A session with a little conversation behind the picker.
    fn app() -> App {
        let mut app = App::new(Some(200_000));
        for kind in [
            EventKind::SessionStarted {
                cwd: "/p".into(),
                workspace: "/p".into(),
                model: "openai/gpt-5-mini".into(),
                resumed: false,
            },
            EventKind::MessageAdded {
                message: message(Role::User, vec![text("what does the parser do?")]),
            },
            EventKind::MessageAdded {
                message: message(
                    Role::Assistant,
                    vec![text("It turns the token stream into a syntax tree.")],
                ),
            },
        ] {
            app.apply(&event(kind));
        }
        app.session.id = Some(SessionId("ses_3".into()));
        app
    }

    fn session(id: &str, title: &str, model: &str, hours_ago: u64, messages: u64) -> SessionInfo {
        SessionInfo {
            id: SessionId(id.into()),
            cwd: "/p".into(),
            workspace: "/p".into(),
            title: title.into(),
            model: model.into(),
            created_at: 0,
            updated_at: NOW - hours_ago * HOUR,
            message_count: messages,
            last_event_seq: 0,
            usage: Usage::default(),
            parent_id: None,
            agent: None,
        }
    }

    fn session_picker_app() -> App {
        let mut app = app();
        let sessions = vec![
            session(
                "ses_3",
                "what does the parser do?",
                "openai/gpt-5-mini",
                0,
                2,
            ),
            session("ses_2", "fix the parser", "openai/gpt-4.1", 3, 42),
            session(
                "ses_1",
                "add a --verbose flag to the CLI and document it in the README and the man page",
                "anthropic/claude-sonnet-4-5",
                50,
                1,
            ),
            session("ses_0", "", "ollama/qwen3-coder:30b", 24 * 40, 0),
        ];
        app.open_session_picker(Ok(sessions), NOW);
        app
    }

    fn model_picker_app() -> App {
        let mut app = app();
        let priced = |name: &str, window: u64, input: f64, output: f64| ModelChoice {
            name: name.into(),
            context_window: Some(window),
            input_price: Some(input),
            output_price: Some(output),
            local: false,
        };
        app.set_models(vec![
            priced("anthropic/claude-sonnet-4-5", 200_000, 3.0, 15.0),
            priced("openai/gpt-4.1", 1_047_576, 2.0, 8.0),
            priced("openai/gpt-5-mini", 400_000, 0.25, 2.0),
            ModelChoice {
                name: "ollama/qwen3-coder:30b".into(),
                context_window: Some(262_144),
                local: true,
                ..ModelChoice::default()
            },
            ModelChoice {
                name: "mycorp/internal-model".into(),
                ..ModelChoice::default()
            },
        ]);
        app.editor.insert("/model");
        app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )));
        app
    }

    #[test]
    fn session_picker() {
        let mut app = session_picker_app();
        insta::assert_snapshot!(buffer_text(&render(&mut app, 80, 24)));
    }

    #[test]
    fn session_picker_wide() {
        let mut app = session_picker_app();
        insta::assert_snapshot!(buffer_text(&render(&mut app, 120, 40)));
    }

    #[test]
    fn session_picker_filtered() {
        let mut app = session_picker_app();
        typed(&mut app, "PARSER");
        let screen = buffer_text(&render(&mut app, 80, 24));
        assert!(screen.contains("filter: PARSER"), "{screen}");
        assert!(screen.contains("2 of 4"), "{screen}");
        assert!(!screen.contains("verbose"), "{screen}");
        typed(&mut app, " nothing");
        let screen = buffer_text(&render(&mut app, 80, 24));
        assert!(screen.contains("nothing matches"), "{screen}");
    }

    #[test]
    fn model_picker() {
        let mut app = model_picker_app();
        insta::assert_snapshot!(buffer_text(&render(&mut app, 80, 24)));
    }

    #[test]
    fn model_picker_wide() {
        let mut app = model_picker_app();
        insta::assert_snapshot!(buffer_text(&render(&mut app, 120, 40)));
    }

    #[test]
    fn the_selected_row_is_highlighted_and_the_cursor_is_in_the_filter() {
        let mut app = model_picker_app();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| crate::render::draw(frame, &mut app, &Theme::colored()))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let text = buffer_text(&buffer);
        let row = text
            .lines()
            .position(|line| line.contains("› openai/gpt-5-mini (current)"))
            .unwrap_or_else(|| panic!("no selected current model:\n{text}"));
        let column = text.lines().nth(row).unwrap().find('›').unwrap();
        let column = text.lines().nth(row).unwrap()[..column].width() as u16;
        assert_eq!(
            buffer[(column, row as u16)].style().bg,
            Theme::colored().selected.bg
        );
        let filter_row = text
            .lines()
            .position(|line| line.contains("filter:"))
            .unwrap();
        let cursor = terminal.get_cursor_position().unwrap();
        assert_eq!(cursor.y, filter_row as u16);
    }

    #[test]
    fn a_small_terminal_keeps_the_selected_row_in_view() {
        let mut app = model_picker_app();
        app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(
            KeyCode::End,
            KeyModifiers::NONE,
        )));
        let screen = buffer_text(&render(&mut app, 40, 10));
        assert!(screen.contains("› mycorp/internal-model"), "{screen}");
    }

    #[test]
    fn columns_keep_the_right_part_aligned() {
        assert_eq!(columns("title", " right", 16), "title      right");
        assert_eq!(
            columns("a long title here", " right", 16),
            "a long ti… right"
        );
        // Too narrow for both: the left part alone.
        assert_eq!(columns("title", " right", 10), "title");
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
