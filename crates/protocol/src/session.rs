use serde::{Deserialize, Serialize};

use crate::{SessionId, Usage};

/// A session as listed by `code-mesh sessions list` and the HTTP API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    /// The working directory the session was started in.
    pub cwd: String,
    /// The workspace root (repository root) the tools were confined to.
    pub workspace: String,
    /// A short title, from the first prompt.
    pub title: String,
    /// The model last used, `provider/model`.
    pub model: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
    pub message_count: u64,
    /// The sequence number of the last event stored for this session (0 when none).
    pub last_event_seq: u64,
    /// Tokens used over the whole session.
    pub usage: Usage,
}
