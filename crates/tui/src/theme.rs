//! The styles the view uses, in colour or without (`NO_COLOR`: bold, italics, underline and
//! reverse video only, so every state stays readable on any terminal).

use ratatui::style::{Color, Modifier, Style};

/// Every style of the view, by what it marks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theme {
    pub user: Style,
    pub user_marker: Style,
    pub heading: Style,
    pub code: Style,
    pub code_label: Style,
    pub quote: Style,
    pub link: Style,
    pub dim: Style,
    pub tool_name: Style,
    pub running: Style,
    pub ok: Style,
    pub failed: Style,
    pub diff_added: Style,
    pub diff_removed: Style,
    pub diff_hunk: Style,
    pub error: Style,
    pub warning: Style,
    pub notice: Style,
    pub status: Style,
    pub border: Style,
    pub selected: Style,
}

impl Theme {
    /// The colour theme, or the colourless one when `color` is false.
    pub fn new(color: bool) -> Self {
        if color {
            Self::colored()
        } else {
            Self::plain()
        }
    }

    pub fn colored() -> Self {
        let fg = |color| Style::new().fg(color);
        Theme {
            user: fg(Color::Cyan),
            user_marker: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            heading: fg(Color::Magenta).add_modifier(Modifier::BOLD),
            code: fg(Color::Yellow),
            code_label: fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
            quote: fg(Color::Gray).add_modifier(Modifier::ITALIC),
            link: fg(Color::Blue).add_modifier(Modifier::UNDERLINED),
            dim: fg(Color::DarkGray),
            tool_name: fg(Color::Blue).add_modifier(Modifier::BOLD),
            running: fg(Color::Yellow),
            ok: fg(Color::Green),
            failed: fg(Color::Red),
            diff_added: fg(Color::Green),
            diff_removed: fg(Color::Red),
            diff_hunk: fg(Color::Cyan),
            error: fg(Color::Red).add_modifier(Modifier::BOLD),
            warning: fg(Color::Yellow),
            notice: fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
            status: Style::new().fg(Color::Black).bg(Color::Gray),
            border: fg(Color::DarkGray),
            selected: Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn plain() -> Self {
        let plain = Style::new();
        let bold = plain.add_modifier(Modifier::BOLD);
        let italic = plain.add_modifier(Modifier::ITALIC);
        Theme {
            user: plain,
            user_marker: bold,
            heading: bold,
            code: plain,
            code_label: italic,
            quote: italic,
            link: plain.add_modifier(Modifier::UNDERLINED),
            dim: plain,
            tool_name: bold,
            running: plain,
            ok: plain,
            failed: bold,
            diff_added: plain,
            diff_removed: plain,
            diff_hunk: italic,
            error: bold,
            warning: bold,
            notice: italic,
            status: plain.add_modifier(Modifier::REVERSED),
            border: plain,
            selected: plain.add_modifier(Modifier::REVERSED),
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::colored()
    }
}
