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
pub(crate) fn buffer_text(buffer: &Buffer) -> String {
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

// Issue 7: the states the view can be in that the snapshots above do not cover.

fn press(app: &mut App, code: crossterm::event::KeyCode) -> Vec<Effect> {
    app.handle_terminal_event(crossterm::event::Event::Key(
        crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE),
    ))
}

fn type_line(app: &mut App, line: &str) -> Vec<Effect> {
    for c in line.chars() {
        press(app, crossterm::event::KeyCode::Char(c));
    }
    press(app, crossterm::event::KeyCode::Enter)
}

fn finished(reason: code_mesh_protocol::TurnEndReason) -> EventKind {
    EventKind::TurnFinished {
        turn: TurnId(1),
        reason,
        steps: 1,
        usage: Usage::default(),
    }
}

fn usage(input: u64, output: u64, total_cost: Option<f64>) -> EventKind {
    EventKind::UsageUpdated {
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        },
        session_total: Usage {
            input_tokens: input * 3,
            output_tokens: output * 3,
            cost_usd: total_cost,
            ..Usage::default()
        },
    }
}

#[test]
fn help_lists_keys_and_commands() {
    let mut app = App::new(Some(200_000));
    assert_eq!(type_line(&mut app, "/help"), Vec::<Effect>::new());
    let screen = screen(&mut app, 80, 24);
    assert!(screen.contains("/compact"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn cost_summary_with_agents() {
    let mut kinds = session_start();
    kinds.extend([
        usage(40_000, 1_500, Some(0.0842)),
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId("agent_1".into()),
                profile: "coordinator".into(),
                parent: None,
                session_id: SessionId("ses_agent_1".into()),
                model: "openai/gpt-5-mini".into(),
            },
        },
        EventKind::AgentTerminated {
            agent: AgentId("agent_1".into()),
            succeeded: true,
            outcome: AgentOutcome {
                summary: "done".into(),
                usage: Usage {
                    cost_usd: Some(0.0421),
                    ..Usage::default()
                },
            },
        },
        finished(code_mesh_protocol::TurnEndReason::Completed),
    ]);
    let mut app = fold(kinds);
    type_line(&mut app, "/cost");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn cost_summary_without_prices() {
    let mut kinds = session_start();
    kinds.extend([
        usage(1_000, 20, None),
        finished(code_mesh_protocol::TurnEndReason::Completed),
    ]);
    let mut app = fold(kinds);
    type_line(&mut app, "/cost");
    let screen = screen(&mut app, 80, 24);
    assert!(
        screen.contains("cost unknown (no prices for this model)"),
        "{screen}"
    );
}

fn reasoning_app() -> App {
    let mut kinds = session_start();
    kinds.push(EventKind::MessageAdded {
        message: message(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "The user wants the layout.\nRead Cargo.toml first.\nThen list crates/."
                        .into(),
                    signature: None,
                    id: None,
                    redacted: false,
                },
                text("The workspace has **three** kinds of crate."),
            ],
        ),
    });
    kinds.push(finished(code_mesh_protocol::TurnEndReason::Completed));
    fold(kinds)
}

#[test]
fn reasoning_folded() {
    insta::assert_snapshot!(screen(&mut reasoning_app(), 80, 16));
}

#[test]
fn reasoning_expanded() {
    let mut app = reasoning_app();
    app.handle_terminal_event(crossterm::event::Event::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('o'),
            crossterm::event::KeyModifiers::CONTROL,
        ),
    ));
    let screen = screen(&mut app, 80, 16);
    assert!(screen.contains("Then list crates/."), "{screen}");
    insta::assert_snapshot!(screen);
}

fn running_turn() -> App {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::RequestStarted {
            turn: TurnId(1),
            step: 2,
            model: "anthropic/claude-sonnet-4-5".into(),
        },
        EventKind::TextDelta {
            delta: "Running the tests before changing anything.".into(),
        },
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"cargo test --workspace"}"#.into(),
        },
        usage(61_500, 2_300, Some(0.4231)),
    ]);
    let mut app = fold(kinds);
    app.spinner = 5;
    app
}

#[test]
fn running_turn_with_spinner_and_status_line() {
    let mut app = running_turn();
    assert!(app.is_running());
    let screen = screen(&mut app, 100, 16);
    // Model, tokens, context used of the window, cost.
    let status = screen.lines().last().unwrap();
    assert!(
        status.contains("anthropic/claude-sonnet-4-5")
            && status.contains("ctx 61.5k/200.0k (30%)")
            && status.contains("$0.42"),
        "{status}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn the_spinner_turns_while_a_turn_runs() {
    let mut app = running_turn();
    let before = screen(&mut app, 100, 16);
    app.tick();
    let after = screen(&mut app, 100, 16);
    assert_ne!(before, after);
    // Only the editor's title (the spinner) moved.
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(
        changed[0].1.contains("working · Esc cancels"),
        "{changed:?}"
    );
}

#[test]
fn cancelled_turn_keeps_what_arrived() {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::TextDelta {
            delta: "The workspace has three kinds of cr".into(),
        },
        EventKind::ToolCallStarted {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"sleep 60"}"#.into(),
        },
        EventKind::ToolCallFinished {
            call_id: "c1".into(),
            name: "bash".into(),
            output: "cancelled".into(),
            is_error: true,
            duration_ms: 800,
        },
        finished(code_mesh_protocol::TurnEndReason::Cancelled),
    ]);
    let mut app = fold(kinds);
    assert!(!app.is_running());
    let screen = screen(&mut app, 80, 16);
    assert!(
        screen.contains("cancelled; what arrived is kept"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn provider_retry_failover_and_warning_notices() {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::ProviderRetry {
            provider: "openai".into(),
            attempt: 1,
            delay_ms: 1_500,
            message: "openai is overloaded (HTTP 529)".into(),
        },
        EventKind::ProviderFailover {
            from: "openai/gpt-5-mini".into(),
            to: "anthropic/claude-sonnet-4-5".into(),
            message: "openai kept failing".into(),
        },
        EventKind::Warning {
            message: "src/lib.rs changed on disk since the agent read it".into(),
        },
        EventKind::ResponseCacheHit {
            model: "anthropic/claude-sonnet-4-5".into(),
        },
    ]);
    insta::assert_snapshot!(screen(&mut fold(kinds), 80, 16));
}

#[test]
fn compacted_context_notices() {
    let mut kinds = session_start();
    kinds.extend([
        EventKind::ContextCompacted {
            mode: code_mesh_protocol::CompactionMode::Pruned,
            through_seq: 40,
            summary: None,
            pruned_outputs: 12,
            tokens_before: 182_000,
            tokens_after: 96_000,
        },
        EventKind::ContextCompacted {
            mode: code_mesh_protocol::CompactionMode::Summarized,
            through_seq: 80,
            summary: Some("The user is refactoring the parser.".into()),
            pruned_outputs: 0,
            tokens_before: 190_000,
            tokens_after: 12_000,
        },
    ]);
    insta::assert_snapshot!(screen(&mut fold(kinds), 80, 16));
}

fn long_code_block() -> App {
    let mut code = String::from("Here is the whole parser:\n\n```rust\n");
    for n in 1..=40 {
        code.push_str(&format!(
            "    let value_{n} = parse_expression(&tokens[{n}..], depth + {n}, &mut diagnostics)?; // step {n}\n"
        ));
    }
    code.push_str("```\n\nThat is all of it.");
    let mut kinds = session_start();
    kinds.extend([
        EventKind::MessageAdded {
            message: message(Role::Assistant, vec![text(&code)]),
        },
        finished(code_mesh_protocol::TurnEndReason::Completed),
    ]);
    fold(kinds)
}

#[test]
fn long_code_block_at_80x24() {
    let mut app = long_code_block();
    let bottom = screen(&mut app, 80, 24);
    assert!(bottom.contains("That is all of it."), "{bottom}");
    insta::assert_snapshot!(bottom);
}

#[test]
fn resize_relays_out_the_same_app() {
    let mut app = long_code_block();
    let wide = screen(&mut app, 120, 40);
    insta::assert_snapshot!("resize_120x40", wide);
    app.handle_terminal_event(crossterm::event::Event::Resize(80, 24));
    let narrow = screen(&mut app, 80, 24);
    // The cached layout of the wide screen must not leak into the narrow one.
    assert_eq!(narrow, screen(&mut long_code_block(), 80, 24));
    insta::assert_snapshot!("resize_80x24", narrow);
    // And back.
    assert_eq!(screen(&mut app, 120, 40), wide);
}

/// Every kind of entry, the agent panel and the permission dialog at once.
fn every_state() -> App {
    let mut app = permission_app();
    for kind in [
        EventKind::ReasoningDelta {
            delta: "thinking".into(),
        },
        EventKind::TextDelta {
            delta: ANSWER.into(),
        },
        EventKind::Error {
            code: ErrorCode::ProviderAuth,
            message: "refused".into(),
            hint: Some("log in".into()),
        },
        EventKind::Warning {
            message: "changed on disk".into(),
        },
        EventKind::ProviderRetry {
            provider: "openai".into(),
            attempt: 2,
            delay_ms: 100,
            message: "overloaded".into(),
        },
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId("agent_1".into()),
                profile: "coordinator".into(),
                parent: None,
                session_id: SessionId("ses_agent_1".into()),
                model: "openai/gpt-5-mini".into(),
            },
        },
        usage(10_000, 100, Some(0.01)),
    ] {
        app.apply(&event(kind));
    }
    app.expanded = true;
    app.conversation.set_expanded(true);
    app
}

#[test]
fn no_color_theme_has_no_colour_anywhere() {
    let mut app = every_state();
    for (width, height) in [(120, 60), (80, 24)] {
        let buffer = render(&mut app, width, height, &Theme::plain());
        for cell in buffer.content() {
            assert_eq!(
                (cell.fg, cell.bg),
                (Color::Reset, Color::Reset),
                "cell {:?} is coloured",
                cell.symbol()
            );
        }
    }
    // The colour theme does colour the same screen, so the check above can fail.
    let buffer = render(&mut app, 120, 60, &Theme::colored());
    assert!(buffer.content().iter().any(|cell| cell.fg != Color::Reset));
}

#[test]
fn no_color_theme_keeps_emphasis() {
    // Without colour the states stay apart through bold, italics, underline and reverse.
    let buffer = render(&mut every_state(), 120, 60, &Theme::plain());
    assert!(
        buffer
            .content()
            .iter()
            .any(|cell| !cell.modifier.is_empty()),
        "no emphasis at all without colour"
    );
    let text = buffer_text(&buffer);
    assert_eq!(
        text,
        buffer_text(&render(&mut every_state(), 120, 60, &Theme::colored()))
    );
}

#[test]
fn permission_dialog_saving_rules() {
    let mut app = permission_app();
    app.saves_rules = true;
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn saved_rule_notice() {
    use code_mesh_protocol::config::{PermissionAction, PermissionRule};
    use code_mesh_protocol::{PermissionDecision, PermissionSource};

    let mut app = permission_app();
    app.saves_rules = true;
    let rules = vec![PermissionRule {
        tool: "bash".into(),
        pattern: Some("git push *".into()),
        action: PermissionAction::Allow,
    }];
    let decided = EventKind::PermissionDecided {
        request_id: "p1".into(),
        call_id: "c1".into(),
        decision: PermissionDecision::AllowAlways,
        source: PermissionSource::User,
        rule: None,
        remembered: rules.clone(),
    };
    let saved = crate::app::saved_rules::rules_to_save(&decided)
        .unwrap()
        .to_vec();
    app.apply(&event(decided));
    app.rules_saved(&saved, Some(Ok("/repo/code-mesh.toml".into())));
    app.rules_saved(
        &rules,
        Some(Err(
            "/repo/code-mesh.toml:3:1: invalid TOML: unclosed table; hint: fix the file".into(),
        )),
    );
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

/// A conversation of `turns` prompts, each with a Markdown answer and a tool call.
fn long_conversation(turns: usize) -> App {
    let mut app = App::new(Some(200_000));
    for turn in 1..=turns {
        for kind in [
            EventKind::MessageAdded {
                message: message(Role::User, vec![text(&format!("prompt {turn}"))]),
            },
            EventKind::MessageAdded {
                message: message(
                    Role::Assistant,
                    vec![text(&format!(
                        "## Answer {turn}\n\nThe **parser** recurses:\n\n```rust\nfn parse_{turn}() {{}}\n```\n"
                    ))],
                ),
            },
            EventKind::ToolCallStarted {
                call_id: format!("c{turn}"),
                name: "bash".into(),
                arguments: format!(r#"{{"command":"cargo test {turn}"}}"#),
            },
            EventKind::ToolCallFinished {
                call_id: format!("c{turn}"),
                name: "bash".into(),
                output: format!("test {turn} ... ok\n"),
                is_error: false,
                duration_ms: 3,
            },
        ] {
            app.apply(&event(kind));
        }
    }
    app
}

/// Entries of the main view's layout holding rows.
fn entries_holding_rows(app: &App) -> usize {
    app.layout
        .entries
        .iter()
        .filter(|rows| rows.is_some())
        .count()
}

#[test]
fn a_long_history_keeps_only_the_rows_in_view() {
    let mut app = long_conversation(500);
    let entries = app.conversation.entries().len();
    assert_eq!(entries, 1_500);
    screen(&mut app, 80, 24);
    assert!(
        entries_holding_rows(&app) <= 10,
        "{}",
        entries_holding_rows(&app)
    );
    assert_eq!(app.layout.ends.len(), entries);
    for _ in 0..100 {
        press(&mut app, crossterm::event::KeyCode::PageUp);
        screen(&mut app, 80, 24);
    }
    assert!(
        entries_holding_rows(&app) <= 10,
        "{}",
        entries_holding_rows(&app)
    );
    // A streamed answer while scrolled up keeps only its own rows besides the view's.
    app.apply(&event(EventKind::TurnStarted { turn: TurnId(2) }));
    app.apply(&event(EventKind::TextDelta {
        delta: "streaming".into(),
    }));
    screen(&mut app, 80, 24);
    assert!(
        entries_holding_rows(&app) <= 10,
        "{}",
        entries_holding_rows(&app)
    );
}

#[test]
fn rows_laid_out_again_on_scrolling_equal_those_kept_all_along() {
    // The main view drops rows out of view and lays them out again when they come back; the
    // same conversation laid out once and kept whole must show the same at every position.
    let mut app = long_conversation(60);
    let theme = Theme::colored();
    let mut whole = super::LayoutCache::default();
    let mut conversation = app.conversation.clone();
    whole.update(&mut conversation, 80, &theme);
    let height = 24 - 4; // The editor's three rows and the status line.
    let total = whole.total_rows();
    let mut seen = 0;
    for pages in 0..=total / (height - 1) + 1 {
        let shown = screen(&mut app, 80, 24);
        let top = total.saturating_sub(height + pages * (height - 1));
        let expected: Vec<String> = whole
            .visible(top, height)
            .iter()
            .map(|line| line.to_string().trim_end().to_owned())
            .collect();
        let actual: Vec<&str> = shown.lines().take(height).collect();
        assert_eq!(actual, expected, "{pages} pages up (top {top})");
        seen += 1;
        press(&mut app, crossterm::event::KeyCode::PageUp);
    }
    assert!(seen > 5);
    // And down again, from the top, where the rows were dropped long ago.
    for _ in 0..seen {
        press(&mut app, crossterm::event::KeyCode::PageDown);
    }
    assert_eq!(
        screen(&mut app, 80, 24),
        screen(&mut long_conversation(60), 80, 24)
    );
}
