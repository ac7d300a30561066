//! Work around each turn that needs the outside world (a git snapshot so `undo` can revert
//! the turn, a check for files changed behind the agent's back). The engine calls the hooks;
//! native crates implement them.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_protocol::{SessionId, TurnId};

use crate::FileTracker;

/// What a hook knows of the turn.
#[derive(Clone, Debug)]
pub struct TurnHookContext {
    pub session_id: SessionId,
    pub turn: TurnId,
    pub workspace: PathBuf,
    pub cwd: PathBuf,
    pub files: Arc<FileTracker>,
}

/// Called by the engine before each user turn reaches the model and after it ends.
#[async_trait]
pub trait TurnHooks: Send + Sync {
    /// Runs before the first model request of the turn. Each returned line is reported as a
    /// `warning` event and told to the model with the user's prompt (e.g. "src/lib.rs changed
    /// outside the session since it was last read").
    async fn before_turn(&self, context: &TurnHookContext) -> Vec<String>;

    /// Runs after the turn ended, whatever the reason.
    async fn after_turn(&self, context: &TurnHookContext);

    /// Runs before each model request of the turn: on the first step after `before_turn`, on
    /// later ones once the previous step's tool results are in (not when the turn is about to
    /// end). Each returned text is told to the model as it is, so it should say what it is —
    /// with the user's prompt on the first step, beside the tool results on later ones — and
    /// kept in the history like any message. No event is emitted for it. For news that
    /// arrives while the agent works, such as messages from other agents (`crate::mesh`).
    async fn before_step(&self, _context: &TurnHookContext) -> Vec<String> {
        Vec::new()
    }
}
