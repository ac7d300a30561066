//! Reading one agent's own conversation. Tab gives the agent panel the keys, Up and Down move
//! through the run's agents, Enter shows the selected agent's child session in the main pane
//! (its stored events, then its live ones, folded like the session's own) and Esc goes back.
//! Each agent's events go to its own session, not the run's, so the loop follows that session
//! only while the view is open ([`Effect::WatchAgent`], [`Effect::UnwatchAgent`]).

use code_mesh_core::orchestra::AgentNode;
use code_mesh_protocol::{AgentId, Event, EventKind, SessionId, TaskState, Usage};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::summary::cost;
use super::{App, Conversation, Effect, Scroll};

/// Which part of the screen the keys go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    /// The prompt editor.
    #[default]
    Prompt,
    /// The agent panel (and the agent view opened from it).
    Agents,
}

/// What the loop's watcher of an agent's session reports (see `crate::watch`).
#[derive(Clone, Debug, PartialEq)]
pub enum AgentFeed {
    /// The session's stored events: first, and again after the watcher fell behind.
    Stored {
        session: SessionId,
        events: Vec<Event>,
    },
    /// One event as it happens.
    Live(Event),
    /// The stored events could not be read: one sentence with a hint.
    Failed { session: SessionId, message: String },
    /// Nothing more will come live: the agent has ended (or had when the view opened).
    Ended { session: SessionId },
}

/// Where an agent stands, as the panel and the view's header say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    Waiting,
    Running,
    /// An agent without a task of its own (the Coordinator) between turns.
    Idle,
    Done,
    Failed,
}

impl AgentState {
    pub fn label(self) -> &'static str {
        match self {
            AgentState::Waiting => "waiting",
            AgentState::Running => "running",
            AgentState::Idle => "idle",
            AgentState::Done => "done",
            AgentState::Failed => "failed",
        }
    }
}

/// One agent's conversation, shown in the main pane instead of the session's.
#[derive(Debug)]
pub struct AgentView {
    pub agent: AgentId,
    pub session: SessionId,
    pub conversation: Conversation,
    pub scroll: Scroll,
    /// Its session's usage so far, from its own `usage_updated` events: a running agent's
    /// cost, which the run hears of only when the agent ends.
    pub usage: Option<Usage>,
    /// Whether its stored events have arrived.
    pub loaded: bool,
    /// Whether its live events have stopped.
    pub ended: bool,
    /// Why its stored events could not be read.
    pub error: Option<String>,
    /// The newest event taken in; live events at or below it were already read from the
    /// store (the watcher subscribes before it reads, so the two overlap).
    last_seq: u64,
    /// Its rows as last laid out, apart from the session's so switching keeps both.
    pub(crate) layout: crate::render::LayoutCache,
}

impl AgentView {
    fn new(agent: AgentId, session: SessionId, expanded: bool) -> Self {
        let mut conversation = Conversation::new();
        conversation.set_expanded(expanded);
        AgentView {
            agent,
            session,
            conversation,
            scroll: Scroll::default(),
            usage: None,
            loaded: false,
            ended: false,
            error: None,
            last_seq: 0,
            layout: crate::render::LayoutCache::default(),
        }
    }

    /// Takes in one event of the agent's session, unless it was taken in already. Returns
    /// whether anything shown changed.
    pub fn apply(&mut self, event: &Event) -> bool {
        if event.session_id != self.session || event.seq <= self.last_seq {
            return false;
        }
        self.last_seq = event.seq;
        let mut changed = false;
        if let EventKind::UsageUpdated { session_total, .. } = &event.kind {
            changed = self.usage != Some(*session_total);
            self.usage = Some(*session_total);
        }
        self.conversation.apply(&event.kind) || changed
    }

    /// Takes in a feed of the watcher; returns whether anything shown changed.
    fn feed(&mut self, feed: &AgentFeed) -> bool {
        match feed {
            AgentFeed::Stored { session, events } if *session == self.session => {
                self.loaded = true;
                self.error = None;
                for event in events {
                    self.apply(event);
                }
                true
            }
            AgentFeed::Live(event) => self.apply(event),
            AgentFeed::Failed { session, message } if *session == self.session => {
                self.loaded = true;
                self.error = Some(message.clone());
                true
            }
            AgentFeed::Ended { session } if *session == self.session => {
                self.ended = true;
                true
            }
            _ => false,
        }
    }
}

impl App {
    /// The run's agents in the panel's order: each under the one that started it.
    pub fn panel_agents(&self) -> Vec<&AgentNode> {
        fn walk<'a>(app: &'a App, parent: Option<&AgentId>, out: &mut Vec<&'a AgentNode>) {
            for node in app.agents.children(parent) {
                out.push(node);
                walk(app, Some(&node.info.id), out);
            }
        }
        let mut agents = Vec::new();
        walk(self, None, &mut agents);
        agents
    }

    /// Where `node` stands: its end if it ended, else its task's state.
    pub fn agent_state(&self, node: &AgentNode) -> AgentState {
        match (
            node.succeeded,
            self.agents.task_of(&node.info.id).map(|task| task.state),
        ) {
            (Some(true), _) => AgentState::Done,
            (Some(false), _) => AgentState::Failed,
            (None, Some(TaskState::Waiting)) => AgentState::Waiting,
            // An agent without a task (the Coordinator) lives as long as the session: it
            // runs only while a turn does.
            (None, None) if !self.is_running() => AgentState::Idle,
            (None, _) => AgentState::Running,
        }
    }

    /// The selected agent's row in the panel, while the panel has the keys.
    pub fn selected_agent_row(&self) -> Option<usize> {
        if self.focus != Focus::Agents {
            return None;
        }
        let selected = self.agent_selection.as_ref()?;
        self.panel_agents()
            .iter()
            .position(|node| &node.info.id == selected)
    }

    /// The agent view's top line: "agent_2 · coder · running · $0.0012".
    pub fn agent_view_header(&self) -> Option<String> {
        let view = self.agent_view.as_ref()?;
        let mut parts = vec![view.agent.to_string()];
        if let Some(node) = self.agents.agent(&view.agent) {
            parts.push(node.info.profile.clone());
            parts.push(self.agent_state(node).label().to_owned());
            // Its own session's total while it works; the run's account of it once it ended.
            let spent = view
                .usage
                .and_then(|usage| usage.cost_usd)
                .or(node.usage.cost_usd);
            if let Some(usd) = spent {
                parts.push(cost(usd));
            }
        }
        Some(parts.join(" · "))
    }

    /// The scroll position of what the main pane shows.
    pub fn shown_scroll(&self) -> &Scroll {
        self.agent_view
            .as_ref()
            .map_or(&self.scroll, |view| &view.scroll)
    }

    pub(crate) fn shown_scroll_mut(&mut self) -> &mut Scroll {
        match &mut self.agent_view {
            Some(view) => &mut view.scroll,
            None => &mut self.scroll,
        }
    }

    /// Gives the agent panel the keys, keeping the selection if that agent is still there.
    /// False when the panel is hidden or has no agent to select.
    pub(crate) fn focus_agents(&mut self) -> bool {
        if !self.show_agents {
            return false;
        }
        let agents = self.panel_agents();
        let keep = self
            .agent_selection
            .as_ref()
            .is_some_and(|selected| agents.iter().any(|node| &node.info.id == selected));
        let first = agents.first().map(|node| node.info.id.clone());
        let Some(first) = first else {
            return false;
        };
        if !keep {
            self.agent_selection = Some(first);
        }
        self.focus = Focus::Agents;
        true
    }

    /// Gives the prompt the keys back, closing an open agent view.
    pub(crate) fn focus_prompt(&mut self) -> Vec<Effect> {
        self.focus = Focus::Prompt;
        self.close_agent_view()
    }

    fn move_agent_selection(&mut self, down: bool) {
        let agents = self.panel_agents();
        let at = self
            .agent_selection
            .as_ref()
            .and_then(|selected| agents.iter().position(|node| &node.info.id == selected));
        let next = match at {
            Some(at) if down => (at + 1).min(agents.len().saturating_sub(1)),
            Some(at) => at.saturating_sub(1),
            None => 0,
        };
        let next = agents.get(next).map(|node| node.info.id.clone());
        if next.is_some() {
            self.agent_selection = next;
        }
    }

    /// Shows the selected agent's conversation; the loop starts following its session.
    fn open_selected_agent(&mut self) -> Vec<Effect> {
        let Some(node) = self
            .agent_selection
            .as_ref()
            .and_then(|selected| self.agents.agent(selected))
        else {
            return Vec::new();
        };
        let session = node.info.session_id.clone();
        self.agent_view = Some(AgentView::new(
            node.info.id.clone(),
            session.clone(),
            self.expanded,
        ));
        vec![Effect::WatchAgent(session)]
    }

    /// Back to the session's conversation; the loop stops following the agent.
    pub(crate) fn close_agent_view(&mut self) -> Vec<Effect> {
        match self.agent_view.take() {
            Some(_) => vec![Effect::UnwatchAgent],
            None => Vec::new(),
        }
    }

    /// `/agents`: hides the panel or shows it again. Hiding it closes the agent view and
    /// gives the prompt the keys.
    pub(crate) fn toggle_agents(&mut self) -> Vec<Effect> {
        self.show_agents = !self.show_agents;
        if self.show_agents {
            Vec::new()
        } else {
            self.focus_prompt()
        }
    }

    /// Takes in what the watcher of the open agent view reports.
    pub fn agent_feed(&mut self, feed: AgentFeed) {
        if let Some(view) = &mut self.agent_view
            && view.feed(&feed)
        {
            self.mark_dirty();
        }
    }

    /// A key while the agent panel has the keys.
    pub(crate) fn agent_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some(view) = &mut self.agent_view {
            match key.code {
                // Back to the panel, to pick another agent.
                KeyCode::Esc => return self.close_agent_view(),
                KeyCode::Tab | KeyCode::BackTab => return self.focus_prompt(),
                KeyCode::Up => view.scroll.up(1),
                KeyCode::Down => view.scroll.down(1),
                KeyCode::End => view.scroll.to_bottom(),
                _ => self.dirty = false,
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Up => self.move_agent_selection(false),
            KeyCode::Down => self.move_agent_selection(true),
            KeyCode::Enter => return self.open_selected_agent(),
            KeyCode::Esc | KeyCode::Tab | KeyCode::BackTab => return self.focus_prompt(),
            // Typing goes back to the prompt, with what was typed.
            KeyCode::Char(c) if !control => {
                self.focus = Focus::Prompt;
                self.editor.insert(c.encode_utf8(&mut [0; 4]));
            }
            _ => self.dirty = false,
        }
        Vec::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use code_mesh_protocol::{
        AgentInfo, AgentOutcome, Role, TaskId, TaskInfo, TurnEndReason, TurnId,
    };
    use crossterm::event::Event as TerminalEvent;
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::app::Entry;
    use crate::app::tests::{event, message, text};

    fn key(code: KeyCode) -> TerminalEvent {
        TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    pub(crate) fn spawned(id: &str, profile: &str, parent: Option<&str>) -> EventKind {
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId(id.into()),
                profile: profile.into(),
                parent: parent.map(|p| AgentId(p.into())),
                session_id: SessionId(format!("ses_{id}")),
                model: "openai/gpt-5-mini".into(),
            },
        }
    }

    /// A run with a Coordinator and two agents under it, the coder working on its task.
    pub(crate) fn run_with_agents() -> App {
        let mut app = App::new(None);
        for kind in [
            EventKind::TurnStarted { turn: TurnId(1) },
            spawned("agent_1", "coordinator", None),
            EventKind::TaskCreated {
                task: TaskInfo {
                    id: TaskId("task_1".into()),
                    description: "design the flag".into(),
                    agent: "architect".into(),
                    dependencies: Vec::new(),
                },
            },
            spawned("agent_2", "architect", Some("agent_1")),
            EventKind::TaskStarted {
                task: TaskId("task_1".into()),
                agent: AgentId("agent_2".into()),
            },
            spawned("agent_3", "coder", Some("agent_1")),
        ] {
            app.apply(&event(kind));
        }
        app
    }

    /// An event of `agent`'s own session.
    pub(crate) fn agent_event(agent: &str, seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            session_id: SessionId(format!("ses_{agent}")),
            at: 0,
            kind,
        }
    }

    fn selected(app: &App) -> Option<&str> {
        app.agent_selection.as_ref().map(|id| id.0.as_str())
    }

    #[test]
    fn tab_focuses_the_panel_and_arrows_move_the_selection_in_panel_order() {
        let mut app = run_with_agents();
        assert!(app.handle_terminal_event(key(KeyCode::Tab)).is_empty());
        assert_eq!(app.focus, Focus::Agents);
        assert_eq!(selected(&app), Some("agent_1"));
        assert!(app.editor.is_empty(), "Tab typed into the prompt");
        app.handle_terminal_event(key(KeyCode::Down));
        app.handle_terminal_event(key(KeyCode::Down));
        assert_eq!(selected(&app), Some("agent_3"));
        assert_eq!(app.selected_agent_row(), Some(2));
        // The selection stops at the ends.
        app.handle_terminal_event(key(KeyCode::Down));
        assert_eq!(selected(&app), Some("agent_3"));
        app.handle_terminal_event(key(KeyCode::Up));
        assert_eq!(selected(&app), Some("agent_2"));
        // Tab gives the prompt the keys back; the selection is kept for next time.
        app.handle_terminal_event(key(KeyCode::Tab));
        assert_eq!(app.focus, Focus::Prompt);
        assert_eq!(app.selected_agent_row(), None);
        app.handle_terminal_event(key(KeyCode::Tab));
        assert_eq!(selected(&app), Some("agent_2"));
    }

    #[test]
    fn tab_indents_the_prompt_when_there_is_no_agent_to_select() {
        let mut app = App::new(None);
        app.handle_terminal_event(key(KeyCode::Tab));
        assert_eq!(app.focus, Focus::Prompt);
        assert_eq!(app.editor.text(), "    ");
        let mut hidden = run_with_agents();
        hidden.show_agents = false;
        hidden.handle_terminal_event(key(KeyCode::Tab));
        assert_eq!(hidden.focus, Focus::Prompt);
    }

    #[test]
    fn typing_while_the_panel_has_the_keys_goes_back_to_the_prompt() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Char('h')));
        assert_eq!(app.focus, Focus::Prompt);
        assert_eq!(app.editor.text(), "h");
    }

    #[test]
    fn enter_opens_the_agents_conversation_folded_from_its_own_events() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Down));
        assert_eq!(
            app.handle_terminal_event(key(KeyCode::Enter)),
            [Effect::WatchAgent(SessionId("ses_agent_2".into()))]
        );
        let view = app.agent_view.as_ref().unwrap();
        assert_eq!(view.agent, AgentId("agent_2".into()));
        assert!(!view.loaded);
        assert_eq!(
            app.agent_view_header().as_deref(),
            Some("agent_2 · architect · running")
        );

        app.agent_feed(AgentFeed::Stored {
            session: SessionId("ses_agent_2".into()),
            events: vec![
                agent_event("agent_2", 1, EventKind::TurnStarted { turn: TurnId(1) }),
                agent_event(
                    "agent_2",
                    2,
                    EventKind::MessageAdded {
                        message: message(Role::User, vec![text("design the flag")]),
                    },
                ),
            ],
        });
        // The watcher subscribed before it read the store: what was read comes again live.
        app.agent_feed(AgentFeed::Live(agent_event(
            "agent_2",
            2,
            EventKind::MessageAdded {
                message: message(Role::User, vec![text("design the flag")]),
            },
        )));
        for (seq, delta) in [(3, "Design: "), (4, "a boolean flag.")] {
            app.agent_feed(AgentFeed::Live(agent_event(
                "agent_2",
                seq,
                EventKind::TextDelta {
                    delta: delta.into(),
                },
            )));
        }
        // Another session's event has no place here.
        app.agent_feed(AgentFeed::Live(agent_event(
            "agent_3",
            5,
            EventKind::TextDelta {
                delta: "not mine".into(),
            },
        )));
        app.agent_feed(AgentFeed::Live(agent_event(
            "agent_2",
            5,
            EventKind::UsageUpdated {
                usage: Usage::default(),
                session_total: Usage {
                    input_tokens: 10,
                    cost_usd: Some(0.0012),
                    ..Usage::default()
                },
            },
        )));
        let view = app.agent_view.as_ref().unwrap();
        assert!(view.loaded);
        assert_eq!(
            view.conversation.entries(),
            [
                Entry::User {
                    text: "design the flag".into()
                },
                Entry::Assistant {
                    text: "Design: a boolean flag.".into(),
                    streaming: true,
                    interrupted: false,
                },
            ]
        );
        assert_eq!(
            app.agent_view_header().as_deref(),
            Some("agent_2 · architect · running · $0.0012")
        );
        // The session's own conversation is untouched.
        assert!(
            !app.conversation
                .entries()
                .iter()
                .any(|entry| matches!(entry, Entry::User { .. } | Entry::Assistant { .. })),
            "{:?}",
            app.conversation.entries()
        );
    }

    #[test]
    fn the_header_follows_the_agents_end() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Down));
        app.handle_terminal_event(key(KeyCode::Enter));
        app.apply(&event(EventKind::AgentTerminated {
            agent: AgentId("agent_2".into()),
            succeeded: true,
            outcome: AgentOutcome {
                summary: "Design: a boolean flag.".into(),
                usage: Usage {
                    cost_usd: Some(0.5),
                    ..Usage::default()
                },
            },
        }));
        app.agent_feed(AgentFeed::Ended {
            session: SessionId("ses_agent_2".into()),
        });
        assert!(app.agent_view.as_ref().unwrap().ended);
        assert_eq!(
            app.agent_view_header().as_deref(),
            Some("agent_2 · architect · done · $0.50")
        );
    }

    #[test]
    fn a_store_failure_is_shown_in_the_view() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Enter));
        app.agent_feed(AgentFeed::Failed {
            session: SessionId("ses_agent_1".into()),
            message: "cannot read it".into(),
        });
        let view = app.agent_view.as_ref().unwrap();
        assert_eq!(view.error.as_deref(), Some("cannot read it"));
        assert!(view.loaded);
    }

    #[test]
    fn esc_goes_back_to_the_panel_and_tab_to_the_prompt() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Enter));
        // Keys read the agent's conversation; nothing reaches the prompt.
        app.handle_terminal_event(key(KeyCode::Char('x')));
        assert!(app.editor.is_empty());
        assert_eq!(
            app.handle_terminal_event(key(KeyCode::Esc)),
            [Effect::UnwatchAgent]
        );
        assert!(app.agent_view.is_none());
        assert_eq!(app.focus, Focus::Agents);
        // Esc in the panel does not cancel the running turn: it gives the prompt the keys.
        assert!(app.handle_terminal_event(key(KeyCode::Esc)).is_empty());
        assert_eq!(app.focus, Focus::Prompt);

        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Enter));
        assert_eq!(
            app.handle_terminal_event(key(KeyCode::Tab)),
            [Effect::UnwatchAgent]
        );
        assert!(app.agent_view.is_none());
        assert_eq!(app.focus, Focus::Prompt);
    }

    #[test]
    fn page_keys_scroll_the_shown_conversation() {
        let mut app = run_with_agents();
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Enter));
        let view = app.agent_view.as_mut().unwrap();
        view.scroll.layout(100, 10);
        app.handle_terminal_event(key(KeyCode::PageUp));
        assert!(!app.shown_scroll().follows_bottom());
        assert!(app.scroll.follows_bottom(), "the session's view moved");
        app.handle_terminal_event(key(KeyCode::End));
        assert!(app.shown_scroll().follows_bottom());
    }

    #[test]
    fn hiding_the_panel_closes_the_view_and_gives_the_prompt_the_keys() {
        let mut app = run_with_agents();
        app.apply(&event(EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::Completed,
            steps: 1,
            usage: Usage::default(),
        }));
        app.handle_terminal_event(key(KeyCode::Tab));
        app.handle_terminal_event(key(KeyCode::Enter));
        assert_eq!(app.toggle_agents(), [Effect::UnwatchAgent]);
        assert!(!app.show_agents);
        assert_eq!(app.focus, Focus::Prompt);
        assert!(app.agent_view.is_none());
    }
}
