//! Where sessions live. The engine appends events; the store keeps them and the state they
//! imply (the message history, usage totals, the title) in one transaction per event.

use async_trait::async_trait;
use code_mesh_protocol::{
    ContextState, Event, EventKind, MemoryEntry, MemoryHit, MemoryQuery, Message, NewMemory,
    SessionId, SessionInfo,
};

/// What a new session starts with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewSession {
    pub cwd: String,
    pub workspace: String,
    pub model: String,
    /// The session forked from, or the parent agent's session of a sub-agent.
    pub parent_id: Option<SessionId>,
    /// The agent type of a sub-agent's session.
    pub agent: Option<String>,
}

/// One event of a session being written whole (an import or a fork): its kind and time.
/// Sequence numbers are assigned from 1 in order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub kind: EventKind,
}

/// Persistence of sessions, messages and events.
#[async_trait]
pub trait Store: Send + Sync {
    async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError>;

    async fn session(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError>;

    /// The most recently updated session started in `cwd`.
    async fn latest_session(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError>;

    /// Sessions, most recently updated first.
    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError>;

    /// The user's sessions (not sub-agents') of `workspace`, most recently updated first: what
    /// a front end serving one workspace lists.
    async fn user_sessions_in(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let mut sessions = self.list_sessions(usize::MAX).await?;
        sessions.retain(|info| info.agent.is_none() && info.workspace == workspace);
        sessions.truncate(limit);
        Ok(sessions)
    }

    /// The session's history in order.
    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError>;

    /// The session's stored events in order.
    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError>;

    /// At most `limit` of the session's stored events after `after_seq`, in order: a long
    /// history read a page at a time, so a reader never holds all of it at once (the terminal
    /// UI showing a resumed session). Stores that can should read only the page; this default
    /// reads everything and keeps the page.
    async fn events_after(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let mut events = self.events(id).await?;
        events.retain(|event| event.seq > after_seq);
        events.truncate(limit);
        Ok(events)
    }

    /// Appends one event and applies it to the session's state in the same transaction:
    /// `message_added` adds the message, `usage_updated` the usage, and so on.
    async fn append_event(&self, event: &Event) -> Result<(), StoreError>;

    /// Creates a session and appends `events` to it (numbered from 1), all in one transaction:
    /// either the whole session is there afterwards or nothing is. Forks and imports use it.
    async fn create_session_with_events(
        &self,
        new: NewSession,
        events: Vec<RecordedEvent>,
    ) -> Result<SessionInfo, StoreError>;

    /// Deletes the session with its messages and events, and the sessions of its sub-agents
    /// (those with an `agent`), recursively. Forks of it are kept (their `parent_id` is
    /// cleared). Returns false when there was no such session.
    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// The sessions whose `parent_id` is `id`, oldest first.
    async fn child_sessions(&self, id: &SessionId) -> Result<Vec<SessionInfo>, StoreError>;

    /// The session's context state, as its `context_compacted` events left it.
    async fn context_state(&self, id: &SessionId) -> Result<ContextState, StoreError>;
}

/// Long-lived memory: project facts, the user's preferences, agents' notes and the learning
/// engine's lessons, searched with full-text ranking.
#[async_trait]
pub trait MemoryBank: Send + Sync {
    /// Stores an entry; one with a `key` replaces the entry of the same scope, project, agent
    /// and key.
    async fn remember(&self, memory: NewMemory) -> Result<MemoryEntry, StoreError>;

    /// Entries matching the query: ranked by relevance when it has text, newest first
    /// otherwise. Expired entries are left out unless asked for.
    async fn recall(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, StoreError>;

    /// Removes an entry; false when there was none with this id.
    async fn forget(&self, id: u64) -> Result<bool, StoreError>;
}

/// Stored model answers keyed by a digest of the request, for `[providers] cache = true`.
/// Values are opaque to the engine (the providers crate encodes them).
#[async_trait]
pub trait ResponseCache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// A failure of the session store.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("session store: {message}")]
pub struct StoreError {
    pub message: String,
    pub hint: Option<String>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}
