use code_mesh_protocol::SessionId;

use crate::StoreError;

/// Why the engine could not open a session or accept an op.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no session `{0}` in the session store")]
    SessionNotFound(SessionId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the session has shut down")]
    Closed,
}

impl EngineError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::SessionNotFound(_) => {
                Some("`code-mesh sessions list` shows the sessions there are".into())
            }
            EngineError::Store(err) => err.hint(),
            EngineError::Closed => None,
        }
    }
}
