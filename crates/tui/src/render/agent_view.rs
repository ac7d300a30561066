//! The agent view: one agent's own conversation in the main pane, under a header naming the
//! agent, its profile, its state and its cost. Its entries are drawn as the session's are,
//! with a layout cache of their own.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::App;
use crate::theme::Theme;

/// Draws the open agent view into `area` (the conversation's place).
pub(super) fn draw(frame: &mut Frame<'_>, app: &mut App, theme: &Theme, area: Rect) {
    let header = app.agent_view_header().unwrap_or_default();
    let Some(view) = app.agent_view.as_mut() else {
        return;
    };
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let title = Line::from(vec![
        Span::styled(header, theme.heading),
        Span::styled("  Esc back · Tab prompt · ↑↓ scroll", theme.dim),
    ]);
    let block = Block::new()
        .borders(Borders::BOTTOM)
        .border_style(theme.border);
    frame.render_widget(Paragraph::new(title).block(block), head);

    let (body, error) = match &view.error {
        Some(message) if !view.conversation.entries().is_empty() => {
            let [body, error] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(body);
            (body, Some((message.clone(), error)))
        }
        _ => (body, None),
    };
    if view.conversation.entries().is_empty() {
        let (text, style) = match &view.error {
            Some(message) => (message.clone(), theme.error),
            None if !view.loaded => (
                format!("loading {}'s conversation…", view.agent),
                theme.notice,
            ),
            None => (format!("{} has no messages yet.", view.agent), theme.notice),
        };
        let paragraph =
            Paragraph::new(Line::from(Span::styled(text, style))).wrap(Wrap { trim: false });
        frame.render_widget(paragraph, body);
        return;
    }
    let width = body.width as usize;
    let height = body.height as usize;
    view.layout.update(&mut view.conversation, width, theme);
    let top = view.scroll.layout(view.layout.total_rows(), height);
    frame.render_widget(Paragraph::new(view.layout.visible(top, height)), body);
    if let Some((message, area)) = error {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(message, theme.error))),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use code_mesh_protocol::{
        AgentId, Event, EventKind, Role, SessionId, TaskId, TaskInfo, TurnEndReason, TurnId, Usage,
    };
    use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::app::agent_view::tests::spawned;
    use crate::app::tests::{event, message, text};
    use crate::app::{AgentFeed, App};
    use crate::render::draw;
    use crate::render::tests::buffer_text;
    use crate::theme::Theme;

    fn screen(app: &mut App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| draw(frame, app, &Theme::colored()))
            .unwrap();
        buffer_text(terminal.backend().buffer())
    }

    fn key(app: &mut App, code: KeyCode) {
        app.handle_terminal_event(TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn task(id: &str, profile: &str, description: &str) -> EventKind {
        EventKind::TaskCreated {
            task: TaskInfo {
                id: TaskId(id.into()),
                description: description.into(),
                agent: profile.into(),
                dependencies: Vec::new(),
            },
        }
    }

    fn started(task: &str, agent: &str) -> EventKind {
        EventKind::TaskStarted {
            task: TaskId(task.into()),
            agent: AgentId(agent.into()),
        }
    }

    /// A hierarchical run at work: the Coordinator has delegated three tasks; the architect
    /// and the coder are running, the tester waits.
    fn run() -> App {
        let mut app = App::new(Some(200_000));
        for kind in [
            EventKind::SessionStarted {
                cwd: "/p".into(),
                workspace: "/p".into(),
                model: "openai/gpt-5-mini".into(),
                resumed: false,
            },
            EventKind::TurnStarted { turn: TurnId(1) },
            EventKind::MessageAdded {
                message: message(Role::User, vec![text("add a --verbose flag")]),
            },
            spawned("agent_1", "coordinator", None),
            task("task_1", "architect", "design the flag"),
            task("task_2", "coder", "implement the flag"),
            task("task_3", "tester", "test the flag"),
            spawned("agent_2", "architect", Some("agent_1")),
            started("task_1", "agent_2"),
            spawned("agent_3", "coder", Some("agent_1")),
            started("task_2", "agent_3"),
        ] {
            app.apply(&event(kind));
        }
        app
    }

    fn child(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            session_id: SessionId("ses_agent_3".into()),
            at: 0,
            kind,
        }
    }

    /// The coder's conversation opened from the panel: its task, a tool call, a streaming
    /// answer and what it has cost so far.
    fn coder_view() -> App {
        let mut app = run();
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Enter);
        app.agent_feed(AgentFeed::Stored {
            session: SessionId("ses_agent_3".into()),
            events: vec![
                child(1, EventKind::TurnStarted { turn: TurnId(1) }),
                child(
                    2,
                    EventKind::MessageAdded {
                        message: message(
                            Role::User,
                            vec![text("implement the flag\n\nDesign: a boolean flag.")],
                        ),
                    },
                ),
                child(
                    3,
                    EventKind::ToolCallStarted {
                        call_id: "c1".into(),
                        name: "read".into(),
                        arguments: r#"{"path":"src/main.rs"}"#.into(),
                    },
                ),
                child(
                    4,
                    EventKind::ToolCallFinished {
                        call_id: "c1".into(),
                        name: "read".into(),
                        output: "fn main() {}".into(),
                        is_error: false,
                        duration_ms: 3,
                    },
                ),
            ],
        });
        for (seq, kind) in [
            (
                5,
                EventKind::UsageUpdated {
                    usage: Usage::default(),
                    session_total: Usage {
                        input_tokens: 1200,
                        output_tokens: 40,
                        cost_usd: Some(0.0012),
                        ..Usage::default()
                    },
                },
            ),
            (
                6,
                EventKind::TextDelta {
                    delta: "Adding `--verbose` to the **CLI** now".into(),
                },
            ),
        ] {
            app.agent_feed(AgentFeed::Live(child(seq, kind)));
        }
        app
    }

    #[test]
    fn focused_agent_panel_with_a_selection() {
        let mut app = run();
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Down);
        let small = screen(&mut app, 80, 24);
        assert!(small.contains("▸ agent_2"), "{small}");
        insta::assert_snapshot!("focused_agent_panel_80x24", small);
        insta::assert_snapshot!("focused_agent_panel_120x40", screen(&mut app, 120, 40));
    }

    #[test]
    fn the_panel_scrolls_to_keep_the_selection_in_view() {
        let mut app = run();
        for n in 4..=9 {
            app.apply(&event(spawned(
                &format!("agent_{n}"),
                "coder",
                Some("agent_1"),
            )));
        }
        key(&mut app, KeyCode::Tab);
        for _ in 0..8 {
            key(&mut app, KeyCode::Down);
        }
        let shown = screen(&mut app, 80, 24);
        assert!(shown.contains("▸ agent_9"), "{shown}");
        assert!(!shown.contains("agent_1 coordinator"), "{shown}");
    }

    #[test]
    fn an_agents_conversation() {
        let mut app = coder_view();
        let small = screen(&mut app, 80, 24);
        assert!(
            small.contains("agent_3 · coder · running · $0.0012"),
            "{small}"
        );
        insta::assert_snapshot!("agent_conversation_80x24", small);
        insta::assert_snapshot!("agent_conversation_120x40", screen(&mut app, 120, 40));
    }

    #[test]
    fn the_sessions_conversation_comes_back_as_it_was() {
        let mut app = coder_view();
        let before = screen(&mut run(), 80, 24);
        screen(&mut app, 80, 24);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Esc);
        // Back to the prompt, the panel unfocused: the screen the run showed before.
        assert_eq!(screen(&mut app, 80, 24), before);
    }

    #[test]
    fn loading_and_ended_agent_views() {
        let mut app = run();
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Enter);
        let loading = screen(&mut app, 80, 24);
        assert!(
            loading.contains("loading agent_1's conversation…"),
            "{loading}"
        );
        app.apply(&event(EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::Completed,
            steps: 1,
            usage: Usage::default(),
        }));
        app.agent_feed(AgentFeed::Stored {
            session: SessionId("ses_agent_1".into()),
            events: Vec::new(),
        });
        let empty = screen(&mut app, 80, 24);
        assert!(empty.contains("agent_1 · coordinator · idle"), "{empty}");
        assert!(empty.contains("agent_1 has no messages yet."), "{empty}");
    }
}
