#![allow(clippy::unwrap_used, clippy::expect_used)]

use code_mesh_protocol::{
    AgentId, AgentInfo, AgentOutcome, ErrorCode, EventKind, Part, Role, SessionId, TaskId,
    TaskInfo, ToolKind, TurnId, Usage,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::draw;
use crate::app::tests::{event, message, text};
use crate::app::{App, Effect};
use crate::theme::Theme;

/// The buffer as text, one line per row, trailing blanks trimmed.
fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..area.width {
            // A wide character's second column is a blank placeholder cell.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(symbol).saturating_sub(1);
            line.push_str(symbol);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render(app: &mut App, width: u16, height: u16, theme: &Theme) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app, theme)).unwrap();
    terminal.backend().buffer().clone()
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    buffer_text(&render(app, width, height, &Theme::colored()))
}

fn fold(kinds: Vec<EventKind>) -> App {
    let mut app = App::new(Some(200_000));
    for kind in kinds {
        app.apply(&event(kind));
    }
    app
}

fn session_start() -> Vec<EventKind> {
    vec![
        EventKind::SessionStarted {
            cwd: "/p".into(),
            workspace: "/p".into(),
            model: "openai/gpt-5-mini".into(),
            resumed: false,
        },
        EventKind::TurnStarted { turn: TurnId(1) },
        EventKind::MessageAdded {
            message: message(Role::User, vec![text("Explain the crate layout")]),
        },
    ]
}

const ANSWER: &str = "# Layout\n\nThe workspace has **three** kinds of crate:\n\n\
- `protocol`: the *vocabulary*\n- `core`: the engine\n\n\
> front ends never reach deeper\n\n\
| crate | depends on |\n|---|---|\n| core | protocol |\n\n\
```rust\nfn main() {\n    run();\n";

fn tool_call(expanded: bool) -> App {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "edit".into(),
            arguments: r#"{"path":"src/lib.rs","old_string":"a","new_string":"b"}"#.into(),
        },
        EventKind::ToolCallFinished {
            call_id: "c1".into(),
            name: "edit".into(),
            output: "edited src/lib.rs\n@@ -3,1 +3,1 @@\n     2\tuse std::io;\n-    3\tlet a = 1;\n+    3\tlet b = 1;\n     4\t}\n"
                .into(),
            is_error: false,
            duration_ms: 12,
        },
        EventKind::ToolCallStarted {
            call_id: "c2".into(),
            name: "bash".into(),
            arguments: r#"{"command":"cargo test -p core"}"#.into(),
        },
        EventKind::ToolOutputDelta {
            call_id: "c2".into(),
            delta: "   Compiling core\nrunning 12 tests\ntest a ... ok\ntest b ... ok\n".into(),
        },
    ]);
    let mut app = fold(kinds);
    if expanded {
        app.handle_terminal_event(crossterm::event::Event::Key(
            crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char('o'),
                crossterm::event::KeyModifiers::CONTROL,
            ),
        ));
    }
    app
}

#[test]
fn empty_session() {
    let mut app = App::new(None);
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn streaming_answer_with_markdown() {
    let mut kinds = session_start();
    kinds.push(EventKind::ReasoningDelta {
        delta: "The user wants the layout.".into(),
    });
    kinds.push(EventKind::TextDelta {
        delta: ANSWER.into(),
    });
    kinds.push(EventKind::UsageUpdated {
        usage: Usage {
            input_tokens: 12_000,
            output_tokens: 240,
            ..Usage::default()
        },
        session_total: Usage {
            input_tokens: 12_000,
            output_tokens: 240,
            cost_usd: Some(0.0031),
            ..Usage::default()
        },
    });
    let mut app = fold(kinds);
    app.spinner = 3;
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn tool_blocks_collapsed() {
    insta::assert_snapshot!(screen(&mut tool_call(false), 80, 24));
}

#[test]
fn tool_blocks_expanded_with_a_diff() {
    insta::assert_snapshot!(screen(&mut tool_call(true), 80, 24));
}

#[test]
fn diff_lines_are_coloured_and_plain_without_colour() {
    let mut app = tool_call(true);
    let find = |buffer: &Buffer, needle: &str| -> (u16, u16) {
        let text = buffer_text(buffer);
        let y = text.lines().position(|line| line.contains(needle)).unwrap();
        let x = text.lines().nth(y).unwrap().find(needle).unwrap();
        // Columns before the needle are one-column characters here ("  │ " counts 4).
        (
            text.lines().nth(y).unwrap()[..x].chars().count() as u16,
            y as u16,
        )
    };
    let buffer = render(&mut app, 80, 24, &Theme::colored());
    assert_eq!(buffer[find(&buffer, "+    3")].fg, Color::Green);
    assert_eq!(buffer[find(&buffer, "-    3")].fg, Color::Red);
    let buffer = render(&mut app, 80, 24, &Theme::plain());
    for cell in buffer.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
    }
}

#[test]
fn error_with_hint() {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::Error {
            code: ErrorCode::ProviderAuth,
            message: "openai refused the API key (HTTP 401)".into(),
            hint: Some("set `OPENAI_API_KEY` or run `code-mesh auth login openai`".into()),
        },
        EventKind::TurnFinished {
            turn: TurnId(1),
            reason: code_mesh_protocol::TurnEndReason::Failed,
            steps: 1,
            usage: Usage::default(),
        },
    ]);
    insta::assert_snapshot!(screen(&mut fold(kinds), 80, 24));
}

fn permission_app() -> App {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"git push origin main"}"#.into(),
        },
        EventKind::PermissionRequested {
            request_id: "p1".into(),
            call_id: "c1".into(),
            tool: "bash".into(),
            kind: ToolKind::Execute,
            summary: "run `git push origin main`".into(),
        },
    ]);
    fold(kinds)
}

#[test]
fn permission_dialog() {
    insta::assert_snapshot!(screen(&mut permission_app(), 80, 24));
}

#[test]
fn permission_dialog_on_a_small_terminal() {
    let mut app = permission_app();
    app.handle_terminal_event(crossterm::event::Event::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Right,
            crossterm::event::KeyModifiers::NONE,
        ),
    ));
    insta::assert_snapshot!(screen(&mut app, 40, 12));
}

#[test]
fn small_terminal_follows_the_stream_and_scrolls() {
    let mut kinds = session_start();
    kinds.push(EventKind::TextDelta {
        delta: (1..=30).map(|n| format!("line {n}\n\n")).collect(),
    });
    let mut app = fold(kinds);
    let bottom = screen(&mut app, 40, 12);
    assert!(bottom.contains("line 30"), "{bottom}");
    let effects = app.handle_terminal_event(crossterm::event::Event::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::PageUp,
            crossterm::event::KeyModifiers::NONE,
        ),
    ));
    assert_eq!(effects, Vec::<Effect>::new());
    insta::assert_snapshot!(screen(&mut app, 40, 12));
}

#[test]
fn agent_panel_shows_the_tree() {
    let agent = |id: &str, profile: &str, parent: Option<&str>| EventKind::AgentSpawned {
        agent: AgentInfo {
            id: AgentId(id.into()),
            profile: profile.into(),
            parent: parent.map(|p| AgentId(p.into())),
            session_id: SessionId(format!("ses_{id}")),
            model: "openai/gpt-5-mini".into(),
        },
    };
    let task = |id: &str, profile: &str, description: &str| EventKind::TaskCreated {
        task: TaskInfo {
            id: TaskId(id.into()),
            description: description.into(),
            agent: profile.into(),
            dependencies: Vec::new(),
        },
    };
    let mut kinds = session_start();
    kinds.extend([
        agent("agent_1", "coordinator", None),
        task("task_1", "coder", "add the parser"),
        task("task_2", "tester", "test the parser"),
        agent("agent_2", "coder", Some("agent_1")),
        EventKind::TaskStarted {
            task: TaskId("task_1".into()),
            agent: AgentId("agent_2".into()),
        },
        EventKind::AgentTerminated {
            agent: AgentId("agent_2".into()),
            succeeded: true,
            outcome: AgentOutcome {
                summary: "done".into(),
                usage: Usage {
                    cost_usd: Some(0.0123),
                    ..Usage::default()
                },
            },
        },
        EventKind::TaskCompleted {
            task: TaskId("task_1".into()),
            outcome: AgentOutcome {
                summary: "done".into(),
                usage: Usage::default(),
            },
        },
    ]);
    insta::assert_snapshot!(screen(&mut fold(kinds), 80, 24));
}

#[test]
fn finished_reasoning_is_folded() {
    let mut kinds = session_start();
    kinds.push(EventKind::MessageAdded {
        message: message(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "step one\nstep two".into(),
                    signature: None,
                    id: None,
                    redacted: false,
                },
                text("Done."),
            ],
        ),
    });
    let screen = screen(&mut fold(kinds), 80, 24);
    assert!(
        screen.contains("▸ reasoning, 2 lines (Ctrl-O opens)"),
        "{screen}"
    );
    assert!(!screen.contains("step one"), "{screen}");
}

#[test]
fn a_relaid_out_screen_equals_a_fresh_one() {
    // Laid out collapsed first, then opened and streamed into: the cached rows must match
    // what a first layout of the same state gives, at every scroll position.
    let mut app = tool_call(false);
    screen(&mut app, 80, 24);
    app.handle_terminal_event(crossterm::event::Event::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('o'),
            crossterm::event::KeyModifiers::CONTROL,
        ),
    ));
    screen(&mut app, 60, 24);
    screen(&mut app, 80, 24);
    app.apply(&event(EventKind::ToolOutputDelta {
        call_id: "c2".into(),
        delta: "test c ... ok\n".into(),
    }));
    let mut fresh = tool_call(true);
    fresh.apply(&event(EventKind::ToolOutputDelta {
        call_id: "c2".into(),
        delta: "test c ... ok\n".into(),
    }));
    for _ in 0..4 {
        assert_eq!(screen(&mut app, 80, 10), screen(&mut fresh, 80, 10));
        for app in [&mut app, &mut fresh] {
            app.handle_terminal_event(crossterm::event::Event::Key(
                crossterm::event::KeyEvent::new(
                    crossterm::event::KeyCode::PageUp,
                    crossterm::event::KeyModifiers::NONE,
                ),
            ));
        }
    }
}
