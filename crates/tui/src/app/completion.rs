//! The completion popup's keys: while it is open, Up and Down choose, Tab or Enter put the
//! choice in place of the word, and Esc closes it (and only it: a running turn goes on).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect};

impl App {
    /// Takes a key when the popup is open and wants it; `None` passes the key on.
    pub(super) fn completion_key(&mut self, key: &KeyEvent) -> Option<Vec<Effect>> {
        let popup = self.completion.popup()?;
        let offers = !popup.items.is_empty();
        let plain = !key
            .modifiers
            .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT | KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.completion.dismiss(),
            KeyCode::Up if offers => self.completion.select_previous(),
            KeyCode::Down if offers => self.completion.select_next(),
            // With nothing to offer yet (the list still being walked), Tab does nothing
            // rather than indent the word.
            KeyCode::Tab => {
                self.completion.accept(&mut self.editor);
            }
            // Enter on a word already complete sends, as it would without the popup.
            KeyCode::Enter if offers && plain && !self.completion.selection_is_typed() => {
                self.completion.accept(&mut self.editor);
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Opens, refreshes or closes the popup for the word now at the cursor.
    pub(super) fn update_completion(&mut self) {
        let was_open = self.completion.is_open();
        self.completion.update(&self.editor);
        if was_open || self.completion.is_open() {
            self.dirty = true;
        }
    }

    /// The file list arrived: an open popup shows its matches.
    pub fn refresh_completion(&mut self) {
        if self.completion.is_open() {
            self.completion.refresh(&self.editor);
            self.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use code_mesh_protocol::{EventKind, Op, TurnId};
    use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};

    use super::super::tests::{app_with_files, event};
    use super::*;
    use crate::input::mentions::PopupKind;

    fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    fn offered(app: &App) -> Vec<String> {
        app.completion
            .popup()
            .map(|popup| popup.items.iter().map(|item| item.text.clone()).collect())
            .unwrap_or_default()
    }

    /// An app completing files of a workspace with `src/main.rs` and a few others.
    fn app_in_workspace() -> (App, tempfile::TempDir) {
        app_with_files(&["src/main.rs", "src/lib.rs", "Cargo.toml", "docs/manual.md"])
    }

    #[test]
    fn typing_a_mention_offers_files_and_tab_inserts_one() {
        let (mut app, _dir) = app_in_workspace();
        type_text(&mut app, "explain @ma");
        let popup = app.completion.popup().unwrap();
        assert_eq!(popup.kind, PopupKind::File);
        assert_eq!(offered(&app)[0], "src/main.rs");
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.editor.text(), "explain @src/main.rs ");
        assert!(!app.completion.is_open());
        // The text goes on after the mention.
        type_text(&mut app, "please");
        assert_eq!(app.editor.text(), "explain @src/main.rs please");
        assert!(!app.completion.is_open());
    }

    #[test]
    fn arrows_choose_and_enter_accepts_without_sending() {
        let (mut app, _dir) = app_in_workspace();
        type_text(&mut app, "@");
        let files = offered(&app);
        assert_eq!(files.len(), 4);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Up);
        assert_eq!(app.completion.popup().unwrap().selected, 1);
        let effects = press(&mut app, KeyCode::Enter);
        assert!(effects.is_empty(), "Enter accepted, it did not send");
        assert_eq!(app.editor.text(), format!("@{} ", files[1]));
        // Up past the first offer wraps to the last.
        app.editor.clear();
        type_text(&mut app, "@");
        press(&mut app, KeyCode::Up);
        assert_eq!(app.completion.popup().unwrap().selected, 3);
    }

    #[test]
    fn enter_on_a_complete_word_sends() {
        let (mut app, _dir) = app_in_workspace();
        type_text(&mut app, "read @Cargo.toml");
        assert!(app.completion.is_open());
        let effects = press(&mut app, KeyCode::Enter);
        assert_eq!(
            effects,
            [Effect::Submit(Op::UserTurn {
                text: "read @Cargo.toml".into()
            })]
        );
    }

    #[test]
    fn esc_closes_the_popup_and_does_not_cancel_the_turn() {
        let (mut app, _dir) = app_in_workspace();
        app.apply(&event(EventKind::TurnStarted { turn: TurnId(1) }));
        assert!(app.is_running());
        type_text(&mut app, "next: @sr");
        assert!(app.completion.is_open());
        assert!(press(&mut app, KeyCode::Esc).is_empty());
        assert!(!app.completion.is_open());
        // It stays closed while typing on in that word, and opens for the next mention.
        type_text(&mut app, "c");
        assert!(!app.completion.is_open());
        type_text(&mut app, " @d");
        assert_eq!(offered(&app), ["docs/manual.md"]);
        // With the popup closed, Esc cancels the turn as before.
        press(&mut app, KeyCode::Esc);
        assert_eq!(press(&mut app, KeyCode::Esc), [Effect::Submit(Op::Cancel)]);
    }

    #[test]
    fn no_workspace_no_file_popup_and_tab_indents() {
        let mut app = App::new(None);
        type_text(&mut app, "@ma");
        assert!(!app.completion.is_open());
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.editor.text(), "@ma    ");
    }

    #[test]
    fn a_pasted_mention_opens_the_popup() {
        let (mut app, _dir) = app_in_workspace();
        app.handle_terminal_event(TerminalEvent::Paste("look at @lib".into()));
        assert_eq!(offered(&app), ["src/lib.rs"]);
    }
}
