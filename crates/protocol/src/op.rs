use serde::{Deserialize, Serialize};

/// What a front end asks the engine to do. Every front end (the CLI, the terminal UI, the HTTP
/// API, editors) drives the engine only through these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Start a turn with this prompt. Refused with an `error` event while a turn is running.
    UserTurn { text: String },
    /// Answer a `permission_requested` event.
    PermissionReply {
        request_id: String,
        decision: PermissionDecision,
    },
    /// Stop the running turn: the model stream and running tools (with their child
    /// processes). What arrived so far is kept and the session stays resumable.
    Cancel,
    /// Summarise the older history now (what `/compact` asks for), even when the context is
    /// not full. Refused with an `error` event while a turn is running.
    Compact,
    /// Cancel anything running and end the session's loop.
    Shutdown,
}

/// An answer to a permission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PermissionDecision {
    AllowOnce,
    /// Allow this and every later call of the same tool on the same target prefix in this
    /// session; `permission_decided` reports it as config rules (`remembered`) a front end
    /// may save to keep it.
    AllowAlways,
    Deny,
}

impl PermissionDecision {
    pub fn allows(self) -> bool {
        !matches!(self, PermissionDecision::Deny)
    }
}
