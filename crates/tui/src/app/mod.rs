//! The UI's state, with no terminal in it: the conversation, the status line, the agent tree,
//! the input editor and the view's scroll position. The loop feeds it engine events and key
//! presses and draws it when it says it changed.

mod conversation;
mod keys;
mod scroll;
mod status;
pub(crate) mod summary;

#[cfg(test)]
pub(crate) mod tests;

use code_mesh_core::orchestra::RunTree;
use code_mesh_protocol::{Event, Op, PermissionDecision};

pub use conversation::{Conversation, Entry, PermissionEntry, ToolBlock, ToolStatus, TurnState};
pub use scroll::Scroll;
pub use status::Status;

use crate::input::Editor;

/// What the UI asks of the world after an input: an op for the engine, or to stop.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Submit(Op),
    Quit,
    /// Leave the UI so the caller opens a fresh session (`/new`).
    NewSession,
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
    pub scroll: Scroll,
    /// Which answer of [`DIALOG_CHOICES`] the dialog has selected.
    pub dialog_choice: usize,
    /// Whether the agent panel is shown (it is, once a run has agents, until `/agents`).
    pub show_agents: bool,
    /// Whether tool blocks and reasoning are opened (Ctrl-O).
    pub expanded: bool,
    /// Frame of the spinner shown while a turn runs.
    pub spinner: usize,
    /// The conversation's rows as last laid out, kept between frames.
    pub(crate) layout: crate::render::LayoutCache,
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
        let kind = &event.kind;
        // `had_agents == is_empty()`: the tree just got its first node, or lost its last.
        let had_agents = !self.agents.is_empty();
        self.agents.apply(kind);
        let mut changed = had_agents == self.agents.is_empty() || self.agents_event(kind);
        let pending_before = self.conversation.pending_permissions().count();
        changed |= self.conversation.apply(kind);
        changed |= self.status.apply(kind);
        if self.conversation.pending_permissions().count() != pending_before {
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
