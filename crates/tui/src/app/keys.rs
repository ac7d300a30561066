//! Key presses, pastes and mouse wheel turns, turned into edits, scrolling and effects.

use crossterm::event::{
    Event as TerminalEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};

use code_mesh_protocol::Op;

use super::summary::{cost, tokens};
use super::{App, DIALOG_CHOICES, Effect, SessionSwitch};
use crate::input::{HELP, SlashCommand};

/// Lines one turn of the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

impl App {
    /// Takes in one terminal event; returns what the loop must do about it.
    pub fn handle_terminal_event(&mut self, event: TerminalEvent) -> Vec<Effect> {
        match event {
            TerminalEvent::Key(key) if key.kind != KeyEventKind::Release => {
                self.dirty = true;
                let effects = self.handle_key(key);
                self.update_completion();
                effects
            }
            TerminalEvent::Paste(text) => {
                if self.picker.is_some() {
                    self.picker_paste(&text);
                    self.dirty = true;
                } else if self.pending_permission().is_none() {
                    self.editor.insert(&text);
                    self.update_completion();
                    self.dirty = true;
                }
                Vec::new()
            }
            TerminalEvent::Mouse(mouse) => {
                match mouse.kind {
                    MouseEventKind::ScrollUp => self.shown_scroll_mut().up(WHEEL_LINES),
                    MouseEventKind::ScrollDown => self.shown_scroll_mut().down(WHEEL_LINES),
                    // Moves and clicks change nothing shown; no redraw for them.
                    _ => return Vec::new(),
                }
                self.dirty = true;
                Vec::new()
            }
            TerminalEvent::Resize(..) => {
                self.dirty = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.picker.is_some() {
            return self.picker_key(key);
        }
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        // Keys that mean the same everywhere.
        match key.code {
            KeyCode::Char('c') if control => return self.interrupt(),
            KeyCode::PageUp => {
                self.shown_scroll_mut().page_up();
                return Vec::new();
            }
            KeyCode::PageDown => {
                self.shown_scroll_mut().page_down();
                return Vec::new();
            }
            KeyCode::Char('o') if control => {
                self.expanded = !self.expanded;
                self.conversation.set_expanded(self.expanded);
                if let Some(view) = &mut self.agent_view {
                    view.conversation.set_expanded(self.expanded);
                }
                return Vec::new();
            }
            _ => {}
        }
        if self.pending_permission().is_some() {
            return self.dialog_key(key);
        }
        if self.focus == super::Focus::Agents {
            return self.agent_key(key);
        }
        if let Some(effects) = self.completion_key(&key) {
            return effects;
        }
        let newline = key
            .modifiers
            .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter if newline => self.editor.newline(),
            KeyCode::Char('j') if control => self.editor.newline(),
            KeyCode::Enter => return self.send(),
            KeyCode::Esc if self.is_running() => return vec![Effect::Submit(Op::Cancel)],
            KeyCode::Char('d') if control && self.editor.is_empty() => return vec![Effect::Quit],
            KeyCode::Char(c) if !control => self.editor.insert(c.encode_utf8(&mut [0; 4])),
            // Tab gives the agent panel the keys when it is shown; else it indents.
            KeyCode::Tab => {
                if !self.focus_agents() {
                    self.editor.insert("    ");
                }
            }
            KeyCode::Backspace => self.editor.backspace(),
            KeyCode::Delete => self.editor.delete(),
            KeyCode::Left => self.editor.left(),
            KeyCode::Right => self.editor.right(),
            KeyCode::Up => self.editor.up(),
            KeyCode::Down => self.editor.down(),
            KeyCode::Home => self.editor.home(),
            KeyCode::End => self.editor.end(),
            KeyCode::Char('a') if control => self.editor.home(),
            KeyCode::Char('e') if control => self.editor.end(),
            _ => self.dirty = false,
        }
        Vec::new()
    }

    /// Ctrl-C: cancels a running turn, else clears the input, else quits.
    fn interrupt(&mut self) -> Vec<Effect> {
        if self.is_running() {
            vec![Effect::Submit(Op::Cancel)]
        } else if !self.editor.is_empty() {
            self.editor.clear();
            Vec::new()
        } else {
            vec![Effect::Quit]
        }
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let choice = match key.code {
            KeyCode::Char('y') => Some(0),
            KeyCode::Char('a') => Some(1),
            KeyCode::Char('n') | KeyCode::Esc => Some(2),
            KeyCode::Enter => Some(self.dialog_choice),
            KeyCode::Left | KeyCode::Up | KeyCode::BackTab => {
                self.dialog_choice = self.dialog_choice.saturating_sub(1);
                None
            }
            KeyCode::Right | KeyCode::Down | KeyCode::Tab => {
                self.dialog_choice = (self.dialog_choice + 1).min(DIALOG_CHOICES.len() - 1);
                None
            }
            _ => None,
        };
        let (Some(choice), Some(pending)) = (choice, self.pending_permission()) else {
            return Vec::new();
        };
        // The dialog closes when the engine's `permission_decided` arrives, so an answer the
        // engine never took is not shown as given.
        vec![Effect::Submit(Op::PermissionReply {
            request_id: pending.request_id.clone(),
            decision: DIALOG_CHOICES[choice],
        })]
    }

    /// Enter: a slash command, or the prompt of a new turn.
    fn send(&mut self) -> Vec<Effect> {
        let text = self.editor.text();
        if text.trim().is_empty() {
            return Vec::new();
        }
        self.scroll.to_bottom();
        if let Some(command) = SlashCommand::parse(&text) {
            self.editor.take();
            return self.command(command);
        }
        if self.is_running() {
            // The engine refuses a second turn; keep the text for when this one ends.
            self.conversation
                .push_notice("a turn is running: wait for it or press Esc to cancel it");
            return Vec::new();
        }
        let text = self.editor.take();
        vec![Effect::Submit(Op::UserTurn { text })]
    }

    fn command(&mut self, command: SlashCommand) -> Vec<Effect> {
        match command {
            SlashCommand::New => {
                // Leaving would cancel the running turn; say so instead.
                if !self.idle_for("starting a new session") {
                    return Vec::new();
                }
                return vec![Effect::Switch(SessionSwitch::New)];
            }
            SlashCommand::Sessions => return self.sessions_command(),
            SlashCommand::Model(name) => return self.model_command(name),
            SlashCommand::Strategy(name) => return self.strategy_command(name),
            SlashCommand::Undo => return self.undo_command(),
            SlashCommand::Quit => return vec![Effect::Quit],
            SlashCommand::Compact => return vec![Effect::Submit(Op::Compact)],
            SlashCommand::Help => self.conversation.push_notice(HELP),
            SlashCommand::Cost => {
                let text = self.cost_report();
                self.conversation.push_notice(text);
            }
            SlashCommand::Agents => return self.toggle_agents(),
            SlashCommand::Unknown(name) => self.conversation.push_notice(format!(
                "unknown command `{name}`; /help lists the commands"
            )),
        }
        Vec::new()
    }

    /// `/cost`: the session's tokens and cost, and each agent's when a run had agents.
    fn cost_report(&self) -> String {
        let total = &self.status.session_total;
        let mut text = format!(
            "session: {} in, {} out, {}",
            tokens(total.input_tokens),
            tokens(total.output_tokens),
            total.cost_usd.map_or_else(
                || "cost unknown (no prices for this model)".to_owned(),
                cost
            )
        );
        for agent in self.agents.agents() {
            let spent = agent.usage.cost_usd.map_or_else(|| "?".to_owned(), cost);
            text.push_str(&format!(
                "; {} ({}): {}",
                agent.info.id, agent.info.profile, spent
            ));
        }
        text
    }
}
