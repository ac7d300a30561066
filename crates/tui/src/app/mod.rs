//! The UI's state, with no terminal in it: the conversation, the status line, the agent tree,
//! the input editor and the view's scroll position. The loop feeds it engine events and key
//! presses and draws it when it says it changed.

pub(crate) mod agent_view;
mod completion;
mod conversation;
mod keys;
pub mod picker;
pub mod saved_rules;
mod scroll;
mod status;
pub(crate) mod summary;
mod switch;

#[cfg(test)]
pub(crate) mod tests;

use code_mesh_core::orchestra::RunTree;
use code_mesh_protocol::{Event, Op, PermissionDecision};

pub use agent_view::{AgentFeed, AgentState, AgentView, Focus};
pub use conversation::{Conversation, Entry, PermissionEntry, ToolBlock, ToolStatus, TurnState};
pub use scroll::Scroll;
pub use status::Status;
pub use switch::{SESSION_PICKER_LIMIT, SessionContext, SessionSwitch, SwitchNotice};

use crate::input::{Completer, Editor};

/// What the UI asks of the world after an input: an op for the engine, or to stop.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Submit(Op),
    Quit,
    /// Leave the UI so the caller opens another session, or this one changed.
    Switch(SessionSwitch),
    /// Read the recent sessions for the session picker (`/sessions`); the loop passes them
    /// to [`App::open_session_picker`].
    ListSessions,
    /// Follow an agent's session for the agent view: its stored events, then its live ones,
    /// fed back through [`App::agent_feed`].
    WatchAgent(code_mesh_protocol::SessionId),
    /// Stop following the agent's session (the view closed).
    UnwatchAgent,
}

/// The answers the permission dialog offers, in the order shown.
pub const DIALOG_CHOICES: [PermissionDecision; 3] = [
    PermissionDecision::AllowOnce,
    PermissionDecision::AllowAlways,
    PermissionDecision::Deny,
];

/// The whole state of the UI.
#[derive(Debug, Default)]
pub struct App {
    pub conversation: Conversation,
    pub status: Status,
    /// The agents and tasks of orchestrated runs.
    pub agents: RunTree,
    pub editor: Editor,
    /// The `@file` and `/command` completion popup over the editor.
    pub completion: Completer,
    pub scroll: Scroll,
    /// Which answer of [`DIALOG_CHOICES`] the dialog has selected.
    pub dialog_choice: usize,
    /// Whether the agent panel is shown (it is, once a run has agents, until `/agents`).
    pub show_agents: bool,
    /// Whether "allow always" answers are saved as config rules (the UI has a
    /// [`saved_rules::RuleSaver`]); the dialog says so.
    pub saves_rules: bool,
    /// Whether the prompt or the agent panel has the keys (Tab switches).
    pub focus: Focus,
    /// The agent selected in the panel.
    pub agent_selection: Option<code_mesh_protocol::AgentId>,
    /// An agent's own conversation, shown instead of the session's while open.
    pub agent_view: Option<AgentView>,
    /// Whether tool blocks and reasoning are opened (Ctrl-O).
    pub expanded: bool,
    /// Frame of the spinner shown while a turn runs.
    pub spinner: usize,
    /// The conversation's rows as last laid out, kept between frames.
    pub(crate) layout: crate::render::LayoutCache,
    /// The session or model picker, when open.
    pub picker: Option<picker::OpenPicker>,
    /// The session's id, strategy and the models to switch to.
    pub session: SessionContext,
    dirty: bool,
}

impl App {
    pub fn new(context_window: Option<u64>) -> Self {
        App {
            status: Status {
                context_window,
                ..Status::default()
            },
            show_agents: true,
            dirty: true,
            ..App::default()
        }
    }

    /// Takes in one engine event.
    pub fn apply(&mut self, event: &Event) {
        if self.replayed(event) {
            return;
        }
        let kind = &event.kind;
        // `had_agents == is_empty()`: the tree just got its first node, or lost its last.
        let had_agents = !self.agents.is_empty();
        self.agents.apply(kind);
        let mut changed = had_agents == self.agents.is_empty() || self.agents_event(kind);
        // Only questions and answers change which questions wait; counting them walks the
        // whole conversation, which other events (a streamed delta) must not pay for.
        let asks = matches!(
            kind,
            code_mesh_protocol::EventKind::PermissionRequested { .. }
                | code_mesh_protocol::EventKind::PermissionDecided { .. }
        );
        let pending_before = asks.then(|| self.conversation.pending_permissions().count());
        changed |= self.conversation.apply(kind);
        changed |= self.status.apply(kind);
        if pending_before
            .is_some_and(|before| self.conversation.pending_permissions().count() != before)
        {
            // A new question starts on "allow once", the least surprising answer to confirm.
            self.dialog_choice = 0;
        }
        if changed {
            self.dirty = true;
        }
    }

    fn agents_event(&self, kind: &code_mesh_protocol::EventKind) -> bool {
        use code_mesh_protocol::EventKind as K;
        matches!(
            kind,
            K::AgentSpawned { .. }
                | K::AgentTerminated { .. }
                | K::TaskCreated { .. }
                | K::TaskStarted { .. }
                | K::TaskCompleted { .. }
                | K::TaskFailed { .. }
        )
    }

    /// Whether a turn is running (the spinner turns only then).
    pub fn is_running(&self) -> bool {
        self.conversation.turn() == TurnState::Running
    }

    /// Advances the spinner.
    pub fn tick(&mut self) {
        self.spinner = self.spinner.wrapping_add(1);
        self.dirty = true;
    }

    /// Asks for a redraw (a resize, a first frame).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Whether something changed since the last frame; clears the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The question the dialog asks now, if any.
    pub fn pending_permission(&self) -> Option<&PermissionEntry> {
        self.conversation.pending_permissions().next()
    }
}
