use serde::{Deserialize, Serialize};

use crate::{SessionId, Usage};

/// A session as listed by `code-mesh sessions list` and the HTTP API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The session this one was forked from, or the session of the agent that started this
    /// one as a sub-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SessionId>,
    /// For a sub-agent's session: its agent type (e.g. "tester"); `None` for a user's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// How much of a session's history the model no longer sees whole, as set by
/// `context_compacted` events. The stored history itself is never rewritten.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextState {
    /// Tool outputs of messages up to this `seq` are sent as a short marker (0: none).
    #[serde(default)]
    pub pruned_through: u64,
    /// Messages up to `summary.through_seq` are sent as this summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ContextSummary>,
}

/// A structured summary standing in for the older part of a history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextSummary {
    /// The last message `seq` the summary covers.
    pub through_seq: u64,
    /// The summary as sent to the model (Markdown with the sections goal, instructions,
    /// discoveries, done, files touched).
    pub text: String,
}
