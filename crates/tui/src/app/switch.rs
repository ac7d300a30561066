//! Leaving this session for another, or reopening it changed: `/new`, `/sessions`, `/model`,
//! `/strategy` and `/undo`. The UI cannot open sessions itself; it says what to open next
//! ([`SessionSwitch`]) and the binary reopens it. Also the history a resumed session shows.

use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{ErrorCode, Event, EventKind, SessionId, SessionInfo};
use crossterm::event::KeyEvent;

use super::picker::{ModelChoice, OpenPicker, Picker, PickerAction, SessionChoice};
use super::{App, Effect};

/// How many recent sessions the session picker reads.
pub const SESSION_PICKER_LIMIT: usize = 2_000;
/// How many of those, once sub-agents' sessions and other folders' are left out, it offers.
const SESSION_PICKER_SHOWN: usize = 100;

/// What the UI asks the binary to open after it closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionSwitch {
    /// A fresh session with the same settings (`/new`).
    New,
    /// Continue this stored session (the session picker's Enter).
    Resume(SessionId),
    /// A new session holding a copy of this one's conversation (the session picker's Ctrl-F).
    Fork(SessionId),
    /// The current session, on this `provider/model` (`/model`).
    Model(String),
    /// The current session, with agents working this way (`/strategy NAME`).
    Strategy(Strategy),
    /// Revert the files of the current session's last turn, then continue it (`/undo`).
    Undo,
}

/// What the binary says about the switch that opened this UI, shown first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwitchNotice {
    /// It happened: "Resumed “fix the parser” (42 messages)".
    Done(String),
    /// It did not, and the UI shows the session it had (with what would fix it).
    Failed {
        message: String,
        hint: Option<String>,
    },
}

/// What the UI knows of its session besides the events: set by the loop when it opens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionContext {
    /// The session shown.
    pub id: Option<SessionId>,
    /// How agents work together in it.
    pub strategy: Strategy,
    /// What the model picker offers.
    pub models: Vec<ModelChoice>,
    /// The last event of the stored history shown before the live ones: live events up to it
    /// are already on screen.
    pub replayed_through: Option<(SessionId, u64)>,
    /// The working directory: the session picker offers the sessions started here, as `-c`
    /// continues the last one here (a turn resumed elsewhere would run, and be undone, in the
    /// wrong folder).
    pub cwd: Option<String>,
}

impl App {
    /// Folds a resumed session's stored events in before the live ones, as one change: no
    /// frame per event, and no question or turn of a run that ended long ago left open.
    pub fn load_history(&mut self, events: &[Event]) {
        self.fold_history_page(events);
        self.finish_history();
    }

    /// Folds one page of a stored history, in order after the pages before it.
    pub fn fold_history_page(&mut self, events: &[Event]) {
        for event in events {
            self.agents.apply(&event.kind);
            self.conversation.apply(&event.kind);
            self.status.apply(&event.kind);
        }
        if let Some(last) = events.last() {
            self.session.replayed_through = Some((last.session_id.clone(), last.seq));
        }
    }

    /// Ends a stored history: what it left open is closed and the view goes to its end.
    pub fn finish_history(&mut self) {
        self.conversation.settle_history();
        self.dialog_choice = 0;
        self.scroll.to_bottom();
        self.dirty = true;
    }

    /// Says that the stored history could not be read (the live session still works).
    pub fn show_history_error(&mut self, err: &code_mesh_core::StoreError) {
        self.show_error(
            format!("the session's earlier messages could not be read: {err}"),
            err.hint()
                .or_else(|| Some("`code-mesh sessions show ID` reads them from the store".into())),
        );
    }

    /// Whether `event` was shown already as part of the stored history.
    pub(crate) fn replayed(&self, event: &Event) -> bool {
        self.session
            .replayed_through
            .as_ref()
            .is_some_and(|(session, seq)| *session == event.session_id && event.seq <= *seq)
    }

    /// Shows what the binary said about the switch that opened this UI.
    pub fn show_switch_notice(&mut self, notice: SwitchNotice) {
        match notice {
            SwitchNotice::Done(text) => self.conversation.push_notice(text),
            SwitchNotice::Failed { message, hint } => self.show_error(message, hint),
        }
        self.scroll.to_bottom();
        self.dirty = true;
    }

    fn show_error(&mut self, message: String, hint: Option<String>) {
        self.conversation.apply(&EventKind::Error {
            code: ErrorCode::Internal,
            message,
            hint,
        });
    }

    /// Sets what the model picker offers (local models arrive after the UI opened), keeping
    /// an open picker's filter and selection.
    pub fn set_models(&mut self, models: Vec<ModelChoice>) {
        if let Some(OpenPicker::Models { picker, .. }) = &mut self.picker {
            picker.set_items(models.clone());
            self.dirty = true;
        }
        self.session.models = models;
    }

    /// Refuses to leave the session while a turn runs: the switch would cancel it.
    pub(crate) fn idle_for(&mut self, what: &str) -> bool {
        if self.is_running() {
            self.conversation.push_notice(format!(
                "a turn is running: wait for it or press Esc to cancel it before {what}"
            ));
            return false;
        }
        true
    }

    /// `/sessions`: the loop reads the list from the store and calls
    /// [`App::open_session_picker`].
    pub(crate) fn sessions_command(&mut self) -> Vec<Effect> {
        if !self.idle_for("switching sessions") {
            return Vec::new();
        }
        vec![Effect::ListSessions]
    }

    /// Opens the session picker over the sessions read (most recent first), or shows why
    /// there are none. Sub-agents' sessions are left out: they are parts of a run.
    pub fn open_session_picker(&mut self, sessions: Result<Vec<SessionInfo>, String>, now_ms: u64) {
        self.dirty = true;
        let sessions = match sessions {
            Ok(sessions) => sessions,
            Err(message) => {
                self.show_error(
                    format!("cannot list the sessions: {message}"),
                    Some("`code-mesh sessions list` shows them from the shell".to_owned()),
                );
                return;
            }
        };
        let current = self.session.id.as_ref();
        let here = self.session.cwd.as_deref();
        let choices: Vec<SessionChoice> = sessions
            .iter()
            .filter(|info| info.agent.is_none() && here.is_none_or(|here| info.cwd == here))
            .take(SESSION_PICKER_SHOWN)
            .map(|info| SessionChoice::new(info, current))
            .collect();
        if choices.is_empty() {
            self.conversation.push_notice(
                "no stored sessions in this folder yet: the first prompt you send starts one",
            );
            return;
        }
        let selected = choices.iter().position(|choice| choice.current);
        // The current session is first in most-recent order; the one before it is more likely
        // the one wanted.
        let selected = match selected {
            Some(0) if choices.len() > 1 => Some(1),
            other => other,
        };
        self.picker = Some(OpenPicker::Sessions {
            picker: Picker::new(choices, selected),
            now_ms,
        });
    }

    /// `/model` alone opens the model picker; `/model NAME` switches at once.
    pub(crate) fn model_command(&mut self, name: Option<String>) -> Vec<Effect> {
        if !self.idle_for("switching models") {
            return Vec::new();
        }
        let current = self.status.model.clone();
        match name {
            Some(name) if name == current => {
                self.conversation
                    .push_notice(format!("the session already uses `{name}`"));
                Vec::new()
            }
            Some(name) if !name.contains('/') => {
                self.show_error(
                    format!("`{name}` is not a model name: models are written PROVIDER/MODEL"),
                    Some("e.g. `/model openai/gpt-5-mini`; `/model` alone lists them".to_owned()),
                );
                Vec::new()
            }
            Some(name) => vec![Effect::Switch(SessionSwitch::Model(name))],
            None => {
                if self.session.models.is_empty() {
                    self.show_error(
                        "no models to pick from: no provider has its API key set and no local \
                         server answers"
                            .to_owned(),
                        Some(
                            "set an API key (`code-mesh auth login PROVIDER`) or type \
                             `/model PROVIDER/MODEL`"
                                .to_owned(),
                        ),
                    );
                    return Vec::new();
                }
                let models = self.session.models.clone();
                let selected = models.iter().position(|model| model.name == current);
                self.picker = Some(OpenPicker::Models {
                    picker: Picker::new(models, selected),
                    current,
                });
                Vec::new()
            }
        }
    }

    /// `/strategy` alone shows the current strategy; `/strategy NAME` switches to it.
    pub(crate) fn strategy_command(&mut self, name: Option<String>) -> Vec<Effect> {
        let names = Strategy::ALL.map(Strategy::as_str).join(", ");
        let Some(name) = name else {
            self.conversation.push_notice(format!(
                "strategy: {} (`/strategy NAME` switches to one of {names})",
                self.session.strategy
            ));
            return Vec::new();
        };
        let Some(strategy) = Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str().eq_ignore_ascii_case(&name))
        else {
            self.show_error(
                format!("unknown strategy `{name}`"),
                Some(format!("the strategies are {names}")),
            );
            return Vec::new();
        };
        if strategy == self.session.strategy {
            self.conversation
                .push_notice(format!("the strategy is {strategy} already"));
            return Vec::new();
        }
        if !self.idle_for("switching strategies") {
            return Vec::new();
        }
        vec![Effect::Switch(SessionSwitch::Strategy(strategy))]
    }

    /// `/undo`: the binary reverts the last turn's files and reopens the session.
    pub(crate) fn undo_command(&mut self) -> Vec<Effect> {
        if !self.idle_for("undoing") {
            return Vec::new();
        }
        vec![Effect::Switch(SessionSwitch::Undo)]
    }

    /// A key while a picker is open.
    pub(crate) fn picker_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(open) = &mut self.picker else {
            return Vec::new();
        };
        let (action, switch) = match open {
            OpenPicker::Sessions { picker, .. } => {
                let action = picker.key(key);
                let switch = match &action {
                    PickerAction::Choose(index) => {
                        let choice = &picker.items()[*index];
                        Some(if choice.current {
                            Err("this is the session shown already".to_owned())
                        } else {
                            Ok(SessionSwitch::Resume(choice.id.clone()))
                        })
                    }
                    PickerAction::Fork(index) => {
                        Some(Ok(SessionSwitch::Fork(picker.items()[*index].id.clone())))
                    }
                    _ => None,
                };
                (action, switch)
            }
            OpenPicker::Models { picker, current } => {
                let action = picker.key(key);
                let switch = match &action {
                    PickerAction::Choose(index) => {
                        let name = &picker.items()[*index].name;
                        Some(if name == current {
                            Err(format!("the session already uses `{name}`"))
                        } else {
                            Ok(SessionSwitch::Model(name.clone()))
                        })
                    }
                    _ => None,
                };
                (action, switch)
            }
        };
        if action == PickerAction::Close {
            self.picker = None;
        }
        match switch {
            Some(Ok(switch)) => {
                self.picker = None;
                vec![Effect::Switch(switch)]
            }
            Some(Err(notice)) => {
                self.picker = None;
                self.conversation.push_notice(notice);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Pasted text while a picker is open goes to its filter.
    pub(crate) fn picker_paste(&mut self, text: &str) {
        match &mut self.picker {
            Some(OpenPicker::Sessions { picker, .. }) => picker.paste(text),
            Some(OpenPicker::Models { picker, .. }) => picker.paste(text),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use code_mesh_protocol::{
        EventKind, Part, Role, ToolCall, ToolKind, ToolResult, TurnEndReason, TurnId, Usage,
    };
    use crossterm::event::{Event as TerminalEvent, KeyCode, KeyModifiers};
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::app::tests::{message, text};
    use crate::app::{Entry, ToolStatus, TurnState};

    fn stored(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            session_id: SessionId("ses_old".into()),
            at: 0,
            kind,
        }
    }

    fn key(code: KeyCode) -> TerminalEvent {
        TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn command(app: &mut App, line: &str) -> Vec<Effect> {
        app.editor.insert(line);
        app.handle_terminal_event(key(KeyCode::Enter))
    }

    /// The stored events of one turn (as the store keeps them: no deltas) in which the model
    /// ran a command and answered; `n` numbers the turn, `seq` is the first event's number.
    fn stored_turn(n: u64, seq: u64) -> Vec<Event> {
        let call = format!("call_{n}");
        let mut assistant = message(
            Role::Assistant,
            vec![Part::ToolCall(ToolCall::new(
                &call,
                "bash",
                r#"{"command":"cargo test"}"#,
            ))],
        );
        assistant.seq = 4 * n + 2;
        let mut results = message(
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id: call.clone(),
                name: "bash".into(),
                output: "test result: ok".into(),
                is_error: false,
            })],
        );
        results.seq = 4 * n + 3;
        let mut answer = message(Role::Assistant, vec![text(&format!("answer {n}"))]);
        answer.seq = 4 * n + 4;
        let mut user = message(Role::User, vec![text(&format!("question {n}"))]);
        user.seq = 4 * n + 1;
        let kinds = vec![
            EventKind::TurnStarted {
                turn: TurnId(n as u32),
            },
            EventKind::MessageAdded { message: user },
            EventKind::RequestStarted {
                turn: TurnId(n as u32),
                step: 1,
                model: "openai/gpt-5-mini".into(),
            },
            EventKind::MessageAdded { message: assistant },
            EventKind::ToolCallStarted {
                call_id: call.clone(),
                name: "bash".into(),
                arguments: r#"{"command":"cargo test"}"#.into(),
            },
            EventKind::ToolCallFinished {
                call_id: call,
                name: "bash".into(),
                output: "test result: ok".into(),
                is_error: false,
                duration_ms: 40,
            },
            EventKind::MessageAdded { message: results },
            EventKind::MessageAdded { message: answer },
            EventKind::UsageUpdated {
                usage: Usage {
                    input_tokens: 1_000,
                    output_tokens: 10,
                    ..Usage::default()
                },
                session_total: Usage {
                    input_tokens: 1_000 * (n + 1),
                    output_tokens: 10 * (n + 1),
                    ..Usage::default()
                },
            },
            EventKind::TurnFinished {
                turn: TurnId(n as u32),
                reason: TurnEndReason::Completed,
                steps: 2,
                usage: Usage::default(),
            },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(index, kind)| stored(seq + index as u64, kind))
            .collect()
    }

    fn started(seq: u64) -> Event {
        stored(
            seq,
            EventKind::SessionStarted {
                cwd: "/p".into(),
                workspace: "/p".into(),
                model: "openai/gpt-5-mini".into(),
                resumed: seq > 1,
            },
        )
    }

    #[test]
    fn a_resumed_session_shows_its_conversation_once() {
        let mut history = vec![started(1)];
        history.extend(stored_turn(0, 2));
        let last = history.last().unwrap().seq;
        let mut app = App::new(None);
        app.load_history(&history);
        // The live stream repeats what was read after opening, then goes on.
        app.apply(&history[history.len() - 1]);
        app.apply(&started(last + 1));
        let entries = app.conversation.entries();
        assert_eq!(entries.len(), 3, "{entries:#?}");
        assert_eq!(
            entries[0],
            Entry::User {
                text: "question 0".into()
            }
        );
        assert!(
            matches!(&entries[1], Entry::Tool(block) if block.status == ToolStatus::Ok
                && block.summary == "cargo test" && block.output == "test result: ok"),
            "{:?}",
            entries[1]
        );
        assert_eq!(
            entries[2],
            Entry::Assistant {
                text: "answer 0".into(),
                streaming: false,
                interrupted: false
            }
        );
        assert_eq!(app.status.model, "openai/gpt-5-mini");
        assert_eq!(app.status.session_total.input_tokens, 1_000);
        assert!(!app.is_running());
        // A new turn's events are shown.
        app.apply(&stored(
            last + 2,
            EventKind::TurnStarted { turn: TurnId(9) },
        ));
        assert!(app.is_running());
    }

    #[test]
    fn a_history_cut_short_leaves_nothing_running_or_asking() {
        let mut history = vec![started(1)];
        history.extend(stored_turn(0, 2).into_iter().take(5));
        history.push(stored(
            20,
            EventKind::PermissionRequested {
                request_id: "perm_0".into(),
                call_id: "call_0".into(),
                tool: "bash".into(),
                kind: ToolKind::Execute,
                summary: "run `cargo test`".into(),
            },
        ));
        let mut app = App::new(None);
        app.load_history(&history);
        assert_eq!(app.conversation.turn(), TurnState::Idle);
        assert!(app.pending_permission().is_none());
        assert!(app.conversation.entries().iter().any(
            |entry| matches!(entry, Entry::Tool(block) if block.status == ToolStatus::Failed)
        ));
        // The editor has the keys, not a dialog.
        command(&mut app, "hello");
        assert!(app.editor.is_empty());
    }

    #[test]
    fn ten_thousand_stored_messages_fold_into_their_entries() {
        let mut history = vec![started(1)];
        for n in 0..2_500 {
            let seq = history.len() as u64 + 1;
            history.extend(stored_turn(n, seq));
        }
        let mut app = App::new(None);
        app.load_history(&history);
        let entries = app.conversation.entries();
        // Per turn: the question, the tool block and the answer.
        assert_eq!(entries.len(), 7_500);
        assert_eq!(
            entries[7_499],
            Entry::Assistant {
                text: "answer 2499".into(),
                streaming: false,
                interrupted: false
            }
        );
        assert!(
            entries
                .iter()
                .filter_map(|entry| match entry {
                    Entry::Tool(block) => Some(block.status),
                    _ => None,
                })
                .all(|status| status == ToolStatus::Ok)
        );
    }

    fn sessions() -> Vec<SessionInfo> {
        let info = |id: &str, title: &str, agent: Option<&str>| SessionInfo {
            id: SessionId(id.into()),
            cwd: "/p".into(),
            workspace: "/p".into(),
            title: title.into(),
            model: "openai/gpt-5-mini".into(),
            created_at: 0,
            updated_at: 0,
            message_count: 4,
            last_event_seq: 9,
            usage: Usage::default(),
            parent_id: None,
            agent: agent.map(str::to_owned),
        };
        vec![
            info("ses_now", "this one", None),
            info("ses_agent", "a tester's part", Some("tester")),
            info("ses_parser", "fix the parser", None),
            info("ses_flag", "add a flag", None),
        ]
    }

    #[test]
    fn the_session_picker_resumes_or_forks_the_selected_session() {
        let mut app = App::new(None);
        app.session.id = Some(SessionId("ses_now".into()));
        assert_eq!(command(&mut app, "/sessions"), [Effect::ListSessions]);
        app.open_session_picker(Ok(sessions()), 0);
        let Some(OpenPicker::Sessions { picker, .. }) = &app.picker else {
            panic!("no session picker: {:?}", app.picker);
        };
        // Sub-agents' sessions are not listed; the one before the current is selected.
        let titles: Vec<&str> = picker.matches().map(|(_, s)| s.title.as_str()).collect();
        assert_eq!(titles, ["this one", "fix the parser", "add a flag"]);
        assert_eq!(picker.selected(), Some(1));
        app.handle_terminal_event(key(KeyCode::Down));
        assert_eq!(
            app.handle_terminal_event(key(KeyCode::Enter)),
            [Effect::Switch(SessionSwitch::Resume(SessionId(
                "ses_flag".into()
            )))]
        );
        assert!(app.picker.is_none());

        app.open_session_picker(Ok(sessions()), 0);
        for c in "parser".chars() {
            app.handle_terminal_event(key(KeyCode::Char(c)));
        }
        assert_eq!(
            app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(
                KeyCode::Char('f'),
                KeyModifiers::CONTROL
            ))),
            [Effect::Switch(SessionSwitch::Fork(SessionId(
                "ses_parser".into()
            )))]
        );

        // Esc closes it; the editor has the keys again.
        app.open_session_picker(Ok(sessions()), 0);
        assert!(app.handle_terminal_event(key(KeyCode::Esc)).is_empty());
        assert!(app.picker.is_none());
        app.handle_terminal_event(key(KeyCode::Char('x')));
        assert_eq!(app.editor.text(), "x");
    }

    #[test]
    fn the_session_picker_offers_the_sessions_of_this_folder() {
        let mut app = App::new(None);
        app.session.id = Some(SessionId("ses_now".into()));
        app.session.cwd = Some("/p".into());
        let mut sessions = sessions();
        sessions[2].cwd = "/elsewhere".into();
        app.open_session_picker(Ok(sessions.clone()), 0);
        let Some(OpenPicker::Sessions { picker, .. }) = &app.picker else {
            panic!("no session picker: {:?}", app.picker);
        };
        let titles: Vec<&str> = picker.matches().map(|(_, s)| s.title.as_str()).collect();
        assert_eq!(titles, ["this one", "add a flag"]);
        app.picker = None;
        app.session.cwd = Some("/new".into());
        app.open_session_picker(Ok(sessions), 0);
        assert!(app.picker.is_none());
        assert!(matches!(
            app.conversation.entries().last(),
            Some(Entry::Notice { text }) if text.starts_with("no stored sessions in this folder")
        ));
    }

    #[test]
    fn the_current_session_is_not_reopened_and_a_store_failure_is_an_error() {
        let mut app = App::new(None);
        app.session.id = Some(SessionId("ses_now".into()));
        app.open_session_picker(Ok(sessions()), 0);
        app.handle_terminal_event(key(KeyCode::Home));
        assert!(app.handle_terminal_event(key(KeyCode::Enter)).is_empty());
        assert_eq!(
            app.conversation.entries().last(),
            Some(&Entry::Notice {
                text: "this is the session shown already".into()
            })
        );
        app.open_session_picker(Err("database is locked".into()), 0);
        assert!(app.picker.is_none());
        assert!(matches!(
            app.conversation.entries().last(),
            Some(Entry::Error { message, hint: Some(_), .. })
                if message == "cannot list the sessions: database is locked"
        ));
    }

    fn models() -> Vec<ModelChoice> {
        [
            "anthropic/claude-sonnet-4-5",
            "openai/gpt-4.1",
            "openai/gpt-5-mini",
        ]
        .map(|name| ModelChoice {
            name: name.into(),
            ..ModelChoice::default()
        })
        .to_vec()
    }

    #[test]
    fn the_model_picker_and_model_name_switch_the_model() {
        let mut app = App::new(None);
        app.status.model = "openai/gpt-5-mini".into();
        app.session.models = models();
        assert!(command(&mut app, "/model").is_empty());
        let Some(OpenPicker::Models { picker, .. }) = &app.picker else {
            panic!("no model picker: {:?}", app.picker);
        };
        // The current model starts selected.
        assert_eq!(picker.selected(), Some(2));
        for c in "4.1".chars() {
            app.handle_terminal_event(key(KeyCode::Char(c)));
        }
        assert_eq!(
            app.handle_terminal_event(key(KeyCode::Enter)),
            [Effect::Switch(SessionSwitch::Model(
                "openai/gpt-4.1".into()
            ))]
        );
        assert_eq!(
            command(&mut app, "/model ollama/qwen3-coder"),
            [Effect::Switch(SessionSwitch::Model(
                "ollama/qwen3-coder".into()
            ))]
        );
        assert!(command(&mut app, "/model gpt-4.1").is_empty());
        assert!(matches!(
            app.conversation.entries().last(),
            Some(Entry::Error { message, .. }) if message.contains("PROVIDER/MODEL")
        ));
        // Local models arriving later join an open picker.
        command(&mut app, "/model");
        let mut more = models();
        more.push(ModelChoice {
            name: "ollama/llama3.2".into(),
            local: true,
            ..ModelChoice::default()
        });
        app.set_models(more);
        let Some(OpenPicker::Models { picker, .. }) = &app.picker else {
            panic!("the picker closed");
        };
        assert_eq!(picker.items().len(), 4);
        assert_eq!(picker.selected(), Some(2));
    }

    #[test]
    fn strategy_and_undo_commands() {
        let mut app = App::new(None);
        app.session.strategy = Strategy::Hierarchical;
        assert_eq!(
            command(&mut app, "/strategy Mesh"),
            [Effect::Switch(SessionSwitch::Strategy(Strategy::Mesh))]
        );
        assert!(command(&mut app, "/strategy crowd").is_empty());
        assert_eq!(
            app.conversation.entries().last(),
            Some(&Entry::Error {
                code: ErrorCode::Internal,
                message: "unknown strategy `crowd`".into(),
                hint: Some("the strategies are single, hierarchical, pipeline, mesh, swarm".into()),
            })
        );
        assert!(command(&mut app, "/strategy hierarchical").is_empty());
        assert_eq!(
            command(&mut app, "/undo"),
            [Effect::Switch(SessionSwitch::Undo)]
        );
        // Not while a turn runs: leaving would cancel it.
        app.apply(&stored(1, EventKind::TurnStarted { turn: TurnId(1) }));
        assert!(command(&mut app, "/undo").is_empty());
        assert!(command(&mut app, "/sessions").is_empty());
        assert!(command(&mut app, "/model openai/gpt-4.1").is_empty());
        assert!(command(&mut app, "/new").is_empty());
        assert!(matches!(
            app.conversation.entries().last(),
            Some(Entry::Notice { text }) if text.starts_with("a turn is running")
        ));
    }

    #[test]
    fn a_failed_switch_is_shown_as_an_error_with_its_hint() {
        let mut app = App::new(None);
        app.show_switch_notice(SwitchNotice::Failed {
            message: "cannot undo: there is no turn to undo".into(),
            hint: Some("run a task first".into()),
        });
        app.show_switch_notice(SwitchNotice::Done("Model: openai/gpt-4.1".into()));
        assert_eq!(
            app.conversation.entries(),
            [
                Entry::Error {
                    code: ErrorCode::Internal,
                    message: "cannot undo: there is no turn to undo".into(),
                    hint: Some("run a task first".into()),
                },
                Entry::Notice {
                    text: "Model: openai/gpt-4.1".into()
                }
            ]
        );
    }
}

#[cfg(test)]
mod paged_history {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use code_mesh_core::{MemoryStore, NewSession, RecordedEvent, Store};
    use code_mesh_protocol::{EventKind, Role, TurnEndReason, TurnId, Usage};
    use pretty_assertions::assert_eq;

    use crate::app::App;
    use crate::app::tests::{message, text};
    use crate::ui_loop::{HISTORY_PAGE, load_history};

    fn turn(n: u32) -> Vec<RecordedEvent> {
        let event = |kind| RecordedEvent { at: 0, kind };
        vec![
            event(EventKind::TurnStarted { turn: TurnId(n) }),
            event(EventKind::MessageAdded {
                message: message(Role::User, vec![text(&format!("question {n}"))]),
            }),
            event(EventKind::MessageAdded {
                message: message(Role::Assistant, vec![text(&format!("answer {n}"))]),
            }),
            event(EventKind::TurnFinished {
                turn: TurnId(n),
                reason: TurnEndReason::Completed,
                steps: 1,
                usage: Usage::default(),
            }),
        ]
    }

    #[tokio::test]
    async fn a_long_history_read_a_page_at_a_time_shows_what_one_read_shows() {
        let store = MemoryStore::new();
        // More than two pages, the last one partly full.
        let events: Vec<RecordedEvent> = (0..(HISTORY_PAGE as u32 * 2 / 4 + 7))
            .flat_map(turn)
            .collect();
        let info = store
            .create_session_with_events(
                NewSession {
                    cwd: "/p".into(),
                    workspace: "/p".into(),
                    model: "openai/gpt-5-mini".into(),
                    parent_id: None,
                    agent: None,
                },
                events,
            )
            .await
            .unwrap();
        let mut whole = App::new(None);
        whole.load_history(&store.events(&info.id).await.unwrap());
        let mut paged = App::new(None);
        load_history(&mut paged, &store, &info.id).await;
        assert_eq!(paged.conversation.entries(), whole.conversation.entries());
        assert_eq!(
            paged.conversation.entries().len(),
            2 * (HISTORY_PAGE / 2 + 7)
        );
        assert_eq!(
            paged.session.replayed_through,
            whole.session.replayed_through
        );
    }
}
