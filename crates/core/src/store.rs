//! Where sessions live. The engine appends events; the store keeps them and the state they
//! imply (the message history, usage totals, the title) in one transaction per event.

use async_trait::async_trait;
use code_mesh_protocol::{Event, Message, SessionId, SessionInfo};

/// What a new session starts with.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSession {
    pub cwd: String,
    pub workspace: String,
    pub model: String,
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

    /// The session's history in order.
    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError>;

    /// The session's stored events in order.
    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError>;

    /// Appends one event and applies it to the session's state in the same transaction:
    /// `message_added` adds the message, `usage_updated` the usage, and so on.
    async fn append_event(&self, event: &Event) -> Result<(), StoreError>;
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
