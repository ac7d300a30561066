#![allow(clippy::unwrap_used, clippy::expect_used)]

use code_mesh_protocol::{
    AgentId, AgentInfo, ErrorCode, Event, EventKind, Message, Op, Part, PermissionDecision,
    PermissionSource, Role, SessionId, TaskId, TaskInfo, TaskState, ToolKind, TurnEndReason,
    TurnId, Usage,
};
use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};
use pretty_assertions::assert_eq;

use super::*;

pub(crate) fn event(kind: EventKind) -> Event {
    Event {
        seq: 0,
        session_id: SessionId("ses_test".into()),
        at: 0,
        kind,
    }
}

pub(crate) fn message(role: Role, parts: Vec<Part>) -> Message {
    Message {
        seq: 1,
        role,
        parts,
        model: None,
        usage: None,
        interrupted: false,
        created_at: 0,
    }
}

pub(crate) fn text(text: &str) -> Part {
    Part::Text { text: text.into() }
}

/// An app completing `@` mentions over a workspace holding `paths`, its file list already
/// walked; the folder lives as long as the returned guard.
pub(crate) fn app_with_files(paths: &[&str]) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for path in paths {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    let mut app = App::new(None);
    app.completion.set_root(dir.path().to_owned());
    assert!(matches!(
        app.completion.files().unwrap().wait(),
        crate::input::mentions::IndexState::Ready(_)
    ));
    (app, dir)
}

fn delta(text: &str) -> EventKind {
    EventKind::TextDelta { delta: text.into() }
}

fn key(code: KeyCode) -> TerminalEvent {
    TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn key_with(code: KeyCode, modifiers: KeyModifiers) -> TerminalEvent {
    TerminalEvent::Key(KeyEvent::new(code, modifiers))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_terminal_event(key(KeyCode::Char(c)));
    }
}

fn fold(kinds: Vec<EventKind>) -> App {
    let mut app = App::new(None);
    for kind in kinds {
        app.apply(&event(kind));
    }
    app
}

#[test]
fn streamed_text_is_replaced_by_the_finished_message() {
    let mut app = fold(vec![
        EventKind::TurnStarted { turn: TurnId(1) },
        EventKind::ReasoningDelta {
            delta: "thinking".into(),
        },
        delta("Hel"),
        delta("lo"),
    ]);
    assert!(app.is_running());
    assert_eq!(
        app.conversation.entries().last(),
        Some(&Entry::Assistant {
            text: "Hello".into(),
            streaming: true,
            interrupted: false
        })
    );
    app.apply(&event(EventKind::MessageAdded {
        message: message(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "thinking hard".into(),
                    signature: None,
                    id: None,
                    redacted: false,
                },
                text("Hello, world"),
            ],
        ),
    }));
    assert_eq!(
        app.conversation.entries(),
        [
            Entry::Reasoning {
                text: "thinking hard".into(),
                streaming: false,
                expanded: false
            },
            Entry::Assistant {
                text: "Hello, world".into(),
                streaming: false,
                interrupted: false
            }
        ]
    );
}

#[test]
fn a_call_listed_in_its_message_then_started_is_one_block() {
    let call = code_mesh_protocol::ToolCall::new("c1", "bash", r#"{"command":"ls"}"#);
    let app = fold(vec![
        EventKind::MessageAdded {
            message: message(
                Role::Assistant,
                vec![text("Listing."), Part::ToolCall(call)],
            ),
        },
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"ls"}"#.into(),
        },
    ]);
    let tools = app
        .conversation
        .entries()
        .iter()
        .filter(|entry| matches!(entry, Entry::Tool(_)))
        .count();
    assert_eq!(tools, 1);
}

#[test]
fn tool_call_streams_output_and_ends_denied_after_a_refusal() {
    let app = fold(vec![
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"cargo test"}"#.into(),
        },
        EventKind::ToolOutputDelta {
            call_id: "c1".into(),
            delta: "running 3 tests\n".into(),
        },
    ]);
    let Some(Entry::Tool(block)) = app.conversation.entries().last() else {
        panic!("no tool block");
    };
    assert_eq!(block.summary, "cargo test");
    assert_eq!(block.output, "running 3 tests\n");
    assert_eq!(block.status, ToolStatus::Running);

    let app = fold(vec![
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"rm -rf /"}"#.into(),
        },
        EventKind::PermissionRequested {
            request_id: "p1".into(),
            call_id: "c1".into(),
            tool: "bash".into(),
            kind: ToolKind::Execute,
            summary: "run `rm -rf /`".into(),
        },
        EventKind::PermissionDecided {
            request_id: "p1".into(),
            call_id: "c1".into(),
            decision: PermissionDecision::Deny,
            source: PermissionSource::User,
            rule: None,
            remembered: Vec::new(),
        },
        EventKind::ToolCallFinished {
            call_id: "c1".into(),
            name: "bash".into(),
            output: "denied by the user".into(),
            is_error: true,
            duration_ms: 0,
        },
    ]);
    let Some(Entry::Tool(block)) = app.conversation.entries().first() else {
        panic!("no tool block");
    };
    assert_eq!(block.status, ToolStatus::Denied);
    assert!(app.pending_permission().is_none());
}

#[test]
fn errors_end_streams_and_keep_their_hint() {
    let app = fold(vec![
        EventKind::TurnStarted { turn: TurnId(1) },
        delta("partial"),
        EventKind::Error {
            code: ErrorCode::ProviderAuth,
            message: "the key was refused".into(),
            hint: Some("run `code-mesh auth login openai`".into()),
        },
        EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::Failed,
            steps: 1,
            usage: Usage::default(),
        },
    ]);
    assert!(!app.is_running());
    assert_eq!(
        app.conversation.entries(),
        [
            Entry::Assistant {
                text: "partial".into(),
                streaming: false,
                interrupted: true
            },
            Entry::Error {
                code: ErrorCode::ProviderAuth,
                message: "the key was refused".into(),
                hint: Some("run `code-mesh auth login openai`".into()),
            }
        ]
    );
}

#[test]
fn a_stored_history_fills_tool_blocks_from_messages() {
    let app = fold(vec![
        EventKind::MessageAdded {
            message: message(
                Role::Assistant,
                vec![Part::ToolCall(code_mesh_protocol::ToolCall::new(
                    "c9",
                    "read",
                    r#"{"path":"README.md"}"#,
                ))],
            ),
        },
        EventKind::MessageAdded {
            message: message(
                Role::Tool,
                vec![Part::ToolResult(code_mesh_protocol::ToolResult {
                    call_id: "c9".into(),
                    name: "read".into(),
                    output: "# Code Mesh".into(),
                    is_error: false,
                })],
            ),
        },
    ]);
    let [Entry::Tool(block)] = app.conversation.entries() else {
        panic!("expected one tool block: {:?}", app.conversation.entries());
    };
    assert_eq!(
        (block.summary.as_str(), block.status),
        ("README.md", ToolStatus::Ok)
    );
}

#[test]
fn agent_events_build_the_tree() {
    let app = fold(vec![
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId("agent_1".into()),
                profile: "coordinator".into(),
                parent: None,
                session_id: SessionId("ses_child".into()),
                model: "m".into(),
            },
        },
        EventKind::TaskCreated {
            task: TaskInfo {
                id: TaskId("task_1".into()),
                description: "write tests".into(),
                agent: "tester".into(),
                dependencies: Vec::new(),
            },
        },
    ]);
    assert_eq!(app.agents.agents().len(), 1);
    assert_eq!(app.agents.tasks()[0].state, TaskState::Waiting);
}

#[test]
fn enter_sends_and_shift_enter_adds_a_line() {
    let mut app = App::new(None);
    typed(&mut app, "fix it");
    app.handle_terminal_event(key_with(KeyCode::Enter, KeyModifiers::SHIFT));
    typed(&mut app, "please");
    assert_eq!(app.editor.text(), "fix it\nplease");
    let effects = app.handle_terminal_event(key(KeyCode::Enter));
    assert_eq!(
        effects,
        [Effect::Submit(Op::UserTurn {
            text: "fix it\nplease".into()
        })]
    );
    assert!(app.editor.is_empty());
}

#[test]
fn a_paste_goes_into_the_editor_whole() {
    let mut app = App::new(None);
    let big = "line\n".repeat(5_000);
    app.handle_terminal_event(TerminalEvent::Paste(big.clone()));
    assert_eq!(app.editor.text(), big);
    assert!(
        app.handle_terminal_event(key(KeyCode::Char('x')))
            .is_empty()
    );
}

#[test]
fn slash_commands_become_ops_or_notices() {
    let mut app = App::new(None);
    typed(&mut app, "/compact");
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Enter)),
        [Effect::Submit(Op::Compact)]
    );
    typed(&mut app, "/strategy");
    assert!(app.handle_terminal_event(key(KeyCode::Enter)).is_empty());
    assert_eq!(
        app.conversation.entries().last(),
        Some(&Entry::Notice {
            text: "strategy: single (`/strategy NAME` switches to one of single, hierarchical, \
                   pipeline, mesh, swarm)"
                .into()
        })
    );
    typed(&mut app, "/quit");
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Enter)),
        [Effect::Quit]
    );
    typed(&mut app, "/new");
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Enter)),
        [Effect::Switch(SessionSwitch::New)]
    );
}

#[test]
fn esc_and_ctrl_c_cancel_a_running_turn() {
    let mut app = fold(vec![EventKind::TurnStarted { turn: TurnId(1) }]);
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Esc)),
        [Effect::Submit(Op::Cancel)]
    );
    assert_eq!(
        app.handle_terminal_event(key_with(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        [Effect::Submit(Op::Cancel)]
    );
    // A prompt typed meanwhile is kept, not sent into a refusal.
    typed(&mut app, "next");
    assert!(app.handle_terminal_event(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.editor.text(), "next");
}

#[test]
fn ctrl_c_when_idle_clears_then_quits() {
    let mut app = App::new(None);
    typed(&mut app, "draft");
    let ctrl_c = key_with(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.handle_terminal_event(ctrl_c.clone()).is_empty());
    assert!(app.editor.is_empty());
    assert_eq!(app.handle_terminal_event(ctrl_c), [Effect::Quit]);
}

#[test]
fn the_permission_dialog_answers_the_oldest_question() {
    let mut app = fold(vec![EventKind::PermissionRequested {
        request_id: "p1".into(),
        call_id: "c1".into(),
        tool: "write".into(),
        kind: ToolKind::Write,
        summary: "write `src/main.rs`".into(),
    }]);
    // Typing goes to the dialog, not the editor.
    assert!(
        app.handle_terminal_event(key(KeyCode::Char('x')))
            .is_empty()
    );
    assert!(app.editor.is_empty());
    app.handle_terminal_event(key(KeyCode::Right));
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Enter)),
        [Effect::Submit(Op::PermissionReply {
            request_id: "p1".into(),
            decision: PermissionDecision::AllowAlways
        })]
    );
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Char('y'))),
        [Effect::Submit(Op::PermissionReply {
            request_id: "p1".into(),
            decision: PermissionDecision::AllowOnce
        })]
    );
    assert_eq!(
        app.handle_terminal_event(key(KeyCode::Esc)),
        [Effect::Submit(Op::PermissionReply {
            request_id: "p1".into(),
            decision: PermissionDecision::Deny
        })]
    );
    app.apply(&event(EventKind::PermissionDecided {
        request_id: "p1".into(),
        call_id: "c1".into(),
        decision: PermissionDecision::Deny,
        source: PermissionSource::User,
        rule: None,
        remembered: Vec::new(),
    }));
    assert!(app.pending_permission().is_none());
}

#[test]
fn nothing_to_redraw_without_a_change() {
    let mut app = App::new(None);
    assert!(app.take_dirty());
    assert!(!app.take_dirty());
    // A rule settling a call silently changes nothing shown.
    app.apply(&event(EventKind::PermissionDecided {
        request_id: "p0".into(),
        call_id: "c0".into(),
        decision: PermissionDecision::AllowOnce,
        source: PermissionSource::Policy,
        rule: None,
        remembered: Vec::new(),
    }));
    assert!(!app.take_dirty());
    app.handle_terminal_event(TerminalEvent::FocusGained);
    assert!(!app.take_dirty());
    app.apply(&event(delta("x")));
    assert!(app.take_dirty());
}

#[test]
fn a_stream_marks_only_its_own_entry_changed() {
    let mut app = fold(vec![
        EventKind::MessageAdded {
            message: message(Role::User, vec![text("hi")]),
        },
        delta("Hel"),
    ]);
    assert_eq!(app.conversation.take_changed_from(), Some(0));
    app.apply(&event(delta("lo")));
    assert_eq!(app.conversation.take_changed_from(), Some(1));
    assert_eq!(app.conversation.take_changed_from(), None);
}

#[test]
fn the_mouse_wheel_and_page_keys_scroll() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let wheel = |kind| {
        TerminalEvent::Mouse(MouseEvent {
            kind,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut app = App::new(None);
    app.scroll.layout(100, 10);
    app.handle_terminal_event(wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.scroll.layout(100, 10), 87);
    app.handle_terminal_event(key(KeyCode::PageUp));
    assert_eq!(app.scroll.layout(100, 10), 78);
    app.handle_terminal_event(wheel(MouseEventKind::ScrollDown));
    app.handle_terminal_event(key(KeyCode::PageDown));
    assert!(app.scroll.follows_bottom());
    // A mouse move changes nothing shown.
    app.take_dirty();
    app.handle_terminal_event(wheel(MouseEventKind::Moved));
    assert!(!app.take_dirty());
}

#[test]
fn up_and_down_walk_the_history_from_the_editor() {
    let mut app = App::new(None);
    typed(&mut app, "first");
    app.handle_terminal_event(key(KeyCode::Enter));
    typed(&mut app, "draft");
    app.handle_terminal_event(key(KeyCode::Up));
    assert_eq!(app.editor.text(), "first");
    app.handle_terminal_event(key(KeyCode::Down));
    assert_eq!(app.editor.text(), "draft");
    app.handle_terminal_event(key(KeyCode::Home));
    typed(&mut app, ">");
    app.handle_terminal_event(key(KeyCode::End));
    app.handle_terminal_event(key(KeyCode::Backspace));
    assert_eq!(app.editor.text(), ">draf");
    app.handle_terminal_event(key_with(KeyCode::Enter, KeyModifiers::ALT));
    assert_eq!(app.editor.text(), ">draf\n");
}

#[test]
fn a_user_message_shows_the_persons_words_not_the_engines_notices() {
    let app = fold(vec![EventKind::MessageAdded {
        message: message(
            Role::User,
            vec![
                text("fix the parser"),
                text("\n\n[Code Mesh notices]\n- src/lib.rs changed since it was read"),
            ],
        ),
    }]);
    assert_eq!(
        app.conversation.entries(),
        &[Entry::User {
            text: "fix the parser".into()
        }]
    );
}
